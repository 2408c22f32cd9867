-- Known answers from an independent implementation, and tampering with
-- each part of an envelope.  See test/kat/make_kat.py.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
SET encrypted_column.key = :'k1';
SET encrypted_column.accept_ciphertext = on;

CREATE TABLE kat (name text, enc encrypted_text);
INSERT INTO kat VALUES
	('empty', 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='),
	('email', 'ecv1:AQFdXs15ZGVmZ2hpamtsbW5vZJI/b7OMUHl1apewuJRoXan0bMCBBt6GvAM/O4+YKqfq'),
	('utf8', 'ecv1:AQFdXs15yMnKy8zNzs/Q0dLT2DvZ6drVRih5Mx2rN119EqROpg8FQfETSpBQg0BoBw=='),
	('context', 'ecv1:AYFdXs15AAECAwQFBgcICQoLoyFGtWRjz42FkqbvVdScQNgyWLA7NYfviHuSfBnW');
SELECT name, key_id(enc), CASE WHEN name = 'context' THEN decrypt(enc, 'users:42') ELSE decrypt(enc) END
FROM kat ORDER BY name;
-- the value is stored as it was given
SELECT name, enc::text = 'ecv1:AQFdXs15ZGVmZ2hpamtsbW5vZJI/b7OMUHl1apewuJRoXan0bMCBBt6GvAM/O4+YKqfq' AS verbatim
FROM kat WHERE name = 'email';

-- flip one bit of byte pos (0-based) of an envelope
CREATE FUNCTION flip(v encrypted_text, pos int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT 'ecv1:' || translate(encode(set_byte(e, pos, get_byte(e, pos) # 1), 'base64'), E'\n', '')
	FROM (SELECT encrypted_text_send(v) AS e) s
$$;
-- the envelope cut or extended by n bytes
CREATE FUNCTION resize(v encrypted_text, n int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT 'ecv1:' || translate(encode(
		CASE WHEN n < 0 THEN substr(e, 1, octet_length(e) + n) ELSE e || '\x00'::bytea END,
		'base64'), E'\n', '')
	FROM (SELECT encrypted_text_send(v) AS e) s
$$;

CREATE TABLE victim AS SELECT enc FROM kat WHERE name = 'email';
-- version and algorithm are checked when the value comes in
SELECT flip(enc, 0)::encrypted_text FROM victim;
SELECT flip(enc, 1)::encrypted_text FROM victim;
-- key id: now names a key nobody has
SELECT decrypt(flip(enc, 2)::encrypted_text) FROM victim;
-- the context bit, the nonce, the ciphertext, the tag: one generic error
SELECT decrypt(('ecv1:' || translate(encode(set_byte(encrypted_text_send(enc), 1, 129), 'base64'), E'\n', ''))::encrypted_text) FROM victim;
SELECT decrypt(flip(enc, 6)::encrypted_text) FROM victim;
SELECT decrypt(flip(enc, 17)::encrypted_text) FROM victim;
SELECT decrypt(flip(enc, 18)::encrypted_text) FROM victim;
SELECT decrypt(flip(enc, 34)::encrypted_text) FROM victim;
SELECT decrypt(flip(enc, 50)::encrypted_text) FROM victim;
-- truncated and extended
SELECT decrypt(resize(enc, -1)::encrypted_text) FROM victim;
SELECT decrypt(resize(enc, -17)::encrypted_text) FROM victim;
SELECT resize(enc, -18)::encrypted_text FROM victim;
SELECT decrypt(resize(enc, 1)::encrypted_text) FROM victim;
-- the id of another loaded key written over the value's: still refused
SET encrypted_column.key = :'k2';
SELECT current_key_id() AS k2_id \gset
SET encrypted_column.key = :'k1';
SET encrypted_column.previous_keys = :'k2';
SELECT decrypt(('ecv1:' || translate(encode(
	overlay(encrypted_text_send(enc) PLACING decode(:'k2_id', 'hex') FROM 3 FOR 4),
	'base64'), E'\n', ''))::encrypted_text) FROM victim;
SELECT 1 AS alive;
-- untouched, it still decrypts
SELECT decrypt(enc) FROM victim;
