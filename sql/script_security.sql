-- Extension scripts run as a superuser with the target schema on
-- search_path, and that schema may belong to someone else: from PostgreSQL
-- 15 on, a database's owner owns its public schema.  A role that owns the
-- schema plants look-alike operators and functions there, each recording
-- that it ran and whether it ran as a superuser, and then a superuser
-- installs and updates both extensions through every script that can still
-- run.  None of the planted objects may run.
--
-- Everything happens in a database of its own.  Errors are shown without
-- their context: PostgreSQL 18 adds the extension script's lines to it.
\set SHOW_CONTEXT never
\set regdb :DBNAME
CREATE ROLE regress_ec_schema_owner;
CREATE DATABASE ec_script_security OWNER regress_ec_schema_owner;
-- a stored setting, so that the 0.2.0 -> 0.3.0 update's loop over
-- pg_db_role_setting has rows to look at
ALTER ROLE regress_ec_schema_owner IN DATABASE ec_script_security SET work_mem = '4MB';
\c ec_script_security
SET SESSION AUTHORIZATION regress_ec_schema_owner;
SELECT pg_catalog.has_schema_privilege('public', 'CREATE') AS owner_may_create_in_public;

CREATE TABLE public.planted_ran (step text, object text, as_superuser text);
GRANT INSERT ON public.planted_ran TO PUBLIC;

-- Operators that pg_catalog does not have exactly: an unqualified
-- `classid = 'pg_proc'::regclass` picks them over =(oid, oid).
CREATE FUNCTION public.planted_eq(oid, regclass) RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'=(oid, regclass)', current_setting('is_superuser'));
	SELECT $1 OPERATOR(pg_catalog.=) $2::oid $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.planted_eq);
CREATE FUNCTION public.planted_eq(regclass, oid) RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'=(regclass, oid)', current_setting('is_superuser'));
	SELECT $1::oid OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = oid, FUNCTION = public.planted_eq);
CREATE FUNCTION public.planted_eq(name, text) RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'=(name, text)', current_setting('is_superuser'));
	SELECT $1::text OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.planted_eq);
CREATE FUNCTION public.planted_eq("char", text) RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'=("char", text)', current_setting('is_superuser'));
	SELECT $1::text OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = "char", RIGHTARG = text, FUNCTION = public.planted_eq);

-- Functions: a more exact unnest than pg_catalog's unnest(anyarray), and
-- look-alikes of everything else the scripts call.
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'unnest(text[])', current_setting('is_superuser'));
	SELECT pg_catalog.unnest($1) $$;
CREATE FUNCTION public.unnest(name[]) RETURNS SETOF name LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'unnest(name[])', current_setting('is_superuser'));
	SELECT pg_catalog.unnest($1) $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'lower(text)', current_setting('is_superuser'));
	SELECT pg_catalog.lower($1) $$;
CREATE FUNCTION public.split_part(text, text, integer) RETURNS text LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'split_part(text, text, integer)', current_setting('is_superuser'));
	SELECT pg_catalog.split_part($1, $2, $3) $$;
CREATE FUNCTION public.pg_describe_object(oid, oid, integer) RETURNS text LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'pg_describe_object(oid, oid, integer)', current_setting('is_superuser'));
	SELECT pg_catalog.pg_describe_object($1, $2, $3) $$;
CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'format(text, text)', current_setting('is_superuser'));
	SELECT pg_catalog.format($1, $2) $$;
CREATE FUNCTION public.regclass(text) RETURNS regclass LANGUAGE sql AS $$
	INSERT INTO public.planted_ran VALUES (current_setting('ec_regress.step', true),
		'regclass(text)', current_setting('is_superuser'));
	SELECT pg_catalog.to_regclass($1) $$;
RESET SESSION AUTHORIZATION;

-- The trap is armed: an unqualified comparison of the kind the scripts
-- made, run as a superuser with public on search_path, runs the planted
-- operator.  Then the record is cleared.
SET ec_regress.step = 'control';
SELECT count(*) > 0 AS control_query_ran_planted_operator
  FROM pg_depend WHERE classid = 'pg_proc'::regclass;
SELECT DISTINCT step, object, as_superuser FROM public.planted_ran;
TRUNCATE public.planted_ran;

-- Install at 0.1.0 and update one release at a time.
SET ec_regress.step = 'create 0.1.0';
CREATE EXTENSION encrypted_column VERSION '0.1.0';
SET ec_regress.step = 'update to 0.2.0';
ALTER EXTENSION encrypted_column UPDATE TO '0.2.0';
SET ec_regress.step = 'update to 0.3.0';
ALTER EXTENSION encrypted_column UPDATE TO '0.3.0';
SET ec_regress.step = 'update to 0.3.1';
ALTER EXTENSION encrypted_column UPDATE TO '0.3.1';
SET ec_regress.step = 'create migrate 0.3.0';
CREATE EXTENSION encrypted_column_migrate VERSION '0.3.0';
SET ec_regress.step = 'update migrate to 0.3.1';
ALTER EXTENSION encrypted_column_migrate UPDATE TO '0.3.1';
RESET ec_regress.step;
SELECT extname, extversion FROM pg_catalog.pg_extension
 WHERE extname OPERATOR(pg_catalog.~~) 'encrypted_column%' ORDER BY 1;

-- Fresh installs of the current version.
DROP EXTENSION encrypted_column_migrate;
DROP EXTENSION encrypted_column;
SET ec_regress.step = 'create';
CREATE EXTENSION encrypted_column;
SET ec_regress.step = 'create migrate';
CREATE EXTENSION encrypted_column_migrate;
RESET ec_regress.step;
SELECT extname, extversion FROM pg_catalog.pg_extension
 WHERE extname OPERATOR(pg_catalog.~~) 'encrypted_column%' ORDER BY 1;

-- What ran, at which step (expect nothing).
SELECT step, object, as_superuser, count(*) AS calls
  FROM public.planted_ran GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

\c :regdb
DROP DATABASE ec_script_security;
DROP ROLE regress_ec_schema_owner;
