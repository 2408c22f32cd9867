-- Typed encrypted values, and search beyond equality: LIKE and ILIKE
-- through a GIN index of trigram tags, comparisons, BETWEEN and ORDER BY
-- ... LIMIT through a btree index of range terms.  Every query through an
-- index is compared with the same predicate on decrypt(col), which reads
-- every row: the results must be the same rows.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set k2 '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c'
SET encrypted_column.key = :'k1';
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
-- enable_seqscan = off makes every plan look costly enough to compile
SET jit = off;

-- ---- the typed types: every way in and out ----
SELECT decrypt(encrypt(42::bigint)) AS bigint_value,
	   decrypt(encrypt(-12.50::numeric)) AS numeric_value,
	   decrypt(encrypt('2024-02-29'::date)) AS date_value,
	   decrypt(encrypt('2024-02-29 12:34:56.789+00'::timestamptz)) AS ts_value,
	   decrypt(encrypt('{"b": [1, 2], "a": null}'::jsonb)) AS jsonb_value,
	   decrypt(encrypt('\x00ff10'::bytea)) AS bytea_value;
-- the plain type's output function decides the text: infinity, NaN
SELECT decrypt('infinity'::encrypted_date) AS inf_date,
	   decrypt('-infinity'::encrypted_timestamptz) AS minus_inf_ts,
	   decrypt('NaN'::encrypted_numeric) AS nan;
-- literals are plaintext in the plain type's text form; integers cast
CREATE TABLE typed (id int, b encrypted_bigint, n encrypted_numeric,
					d encrypted_date, t encrypted_timestamptz, j encrypted_jsonb,
					y encrypted_bytea);
INSERT INTO typed VALUES
	(1, 9007199254740993, 100, '1999-12-31', '2000-01-01 00:00:00+00', '{"k": 1}', '\xdeadbeef'),
	(2, '-5', 2.5, current_date, now(), '[]', ''),
	(3, 7::integer, 7::bigint, NULL, NULL, NULL, NULL);
SELECT id, decrypt(b), decrypt(n), decrypt(j), decrypt(y) FROM typed ORDER BY id;
SELECT decrypt(d) = current_date AS today FROM typed WHERE id = 2;
-- the text form is ciphertext; key ids, reencrypt, contexts
SELECT b::text LIKE 'ecv1:%' AS ciphertext, key_id(b) = current_key_id() AS current_key
  FROM typed WHERE id = 1;
SELECT decrypt(reencrypt(b)) FROM typed WHERE id = 1;
SELECT decrypt(reencrypt(encrypt('2001-02-03'::date, 'row 7'), 'row 7'), 'row 7') AS rebound;
SELECT decrypt(encrypt('2001-02-03'::date, 'row 7'), 'row 7') AS bound;
SELECT decrypt(encrypt('2001-02-03'::date, 'row 7'), 'row 8') AS wrong_context;
SELECT decrypt(encrypt('2001-02-03'::date, 'row 7')) AS missing_context;
SELECT encrypt('2001-02-03'::date, '') AS empty_context;

-- bad input: a clear error that never shows the value
SELECT 'not-a-date-7f3a'::encrypted_date;
\echo :LAST_ERROR_SQLSTATE
SELECT 'twelve-7f3a'::encrypted_bigint;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"open": 7f3a'::encrypted_jsonb;
\echo :LAST_ERROR_SQLSTATE
-- ciphertext needs the restore switch, and one type's envelope is never another's
SELECT (SELECT b::text FROM typed WHERE id = 1)::encrypted_bigint;
SET encrypted_column.accept_ciphertext = on;
SELECT decrypt((SELECT b::text FROM typed WHERE id = 1)::encrypted_bigint) AS restored;
SELECT (SELECT b::text FROM typed WHERE id = 1)::encrypted_date;
SELECT (SELECT b::text FROM typed WHERE id = 1)::encrypted_text;
SELECT (SELECT encrypt('x')::text)::encrypted_bigint;
RESET encrypted_column.accept_ciphertext;
SELECT 1 AS alive;

-- ---- type modifiers ----
CREATE TABLE bad_modifiers (a encrypted_text(trigram, 7));
CREATE TABLE bad_modifiers (a encrypted_text(bigram));
CREATE TABLE bad_modifiers (a encrypted_date(range, 0));
CREATE TABLE bad_modifiers (a encrypted_date(7));
CREATE TABLE bad_modifiers (a encrypted_numeric(range, '-1'));
CREATE TABLE bad_modifiers (a encrypted_numeric(range, 'abc'));
CREATE TABLE bad_modifiers (a encrypted_jsonb(range, 1));
CREATE TABLE bad_modifiers (a encrypted_text_det(trigram));
SELECT encrypted_text('x'::encrypted_text, 99, false);
SELECT decrypt(encrypted_date('2001-01-01'::encrypted_date, -7 + 8, false));
SELECT range_bound('2001-01-01'::date, 0, true);
CREATE TABLE modifiers (a encrypted_text(trigram), b encrypted_text(trigram, 16),
						c encrypted_bigint(range, 1000), d encrypted_numeric(range, 0.01),
						e encrypted_numeric(range, 2500), f encrypted_date(range, 7),
						g encrypted_timestamptz(range, 3600));
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'modifiers'::regclass AND attnum > 0 ORDER BY attnum;
-- a context-bound value cannot carry terms
INSERT INTO modifiers (a) VALUES (encrypt('bound', 'ctx'));

-- ---- LIKE and ILIKE ----
CREATE TABLE people (id int PRIMARY KEY, name encrypted_text(trigram));
INSERT INTO people VALUES
	(1, 'Alice Smith'), (2, 'alice smithers'), (3, 'Bob Jones'), (4, 'École Normale'),
	(5, 'ÉCOLE normale'), (6, 'İstanbul'), (7, 'istanbul'), (8, 'Straße 5'),
	(9, 'KELVIN'), (10, 'Kelvin'), (11, '100% sure'), (12, 'a_b'), (13, 'back\slash'),
	(14, ''), (15, 'a'), (16, 'ab'), (17, 'Ω omega'), (18, 'x'), (19, NULL), (20, 'aaaa');
INSERT INTO people SELECT 100 + g, 'user' || g || '@example.com' FROM generate_series(1, 2000) g;
CREATE INDEX people_name ON people USING gin (name);
ANALYZE people;
CREATE TABLE patterns (p text);
INSERT INTO patterns VALUES ('Alice%'), ('alice%'), ('%smith%'), ('%SMITH%'), ('%Smith'),
	('%ers'), ('École%'), ('école%'), ('%cole%'), ('%COLE%'), ('İst%'), ('ist%'), ('%stanbul'),
	('%ß%'), ('%SS%'), ('kelvin'), ('%k%'), ('%K%'), ('100\% %'), ('100%'), ('a\_b'), ('a_b'),
	('back\\slash'), ('back%'), (''), ('%'), ('_'), ('a'), ('a%'), ('%a'), ('ab'), ('_b'),
	('%b'), ('%Ω%'), ('%ω%'), ('x%'), ('%x'), ('user1%'), ('user1__@%'), ('%@example.com'),
	('%9%'), ('%99%'), ('%1999%'), ('user2000@example.com'), ('aa%'), ('%aaa%'), ('aaaa'),
	('aaaaa'), ('%a%a%a%a%'), ('\'), ('%\');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM people WHERE name LIKE 'user1%';
EXPLAIN (COSTS OFF) SELECT id FROM people WHERE name ILIKE '%SMITH%';
-- through the index against the decrypting reference, for every pattern:
-- rows that differ (expect none), and how many rows each found
CREATE FUNCTION like_matches(pattern text, ci boolean, indexed boolean) RETURNS int[]
LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
	IF indexed AND ci THEN
		SELECT array_agg(id ORDER BY id) INTO r FROM people WHERE name ILIKE pattern;
	ELSIF indexed THEN
		SELECT array_agg(id ORDER BY id) INTO r FROM people WHERE name LIKE pattern;
	ELSIF ci THEN
		SELECT array_agg(id ORDER BY id) INTO r FROM people WHERE decrypt(name) ILIKE pattern;
	ELSE
		SELECT array_agg(id ORDER BY id) INTO r FROM people WHERE decrypt(name) LIKE pattern;
	END IF;
	RETURN coalesce(r, '{}');
EXCEPTION WHEN OTHERS THEN
	RETURN ARRAY[-1];
END $$;
SELECT p, ci, indexed, reference
  FROM (SELECT p, ci, like_matches(p, ci, true) AS indexed, like_matches(p, ci, false) AS reference
		  FROM patterns, (VALUES (false), (true)) v(ci)) m
 WHERE indexed IS DISTINCT FROM reference;
SELECT p, cardinality(like_matches(p, false, true)) AS like_rows,
	   cardinality(like_matches(p, true, true)) AS ilike_rows
  FROM patterns ORDER BY p COLLATE "C";
-- ILIKE looks up an i or a k also as a non-ASCII character, so '%smith%'
-- needs few candidates: how many rows the recheck removed
CREATE FUNCTION removed_by_recheck(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		IF line LIKE '%Rows Removed by Index Recheck%' THEN
			RETURN trim(line);
		END IF;
	END LOOP;
	RETURN 'no rows removed';
END $$;
SELECT removed_by_recheck($$SELECT id FROM people WHERE name ILIKE '%smith%'$$);
SELECT removed_by_recheck($$SELECT id FROM people WHERE name ILIKE '%kelvin%'$$);
SELECT removed_by_recheck($$SELECT id FROM people WHERE name LIKE 'user12%'$$);
DROP FUNCTION removed_by_recheck(text);
-- the negations, and LIKE with ESCAPE (like_escape() in the pattern)
SELECT count(*) FROM people WHERE name NOT LIKE '%e%';
SELECT count(*) FROM people WHERE decrypt(name) NOT LIKE '%e%';
SELECT count(*) FROM people WHERE name NOT ILIKE '%E%';
SELECT count(*) FROM people WHERE decrypt(name) NOT ILIKE '%E%';
SELECT array_agg(id ORDER BY id) FROM people WHERE name LIKE 'a#_b' ESCAPE '#';
SELECT array_agg(id ORDER BY id) FROM people WHERE name LIKE '100!%%' ESCAPE '!';
-- a prepared statement with a parameter keeps using the index
PREPARE find(text) AS SELECT count(*) FROM people WHERE name LIKE $1;
EXECUTE find('user12%');
EXECUTE find('user12%');
EXECUTE find('user12%');
EXECUTE find('user12%');
EXECUTE find('user12%');
EXECUTE find('%@example.com');
EXPLAIN (COSTS OFF) EXECUTE find('user12%');
DEALLOCATE find;
-- a nondeterministic collation is refused, not answered wrongly
CREATE COLLATION search_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT count(*) FROM people WHERE name LIKE 'alice%' COLLATE search_ci;
DROP COLLATION search_ci;
-- ILIKE under an ICU Turkish collation, whose lower() pairs I with ı and
-- İ with i: through the index, the rows of decrypt() for every pattern
INSERT INTO people VALUES (21, 'ISPARTA'), (22, 'ıspanak'), (23, 'İZMİR'), (24, 'izmir');
SELECT count(*) AS patterns,
	   count(*) FILTER (WHERE indexed IS DISTINCT FROM reference) AS differing,
	   count(*) FILTER (WHERE reference IS NOT NULL) AS matching
  FROM (SELECT p,
			   (SELECT array_agg(id ORDER BY id) FROM people
				 WHERE name ILIKE p COLLATE "tr-TR-x-icu") AS indexed,
			   (SELECT array_agg(id ORDER BY id) FROM people
				 WHERE decrypt(name) ILIKE p COLLATE "tr-TR-x-icu") AS reference
		  FROM (SELECT p FROM patterns WHERE right(p, 1) <> '\' UNION ALL
				VALUES ('%isp%'), ('%ISP%'), ('%ısp%'), ('%izm%'), ('%İZM%'), ('%IZM%')) q) m;
DELETE FROM people WHERE id BETWEEN 21 AND 24;
RESET enable_seqscan;

-- ---- ranges and ORDER BY ... LIMIT ----
CREATE TABLE events (id int PRIMARY KEY, day encrypted_date(range, 7),
					 amount encrypted_numeric(range, 10), n encrypted_bigint(range, 100),
					 at encrypted_timestamptz(range, 86400));
INSERT INTO events
SELECT g, date '2020-01-01' + (g * 37) % 1500, ((g * 7919) % 100000) / 100.0,
	   (g * 104729) % 20011 - 10000, timestamptz '2020-01-01 00:00+00' + (g * 3803 % 100000) * interval '17 minutes'
  FROM generate_series(1, 3000) g;
INSERT INTO events VALUES (3001, 'infinity', 'NaN', 9223372036854775807, 'infinity'),
	(3002, '-infinity', -1e30, -9223372036854775808, '-infinity'),
	(3003, NULL, NULL, NULL, NULL), (3004, '2021-06-15', 'Infinity', 0, '2021-06-15 12:00+00');
CREATE INDEX events_day ON events (day encrypted_date_range_ops);
CREATE INDEX events_amount ON events (amount encrypted_numeric_range_ops);
CREATE INDEX events_n ON events (n encrypted_bigint_range_ops);
CREATE INDEX events_at ON events (at encrypted_timestamptz_range_ops);
ANALYZE events;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM events WHERE day BETWEEN date '2021-01-01' AND date '2021-01-31';
EXPLAIN (COSTS OFF) SELECT id FROM events WHERE date '2021-01-01' > day;
EXPLAIN (COSTS OFF) SELECT id FROM events WHERE n = 5;
CREATE TABLE bounds (kind text, lo text, hi text);
INSERT INTO bounds VALUES ('day', '2021-01-01', '2021-01-31'), ('day', '2020-01-01', '2020-01-01'),
	('day', '-infinity', '2020-01-05'), ('day', '2023-12-31', 'infinity'),
	('amount', '10', '10.5'), ('amount', '-1e31', '0'), ('amount', '999', 'Infinity'),
	('amount', '999.99', 'NaN'), ('n', '-10000', '-9950'), ('n', '0', '0'),
	('n', '9000', '9223372036854775807'), ('n', '-9223372036854775808', '-9999'),
	('at', '2020-02-01 00:00+00', '2020-02-02 00:00+00'), ('at', '2021-06-15 12:00+00', 'infinity');
-- for each column and bound pair: <, <=, =, >=, >, BETWEEN and its
-- commuted forms, through the index and by decrypting (expect no rows)
CREATE FUNCTION range_check(kind text, lo text, hi text) RETURNS TABLE (form text, indexed bigint, reference bigint)
LANGUAGE plpgsql AS $$
DECLARE
	plain text := CASE kind WHEN 'day' THEN 'date' WHEN 'amount' THEN 'numeric'
						    WHEN 'n' THEN 'bigint' ELSE 'timestamptz' END;
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY['%1$s < %2$L::%4$s', '%1$s <= %2$L::%4$s', '%1$s = %2$L::%4$s',
		'%1$s >= %3$L::%4$s', '%1$s > %3$L::%4$s', '%1$s BETWEEN %2$L::%4$s AND %3$L::%4$s',
		'%2$L::%4$s <= %1$s AND %3$L::%4$s > %1$s', '%1$s BETWEEN %2$L AND %3$L']
	LOOP
		form := format(f, kind, lo, hi, plain);
		EXECUTE format('SELECT sum(id) FROM events WHERE %s', form) INTO indexed;
		EXECUTE format('SELECT sum(id) FROM events WHERE %s',
					   format(f, 'decrypt(' || kind || ')', lo, hi, plain)) INTO reference;
		RETURN NEXT;
	END LOOP;
END $$;
CREATE TEMP TABLE checked AS SELECT b.kind, r.* FROM bounds b, range_check(b.kind, b.lo, b.hi) r;
SELECT * FROM checked WHERE indexed IS DISTINCT FROM reference;
SELECT count(*) AS checked, count(*) FILTER (WHERE reference IS NOT NULL) AS non_empty FROM checked;
DROP TABLE checked;
-- ORDER BY col [DESC] LIMIT n: the index in order, each bucket sorted by decrypting
EXPLAIN (COSTS OFF) SELECT id FROM events ORDER BY day LIMIT 10;
-- (a sort of every row: sequential scans allowed, as PostgreSQL 18 marks a disabled node)
RESET enable_seqscan;
EXPLAIN (COSTS OFF) SELECT id FROM events ORDER BY amount DESC NULLS LAST LIMIT 10;
SET enable_seqscan = off;
CREATE FUNCTION order_check(col text, dir text, lim int) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
	EXECUTE format('SELECT string_agg(decrypt(%1$s)::text, '','' ORDER BY o) FROM (SELECT %1$s, row_number() OVER () o FROM (SELECT %1$s FROM events ORDER BY %1$s %2$s LIMIT %3$s) s) s', col, dir, lim) INTO a;
	EXECUTE format('SELECT string_agg(decrypt(%1$s)::text, '','' ORDER BY o) FROM (SELECT %1$s, row_number() OVER () o FROM (SELECT %1$s FROM events ORDER BY decrypt(%1$s) %2$s LIMIT %3$s) s) s', col, dir, lim) INTO b;
	RETURN a = b;
END $$;
SELECT c, d, order_check(c, d, 25) AS same_order
  FROM unnest(ARRAY['day', 'amount', 'n', 'at']) c,
	   unnest(ARRAY['ASC', 'DESC', 'ASC NULLS FIRST', 'DESC NULLS LAST']) d ORDER BY 1, 2;
SELECT id, decrypt(day) FROM events ORDER BY day DESC LIMIT 3;
-- an ORDER BY in a subquery and with OFFSET is rewritten too
SELECT array_agg(id) FROM (SELECT id FROM events ORDER BY n OFFSET 5 LIMIT 5) s;
SELECT array_agg(id) FROM (SELECT id FROM events ORDER BY decrypt(n) OFFSET 5 LIMIT 5) s;
RESET enable_seqscan;

-- ---- a key rotation: rows under the old and the new key are all found ----
SET encrypted_column.key = :'k2';
SET encrypted_column.previous_keys = :'k1';
INSERT INTO people VALUES (5001, 'Alice Smith-Newkey'), (5002, 'user1@example.com');
INSERT INTO events VALUES (5001, '2021-01-10', 10.25, 5, '2020-02-01 12:00+00');
-- a third of the rows under the new key, the rest under the old one
UPDATE events SET day = reencrypt(day), amount = reencrypt(amount), n = reencrypt(n), at = reencrypt(at)
 WHERE id % 3 = 0;
SELECT key_id(day) = current_key_id() AS new_key, count(*) FROM events GROUP BY 1 ORDER BY 1;
SET enable_seqscan = off;
SELECT p, ci, indexed, reference
  FROM (SELECT p, ci, like_matches(p, ci, true) AS indexed, like_matches(p, ci, false) AS reference
		  FROM patterns, (VALUES (false), (true)) v(ci)) m
 WHERE indexed IS DISTINCT FROM reference;
SELECT like_matches('alice%', true, true) AS both_keys;
SELECT * FROM (SELECT b.kind, r.* FROM bounds b, range_check(b.kind, b.lo, b.hi) r) c
 WHERE indexed IS DISTINCT FROM reference;
SELECT array_agg(id ORDER BY id) FROM events WHERE day BETWEEN '2021-01-08' AND '2021-01-12';
-- two keys: the terms of different keys do not compare, so a range asks
-- the index once per key (a BitmapOr), each range as narrow as with one key
EXPLAIN (COSTS OFF) SELECT id FROM events WHERE day BETWEEN date '2021-01-01' AND date '2021-01-31';
EXPLAIN (COSTS OFF) SELECT id FROM events WHERE n > 9000;
-- and ORDER BY ... LIMIT walks the index once per key, each walk keeping
-- its key's values, then sorts those few rows by decrypting
EXPLAIN (COSTS OFF) SELECT id FROM events ORDER BY day LIMIT 10;
SELECT c, d, order_check(c, d, 25) AS same_order
  FROM unnest(ARRAY['day', 'amount', 'n', 'at']) c,
	   unnest(ARRAY['ASC', 'DESC', 'ASC NULLS FIRST', 'DESC NULLS LAST']) d ORDER BY 1, 2;
SELECT array_agg(id) FROM (SELECT id FROM events ORDER BY n OFFSET 5 LIMIT 5) s;
SELECT array_agg(id) FROM (SELECT id FROM events ORDER BY decrypt(n) OFFSET 5 LIMIT 5) s;
-- a NOT NULL column needs no query for its NULLs; with a range on the
-- same column, and a second sort key
CREATE TABLE dated (id int PRIMARY KEY, day encrypted_date(range, 7) NOT NULL);
CREATE INDEX dated_day ON dated (day encrypted_date_range_ops);
SET encrypted_column.key = :'k1';
SET encrypted_column.previous_keys = :'k2';
INSERT INTO dated SELECT id, decrypt(day) FROM events WHERE day IS NOT NULL AND id % 2 = 0;
SET encrypted_column.key = :'k2';
SET encrypted_column.previous_keys = :'k1';
INSERT INTO dated SELECT id, decrypt(day) FROM events WHERE day IS NOT NULL AND id % 2 = 1;
ANALYZE dated;
EXPLAIN (COSTS OFF) SELECT id FROM dated ORDER BY day DESC, id LIMIT 5;
SELECT array_agg(id) FROM (SELECT id FROM dated WHERE day > date '2021-01-01' ORDER BY day DESC, id LIMIT 5) s;
SELECT array_agg(id) FROM (SELECT id FROM dated WHERE decrypt(day) > date '2021-01-01' ORDER BY decrypt(day) DESC, id LIMIT 5) s;
SELECT array_agg(id) FROM (SELECT id FROM dated WHERE day BETWEEN date '2020-03-01' AND date '2020-06-01' ORDER BY day, id LIMIT 5) s;
SELECT array_agg(id) FROM (SELECT id FROM dated WHERE decrypt(day) BETWEEN date '2020-03-01' AND date '2020-06-01' ORDER BY decrypt(day), id LIMIT 5) s;
DROP TABLE dated;
-- in a subquery expression too, with the outer query's value in the walk
SELECT ARRAY(SELECT id FROM events WHERE n > 0 ORDER BY at DESC LIMIT 4) AS newest;
SELECT ARRAY(SELECT id FROM events WHERE decrypt(n) > 0 ORDER BY decrypt(at) DESC LIMIT 4) AS newest;
SELECT b.kind, (SELECT max(id) FROM (SELECT id FROM events e WHERE e.id > length(b.kind) ORDER BY day LIMIT 3) s)
  FROM (VALUES ('day'), ('amount')) b(kind) ORDER BY 1;
-- a row under a key the session does not hold: the index walk raises the
-- error that sorting by plaintext raises, rather than place the row by its term
-- (the walk must read one: more rows than the new key holds)
RESET encrypted_column.previous_keys;
EXPLAIN (COSTS OFF) SELECT id FROM events ORDER BY day LIMIT 1500;
SELECT id FROM events ORDER BY day LIMIT 1500;
SELECT id FROM events ORDER BY decrypt(day) LIMIT 1500;
SET encrypted_column.previous_keys = :'k1';
-- rotated: one key again, and the index walk is back
UPDATE events SET day = reencrypt(day), amount = reencrypt(amount), n = reencrypt(n), at = reencrypt(at);
UPDATE people SET name = reencrypt(name);
RESET encrypted_column.previous_keys;
SELECT count(*) FROM events WHERE key_id(day) <> current_key_id();
SELECT count(*) FROM people WHERE name LIKE 'alice%';
EXPLAIN (COSTS OFF) SELECT id FROM events ORDER BY day LIMIT 10;
SELECT c, order_check(c, 'ASC', 25) AS same_order FROM unnest(ARRAY['day', 'amount', 'n', 'at']) c;
RESET enable_seqscan;

-- ---- no key needed to build, rebuild, vacuum or analyze ----
RESET encrypted_column.key;
CREATE INDEX people_name2 ON people USING gin (name);
REINDEX TABLE people;
REINDEX TABLE events;
VACUUM ANALYZE events;
-- a new value needs the key, a search needs it too
INSERT INTO people VALUES (6000, 'no key');
SELECT count(*) FROM people WHERE name LIKE 'alice%';
SELECT count(*) FROM events WHERE day > '2021-01-01';
SET encrypted_column.key = :'k2';
DROP INDEX people_name2;
-- ANALYZE keeps no value of a typed column, and needs no key
SELECT attname, null_frac > 0 AS has_nulls, n_distinct, most_common_vals IS NULL AS no_mcv,
	   histogram_bounds IS NULL AS no_histogram
  FROM pg_stats WHERE tablename = 'events' AND attname <> 'id' ORDER BY attname;

-- ---- what no index may do ----
CREATE INDEX ON events (day);
CREATE UNIQUE INDEX ON events (n);
ALTER TABLE events ADD UNIQUE (amount);
CREATE INDEX ON events USING hash (day);
CREATE STATISTICS events_stats ON day, id FROM events;
-- a column without terms has no search index
CREATE TABLE plain_search (a encrypted_text, d encrypted_date);
INSERT INTO plain_search VALUES ('x', '2020-01-01');
CREATE INDEX ON plain_search USING gin (a);
CREATE INDEX ON plain_search (d encrypted_date_range_ops);
-- but still answers LIKE and comparisons by decrypting
SELECT count(*) FROM plain_search WHERE a LIKE 'x%' AND d < '2021-01-01';
-- declaring the modifier later gives every value its terms (with the key)
RESET encrypted_column.key;
ALTER TABLE plain_search ALTER COLUMN a TYPE encrypted_text(trigram);
SET encrypted_column.key = :'k2';
ALTER TABLE plain_search ALTER COLUMN a TYPE encrypted_text(trigram),
	ALTER COLUMN d TYPE encrypted_date(range, 30);
CREATE INDEX ON plain_search USING gin (a);
CREATE INDEX ON plain_search (d encrypted_date_range_ops);
SELECT decrypt(a), decrypt(d), cardinality(search_terms(a)) AS tags FROM plain_search;

-- ---- the terms are authenticated with the value ----
CREATE TABLE tampered AS SELECT id, name FROM people WHERE id = 1;
-- flip one bit of the first tag (byte 14 of the envelope: header 6, modifier 4, length 4)
SET encrypted_column.accept_ciphertext = on;
UPDATE tampered SET name = (SELECT 'ecv1:' || translate(encode(set_byte(b, 14, get_byte(b, 14) # 1), 'base64'), E'\n', '')
	FROM (SELECT decode(substr(name::text, 6), 'base64') AS b) s)::encrypted_text;
RESET encrypted_column.accept_ciphertext;
SELECT decrypt(name) FROM tampered;
SELECT decrypt(name) FROM people WHERE id = 1;

-- ---- a role that may encrypt but not read plaintext ----
CREATE ROLE regress_search_writer;
GRANT SELECT, INSERT ON people TO regress_search_writer;
GRANT SELECT ON events TO regress_search_writer;
REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC;
SET ROLE regress_search_writer;
-- its own plaintext gets its terms
INSERT INTO people VALUES (7000, 'written by a writer');
-- a stored value of another column cannot be given terms (that would tell of its plaintext)
CREATE TEMP TABLE other_values (v encrypted_text);
INSERT INTO other_values VALUES ('someone else''s secret');
INSERT INTO people SELECT 7002, v FROM other_values;
-- and a search needs the privilege: it decrypts candidates; it is refused
-- even where the index has no candidate, and ORDER BY ... LIMIT too
SET enable_seqscan = off;
SELECT count(*) FROM people WHERE name LIKE 'written%';
SELECT count(*) FROM people WHERE name LIKE 'qqqzzz%';
SELECT count(*) FROM events WHERE day BETWEEN date '1900-01-01' AND date '1900-01-02';
SELECT id FROM events ORDER BY day LIMIT 3;
RESET enable_seqscan;
RESET ROLE;
REVOKE ALL ON events FROM regress_search_writer;
GRANT EXECUTE ON FUNCTION read_plaintext() TO PUBLIC;
SELECT id, decrypt(name) FROM people WHERE id >= 7000 ORDER BY id;
DROP TABLE other_values;
REVOKE ALL ON people FROM regress_search_writer;
DROP ROLE regress_search_writer;

-- ---- COPY in text and binary keeps the terms and the modifier ----
CREATE TABLE copied (name encrypted_text(trigram), day encrypted_date(range, 7));
COPY copied FROM stdin;
copied one	2020-03-04
copied two	2021-05-06
\.
SELECT decrypt(name), decrypt(day), search_terms(name) IS NOT NULL AS tagged, range_term(day) IS NOT NULL AS termed FROM copied ORDER BY 1;
-- binary COPY carries envelopes with their terms, and a column with
-- another modifier gives them its own (which needs the key)
SELECT current_setting('data_directory') || '/ec_search_copy' AS path \gset
COPY copied TO :'path' (FORMAT binary);
CREATE TABLE copied_again (LIKE copied);
COPY copied_again FROM :'path' (FORMAT binary);
SELECT count(*) FILTER (WHERE a.name::text = c.name::text) AS same_envelopes FROM copied c, copied_again a;
CREATE TABLE copied_wider (name encrypted_text(trigram, 16), day encrypted_date(range, 30));
RESET encrypted_column.key;
COPY copied_wider FROM :'path' (FORMAT binary);
SET encrypted_column.key = :'k2';
COPY copied_wider FROM :'path' (FORMAT binary);
SELECT decrypt(name), (search_terms(name))[1] >> 16 AS bits, decrypt(day) FROM copied_wider ORDER BY 1;
DROP TABLE copied_again, copied_wider;
CREATE INDEX ON copied USING gin (name);
SET enable_seqscan = off;
SELECT decrypt(name) FROM copied WHERE name LIKE 'copied t%';
RESET enable_seqscan;

-- ---- what the stored terms reveal, measured ----
SELECT * FROM leakage_report('plain_search', 'a');
-- a modifier dropped later leaves the terms in the values until they are re-encrypted
CREATE TABLE dropped_modifier (a encrypted_text(trigram));
INSERT INTO dropped_modifier VALUES ('one'), ('two');
ALTER TABLE dropped_modifier ALTER COLUMN a TYPE encrypted_text;
SELECT scheme, rows, warning FROM leakage_report('dropped_modifier', 'a');
UPDATE dropped_modifier SET a = reencrypt(a);
SELECT scheme, rows, warning FROM leakage_report('dropped_modifier', 'a');
DROP TABLE dropped_modifier;
SELECT scheme, parameter, rows, distinct_terms, round(largest_term_share::numeric, 4) AS largest_term_share, warning
  FROM leakage_report('events', 'day');
SELECT scheme, parameter, rows, distinct_terms, round(largest_term_share::numeric, 4) AS largest_term_share
  FROM leakage_report('events', 'n');
SELECT scheme, parameter, rows, distinct_term_sets, round(largest_set_share::numeric, 4) AS largest_set_share
  FROM leakage_report('people', 'name');
SELECT * FROM leakage_report('typed', 'j');
CREATE TABLE low_card (sex encrypted_text(trigram), level encrypted_bigint(range, 1));
INSERT INTO low_card SELECT CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END, g % 3 FROM generate_series(1, 300) g;
SELECT scheme, rows, distinct_term_sets, warning FROM leakage_report('low_card', 'sex');
SELECT scheme, rows, distinct_terms, round(largest_term_share::numeric, 4) AS largest_term_share, warning
  FROM leakage_report('low_card', 'level');
SELECT * FROM leakage_report('events', 'id');
SELECT * FROM leakage_report('events', 'nope');

DROP TABLE typed, modifiers, people, patterns, events, bounds, plain_search, tampered, copied, low_card;
DROP FUNCTION like_matches(text, boolean, boolean), range_check(text, text, text), order_check(text, text, int);
RESET encrypted_column.key;
