/*
 * store.c
 *		Stored data keys: the key table, read as its owner; the per-backend
 *		cache of unwrapped keys; and who may use which key.
 *
 * The table stored_keys (in the extension's schema) holds each data key
 * wrapped under the key-encryption key (kek.c), with its name, version,
 * key id and state.  A key is unwrapped the first time this backend needs
 * it and kept, derived into cipher contexts exactly as a key of the
 * settings is (keyring.c), so a stored key costs nothing per value.
 *
 * The cache is keyed by key id.  Any change of the key table or of the
 * grants (key_admin.c's trigger sends a relcache invalidation for the
 * table) marks every entry unchecked: its row is read again at its next
 * use, and its unwrapped key is kept only if the row still says the same
 * key is alive.  A change of the KEK's source or of the session KEK frees
 * every unwrapped key.  Entries are freed only at the top of a lookup, so
 * a pointer handed out stays valid until the caller's next lookup.
 *
 * Privileges (stored_key_grants): a role may encrypt new values with a
 * key if it holds 'encrypt' on it, decrypt if it holds 'decrypt';
 * comparing a plaintext with stored values (lookups) needs either.
 * Superusers may do everything.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/fmgroids.h"
#include "utils/syscache.h"

#include "encrypted_column.h"
#include "kek.h"
#include "store.h"

typedef struct stored_entry
{
	uint8_t		key_id[EC_KEY_ID_LEN];	/* the hash key */
	char		state;			/* STATE_* below */
	uint64		checked_at;		/* generation its row was read at */
	bool		loaded;			/* key holds the unwrapped key */
	char		name[NAMEDATALEN];
	int32		version;
	ec_key		key;
	Oid			priv_role;		/* the role the privileges are for */
	uint64		priv_generation;
	bool		may_encrypt;
	bool		may_decrypt;
} stored_entry;

#define STATE_CURRENT	'c'
#define STATE_PREVIOUS	'p'
#define STATE_DESTROYED 'd'
#define STATE_ABSENT	'n'		/* no row has this key id */

static HTAB *entries = NULL;
static uint64 generation = 1;	/* bumped by every change of the table */
static uint64 priv_generation = 1;	/* and of role memberships */
static bool free_pending = false;	/* the KEK changed: free every key */
static long absent_entries = 0;	/* entries made for key ids not stored */

/* ec_store_find's last answer, good while nothing changed */
static stored_entry *last_found = NULL;
static uint64 last_generation = 0;
static uint64 last_priv_generation = 0;
static Oid	last_role = InvalidOid;
static bool last_decrypt = false;

/* where the key table is, found once per change */
static bool located = false;
static Oid	store_relid = InvalidOid;
static Oid	grants_relid = InvalidOid;
static Oid	store_owner = InvalidOid;
static char store_schema[2 * NAMEDATALEN + 3];	/* quoted */

/* the versions of one key name, newest first */
static char versions_name[NAMEDATALEN];
static uint64 versions_generation = 0;
static int	versions_count = 0;
static uint8_t versions_ids[EC_MAX_KEY_VERSIONS][EC_KEY_ID_LEN];

static bool exit_hook_registered = false;

/* Free every unwrapped key and every entry.  Never fails. */
static void
free_all(void)
{
	HASH_SEQ_STATUS seq;
	stored_entry *e;

	if (entries == NULL)
		return;
	hash_seq_init(&seq, entries);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		ec_key_free(&e->key);
		ec_wipe(e, sizeof(*e));
	}
	hash_destroy(entries);
	entries = NULL;
	versions_generation = 0;
	last_found = NULL;
}

/* At backend exit, no unwrapped key stays in memory. */
static void
store_at_exit(int code, Datum arg)
{
	(void) code;
	(void) arg;
	free_all();
}

/*
 * The KEK's source or the session KEK changed: every unwrapped key goes
 * at the next lookup.  Called from assign hooks, so it only marks.
 */
void
ec_store_invalidate(void)
{
	free_pending = true;
	generation++;
}

/* Relcache callback: the key table or its grants changed, or were made. */
void
ec_store_forget(uintptr_t arg, uint32_t relid)
{
	bool		ours = relid == InvalidOid ||
		(OidIsValid(store_relid) && (relid == store_relid || relid == grants_relid));

	(void) arg;
	if (ours || !OidIsValid(store_relid))
	{
		located = false;
		generation++;
		priv_generation++;
	}

	/*
	 * A cached plan may hold a constant sealed under a key version that is
	 * no longer current, or was destroyed, or that the role may no longer
	 * use: as when a key setting changes (gucs.c), such plans are made anew.
	 * ResetPlanCache() only marks plans invalid, so it cannot fail here.
	 */
	if (ours && (ec_sealed_since_plan_reset || ec_planned_by_key_count))
	{
		ResetPlanCache();
		ec_sealed_since_plan_reset = false;
		ec_planned_by_key_count = false;
	}
}

/* Syscache callbacks on roles and memberships: grants may mean more or less. */
void
ec_store_forget_privileges(void)
{
	priv_generation++;
}

/* Bumped by every change of the key table: callers cache by it. */
uint64_t
ec_store_generation(void)
{
	return generation;
}

/* Is a source of key-encryption keys configured? */
bool
ec_store_in_use(void)
{
	return ec_kek_source_guc != NULL && ec_kek_source_guc[0] != '\0';
}

/* The schema an extension lives in (PostgreSQL 15 does not export it). */
Oid
ec_extension_schema(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		nsp = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* Find the key table of this database's extension, once per change. */
static void
locate(void)
{
	Oid			extoid;
	Oid			nsp;
	HeapTuple	tuple;

	if (located)
		return;
	store_relid = InvalidOid;
	grants_relid = InvalidOid;
	extoid = get_extension_oid("encrypted_column", true);
	if (OidIsValid(extoid))
	{
		nsp = ec_extension_schema(extoid);
		store_relid = get_relname_relid("stored_keys", nsp);
		grants_relid = get_relname_relid("stored_key_grants", nsp);
		if (OidIsValid(store_relid))
		{
			tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(store_relid));
			if (!HeapTupleIsValid(tuple))
				elog(ERROR, "cache lookup failed for relation %u", store_relid);
			store_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
			ReleaseSysCache(tuple);
			snprintf(store_schema, sizeof(store_schema), "%s",
					 quote_identifier(get_namespace_name(nsp)));
		}
	}
	located = true;
}

/* The key table, or the error that says why there is none here. */
void
ec_store_locate(ec_store_location *where)
{
	locate();
	if (!OidIsValid(store_relid) || !OidIsValid(grants_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stored keys need version 0.4.0 or later of extension \"encrypted_column\" in this database"),
				 errhint("Run CREATE EXTENSION encrypted_column, or ALTER EXTENSION encrypted_column UPDATE.")));
	where->relid = store_relid;
	where->grants_relid = grants_relid;
	where->owner = store_owner;
	where->schema = store_schema;
}

/*
 * Run SPI as the key table's owner, as a SECURITY DEFINER function would:
 * the caller's role needs no privilege on the table, which no role but
 * its owner has.  The queries name every object with its schema, so the
 * caller's search_path plays no part.
 */
void
ec_store_spi_begin(ec_store_spi *spi)
{
	ec_store_location where;

	ec_store_locate(&where);
	GetUserIdAndSecContext(&spi->save_userid, &spi->save_sec_context);
	SetUserIdAndSecContext(where.owner,
						   spi->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* End what ec_store_spi_begin started (on success; an error undoes it all). */
void
ec_store_spi_end(ec_store_spi *spi)
{
	SPI_finish();
	SetUserIdAndSecContext(spi->save_userid, spi->save_sec_context);
}

/* Run one query of the key table with text arguments; SPI's code. */
int
ec_store_query(const char *format, bool read_only, int nargs,
			   const char *const *args)
{
	Oid			types[8];
	Datum		values[8];
	char	   *sql = psprintf(format, store_schema, store_schema);
	int			rc;

	if (nargs > 8)
		elog(ERROR, "too many arguments for a key table query");
	for (int i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		values[i] = CStringGetTextDatum(args[i]);
	}
	if (read_only && !IsInParallelMode())
	{
		/*
		 * Reads see what is committed now, not the statement's or a
		 * REPEATABLE READ transaction's snapshot: a REVOKE, a destroy_key or
		 * a new version must count from its commit on, and what is read
		 * here is cached past this transaction.  (A parallel worker cannot
		 * take a snapshot: it reads with the leader's, and lives briefly.)
		 */
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		rc = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
								  InvalidSnapshot, true, false, 0);
		SPI_freeplan(plan);
	}
	else
		rc = SPI_execute_with_args(sql, nargs, types, values, NULL, read_only, 0);
	if (rc < 0)
		elog(ERROR, "could not read the key table: %s", SPI_result_code_string(rc));
	pfree(sql);
	return rc;
}

/* Column of the current SPI result row as a C string, or NULL. */
char *
ec_store_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* Column of the current SPI result row as bytea (NULL when null). */
bytea *
ec_store_bytea(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? NULL : DatumGetByteaPP(d);
}

/*
 * At the top of each lookup, never inside one (a caller may hold keys it
 * got earlier in the same lookup): free every key if the KEK changed, and
 * start again when entries for key ids that no stored key has (tampered
 * or foreign values leave one each) pass a bound.
 */
static void
reset_if_due(void)
{
	if (free_pending || absent_entries > 100000)
	{
		free_all();
		free_pending = false;
		absent_entries = 0;
	}
}

/* The cache, made on first use. */
static HTAB *
cache(void)
{
	HASHCTL		ctl;

	if (entries == NULL)
	{
		if (!exit_hook_registered)
		{
			on_proc_exit(store_at_exit, (Datum) 0);
			exit_hook_registered = true;
		}
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = EC_KEY_ID_LEN;
		ctl.entrysize = sizeof(stored_entry);
		ctl.hcxt = TopMemoryContext;
		entries = hash_create("encrypted_column stored keys", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return entries;
}

/*
 * Unwrap a stored key under the configured KEK, check that it is the key
 * its row names, and derive it into e->key.  wrapped and check come from
 * the row; kek_id is the id of the KEK that wrapped it, for the error.
 */
static void
unwrap_into(stored_entry *e, bytea *wrapped, bytea *check, const char *kek_id)
{
	ec_kek	   *kek = ec_kek_current();
	uint8_t		dk[EC_DATA_KEY_LEN];
	uint8_t		mine[EC_KEY_CHECK_LEN];
	bool		ok;

	if (!ec_kek_unwrap(kek, (const uint8_t *) VARDATA_ANY(wrapped),
					   VARSIZE_ANY_EXHDR(wrapped), dk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not unwrap stored key \"%s\" version %d",
						e->name, e->version),
				 errdetail("The key-encryption key of encrypted_column.kek_source has kek id %s; the key was wrapped under kek id %s.",
						   ec_kek_id(kek), kek_id ? kek_id : "(unknown)"),
				 errhint("Check encrypted_column.kek_source (and encrypted_column.kek for the session source); after rotate_kek, set kek_source to the new source and reload.")));
	ok = ec_key_check_value(dk, mine) && check != NULL &&
		VARSIZE_ANY_EXHDR(check) == EC_KEY_CHECK_LEN &&
		memcmp(mine, VARDATA_ANY(check), EC_KEY_CHECK_LEN) == 0;
	ec_wipe(mine, sizeof(mine));
	if (ok)
		ok = ec_key_derive(dk, &e->key);
	ec_wipe(dk, sizeof(dk));
	if (!ok || memcmp(e->key.id, e->key_id, EC_KEY_ID_LEN) != 0)
	{
		ec_key_free(&e->key);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored key \"%s\" version %d does not match its key id or check value",
						e->name, e->version)));
	}
	e->key.stored = true;
	e->loaded = true;
}

/*
 * The entry of a key id, its row read again if the table changed since.
 * With need_key, the key is unwrapped if it is alive and not yet loaded.
 */
static stored_entry *
entry_for(const uint8_t *key_id, bool need_key)
{
	bool		found;
	stored_entry *e = hash_search(cache(), key_id, HASH_ENTER, &found);
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
	ec_store_spi spi;
	uint64		read_at;

	if (!found)
	{
		memset((char *) e + EC_KEY_ID_LEN, 0, sizeof(*e) - EC_KEY_ID_LEN);
		e->state = STATE_ABSENT;
		absent_entries++;
	}
	if (e->checked_at == generation && (e->loaded || !need_key || e->state == STATE_ABSENT ||
					   e->state == STATE_DESTROYED))
		return e;

	/*
	 * The generation before the read: a change committed while the query
	 * runs (its invalidation arrives with the query's locks) leaves the
	 * entry stale, to be read again at its next use.
	 */
	read_at = generation;
	ec_hex_encode(key_id, EC_KEY_ID_LEN, id_hex);
	ec_store_spi_begin(&spi);
	{
		const char *args[1] = {id_hex};

		ec_store_query("SELECT name, version, state, wrapped, key_check, kek_id "
					   "FROM %s.stored_keys WHERE key_id OPERATOR(pg_catalog.=) $1",
					   true, 1, args);
	}
	if (SPI_processed == 0)
	{
		ec_key_free(&e->key);
		e->loaded = false;
		e->state = STATE_ABSENT;
	}
	else
	{
		char	   *name = ec_store_text(0, 1);
		int32		version = pg_strtoint32(ec_store_text(0, 2));
		char	   *state = ec_store_text(0, 3);
		char		new_state = strcmp(state, "current") == 0 ? STATE_CURRENT :
			strcmp(state, "previous") == 0 ? STATE_PREVIOUS : STATE_DESTROYED;

		/* a different key under the same id, or no longer alive: forget it */
		if (e->loaded && (new_state == STATE_DESTROYED || e->version != version ||
						  strcmp(e->name, name) != 0))
		{
			ec_key_free(&e->key);
			e->loaded = false;
		}
		strlcpy(e->name, name, sizeof(e->name));
		e->version = version;
		e->state = new_state;
		if (need_key && !e->loaded && new_state != STATE_DESTROYED)
			unwrap_into(e, ec_store_bytea(0, 4), ec_store_bytea(0, 5),
						ec_store_text(0, 6));
	}
	ec_store_spi_end(&spi);
	e->checked_at = read_at;
	return e;
}

/* Work out the role's privileges on e's key name from the grants. */
static void
load_privileges(stored_entry *e, Oid role)
{
	ec_store_spi spi;
	const char *args[1] = {e->name};
	uint64		read_at = priv_generation;	/* see entry_for */

	e->may_encrypt = e->may_decrypt = false;
	e->priv_role = InvalidOid;
	ec_store_spi_begin(&spi);
	ec_store_query("SELECT grantee::pg_catalog.oid, may_encrypt, may_decrypt FROM %s.stored_key_grants "
				   "WHERE name OPERATOR(pg_catalog.=) $1", true, 1, args);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Oid			grantee = (Oid) strtoul(ec_store_text(i, 1), NULL, 10);

		if (grantee != InvalidOid && !has_privs_of_role(role, grantee))
			continue;
		if (strcmp(ec_store_text(i, 2), "t") == 0)
			e->may_encrypt = true;
		if (strcmp(ec_store_text(i, 3), "t") == 0)
			e->may_decrypt = true;
	}
	ec_store_spi_end(&spi);
	e->priv_role = role;
	e->priv_generation = read_at;
}

typedef enum use_kind
{
	USE_ENCRYPT,				/* to store new values */
	USE_DECRYPT,				/* to read plaintext */
	USE_COMPARE					/* to seal a plaintext for a lookup */
} use_kind;

/* 42501 unless the current role may use e's key this way. */
static void
require_privilege(stored_entry *e, use_kind use)
{
	Oid			role = GetUserId();
	bool		ok;

	if (superuser_arg(role))
		return;
	if (e->priv_role != role || e->priv_generation != priv_generation)
		load_privileges(e, role);
	ok = use == USE_ENCRYPT ? e->may_encrypt :
		use == USE_DECRYPT ? e->may_decrypt :
		(e->may_encrypt || e->may_decrypt);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s with stored key \"%s\"",
						use == USE_ENCRYPT ? "encrypt" :
						use == USE_DECRYPT ? "decrypt" : "compare",
						e->name),
				 errhint("A key administrator can run grant_key('%s', role, '%s').",
						 e->name, use == USE_DECRYPT ? "decrypt" : "encrypt")));
}

/* The live versions of a key name, newest first, cached by generation. */
static int
load_versions(const char *name)
{
	ec_store_spi spi;
	const char *args[1] = {name};
	uint64		read_at;

	/*
	 * Only a name that has versions is cached: a miss must raise again at
	 * every use, never fall through to versions_ids[0], which may still
	 * hold the key id of the name loaded before.
	 */
	if (versions_count > 0 && versions_generation == generation &&
		strcmp(versions_name, name) == 0)
		return versions_count;
	if (strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no stored key is named \"%s\"", name)));
	/* nothing cached until the versions are read in full */
	versions_name[0] = '\0';
	versions_count = 0;
	read_at = generation;		/* see entry_for */
	ec_store_spi_begin(&spi);
	ec_store_query("SELECT key_id FROM %s.stored_keys "
				   "WHERE name OPERATOR(pg_catalog.=) $1 "
				   "AND state OPERATOR(pg_catalog.<>) 'destroyed' "
				   "ORDER BY version DESC LIMIT 16", true, 1, args);
	versions_count = 0;
	for (uint64 i = 0; i < SPI_processed && i < EC_MAX_KEY_VERSIONS; i++)
	{
		char	   *hex = ec_store_text(i, 1);

		if (strlen(hex) != EC_KEY_ID_HEX_LEN ||
			!ec_hex_to_bytes(hex, versions_ids[versions_count], EC_KEY_ID_LEN))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored key \"%s\" has a malformed key id", name)));
		versions_count++;
	}
	ec_store_spi_end(&spi);
	strlcpy(versions_name, name, sizeof(versions_name));
	versions_generation = read_at;
	if (versions_count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no stored key is named \"%s\"", name),
				 errhint("encrypted_column.key_name names a key made by create_key() or import_key(); a destroyed key cannot encrypt.")));
	return versions_count;
}

/* The error for a destroyed key, naming it and its key id. */
static void
destroyed_error(stored_entry *e, const uint8_t *key_id)
{
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];

	ec_hex_encode(key_id, EC_KEY_ID_LEN, id_hex);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("stored key \"%s\" version %d (key id %s) was destroyed",
					e->name, e->version, id_hex),
			 errdetail("Values encrypted under a destroyed key can never be decrypted again.")));
}

/*
 * The entry of a stored key that the role may use this way, with its key
 * unwrapped; NULL when no row has the key id.  Reading the grants may
 * bring news of a change of the key table (its invalidation comes with
 * the locks the read takes), after which the row is read again: whatever
 * it says then is what counts, so a key destroyed meanwhile is refused
 * and never handed out without its cipher contexts.
 */
static stored_entry *
usable_entry(const uint8_t *key_id, use_kind use)
{
	stored_entry *e = entry_for(key_id, false);

	if (e->state == STATE_ABSENT)
		return NULL;
	if (e->state == STATE_DESTROYED)
		destroyed_error(e, key_id);
	require_privilege(e, use);
	e = entry_for(key_id, true);
	if (e->state == STATE_ABSENT)
		return NULL;
	if (e->state == STATE_DESTROYED)
		destroyed_error(e, key_id);
	if (!e->loaded)
		elog(ERROR, "encrypted_column: stored key \"%s\" was not unwrapped", e->name);
	return e;
}

/* The error for a key name whose versions went away during a lookup. */
static void
no_such_name(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("no stored key is named \"%s\"", name)));
}

/* The current version of a stored key, to encrypt new values with. */
const ec_key *
ec_store_current(const char *name)
{
	stored_entry *e;
	uint8_t		id[EC_KEY_ID_LEN];

	reset_if_due();
	load_versions(name);
	memcpy(id, versions_ids[0], EC_KEY_ID_LEN);
	e = usable_entry(id, USE_ENCRYPT);
	if (e == NULL)
		no_such_name(name);
	return &e->key;
}

/* The live versions of a stored key, newest first, to compare with. */
int
ec_store_versions(const char *name, const ec_key **keys, int max)
{
	int			n;
	uint8_t		ids[EC_MAX_KEY_VERSIONS][EC_KEY_ID_LEN];

	reset_if_due();
	n = Min(load_versions(name), max);

	/* loading an entry may read the table again: work from a copy */
	memcpy(ids, versions_ids, sizeof(ids));
	for (int i = 0; i < n; i++)
	{
		stored_entry *e = usable_entry(ids[i], USE_COMPARE);

		if (e == NULL)
			no_such_name(name);
		keys[i] = &e->key;
	}
	return n;
}

/*
 * The stored key with this key id, if the table has it alive and the
 * role may use it: to decrypt (decrypt), or to compare.  0 or 1 keys:
 * the key table's key ids are unique.
 */
int
ec_store_find(const uint8_t *key_id, bool decrypt, const ec_key **keys, int max)
{
	stored_entry *e;
	uint64		found_at;
	uint64		found_priv_at;

	if (max < 1 || !ec_store_in_use())
		return 0;
	reset_if_due();

	/* a scan opens value after value under one key: the last answer */
	if (last_found != NULL && last_generation == generation &&
		last_priv_generation == priv_generation &&
		last_role == GetUserId() && last_decrypt == decrypt &&
		memcmp(last_found->key_id, key_id, EC_KEY_ID_LEN) == 0)
	{
		keys[0] = &last_found->key;
		return 1;
	}
	last_found = NULL;

	locate();
	if (!OidIsValid(store_relid))
		return 0;
	found_at = generation;
	found_priv_at = priv_generation;
	e = usable_entry(key_id, decrypt ? USE_DECRYPT : USE_COMPARE);
	if (e == NULL)
		return 0;
	keys[0] = &e->key;
	/* remembered only if nothing changed while it was looked up */
	if (generation == found_at && priv_generation == found_priv_at &&
		e->checked_at == generation)
	{
		last_found = e;
		last_generation = generation;
		last_priv_generation = priv_generation;
		last_role = GetUserId();
		last_decrypt = decrypt;
	}
	return 1;
}

/*
 * With require_stored_keys on: the key of the settings encrypts only if
 * the key table holds it alive, recognised by its check value.
 */
void
ec_store_require_raw(const uint8_t *check, const ec_key *key)
{
	ec_store_spi spi;
	const char *args[1] = {key->id_hex};
	bool		ok = false;

	locate();
	if (OidIsValid(store_relid))
	{
		ec_store_spi_begin(&spi);
		ec_store_query("SELECT key_check FROM %s.stored_keys "
					   "WHERE key_id OPERATOR(pg_catalog.=) $1 "
					   "AND state OPERATOR(pg_catalog.<>) 'destroyed'",
					   true, 1, args);
		if (SPI_processed == 1)
		{
			bytea	   *stored = ec_store_bytea(0, 1);

			ok = stored != NULL && VARSIZE_ANY_EXHDR(stored) == EC_KEY_CHECK_LEN &&
				memcmp(VARDATA_ANY(stored), check, EC_KEY_CHECK_LEN) == 0;
		}
		ec_store_spi_end(&spi);
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("encrypted_column.key (key id %s) is not a stored key", key->id_hex),
				 errdetail("encrypted_column.require_stored_keys is on: only keys in the key table may encrypt."),
				 errhint("Set encrypted_column.key_name to a stored key, or have a key administrator import this key with import_key().")));
}

/* Decode len bytes of hex (exactly 2 * len digits); false if malformed. */
bool
ec_hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		int			hi = ec_hex_digit(hex[2 * i]);
		int			lo = hi < 0 ? -1 : ec_hex_digit(hex[2 * i + 1]);

		if (lo < 0)
			return false;
		out[i] = (uint8_t) ((hi << 4) | lo);
	}
	return true;
}
