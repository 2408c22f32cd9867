-- pgTAP: the key GUCs never show key bytes, and keys reach parallel
-- workers.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION encrypted_column;
SELECT no_plan();

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

-- keys reach parallel workers
CREATE TABLE par AS SELECT i AS id, encrypt('tap-par-' || i) AS enc FROM generate_series(1, 5000) i;
ANALYZE par;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT is((SELECT count(*) FROM par WHERE decrypt(enc) = 'tap-par-' || id), 5000::bigint,
	'every row decrypts in parallel workers');
CREATE FUNCTION pg_temp.workers_launched(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO plan;
	RETURN (plan -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Workers Launched')::int;
END $$;
SELECT cmp_ok(pg_temp.workers_launched($q$SELECT count(*) FROM par WHERE decrypt(enc) = 'tap-par-' || id$q$), '>', 0,
	'the decrypting scan ran in parallel workers');
SELECT * FROM finish();
ROLLBACK;
