-- pgTAP: the key GUCs never show key bytes.  (Parallel workers: see
-- sql/parallel.sql.)
\ir include/begin.psql

SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SET LOCAL encrypted_column.previous_keys = '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c';

SELECT is(current_setting('encrypted_column.key'), '(hidden, key id 5d5ecd79)', 'current_setting masks the key');
SELECT is(current_setting('encrypted_column.previous_keys'), '(hidden, key ids cc691356)',
	'current_setting masks the previous keys');
SELECT is(current_key_id(), '5d5ecd79', 'current_key_id() is the HKDF-derived id');
SELECT is_empty($$SELECT name FROM pg_settings WHERE name IN ('encrypted_column.key', 'encrypted_column.previous_keys')$$,
	'the key GUCs are not in pg_settings');
SELECT is_empty($$SELECT name FROM pg_settings WHERE setting ~* '0a0b0c0d0e0f' OR reset_val ~* '0a0b0c0d0e0f' OR boot_val ~* '0a0b0c0d0e0f'$$,
	'no pg_settings column holds key bytes');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'encrypted_column.accept_ciphertext'), 'off',
	'accept_ciphertext is listed and off by default');

SELECT * FROM finish();
ROLLBACK;
