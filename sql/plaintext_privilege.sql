-- Who may read plaintext: one privilege, EXECUTE on read_plaintext(),
-- covers every function that can return plaintext.  The functions are
-- found in the catalog, not listed here: every function of either
-- extension that takes one of encrypted_column's types (or an array of
-- one) is called with suitable values, as a role without the privilege and
-- as a role with it.  Whatever gives plaintext with the privilege must be
-- refused with 42501 without it, and nothing returns the plaintext to the
-- role without it.
\set SHOW_CONTEXT never
\set regdb :DBNAME
CREATE ROLE regress_ec_reader;
CREATE ROLE regress_ec_other;
CREATE DATABASE ec_plaintext_privilege;
\c ec_plaintext_privilege
CREATE EXTENSION encrypted_column;
SET encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

-- a fresh install: PUBLIC holds the privilege, as it held decrypt() before
SELECT pg_catalog.has_function_privilege('regress_ec_other', 'read_plaintext()', 'EXECUTE') AS public_may_read;

-- the recipe: one REVOKE, one GRANT
REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION read_plaintext() TO regress_ec_reader;

-- Sample values, with and without a context, for every argument type the
-- calls need.
CREATE TABLE samples AS
SELECT encrypt('sample-plaintext-7f3a') AS gcm,
	   encrypt('sample-plaintext-7f3a', 'ctx') AS gcm_ctx,
	   encrypt_det('sample-plaintext-7f3a') AS det,
	   encrypt_det('sample-plaintext-7f3a', 'ctx') AS det_ctx,
	   encrypt(7345::bigint) AS encrypted_bigint,
	   encrypt(7345::bigint, 'ctx') AS encrypted_bigint_ctx,
	   encrypt(7345.25::numeric) AS encrypted_numeric,
	   encrypt(7345.25::numeric, 'ctx') AS encrypted_numeric_ctx,
	   encrypt('2001-02-03'::date) AS encrypted_date,
	   encrypt('2001-02-03'::date, 'ctx') AS encrypted_date_ctx,
	   encrypt('2001-02-03 04:05:06+00'::timestamptz) AS encrypted_timestamptz,
	   encrypt('2001-02-03 04:05:06+00'::timestamptz, 'ctx') AS encrypted_timestamptz_ctx,
	   encrypt('{"s": "sample-plaintext-7f3a"}'::jsonb) AS encrypted_jsonb,
	   encrypt('{"s": "sample-plaintext-7f3a"}'::jsonb, 'ctx') AS encrypted_jsonb_ctx,
	   encrypt('\x73616d706c65'::bytea) AS encrypted_bytea,
	   encrypt('\x73616d706c65'::bytea, 'ctx') AS encrypted_bytea_ctx;
GRANT SELECT ON samples TO PUBLIC;
-- the sample plaintexts, as text
CREATE TABLE plaintexts (p text);
INSERT INTO plaintexts VALUES ('sample-plaintext-7f3a'), ('7345'), ('7345.25'),
	('2001-02-03'::date::text), ('2001-02-03 04:05:06+00'::timestamptz::text),
	('{"s": "sample-plaintext-7f3a"}'), ('\x73616d706c65');
GRANT SELECT ON plaintexts TO PUBLIC;

-- The extension's types, from the catalog.
CREATE VIEW ec_types AS
SELECT t.oid, t.typname
  FROM pg_type t
  JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid
				  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'encrypted_column'
 WHERE t.typtype = 'b' AND t.typcategory <> 'A';
GRANT SELECT ON ec_types TO PUBLIC;

-- The rule: a function of either extension with an argument of one of those
-- types or an array of one.  Functions that take internal cannot be
-- called from SQL and are left out.
CREATE VIEW candidates AS
SELECT p.oid, p.oid::regprocedure::text AS signature
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
				  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid
 WHERE e.extname IN ('encrypted_column', 'encrypted_column_migrate')
   AND EXISTS (SELECT FROM unnest(p.proargtypes::oid[]) a
				JOIN pg_type at ON at.oid = a
			   WHERE a IN (SELECT oid FROM ec_types)
				  OR at.typelem IN (SELECT oid FROM ec_types))
   AND NOT 'internal'::regtype = ANY (p.proargtypes::oid[]);
GRANT SELECT ON candidates TO PUBLIC;

-- Call one candidate with sample arguments: the result as text, or
-- '!' and the SQLSTATE.  A function with a text argument besides the
-- value gets the context-bound sample and 'ctx'.
CREATE FUNCTION call_candidate(f regprocedure) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	types oid[] := (SELECT proargtypes::oid[] FROM pg_proc WHERE oid = f);
	bound boolean := 'text'::regtype = ANY (types);
	args text[] := '{}';
	t oid;
	result text;
BEGIN
	FOREACH t IN ARRAY types LOOP
		args := args || CASE
			WHEN t = 'encrypted_text'::regtype THEN
				CASE WHEN bound THEN '(SELECT gcm_ctx FROM samples)' ELSE '(SELECT gcm FROM samples)' END
			WHEN t = 'encrypted_text_det'::regtype THEN
				CASE WHEN bound THEN '(SELECT det_ctx FROM samples)' ELSE '(SELECT det FROM samples)' END
			WHEN t = 'encrypted_text[]'::regtype THEN 'ARRAY[(SELECT gcm FROM samples)]'
			WHEN t = 'encrypted_text_det[]'::regtype THEN 'ARRAY[(SELECT det FROM samples)]'
			WHEN t IN (SELECT oid FROM ec_types) THEN
				format('(SELECT %I FROM samples)', t::regtype::text || CASE WHEN bound THEN '_ctx' ELSE '' END)
			WHEN t = 'text'::regtype THEN '''ctx''::text'
			WHEN t = 'bigint'::regtype THEN '0::bigint'
			WHEN t = 'integer'::regtype THEN '12'
			WHEN t = 'boolean'::regtype THEN 'false'
			WHEN t = 'numeric'::regtype THEN '0.5::numeric'
			WHEN t = 'date'::regtype THEN '''2001-01-01''::date'
			WHEN t = 'timestamptz'::regtype THEN '''2001-01-01 00:00+00''::timestamptz'
			WHEN t = 'jsonb'::regtype THEN '''{}''::jsonb'
			WHEN t = 'bytea'::regtype THEN '''\x00''::bytea'
			WHEN t = 'cstring'::regtype THEN '''x''::cstring'
			ELSE 'NULL::' || t::regtype::text END;
	END LOOP;
	EXECUTE format('SELECT %s(%s)::text', (SELECT proname FROM pg_proc WHERE oid = f),
				   array_to_string(args, ', '))
		INTO result;
	RETURN result;
EXCEPTION WHEN OTHERS THEN
	RETURN '!' || SQLSTATE;
END
$$;

-- Every candidate, as a role with the privilege and as one without.
SET ROLE regress_ec_reader;
CREATE TEMP TABLE as_reader AS
SELECT signature, call_candidate(oid) AS outcome FROM candidates;
RESET ROLE;
SET ROLE regress_ec_other;
CREATE TEMP TABLE as_other AS
SELECT signature, call_candidate(oid) AS outcome FROM candidates;
RESET ROLE;

-- the functions that return plaintext to the reader, and what the other
-- role gets from them
SELECT r.signature, o.outcome AS without_privilege
  FROM as_reader r JOIN as_other o USING (signature)
 WHERE r.outcome IN (SELECT p FROM plaintexts)
 ORDER BY 1;
-- the functions that the privilege guards though they return no plaintext
-- (reencrypt: a role that chooses the current key could read the result)
SELECT r.signature, r.outcome LIKE 'ecv1:%' AS reader_gets_ciphertext, o.outcome AS without_privilege
  FROM as_reader r JOIN as_other o USING (signature)
 WHERE o.outcome = '!42501' AND r.outcome NOT IN (SELECT p FROM plaintexts)
 ORDER BY 1;
-- nothing the other role got contains the plaintext (expect no rows)
SELECT signature, outcome FROM as_other o
 WHERE o.outcome IN (SELECT p FROM plaintexts)
	OR EXISTS (SELECT FROM plaintexts WHERE length(p) >= 10 AND strpos(o.outcome, p) > 0);
-- nothing that gives the reader plaintext is open to the other role (expect no rows)
SELECT r.signature FROM as_reader r JOIN as_other o USING (signature)
 WHERE r.outcome IN (SELECT p FROM plaintexts) AND o.outcome <> '!42501';
SELECT count(*) > 10 AS enough_candidates FROM candidates;

-- The error names the privilege and no value.
SET ROLE regress_ec_other;
SELECT decrypt(det) FROM samples;
-- casts to text give the ciphertext text form, with or without the privilege
SELECT gcm::text LIKE 'ecv1:%' AS gcm_cast, det::text LIKE 'ecv1:%' AS det_cast,
	   gcm::varchar LIKE 'ecv1:%' AS gcm_varchar FROM samples;
-- read_plaintext() itself is refused to a role without it
SELECT read_plaintext();
RESET ROLE;

-- Membership counts, and a change takes effect at once in the same session
-- (the per-backend answer is forgotten on GRANT, REVOKE and membership).
SET ROLE regress_ec_other;
SELECT decrypt(gcm) FROM samples;
RESET ROLE;
GRANT regress_ec_reader TO regress_ec_other;
SET ROLE regress_ec_other;
SELECT decrypt(gcm) AS via_membership FROM samples;
RESET ROLE;
REVOKE regress_ec_reader FROM regress_ec_other;
SET ROLE regress_ec_other;
SELECT decrypt(gcm) FROM samples;
RESET ROLE;
GRANT EXECUTE ON FUNCTION read_plaintext() TO regress_ec_other;
SET ROLE regress_ec_other;
SELECT decrypt(det) AS after_grant FROM samples;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION read_plaintext() FROM regress_ec_other;

-- SECURITY DEFINER: the privilege of the function's owner applies inside
-- it, as for EXECUTE checks; the reader's function hands out what its
-- owner may read.
GRANT CREATE ON SCHEMA public TO regress_ec_reader;
SET ROLE regress_ec_reader;
CREATE FUNCTION reader_lookup() RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = public, pg_temp
	AS $$ SELECT decrypt(det) FROM samples $$;
RESET ROLE;
SET ROLE regress_ec_other;
SELECT reader_lookup() AS through_definer;
SELECT decrypt(det) FROM samples;
RESET ROLE;

-- Parallel workers check the same privilege, as the leader's role.
CREATE TABLE par AS SELECT encrypt_det('row ' || i) AS v FROM generate_series(1, 2000) i;
GRANT SELECT ON par TO PUBLIC;
ANALYZE par;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM par WHERE decrypt(v) LIKE 'row %';
SET ROLE regress_ec_reader;
SELECT count(*) AS reader_rows FROM par WHERE decrypt(v) LIKE 'row %';
RESET ROLE;
SET ROLE regress_ec_other;
SELECT count(*) FROM par WHERE decrypt(v) LIKE 'row %';
RESET ROLE;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET parallel_leader_participation;

-- Updating from 0.3.0 keeps a working application working: PUBLIC keeps
-- the privilege.  A database that followed 0.3.0's recipe (EXECUTE on
-- decrypt(encrypted_text) revoked) is warned that the deterministic type
-- stays open until the new recipe is applied.
\c :regdb
CREATE DATABASE ec_plaintext_update;
\c ec_plaintext_update
CREATE EXTENSION encrypted_column VERSION '0.3.0';
SET encrypted_column.key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
CREATE TABLE users (id int PRIMARY KEY, email encrypted_text_det UNIQUE, name encrypted_text);
INSERT INTO users VALUES (1, 'a@example.org', 'Ann');
GRANT SELECT ON users TO regress_ec_reader, regress_ec_other;
REVOKE EXECUTE ON FUNCTION decrypt(encrypted_text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION decrypt(encrypted_text) TO regress_ec_reader;
SET ROLE regress_ec_reader;
SELECT decrypt(email), decrypt(name) FROM users WHERE email = 'a@example.org'::text;
RESET ROLE;
ALTER EXTENSION encrypted_column UPDATE TO '0.3.1';
SET ROLE regress_ec_reader;
SELECT decrypt(email), decrypt(name), read_plaintext() FROM users WHERE email = 'a@example.org'::text;
RESET ROLE;
-- the new recipe closes the deterministic column too
REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION read_plaintext() TO regress_ec_reader;
SET ROLE regress_ec_reader;
SELECT decrypt(email), decrypt(name) FROM users;
RESET ROLE;
SET ROLE regress_ec_other;
SELECT decrypt(email) FROM users;
RESET ROLE;

\c :regdb
DROP DATABASE ec_plaintext_update;
DROP DATABASE ec_plaintext_privilege;
DROP ROLE regress_ec_reader;
DROP ROLE regress_ec_other;
