-- A new session that sets the key before anything has loaded the library.
-- Without shared_preload_libraries the SET makes a placeholder, which the
-- library takes over on first use; the alternative output
-- first_use_1.out is the same test with the library preloaded.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\c
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
SET encrypted_column.key = :'k1';
-- before the library is loaded, a placeholder holds the value as given
SELECT current_setting('encrypted_column.key') = :'k1' AS shown_raw;
SELECT decrypt(encrypt('first use'));
SELECT current_setting('encrypted_column.key') = :'k1' AS shown_raw;
SHOW encrypted_column.key;

-- a malformed key set before loading: a warning at load, and no key
\c
SET encrypted_column.key = 'not a key';
SELECT current_key_id();
SELECT encrypt('x');
SHOW encrypted_column.key;
