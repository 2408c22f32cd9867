-- Parallel plans: workers get the key through the GUC state and decrypt
-- and encrypt on their own.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
SET encrypted_column.key = :'k1';
CREATE TABLE par (id int, enc encrypted_text);
INSERT INTO par SELECT i, 'par-' || i || '@example.com' FROM generate_series(1, 20000) i;
ANALYZE par;

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
-- only workers scan, so decrypt() runs in them and nowhere else
SET parallel_leader_participation = off;

EXPLAIN (COSTS OFF)
SELECT count(*) FROM par WHERE decrypt(enc) LIKE '%7@%';

-- Workers Launched, from the executed plan
CREATE FUNCTION workers_launched(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO plan;
	RETURN (plan -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Workers Launched')::int;
END $$;

SELECT workers_launched($$SELECT count(*) FROM par WHERE decrypt(enc) LIKE '%7@%'$$) > 0 AS parallel;
SELECT count(*) FROM par WHERE decrypt(enc) LIKE '%7@%';
SELECT sum(length(decrypt(enc))) FROM par;

-- encrypt() in workers: every nonce is different across processes
SELECT workers_launched($$SELECT count(*) FROM par WHERE encrypted_text_send(encrypt(id::text)) IS NOT NULL$$) > 0 AS parallel;
CREATE TABLE nonces AS
SELECT substr(encrypted_text_send(encrypt('same')), 7, 12) AS nonce FROM par;
SELECT count(*) AS values, count(DISTINCT nonce) AS distinct_nonces FROM nonces;

-- the same results serially
SET max_parallel_workers_per_gather = 0;
SELECT count(*) FROM par WHERE decrypt(enc) LIKE '%7@%';
SELECT sum(length(decrypt(enc))) FROM par;

-- errors raised in a worker reach the client intact
SET max_parallel_workers_per_gather = 2;
SET encrypted_column.key = '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c';
SELECT count(*) FROM par WHERE decrypt(enc) LIKE '%7@%';
SELECT 1 AS alive;
