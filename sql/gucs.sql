-- The key GUCs: masked in SHOW and current_setting(), absent from
-- pg_settings, malformed values rejected without being echoed.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
SELECT current_key_id();
SET encrypted_column.key = :'k1';
SET encrypted_column.previous_keys = :'k2';
SELECT current_key_id();

SHOW encrypted_column.key;
SHOW encrypted_column.previous_keys;
SELECT current_setting('encrypted_column.key') AS key,
       current_setting('encrypted_column.previous_keys') AS previous_keys;
SELECT name FROM pg_settings WHERE name LIKE 'encrypted_column.%' ORDER BY 1;
SELECT count(*) AS rows_with_key_bytes FROM pg_settings
WHERE setting LIKE '%' || :'k1' || '%' OR reset_val LIKE '%' || :'k1' || '%'
   OR boot_val LIKE '%' || :'k1' || '%' OR setting LIKE '%' || :'k2' || '%';
SELECT count(*) AS show_all_rows FROM pg_show_all_settings() WHERE name LIKE 'encrypted_column.key%';

-- upper case hex is the same key
SET encrypted_column.key = '000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F';
SELECT current_key_id();

-- malformed keys: rejected, the value is not echoed, the old key stays
SET encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e';
SET encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00';
SET encrypted_column.key = 'zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SET encrypted_column.key = ' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SELECT current_key_id();
SET encrypted_column.previous_keys = '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c, secret-ish';
SET encrypted_column.previous_keys = '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c,';
SELECT set_config('encrypted_column.previous_keys',
                  array_to_string(array_fill(:'k2'::text, ARRAY[17]), ','), false);
SHOW encrypted_column.previous_keys;

-- a list with blanks and sixteen entries is fine
SELECT set_config('encrypted_column.previous_keys',
                  array_to_string(array_fill(:'k2'::text, ARRAY[16]), ' , '), false) IS NOT NULL AS ok;
SELECT length(current_setting('encrypted_column.previous_keys')) < 200 AS masked;

-- the empty string unsets
SET encrypted_column.previous_keys = '';
SHOW encrypted_column.previous_keys;
SET encrypted_column.key = '';
SELECT current_key_id();
SHOW encrypted_column.key;

-- SET LOCAL and rollback restore the previous key
SET encrypted_column.key = :'k1';
BEGIN;
SET LOCAL encrypted_column.key = :'k2';
SELECT current_key_id();
ROLLBACK;
SELECT current_key_id();

-- the prefix is reserved: a mistyped name is an error
SET encrypted_column.kye = 'x';
SET encrypted_column.accept_ciphertext = 'maybe';
SHOW encrypted_column.accept_ciphertext;

-- a key handed in as a connection option: the recommended way.  It
-- becomes the session's reset value, which pg_settings would print raw;
-- the GUC is not listed there at all.
\c -reuse-previous=on "options='-c encrypted_column.key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'"
SELECT current_key_id();
SHOW encrypted_column.key;
RESET encrypted_column.key;
SELECT current_key_id();
DISCARD ALL;
SELECT current_key_id();
SELECT count(*) AS rows_with_key_bytes FROM pg_settings
WHERE setting LIKE '%0a0b0c0d%' OR reset_val LIKE '%0a0b0c0d%' OR boot_val LIKE '%0a0b0c0d%';
