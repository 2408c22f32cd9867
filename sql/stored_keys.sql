-- Stored data keys under a session key-encryption key: the key table,
-- key_name, versions, grants, a wrong KEK, require_stored_keys,
-- rotate_kek, destroy_key and key_usage.  The file and command sources,
-- PKCS#11 and KMIP have suites of their own (test/suites/).
\set SHOW_CONTEXT never
\set regdb :DBNAME
\set kek1 '1111111111111111111111111111111111111111111111111111111111111111'
\set kek2 '2222222222222222222222222222222222222222222222222222222222222222'
\set raw1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set raw2 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf'
CREATE ROLE regress_ec_writer;
CREATE ROLE regress_ec_reader;
CREATE ROLE regress_ec_member IN ROLE regress_ec_reader;
CREATE ROLE regress_ec_nobody;
CREATE DATABASE ec_stored_keys;
\c ec_stored_keys
CREATE EXTENSION encrypted_column;

-- without a source, stored keys are refused with a clear error
SHOW encrypted_column.kek_source;
SELECT create_key('t1');

-- the source is a superuser's setting in postgresql.conf, reloadable;
-- no other role can set it
SET encrypted_column.kek_source = 'session';
ALTER SYSTEM SET encrypted_column.kek_source = 'nonsense';
ALTER SYSTEM SET encrypted_column.kek_source = 'session';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
SELECT current_setting('encrypted_column.kek_source') OPERATOR(pg_catalog.=) 'session' AS reloaded \gset
\if :reloaded
\else
SELECT pg_sleep(3);
\c
\endif
SHOW encrypted_column.kek_source;

-- no session KEK yet
SELECT create_key('t1');
SET encrypted_column.kek = 'not hex';
SET encrypted_column.kek = :'kek1';
SHOW encrypted_column.kek;
SELECT count(*) AS kek_in_settings FROM pg_settings WHERE name = 'encrypted_column.kek';

-- keys: random (create_key) and imported (fixed, so the ids are known)
SELECT length(create_key('t1')) AS id_length;
SELECT create_key('t1');
SELECT import_key('imported', :'raw1');
SELECT import_key('imported', :'raw1');
SELECT import_key('bad', 'abc');
SELECT create_key('');
SELECT create_key(repeat('x', 64));
SELECT name, version, state, kek_id, length(wrapped) AS wrapped_bytes,
	   length(key_check) AS check_bytes
FROM stored_keys ORDER BY name, version;
-- the wrapped key is not the key: no 32-byte run of it shows
SELECT count(*) AS raw_key_in_table FROM stored_keys
WHERE pg_catalog.encode(wrapped, 'hex') LIKE '%' || :'raw1' || '%';

-- a session encrypts with a stored key by name; the envelope names its key id
CREATE TABLE people (id int PRIMARY KEY, name encrypted_text, email encrypted_text_det UNIQUE);
INSERT INTO people VALUES (1, 'no key yet', 'x@example.com');
SET encrypted_column.key_name = 'nosuchkey';
INSERT INTO people VALUES (1, 'x', 'x@example.com');
SET encrypted_column.key_name = 'imported';
SELECT current_key_id();
INSERT INTO people VALUES (1, 'Alice', 'alice@example.com'), (2, 'Bob', 'bob@example.com');
SELECT id, key_id(name), key_id(email), decrypt(name), decrypt(email) FROM people ORDER BY id;
SELECT id FROM people WHERE email = 'bob@example.com'::text;
INSERT INTO people VALUES (3, 'Bob again', 'bob@example.com');
SELECT decrypt(encrypt('bound', 'ctx'), 'ctx') AS bound;
-- a name that names no stored key fails at every use, never falls back to
-- the key the session used before
SET encrypted_column.key_name = 'nosuchkey';
INSERT INTO people VALUES (90, 'x', 'x90@example.com');
INSERT INTO people VALUES (90, 'x', 'x90@example.com');
SELECT count(*) AS rows_under_missing_name FROM people WHERE id = 90;
SET encrypted_column.key_name = 'imported';

-- the same key given raw (0.3.0) reads the same values: nothing rewritten
RESET encrypted_column.key_name;
SET encrypted_column.key = :'raw1';
SELECT decrypt(name) FROM people WHERE id = 1;
RESET encrypted_column.key;

-- import_key(name) takes the session's key, out of the statement text
SET encrypted_column.key = :'raw2';
SELECT import_key('imported');
RESET encrypted_column.key;
SELECT name, version, key_id, state FROM stored_keys WHERE name = 'imported' ORDER BY version;

-- the new version encrypts; both decrypt; a lookup tries the live versions
SET encrypted_column.key_name = 'imported';
INSERT INTO people VALUES (3, 'Carol', 'carol@example.com');
SELECT id, key_id(email), decrypt(email) FROM people ORDER BY id;
SELECT id FROM people WHERE email = 'alice@example.com'::text;
SELECT id FROM people WHERE email = ANY (ARRAY['alice@example.com', 'carol@example.com']) ORDER BY id;
SELECT column_name, key_name, key_version, key_state, "values"
FROM key_usage('people') ORDER BY 1, 3;

-- a wrong session KEK is refused at first use, before a row is written
\c
SET encrypted_column.kek = :'kek2';
SET encrypted_column.key_name = 'imported';
INSERT INTO people VALUES (4, 'Dave', 'dave@example.com');
SELECT decrypt(name) FROM people WHERE id = 1;
SELECT count(*) AS rows_after_wrong_kek FROM people;
SET encrypted_column.kek = :'kek1';
SELECT decrypt(name) FROM people WHERE id = 1;

-- grants: an encrypt-only writer stores what it cannot read back; a
-- decrypt-only reader (and its members) reads and looks up, never writes
GRANT SELECT, INSERT ON people TO regress_ec_writer, regress_ec_reader, regress_ec_member, regress_ec_nobody;
SELECT grant_key('imported', 'regress_ec_writer', 'encrypt');
SELECT grant_key('imported', 'regress_ec_reader', 'decrypt');
SELECT grant_key('imported', 'regress_ec_reader', 'everything');
SELECT grant_key('imported', 'no_such_role');
SELECT grant_key('no_such_key', 'regress_ec_reader');
SELECT name, grantee, may_encrypt, may_decrypt FROM stored_key_grants ORDER BY 2::text;
SET ROLE regress_ec_writer;
INSERT INTO people VALUES (4, 'Dave', 'dave@example.com');
SELECT decrypt(name) FROM people WHERE id = 4;
SELECT create_key('mine');
SELECT wrapped FROM stored_keys;
SELECT name, version, state FROM stored_keys WHERE name = 'imported' ORDER BY version;
RESET ROLE;
SET ROLE regress_ec_member;
SELECT decrypt(name) FROM people WHERE id = 4;
SELECT id FROM people WHERE email = 'dave@example.com'::text;
INSERT INTO people VALUES (5, 'Eve', 'eve@example.com');
RESET ROLE;
SET ROLE regress_ec_nobody;
SELECT decrypt(name) FROM people WHERE id = 4;
RESET ROLE;
SELECT revoke_key('imported', 'regress_ec_reader', 'decrypt');
SET ROLE regress_ec_member;
SELECT decrypt(name) FROM people WHERE id = 4;
RESET ROLE;
SELECT grant_key('imported', 'public', 'decrypt');
SET ROLE regress_ec_nobody;
SELECT decrypt(name) FROM people WHERE id = 4;
RESET ROLE;
SELECT revoke_key('imported', 'public');
SELECT name, grantee, may_encrypt, may_decrypt FROM stored_key_grants ORDER BY 2::text;

-- require_stored_keys: a raw key encrypts only if the store holds it
SET ROLE regress_ec_writer;
SET encrypted_column.require_stored_keys = on;
RESET ROLE;
SET encrypted_column.require_stored_keys = on;
RESET encrypted_column.key_name;
SET encrypted_column.key = '3333333333333333333333333333333333333333333333333333333333333333';
INSERT INTO people VALUES (6, 'Mallory', 'mallory@example.com');
SET encrypted_column.key = :'raw2';
INSERT INTO people VALUES (6, 'Frank', 'frank@example.com');
RESET encrypted_column.key;
RESET encrypted_column.require_stored_keys;
SELECT count(*) AS rows_now FROM people;

-- rotate_kek: every wrapped key re-wrapped, no user row touched
CREATE TEMP TABLE before AS SELECT id, xmin::text AS x_min, ctid AS row_ctid FROM people;
SELECT rotate_kek('session');
SET encrypted_column.new_kek = :'kek2';
SELECT rotate_kek('file:/nonexistent/kek');
SET ROLE regress_ec_writer;
SELECT rotate_kek('session');
RESET ROLE;
SELECT rotate_kek('session') AS rewrapped;
SELECT DISTINCT kek_id FROM stored_keys WHERE wrapped IS NOT NULL;
SELECT count(*) AS rows_touched FROM people p JOIN before b USING (id)
WHERE p.xmin::text <> b.x_min OR p.ctid <> b.row_ctid;
SELECT rotate_kek('session') AS rewrapped_again;
-- this session still holds the data keys; new sessions need the new KEK
\c
SET encrypted_column.kek = :'kek1';
SELECT decrypt(name) FROM people WHERE id = 1;
SET encrypted_column.kek = :'kek2';
SELECT id, decrypt(name) FROM people ORDER BY id;

-- destroy_key: crypto-shredding of every version
SELECT key_id, version, remains IS NOT NULL AS says_what_remains FROM destroy_key('imported') ORDER BY version;
SELECT destroy_key('imported');
SELECT destroy_key('no_such_key');
SELECT name, version, state, wrapped IS NULL AS erased, key_check IS NULL AS check_erased,
	   destroyed IS NOT NULL AS when_known
FROM stored_keys WHERE name = 'imported' ORDER BY version;
SELECT decrypt(name) FROM people WHERE id = 1;
-- ANALYZE keeps no sample of wrapped keys (or check values) in pg_statistic
ANALYZE stored_keys;
SELECT a.attname, count(s.*) AS statistics_rows
FROM pg_attribute a LEFT JOIN pg_statistic s
  ON s.starelid = a.attrelid AND s.staattnum = a.attnum
WHERE a.attrelid = 'stored_keys'::regclass AND a.attname IN ('name', 'wrapped', 'key_check')
GROUP BY a.attname ORDER BY a.attname;
SET encrypted_column.key_name = 'imported';
INSERT INTO people VALUES (7, 'Grace', 'grace@example.com');
RESET encrypted_column.key_name;
SELECT rotate_key('imported');
SELECT import_key('imported', :'raw1');
SELECT column_name, key_id, key_name, key_state, "values"
FROM key_usage('people') ORDER BY 1, 2;
-- key_usage counts without any key, for a role with SELECT on the table
RESET encrypted_column.kek;
SET ROLE regress_ec_nobody;
SELECT sum("values") AS counted FROM key_usage('people');
RESET ROLE;
SET encrypted_column.kek = :'kek2';
REVOKE SELECT ON people FROM regress_ec_nobody;
SET ROLE regress_ec_nobody;
SELECT count(*) FROM key_usage('people');
RESET ROLE;

-- the other key, still alive, still works after all this
SET encrypted_column.key_name = 't1';
INSERT INTO people VALUES (8, 'Heidi', 'heidi@example.com');
SELECT decrypt(name) FROM people WHERE id = 8;

-- ORDER BY ... LIMIT through a range index places a value by its key's
-- terms, so it needs the value's key among the keys loaded for searching:
-- a stored key of another name, though it opens the value, is an error,
-- never a wrong order
SELECT import_key('other', repeat('5a', 32)) AS imported;
CREATE TABLE visits (id int, day encrypted_date(range, 1));
CREATE INDEX ON visits (day encrypted_date_range_ops);
SET encrypted_column.key_name = 'other';
INSERT INTO visits SELECT g, date '2024-01-01' + g FROM generate_series(1, 5) g;
SET encrypted_column.key_name = 't1';
SET enable_seqscan = off;
SELECT id FROM visits ORDER BY day LIMIT 3;
SELECT id FROM visits ORDER BY decrypt(day) LIMIT 3;
RESET enable_seqscan;
DROP TABLE visits;

-- a cached plan holds values sealed when it was made: a change of the key
-- table makes it anew, so it never writes under an old or destroyed version
CREATE FUNCTION add_person(i int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO people VALUES (i, 'cached', 'cached' || i || '@example.com');
END $$;
SELECT add_person(10);
SELECT length(rotate_key('t1')) AS rotated;
SELECT add_person(11);
SELECT id, key_id(name) OPERATOR(pg_catalog.=) current_key_id() AS under_current_version
FROM people WHERE id IN (10, 11) ORDER BY id;
SELECT count(*) AS versions FROM destroy_key('t1');
SELECT add_person(12);
SELECT count(*) AS cached_rows FROM people WHERE id >= 10;

\c :regdb
DROP DATABASE ec_stored_keys;
DROP ROLE regress_ec_writer, regress_ec_member, regress_ec_reader, regress_ec_nobody;
ALTER SYSTEM RESET encrypted_column.kek_source;
SELECT pg_reload_conf();
