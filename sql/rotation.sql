-- Key rotation: previous_keys decrypts old values, reencrypt() moves them
-- to the current key.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
\set k3 'f0e0d0c0b0a090807060504030201000f0e0d0c0b0a090807060504030201000'
SET encrypted_column.key = :'k1';
CREATE TABLE rot (id int PRIMARY KEY, enc encrypted_text, bound encrypted_text);
INSERT INTO rot SELECT i, 'user' || i || '@example.com', encrypt('secret ' || i, 'rot:' || i)
FROM generate_series(1, 10) i;
CREATE TEMP TABLE before AS SELECT id, enc::text AS old FROM rot;
SELECT key_id(enc) AS k1_id, count(*) FROM rot GROUP BY 1;

-- new current key, the old one kept for reading
SET encrypted_column.key = :'k2';
SET encrypted_column.previous_keys = :'k1';
SELECT current_key_id() <> key_id(enc) AS moved_on, count(*) FROM rot GROUP BY 1;
SELECT count(*) FILTER (WHERE decrypt(enc) = 'user' || id || '@example.com') AS readable,
       count(*) FILTER (WHERE decrypt(bound, 'rot:' || id) = 'secret ' || id) AS bound_readable
FROM rot;

-- new values use the current key
INSERT INTO rot VALUES (11, 'new@example.com', encrypt('secret 11', 'rot:11'));
SELECT key_id(enc) = current_key_id() AS current FROM rot WHERE id = 11;

-- rotate half, then the rest, in the way the README describes
UPDATE rot SET enc = reencrypt(enc), bound = reencrypt(bound, 'rot:' || id)
WHERE key_id(enc) <> current_key_id() AND id <= 5;
SELECT key_id(enc) = current_key_id() AS current, count(*) FROM rot GROUP BY 1 ORDER BY 1;
UPDATE rot SET enc = reencrypt(enc), bound = reencrypt(bound, 'rot:' || id)
WHERE key_id(enc) <> current_key_id();
SELECT key_id(enc) = current_key_id() AS current, key_id(bound) = current_key_id() AS bound_current,
       count(*) FROM rot GROUP BY 1, 2;

-- without the old key everything still reads, and the old copies do not
RESET encrypted_column.previous_keys;
SELECT count(*) FILTER (WHERE decrypt(enc) = 'user' || id || '@example.com') AS readable,
       count(*) FILTER (WHERE decrypt(bound, 'rot:' || id) = 'secret ' || id) AS bound_readable
FROM rot WHERE id <= 10;
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt(old::encrypted_text) FROM before WHERE id = 1;
RESET encrypted_column.accept_ciphertext;

-- reencrypt draws a fresh nonce even when the key does not change
SELECT enc::text <> reencrypt(enc)::text AS fresh, decrypt(reencrypt(enc)) FROM rot WHERE id = 1;

-- several previous keys; the current key also decrypts
SET encrypted_column.key = :'k3';
SELECT set_config('encrypted_column.previous_keys', :'k1' || ',' || :'k2', false) IS NOT NULL AS set;
SELECT count(*) FILTER (WHERE decrypt(enc) = 'user' || id || '@example.com') AS readable FROM rot;
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt(old::encrypted_text) FROM before WHERE id = 1;
