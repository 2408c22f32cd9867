-- pgTAP: every user-reachable error has its SQLSTATE and message, no
-- error text carries plaintext or key bytes, and failed statements leave
-- what is stored unchanged.
\ir include/begin.psql

SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
CREATE TABLE people (id int PRIMARY KEY, email encrypted_text, ssn encrypted_text);
INSERT INTO people VALUES
	(1, 'tap-secret-alice@example.com', encrypt('tap-secret-111', 'people:1')),
	(2, 'tap-secret-bob@example.com', encrypt('tap-secret-222', 'people:2'));
CREATE TEMP TABLE snapshot AS SELECT id, email::text AS email, ssn::text AS ssn FROM people;

-- Everything an error shows the client: message, detail, hint, context.
-- Context lines that this function's own EXECUTE adds (they quote the
-- statement the test wrote) are left out.
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

-- no key
SET LOCAL encrypted_column.key = '';
SELECT throws_ok($$SELECT encrypt('tap-secret-x')$$, '55000', 'encrypted_column.key is not set',
	'encrypt() without a key: 55000');
SELECT throws_ok($$INSERT INTO people VALUES (3, 'tap-secret-x', NULL)$$, '55000', 'encrypted_column.key is not set',
	'input function without a key: 55000');
SELECT throws_ok($$SELECT decrypt(email) FROM people$$, '55000', 'encrypted_column.key is not set',
	'decrypt() without a key: 55000');
SELECT is(current_key_id(), NULL, 'current_key_id() is NULL without a key');

-- malformed keys
SELECT throws_ok($$SELECT set_config('encrypted_column.key', 'tap-key-0001', true)$$, '22023',
	'invalid value for parameter "encrypted_column.key"', 'malformed key: 22023');
SELECT throws_ok($$SELECT set_config('encrypted_column.previous_keys', 'tap-key-0002', true)$$, '22023',
	'invalid value for parameter "encrypted_column.previous_keys"', 'malformed previous key: 22023');
SELECT unalike(pg_temp.error_text($$SELECT set_config('encrypted_column.key', 'tap-key-0001', true)$$),
	'%tap-key-0001%', 'a rejected key is not echoed');
SELECT unalike(pg_temp.error_text($$SELECT set_config('encrypted_column.previous_keys', 'tap-key-0002', true)$$),
	'%tap-key-0002%', 'a rejected key list is not echoed');
SELECT throws_ok($$SET encrypted_column.no_such_setting = 1$$, '42602', NULL, 'the GUC prefix is reserved');

-- a key with another id
SET LOCAL encrypted_column.key = '2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c';
SELECT throws_ok($$SELECT decrypt(email) FROM people WHERE id = 1$$, '42704', 'no loaded key has key id 5d5ecd79',
	'unknown key id: 42704, naming the id');
SET LOCAL encrypted_column.previous_keys = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SELECT is(decrypt(email), 'tap-secret-alice@example.com', 'previous_keys decrypts') FROM people WHERE id = 1;
SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SET LOCAL encrypted_column.previous_keys = '';

-- one error for every failed check at decrypt
SELECT throws_ok($$SELECT decrypt(ssn) FROM people WHERE id = 1$$, '39000',
	'could not decrypt encrypted_text value with key id 5d5ecd79', 'missing context: 39000');
SELECT throws_ok($$SELECT decrypt(ssn, 'people:2') FROM people WHERE id = 1$$, '39000',
	'could not decrypt encrypted_text value with key id 5d5ecd79', 'wrong context: 39000');
SELECT throws_ok($$SELECT decrypt(email, 'people:1') FROM people WHERE id = 1$$, '39000',
	'could not decrypt encrypted_text value with key id 5d5ecd79', 'context on a value without one: 39000');
SET LOCAL encrypted_column.accept_ciphertext = on;
SELECT throws_ok(format($$SELECT decrypt(%L::encrypted_text)$$,
		'ecv1:' || translate(encode(set_byte(encrypted_text_send(email), 30, get_byte(encrypted_text_send(email), 30) # 128), 'base64'), E'\n', '')),
	'39000', 'could not decrypt encrypted_text value with key id 5d5ecd79', 'tampered ciphertext: 39000')
FROM people WHERE id = 1;
SELECT is(pg_temp.error_text(format($$SELECT decrypt(%L::encrypted_text)$$,
		'ecv1:' || translate(encode(set_byte(encrypted_text_send(email), 30, get_byte(encrypted_text_send(email), 30) # 128), 'base64'), E'\n', ''))),
	pg_temp.error_text($$SELECT decrypt(ssn) FROM people WHERE id = 1$$),
	'tampering and a missing context give the very same error')
FROM people WHERE id = 1;

-- malformed and refused input
SELECT throws_ok($$SELECT 'ecv1:AQFdXs15'::encrypted_text$$, '22P02',
	'invalid input syntax for type encrypted_text', 'short envelope: 22P02');
SELECT throws_ok($$SELECT 'ecv1:not base64!'::encrypted_text$$, '22P02',
	'invalid input syntax for type encrypted_text', 'bad base64: 22P02');
SET LOCAL encrypted_column.accept_ciphertext = off;
SELECT throws_ok($$SELECT 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::encrypted_text$$, '22023',
	'input looks like an encrypted_text ciphertext', 'ciphertext as input: 22023');
SELECT throws_ok($$UPDATE people SET email = (SELECT email::text FROM people WHERE id = 2) WHERE id = 1$$, '22023',
	'input looks like an encrypted_text ciphertext', 'laundering a ciphertext through a cast: 22023');
SELECT throws_ok($$SELECT encrypt('x', '')$$, '22023', 'encryption context must not be empty', 'empty context: 22023');

-- binary input, through COPY from a server file
SELECT current_setting('data_directory') || '/ec_tap_copy' AS path \gset
COPY (SELECT 1, '\x0102'::bytea) TO :'path' (FORMAT binary);
CREATE TEMP TABLE loaded (id int, email encrypted_text);
SELECT throws_ok(format($$COPY loaded FROM %L (FORMAT binary)$$, :'path'), '22P03',
	'invalid binary representation of an encrypted_text value', 'malformed binary input: 22P03');

-- no error text carries plaintext or key bytes
SET LOCAL encrypted_column.key = '';
SELECT unalike(pg_temp.error_text($$INSERT INTO people VALUES (3, 'tap-secret-carol@example.com', NULL)$$),
	'%tap-secret%', 'no-key error on insert does not show the plaintext');
COPY (SELECT 4, 'tap-secret-dave@example.com') TO :'path' (FORMAT text);
SELECT unalike(pg_temp.error_text(format($$COPY loaded FROM %L$$, :'path')),
	'%tap-secret%', 'no-key error in COPY FROM does not show the plaintext field');
SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SELECT unalike(pg_temp.error_text(stmt), '%tap-secret%', 'no plaintext in: ' || left(stmt, 50))
FROM unnest(ARRAY[
	$$SELECT decrypt(ssn) FROM people$$,
	$$SELECT decrypt(ssn, 'people:9') FROM people$$,
	$$SELECT reencrypt(ssn) FROM people$$,
	$$SELECT encrypt(decrypt(email), '') FROM people$$
]) AS stmt;
SELECT unalike(pg_temp.error_text(stmt), '%000102030405060708090a0b0c0d0e0f%', 'no key bytes in: ' || left(stmt, 50))
FROM unnest(ARRAY[
	$$SELECT decrypt(ssn) FROM people$$,
	$$SELECT set_config('encrypted_column.key', '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e', true)$$,
	$$SELECT set_config('encrypted_column.previous_keys', '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f,x', true)$$
]) AS stmt;

-- what is stored did not change
SELECT results_eq($$SELECT id, email::text, ssn::text FROM people ORDER BY id$$,
	$$SELECT id, email, ssn FROM snapshot ORDER BY id$$, 'stored values unchanged by every failed statement');
SELECT is(decrypt(ssn, 'people:' || id), 'tap-secret-' || repeat(id::text, 3), 'still decrypts: ' || id) FROM people;

SELECT * FROM finish();
ROLLBACK;
