-- Error paths: each gives a clear error, the session survives, and what
-- is stored does not change.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
SET encrypted_column.key = :'k1';
CREATE TABLE err (id int PRIMARY KEY, enc encrypted_text);
INSERT INTO err VALUES (1, 'carol@example.net'), (2, 'dave@example.net');
CREATE TEMP TABLE snapshot AS SELECT id, enc::text AS stored FROM err;

-- no key set
RESET encrypted_column.key;
INSERT INTO err VALUES (3, 'erin@example.net');
SELECT encrypt('erin@example.net');
SELECT 'erin@example.net'::text::encrypted_text;
SELECT decrypt(enc) FROM err WHERE id = 1;
SELECT reencrypt(enc) FROM err WHERE id = 1;
SELECT 1 AS alive;

-- the wrong key: the value names a key id no loaded key has
SET encrypted_column.key = :'k2';
SELECT decrypt(enc) FROM err WHERE id = 1;
SELECT reencrypt(enc) FROM err WHERE id = 1;
SELECT 1 AS alive;

-- input that looks like ciphertext is refused while the switch is off,
-- by every way in from text
SET encrypted_column.key = :'k1';
INSERT INTO err VALUES (4, 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w==');
INSERT INTO err SELECT 4, 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::text;
INSERT INTO err SELECT 4, 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::varchar;
UPDATE err SET enc = (SELECT enc::text FROM err WHERE id = 2) WHERE id = 1;
SELECT 1 AS alive;

-- with the switch on, text forms must be well formed
SET encrypted_column.accept_ciphertext = on;
SELECT 'ecv1:'::encrypted_text;
SELECT 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w='::encrypted_text;
SELECT 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=!'::encrypted_text;
SELECT 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899x=='::encrypted_text;
SELECT 'ecv1: AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::encrypted_text;
SELECT 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w==
'::encrypted_text;
SELECT 'ecv1:AQFdXs15'::encrypted_text;
SELECT 'ecv1:AgFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::encrypted_text;
SELECT 'ecv1:AQJdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::encrypted_text;
SELECT 'ecv1:AQNdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::encrypted_text;
SELECT 1 AS alive;
RESET encrypted_column.accept_ciphertext;

-- an empty context can never stand for "no context"
SELECT encrypt('x', '');
SELECT decrypt(enc, '') FROM err WHERE id = 1;
SELECT reencrypt(enc, '') FROM err WHERE id = 1;

-- no operators on ciphertext: comparisons go through decrypt()
SELECT count(*) FROM err WHERE enc = 'carol@example.net';
SELECT DISTINCT enc FROM err;

-- a stored value that is no envelope (corruption, made here through a
-- binary-coercible cast from bytea) is data corruption, XX001; the
-- detail says what is wrong, never a byte of the value
CREATE CAST (bytea AS encrypted_text) WITHOUT FUNCTION;
CREATE CAST (bytea AS encrypted_text_det) WITHOUT FUNCTION;
CREATE TABLE err_corrupt (enc encrypted_text, det encrypted_text_det);
INSERT INTO err_corrupt VALUES ('\x0141'::bytea::encrypted_text, '\x0102'::bytea::encrypted_text_det);
DROP CAST (bytea AS encrypted_text);
DROP CAST (bytea AS encrypted_text_det);
SELECT decrypt(enc) FROM err_corrupt;
SELECT key_id(enc) FROM err_corrupt;
SELECT decrypt(det) FROM err_corrupt;
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS
$$BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END$$;
SELECT q, pg_temp.sqlstate_of(q) FROM (VALUES ('SELECT decrypt(enc) FROM err_corrupt'),
  ('SELECT key_id(enc) FROM err_corrupt'), ('SELECT decrypt(det) FROM err_corrupt')) v(q);
SELECT 1 AS alive;
DROP TABLE err_corrupt;

-- nothing stored changed
SELECT s.id, s.stored = e.enc::text AS unchanged, decrypt(e.enc)
FROM snapshot s JOIN err e USING (id) ORDER BY id;
SELECT count(*) AS rows FROM err;
