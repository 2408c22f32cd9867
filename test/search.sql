-- pgTAP: the errors of the typed types and of search (SQLSTATE and
-- message), no error text carries plaintext, and failed statements leave
-- what is stored unchanged.
\ir include/begin.psql

SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SET LOCAL datestyle = 'ISO, YMD';
CREATE TABLE patients (id int PRIMARY KEY, name encrypted_text(trigram),
					   born encrypted_date(range, 30), balance encrypted_numeric(range, 100),
					   visits encrypted_bigint(range, 10), seen encrypted_timestamptz(range, 3600),
					   notes encrypted_jsonb, scan encrypted_bytea);
INSERT INTO patients VALUES
	(1, 'tap-secret-ada', '1815-12-10', 1234.5, 7, '2020-01-01 00:00+00', '{"tap": "secret-1"}', '\x7461702d31'),
	(2, 'tap-secret-grace', '1906-12-09', 99.99, 12, '2021-06-01 12:00+00', '{"tap": "secret-2"}', '\x7461702d32');
CREATE INDEX ON patients USING gin (name);
CREATE INDEX ON patients (born encrypted_date_range_ops);
CREATE TEMP TABLE snapshot AS
	SELECT id, name::text AS name, born::text AS born, balance::text AS balance FROM patients;

-- Everything an error shows the client: message, detail, hint, context.
CREATE FUNCTION pg_temp.error_text(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text; d text; h text; c text; s text;
BEGIN
	EXECUTE stmt;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
		h = PG_EXCEPTION_HINT, c = PG_EXCEPTION_CONTEXT;
	c := regexp_replace(c, '^(SQL statement|PL/pgSQL function) .*$', '', 'gn');
	RETURN concat_ws(E'\n', s, m, d, h, c);
END $$;

-- bad plaintext for a typed type: the plain type's SQLSTATE, a message that does not quote it
SELECT throws_ok($$INSERT INTO patients (id, born) VALUES (3, 'tap-secret-day')$$, '22007',
	'invalid input for type encrypted_date', 'a bad date: 22007');
SELECT throws_ok($$INSERT INTO patients (id, visits) VALUES (3, 'tap-secret-count')$$, '22P02',
	'invalid input for type encrypted_bigint', 'a bad bigint: 22P02');
SELECT throws_ok($$INSERT INTO patients (id, balance) VALUES (3, 'tap-secret-amount')$$, '22P02',
	'invalid input for type encrypted_numeric', 'a bad numeric: 22P02');
SELECT throws_ok($$INSERT INTO patients (id, notes) VALUES (3, '{tap-secret-json')$$, '22P02',
	'invalid input for type encrypted_jsonb', 'a bad jsonb: 22P02');
SELECT throws_ok($$INSERT INTO patients (id, seen) VALUES (3, 'tap-secret-when')$$, '22007',
	'invalid input for type encrypted_timestamptz', 'a bad timestamptz: 22007');
SELECT throws_ok($$INSERT INTO patients (id, visits) VALUES (3, '99999999999999999999')$$, '22003',
	'invalid input for type encrypted_bigint', 'a bigint out of range: 22003');
SELECT unalike(pg_temp.error_text(stmt), '%tap-secret%', 'no plaintext in: ' || left(stmt, 60))
FROM unnest(ARRAY[
	$$INSERT INTO patients (id, born) VALUES (3, 'tap-secret-day')$$,
	$$INSERT INTO patients (id, visits) VALUES (3, 'tap-secret-count')$$,
	$$INSERT INTO patients (id, notes) VALUES (3, '{tap-secret-json')$$,
	$$INSERT INTO patients (id, seen) VALUES (3, 'tap-secret-when')$$,
	$$INSERT INTO patients (id, name) VALUES (3, encrypt('tap-secret-bound', 'ctx'))$$
]) AS stmt;

-- soft input errors (PostgreSQL 16 and later: pg_input_is_valid(),
-- pg_input_error_info(), COPY ... ON_ERROR): the same SQLSTATE and
-- message, reported without being thrown, and without the input
CREATE FUNCTION pg_temp.soft_errors() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	c record;
	valid boolean;
	info record;
BEGIN
	IF current_setting('server_version_num')::int < 160000 THEN
		RETURN NEXT skip('soft input errors need PostgreSQL 16 or later', 16);
		RETURN;
	END IF;
	FOR c IN SELECT * FROM (VALUES ('encrypted_date', 'tap-secret-day', '22007'),
			('encrypted_bigint', 'tap-secret-count', '22P02'),
			('encrypted_numeric', 'tap-secret-amount', '22P02'),
			('encrypted_timestamptz', 'tap-secret-when', '22007'),
			('encrypted_jsonb', '{tap-secret-json', '22P02')) v(t, input, code) LOOP
		EXECUTE format('SELECT pg_input_is_valid(%L, %L)', c.input, c.t) INTO valid;
		RETURN NEXT is(valid, false, 'pg_input_is_valid() of a bad ' || c.t);
		EXECUTE format('SELECT * FROM pg_input_error_info(%L, %L)', c.input, c.t) INTO info;
		RETURN NEXT is(info.sql_error_code, c.code, 'pg_input_error_info() of a bad ' || c.t || ': ' || c.code);
		RETURN NEXT unalike(concat_ws(' ', info.message, info.detail, info.hint), '%tap-secret%',
							'... without the input');
	END LOOP;
	EXECUTE format('SELECT pg_input_is_valid(%L, %L)', '2020-02-29', 'encrypted_date(range, 7)') INTO valid;
	RETURN NEXT is(valid, true, 'pg_input_is_valid() of a good date, with a modifier');
END $$;
SELECT * FROM pg_temp.soft_errors();

-- ciphertext: the restore switch, and an envelope of another type
SELECT throws_ok($$SELECT (SELECT born::text FROM patients WHERE id = 1)::encrypted_date$$, '22023',
	'input looks like an encrypted_date ciphertext', 'ciphertext without the switch: 22023');
SET LOCAL encrypted_column.accept_ciphertext = on;
SELECT throws_ok($$SELECT (SELECT born::text FROM patients WHERE id = 1)::encrypted_bigint$$, '22P02',
	'invalid input syntax for type encrypted_bigint', 'a date envelope as a bigint: 22P02');
SELECT throws_ok($$SELECT (SELECT name::text FROM patients WHERE id = 1)::encrypted_date$$, '22P02',
	'invalid input syntax for type encrypted_date', 'a text envelope as a date: 22P02');
RESET encrypted_column.accept_ciphertext;

-- type modifiers
SELECT throws_ok($$CREATE TABLE tap_bad (a encrypted_text(trigram, 20))$$, '22023',
	'trigram tag bits must be an integer from 8 to 16', 'tag bits out of range: 22023');
SELECT throws_ok($$CREATE TABLE tap_bad (a encrypted_text(bigram))$$, '22023',
	'invalid type modifier for encrypted_text', 'an unknown scheme: 22023');
SELECT throws_ok($$CREATE TABLE tap_bad (a encrypted_date(range, -1))$$, '22023',
	'bucket width must be an integer from 1 to 2147483647', 'a negative width: 22023');
SELECT throws_ok($$CREATE TABLE tap_bad (a encrypted_timestamptz(range))$$, '22023',
	'invalid type modifier for encrypted_timestamptz', 'a width missing: 22023');
SELECT throws_ok($$CREATE TABLE tap_bad (a encrypted_numeric(range, '123456789'))$$, '22023',
	'bucket width of encrypted_numeric must be a positive decimal number', 'too many digits: 22023');
SELECT throws_ok($$CREATE TABLE tap_bad (a encrypted_bytea(range, 1))$$, '42601', NULL,
	'no modifier for encrypted_bytea');
SELECT throws_ok($$SELECT encrypted_date(born, 0, false) FROM patients$$, '22023',
	'invalid type modifier 0 for encrypted_date', 'the cast with a bad modifier: 22023');
SELECT throws_ok($$SELECT range_bound(date '2020-01-01', -5, true)$$, '22023',
	'invalid type modifier -5 for encrypted_date', 'range_bound() with a bad modifier: 22023');
SELECT throws_ok($$INSERT INTO patients (id, name) VALUES (3, encrypt('tap-secret-bound', 'ctx'))$$, '0A000',
	'a value bound to a context cannot carry search terms', 'a context-bound value with terms: 0A000');

-- indexes and statistics that would order by plaintext, or read no terms
SELECT throws_ok($$CREATE INDEX ON patients (born)$$, '42P17',
	'operator class encrypted_date_ops orders by plaintext and cannot be used in an index',
	'a plaintext-order index: 42P17');
SELECT throws_ok($$ALTER TABLE patients ADD UNIQUE (visits)$$, '42P17',
	'operator class encrypted_bigint_ops orders by plaintext and cannot be used in an index',
	'UNIQUE on a typed column: 42P17');
SELECT throws_ok($$CREATE STATISTICS tap_stats ON born, id FROM patients$$, '42P17',
	'statistics objects must not include column "born"', 'statistics on a typed column: 42P17');
CREATE TEMP TABLE no_terms (a encrypted_text, d encrypted_date);
SELECT throws_ok($$CREATE INDEX ON no_terms USING gin (a)$$, '42P17',
	'column "a" carries no search terms for operator class encrypted_trigram_ops',
	'a trigram index on a column without a modifier: 42P17');
SELECT throws_ok($$CREATE INDEX ON no_terms (d encrypted_date_range_ops)$$, '42P17',
	'column "d" carries no search terms for operator class encrypted_date_range_ops',
	'a range index on a column without a modifier: 42P17');
INSERT INTO no_terms VALUES ('x', '2020-01-01');
SELECT throws_ok($$SELECT search_terms(a) FROM no_terms$$, '0A000',
	'encrypted_text value carries no search terms', 'search_terms() of a value without terms: 0A000');
SELECT throws_ok($$SELECT range_term(d) FROM no_terms$$, '0A000',
	'encrypted_date value carries no search terms', 'range_term() of a value without terms: 0A000');

-- searches: no key, no privilege, a nondeterministic collation
SET LOCAL enable_seqscan = off;
SET LOCAL encrypted_column.key = '';
SELECT throws_ok($$SELECT id FROM patients WHERE name LIKE 'tap%'$$, '55000',
	'encrypted_column.key is not set', 'LIKE without a key: 55000');
SELECT throws_ok($$SELECT id FROM patients WHERE born < date '1900-01-01'$$, '55000',
	'encrypted_column.key is not set', 'a range without a key: 55000');
SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
CREATE ROLE tap_search_reader;
GRANT SELECT ON patients TO tap_search_reader;
REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC;
SET LOCAL ROLE tap_search_reader;
SELECT throws_ok($$SELECT id FROM patients WHERE name LIKE 'nothing-like-this%'$$, '42501',
	'permission denied to read plaintext of encrypted columns', 'LIKE with no candidate, no privilege: 42501');
SELECT throws_ok($$SELECT id FROM patients WHERE born BETWEEN date '1700-01-01' AND date '1700-01-02'$$, '42501',
	'permission denied to read plaintext of encrypted columns', 'an empty range, no privilege: 42501');
SELECT throws_ok($$SELECT id FROM patients ORDER BY born LIMIT 1$$, '42501',
	'permission denied to read plaintext of encrypted columns', 'ORDER BY ... LIMIT, no privilege: 42501');
-- during a rotation the per-key index ranges and walks ask the same privilege
SET LOCAL encrypted_column.previous_keys = '1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100';
SELECT throws_ok($$SELECT id FROM patients WHERE born BETWEEN date '1700-01-01' AND date '1700-01-02'$$, '42501',
	'permission denied to read plaintext of encrypted columns', 'an empty range during a rotation, no privilege: 42501');
SELECT throws_ok($$SELECT id FROM patients ORDER BY born LIMIT 1$$, '42501',
	'permission denied to read plaintext of encrypted columns', 'ORDER BY ... LIMIT during a rotation, no privilege: 42501');
SET LOCAL encrypted_column.previous_keys = '';
RESET ROLE;
GRANT EXECUTE ON FUNCTION read_plaintext() TO PUBLIC;
SELECT lives_ok($$SELECT id FROM patients WHERE name LIKE 'tap%' COLLATE "C"$$, 'LIKE under "C"');
SELECT results_eq($$SELECT id FROM patients WHERE name ILIKE '%ADA%' ORDER BY id$$,
	$$SELECT id FROM patients WHERE decrypt(name) ILIKE '%ADA%' ORDER BY id$$, 'ILIKE through the index');
SELECT results_eq($$SELECT id FROM patients WHERE born < date '1900-01-01'$$,
	$$SELECT id FROM patients WHERE decrypt(born) < date '1900-01-01'$$, 'a range through the index');

-- what is stored did not change
SELECT results_eq($$SELECT id, name::text, born::text, balance::text FROM patients ORDER BY id$$,
	$$SELECT id, name, born, balance FROM snapshot ORDER BY id$$, 'stored values unchanged by every failed statement');
SELECT is(decrypt(born), date '1815-12-10', 'still decrypts') FROM patients WHERE id = 1;

SELECT * FROM finish();
ROLLBACK;
