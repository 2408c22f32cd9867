/* encrypted_column 0.1.0: the encrypted_text type and its functions */

\echo Use "CREATE EXTENSION encrypted_column" to load this file. \quit

-- This script runs as a superuser, with search_path set to the target
-- schema, which another role may own and fill.  Every built-in operator,
-- function, type and cast is therefore named with its schema
-- (OPERATOR(pg_catalog.=), pg_catalog.text); integer, bigint and boolean are
-- SQL keywords that always mean the pg_catalog types.  The extension's own
-- objects go without a schema: the extension is relocatable, so there is no
-- @extschema@, and they are found in the target schema, where this script
-- or an earlier one created them.

-- The type: a shell first, then its I/O functions, then the type itself.
CREATE TYPE encrypted_text;

CREATE FUNCTION encrypted_text_in(pg_catalog.cstring) RETURNS encrypted_text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_out(encrypted_text) RETURNS pg_catalog.cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_recv(pg_catalog.internal) RETURNS encrypted_text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_send(encrypted_text) RETURNS pg_catalog.bytea
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
COMMENT ON FUNCTION encrypted_text_in(pg_catalog.cstring) IS
	'encrypted_text input: encrypts plaintext with encrypted_column.key; refuses ciphertext text forms unless encrypted_column.accept_ciphertext is on';
COMMENT ON FUNCTION encrypted_text_out(encrypted_text) IS
	'encrypted_text output: the ciphertext text form (prefix ecv1: and base64), never plaintext';
COMMENT ON FUNCTION encrypted_text_recv(pg_catalog.internal) IS
	'encrypted_text binary input: a well-formed envelope, stored as it is';
COMMENT ON FUNCTION encrypted_text_send(encrypted_text) IS
	'encrypted_text binary output: the envelope bytes';

-- Casts from string types treat the value as plaintext, like the input function.
CREATE FUNCTION encrypted_text_from_text(pg_catalog.text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text_from_text(pg_catalog.text) IS
	'cast from text and varchar: encrypts the value as plaintext, with the input function''s rules';
CREATE CAST (pg_catalog.text AS encrypted_text)
	WITH FUNCTION encrypted_text_from_text(pg_catalog.text) AS ASSIGNMENT;
CREATE CAST (pg_catalog.varchar AS encrypted_text)
	WITH FUNCTION encrypted_text_from_text(pg_catalog.text) AS ASSIGNMENT;
COMMENT ON CAST (pg_catalog.text AS encrypted_text) IS
	'encrypts the text as plaintext with encrypted_column.key';
COMMENT ON CAST (pg_catalog.varchar AS encrypted_text) IS
	'encrypts the text as plaintext with encrypted_column.key';

-- Accessors.
CREATE FUNCTION encrypt(pg_catalog.text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_encrypt'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt(pg_catalog.text) IS
	'encrypts a plaintext with encrypted_column.key under a fresh random nonce';

CREATE FUNCTION encrypt(pg_catalog.text, context pg_catalog.text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_encrypt_context'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt(pg_catalog.text, pg_catalog.text) IS
	'encrypts a plaintext bound to a non-empty context (such as the row''s primary key); decrypt needs the same context';

CREATE FUNCTION decrypt(encrypted_text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_decrypt'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_text) IS
	'the plaintext of a value, with the loaded key whose id the value names; the only way to plaintext';

CREATE FUNCTION decrypt(encrypted_text, context pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_decrypt_context'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_text, pg_catalog.text) IS
	'the plaintext of a value bound to a context; fails unless the context is the one it was encrypted with';

CREATE FUNCTION reencrypt(encrypted_text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_reencrypt'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text) IS
	'decrypts with whichever loaded key fits and encrypts again with encrypted_column.key (key rotation)';

CREATE FUNCTION reencrypt(encrypted_text, context pg_catalog.text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_reencrypt_context'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text, pg_catalog.text) IS
	'key rotation for a value bound to a context: decrypts and encrypts again with the same context';

CREATE FUNCTION key_id(encrypted_text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_key_id'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION key_id(encrypted_text) IS
	'the 8-hex-digit id of the key that encrypted the value';

CREATE FUNCTION current_key_id() RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_current_key_id'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION current_key_id() IS
	'the 8-hex-digit id of encrypted_column.key, or NULL when it is not set';
