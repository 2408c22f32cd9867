--
-- The upgrade from encrypted_column 0.2.0, whose own install contained the
-- readers, to 0.3.0, where they belong to encrypted_column_migrate:
-- readers used at 0.2.0 (through the core library's forwarding entry
-- points), an update blocked by a view that uses one, the update, and the
-- same results from encrypted_column_migrate afterwards.
--
-- Everything runs in a database of its own.  Errors are shown without
-- their context: PostgreSQL 18 adds the extension script's lines to it.
\set SHOW_CONTEXT never
\set regress_db :DBNAME
CREATE DATABASE migrate_upgrade_regress;
\c migrate_upgrade_regress

CREATE EXTENSION encrypted_column VERSION '0.2.0';
SELECT p.oid::regprocedure AS core_member_at_0_2_0
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'encrypted_column'
 WHERE p.proname ~ '^decrypt_(sqlalchemy_|fernet)'
 ORDER BY 1::text;

-- Every fixed vector through the readers of 0.2.0, each as bytea, text
-- and (for text) varchar: the result, or the SQLSTATE.
\getenv abs_srcdir PG_ABS_SRCDIR
\set harness :abs_srcdir '/test/harness.sql'
\i :harness
CREATE VIEW outcomes AS
SELECT v.id, s.as_type, run_vector(v, s.as_type) AS outcome,
	   coalesce('=' || v.plaintext, '!' || v.sqlstate) AS expected
  FROM legacy_vectors v
 CROSS JOIN LATERAL (SELECT v.storage AS as_type
					 UNION ALL
					 SELECT 'varchar' WHERE v.storage = 'text') s;
CREATE TABLE before_update AS SELECT * FROM outcomes;
SELECT count(*) AS outcomes, count(*) FILTER (WHERE outcome = expected) AS as_expected,
	   count(*) FILTER (WHERE outcome LIKE '=%') AS plaintexts
  FROM before_update;

-- encrypted_column_migrate cannot be created while the core has them.
CREATE EXTENSION encrypted_column_migrate;

-- A view that calls a reader blocks the update, which changes nothing.
CREATE VIEW migrated_emails AS
SELECT id, decrypt_sqlalchemy_aes(convert_to(value, 'UTF8'), secret, padding) AS email
  FROM legacy_vectors WHERE id = 'fixed-aes-pkcs5-bytea-p0-email';
ALTER EXTENSION encrypted_column UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'encrypted_column';
SELECT * FROM migrated_emails;
SELECT count(*) AS readers FROM pg_proc WHERE proname ~ '^decrypt_(sqlalchemy_|fernet)';

-- Without the view the update goes through and drops the readers.
DROP VIEW migrated_emails;
ALTER EXTENSION encrypted_column UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'encrypted_column';
SELECT count(*) AS readers FROM pg_proc WHERE proname ~ '^decrypt_(sqlalchemy_|fernet)';
-- the version ALTER EXTENSION UPDATE reached is the default version
-- (pg_available_extensions does not see files loaded through
-- extension_destdir, as in the package build's tests)
SELECT extversion AS updated_version FROM pg_extension
 WHERE extname = 'encrypted_column' \gset
CREATE TABLE updated_members AS
SELECT pg_describe_object(classid, objid, 0) AS member FROM pg_depend
 WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')
   AND deptype = 'e';

-- The extension brings them back: same signatures, same results.
CREATE EXTENSION encrypted_column_migrate;
SELECT e.extname, p.oid::regprocedure AS function, p.provolatile, p.proisstrict,
       p.proparallel, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid
 WHERE p.proname ~ '^decrypt_(sqlalchemy_|fernet)'
 ORDER BY 2::text;
SELECT count(*) AS outcomes,
	   count(*) FILTER (WHERE a.outcome IS NOT DISTINCT FROM b.outcome) AS identical
  FROM before_update b FULL JOIN outcomes a USING (id, as_type);
CREATE VIEW migrated_emails AS
SELECT id, decrypt_sqlalchemy_aes(convert_to(value, 'UTF8'), secret, padding) AS email
  FROM legacy_vectors WHERE id = 'fixed-aes-pkcs5-bytea-p0-email';
SELECT * FROM migrated_emails;

-- The core cannot be dropped from under it; the migration extension can.
DROP EXTENSION encrypted_column;
DROP VIEW migrated_emails;
DROP EXTENSION encrypted_column_migrate;
SELECT extname, extversion FROM pg_extension WHERE extname LIKE 'encrypted_column%';

-- A fresh install at the default version has no readers in the core.
DROP EXTENSION encrypted_column;
CREATE EXTENSION encrypted_column;
SELECT extversion = :'updated_version' AS default_version,
	   (SELECT count(*) FROM pg_proc
		 WHERE proname ~ '^decrypt_(sqlalchemy_|fernet)') AS readers
  FROM pg_extension WHERE extname = 'encrypted_column';
-- and the same members as the updated one
SELECT count(*) > 0 AS has_members,
	   count(*) FILTER (WHERE u.member IS NULL OR f.member IS NULL) AS differing
  FROM updated_members u
  FULL JOIN (SELECT pg_describe_object(classid, objid, 0) AS member FROM pg_depend
			  WHERE refobjid = (SELECT oid FROM pg_extension
								 WHERE extname = 'encrypted_column')
				AND deptype = 'e') f USING (member);

\c :regress_db
DROP DATABASE migrate_upgrade_regress;
