/* encrypted_column 0.4.0: the encrypted_text and encrypted_text_det types and their functions */

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
	'the plaintext of a value, with the loaded key whose id the value names; the only way to plaintext; needs EXECUTE on read_plaintext()';

CREATE FUNCTION decrypt(encrypted_text, context pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_decrypt_context'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_text, pg_catalog.text) IS
	'the plaintext of a value bound to a context; fails unless the context is the one it was encrypted with; needs EXECUTE on read_plaintext()';

CREATE FUNCTION reencrypt(encrypted_text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_reencrypt'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text) IS
	'decrypts with whichever loaded key fits and encrypts again with encrypted_column.key (key rotation); needs EXECUTE on read_plaintext()';

CREATE FUNCTION reencrypt(encrypted_text, context pg_catalog.text) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_reencrypt_context'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text, pg_catalog.text) IS
	'key rotation for a value bound to a context: decrypts and encrypts again with the same context; needs EXECUTE on read_plaintext()';

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

-- ---------------------------------------------------------------------------
-- The deterministic type: encrypted_text_det (AES-256-SIV, RFC 5297)
-- ---------------------------------------------------------------------------
-- Same rules as encrypted_text (text in is plaintext, text out is the
-- ciphertext text form, the binary path carries envelopes only), with
-- equality on the envelope bytes so that indexes, UNIQUE and joins work.

CREATE TYPE encrypted_text_det;

CREATE FUNCTION encrypted_text_det_in(pg_catalog.cstring) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_det_out(encrypted_text_det) RETURNS pg_catalog.cstring
	AS 'MODULE_PATHNAME', 'encrypted_text_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_det_recv(pg_catalog.internal) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_det_send(encrypted_text_det) RETURNS pg_catalog.bytea
	AS 'MODULE_PATHNAME', 'encrypted_text_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE encrypted_text_det (
	INPUT = encrypted_text_det_in,
	OUTPUT = encrypted_text_det_out,
	RECEIVE = encrypted_text_det_recv,
	SEND = encrypted_text_det_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

COMMENT ON TYPE encrypted_text_det IS
	'text encrypted deterministically with AES-256-SIV inside the backend: equal plaintexts under one key give equal values, so it can be indexed, UNIQUE and joined; read it with decrypt()';
COMMENT ON FUNCTION encrypted_text_det_in(pg_catalog.cstring) IS
	'encrypted_text_det input: encrypts plaintext with encrypted_column.key; refuses ciphertext text forms unless encrypted_column.accept_ciphertext is on';
COMMENT ON FUNCTION encrypted_text_det_out(encrypted_text_det) IS
	'encrypted_text_det output: the ciphertext text form (prefix ecv1: and base64), never plaintext';
COMMENT ON FUNCTION encrypted_text_det_recv(pg_catalog.internal) IS
	'encrypted_text_det binary input: a well-formed AES-256-SIV envelope, stored as it is';
COMMENT ON FUNCTION encrypted_text_det_send(encrypted_text_det) IS
	'encrypted_text_det binary output: the envelope bytes';

CREATE FUNCTION encrypted_text_det_from_text(pg_catalog.text) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text_det_from_text(pg_catalog.text) IS
	'cast from text and varchar: encrypts the value as plaintext, with the input function''s rules';
CREATE CAST (pg_catalog.text AS encrypted_text_det)
	WITH FUNCTION encrypted_text_det_from_text(pg_catalog.text) AS ASSIGNMENT;
CREATE CAST (pg_catalog.varchar AS encrypted_text_det)
	WITH FUNCTION encrypted_text_det_from_text(pg_catalog.text) AS ASSIGNMENT;
COMMENT ON CAST (pg_catalog.text AS encrypted_text_det) IS
	'encrypts the text deterministically as plaintext with encrypted_column.key';
COMMENT ON CAST (pg_catalog.varchar AS encrypted_text_det) IS
	'encrypts the text deterministically as plaintext with encrypted_column.key';

-- Deterministic, but they read the key: STABLE.
CREATE FUNCTION encrypt_det(pg_catalog.text) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det(pg_catalog.text) IS
	'encrypts a plaintext deterministically (AES-256-SIV) with encrypted_column.key: equal plaintexts give equal values';

CREATE FUNCTION encrypt_det(pg_catalog.text, context pg_catalog.text) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt_context'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det(pg_catalog.text, pg_catalog.text) IS
	'encrypts a plaintext deterministically bound to a non-empty context (such as the column''s name): equal plaintexts under different contexts give unrelated values';

CREATE FUNCTION encrypt_det_all(pg_catalog.text) RETURNS encrypted_text_det[]
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt_all'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det_all(pg_catalog.text) IS
	'the plaintext''s encryptions under encrypted_column.key and every key in previous_keys: col = ANY(encrypt_det_all(x)) is an index lookup that survives a key rotation';

CREATE FUNCTION encrypt_det_all(pg_catalog.text, context pg_catalog.text) RETURNS encrypted_text_det[]
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt_all'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det_all(pg_catalog.text, pg_catalog.text) IS
	'the plaintext''s encryptions bound to a context under every loaded key: the rotation-safe index lookup for context-bound columns';

CREATE FUNCTION encrypt_det_all(pg_catalog.text[]) RETURNS encrypted_text_det[]
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt_all_array'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det_all(pg_catalog.text[]) IS
	'every element''s encryptions under every loaded key (NULL elements stay NULL): col = ANY(encrypt_det_all(a)) is the rotation-safe index lookup of several plaintexts, and col = ANY(a) for a text[] is planned as it';

CREATE FUNCTION encrypt_det_all(pg_catalog.text[], context pg_catalog.text) RETURNS encrypted_text_det[]
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt_all_array'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det_all(pg_catalog.text[], pg_catalog.text) IS
	'every element''s encryptions bound to a context under every loaded key: the rotation-safe index lookup of several plaintexts in a context-bound column';

CREATE FUNCTION decrypt(encrypted_text_det) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_det_decrypt'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_text_det) IS
	'the plaintext of a deterministic value, with the loaded key whose id the value names; the only way to plaintext; needs EXECUTE on read_plaintext()';

CREATE FUNCTION decrypt(encrypted_text_det, context pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_det_decrypt_context'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_text_det, pg_catalog.text) IS
	'the plaintext of a deterministic value bound to a context; fails unless the context is the one it was encrypted with; needs EXECUTE on read_plaintext()';

CREATE FUNCTION reencrypt(encrypted_text_det) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME', 'encrypted_text_det_reencrypt'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text_det) IS
	'decrypts with whichever loaded key fits and encrypts deterministically again with encrypted_column.key (key rotation); needs EXECUTE on read_plaintext()';

CREATE FUNCTION reencrypt(encrypted_text_det, context pg_catalog.text) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME', 'encrypted_text_det_reencrypt_context'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_text_det, pg_catalog.text) IS
	'key rotation for a deterministic value bound to a context: decrypts and encrypts again with the same context; needs EXECUTE on read_plaintext()';

CREATE FUNCTION key_id(encrypted_text_det) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_key_id'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION key_id(encrypted_text_det) IS
	'the 8-hex-digit id of the key that encrypted the value';

-- Comparison of envelope bytes.  The byte order is only there so that a
-- btree can hold the values (UNIQUE, merge joins); it says nothing about
-- the plaintexts, and the ordering operators are named so as not to
-- suggest otherwise.  PostgreSQL's bytea comparisons do exactly this on
-- any varlena; the functions below are small C functions that hand each
-- call to them (fmgr finds a C function by its OID, where a LANGUAGE
-- internal function under another OID is looked up by name every time).
CREATE FUNCTION encrypted_text_det_eq(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_ne(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_lt(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_le(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_ge(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_gt(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_cmp(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.int4 AS 'MODULE_PATHNAME', 'encrypted_text_det_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_hash(encrypted_text_det)
	RETURNS pg_catalog.int4 AS 'MODULE_PATHNAME', 'encrypted_text_det_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION encrypted_text_det_hash_extended(encrypted_text_det, pg_catalog.int8)
	RETURNS pg_catalog.int8 AS 'MODULE_PATHNAME', 'encrypted_text_det_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION encrypted_text_det_eq(encrypted_text_det, encrypted_text_det) IS
	'the envelopes are byte for byte equal (same plaintext, key and context)';
COMMENT ON FUNCTION encrypted_text_det_ne(encrypted_text_det, encrypted_text_det) IS
	'the envelopes differ';
COMMENT ON FUNCTION encrypted_text_det_lt(encrypted_text_det, encrypted_text_det) IS
	'byte order of the envelopes, for btree indexes only: meaningless for the plaintexts';
COMMENT ON FUNCTION encrypted_text_det_le(encrypted_text_det, encrypted_text_det) IS
	'byte order of the envelopes, for btree indexes only: meaningless for the plaintexts';
COMMENT ON FUNCTION encrypted_text_det_ge(encrypted_text_det, encrypted_text_det) IS
	'byte order of the envelopes, for btree indexes only: meaningless for the plaintexts';
COMMENT ON FUNCTION encrypted_text_det_gt(encrypted_text_det, encrypted_text_det) IS
	'byte order of the envelopes, for btree indexes only: meaningless for the plaintexts';
COMMENT ON FUNCTION encrypted_text_det_cmp(encrypted_text_det, encrypted_text_det) IS
	'btree support: byte comparison of the envelopes, meaningless for the plaintexts';
COMMENT ON FUNCTION encrypted_text_det_hash(encrypted_text_det) IS
	'hash support: hash of the envelope bytes';
COMMENT ON FUNCTION encrypted_text_det_hash_extended(encrypted_text_det, bigint) IS
	'hash support: seeded 64-bit hash of the envelope bytes';

CREATE OPERATOR = (
	LEFTARG = encrypted_text_det, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_det_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = encrypted_text_det, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_det_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
CREATE OPERATOR ~<~ (
	LEFTARG = encrypted_text_det, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_det_lt,
	COMMUTATOR = ~>~, NEGATOR = ~>=~,
	RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
CREATE OPERATOR ~<=~ (
	LEFTARG = encrypted_text_det, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_det_le,
	COMMUTATOR = ~>=~, NEGATOR = ~>~,
	RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
CREATE OPERATOR ~>=~ (
	LEFTARG = encrypted_text_det, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_det_ge,
	COMMUTATOR = ~<=~, NEGATOR = ~<~,
	RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
CREATE OPERATOR ~>~ (
	LEFTARG = encrypted_text_det, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_det_gt,
	COMMUTATOR = ~<~, NEGATOR = ~<=~,
	RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);

COMMENT ON OPERATOR = (encrypted_text_det, encrypted_text_det) IS
	'equal envelopes: the same plaintext under the same key and context';
COMMENT ON OPERATOR <> (encrypted_text_det, encrypted_text_det) IS
	'different envelopes';
COMMENT ON OPERATOR ~<~ (encrypted_text_det, encrypted_text_det) IS
	'envelope byte order, for btree indexes: meaningless for the plaintexts';
COMMENT ON OPERATOR ~<=~ (encrypted_text_det, encrypted_text_det) IS
	'envelope byte order, for btree indexes: meaningless for the plaintexts';
COMMENT ON OPERATOR ~>=~ (encrypted_text_det, encrypted_text_det) IS
	'envelope byte order, for btree indexes: meaningless for the plaintexts';
COMMENT ON OPERATOR ~>~ (encrypted_text_det, encrypted_text_det) IS
	'envelope byte order, for btree indexes: meaningless for the plaintexts';

CREATE OPERATOR CLASS encrypted_text_det_ops
	DEFAULT FOR TYPE encrypted_text_det USING btree AS
		OPERATOR 1 ~<~,
		OPERATOR 2 ~<=~,
		OPERATOR 3 =,
		OPERATOR 4 ~>=~,
		OPERATOR 5 ~>~,
		FUNCTION 1 encrypted_text_det_cmp(encrypted_text_det, encrypted_text_det),
		-- bytea's sort support and the promise that equal means
		-- byte-identical (lets btree deduplicate), both valid for envelopes
		FUNCTION 2 pg_catalog.bytea_sortsupport(pg_catalog.internal),
		FUNCTION 4 pg_catalog.btequalimage(pg_catalog.oid);
CREATE OPERATOR CLASS encrypted_text_det_ops
	DEFAULT FOR TYPE encrypted_text_det USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 encrypted_text_det_hash(encrypted_text_det),
		FUNCTION 2 encrypted_text_det_hash_extended(encrypted_text_det, bigint);

COMMENT ON OPERATOR CLASS encrypted_text_det_ops USING btree IS
	'btree on the envelope bytes: equality lookups, UNIQUE, PRIMARY KEY and merge joins; its order means nothing';
COMMENT ON OPERATOR FAMILY encrypted_text_det_ops USING btree IS
	'btree on the envelope bytes of encrypted_text_det';
COMMENT ON OPERATOR CLASS encrypted_text_det_ops USING hash IS
	'hash on the envelope bytes: hash indexes, hash joins, hash aggregation';
COMMENT ON OPERATOR FAMILY encrypted_text_det_ops USING hash IS
	'hash on the envelope bytes of encrypted_text_det';

-- Comparison with a plaintext.  `col = x` for a text (or varchar) x finds
-- the rows whose value is x's encryption under the key the row names, so
-- rows still under a previous key are found during a rotation.  The
-- support function turns it into the btree condition
-- col = ANY (encrypt_det_all(x)), and the module's planner hook plans
-- col = ANY (a) for a text[] a as col = ANY (encrypt_det_all(a)).  A
-- literal or untyped parameter is not text: it resolves to
-- =(encrypted_text_det, encrypted_text_det) and is encrypted under the
-- current key only.
CREATE FUNCTION encrypted_text_det_text_support(pg_catalog.internal) RETURNS pg_catalog.internal
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text_det_text_support(pg_catalog.internal) IS
	'planner support of encrypted_text_det = text: offers btree indexes the condition col = ANY (encrypt_det_all(x))';

CREATE FUNCTION encrypted_text_det_eq_text(encrypted_text_det, pg_catalog.text)
	RETURNS boolean AS 'MODULE_PATHNAME'
	LANGUAGE C STABLE STRICT PARALLEL SAFE
	SUPPORT encrypted_text_det_text_support;
CREATE FUNCTION encrypted_text_det_ne_text(encrypted_text_det, pg_catalog.text)
	RETURNS boolean AS 'MODULE_PATHNAME'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION encrypted_text_text_eq_det(pg_catalog.text, encrypted_text_det)
	RETURNS boolean AS 'MODULE_PATHNAME'
	LANGUAGE C STABLE STRICT PARALLEL SAFE
	SUPPORT encrypted_text_det_text_support;
CREATE FUNCTION encrypted_text_text_ne_det(pg_catalog.text, encrypted_text_det)
	RETURNS boolean AS 'MODULE_PATHNAME'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text_det_eq_text(encrypted_text_det, pg_catalog.text) IS
	'the value is the plaintext''s encryption (without context) under the loaded key the value names';
COMMENT ON FUNCTION encrypted_text_det_ne_text(encrypted_text_det, pg_catalog.text) IS
	'negation of encrypted_text_det = text';
COMMENT ON FUNCTION encrypted_text_text_eq_det(pg_catalog.text, encrypted_text_det) IS
	'the value is the plaintext''s encryption (without context) under the loaded key the value names';
COMMENT ON FUNCTION encrypted_text_text_ne_det(pg_catalog.text, encrypted_text_det) IS
	'negation of text = encrypted_text_det';

CREATE OPERATOR = (
	LEFTARG = encrypted_text_det, RIGHTARG = pg_catalog.text,
	FUNCTION = encrypted_text_det_eq_text,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel
);
CREATE OPERATOR <> (
	LEFTARG = encrypted_text_det, RIGHTARG = pg_catalog.text,
	FUNCTION = encrypted_text_det_ne_text,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
CREATE OPERATOR = (
	LEFTARG = pg_catalog.text, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_text_eq_det,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel
);
CREATE OPERATOR <> (
	LEFTARG = pg_catalog.text, RIGHTARG = encrypted_text_det,
	FUNCTION = encrypted_text_text_ne_det,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
COMMENT ON OPERATOR = (encrypted_text_det, pg_catalog.text) IS
	'the value holds this plaintext, under whichever loaded key it names (rotation-safe; uses a btree index)';
COMMENT ON OPERATOR <> (encrypted_text_det, pg_catalog.text) IS
	'the value does not hold this plaintext';
COMMENT ON OPERATOR = (pg_catalog.text, encrypted_text_det) IS
	'the value holds this plaintext, under whichever loaded key it names (rotation-safe; uses a btree index)';
COMMENT ON OPERATOR <> (pg_catalog.text, encrypted_text_det) IS
	'the value does not hold this plaintext';

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

-- Stored keys (0.4.0).  Data keys live in stored_keys wrapped under the
-- key-encryption key that encrypted_column.kek_source names; only their
-- owner (the role that installed the extension) can read or write the
-- table, and the functions below write it as that owner.  The wrapped
-- keys are dumped with the database (pg_extension_config_dump), useless
-- without the KEK.
CREATE TABLE stored_keys (
	name pg_catalog.text NOT NULL,
	version pg_catalog.int4 NOT NULL,
	key_id pg_catalog.text NOT NULL,
	kek_id pg_catalog.text,
	state pg_catalog.text NOT NULL,
	created pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
	destroyed pg_catalog.timestamptz,
	wrapped pg_catalog.bytea,
	key_check pg_catalog.bytea,
	PRIMARY KEY (name, version),
	UNIQUE (key_id),
	CHECK (state OPERATOR(pg_catalog.=) ANY ('{current,previous,destroyed}'::pg_catalog.text[])),
	CHECK ((state OPERATOR(pg_catalog.=) 'destroyed') OPERATOR(pg_catalog.=) (wrapped IS NULL))
);
CREATE UNIQUE INDEX stored_keys_one_current ON stored_keys (name)
	WHERE state OPERATOR(pg_catalog.=) 'current';
-- ANALYZE keeps no sample of the wrapped keys or check values in
-- pg_statistic, where a destroyed key's bytes would outlive destroy_key.
ALTER TABLE stored_keys ALTER COLUMN wrapped SET STATISTICS 0,
	ALTER COLUMN key_check SET STATISTICS 0;
COMMENT ON TABLE stored_keys IS
	'data keys, each stored only wrapped (RFC 5649) under the key-encryption key of encrypted_column.kek_source; written by create_key, import_key, rotate_key, rotate_kek and destroy_key';
REVOKE ALL ON TABLE stored_keys FROM PUBLIC;
GRANT SELECT (name, version, key_id, kek_id, state, created, destroyed)
	ON TABLE stored_keys TO PUBLIC;

CREATE TABLE stored_key_grants (
	name pg_catalog.text NOT NULL,
	grantee pg_catalog.regrole NOT NULL,
	may_encrypt pg_catalog.bool NOT NULL,
	may_decrypt pg_catalog.bool NOT NULL,
	PRIMARY KEY (name, grantee)
);
COMMENT ON TABLE stored_key_grants IS
	'who may use which stored key (grantee - is PUBLIC); written by grant_key and revoke_key';
REVOKE ALL ON TABLE stored_key_grants FROM PUBLIC;
GRANT SELECT ON TABLE stored_key_grants TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('stored_keys', '');
SELECT pg_catalog.pg_extension_config_dump('stored_key_grants', '');

CREATE FUNCTION stored_keys_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'encrypted_column_stored_keys_changed'
	LANGUAGE C;
COMMENT ON FUNCTION stored_keys_changed() IS
	'trigger of the key tables: every session forgets what it read of them when the change commits';
CREATE TRIGGER stored_keys_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stored_keys
	FOR EACH STATEMENT EXECUTE FUNCTION stored_keys_changed();
CREATE TRIGGER stored_key_grants_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stored_key_grants
	FOR EACH STATEMENT EXECUTE FUNCTION stored_keys_changed();

CREATE FUNCTION create_key(pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_create_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION create_key(pg_catalog.text) IS
	'makes a random 256-bit data key under a new name, stores it only wrapped under the key-encryption key, and returns its key id';

CREATE FUNCTION import_key(pg_catalog.text, pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_import_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION import_key(pg_catalog.text, pg_catalog.text) IS
	'stores a key given as 64 hex digits (a key of encrypted_column.key) as the new current version of a name, so its values need no rewrite; the key is in the statement text: prefer import_key(name)';

CREATE FUNCTION import_key(pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_import_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION import_key(pg_catalog.text) IS
	'stores the session''s encrypted_column.key as the new current version of a name, so its values need no rewrite';

CREATE FUNCTION rotate_key(pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_rotate_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION rotate_key(pg_catalog.text) IS
	'makes a new current version of a stored key and returns its key id; older versions only decrypt (and serve lookups) until reencrypt() has moved their values';

CREATE FUNCTION rotate_kek(pg_catalog.text) RETURNS pg_catalog.int4
	AS 'MODULE_PATHNAME', 'encrypted_column_rotate_kek'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION rotate_kek(pg_catalog.text) IS
	're-wraps every stored data key from the configured key-encryption key to the one the given source names, in this transaction, and returns how many it re-wrapped; no user row is touched; a server-side source needs a superuser';

CREATE FUNCTION destroy_key(pg_catalog.text)
	RETURNS TABLE (key_id pg_catalog.text, version pg_catalog.int4, remains pg_catalog.text)
	AS 'MODULE_PATHNAME', 'encrypted_column_destroy_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION destroy_key(pg_catalog.text) IS
	'crypto-shredding: erases every version of a stored key, so its values can never be decrypted again; one row per version, saying what still holds the wrapped key';

CREATE FUNCTION grant_key(name pg_catalog.text, role pg_catalog.name,
						  privilege pg_catalog.text DEFAULT 'all') RETURNS void
	AS 'MODULE_PATHNAME', 'encrypted_column_grant_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION grant_key(pg_catalog.text, pg_catalog.name, pg_catalog.text) IS
	'lets a role (and its members; PUBLIC for every role) use a stored key: ''encrypt'' new values, ''decrypt'' values, or ''all''; lookups need either';

CREATE FUNCTION revoke_key(name pg_catalog.text, role pg_catalog.name,
						   privilege pg_catalog.text DEFAULT 'all') RETURNS void
	AS 'MODULE_PATHNAME', 'encrypted_column_revoke_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION revoke_key(pg_catalog.text, pg_catalog.name, pg_catalog.text) IS
	'takes back what grant_key gave a role on a stored key';

CREATE FUNCTION key_usage(pg_catalog.regclass)
	RETURNS TABLE (column_name pg_catalog.name, key_id pg_catalog.text,
				   key_name pg_catalog.text, key_version pg_catalog.int4,
				   key_state pg_catalog.text, "values" pg_catalog.int8)
	AS 'MODULE_PATHNAME', 'encrypted_column_key_usage'
	LANGUAGE C STABLE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION key_usage(pg_catalog.regclass) IS
	'values per key id in each encrypted column of a table, read from the envelopes without any key; needs SELECT on the table';

REVOKE EXECUTE ON FUNCTION create_key(pg_catalog.text), import_key(pg_catalog.text, pg_catalog.text),
	import_key(pg_catalog.text), rotate_key(pg_catalog.text), rotate_kek(pg_catalog.text),
	destroy_key(pg_catalog.text), grant_key(pg_catalog.text, pg_catalog.name, pg_catalog.text),
	revoke_key(pg_catalog.text, pg_catalog.name, pg_catalog.text), stored_keys_changed()
	FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Who used which stored key
-- ---------------------------------------------------------------------------
-- Counted in shared memory when the library is in shared_preload_libraries
-- (audit.c); docs/operations.md, "Who used which key", says how to read it.
-- The counts are statistics of every database, so they are shown to
-- pg_read_all_stats, as pg_stat_statements shows its own.  key_audit()
-- names the stored keys of the current database from the columns of
-- stored_keys that every role may read.
CREATE FUNCTION key_audit()
	RETURNS TABLE (database pg_catalog.name, role pg_catalog.name,
				   key_id pg_catalog.text, key_name pg_catalog.text,
				   key_version pg_catalog.int4, encrypts pg_catalog.int8,
				   decrypts pg_catalog.int8, first_use pg_catalog.timestamptz,
				   last_use pg_catalog.timestamptz, since pg_catalog.timestamptz)
	AS 'MODULE_PATHNAME', 'encrypted_column_key_audit'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION key_audit() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION key_audit() TO pg_read_all_stats;
COMMENT ON FUNCTION key_audit() IS
	'values encrypted and decrypted with each stored key, per database and role, since the last reset; counted only when the library is in shared_preload_libraries (otherwise no rows and a NOTICE)';

CREATE VIEW key_audit AS SELECT * FROM key_audit();
REVOKE ALL ON key_audit FROM PUBLIC;
GRANT SELECT ON key_audit TO pg_read_all_stats;
COMMENT ON VIEW key_audit IS
	'who used which stored key: encrypts and decrypts per database, role and key since the last reset (key_audit_reset()); key names of the current database; readable by pg_read_all_stats';

CREATE FUNCTION key_audit_reset() RETURNS pg_catalog.timestamptz
	AS 'MODULE_PATHNAME', 'encrypted_column_key_audit_reset'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION key_audit_reset() FROM PUBLIC;
COMMENT ON FUNCTION key_audit_reset() IS
	'forgets the counts of key_audit in every database and starts a new period; returns its start (NULL, with a NOTICE, when the library is not preloaded)';
