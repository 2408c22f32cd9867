-- Cached plans and key changes: a plaintext literal is encrypted when a
-- plan is made.  After the key changes, no cached plan may go on storing
-- the ciphertext made under the old key; with no key it must fail.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
\set VERBOSITY terse
SET encrypted_column.key = :'k1';
CREATE TABLE pc (n serial, form text, c encrypted_text);

-- each form of cached statement, made and run once under k1
PREPARE p_plain AS INSERT INTO pc (form, c) VALUES ('prepare', 'pc secret');
PREPARE p_param(text) AS INSERT INTO pc (form, c) VALUES ($1, 'pc secret');
CREATE FUNCTION pc_plpgsql() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO pc (form, c) VALUES ('plpgsql', 'pc secret');
END $$;
-- an assignment is a PL/pgSQL simple expression, with its own fast path
CREATE FUNCTION pc_simple() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v encrypted_text;
BEGIN
	v := 'pc secret';
	INSERT INTO pc (form, c) VALUES ('plpgsql simple', v);
END $$;
CREATE FUNCTION pc_sql() RETURNS void LANGUAGE sql AS $$
	INSERT INTO pc (form, c) VALUES ('sql', 'pc secret');
$$;
-- cached in the catalog, not in a plan: made once, at CREATE, under k1
CREATE FUNCTION pc_atomic() RETURNS void LANGUAGE sql
BEGIN ATOMIC
	INSERT INTO pc (form, c) VALUES ('begin atomic', 'pc secret');
END;
CREATE VIEW pc_view AS SELECT 'pc secret'::encrypted_text AS c;

-- Run every form; the generic and custom plans of p_param both.
CREATE FUNCTION pc_run_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'EXECUTE p_plain';
	SET LOCAL plan_cache_mode = force_generic_plan;
	EXECUTE 'EXECUTE p_param(''generic plan'')';
	SET LOCAL plan_cache_mode = force_custom_plan;
	EXECUTE 'EXECUTE p_param(''custom plan'')';
	SET LOCAL plan_cache_mode = auto;
	PERFORM pc_plpgsql();
	PERFORM pc_simple();
	PERFORM pc_sql();
	PERFORM pc_atomic();
	INSERT INTO pc (form, c) SELECT 'view', c FROM pc_view;
END $$;

SELECT pc_run_all();
-- run again under the same key: plans are reused
SELECT pc_run_all();

SET encrypted_column.key = :'k2';
SELECT pc_run_all();

-- key id per form and run: k1 is 5d5ecd79, k2 is cc691356
SELECT form, string_agg(key_id(c), ' ' ORDER BY n) AS key_ids
FROM pc GROUP BY form ORDER BY form;

-- each stored value decrypts to the literal (k1 kept for reading)
SET encrypted_column.previous_keys = :'k1';
SELECT count(*) AS values, count(*) FILTER (WHERE decrypt(c) = 'pc secret') AS decrypted FROM pc;
RESET encrypted_column.previous_keys;

-- with no key, each plan-cached form fails; the catalog constants do not
-- encrypt anything and still store the ciphertext made at CREATE
RESET encrypted_column.key;
TRUNCATE pc;
EXECUTE p_plain;
EXECUTE p_param('generic plan');
SET plan_cache_mode = force_generic_plan;
EXECUTE p_param('generic plan');
RESET plan_cache_mode;
SELECT pc_plpgsql();
SELECT pc_simple();
SELECT pc_sql();
SELECT pc_atomic();
INSERT INTO pc (form, c) SELECT 'view', c FROM pc_view;
SELECT form, key_id(c) FROM pc ORDER BY n;

-- a key set for one transaction only: after COMMIT the plan made inside
-- it cannot be reused
BEGIN;
SET LOCAL encrypted_column.key = :'k2';
PREPARE p_txn AS INSERT INTO pc (form, c) VALUES ('txn', 'pc secret');
EXECUTE p_txn;
COMMIT;
EXECUTE p_txn;
-- the same statement in a new transaction with another key
BEGIN;
SELECT set_config('encrypted_column.key', :'k1', true) IS NOT NULL AS key_set;
EXECUTE p_txn;
COMMIT;
SELECT form, key_id(c) FROM pc WHERE form = 'txn' ORDER BY n;

-- the key changed inside a PL/pgSQL loop: each iteration stores under
-- the key current at that moment
DO $$
BEGIN
	FOR i IN 1..2 LOOP
		PERFORM set_config('encrypted_column.key',
			CASE i WHEN 1 THEN '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
			ELSE '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c' END, false);
		INSERT INTO pc (form, c) VALUES ('loop', 'pc secret');
	END LOOP;
END $$;
SELECT form, key_id(c) FROM pc WHERE form = 'loop' ORDER BY n;

DEALLOCATE ALL;
DROP VIEW pc_view;
DROP FUNCTION pc_run_all(), pc_plpgsql(), pc_simple(), pc_sql(), pc_atomic();
DROP TABLE pc;
RESET encrypted_column.key;

-- A prepared lookup of encrypted_text_det by a text parameter: the plan
-- cache keeps a generic plan, an index scan sized for the keys loaded
-- (one array element per key, encrypted when the plan runs), which finds
-- values under the current key and the previous ones; a change of the
-- keys makes it anew for the new number of keys.
SET encrypted_column.key = :'k1';
CREATE TABLE pc_det (id int, email encrypted_text_det UNIQUE);
INSERT INTO pc_det SELECT g, encrypt_det('pc-' || g) FROM generate_series(1, 1000) g;
SET encrypted_column.key = :'k2';
INSERT INTO pc_det SELECT g, encrypt_det('pc-' || g) FROM generate_series(1001, 2000) g;
ANALYZE pc_det;
SET encrypted_column.previous_keys = :'k1';
PREPARE pc_look(text) AS SELECT id FROM pc_det WHERE email = $1;
EXECUTE pc_look('pc-5');
EXECUTE pc_look('pc-1150');
EXECUTE pc_look('pc-6');
EXECUTE pc_look('pc-1151');
EXECUTE pc_look('pc-7');
EXECUTE pc_look('pc-1152');
EXECUTE pc_look('pc-8');
EXECUTE pc_look('pc-1153');
SELECT generic_plans >= 2 AS generic, custom_plans <= 5 AS few_custom
FROM pg_prepared_statements WHERE name = 'pc_look';
EXPLAIN (COSTS OFF) EXECUTE pc_look('pc-9');
-- without the previous key: its rows are out of reach, the others found
RESET encrypted_column.previous_keys;
EXECUTE pc_look('pc-9');
EXECUTE pc_look('pc-1154');
-- the keys swapped: both halves found again
SET encrypted_column.key = :'k1';
SET encrypted_column.previous_keys = :'k2';
EXECUTE pc_look('pc-10');
EXECUTE pc_look('pc-1155');
SELECT generic_plans >= 4 AS still_generic FROM pg_prepared_statements WHERE name = 'pc_look';
-- no key: the lookup fails
RESET encrypted_column.previous_keys;
RESET encrypted_column.key;
EXECUTE pc_look('pc-10');
DEALLOCATE pc_look;
DROP TABLE pc_det;
