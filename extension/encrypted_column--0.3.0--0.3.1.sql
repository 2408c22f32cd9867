/* encrypted_column 0.3.0 -> 0.3.1: fixes from the second outside review */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit

-- This script runs as a superuser, with search_path set to the target
-- schema, which another role may own and fill.  Every built-in operator,
-- function, type and cast is therefore named with its schema
-- (OPERATOR(pg_catalog.=), pg_catalog.text); integer, bigint and boolean are
-- SQL keywords that always mean the pg_catalog types.  The extension's own
-- objects go without a schema: the extension is relocatable, so there is no
-- @extschema@, and they are found in the target schema, where this script
-- or an earlier one created them.

-- ---------------------------------------------------------------------------
-- Who may read plaintext: one privilege, EXECUTE on read_plaintext()
-- ---------------------------------------------------------------------------
-- Every function that opens a value (decrypt and reencrypt, of every type
-- and overload, and any added later) checks this one privilege in C before
-- it opens anything, and refuses with SQLSTATE 42501 without it.  PUBLIC
-- holds it, as it held EXECUTE on decrypt() before 0.3.1, so that
-- applications keep working; to limit who reads plaintext:
--   REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC;
--   GRANT EXECUTE ON FUNCTION read_plaintext() TO app_reader;
CREATE FUNCTION read_plaintext() RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_column_read_plaintext'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
GRANT EXECUTE ON FUNCTION read_plaintext() TO PUBLIC;
COMMENT ON FUNCTION read_plaintext() IS
	'the privilege to read plaintext: decrypt() and reencrypt() of every encrypted type need EXECUTE on this function (granted to PUBLIC unless revoked); returns true for a role that holds it';

-- 0.3.0's README limited plaintext by revoking EXECUTE on
-- decrypt(encrypted_text) from PUBLIC, which left decrypt(encrypted_text_det)
-- open to every role.  Where that was done, say so: the update keeps
-- PUBLIC's access so as not to stop a working application, and the two
-- commands that close it are the administrator's to run.
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_proc p
				WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
						'decrypt(encrypted_text)'::pg_catalog.regprocedure::pg_catalog.oid,
						'decrypt(encrypted_text, pg_catalog.text)'::pg_catalog.regprocedure::pg_catalog.oid])
				  AND p.proacl IS NOT NULL
				  AND NOT EXISTS (SELECT FROM pg_catalog.aclexplode(p.proacl) a
								   WHERE a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
									 AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'::pg_catalog.text)) THEN
		RAISE WARNING 'EXECUTE on decrypt(encrypted_text) is revoked from PUBLIC, but every role may still read encrypted_text_det values'
			USING HINT = 'Since 0.3.1 one privilege covers every type: REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC, then GRANT EXECUTE ON FUNCTION read_plaintext() TO the roles that read plaintext.';
	END IF;
END
$$;

-- The functions that open values name the privilege in their comments.
COMMENT ON FUNCTION decrypt(encrypted_text) IS
	'the plaintext of a value, with the loaded key whose id the value names; the only way to plaintext; needs EXECUTE on read_plaintext()';
COMMENT ON FUNCTION decrypt(encrypted_text, pg_catalog.text) IS
	'the plaintext of a value bound to a context; fails unless the context is the one it was encrypted with; needs EXECUTE on read_plaintext()';
COMMENT ON FUNCTION reencrypt(encrypted_text) IS
	'decrypts with whichever loaded key fits and encrypts again with encrypted_column.key (key rotation); needs EXECUTE on read_plaintext()';
COMMENT ON FUNCTION reencrypt(encrypted_text, pg_catalog.text) IS
	'key rotation for a value bound to a context: decrypts and encrypts again with the same context; needs EXECUTE on read_plaintext()';
COMMENT ON FUNCTION decrypt(encrypted_text_det) IS
	'the plaintext of a deterministic value, with the loaded key whose id the value names; the only way to plaintext; needs EXECUTE on read_plaintext()';
COMMENT ON FUNCTION decrypt(encrypted_text_det, pg_catalog.text) IS
	'the plaintext of a deterministic value bound to a context; fails unless the context is the one it was encrypted with; needs EXECUTE on read_plaintext()';
COMMENT ON FUNCTION reencrypt(encrypted_text_det) IS
	'decrypts with whichever loaded key fits and encrypts deterministically again with encrypted_column.key (key rotation); needs EXECUTE on read_plaintext()';
COMMENT ON FUNCTION reencrypt(encrypted_text_det, pg_catalog.text) IS
	'key rotation for a deterministic value bound to a context: decrypts and encrypts again with the same context; needs EXECUTE on read_plaintext()';
