-- pgTAP: the SQLSTATEs of the guards added in 0.3.0: the restore switch
-- as a privilege, cached plans after the key is gone, the encoding of
-- plaintexts, and the size limit.
\ir include/begin.psql

SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

-- the restore switch: an ordinary role may not set it, a granted one may
CREATE ROLE tap_guard_plain;
CREATE ROLE tap_guard_restore;
GRANT SET ON PARAMETER encrypted_column.accept_ciphertext TO tap_guard_restore;
CREATE FUNCTION pg_temp.lift_switch() RETURNS text LANGUAGE sql SECURITY DEFINER
AS $$ SELECT set_config('encrypted_column.accept_ciphertext', 'on', true) $$;
CREATE FUNCTION pg_temp.lift_switch_granted() RETURNS text LANGUAGE sql SECURITY DEFINER
AS $$ SELECT set_config('encrypted_column.accept_ciphertext', 'on', true) $$;
ALTER FUNCTION pg_temp.lift_switch() OWNER TO tap_guard_plain;
ALTER FUNCTION pg_temp.lift_switch_granted() OWNER TO tap_guard_restore;
SELECT throws_ok($$SELECT pg_temp.lift_switch()$$, '42501',
	'permission denied to set parameter "encrypted_column.accept_ciphertext"',
	'an ordinary role cannot turn the restore switch on');
SELECT is(pg_temp.lift_switch_granted(), 'on', 'a role granted SET ON PARAMETER can');
SELECT is(current_setting('encrypted_column.accept_ciphertext'), 'on', '... and the switch is on');
SET LOCAL encrypted_column.accept_ciphertext = off;
SELECT is((SELECT context FROM pg_settings WHERE name = 'encrypted_column.accept_ciphertext'), 'superuser',
	'accept_ciphertext is a superuser setting');

-- a cached plan whose key is gone fails with the no-key error
CREATE TABLE guarded (c encrypted_text);
PREPARE guarded_insert AS INSERT INTO guarded VALUES ('tap-secret-cached');
EXECUTE guarded_insert;
SET LOCAL encrypted_column.key = '';
SELECT throws_ok($$EXECUTE guarded_insert$$, '55000', 'encrypted_column.key is not set',
	'a prepared plaintext literal is not stored once the key is gone');
DEALLOCATE guarded_insert;
SELECT is((SELECT count(*) FROM guarded), 1::bigint, '... and nothing more was stored');
SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

-- a 0.2.0 value written in a LATIN1 database is not UTF-8 here
-- (test/kat/make_kat.py)
SET LOCAL encrypted_column.accept_ciphertext = on;
SELECT throws_ok($$SELECT decrypt('ecv1:AQFdXs15MjM0NTY3ODk6Ozw9SD7DEajcJl/G8z805TtZXVI9u0BD'::encrypted_text)$$, '22021',
	'decrypted value is not valid in the database encoding',
	'a plaintext the database encoding cannot hold is the encoding error');
SET LOCAL encrypted_column.accept_ciphertext = off;

-- the size limit, one byte over (the argument takes 805 MB)
SELECT throws_ok($$SELECT encrypt(repeat('x', 805306323))$$, '54000', 'value is too long to encrypt',
	'a plaintext whose text form could not be printed is refused');

SELECT * FROM finish();
ROLLBACK;
