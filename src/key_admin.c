/*
 * key_admin.c
 *		The SQL functions that manage stored keys: create_key, import_key,
 *		rotate_key, rotate_kek, destroy_key, grant_key, revoke_key,
 *		key_usage, and the key table's trigger.
 *
 * The functions write the key table through SPI as its owner (store.h);
 * who may call them is EXECUTE, revoked from PUBLIC by the install script.
 * rotate_kek to a server-side source is for superusers only, since the
 * source names a file or a command of the server.  A data key exists in
 * this backend only between its making (or unwrapping) and its wrapping,
 * and is wiped on every path.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "commands/trigger.h"

#include "encrypted_column.h"
#include "kek.h"
#include "store.h"

PG_FUNCTION_INFO_V1(encrypted_column_create_key);
PG_FUNCTION_INFO_V1(encrypted_column_import_key);
PG_FUNCTION_INFO_V1(encrypted_column_rotate_key);
PG_FUNCTION_INFO_V1(encrypted_column_rotate_kek);
PG_FUNCTION_INFO_V1(encrypted_column_destroy_key);
PG_FUNCTION_INFO_V1(encrypted_column_grant_key);
PG_FUNCTION_INFO_V1(encrypted_column_revoke_key);
PG_FUNCTION_INFO_V1(encrypted_column_key_usage);
PG_FUNCTION_INFO_V1(encrypted_column_stored_keys_changed);

/*
 * The rows of a key name (NULL: of every name) changed in this
 * transaction: tell the layer that keeps copies of the key table
 * elsewhere (the seam; nothing answers on a single server).
 */
static void
changed(const char *name)
{
	if (ec_stored_keys_changed)
		ec_stored_keys_changed(name);
}

/* A key name: 1 to NAMEDATALEN - 1 bytes, no control characters. */
static char *
key_name_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(n));

	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a key name must be 1 to %d bytes long", NAMEDATALEN - 1)));
	for (const char *p = name; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a key name cannot hold control characters")));
	return name;
}

/* The version of a key name's newest row, 0 when there is none. */
static int
newest_version(const char *name, bool *alive)
{
	const char *args[1] = {name};

	ec_store_query("SELECT version, state FROM %s.stored_keys "
				   "WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY version DESC LIMIT 1",
				   false, 1, args);
	if (SPI_processed == 0)
	{
		*alive = false;
		return 0;
	}
	*alive = strcmp(ec_store_text(0, 2), "destroyed") != 0;
	return pg_strtoint32(ec_store_text(0, 1));
}

/*
 * Store a data key as the new current version of name (version 1 when the
 * name is new): wrapped under the configured KEK, with its key id and
 * check value.  Returns the key id; false in *taken when another stored
 * key already has this key id (the caller may draw another key).
 */
static char *
store_key(const char *name, int version, const uint8_t *dk, bool *taken)
{
	ec_kek	   *kek = ec_kek_current();
	uint8_t		id[EC_KEY_ID_LEN];
	uint8_t		check[EC_KEY_CHECK_LEN];
	uint8_t		wrapped[EC_WRAPPED_LEN];
	/* in the caller's context: it outlives the SPI connection */
	char	   *id_hex = SPI_palloc(EC_KEY_ID_HEX_LEN + 1);
	char		version_text[16];
	const char *args[6];
	char	   *wrapped_hex;
	char	   *check_hex;

	if (!ec_key_id_of(dk, id) || !ec_key_check_value(dk, check))
		ec_crypto_failed("derive the key id");
	ec_hex_encode(id, EC_KEY_ID_LEN, id_hex);

	args[0] = id_hex;
	ec_store_query("SELECT name, version FROM %s.stored_keys "
				   "WHERE key_id OPERATOR(pg_catalog.=) $1", false, 1, args);
	if (SPI_processed > 0)
	{
		*taken = true;
		return id_hex;
	}
	*taken = false;

	ec_kek_wrap(kek, dk, wrapped);
	wrapped_hex = palloc(2 * EC_WRAPPED_LEN + 1);
	ec_hex_encode(wrapped, EC_WRAPPED_LEN, wrapped_hex);
	check_hex = palloc(2 * EC_KEY_CHECK_LEN + 1);
	ec_hex_encode(check, EC_KEY_CHECK_LEN, check_hex);
	snprintf(version_text, sizeof(version_text), "%d", version);

	args[0] = name;
	ec_store_query("UPDATE %s.stored_keys SET state = 'previous' "
				   "WHERE name OPERATOR(pg_catalog.=) $1 "
				   "AND state OPERATOR(pg_catalog.=) 'current'", false, 1, args);
	args[0] = name;
	args[1] = version_text;
	args[2] = id_hex;
	args[3] = ec_kek_id(kek);
	args[4] = wrapped_hex;
	args[5] = check_hex;
	ec_store_query("INSERT INTO %s.stored_keys "
				   "(name, version, key_id, kek_id, state, wrapped, key_check) "
				   "VALUES ($1, $2::pg_catalog.int4, $3, $4, 'current', "
				   "pg_catalog.decode($5, 'hex'), pg_catalog.decode($6, 'hex'))",
				   false, 6, args);
	return id_hex;
}

/* Draw random data keys into dk until one has a key id no stored key has. */
static pg_noinline char *
draw_and_store(const char *name, int version, uint8_t *dk)
{
	char	   *id_hex = NULL;
	bool		taken = true;

	for (int attempt = 0; attempt < 8 && taken; attempt++)
	{
		if (ec_random_key(dk, EC_DATA_KEY_LEN) != EC_CRYPTO_OK)
			ec_crypto_failed("draw a random data key");
		id_hex = store_key(name, version, dk, &taken);
	}
	if (taken)
		elog(ERROR, "could not draw a data key with a free key id");
	return id_hex;
}

/* A new random data key as the new current version of name. */
static char *
store_new_random_key(const char *name, int version)
{
	uint8_t		dk[EC_DATA_KEY_LEN];
	char	   *volatile id_hex = NULL;

	PG_TRY();
	{
		id_hex = draw_and_store(name, version, dk);
	}
	PG_CATCH();
	{
		ec_wipe(dk, sizeof(dk));
		PG_RE_THROW();
	}
	PG_END_TRY();
	ec_wipe(dk, sizeof(dk));
	return id_hex;
}

/* create_key(name): a new random data key under a new name. */
Datum
encrypted_column_create_key(PG_FUNCTION_ARGS)
{
	char	   *name = key_name_arg(fcinfo, 0);
	ec_store_spi spi;
	char	   *id_hex;
	bool		alive;

	ec_store_spi_begin(&spi);
	if (newest_version(name, &alive) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("stored key \"%s\" already exists", name),
				 errhint("rotate_key('%s') makes a new version of it.", name)));
	id_hex = store_new_random_key(name, 1);
	ec_store_spi_end(&spi);
	changed(name);
	PG_RETURN_TEXT_P(cstring_to_text(id_hex));
}

/*
 * import_key(name [, key_hex]): store a key of the settings (0.3.0's raw
 * keys), so that its values are read with stored keys and need no
 * rewrite.  Without key_hex, the session's encrypted_column.key, which
 * keeps the key out of the statement text.  An existing name gets the key
 * as its new current version: import older keys first.
 */
Datum
encrypted_column_import_key(PG_FUNCTION_ARGS)
{
	char	   *name = key_name_arg(fcinfo, 0);
	char	   *hex;
	uint8_t		dk[EC_DATA_KEY_LEN];
	ec_store_spi spi;
	char	   *volatile id_hex = NULL;

	if (PG_NARGS() > 1)
		hex = text_to_cstring(PG_GETARG_TEXT_PP(1));
	else
		hex = pstrdup(ec_key_guc ? ec_key_guc : "");
	if (!ec_parse_key_hex(hex, strlen(hex), dk))
	{
		ec_wipe(hex, strlen(hex));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(PG_NARGS() > 1 ? "the key to import must be 64 hexadecimal digits" :
						"encrypted_column.key is not set"),
				 errhint("import_key(name) imports the session's encrypted_column.key.")));
	}
	ec_wipe(hex, strlen(hex));

	PG_TRY();
	{
		bool		alive;
		bool		taken;
		int			version;

		ec_store_spi_begin(&spi);
		version = newest_version(name, &alive);
		if (version > 0 && !alive)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("stored key \"%s\" was destroyed", name)));
		id_hex = store_key(name, version + 1, dk, &taken);
		if (taken)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("a stored key already has key id %s", id_hex),
					 errdetail("The key is stored already, or shares its key id with another stored key.")));
		ec_store_spi_end(&spi);
	}
	PG_FINALLY();
	{
		ec_wipe(dk, sizeof(dk));
	}
	PG_END_TRY();
	changed(name);
	PG_RETURN_TEXT_P(cstring_to_text(id_hex));
}

/* rotate_key(name): a new current version; older versions decrypt only. */
Datum
encrypted_column_rotate_key(PG_FUNCTION_ARGS)
{
	char	   *name = key_name_arg(fcinfo, 0);
	ec_store_spi spi;
	char	   *id_hex;
	bool		alive;
	int			version;

	ec_store_spi_begin(&spi);
	version = newest_version(name, &alive);
	if (version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no stored key is named \"%s\"", name)));
	if (!alive)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stored key \"%s\" was destroyed", name)));
	id_hex = store_new_random_key(name, version + 1);
	ec_store_spi_end(&spi);
	changed(name);
	PG_RETURN_TEXT_P(cstring_to_text(id_hex));
}

/* One row of rotate_kek's work, copied out of SPI's result. */
typedef struct rewrap_row
{
	char	   *name;
	int32		version;
	char	   *key_id;
	char	   *kek_id;
	bytea	   *wrapped;
	bytea	   *check;
} rewrap_row;

/*
 * Unwrap one stored key with the configured KEK and wrap it with the new
 * one; the key must be the one its row names.
 */
static void
rewrap(ec_kek *from, ec_kek *to, rewrap_row *row, uint8_t *out)
{
	uint8_t		dk[EC_DATA_KEY_LEN];
	uint8_t		check[EC_KEY_CHECK_LEN];
	bool		ok;

	if (!ec_kek_unwrap(from, (const uint8_t *) VARDATA_ANY(row->wrapped),
					   VARSIZE_ANY_EXHDR(row->wrapped), dk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not unwrap stored key \"%s\" version %d",
						row->name, row->version),
				 errdetail("The key-encryption key of encrypted_column.kek_source has kek id %s; the key was wrapped under kek id %s.",
						   ec_kek_id(from), row->kek_id ? row->kek_id : "(unknown)")));
	ok = ec_key_check_value(dk, check) && row->check != NULL &&
		VARSIZE_ANY_EXHDR(row->check) == EC_KEY_CHECK_LEN &&
		memcmp(check, VARDATA_ANY(row->check), EC_KEY_CHECK_LEN) == 0;
	ec_wipe(check, sizeof(check));
	if (ok)
	{
		PG_TRY();
		{
			ec_kek_wrap(to, dk, out);
		}
		PG_FINALLY();
		{
			ec_wipe(dk, sizeof(dk));
		}
		PG_END_TRY();
		return;
	}
	ec_wipe(dk, sizeof(dk));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored key \"%s\" version %d does not match its check value",
					row->name, row->version)));
}

/*
 * rotate_kek(new_source): re-wrap every stored data key from the
 * configured KEK to the new source's, in this transaction.  No user table
 * is touched.  Keys already wrapped under the new KEK are left alone, so
 * an interrupted rotation can be run again.  With new_source 'session'
 * the new KEK is encrypted_column.new_kek.
 */
Datum
encrypted_column_rotate_kek(PG_FUNCTION_ARGS)
{
	char	   *new_source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *kind = ec_kek_source_kind(new_source);
	const char *current_kind = ec_kek_source_kind(ec_kek_source_guc);
	ec_kek	   *from;
	ec_kek	   *volatile to = NULL;
	ec_store_spi spi;
	int			count = 0;

	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the new key-encryption key source names no known source"),
				 errhint("Use file:PATH, command:CMD, pkcs11:URI, kmip://HOST:PORT/ID?... or session.")));
	if (strcmp(kind, "session") != 0 && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may rotate to a server-side key-encryption key source"),
				 errdetail("The source names a file or a command of the database server.")));
	/*
	 * Away from a server-side KEK: the keys would leave the care of the
	 * HSM or KMS for a KEK that the caller holds.
	 */
	if ((current_kind == NULL || strcmp(current_kind, "session") != 0) &&
		!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may rotate away from a server-side key-encryption key source")));

	from = ec_kek_current();
	PG_TRY();
	{
		rewrap_row *rows;
		uint64		n;
		SPIPlanPtr	update;
		Oid			types[3] = {TEXTOID, BYTEAOID, TEXTOID};

		to = ec_kek_open(new_source, ec_new_kek_guc, "encrypted_column.new_kek");
		ec_store_spi_begin(&spi);
		ec_store_query("SELECT name, version, key_id, kek_id, wrapped, key_check "
					   "FROM %s.stored_keys WHERE wrapped IS NOT NULL "
					   "ORDER BY name, version FOR UPDATE", false, 0, NULL);
		n = SPI_processed;
		rows = palloc(sizeof(rewrap_row) * Max(n, 1));
		for (uint64 i = 0; i < n; i++)
		{
			rows[i].name = ec_store_text(i, 1);
			rows[i].version = pg_strtoint32(ec_store_text(i, 2));
			rows[i].key_id = ec_store_text(i, 3);
			rows[i].kek_id = ec_store_text(i, 4);
			rows[i].wrapped = ec_store_bytea(i, 5);
			rows[i].check = ec_store_bytea(i, 6);
		}
		{
			ec_store_location where;
			char	   *sql;

			ec_store_locate(&where);
			sql = psprintf("UPDATE %s.stored_keys SET kek_id = $1, wrapped = $2 "
						   "WHERE key_id OPERATOR(pg_catalog.=) $3", where.schema);
			update = SPI_prepare(sql, 3, types);
			if (update == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		}
		for (uint64 i = 0; i < n; i++)
		{
			bytea	   *wrapped = palloc(VARHDRSZ + EC_WRAPPED_LEN);
			Datum		values[3];

			if (rows[i].kek_id != NULL && strcmp(rows[i].kek_id, ec_kek_id(to)) == 0)
				continue;
			rewrap(from, to, &rows[i], (uint8_t *) VARDATA(wrapped));
			SET_VARSIZE(wrapped, VARHDRSZ + EC_WRAPPED_LEN);
			values[0] = CStringGetTextDatum(ec_kek_id(to));
			values[1] = PointerGetDatum(wrapped);
			values[2] = CStringGetTextDatum(rows[i].key_id);
			if (SPI_execute_plan(update, values, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update stored key \"%s\"", rows[i].name);
			count++;
		}
		ec_store_spi_end(&spi);
	}
	PG_FINALLY();
	{
		ec_kek_close(to);
	}
	PG_END_TRY();
	changed(NULL);
	PG_RETURN_INT32(count);
}

/*
 * destroy_key(name): crypto-shredding.  Every version's wrapped key and
 * check value are erased from the row, which keeps its key id and name so
 * that a decrypt says what happened.  One row per version destroyed, with
 * what still holds the wrapped key.
 */
Datum
encrypted_column_destroy_key(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = key_name_arg(fcinfo, 0);
	const char *args[1] = {name};
	ec_store_spi spi;
	bool		alive;
	static const char *remains =
		"old row versions of stored_keys until VACUUM FULL; WAL and backups "
		"until the key-encryption key that wrapped it is rotated away and "
		"destroyed in its HSM or KMS";

	InitMaterializedSRF(fcinfo, 0);
	ec_store_spi_begin(&spi);
	if (newest_version(name, &alive) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no stored key is named \"%s\"", name)));
	ec_store_query("UPDATE %s.stored_keys SET wrapped = NULL, key_check = NULL, "
				   "state = 'destroyed', destroyed = pg_catalog.now() "
				   "WHERE name OPERATOR(pg_catalog.=) $1 "
				   "AND state OPERATOR(pg_catalog.<>) 'destroyed' "
				   "RETURNING key_id, version", false, 1, args);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(ec_store_text(i, 1));
		values[1] = Int32GetDatum(pg_strtoint32(ec_store_text(i, 2)));
		values[2] = CStringGetTextDatum(remains);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ec_store_spi_end(&spi);
	changed(name);
	return (Datum) 0;
}

/* 'encrypt', 'decrypt' or 'all' into two flags. */
static void
privilege_arg(FunctionCallInfo fcinfo, int n, bool *encrypt, bool *decrypt)
{
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(n));

	*encrypt = strcmp(what, "encrypt") == 0 || strcmp(what, "all") == 0;
	*decrypt = strcmp(what, "decrypt") == 0 || strcmp(what, "all") == 0;
	if (!*encrypt && !*decrypt)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized key privilege \"%s\"", what),
				 errhint("Use 'encrypt', 'decrypt' or 'all'.")));
}

/* The role argument: a role's OID, or 0 for PUBLIC. */
static Oid
role_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *role = NameStr(*PG_GETARG_NAME(n));

	/* as GRANT's PUBLIC: the exact lower-case word, no role can have it */
	if (strcmp(role, "public") == 0)
		return InvalidOid;
	return get_role_oid(role, false);
}

/* grant_key(name, role [, privilege]) and revoke_key: one function. */
static Datum
change_grant(FunctionCallInfo fcinfo, bool grant)
{
	char	   *name = key_name_arg(fcinfo, 0);
	Oid			role = role_arg(fcinfo, 1);
	bool		encrypt;
	bool		decrypt;
	ec_store_spi spi;
	char		role_text[16];
	const char *args[4];
	bool		alive;

	privilege_arg(fcinfo, 2, &encrypt, &decrypt);
	snprintf(role_text, sizeof(role_text), "%u", role);
	ec_store_spi_begin(&spi);
	if (newest_version(name, &alive) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no stored key is named \"%s\"", name)));
	args[0] = name;
	args[1] = role_text;
	args[2] = encrypt ? "t" : "f";
	args[3] = decrypt ? "t" : "f";
	if (grant)
		ec_store_query("INSERT INTO %s.stored_key_grants AS g "
					   "(name, grantee, may_encrypt, may_decrypt) "
					   "VALUES ($1, $2::pg_catalog.oid, $3::pg_catalog.bool, $4::pg_catalog.bool) "
					   "ON CONFLICT (name, grantee) DO UPDATE SET "
					   "may_encrypt = g.may_encrypt OR excluded.may_encrypt, "
					   "may_decrypt = g.may_decrypt OR excluded.may_decrypt",
					   false, 4, args);
	else
	{
		ec_store_query("UPDATE %s.stored_key_grants SET "
					   "may_encrypt = may_encrypt AND NOT $3::pg_catalog.bool, "
					   "may_decrypt = may_decrypt AND NOT $4::pg_catalog.bool "
					   "WHERE name OPERATOR(pg_catalog.=) $1 "
					   "AND grantee OPERATOR(pg_catalog.=) $2::pg_catalog.oid",
					   false, 4, args);
		ec_store_query("DELETE FROM %s.stored_key_grants "
					   "WHERE name OPERATOR(pg_catalog.=) $1 "
					   "AND NOT may_encrypt AND NOT may_decrypt", false, 1, args);
	}
	ec_store_spi_end(&spi);
	changed(name);
	PG_RETURN_VOID();
}

/* grant_key(name, role, privilege): who may use a stored key. */
Datum
encrypted_column_grant_key(PG_FUNCTION_ARGS)
{
	return change_grant(fcinfo, true);
}

/* revoke_key(name, role, privilege). */
Datum
encrypted_column_revoke_key(PG_FUNCTION_ARGS)
{
	return change_grant(fcinfo, false);
}

/* One (column, key id) count of key_usage. */
typedef struct usage_entry
{
	int16		attnum;			/* hash key, with key_id */
	uint8_t		key_id[EC_KEY_ID_LEN];
	int64		count;
} usage_entry;

/*
 * key_usage(table): how many values of each encrypted column are under
 * each key id, read from the envelopes' first bytes with no key at all.
 * Needs SELECT on the table.  Arrays and composites of the types are not
 * looked into.
 */
Datum
encrypted_column_key_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	Oid			extoid = get_extension_oid("encrypted_column", false);
	Oid			nsp = ec_extension_schema(extoid);
	Oid			gcm_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										   CStringGetDatum("encrypted_text"),
										   ObjectIdGetDatum(nsp));
	Oid			siv_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										   CStringGetDatum("encrypted_text_det"),
										   ObjectIdGetDatum(nsp));
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	TupleTableSlot *slot;
	HTAB	   *counts;
	HASHCTL		ctl;
	HASH_SEQ_STATUS seq;
	usage_entry *u;
	int16		cols[MaxHeapAttributeNumber];
	int			ncols = 0;
	AclResult	acl;

	InitMaterializedSRF(fcinfo, 0);
	acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));

	/* counting every row would tell a role about rows its policies hide */
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("key_usage() cannot count \"%s\": row-level security applies to this role",
						get_rel_name(relid))));
	rel = relation_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or materialized view",
						RelationGetRelationName(rel))));
	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			base;

		if (att->attisdropped)
			continue;
		base = getBaseType(att->atttypid);
		if (base == gcm_type || base == siv_type)
			cols[ncols++] = att->attnum;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = offsetof(usage_entry, count);
	ctl.entrysize = sizeof(usage_entry);
	ctl.hcxt = CurrentMemoryContext;
	counts = hash_create("key_usage", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (ncols > 0)
	{
		scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
		slot = table_slot_create(rel, NULL);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			CHECK_FOR_INTERRUPTS();
			for (int c = 0; c < ncols; c++)
			{
				bool		isnull;
				Datum		d = slot_getattr(slot, cols[c], &isnull);
				struct varlena *head;
				usage_entry key;
				bool		found;

				if (isnull)
					continue;
				head = PG_DETOAST_DATUM_SLICE(d, 0, EC_KEY_ID_LEN + 2);
				memset(&key, 0, sizeof(key));
				key.attnum = cols[c];
				if (VARSIZE_ANY_EXHDR(head) >= EC_KEY_ID_LEN + 2)
					memcpy(key.key_id, (uint8_t *) VARDATA_ANY(head) + 2, EC_KEY_ID_LEN);
				u = hash_search(counts, &key, HASH_ENTER, &found);
				if (!found)
					u->count = 0;
				u->count++;
				if ((Pointer) head != DatumGetPointer(d))
					pfree(head);
			}
		}
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
	}

	/* the key table says whose each key id is; read as its owner */
	if (hash_get_num_entries(counts) > 0)
	{
		ec_store_spi spi;
		ec_store_location where;

		ec_store_spi_begin(&spi);
		ec_store_locate(&where);
		hash_seq_init(&seq, counts);
		while ((u = hash_seq_search(&seq)) != NULL)
		{
			Datum		values[6];
			bool		nulls[6] = {false, false, true, true, true, false};
			char		id_hex[EC_KEY_ID_HEX_LEN + 1];
			const char *args[1] = {id_hex};

			ec_hex_encode(u->key_id, EC_KEY_ID_LEN, id_hex);
			values[0] = DirectFunctionCall1(namein,
											CStringGetDatum(NameStr(TupleDescAttr(desc, u->attnum - 1)->attname)));
			values[1] = CStringGetTextDatum(id_hex);
			ec_store_query("SELECT name, version, state FROM %s.stored_keys "
						   "WHERE key_id OPERATOR(pg_catalog.=) $1", true, 1, args);
			if (SPI_processed == 1)
			{
				values[2] = CStringGetTextDatum(ec_store_text(0, 1));
				values[3] = Int32GetDatum(pg_strtoint32(ec_store_text(0, 2)));
				values[4] = CStringGetTextDatum(ec_store_text(0, 3));
				nulls[2] = nulls[3] = nulls[4] = false;
			}
			values[5] = Int64GetDatum(u->count);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		ec_store_spi_end(&spi);
	}
	relation_close(rel, AccessShareLock);
	return (Datum) 0;
}

/*
 * The key tables' statement trigger: every backend forgets what it read
 * of them when this transaction commits (and this one at once), through
 * a relcache invalidation of the table, which store.c listens for.
 */
Datum
encrypted_column_stored_keys_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stored_keys_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
