-- Updating from 0.2.0: the restore switch became a superuser setting, and
-- role settings stored under the old rule still apply, so the update
-- names every role and database that has one.
\set regdb :DBNAME
CREATE ROLE regress_ec_old_restore;
CREATE DATABASE ec_upgrade;
ALTER ROLE regress_ec_old_restore SET encrypted_column.accept_ciphertext = on;
ALTER ROLE regress_ec_old_restore IN DATABASE ec_upgrade SET "Encrypted_Column.Accept_Ciphertext" = on;
\c ec_upgrade
CREATE EXTENSION encrypted_column VERSION '0.2.0';
ALTER EXTENSION encrypted_column UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'encrypted_column';
SELECT context FROM pg_settings WHERE name = 'encrypted_column.accept_ciphertext';
\c :regdb
DROP DATABASE ec_upgrade;
DROP ROLE regress_ec_old_restore;
