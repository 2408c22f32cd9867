/* encrypted_column 0.3.1 -> 0.4.0: stored data keys under a key-encryption key */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit

-- Stored keys (0.4.0).  Data keys live in stored_keys wrapped under the
-- key-encryption key that encrypted_column.kek_source names; only their
-- owner (the role that installed the extension) can read or write the
-- table, and the functions below write it as that owner.  The wrapped
-- keys are dumped with the database (pg_extension_config_dump), useless
-- without the KEK.
CREATE TABLE stored_keys (
	name pg_catalog.text NOT NULL,
	version pg_catalog.int4 NOT NULL,
	key_id pg_catalog.text NOT NULL,
	kek_id pg_catalog.text,
	state pg_catalog.text NOT NULL,
	created pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
	destroyed pg_catalog.timestamptz,
	wrapped pg_catalog.bytea,
	key_check pg_catalog.bytea,
	PRIMARY KEY (name, version),
	UNIQUE (key_id),
	CHECK (state OPERATOR(pg_catalog.=) ANY ('{current,previous,destroyed}'::pg_catalog.text[])),
	CHECK ((state OPERATOR(pg_catalog.=) 'destroyed') OPERATOR(pg_catalog.=) (wrapped IS NULL))
);
CREATE UNIQUE INDEX stored_keys_one_current ON stored_keys (name)
	WHERE state OPERATOR(pg_catalog.=) 'current';
-- ANALYZE keeps no sample of the wrapped keys or check values in
-- pg_statistic, where a destroyed key's bytes would outlive destroy_key.
ALTER TABLE stored_keys ALTER COLUMN wrapped SET STATISTICS 0,
	ALTER COLUMN key_check SET STATISTICS 0;
COMMENT ON TABLE stored_keys IS
	'data keys, each stored only wrapped (RFC 5649) under the key-encryption key of encrypted_column.kek_source; written by create_key, import_key, rotate_key, rotate_kek and destroy_key';
REVOKE ALL ON TABLE stored_keys FROM PUBLIC;
GRANT SELECT (name, version, key_id, kek_id, state, created, destroyed)
	ON TABLE stored_keys TO PUBLIC;

CREATE TABLE stored_key_grants (
	name pg_catalog.text NOT NULL,
	grantee pg_catalog.regrole NOT NULL,
	may_encrypt pg_catalog.bool NOT NULL,
	may_decrypt pg_catalog.bool NOT NULL,
	PRIMARY KEY (name, grantee)
);
COMMENT ON TABLE stored_key_grants IS
	'who may use which stored key (grantee - is PUBLIC); written by grant_key and revoke_key';
REVOKE ALL ON TABLE stored_key_grants FROM PUBLIC;
GRANT SELECT ON TABLE stored_key_grants TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('stored_keys', '');
SELECT pg_catalog.pg_extension_config_dump('stored_key_grants', '');

CREATE FUNCTION stored_keys_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'encrypted_column_stored_keys_changed'
	LANGUAGE C;
COMMENT ON FUNCTION stored_keys_changed() IS
	'trigger of the key tables: every session forgets what it read of them when the change commits';
CREATE TRIGGER stored_keys_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stored_keys
	FOR EACH STATEMENT EXECUTE FUNCTION stored_keys_changed();
CREATE TRIGGER stored_key_grants_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stored_key_grants
	FOR EACH STATEMENT EXECUTE FUNCTION stored_keys_changed();

CREATE FUNCTION create_key(pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_create_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION create_key(pg_catalog.text) IS
	'makes a random 256-bit data key under a new name, stores it only wrapped under the key-encryption key, and returns its key id';

CREATE FUNCTION import_key(pg_catalog.text, pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_import_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION import_key(pg_catalog.text, pg_catalog.text) IS
	'stores a key given as 64 hex digits (a key of encrypted_column.key) as the new current version of a name, so its values need no rewrite; the key is in the statement text: prefer import_key(name)';

CREATE FUNCTION import_key(pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_import_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION import_key(pg_catalog.text) IS
	'stores the session''s encrypted_column.key as the new current version of a name, so its values need no rewrite';

CREATE FUNCTION rotate_key(pg_catalog.text) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_column_rotate_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION rotate_key(pg_catalog.text) IS
	'makes a new current version of a stored key and returns its key id; older versions only decrypt (and serve lookups) until reencrypt() has moved their values';

CREATE FUNCTION rotate_kek(pg_catalog.text) RETURNS pg_catalog.int4
	AS 'MODULE_PATHNAME', 'encrypted_column_rotate_kek'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION rotate_kek(pg_catalog.text) IS
	're-wraps every stored data key from the configured key-encryption key to the one the given source names, in this transaction, and returns how many it re-wrapped; no user row is touched; a server-side source needs a superuser';

CREATE FUNCTION destroy_key(pg_catalog.text)
	RETURNS TABLE (key_id pg_catalog.text, version pg_catalog.int4, remains pg_catalog.text)
	AS 'MODULE_PATHNAME', 'encrypted_column_destroy_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION destroy_key(pg_catalog.text) IS
	'crypto-shredding: erases every version of a stored key, so its values can never be decrypted again; one row per version, saying what still holds the wrapped key';

CREATE FUNCTION grant_key(name pg_catalog.text, role pg_catalog.name,
						  privilege pg_catalog.text DEFAULT 'all') RETURNS void
	AS 'MODULE_PATHNAME', 'encrypted_column_grant_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION grant_key(pg_catalog.text, pg_catalog.name, pg_catalog.text) IS
	'lets a role (and its members; PUBLIC for every role) use a stored key: ''encrypt'' new values, ''decrypt'' values, or ''all''; lookups need either';

CREATE FUNCTION revoke_key(name pg_catalog.text, role pg_catalog.name,
						   privilege pg_catalog.text DEFAULT 'all') RETURNS void
	AS 'MODULE_PATHNAME', 'encrypted_column_revoke_key'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION revoke_key(pg_catalog.text, pg_catalog.name, pg_catalog.text) IS
	'takes back what grant_key gave a role on a stored key';

CREATE FUNCTION key_usage(pg_catalog.regclass)
	RETURNS TABLE (column_name pg_catalog.name, key_id pg_catalog.text,
				   key_name pg_catalog.text, key_version pg_catalog.int4,
				   key_state pg_catalog.text, "values" pg_catalog.int8)
	AS 'MODULE_PATHNAME', 'encrypted_column_key_usage'
	LANGUAGE C STABLE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION key_usage(pg_catalog.regclass) IS
	'values per key id in each encrypted column of a table, read from the envelopes without any key; needs SELECT on the table';

REVOKE EXECUTE ON FUNCTION create_key(pg_catalog.text), import_key(pg_catalog.text, pg_catalog.text),
	import_key(pg_catalog.text), rotate_key(pg_catalog.text), rotate_kek(pg_catalog.text),
	destroy_key(pg_catalog.text), grant_key(pg_catalog.text, pg_catalog.name, pg_catalog.text),
	revoke_key(pg_catalog.text, pg_catalog.name, pg_catalog.text), stored_keys_changed()
	FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Who used which stored key
-- ---------------------------------------------------------------------------
-- Counted in shared memory when the library is in shared_preload_libraries
-- (audit.c); docs/operations.md, "Who used which key", says how to read it.
-- The counts are statistics of every database, so they are shown to
-- pg_read_all_stats, as pg_stat_statements shows its own.  key_audit()
-- names the stored keys of the current database from the columns of
-- stored_keys that every role may read.
CREATE FUNCTION key_audit()
	RETURNS TABLE (database pg_catalog.name, role pg_catalog.name,
				   key_id pg_catalog.text, key_name pg_catalog.text,
				   key_version pg_catalog.int4, encrypts pg_catalog.int8,
				   decrypts pg_catalog.int8, first_use pg_catalog.timestamptz,
				   last_use pg_catalog.timestamptz, since pg_catalog.timestamptz)
	AS 'MODULE_PATHNAME', 'encrypted_column_key_audit'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION key_audit() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION key_audit() TO pg_read_all_stats;
COMMENT ON FUNCTION key_audit() IS
	'values encrypted and decrypted with each stored key, per database and role, since the last reset; counted only when the library is in shared_preload_libraries (otherwise no rows and a NOTICE)';

CREATE VIEW key_audit AS SELECT * FROM key_audit();
REVOKE ALL ON key_audit FROM PUBLIC;
GRANT SELECT ON key_audit TO pg_read_all_stats;
COMMENT ON VIEW key_audit IS
	'who used which stored key: encrypts and decrypts per database, role and key since the last reset (key_audit_reset()); key names of the current database; readable by pg_read_all_stats';

CREATE FUNCTION key_audit_reset() RETURNS pg_catalog.timestamptz
	AS 'MODULE_PATHNAME', 'encrypted_column_key_audit_reset'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION key_audit_reset() FROM PUBLIC;
COMMENT ON FUNCTION key_audit_reset() IS
	'forgets the counts of key_audit in every database and starts a new period; returns its start (NULL, with a NOTICE, when the library is not preloaded)';
