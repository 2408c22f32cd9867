-- encrypted_text_det: known answers from an independent implementation,
-- determinism, context, tampering with every envelope byte, refusal of
-- the other type's envelopes, and the error paths.  See test/kat/make_kat.py.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
SET encrypted_column.key = :'k1';

-- Python's AESSIV wrote these; the extension writes the same bytes (so
-- Python decrypts what the extension writes) and decrypts them
CREATE TABLE det_kat (name text, plain text, context text, python text);
INSERT INTO det_kat VALUES
	('empty', '', NULL, 'ecv1:AQJdXs15n1JAwOFztu8AeoE9eBF4+w=='),
	('email', 'alice@example.com', NULL, 'ecv1:AQJdXs159Prn3MrHIXYZg/iO5cBB2uiJpzb43g1JA71bZdS7HzZ7'),
	('utf8', 'grüße, 東京', NULL, 'ecv1:AQJdXs15iBy7vCgfK4m3cn0WVQnJGax0bv+SVL+QAg4mv6GUzQ=='),
	('context', 'alice@example.com', 'users.email', 'ecv1:AYJdXs15YhWqpMEwrtKNXkem3KRz56SkRIMcJ7UYZqEdmvJhLRTh');
SELECT name,
       CASE WHEN context IS NULL THEN encrypt_det(plain) ELSE encrypt_det(plain, context) END::text = python AS extension_writes_python_bytes
FROM det_kat ORDER BY name;
SET encrypted_column.accept_ciphertext = on;
SELECT name, key_id(python::encrypted_text_det),
       CASE WHEN context IS NULL THEN decrypt(python::encrypted_text_det)
            ELSE decrypt(python::encrypted_text_det, context) END = plain AS extension_reads_python_bytes
FROM det_kat ORDER BY name;
RESET encrypted_column.accept_ciphertext;

-- deterministic: every way in gives the same 22-byte-longer envelope
CREATE TABLE det_t (v encrypted_text_det);
INSERT INTO det_t VALUES ('alice@example.com'), ('alice@example.com'::text),
	('alice@example.com'::varchar), (encrypt_det('alice@example.com'));
SELECT count(DISTINCT encrypted_text_det_send(v)) AS distinct_envelopes,
       min(octet_length(encrypted_text_det_send(v))) AS envelope_bytes,
       min(decrypt(v)) AS plaintext
FROM det_t;
SELECT encrypt_det('a') = encrypt_det('a') AS same, encrypt_det('a') = encrypt_det('b') AS different,
       encrypt_det('a') <> encrypt_det('a', 'c1') AS context_separates,
       encrypt_det('a', 'c1') <> encrypt_det('a', 'c2') AS contexts_separate,
       encrypt_det('a', 'c1') = encrypt_det('a', 'c1') AS same_context_same_value;
SELECT decrypt(encrypt_det('')) = '' AS empty_round_trip,
       decrypt(encrypt_det(repeat('x', 100000))) = repeat('x', 100000) AS long_round_trip;
-- text out is the ciphertext text form, never plaintext
SELECT v::text LIKE 'ecv1:%' AS text_form, position('alice' IN v::text) = 0 AS no_plaintext,
       v::varchar = v::text AS varchar_same
FROM det_t LIMIT 1;

-- context: needed, non-empty, and the one the value was bound to
SELECT decrypt(encrypt_det('x', 'ctx'), 'ctx');
SELECT encrypt_det('x', '');
SELECT decrypt(encrypt_det('x', 'ctx'), 'other');
SELECT decrypt(encrypt_det('x', 'ctx'));
SELECT decrypt(encrypt_det('x'), 'ctx');

-- a ciphertext text form is refused by every way in from text
SELECT encrypt_det('a')::text AS det_text \gset
\set gcm_text 'ecv1:AQFdXs15ZGVmZ2hpamtsbW5vZJI/b7OMUHl1apewuJRoXan0bMCBBt6GvAM/O4+YKqfq'
SELECT :'det_text'::encrypted_text_det;
SELECT :'det_text'::text::encrypted_text_det;
INSERT INTO det_t VALUES (:'det_text'::varchar);
-- with the restore switch, only an envelope of this type's algorithm
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt(:'det_text'::encrypted_text_det);
SELECT :'gcm_text'::encrypted_text_det;
SELECT :'gcm_text'::text::encrypted_text_det;
SELECT :'det_text'::encrypted_text;
SELECT :'det_text'::text::encrypted_text;
RESET encrypted_column.accept_ciphertext;
-- no cast between the two types
SELECT encrypt('a')::encrypted_text_det;
SELECT encrypt_det('a')::encrypted_text;

-- flip one bit of byte pos (0-based) of an envelope's bytes
CREATE FUNCTION det_flip(e bytea, pos int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT 'ecv1:' || translate(encode(set_byte(e, pos, get_byte(e, pos) # 1), 'base64'), E'\n', '')
$$;
-- the SQLSTATE of decrypting a text form (input or decryption error)
CREATE FUNCTION det_decrypt_state(v text, ctx text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	IF ctx IS NULL THEN
		PERFORM decrypt(v::encrypted_text_det);
	ELSE
		PERFORM decrypt(v::encrypted_text_det, ctx);
	END IF;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
-- every byte of a plain and a context-bound envelope, one bit flipped:
-- header bytes fail at input or name an unknown key; every other byte,
-- and the context bit, give the one decryption error
SET encrypted_column.accept_ciphertext = on;
SELECT name, pos_range, state, count(*) AS bytes
FROM (
	SELECT k.name, p AS pos,
	       CASE WHEN p < 2 THEN 'version, algorithm' WHEN p < 6 THEN 'key id'
	            WHEN p < 22 THEN 'synthetic IV' ELSE 'ciphertext' END AS pos_range,
	       det_decrypt_state(det_flip(decode(substr(k.python, 6), 'base64'), p), k.context) AS state
	FROM det_kat k, generate_series(0, octet_length(decode(substr(k.python, 6), 'base64')) - 1) p
	WHERE k.name IN ('email', 'context', 'empty')
) s
GROUP BY name, pos_range, state ORDER BY name, min(pos);
-- the context bit set or cleared
SELECT det_decrypt_state('ecv1:' || translate(encode(set_byte(decode(substr(python, 6), 'base64'), 1, 130), 'base64'), E'\n', ''), NULL),
       det_decrypt_state('ecv1:' || translate(encode(set_byte(decode(substr(python, 6), 'base64'), 1, 130), 'base64'), E'\n', ''), 'users.email')
FROM det_kat WHERE name = 'email';
SELECT det_decrypt_state('ecv1:' || translate(encode(set_byte(decode(substr(python, 6), 'base64'), 1, 2), 'base64'), E'\n', ''), NULL)
FROM det_kat WHERE name = 'context';
-- cut short of the fixed fields, cut into the ciphertext, extended
SELECT det_decrypt_state('ecv1:' || translate(encode(substr(decode(substr(python, 6), 'base64'), 1, 21), 'base64'), E'\n', ''), NULL) AS cut_21,
       det_decrypt_state('ecv1:' || translate(encode(substr(decode(substr(python, 6), 'base64'), 1, 30), 'base64'), E'\n', ''), NULL) AS cut_30,
       det_decrypt_state('ecv1:' || translate(encode(decode(substr(python, 6), 'base64') || '\x00'::bytea, 'base64'), E'\n', ''), NULL) AS extended
FROM det_kat WHERE name = 'email';
RESET encrypted_column.accept_ciphertext;
SELECT 1 AS alive;

-- keys: the same key id as encrypted_text, no key, unknown key, rotation
SELECT key_id(encrypt_det('a')) = current_key_id() AS current,
       key_id(encrypt_det('a')) = key_id(encrypt('a')) AS same_id_as_gcm;
CREATE TABLE det_under_k1 AS SELECT encrypt_det('rotate me') AS v, encrypt_det('rotate me', 'c') AS vc;
SET encrypted_column.key = :'k2';
SELECT decrypt(v) FROM det_under_k1;
SET encrypted_column.previous_keys = :'k1';
SELECT decrypt(v), decrypt(vc, 'c') FROM det_under_k1;
SELECT reencrypt(v) = encrypt_det('rotate me') AS moved, key_id(reencrypt(v)) = current_key_id() AS new_key,
       reencrypt(vc, 'c') = encrypt_det('rotate me', 'c') AS moved_context,
       reencrypt(v) <> v AS changed
FROM det_under_k1;
RESET encrypted_column.previous_keys;
RESET encrypted_column.key;
SELECT encrypt_det('a');
SELECT 'a'::encrypted_text_det;
SELECT encrypt_det_all('a');
SELECT decrypt(v) FROM det_under_k1;
SELECT reencrypt(v) FROM det_under_k1;
SELECT key_id(v) FROM det_under_k1;
SELECT 1 AS alive;

-- COPY text and binary; binary input of the other type is refused
SET encrypted_column.key = :'k1';
CREATE TABLE det_copy_src (id int, v encrypted_text_det);
INSERT INTO det_copy_src SELECT i, 'copy-det-' || i FROM generate_series(1, 50) i;
INSERT INTO det_copy_src VALUES (51, ''), (52, NULL);
CREATE TABLE det_copy_dst (LIKE det_copy_src);
CREATE TABLE det_copy_gcm (id int, v encrypted_text);
SELECT current_setting('data_directory') || '/ec_det_copy' AS path \gset
COPY det_copy_src TO :'path' (FORMAT text);
SELECT position('copy-det' IN pg_read_file(:'path')) = 0 AS no_plaintext;
\set SHOW_CONTEXT never
COPY det_copy_dst FROM :'path' (FORMAT text);
SET encrypted_column.accept_ciphertext = on;
COPY det_copy_gcm FROM :'path' (FORMAT text);
COPY det_copy_dst FROM :'path' (FORMAT text);
RESET encrypted_column.accept_ciphertext;
SELECT count(*) AS rows, count(*) FILTER (WHERE d.v = s.v) AS same_values
FROM det_copy_src s JOIN det_copy_dst d USING (id);
TRUNCATE det_copy_dst;
COPY det_copy_src TO :'path' (FORMAT binary);
COPY det_copy_gcm FROM :'path' (FORMAT binary);
COPY det_copy_dst FROM :'path' (FORMAT binary);
SELECT count(*) AS rows, count(*) FILTER (WHERE d.v = s.v) AS same_values,
       count(*) FILTER (WHERE decrypt(d.v) = decrypt(s.v)) AS same_plaintexts
FROM det_copy_src s JOIN det_copy_dst d USING (id);
-- encrypted_text's binary envelopes are not encrypted_text_det's
INSERT INTO det_copy_gcm SELECT id, 'gcm-' || id FROM generate_series(1, 3) id;
COPY det_copy_gcm TO :'path' (FORMAT binary);
COPY det_copy_dst FROM :'path' (FORMAT binary);
\set SHOW_CONTEXT errors
SELECT count(*) FROM det_copy_gcm;
