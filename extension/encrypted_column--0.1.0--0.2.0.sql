/* encrypted_column 0.1.0 -> 0.2.0: readers for application-level ciphertexts */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit

-- This script runs as a superuser, with search_path set to the target
-- schema, which another role may own and fill.  Every built-in operator,
-- function, type and cast is therefore named with its schema
-- (OPERATOR(pg_catalog.=), pg_catalog.text); integer, bigint and boolean are
-- SQL keywords that always mean the pg_catalog types.  The extension's own
-- objects go without a schema: the extension is relocatable, so there is no
-- @extschema@, and they are found in the target schema, where this script
-- or an earlier one created them.

-- These functions take a legacy secret as an argument, for one-off
-- migrations such as
--   ALTER TABLE t ALTER COLUMN c TYPE encrypted_text
--     USING encrypt(decrypt_sqlalchemy_aes(c, current_setting('legacy.passphrase')));
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
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aes'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_aes(value pg_catalog.text, passphrase pg_catalog.text,
									   padding pg_catalog.text DEFAULT 'pkcs5')
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aes'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_aes(pg_catalog.bytea, pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesEngine value stored by EncryptedType (bytea); padding is pkcs5, naive (the library''s default), zeroes or oneandzeroes; for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_aes(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesEngine value stored by StringEncryptedType (text, varchar); padding is pkcs5, naive (the library''s default), zeroes or oneandzeroes; for one-off migrations';

CREATE FUNCTION decrypt_sqlalchemy_aesgcm(value pg_catalog.bytea, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aesgcm'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_aesgcm(value pg_catalog.text, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aesgcm'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_aesgcm(pg_catalog.bytea, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesGcmEngine value stored by EncryptedType (bytea); for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_aesgcm(pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils AesGcmEngine value stored by StringEncryptedType (text, varchar); for one-off migrations';

CREATE FUNCTION decrypt_sqlalchemy_fernet(value pg_catalog.bytea, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_fernet(value pg_catalog.text, passphrase pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_fernet(pg_catalog.bytea, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils FernetEngine value stored by EncryptedType (bytea); for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_fernet(pg_catalog.text, pg_catalog.text) IS
	'plaintext of a sqlalchemy-utils FernetEngine value stored by StringEncryptedType (text, varchar); for one-off migrations';

CREATE FUNCTION decrypt_fernet(token pg_catalog.bytea, key pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_fernet(token pg_catalog.text, key pg_catalog.text)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.bytea, pg_catalog.text) IS
	'plaintext of a cryptography Fernet token stored as bytea, under a url-safe base64 Fernet key; for one-off migrations';
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.text, pg_catalog.text) IS
	'plaintext of a cryptography Fernet token stored as text or varchar, under a url-safe base64 Fernet key; for one-off migrations';

-- With a ttl the result depends on the statement's start time: STABLE.
CREATE FUNCTION decrypt_fernet(token pg_catalog.bytea, key pg_catalog.text, ttl bigint)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_fernet(token pg_catalog.text, key pg_catalog.text, ttl bigint)
	RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.bytea, pg_catalog.text, bigint) IS
	'plaintext of a Fernet token stored as bytea that is at most ttl seconds older than the statement''s start, as Fernet.decrypt(token, ttl)';
COMMENT ON FUNCTION decrypt_fernet(pg_catalog.text, pg_catalog.text, bigint) IS
	'plaintext of a Fernet token stored as text or varchar that is at most ttl seconds older than the statement''s start, as Fernet.decrypt(token, ttl)';
