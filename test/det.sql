-- pgTAP: SQLSTATEs and messages of encrypted_text_det's errors.
\ir include/begin.psql

SET LOCAL encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SELECT lives_ok($$SELECT encrypt_det('x')$$, 'encrypt_det with a key');
SELECT is(encrypt_det('x'), encrypt_det('x'), 'equal plaintexts give equal values');
SELECT throws_ok($$SELECT encrypt_det('x', '')$$, '22023',
	'encryption context must not be empty', 'empty context');
CREATE TEMP TABLE det_arr AS SELECT ARRAY['x', repeat('y', 100000)] AS a;
SELECT throws_ok($$SELECT encrypt_det_all(a, '') FROM det_arr$$, '22023',
	'encryption context must not be empty', 'empty context of the array form, the array stored compressed');
SELECT is((SELECT cardinality(encrypt_det_all(a)) FROM det_arr), 2, 'the array form of a stored array');
SELECT throws_ok($$SELECT decrypt(encrypt_det('x', 'a'), 'b')$$, '39000',
	NULL, 'wrong context: the one decryption error');
SELECT throws_ok($$SELECT ('ecv1:' || 'AQJdXs15n1JAwOFztu8AeoE9eBF4+w==')::encrypted_text_det$$, '22023',
	'input looks like an encrypted_text_det ciphertext', 'ciphertext refused without the restore switch');
SET LOCAL encrypted_column.accept_ciphertext = on;
SELECT is(decrypt('ecv1:AQJdXs15n1JAwOFztu8AeoE9eBF4+w=='::encrypted_text_det), '',
	'a known envelope of the empty string');
SELECT throws_ok($$SELECT 'ecv1:AQFdXs15AAAAAAAAAAAAAAAAve3jzbL86fJ7B7HH5Q899w=='::encrypted_text_det$$, '22P02',
	'invalid input syntax for type encrypted_text_det', 'an encrypted_text envelope is not an encrypted_text_det');
SELECT throws_ok($$SELECT 'ecv1:AQJdXs15n1JAwOFztu8AeoE9eBF4+w=='::encrypted_text$$, '22P02',
	'invalid input syntax for type encrypted_text', 'an encrypted_text_det envelope is not an encrypted_text');
SELECT throws_ok($$SELECT 'ecv1:AQJdXs15n1JAwOFztu8AeoE9eBF4'::encrypted_text_det$$, '22P02',
	'invalid input syntax for type encrypted_text_det', 'malformed base64');
SELECT throws_ok($$SELECT decrypt('ecv1:AQJdXs15n1JAwOFztu8AeoE9eBF4+g=='::encrypted_text_det)$$, '39000',
	'could not decrypt encrypted_text_det value with key id 5d5ecd79', 'tampered IV');
SELECT throws_ok($$SELECT decrypt('ecv1:AQJdXs14n1JAwOFztu8AeoE9eBF4+w=='::encrypted_text_det)$$, '42704',
	'no loaded key has key id 5d5ecd78', 'unknown key id');
SELECT throws_ok($$SELECT encrypt('a')::encrypted_text_det$$, '42846', NULL, 'no cast between the types');
CREATE TEMP TABLE det_u (email encrypted_text_det UNIQUE);
INSERT INTO det_u VALUES ('a@example.com');
SELECT throws_ok($$INSERT INTO det_u VALUES ('a@example.com')$$, '23505', NULL, 'UNIQUE on the deterministic value');
SET LOCAL encrypted_column.key = '';
SELECT throws_ok($$SELECT encrypt_det('x')$$, '55000', 'encrypted_column.key is not set', 'no key');
SELECT throws_ok($$SELECT encrypt_det_all('x')$$, '55000', 'encrypted_column.key is not set', 'no key for encrypt_det_all');

SELECT * FROM finish();
ROLLBACK;
