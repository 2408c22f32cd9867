--
-- The set-up both regression tests of encrypted_column_migrate share
-- (sql/legacy.sql and sql/upgrade.sql): the table legacy_vectors, filled
-- with the fixed vectors of vectors.sql, and run_vector().  Included with
-- \i; vectors.sql is found next to this file.
--
CREATE TABLE legacy_vectors (
	id text PRIMARY KEY,
	fn text NOT NULL,
	storage text NOT NULL,
	value text NOT NULL,
	secret text NOT NULL,
	padding text,
	ttl bigint,
	plaintext text,			-- expected result, or
	sqlstate text			-- the expected error
);
\set harness_echo :ECHO
\set ECHO none
\ir vectors.sql
\set ECHO :harness_echo
\unset harness_echo

-- Run one vector with the value as bytea, text or varchar: '=' and the
-- result, or '!' and the SQLSTATE.
CREATE FUNCTION run_vector(v legacy_vectors, as_type text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	args text := CASE as_type WHEN 'bytea' THEN 'convert_to($1, ''UTF8'')'
							  ELSE '$1::' || as_type END || ', $2';
	result text;
BEGIN
	IF v.padding IS NOT NULL THEN
		args := args || ', $3';
	END IF;
	IF v.ttl IS NOT NULL THEN
		args := args || ', $4';
	END IF;
	EXECUTE format('SELECT %I(%s)', v.fn, args) INTO result
		USING v.value, v.secret, v.padding, v.ttl;
	RETURN '=' || result;
EXCEPTION WHEN OTHERS THEN
	RETURN '!' || SQLSTATE;
END
$$;
