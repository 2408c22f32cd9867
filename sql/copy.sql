-- COPY in text and binary format.  Files go to the data directory, since
-- COPY to a server file needs an absolute path.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
SET encrypted_column.key = :'k1';
CREATE TABLE src (id int, enc encrypted_text);
INSERT INTO src SELECT i, 'copy-secret-' || i FROM generate_series(1, 100) i;
INSERT INTO src VALUES (101, ''), (102, NULL), (103, 'multi
line, "quoted", tab	here');
SELECT current_setting('data_directory') || '/ec_copy' AS path \gset

-- text format: the file holds ciphertext text forms only
COPY src TO :'path' (FORMAT text);
SELECT position('copy-secret' IN pg_read_file(:'path')) = 0 AS no_plaintext,
       (SELECT count(*) FROM regexp_matches(pg_read_file(:'path'), 'ecv1:', 'g')) AS ciphertexts;

-- reading it back without the switch fails loudly and loads nothing
-- (no CONTEXT shown here: it quotes the random ciphertext of line 1)
CREATE TABLE dst (LIKE src);
\set SHOW_CONTEXT never
COPY dst FROM :'path' (FORMAT text);
\set SHOW_CONTEXT errors
SELECT count(*) FROM dst;
-- with the switch it loads the same envelopes
SET encrypted_column.accept_ciphertext = on;
COPY dst FROM :'path' (FORMAT text);
RESET encrypted_column.accept_ciphertext;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE d.enc::text = s.enc::text) AS same_envelopes,
       count(*) FILTER (WHERE decrypt(d.enc) = decrypt(s.enc)) AS same_plaintexts
FROM src s JOIN dst d USING (id);
SELECT count(*) FROM dst WHERE enc IS NULL;

-- CSV, the same
TRUNCATE dst;
COPY src TO :'path' (FORMAT csv);
SET encrypted_column.accept_ciphertext = on;
COPY dst FROM :'path' (FORMAT csv);
RESET encrypted_column.accept_ciphertext;
SELECT count(*) FILTER (WHERE decrypt(d.enc) = decrypt(s.enc)) AS same_plaintexts
FROM src s JOIN dst d USING (id);

-- binary format carries envelopes and needs no switch
TRUNCATE dst;
COPY src TO :'path' (FORMAT binary);
COPY dst FROM :'path' (FORMAT binary);
SELECT count(*) AS rows,
       count(*) FILTER (WHERE d.enc::text = s.enc::text) AS same_envelopes,
       count(*) FILTER (WHERE decrypt(d.enc) = decrypt(s.enc)) AS same_plaintexts
FROM src s JOIN dst d USING (id);

-- plaintext loaded with COPY FROM is encrypted on the way in
CREATE TABLE plain_rows (id int, v text);
INSERT INTO plain_rows SELECT i, 'loaded-' || i FROM generate_series(1, 5) i;
COPY plain_rows TO :'path' (FORMAT text);
TRUNCATE dst;
COPY dst FROM :'path' (FORMAT text);
SELECT id, decrypt(enc), position('loaded' IN enc::text) = 0 AS no_plaintext FROM dst ORDER BY id;

-- with no key, the error has no context line echoing the plaintext field
RESET encrypted_column.key;
\set SHOW_CONTEXT always
COPY dst FROM :'path' (FORMAT text);
\set SHOW_CONTEXT errors
SET encrypted_column.key = :'k1';

-- binary input that is not an envelope is refused, and nothing is loaded
CREATE TABLE raw (b bytea);
INSERT INTO raw VALUES ('\x'), ('\x01'), ('\x0201aabbccdd000000000000000000000000000000000000000000000000000000000000');
TRUNCATE dst;
COPY (SELECT 1, b FROM raw LIMIT 1) TO :'path' (FORMAT binary);
COPY dst FROM :'path' (FORMAT binary);
COPY (SELECT 1, b FROM raw OFFSET 1 LIMIT 1) TO :'path' (FORMAT binary);
COPY dst FROM :'path' (FORMAT binary);
COPY (SELECT 1, b FROM raw OFFSET 2) TO :'path' (FORMAT binary);
COPY dst FROM :'path' (FORMAT binary);
-- an envelope of another algorithm, with the right length
COPY (SELECT 1, set_byte(encrypted_text_send(enc), 1, 2) FROM src WHERE id = 1) TO :'path' (FORMAT binary);
COPY dst FROM :'path' (FORMAT binary);
SELECT count(*) FROM dst;
-- a well-formed envelope written as bytea is accepted as it is
COPY (SELECT id, encrypted_text_send(enc) FROM src WHERE id = 1) TO :'path' (FORMAT binary);
COPY dst FROM :'path' (FORMAT binary);
SELECT decrypt(enc) FROM dst;
