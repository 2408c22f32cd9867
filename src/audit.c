/*
 * audit.c
 *		Who used which stored key: encrypt and decrypt counts per database,
 *		role and key id, in shared memory, since the last reset.
 *
 * Only a library in shared_preload_libraries can reserve shared memory, so
 * only then is anything counted; loaded on first use, the extension counts
 * nothing and key_audit() says so in a NOTICE and returns no rows.
 *
 * A use of a stored key costs one increment in a backend-local table (the
 * entry hit last is remembered, since a statement uses one key for many
 * values).  The local counts reach the shared table at the end of each
 * transaction, committed, aborted or prepared alike: a decryption that was
 * rolled back still showed the plaintext.  A parallel worker counts its
 * own values and hands them on at the end of its part of the transaction.
 * The shared table is read and updated under one LWLock taken shared, with
 * a spinlock per entry, as pg_stat_statements does; the lock is taken
 * exclusively only to add an entry or to reset.
 *
 * The shared table holds encrypted_column.audit_max_entries (database,
 * role, key) entries.  Once they are taken, the uses of a new pair are
 * counted in one overflow entry per database (role 0, key id 00000000), so
 * that no use goes uncounted; EC_AUDIT_OVERFLOW_SLOTS more entries are
 * reserved for those.  Should even they run out, uses are counted in one
 * last entry of no database.
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "compat.h"
#include "encrypted_column.h"

PG_FUNCTION_INFO_V1(encrypted_column_key_audit);
PG_FUNCTION_INFO_V1(encrypted_column_key_audit_reset);

/* overflow entries (one per database) beyond audit_max_entries */
#define EC_AUDIT_OVERFLOW_SLOTS 64
#define EC_AUDIT_NAME			"encrypted_column audit"
#define EC_AUDIT_COLUMNS		10

/* What one shared entry counts: a database, a role and a key id. */
typedef struct AuditKey
{
	Oid			dbid;
	Oid			roleid;			/* InvalidOid: the database's overflow entry */
	uint8		key_id[EC_KEY_ID_LEN];
} AuditKey;

/* The counts of one entry. */
typedef struct AuditCounts
{
	int64		encrypts;
	int64		decrypts;
	TimestampTz first_use;
	TimestampTz last_use;
} AuditCounts;

/* One entry of the shared table. */
typedef struct AuditEntry
{
	AuditKey	key;
	slock_t		mutex;			/* guards counts */
	AuditCounts counts;
} AuditEntry;

/* The shared state beside the table. */
typedef struct AuditShared
{
	LWLock	   *lock;			/* guards the table, regular and since */
	int			regular;		/* entries that are not overflow entries */
	TimestampTz since;			/* the last reset, or the server's start */
	AuditEntry	nowhere;		/* when even the overflow slots are taken */
} AuditShared;

/* What one backend counts between two transaction ends. */
typedef struct LocalKey
{
	Oid			roleid;
	uint8		key_id[EC_KEY_ID_LEN];
} LocalKey;

typedef struct LocalEntry
{
	LocalKey	key;
	int64		encrypts;
	int64		decrypts;
	TimestampTz first_use;
} LocalEntry;

static int	audit_max_entries = 10000;

/* NULL unless the library was preloaded: counting is off */
static AuditShared *audit_shared = NULL;
static HTAB *audit_hash = NULL;

static HTAB *local_counts = NULL;
static LocalEntry *last_hit = NULL;

/* The setting that sizes the shared table; defined only when preloaded. */
void
ec_audit_define_gucs(void)
{
	DefineCustomIntVariable("encrypted_column.audit_max_entries",
							"Number of (database, role, stored key) entries that key_audit counts separately.",
							"Beyond it, uses are counted in one overflow entry per database. "
							"Takes effect at server start; needs the library in shared_preload_libraries.",
							&audit_max_entries,
							10000,
							1,
							10000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

/* Bytes of shared memory the table needs, overflow slots included. */
static Size
audit_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(AuditShared)),
					hash_estimate_size(audit_max_entries + EC_AUDIT_OVERFLOW_SLOTS,
									   sizeof(AuditEntry)));
}

/* shmem_request_hook step: reserve the table and its lock. */
void
ec_audit_shmem_request(void)
{
	RequestAddinShmemSpace(audit_shmem_size());
	RequestNamedLWLockTranche(EC_AUDIT_NAME, 1);
}

/* shmem_startup_hook step: make (or, in a backend, find) the table. */
void
ec_audit_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;
	long		size = audit_max_entries + EC_AUDIT_OVERFLOW_SLOTS;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	audit_shared = ShmemInitStruct(EC_AUDIT_NAME, sizeof(AuditShared), &found);
	if (!found)
	{
		memset(audit_shared, 0, sizeof(AuditShared));
		audit_shared->lock = &(GetNamedLWLockTranche(EC_AUDIT_NAME))->lock;
		audit_shared->since = GetCurrentTimestamp();
		SpinLockInit(&audit_shared->nowhere.mutex);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(AuditKey);
	info.entrysize = sizeof(AuditEntry);
	audit_hash = ShmemInitHash(EC_AUDIT_NAME " entries", size, size, &info,
							   HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The local entry of (role, key id), made on its first use in the
 * transaction; the start of the statement stands for the time of first
 * use, so that counting reads no clock.
 */
static LocalEntry *
local_entry(Oid roleid, const uint8_t *key_id)
{
	LocalKey	key;
	LocalEntry *entry;
	bool		found;

	if (local_counts == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(LocalKey);
		info.entrysize = sizeof(LocalEntry);
		info.hcxt = TopMemoryContext;
		local_counts = hash_create("encrypted_column audit (backend)", 16, &info,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.roleid = roleid;
	memcpy(key.key_id, key_id, EC_KEY_ID_LEN);
	entry = hash_search(local_counts, &key, HASH_ENTER, &found);
	if (!found)
	{
		entry->encrypts = 0;
		entry->decrypts = 0;
		entry->first_use = GetCurrentStatementStartTimestamp();
	}
	return entry;
}

/*
 * Count one value encrypted or decrypted with a stored key by the current
 * role: the role whose grant of the key allowed the use (a SECURITY
 * DEFINER function's owner inside it).
 */
void
ec_audit_count(const uint8_t *key_id, bool encrypt)
{
	Oid			roleid;

	if (audit_shared == NULL)
		return;
	roleid = GetUserId();
	if (last_hit == NULL || last_hit->key.roleid != roleid ||
		memcmp(last_hit->key.key_id, key_id, EC_KEY_ID_LEN) != 0)
		last_hit = local_entry(roleid, key_id);
	if (encrypt)
		last_hit->encrypts++;
	else
		last_hit->decrypts++;
}

/*
 * The shared entry for key, made when it is missing (the caller holds the
 * lock exclusively): a regular entry while there is room, else the
 * database's overflow entry, else the entry of no database.
 */
static AuditEntry *
shared_entry_enter(const AuditKey *key)
{
	AuditKey	overflow;
	AuditEntry *entry;
	bool		found;

	entry = hash_search(audit_hash, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;
	if (audit_shared->regular < audit_max_entries)
	{
		entry = hash_search(audit_hash, key, HASH_ENTER_NULL, &found);
		if (entry != NULL)
		{
			audit_shared->regular++;
			SpinLockInit(&entry->mutex);
			memset(&entry->counts, 0, sizeof(AuditCounts));
			return entry;
		}
	}
	memset(&overflow, 0, sizeof(overflow));
	overflow.dbid = key->dbid;
	entry = hash_search(audit_hash, &overflow, HASH_ENTER_NULL, &found);
	if (entry == NULL)
		return &audit_shared->nowhere;
	if (!found)
	{
		SpinLockInit(&entry->mutex);
		memset(&entry->counts, 0, sizeof(AuditCounts));
	}
	return entry;
}

/* Add one local entry's counts to a shared entry, used last at now. */
static void
add_counts(AuditEntry *entry, const LocalEntry *local, TimestampTz now)
{
	SpinLockAcquire(&entry->mutex);
	if ((entry->counts.encrypts == 0 && entry->counts.decrypts == 0) ||
		local->first_use < entry->counts.first_use)
		entry->counts.first_use = local->first_use;
	entry->counts.encrypts += local->encrypts;
	entry->counts.decrypts += local->decrypts;
	entry->counts.last_use = now;
	SpinLockRelease(&entry->mutex);
}

/*
 * Move the local counts whose shared entry exists (or, with create, is
 * made) into it; returns how many local entries are left.  Allocates
 * nothing, so that it can run while a transaction aborts.
 */
static long
flush_pass(bool create, TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	LocalEntry *local;

	hash_seq_init(&seq, local_counts);
	while ((local = hash_seq_search(&seq)) != NULL)
	{
		AuditKey	key;
		AuditEntry *entry;

		memset(&key, 0, sizeof(key));
		key.dbid = MyDatabaseId;
		key.roleid = local->key.roleid;
		memcpy(key.key_id, local->key.key_id, EC_KEY_ID_LEN);
		if (create)
			entry = shared_entry_enter(&key);
		else
			entry = hash_search(audit_hash, &key, HASH_FIND, NULL);
		if (entry == NULL)
			continue;
		if (local->encrypts != 0 || local->decrypts != 0)
			add_counts(entry, local, now);
		/* removing the entry just returned is allowed during a scan */
		hash_search(local_counts, &local->key, HASH_REMOVE, NULL);
	}
	return hash_get_num_entries(local_counts);
}

/*
 * Transaction callback: at every end of a transaction (or of a parallel
 * worker's part of it), hand the local counts to the shared table.
 */
void
ec_audit_xact_callback(XactEvent event, void *arg)
{
	TimestampTz now;

	(void) arg;
	if (local_counts == NULL || hash_get_num_entries(local_counts) == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}
	last_hit = NULL;
	now = GetCurrentTimestamp();
	LWLockAcquire(audit_shared->lock, LW_SHARED);
	if (flush_pass(false, now) == 0)
	{
		LWLockRelease(audit_shared->lock);
		return;
	}
	LWLockRelease(audit_shared->lock);
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	flush_pass(true, now);
	LWLockRelease(audit_shared->lock);
}

/* Say once per call that nothing is counted, and why. */
static void
notice_not_preloaded(void)
{
	ereport(NOTICE,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("encrypted_column does not count key use: the library is not preloaded"),
			 errhint("Add encrypted_column to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* One row of the snapshot that key_audit() returns. */
typedef struct AuditRow
{
	AuditKey	key;
	AuditCounts counts;
} AuditRow;

/*
 * The entries as they are, copied under the lock so that the names are
 * looked up after it is released.  *since gets the last reset.
 */
static AuditRow *
audit_snapshot(int *nrows, TimestampTz *since)
{
	HASH_SEQ_STATUS seq;
	AuditEntry *entry;
	AuditRow   *rows;
	int			n = 0;
	long		max;

	LWLockAcquire(audit_shared->lock, LW_SHARED);
	max = hash_get_num_entries(audit_hash) + 1;
	rows = palloc(sizeof(AuditRow) * max);
	*since = audit_shared->since;
	hash_seq_init(&seq, audit_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		rows[n].key = entry->key;
		SpinLockAcquire(&entry->mutex);
		rows[n].counts = entry->counts;
		SpinLockRelease(&entry->mutex);
		n++;
	}
	SpinLockAcquire(&audit_shared->nowhere.mutex);
	rows[n].counts = audit_shared->nowhere.counts;
	SpinLockRelease(&audit_shared->nowhere.mutex);
	if (rows[n].counts.encrypts != 0 || rows[n].counts.decrypts != 0)
	{
		memset(&rows[n].key, 0, sizeof(AuditKey));
		n++;
	}
	LWLockRelease(audit_shared->lock);
	*nrows = n;
	return rows;
}

/* The name and version of a stored key, by its key id in hex. */
typedef struct KeyName
{
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
	char	   *name;
	int			version;
} KeyName;

/*
 * The names and versions of the stored keys of the current database, by
 * key id, read from stored_keys in the schema of the function fn, which is
 * the extension's, as the calling role: every role may read those columns
 * of the key table (never the wrapped keys).
 */
static HTAB *
stored_key_names(Oid fn)
{
	HASHCTL		info;
	HTAB	   *names;
	MemoryContext outer = CurrentMemoryContext;
	char	   *schema = get_namespace_name(get_func_namespace(fn));

	memset(&info, 0, sizeof(info));
	info.keysize = EC_KEY_ID_HEX_LEN + 1;
	info.entrysize = sizeof(KeyName);
	info.hcxt = outer;
	names = hash_create("encrypted_column stored key names", 64, &info,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	if (schema == NULL)
		return names;

	SPI_connect();
	if (SPI_execute(psprintf("SELECT key_id, name, version FROM %s.stored_keys",
							 quote_identifier(schema)), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the stored keys");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id_hex = SPI_getvalue(tuple, desc, 1);
		char	   *name = SPI_getvalue(tuple, desc, 2);
		char	   *version = SPI_getvalue(tuple, desc, 3);
		KeyName    *entry;
		MemoryContext spi;

		if (id_hex == NULL || name == NULL ||
			strlen(id_hex) != EC_KEY_ID_HEX_LEN)
			continue;
		spi = MemoryContextSwitchTo(outer);
		entry = hash_search(names, id_hex, HASH_ENTER, NULL);
		entry->name = pstrdup(name);
		entry->version = version ? pg_strtoint32(version) : 0;
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return names;
}

/* A name datum: NAMEDATALEN bytes, as the type wants, not a C string. */
static Datum
name_datum(const char *str)
{
	NameData   *name = palloc0(sizeof(NameData));

	namestrcpy(name, str);
	return NameGetDatum(name);
}

/*
 * key_audit(): one row per (database, role, key id) counted since
 * the last reset: database and role names (NULL for the overflow and
 * no-database entries, and for a role or database dropped since), the key
 * id in hex, the name and version of the stored key with that id in the
 * current database (NULL elsewhere), the counts, first and last use, and
 * the time of the last reset.  No rows, and a NOTICE, when the library
 * was not preloaded.
 */
Datum
encrypted_column_key_audit(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AuditRow   *rows;
	TimestampTz since;
	HTAB	   *names;
	int			nrows;

	InitMaterializedSRF(fcinfo, 0);
	if (audit_shared == NULL)
	{
		notice_not_preloaded();
		PG_RETURN_VOID();
	}
	rows = audit_snapshot(&nrows, &since);
	names = stored_key_names(fcinfo->flinfo->fn_oid);
	for (int i = 0; i < nrows; i++)
	{
		Datum		values[EC_AUDIT_COLUMNS];
		bool		nulls[EC_AUDIT_COLUMNS];
		char		id_hex[EC_KEY_ID_HEX_LEN + 1];
		const AuditRow *row = &rows[i];
		char	   *dbname = NULL;
		char	   *rolname = NULL;
		KeyName    *key = NULL;

		memset(nulls, 0, sizeof(nulls));
		if (OidIsValid(row->key.dbid))
			dbname = get_database_name(row->key.dbid);
		if (OidIsValid(row->key.roleid))
			rolname = GetUserNameFromId(row->key.roleid, true);
		ec_hex_encode(row->key.key_id, EC_KEY_ID_LEN, id_hex);
		if (OidIsValid(row->key.roleid) && row->key.dbid == MyDatabaseId)
			key = hash_search(names, id_hex, HASH_FIND, NULL);

		nulls[0] = dbname == NULL;
		values[0] = dbname ? name_datum(dbname) : (Datum) 0;
		nulls[1] = rolname == NULL;
		values[1] = rolname ? name_datum(rolname) : (Datum) 0;
		values[2] = CStringGetTextDatum(id_hex);
		nulls[3] = key == NULL;
		values[3] = key ? CStringGetTextDatum(key->name) : (Datum) 0;
		nulls[4] = key == NULL;
		values[4] = Int32GetDatum(key ? key->version : 0);
		values[5] = Int64GetDatum(row->counts.encrypts);
		values[6] = Int64GetDatum(row->counts.decrypts);
		values[7] = TimestampTzGetDatum(row->counts.first_use);
		values[8] = TimestampTzGetDatum(row->counts.last_use);
		values[9] = TimestampTzGetDatum(since);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/*
 * key_audit_reset(): forget every count, in every database, and start a
 * new period; returns its start (NULL, with a NOTICE, when nothing is
 * counted).
 */
Datum
encrypted_column_key_audit_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	AuditEntry *entry;
	TimestampTz now;

	if (audit_shared == NULL)
	{
		notice_not_preloaded();
		PG_RETURN_NULL();
	}
	now = GetCurrentTimestamp();
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, audit_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(audit_hash, &entry->key, HASH_REMOVE, NULL);
	audit_shared->regular = 0;
	SpinLockAcquire(&audit_shared->nowhere.mutex);
	memset(&audit_shared->nowhere.counts, 0, sizeof(AuditCounts));
	SpinLockRelease(&audit_shared->nowhere.mutex);
	audit_shared->since = now;
	LWLockRelease(audit_shared->lock);
	PG_RETURN_TIMESTAMPTZ(now);
}

