/* encrypted_column 0.3.0: the encrypted_text type and its functions */

\echo Use "CREATE EXTENSION encrypted_column" to load this file. \quit

-- The type: a shell first, then its I/O functions, then the type itself.
CREATE TYPE encrypted_text;

CREATE FUNCTION encrypted_text_in(cstring) RETURNS encrypted_text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_out(encrypted_text) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_recv(internal) RETURNS encrypted_text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_send(encrypted_text) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Ciphertext does not compress: keep large values out of line, uncompressed.
CREATE TYPE encrypted_text (
	INPUT = encrypted_text_in,
	OUTPUT = encrypted_text_out,
	RECEIVE = encrypted_text_recv,
	SEND = encrypted_text_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

COMMENT ON TYPE encrypted_text IS
	'text encrypted with AES-256-GCM inside the backend; read it with decrypt()';
COMMENT ON FUNCTION encrypted_text_in(cstring) IS
	'encrypted_text input: encrypts plaintext with encrypted_column.key; refuses ciphertext text forms unless encrypted_column.accept_ciphertext is on';
COMMENT ON FUNCTION encrypted_text_out(encrypted_text) IS
	'encrypted_text output: the ciphertext text form (prefix ecv1: and base64), never plaintext';
COMMENT ON FUNCTION encrypted_text_recv(internal) IS
	'encrypted_text binary input: a well-formed envelope, stored as it is';
COMMENT ON FUNCTION encrypted_text_send(encrypted_text) IS
	'encrypted_text binary output: the envelope bytes';

-- Casts from string types treat the value as plaintext, like the input function.
CREATE FUNCTION encrypted_text_from_text(text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text_from_text(text) IS
	'cast from text and varchar: encrypts the value as plaintext, with the input function''s rules';
CREATE CAST (text AS encrypted_text)
	WITH FUNCTION encrypted_text_from_text(text) AS ASSIGNMENT;
CREATE CAST (varchar AS encrypted_text)
	WITH FUNCTION encrypted_text_from_text(text) AS ASSIGNMENT;
COMMENT ON CAST (text AS encrypted_text) IS
	'encrypts the text as plaintext with encrypted_column.key';
COMMENT ON CAST (varchar AS encrypted_text) IS
	'encrypts the text as plaintext with encrypted_column.key';

-- Accessors.
CREATE FUNCTION encrypt(text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_encrypt'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt(text) IS
	'encrypts a plaintext with encrypted_column.key under a fresh random nonce';

CREATE FUNCTION encrypt(text, context text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_encrypt_context'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt(text, text) IS
	'encrypts a plaintext bound to a non-empty context (such as the row''s primary key); decrypt needs the same context';

CREATE FUNCTION decrypt(encrypted_text) RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_text_decrypt'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_text) IS
	'the plaintext of a value, with the loaded key whose id the value names; the only way to plaintext';

CREATE FUNCTION decrypt(encrypted_text, context text) RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_text_decrypt_context'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_text, text) IS
	'the plaintext of a value bound to a context; fails unless the context is the one it was encrypted with';

CREATE FUNCTION reencrypt(encrypted_text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_reencrypt'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text) IS
	'decrypts with whichever loaded key fits and encrypts again with encrypted_column.key (key rotation)';

CREATE FUNCTION reencrypt(encrypted_text, context text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_reencrypt_context'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text, text) IS
	'key rotation for a value bound to a context: decrypts and encrypts again with the same context';

CREATE FUNCTION key_id(encrypted_text) RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_text_key_id'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION key_id(encrypted_text) IS
	'the 8-hex-digit id of the key that encrypted the value';

CREATE FUNCTION current_key_id() RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_current_key_id'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION current_key_id() IS
	'the 8-hex-digit id of encrypted_column.key, or NULL when it is not set';

-- Readers for application-level ciphertexts (as in 0.2.0).

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

CREATE FUNCTION decrypt_sqlalchemy_aes(value bytea, passphrase text,
									   padding text DEFAULT 'pkcs5')
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aes'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_aes(value text, passphrase text,
									   padding text DEFAULT 'pkcs5')
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aes'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_aes(bytea, text, text) IS
	'plaintext of a sqlalchemy-utils AesEngine value stored by EncryptedType (bytea); padding is pkcs5, naive (the library''s default), zeroes or oneandzeroes; for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_aes(text, text, text) IS
	'plaintext of a sqlalchemy-utils AesEngine value stored by StringEncryptedType (text, varchar); padding is pkcs5, naive (the library''s default), zeroes or oneandzeroes; for one-off migrations';

CREATE FUNCTION decrypt_sqlalchemy_aesgcm(value bytea, passphrase text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aesgcm'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_aesgcm(value text, passphrase text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_aesgcm'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_aesgcm(bytea, text) IS
	'plaintext of a sqlalchemy-utils AesGcmEngine value stored by EncryptedType (bytea); for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_aesgcm(text, text) IS
	'plaintext of a sqlalchemy-utils AesGcmEngine value stored by StringEncryptedType (text, varchar); for one-off migrations';

CREATE FUNCTION decrypt_sqlalchemy_fernet(value bytea, passphrase text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_sqlalchemy_fernet(value text, passphrase text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_sqlalchemy_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_sqlalchemy_fernet(bytea, text) IS
	'plaintext of a sqlalchemy-utils FernetEngine value stored by EncryptedType (bytea); for one-off migrations';
COMMENT ON FUNCTION decrypt_sqlalchemy_fernet(text, text) IS
	'plaintext of a sqlalchemy-utils FernetEngine value stored by StringEncryptedType (text, varchar); for one-off migrations';

CREATE FUNCTION decrypt_fernet(token bytea, key text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_fernet(token text, key text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_fernet(bytea, text) IS
	'plaintext of a cryptography Fernet token stored as bytea, under a url-safe base64 Fernet key; for one-off migrations';
COMMENT ON FUNCTION decrypt_fernet(text, text) IS
	'plaintext of a cryptography Fernet token stored as text or varchar, under a url-safe base64 Fernet key; for one-off migrations';

-- With a ttl the result depends on the statement's start time: STABLE.
CREATE FUNCTION decrypt_fernet(token bytea, key text, ttl bigint)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION decrypt_fernet(token text, key text, ttl bigint)
	RETURNS text
	AS 'MODULE_PATHNAME', 'encrypted_column_decrypt_fernet'
	LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt_fernet(bytea, text, bigint) IS
	'plaintext of a Fernet token stored as bytea that is at most ttl seconds older than the statement''s start, as Fernet.decrypt(token, ttl)';
COMMENT ON FUNCTION decrypt_fernet(text, text, bigint) IS
	'plaintext of a Fernet token stored as text or varchar that is at most ttl seconds older than the statement''s start, as Fernet.decrypt(token, ttl)';
