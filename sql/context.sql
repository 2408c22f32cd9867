-- Context binding: a value encrypted with a context decrypts only with
-- the same context.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
SET encrypted_column.key = :'k1';
CREATE TABLE ctx (id int PRIMARY KEY, ssn encrypted_text);
INSERT INTO ctx VALUES (1, encrypt('123-45-6789', 'ctx:1')), (2, encrypt('987-65-4321', 'ctx:2'));
INSERT INTO ctx VALUES (3, encrypt('no context'));

-- right context
SELECT id, decrypt(ssn, 'ctx:' || id) FROM ctx WHERE id <= 2 ORDER BY id;
-- the context bit is set in the header, and the context is not stored
SELECT id, get_byte(encrypted_text_send(ssn), 1) AS algorithm_byte,
       position('ctx:' IN ssn::text) = 0 AS context_not_visible
FROM ctx ORDER BY id;
-- wrong context: a value copied to another row does not decrypt there
SELECT decrypt(ssn, 'ctx:2') FROM ctx WHERE id = 1;
UPDATE ctx SET ssn = (SELECT ssn FROM ctx WHERE id = 1) WHERE id = 2;
SELECT decrypt(ssn, 'ctx:' || id) FROM ctx WHERE id = 2;
-- missing context, and a context where there was none
SELECT decrypt(ssn) FROM ctx WHERE id = 1;
SELECT decrypt(ssn, 'ctx:3') FROM ctx WHERE id = 3;
SELECT decrypt(ssn) FROM ctx WHERE id = 3;
-- contexts are compared as bytes: case and trailing blanks matter
SELECT decrypt(ssn, 'CTX:1') FROM ctx WHERE id = 1;
SELECT decrypt(ssn, 'ctx:1 ') FROM ctx WHERE id = 1;
-- multi-byte and long contexts
SELECT decrypt(encrypt('v', 'clé 東京'), 'clé 東京');
SELECT decrypt(encrypt('v', repeat('k', 100000)), repeat('k', 100000));
SELECT 1 AS alive;
