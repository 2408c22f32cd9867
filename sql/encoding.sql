-- Database encodings: a value's plaintext is UTF-8 in the envelope (bit 6
-- of byte 1), converted from the database encoding on the way in and to
-- it on the way out, so it decrypts to the same characters in any
-- database that can represent them, and fails with 22021 in one that
-- cannot.  Values written by 0.2.0 (no bit 6) hold the bytes of the
-- database that wrote them and read as before there.  Envelopes marked
-- "kat" come from test/kat/make_kat.py.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set kat_latin1_020 'ecv1:AQFdXs15MjM0NTY3ODk6Ozw9SD7DEajcJl/G8z805TtZXVI9u0BD'
\set kat_utf8_030 'ecv1:AUFdXs15RkdISUpLTE1OT1BRlZEtmHjANK4VR/rZ/Q36/fkqnz1+ZgA='
\set kat_utf8_020 'ecv1:AQFdXs15WltcXV5fYGFiY2RliaxyQPgzwbix2imqsNVI7vLMOEpQE3k='
\set VERBOSITY terse
SET encrypted_column.key = :'k1';

-- in this UTF-8 database: new values carry the flag, old ones read as before
SELECT get_byte(encrypted_text_send(encrypt('x')), 1) AS algorithm_byte,
       get_byte(encrypted_text_send(encrypt('x', 'ctx')), 1) AS with_context;
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt(:'kat_utf8_030'::encrypted_text) AS kat_030, decrypt(:'kat_utf8_020'::encrypted_text) AS kat_020;
-- a 0.2.0 value from a LATIN1 database is not UTF-8 here
\set VERBOSITY sqlstate
SELECT decrypt(:'kat_latin1_020'::encrypted_text);
\set VERBOSITY terse
RESET encrypted_column.accept_ciphertext;

-- values written here, to be moved
SELECT encrypt(U&'gr\00FC\00DFe')::text AS umlauts,
       encrypt(U&'caf\00E9', 'row:1')::text AS bound,
       encrypt(U&'5 \20AC')::text AS euro,
       encrypt(U&'\65E5\672C')::text AS kanji \gset

CREATE DATABASE ec_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE ec_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;

\set regdb :DBNAME
\c ec_latin1
\set VERBOSITY terse
SET client_encoding = 'UTF8';
CREATE EXTENSION encrypted_column;
SET encrypted_column.key = :'k1';
CREATE TABLE moved (name text, c encrypted_text);
-- as a restore would: ciphertext text forms with the switch
SET encrypted_column.accept_ciphertext = on;
INSERT INTO moved VALUES ('umlauts', :'umlauts'), ('bound', :'bound'),
	('euro', :'euro'), ('kanji', :'kanji'),
	('kat 0.2.0 latin1', :'kat_latin1_020'), ('kat 0.3.0', :'kat_utf8_030'),
	('kat 0.2.0 utf8', :'kat_utf8_020');
RESET encrypted_column.accept_ciphertext;

-- the same characters, in LATIN1
SELECT decrypt(c) AS plaintext, decrypt(c) = U&'gr\00FC\00DFe' AS same,
       encode(convert_to(decrypt(c), 'LATIN1'), 'hex') AS latin1_bytes
FROM moved WHERE name = 'umlauts';
SELECT decrypt(c, 'row:1') = U&'caf\00E9' AS same FROM moved WHERE name = 'bound';
SELECT name, decrypt(c) = U&'gr\00FC\00DFe' AS same FROM moved WHERE name LIKE 'kat%' ORDER BY name;
-- characters LATIN1 cannot represent: the encoding error, never other text
\set VERBOSITY sqlstate
SELECT decrypt(c) FROM moved WHERE name = 'euro';
SELECT decrypt(c) FROM moved WHERE name = 'kanji';
\set VERBOSITY terse
SELECT decrypt(c) FROM moved WHERE name = 'euro';

-- written here: flagged UTF-8, decrypts here; reencrypt() moves a 0.2.0
-- value to the new form
INSERT INTO moved VALUES ('latin1 new', U&'gr\00FC\00DFe');
SELECT get_byte(encrypted_text_send(c), 1) AS algorithm_byte, decrypt(c) = U&'gr\00FC\00DFe' AS same
FROM moved WHERE name = 'latin1 new';
UPDATE moved SET c = reencrypt(c) WHERE name = 'kat 0.2.0 latin1';
SELECT get_byte(encrypted_text_send(c), 1) AS algorithm_byte, decrypt(c) = U&'gr\00FC\00DFe' AS same
FROM moved WHERE name = 'kat 0.2.0 latin1';
-- encrypted_text_det compared with a text here: a filter finds what the
-- index finds, although the plaintext is shorter in LATIN1 than in UTF-8
CREATE TABLE det_moved (id int, e encrypted_text_det);
INSERT INTO det_moved VALUES (1, U&'caf\00E9'), (2, 'plain'), (3, U&'gr\00FC\00DFe');
SELECT id FROM det_moved WHERE e = U&'caf\00E9'::text ORDER BY id;
SELECT id FROM det_moved WHERE e <> U&'gr\00FC\00DFe'::text ORDER BY id;
CREATE UNIQUE INDEX ON det_moved (e);
SET enable_seqscan = off;
SELECT id FROM det_moved WHERE e = U&'caf\00E9'::text ORDER BY id;
RESET enable_seqscan;
SELECT c::text AS latin1_new FROM moved WHERE name = 'latin1 new' \gset
SELECT c::text AS latin1_reencrypted FROM moved WHERE name = 'kat 0.2.0 latin1' \gset

-- SQL_ASCII: bytes of no declared encoding; UTF-8 is encrypted, anything
-- else is refused, and UTF-8 plaintexts come out as their bytes
\c ec_sql_ascii
\set VERBOSITY terse
SET client_encoding = 'UTF8';
CREATE EXTENSION encrypted_column;
SET encrypted_column.key = :'k1';
SELECT decrypt(encrypt(E'gr\xc3\xbc\xc3\x9fe')) = E'gr\xc3\xbc\xc3\x9fe' AS utf8_round_trip;
\set VERBOSITY sqlstate
SELECT encrypt(E'gr\xfc\xdfe');
\set VERBOSITY terse
SELECT encrypt(E'gr\xfc\xdfe');
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt(:'umlauts'::encrypted_text) = E'gr\xc3\xbc\xc3\x9fe' AS moved_in;
SELECT decrypt(:'kat_latin1_020'::encrypted_text) = E'gr\xfc\xdfe' AS old_bytes_as_they_are;
RESET encrypted_column.accept_ciphertext;

-- back in UTF-8: what LATIN1 wrote reads as the same characters
\c :regdb
\set VERBOSITY terse
SET encrypted_column.key = :'k1';
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt(:'latin1_new'::encrypted_text) = U&'gr\00FC\00DFe' AS latin1_new,
       decrypt(:'latin1_reencrypted'::encrypted_text) = U&'gr\00FC\00DFe' AS latin1_reencrypted;
RESET encrypted_column.accept_ciphertext;
DROP DATABASE ec_latin1;
DROP DATABASE ec_sql_ascii;
RESET encrypted_column.key;
