/* encrypted_column_migrate: readers for application-level ciphertexts */

\echo Use "CREATE EXTENSION encrypted_column_migrate" to load this file. \quit

-- This script runs as a superuser, with search_path set to the target
-- schema, which another role may own and fill.  Every built-in operator,
-- function, type and cast is therefore named with its schema
-- (OPERATOR(pg_catalog.=), pg_catalog.text); integer, bigint and boolean are
-- SQL keywords that always mean the pg_catalog types.  The extension's own
-- objects go without a schema: the extension is relocatable, so there is no
-- @extschema@, and they are found in the target schema, where this script
-- or an earlier one created them.

-- Version 0.2.0 of encrypted_column created these functions itself; in a
-- database that has not run ALTER EXTENSION encrypted_column UPDATE since,
-- they still belong to it.  Creating them here too would fail on the first
-- name, or, in another schema, shadow them depending on search_path: stop
-- with a clear message instead.  Decided from the extension's members.
DO $$
BEGIN
	IF EXISTS (SELECT 1
				 FROM pg_catalog.pg_depend d
				 JOIN pg_catalog.pg_proc p
				   ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
				  AND p.oid OPERATOR(pg_catalog.=) d.objid
				 JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
				WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
				  AND d.deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char"
				  AND e.extname OPERATOR(pg_catalog.=) 'encrypted_column'::pg_catalog.name
				  AND p.proname OPERATOR(pg_catalog.=) ANY ('{decrypt_sqlalchemy_aes,decrypt_sqlalchemy_aesgcm,decrypt_sqlalchemy_fernet,decrypt_fernet}'::pg_catalog.name[])) THEN
		RAISE EXCEPTION 'encrypted_column still provides the migration readers'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Version 0.2.0 of encrypted_column contains them; since 0.3.0 they belong to encrypted_column_migrate.',
				  HINT = 'Run ALTER EXTENSION encrypted_column UPDATE first.';
	END IF;
END
$$;

-- These functions take a legacy secret as an argument, for one-off
-- migrations such as
--   ALTER TABLE t ALTER COLUMN c TYPE encrypted_text
--     USING encrypt(decrypt_sqlalchemy_aes(c, current_setting('legacy.passphrase')));
-- and DROP EXTENSION encrypted_column_migrate once every column has moved.
--
-- Each reads the value as bytea (sqlalchemy-utils EncryptedType) or as text
-- (StringEncryptedType, or a token an application stored as text; varchar
-- reaches the text variant by its implicit cast).
--
-- Volatility: the results depend only on the arguments, yet the functions
-- are STABLE, not IMMUTABLE, so that they cannot appear in an index
-- expression or a stored generated column (either would write plaintext to
-- disk and the secret into the catalog), and so that the planner never
-- folds a plaintext result into a plan that EXPLAIN or auto_explain prints.
--
-- Strictness: not STRICT.  A NULL value gives NULL, but a NULL secret or
-- option is an error: with STRICT, a migration whose passphrase setting is
-- missing would silently replace every value with NULL.

CREATE FUNCTION decrypt_sqlalchemy_aes(value pg_catalog.bytea, passphrase pg_catalog.text,
									   padding pg_catalog.text DEFAULT 'pkcs5')
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_sqlalchemy_aes'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_aes(value pg_catalog.text, passphrase pg_catalog.text,
									   padding pg_catalog.text DEFAULT 'pkcs5')
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_sqlalchemy_aes'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_aes(pg_catalog.bytea, pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesEngine value stored by EncryptedType (bytea); padding is pkcs5, naive (the library''s default), zeroes or oneandzeroes; for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_aes(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesEngine value stored by StringEncryptedType (text, varchar); padding is pkcs5, naive (the library''s default), zeroes or oneandzeroes; for one-off migrations';

CREATE FUNCTION decrypt_sqlalchemy_aesgcm(value pg_catalog.bytea, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_sqlalchemy_aesgcm'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_aesgcm(value pg_catalog.text, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_sqlalchemy_aesgcm'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_aesgcm(pg_catalog.bytea, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesGcmEngine value stored by EncryptedType (bytea); for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_aesgcm(pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesGcmEngine value stored by StringEncryptedType (text, varchar); for one-off migrations';

CREATE FUNCTION decrypt_sqlalchemy_fernet(value pg_catalog.bytea, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_sqlalchemy_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_fernet(value pg_catalog.text, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_sqlalchemy_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_fernet(pg_catalog.bytea, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils FernetEngine value stored by EncryptedType (bytea); for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_fernet(pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils FernetEngine value stored by StringEncryptedType (text, varchar); for one-off migrations';

CREATE FUNCTION decrypt_fernet(token pg_catalog.bytea, key pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_fernet(token pg_catalog.text, key pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.bytea, pg_catalog.text) IS
	'plaintext of a cryptography Fernet token stored as bytea, under a url-safe base64 Fernet key; for one-off migrations';
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.text, pg_catalog.text) IS
	'plaintext of a cryptography Fernet token stored as text or varchar, under a url-safe base64 Fernet key; for one-off migrations';

-- With a ttl the result depends on the statement's start time: STABLE.
CREATE FUNCTION decrypt_fernet(token pg_catalog.bytea, key pg_catalog.text, ttl bigint)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_fernet(token pg_catalog.text, key pg_catalog.text, ttl bigint)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_migrate_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.bytea, pg_catalog.text, bigint) IS
	'plaintext of a Fernet token stored as bytea that is at most ttl seconds older than the statement''s start, as Fernet.decrypt(token, ttl)';
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.text, pg_catalog.text, bigint) IS
	'plaintext of a Fernet token stored as text or varchar that is at most ttl seconds older than the statement''s start, as Fernet.decrypt(token, ttl)';
