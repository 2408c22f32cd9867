--
-- encrypted_column_migrate: the readers for application-level ciphertexts
-- against the fixed vectors that sqlalchemy-utils and cryptography wrote
-- (test/vectors.sql), their errors, parallel workers, and the
-- one-statement migration.  The upgrade from 0.2.0, when the readers
-- belonged to encrypted_column, is in upgrade.sql.
--
-- Everything runs in a database of its own.
\set regress_db :DBNAME
CREATE DATABASE legacy_regress;
\c legacy_regress

-- The readers are not in the core extension; CASCADE installs it.
CREATE EXTENSION encrypted_column_migrate CASCADE;
-- (both at one version: the migration extension's is the core's default
-- version, written into it at build time; pg_available_extensions is not
-- read, since it does not see files loaded through extension_destdir)
SELECT extname, extversion = (SELECT extversion FROM pg_extension
							  WHERE extname = 'encrypted_column_migrate') AS core_version
  FROM pg_extension WHERE extname LIKE 'encrypted_column%' ORDER BY 1;
SELECT e.extname, p.oid::regprocedure AS function, p.provolatile, p.proisstrict,
       p.proparallel, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid
 WHERE p.proname ~ '^decrypt_(sqlalchemy_|fernet)'
 ORDER BY 2::text;
-- every member has a comment
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension
					  WHERE extname = 'encrypted_column_migrate')
   AND obj_description(d.objid, (SELECT relname FROM pg_class
								  WHERE oid = d.classid)) IS NULL;

-- The fixed vectors, in legacy_vectors, and run_vector().
\getenv abs_srcdir PG_ABS_SRCDIR
\set harness :abs_srcdir '/test/harness.sql'
\i :harness
ANALYZE legacy_vectors;

CREATE TEMP TABLE outcomes AS
SELECT v.id, v.fn, s.as_type, v.plaintext IS NOT NULL AS decrypts,
	   run_vector(v, s.as_type) = coalesce('=' || v.plaintext, '!' || v.sqlstate) AS pass
  FROM legacy_vectors v
 CROSS JOIN LATERAL (SELECT v.storage AS as_type
					 UNION ALL
					 SELECT 'varchar' WHERE v.storage = 'text') s;

SELECT fn, as_type, count(*) FILTER (WHERE decrypts) AS plaintexts,
	   count(*) FILTER (WHERE NOT decrypts) AS errors,
	   count(*) FILTER (WHERE pass) AS passed
  FROM outcomes GROUP BY 1, 2 ORDER BY 1, 2;
SELECT id, as_type FROM outcomes WHERE NOT pass ORDER BY 1, 2;

-- What the vectors cover, by expected outcome.
SELECT fn, coalesce(padding, '') AS padding, coalesce(sqlstate, 'ok') AS outcome,
	   count(*)
  FROM legacy_vectors GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- Each library quirk, as the library itself reads it back: naive padding
-- strips the plaintext's own trailing '*' too; oneandzeroes cannot read a
-- plaintext whose UTF-8 ends in 0x80 (such as 'voila A-grave'); text holds
-- no NUL.  (ASCII only here, so the output is the same in any encoding.)
SELECT id, plaintext FROM legacy_vectors
 WHERE id IN ('fixed-aes-naive-text-p0-trailing_stars',
			  'fixed-aes-naive-text-p0-only_stars',
			  'fixed-aes-pkcs5-text-p0-trailing_stars',
			  'fixed-aes-zeroes-text-p0-email')
 ORDER BY 1;
SELECT id, sqlstate FROM legacy_vectors
 WHERE id IN ('fixed-aes-oneandzeroes-text-p0-ends_in_0x80',
			  'fixed-aes-pkcs5-text-p0-ends_in_0x80',
			  'fixed-aes-pkcs5-text-p0-nul_inside')
 ORDER BY 1;

-- Errors: SQLSTATE and message.
CREATE FUNCTION error_of(query text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT error_of(q) FROM (VALUES
	($$SELECT decrypt_sqlalchemy_aes(value, 'wrong', 'pkcs5') FROM legacy_vectors WHERE id = 'fixed-aes-pkcs5-text-p0-email'$$),
	($$SELECT decrypt_sqlalchemy_aes(value, secret) FROM legacy_vectors WHERE id = 'fixed-aes-naive-bytea-p0-email'$$),
	($$SELECT decrypt_sqlalchemy_aes(value, secret, 'PKCS5') FROM legacy_vectors WHERE id = 'fixed-aes-pkcs5-text-p0-email'$$),
	($$SELECT decrypt_sqlalchemy_aes('not base64!', 'p')$$),
	($$SELECT decrypt_sqlalchemy_aes('QUJD', 'p')$$),
	($$SELECT decrypt_sqlalchemy_aes('QUJ', 'p')$$),
	($$SELECT decrypt_sqlalchemy_aes('QQ==QUJD', 'p')$$),
	($$SELECT decrypt_sqlalchemy_aesgcm(value, 'wrong') FROM legacy_vectors WHERE id = 'fixed-aesgcm-text-p0-email'$$),
	($$SELECT decrypt_sqlalchemy_aesgcm('QUJD', 'p')$$),
	($$SELECT decrypt_sqlalchemy_fernet(value, 'wrong') FROM legacy_vectors WHERE id = 'fixed-fernet-text-p0-email'$$),
	($$SELECT decrypt_fernet(value, 'c2hvcnQ=') FROM legacy_vectors WHERE id = 'fixed-fernet-text-k0-email'$$),
	($$SELECT decrypt_fernet(value, secret, -1) FROM legacy_vectors WHERE id = 'fixed-fernet-text-k0-email'$$),
	($$SELECT decrypt_fernet('QUJD', 'c2hvcnQ=')$$),
	($$SELECT decrypt_fernet(value, secret) FROM legacy_vectors WHERE id = 'fixed-error-fernet-flipped-hmac'$$),
	($$SELECT decrypt_fernet(value, secret, ttl) FROM legacy_vectors WHERE id = 'fixed-fernet-ttl-text-old-expired'$$),
	($$SELECT decrypt_fernet(value, secret, ttl) FROM legacy_vectors WHERE id = 'fixed-fernet-ttl-text-future-ttl'$$),
	($$SELECT decrypt_fernet(value, secret) FROM legacy_vectors WHERE id = 'fixed-fernet-text-k0-not_utf8'$$),
	($$SELECT decrypt_sqlalchemy_aesgcm(value, secret) FROM legacy_vectors WHERE id = 'fixed-aesgcm-text-p0-nul_inside'$$),
	($$SELECT decrypt_sqlalchemy_aes('QUJD', NULL)$$),
	($$SELECT decrypt_fernet('QUJD', 'k', NULL)$$)
) AS t(q);

-- The full report for the two most common mistakes.
SELECT decrypt_sqlalchemy_aes(value, secret)
  FROM legacy_vectors WHERE id = 'fixed-aes-naive-bytea-p0-email';
SELECT decrypt_sqlalchemy_aesgcm(value, 'wrong passphrase')
  FROM legacy_vectors WHERE id = 'fixed-aesgcm-bytea-p0-email';

-- NULL values give NULL; the secret may not be NULL (see error_of above).
SELECT decrypt_sqlalchemy_aes(NULL::bytea, 'p') IS NULL AS aes,
	   decrypt_sqlalchemy_aesgcm(NULL::text, 'p') IS NULL AS aesgcm,
	   decrypt_sqlalchemy_fernet(NULL::varchar, 'p') IS NULL AS fernet_engine,
	   decrypt_fernet(NULL::text, 'k', 10) IS NULL AS fernet;

-- Parallel workers give the same results.
CREATE FUNCTION has_gather(query text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF line ~ 'Gather' THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END
$$;
-- Parallel plans on every supported version: no cost for starting
-- workers or passing tuples and no minimum table size make a Gather the
-- cheapest plan, and without the leader's participation the workers
-- compute every reader call.  has_gather proves the plan of the very
-- query (the view) that checks the results.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
CREATE VIEW parallel_check AS
SELECT fn, count(*) AS checked
  FROM legacy_vectors
 WHERE plaintext = CASE
		WHEN plaintext IS NULL OR ttl IS NOT NULL THEN NULL
		WHEN fn = 'decrypt_sqlalchemy_aes' THEN decrypt_sqlalchemy_aes(value, secret, padding)
		WHEN fn = 'decrypt_sqlalchemy_aesgcm' THEN decrypt_sqlalchemy_aesgcm(value, secret)
		WHEN fn = 'decrypt_sqlalchemy_fernet' THEN decrypt_sqlalchemy_fernet(value, secret)
		WHEN fn = 'decrypt_fernet' THEN decrypt_fernet(value, secret) END
 GROUP BY 1;
SELECT has_gather('SELECT * FROM parallel_check');
SELECT * FROM parallel_check ORDER BY 1;
SELECT has_gather($$SELECT count(*) FROM legacy_vectors WHERE storage = 'text' AND decrypt_sqlalchemy_aesgcm(value, secret) IS NOT NULL$$);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- The migration: an EncryptedType(Unicode, passphrase, AesEngine, 'pkcs5')
-- column (bytea) becomes encrypted_text in one statement.  The passphrase
-- is read from a setting; applications hand it in as a connection option.
SET encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SET legacy.passphrase = 'correct horse battery staple';
CREATE TABLE users (id serial PRIMARY KEY, vector_id text, email bytea);
INSERT INTO users (vector_id, email)
SELECT id, convert_to(value, 'UTF8') FROM legacy_vectors
 WHERE id ~ '^fixed-aes-pkcs5-bytea-p0-' AND plaintext IS NOT NULL
 ORDER BY id;
INSERT INTO users (vector_id, email) VALUES ('null', NULL);
ALTER TABLE users ALTER COLUMN email TYPE encrypted_text
	USING encrypt(decrypt_sqlalchemy_aes(email, current_setting('legacy.passphrase'), 'pkcs5'));
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'users'::regclass AND attname = 'email';
SELECT count(*) AS users,
	   count(*) FILTER (WHERE decrypt(u.email) = v.plaintext) AS decrypted,
	   count(*) FILTER (WHERE u.email IS NULL) AS nulls
  FROM users u LEFT JOIN legacy_vectors v ON v.id = u.vector_id;
RESET legacy.passphrase;

-- Once every column has moved, the readers go; the column needs none.
DROP VIEW parallel_check;
DROP EXTENSION encrypted_column_migrate;
SELECT extname FROM pg_extension WHERE extname LIKE 'encrypted_column%';
SELECT count(*) FROM pg_proc WHERE proname ~ '^decrypt_(sqlalchemy_|fernet)';
SELECT count(*) FILTER (WHERE decrypt(u.email) = v.plaintext) AS decrypted
  FROM users u JOIN legacy_vectors v ON v.id = u.vector_id;

-- A passphrase with a character that has no UTF-8 form (EUC_TW 0xfefe is
-- well formed but unassigned): the error names no byte of it.
\c :regress_db
CREATE DATABASE legacy_euc_tw ENCODING 'EUC_TW' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c legacy_euc_tw
SET client_min_messages = warning;
CREATE EXTENSION encrypted_column_migrate CASCADE;
RESET client_min_messages;
SET client_encoding = 'EUC_TW';
\set VERBOSITY default
SELECT decrypt_sqlalchemy_aesgcm(convert_to(repeat('A', 64), 'SQL_ASCII'), E'pass\xfe\xfeword');
SELECT decrypt_sqlalchemy_aesgcm(convert_to(repeat('A', 64), 'SQL_ASCII'), 'password');
RESET client_encoding;

\c :regress_db
DROP DATABASE legacy_euc_tw;
DROP DATABASE legacy_regress;
