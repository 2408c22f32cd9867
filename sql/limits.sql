-- The size limit: a value whose text form could not be printed (SELECT,
-- COPY TO, pg_dump) is refused when it is encrypted.  The error names the
-- exact limit; test/unit/limits.c checks the arithmetic at the boundary.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set VERBOSITY terse
SET encrypted_column.key = :'k1';
-- one byte over the limit (the argument alone takes 805 MB of memory)
SELECT encrypt(repeat('x', 805306323));
\set VERBOSITY default
SELECT encrypt(repeat('x', 805306323), 'ctx');
RESET encrypted_column.key;
