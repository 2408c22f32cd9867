-- Round trips through the input function, the casts and encrypt().
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
SET encrypted_column.key = :'k1';

CREATE TABLE rt (id int PRIMARY KEY, plain text, enc encrypted_text);
INSERT INTO rt VALUES
	(1, NULL, NULL),
	(2, '', ''),
	(3, 'alice@example.com', 'alice@example.com'),
	(4, 'grüße, 東京, emoji 🔐', 'grüße, 東京, emoji 🔐'),
	(5, 'tab	and
newline', 'tab	and
newline');
-- 1 MiB, stored out of line
INSERT INTO rt SELECT 6, p, p FROM (SELECT repeat('0123456789abcdef', 65536) AS p) s;

SELECT id, decrypt(enc) IS NOT DISTINCT FROM plain AS same,
       octet_length(plain) AS plain_bytes,
       octet_length(encrypted_text_send(enc)) AS envelope_bytes,
       octet_length(encrypted_text_send(enc)) - octet_length(plain) AS overhead
FROM rt ORDER BY id;

-- the text form: prefix, base64 of the envelope, no plaintext
SELECT id,
       left(enc::text, 5) AS prefix,
       length(enc::text) = 5 + 4 * ceil(octet_length(encrypted_text_send(enc)) / 3.0) AS length_ok,
       decode(substr(enc::text, 6), 'base64') = encrypted_text_send(enc) AS base64_ok,
       plain = '' OR position(plain IN enc::text) = 0 AS no_plaintext,
       key_id(enc) = current_key_id() AS current_key
FROM rt WHERE id > 1 ORDER BY id;

-- equal plaintexts give different ciphertexts (fresh nonce each time)
CREATE TABLE same (enc encrypted_text);
INSERT INTO same SELECT 'same value'::text FROM generate_series(1, 1000);
INSERT INTO same SELECT encrypt('same value') FROM generate_series(1, 1000);
INSERT INTO same VALUES ('same value'), ('same value');
SELECT count(*) AS values, count(DISTINCT enc::text) AS distinct_ciphertexts,
       count(DISTINCT substr(encrypted_text_send(enc), 7, 12)) AS distinct_nonces,
       count(DISTINCT decrypt(enc)) AS distinct_plaintexts
FROM same;
-- a literal of type encrypted_text is a constant: encrypted once, when
-- the statement is parsed, like any other constant
SELECT count(DISTINCT enc::text) AS distinct_ciphertexts
FROM (SELECT 'same value'::encrypted_text AS enc FROM generate_series(1, 10)) s;

-- every way in from text encrypts: literal, casts from text and varchar,
-- INSERT ... SELECT, encrypt()
CREATE TABLE ways (how text, enc encrypted_text);
INSERT INTO ways VALUES ('literal', 'bob@example.org');
INSERT INTO ways SELECT 'text cast', 'bob@example.org'::text;
INSERT INTO ways SELECT 'varchar cast', 'bob@example.org'::varchar(40);
INSERT INTO ways SELECT 'explicit cast', CAST('bob@example.org'::text AS encrypted_text);
INSERT INTO ways SELECT 'encrypt()', encrypt('bob@example.org');
UPDATE ways SET enc = 'bob@example.org' WHERE how = 'literal';
SELECT how, decrypt(enc), position('bob@example.org' IN enc::text) = 0 AS no_plaintext FROM ways ORDER BY how;

-- every way out to text is the ciphertext text form
SELECT bool_and(enc::text LIKE 'ecv1:%') AS text_cast,
       bool_and(enc::varchar LIKE 'ecv1:%') AS varchar_cast,
       bool_and(format('%s', enc) LIKE 'ecv1:%') AS format,
       bool_and(row(enc)::text LIKE '(ecv1:%') AS record_out
FROM ways;

-- a plaintext that starts with the prefix goes in through encrypt()
SELECT decrypt(encrypt('ecv1:not a ciphertext'));

-- the text form of a value reads back as the same value with the switch on
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt(enc::text::encrypted_text) = plain AS same,
       (enc::text::encrypted_text)::text = enc::text AS same_bytes
FROM rt WHERE id IN (2, 3, 6) ORDER BY id;
RESET encrypted_column.accept_ciphertext;

-- the stored values are unchanged by all of the above
SELECT id, decrypt(enc) IS NOT DISTINCT FROM plain AS same FROM rt ORDER BY id;
