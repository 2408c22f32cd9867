-- encrypted_text_det in indexes, constraints, joins and grouping, the
-- lookup forms and what each finds during a key rotation, and parallel
-- plans.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
SET encrypted_column.key = :'k1';

CREATE TABLE det_users (id int PRIMARY KEY, email encrypted_text_det NOT NULL UNIQUE);
INSERT INTO det_users SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 5000) i;
ANALYZE det_users;

-- UNIQUE and PRIMARY KEY
INSERT INTO det_users VALUES (9999, 'user7@example.com');
INSERT INTO det_users VALUES (9999, 'USER7@example.com');
CREATE TABLE det_accounts (email encrypted_text_det PRIMARY KEY, note text);
INSERT INTO det_accounts VALUES ('a@example.com', 'one');
INSERT INTO det_accounts VALUES (encrypt_det('a@example.com'), 'two');
INSERT INTO det_accounts VALUES ('b@example.com', 'two') ON CONFLICT (email) DO NOTHING;
INSERT INTO det_accounts VALUES ('a@example.com', 'three') ON CONFLICT (email) DO UPDATE SET note = EXCLUDED.note;
SELECT decrypt(email), note FROM det_accounts ORDER BY 1;
-- a context-bound value is a different value
INSERT INTO det_accounts VALUES (encrypt_det('a@example.com', 'accounts.email'), 'bound');
SELECT count(*) FROM det_accounts;

-- every lookup form uses the index
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE email = 'user5@example.com';
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE email = 'user5@example.com'::text;
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE email = 'user5@example.com'::varchar;
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE 'user5@example.com'::text = email;
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE email IN ('user5@example.com', 'user6@example.com');
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE email = ANY (encrypt_det_all('user5@example.com'));
PREPARE by_untyped AS SELECT id FROM det_users WHERE email = $1;
PREPARE by_text(text) AS SELECT id FROM det_users WHERE email = $1;
PREPARE by_varchar(varchar) AS SELECT id FROM det_users WHERE email = $1;
EXPLAIN (COSTS OFF) EXECUTE by_untyped('user5@example.com');
EXPLAIN (COSTS OFF) EXECUTE by_text('user5@example.com');
EXPLAIN (COSTS OFF) EXECUTE by_varchar('user5@example.com');
-- a generic plan keeps the index condition on the parameter
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE by_text('user5@example.com');
RESET plan_cache_mode;
RESET enable_seqscan;
-- an array of text: planned as email = ANY (encrypt_det_all(array))
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE email = ANY ('{user5@example.com,user6@example.com}'::text[]);
PREPARE by_array(text[]) AS SELECT id FROM det_users WHERE email = ANY ($1) ORDER BY id;
EXPLAIN (COSTS OFF) EXECUTE by_array('{user5@example.com,user6@example.com}');
EXECUTE by_array('{user5@example.com,user6@example.com}');
EXPLAIN (COSTS OFF) SELECT id FROM det_users WHERE email IN ('user5@example.com'::text, 'user6@example.com'::text);
-- in a subquery and a CTE too (materialized, so that PostgreSQL 18's
-- self-join elimination cannot fold the two scans into one)
EXPLAIN (COSTS OFF) WITH w AS MATERIALIZED (SELECT id FROM det_users WHERE email = ANY ('{user5@example.com}'::text[]))
SELECT * FROM w WHERE id IN (SELECT id FROM det_users WHERE email = ANY ('{user6@example.com}'::text[]));
SET enable_seqscan = off;
-- ALL and <> are not lookups: left as they are
EXPLAIN (COSTS OFF) SELECT count(*) FROM det_users WHERE email <> ALL ('{user5@example.com}'::text[]);
RESET enable_seqscan;
SELECT count(*) FROM det_users WHERE email <> ALL ('{user5@example.com}'::text[]);
-- NULL elements keep their meaning; an empty array finds nothing
SELECT id, email = ANY ('{user5@example.com,NULL}'::text[]) AS any_with_null
FROM det_users WHERE id IN (5, 6) ORDER BY id;
SELECT count(*) FROM det_users WHERE email = ANY ('{}'::text[]);
SELECT encrypt_det_all('{}'::text[]), encrypt_det_all('{NULL}'::text[]);

SELECT id FROM det_users WHERE email = 'user5@example.com';
EXECUTE by_untyped('user5@example.com');
EXECUTE by_text('user5@example.com');
EXECUTE by_varchar('user5@example.com');
SELECT id FROM det_users WHERE email IN ('user5@example.com', 'user6@example.com') ORDER BY id;
SELECT id FROM det_users WHERE email <> 'user5@example.com'::text AND id < 7 ORDER BY id;

-- rotation: k2 current, k1 previous, a third of the rows moved
SET encrypted_column.key = :'k2';
SET encrypted_column.previous_keys = :'k1';
UPDATE det_users SET email = reencrypt(email) WHERE id % 3 = 0;
SELECT key_id(email) = current_key_id() AS on_new_key, count(*) FROM det_users GROUP BY 1 ORDER BY 1;
-- a text value finds rows under either key through the index
CREATE TABLE det_probes AS SELECT 'user' || i || '@example.com' AS plain FROM generate_series(1, 12) i;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) EXECUTE by_text('user1@example.com');
SELECT p.plain, (SELECT id FROM det_users WHERE email = p.plain) AS by_text,
       (SELECT id FROM det_users WHERE email = ANY (encrypt_det_all(p.plain))) AS by_all
FROM det_probes p ORDER BY 1;
EXPLAIN (COSTS OFF) EXECUTE by_array('{user1@example.com,user3@example.com}');
EXECUTE by_array('{user1@example.com,user3@example.com}');
-- the same answers with no index at all
SET enable_indexscan = off;
SET enable_bitmapscan = off;
RESET enable_seqscan;
EXPLAIN (COSTS OFF) EXECUTE by_text('user1@example.com');
SELECT p.plain, (SELECT id FROM det_users WHERE email = p.plain) AS by_text,
       (SELECT id FROM det_users WHERE email = ANY (encrypt_det_all(p.plain))) AS by_all
FROM det_probes p ORDER BY 1;
EXECUTE by_array('{user1@example.com,user3@example.com}');
RESET enable_indexscan;
RESET enable_bitmapscan;
-- a literal or untyped parameter is encrypted under the current key only
SELECT count(*) AS literal_finds FROM det_users WHERE email IN ('user1@example.com', 'user3@example.com');
-- UNIQUE holds per key during the window: the same plaintext under the
-- other key is a different value
INSERT INTO det_users VALUES (10001, 'user1@example.com');
SELECT count(*) FROM det_users WHERE email = 'user1@example.com'::text;
DELETE FROM det_users WHERE id = 10001;
-- the rest of the rotation; then the old key is no longer needed
UPDATE det_users SET email = reencrypt(email) WHERE key_id(email) <> current_key_id();
RESET encrypted_column.previous_keys;
SELECT count(*) FILTER (WHERE key_id(email) = current_key_id()) AS on_new_key, count(*) FROM det_users;
SELECT id FROM det_users WHERE email = 'user4@example.com';
ANALYZE det_users;

-- joins, grouping, DISTINCT: by envelope bytes
CREATE TABLE det_orders (id int, email encrypted_text_det);
INSERT INTO det_orders SELECT i, 'user' || (i % 50 + 1) || '@example.com' FROM generate_series(1, 500) i;
ANALYZE det_orders;
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM det_orders o JOIN det_users u ON u.email = o.email;
SELECT count(*) FROM det_orders o JOIN det_users u ON u.email = o.email;
SET enable_hashjoin = off;
SET enable_mergejoin = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM det_orders o JOIN det_users u ON u.email = o.email;
SELECT count(*) FROM det_orders o JOIN det_users u ON u.email = o.email;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_nestloop;
SET enable_hashagg = on;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT email, count(*) FROM det_orders GROUP BY email;
SELECT count(*), min(n), max(n) FROM (SELECT email, count(*) AS n FROM det_orders GROUP BY email) g;
RESET enable_sort;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT email, count(*) FROM det_orders GROUP BY email;
SELECT count(*), min(n), max(n) FROM (SELECT email, count(*) AS n FROM det_orders GROUP BY email) g;
RESET enable_hashagg;
SELECT count(DISTINCT email) AS distinct_emails FROM det_orders;
SELECT count(*) FROM (SELECT DISTINCT email FROM det_orders) d;

-- hash index and a context-bound column looked up through its context
CREATE TABLE det_bound (id int, email encrypted_text_det);
INSERT INTO det_bound SELECT i, encrypt_det('user' || i || '@example.com', 'bound.email') FROM generate_series(1, 2000) i;
CREATE INDEX bound_email_hash ON det_bound USING hash (email);
ANALYZE det_bound;
EXPLAIN (COSTS OFF) SELECT id FROM det_bound WHERE email = encrypt_det('user9@example.com', 'bound.email');
SELECT id FROM det_bound WHERE email = encrypt_det('user9@example.com', 'bound.email');
CREATE INDEX bound_email_btree ON det_bound (email);
DROP INDEX bound_email_hash;
EXPLAIN (COSTS OFF) SELECT id FROM det_bound WHERE email = ANY (encrypt_det_all('user9@example.com', 'bound.email'));
SELECT id FROM det_bound WHERE email = ANY (encrypt_det_all('user9@example.com', 'bound.email'));
-- the same plaintext without the context is not in this column
SELECT count(*) FROM det_bound WHERE email = 'user9@example.com'::text;

-- parallel plans: workers compare plaintexts with the key
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM det_users WHERE email = ANY ('{user5@example.com,user6@example.com}'::text[]);
SELECT count(*) FROM det_users WHERE email = ANY ('{user5@example.com,user6@example.com}'::text[]);
SELECT count(*) FROM det_users WHERE decrypt(email) LIKE '%7@%';
-- the workers really ran: Workers Launched from the executed plan
CREATE FUNCTION det_workers_launched(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO plan;
	RETURN (plan -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Workers Launched')::int;
END $$;
SELECT det_workers_launched($$SELECT count(*) FROM det_users WHERE email = ANY ('{user5@example.com}'::text[])$$) > 0 AS parallel;
SELECT det_workers_launched($$SELECT count(*) FROM det_users WHERE email = encrypt_det('user5@example.com')$$) > 0 AS parallel;

-- no function of the extension is LANGUAGE internal: fmgr would find it
-- by a search of the built-in functions' names on every lookup
SELECT count(*) AS internal_functions
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')
  AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal');

-- the upgrade from 0.2.0, through 0.3.0 to the current version, brings the
-- same objects as a fresh install, the functions in the same languages
-- and with the same volatility
RESET max_parallel_workers_per_gather;
\set regdb :DBNAME
SELECT string_agg(o, ', ' ORDER BY o) AS fresh_objects
FROM (SELECT pg_describe_object(classid, objid, 0) AS o FROM pg_depend WHERE deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')) d \gset
SELECT string_agg(p.oid::regprocedure::text || ' ' || l.lanname || ' ' || p.provolatile::text || ' ' || p.prosrc, ', '
	ORDER BY p.oid::regprocedure::text) AS fresh_functions
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column') \gset
CREATE DATABASE det_upgrade;
\c det_upgrade
SET encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
CREATE EXTENSION encrypted_column VERSION '0.2.0';
ALTER EXTENSION encrypted_column UPDATE TO '0.3.0';
CREATE TABLE up (email encrypted_text_det UNIQUE);
INSERT INTO up VALUES ('alice@example.com');
SELECT encrypt_det('alice@example.com')::text AS same_as_python, decrypt(email) FROM up WHERE email = 'alice@example.com'::text;
ALTER EXTENSION encrypted_column UPDATE;
SELECT decrypt(email) FROM up WHERE email = 'alice@example.com'::text;
SELECT string_agg(o, ', ' ORDER BY o) = :'fresh_objects' AS same_objects
FROM (SELECT pg_describe_object(classid, objid, 0) AS o FROM pg_depend WHERE deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')) d;
SELECT string_agg(p.oid::regprocedure::text || ' ' || l.lanname || ' ' || p.provolatile::text || ' ' || p.prosrc, ', '
	ORDER BY p.oid::regprocedure::text) = :'fresh_functions' AS same_functions
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column');
\c :regdb
DROP DATABASE det_upgrade;

-- btree deduplication is allowed (equal envelopes are byte-identical)
CREATE TABLE det_dups (v encrypted_text_det);
SET encrypted_column.key = :'k1';
INSERT INTO det_dups SELECT 'dup-' || (i % 10) FROM generate_series(1, 5000) i;
CREATE INDEX det_dups_v ON det_dups (v);
SELECT pg_relation_size('det_dups_v') < 16 * 8192 AS deduplicated;
