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

-- 0.3.1: prepared lookups of encrypted_text_det cost about what plain text
-- lookups cost.
--
-- The comparison and hash functions of the operator classes become C
-- functions of the module that hand each call to the bytea function.
-- Declared LANGUAGE internal under the bytea function's name, fmgr found
-- them only by a search of the built-in functions' names, on every lookup
-- of each (each index scan key); a C function is found by its OID once
-- loaded.  Same results, signatures, operators and operator classes.
CREATE OR REPLACE FUNCTION encrypted_text_det_eq(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_ne(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_lt(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_le(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_ge(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_gt(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_cmp(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.int4 AS 'MODULE_PATHNAME', 'encrypted_text_det_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_hash(encrypted_text_det)
	RETURNS pg_catalog.int4 AS 'MODULE_PATHNAME', 'encrypted_text_det_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_hash_extended(encrypted_text_det, pg_catalog.int8)
	RETURNS pg_catalog.int8 AS 'MODULE_PATHNAME', 'encrypted_text_det_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- The index condition the support function of encrypted_text_det = text
-- hands the planner is ARRAY[encrypt_det_nth(x, 0), ...], one element per
-- loaded key, instead of encrypt_det_all(x): the planner knows the length
-- of an ARRAY[...], in a custom plan and a generic one alike, so a
-- prepared lookup keeps its generic plan instead of being planned, and
-- encrypting twice, on every execution.
CREATE FUNCTION encrypt_det_nth(pg_catalog.text, pg_catalog.int4) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt_nth'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det_nth(pg_catalog.text, pg_catalog.int4) IS
	'the plaintext''s deterministic encryption under the n-th loaded key (0: encrypted_column.key, then previous_keys in order), NULL past the last: the elements of the index condition the planner makes for col = x';
