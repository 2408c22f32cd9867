/*
 * privilege.c
 *		The one privilege that lets a role read plaintext: EXECUTE on the
 *		extension's function read_plaintext().
 *
 * Every function that opens an envelope does so through ec_open_to_text()
 * (seal.c), and that function asks ec_require_plaintext_privilege()
 * first.  A new type or a new overload therefore cannot forget the check,
 * and a recipe needs one GRANT whatever the extension's surface.  The check
 * is made against GetUserId(), the role whose privileges apply at that
 * point (SET ROLE, SECURITY DEFINER, and in a parallel worker the leader's
 * role), as PostgreSQL's own EXECUTE checks are.
 *
 * The answer is cached per backend for a few roles and forgotten whenever
 * pg_proc (a GRANT, REVOKE, ALTER EXTENSION), role membership or a role's
 * attributes (superuser) change, so a value costs one comparison.
 *
 * Databases whose extension is older than 0.3.1 have no read_plaintext();
 * there EXECUTE on each decrypting function, checked by the executor, stays
 * the rule until ALTER EXTENSION encrypted_column UPDATE.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compat.h"
#include "encrypted_column.h"

#define EC_MARKER_NAME		"read_plaintext"
#define EC_PRIV_CACHE_SIZE	4

PG_FUNCTION_INFO_V1(encrypted_column_read_plaintext);

/* Versions released before the privilege existed. */
static const char *const versions_without_marker[] = {"0.1.0", "0.2.0", "0.3.0"};

typedef struct priv_entry
{
	Oid			role;
	bool		allowed;
} priv_entry;

static priv_entry priv_cache[EC_PRIV_CACHE_SIZE];
static int	priv_cache_used = 0;
static int	priv_cache_next = 0;

/*
 * Forget every cached answer: the syscache invalidation callback that the
 * hook table registers for pg_proc, role membership and role attributes.
 */
void
ec_privilege_forget(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	priv_cache_used = 0;
	priv_cache_next = 0;
}

/*
 * The extension's schema and version, from pg_extension; false when
 * encrypted_column is not installed in this database.
 */
static bool
extension_facts(Oid *schema, bool *before_marker)
{
	Oid			ext = get_extension_oid("encrypted_column", true);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(ext))
		return false;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_extension form = (Form_pg_extension) GETSTRUCT(tuple);
		bool		isnull;
		Datum		version = heap_getattr(tuple, Anum_pg_extension_extversion,
										   RelationGetDescr(rel), &isnull);

		*schema = form->extnamespace;
		*before_marker = false;
		if (!isnull)
		{
			char	   *v = TextDatumGetCString(version);

			for (size_t i = 0; i < lengthof(versions_without_marker); i++)
				if (strcmp(v, versions_without_marker[i]) == 0)
					*before_marker = true;
			pfree(v);
		}
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The marker function: read_plaintext() in the extension's schema, and a
 * member of the extension (a function of that name that someone else put
 * there does not count).  InvalidOid when there is none.
 */
static Oid
marker_function(Oid schema)
{
	oidvector  *no_args = buildoidvector(NULL, 0);
	HeapTuple	tuple;
	Oid			marker = InvalidOid;

	tuple = SearchSysCache3(PROCNAMEARGSNSP,
							CStringGetDatum(EC_MARKER_NAME),
							PointerGetDatum(no_args),
							ObjectIdGetDatum(schema));
	if (HeapTupleIsValid(tuple))
	{
		marker = ((Form_pg_proc) GETSTRUCT(tuple))->oid;
		ReleaseSysCache(tuple);
		if (getExtensionOfObject(ProcedureRelationId, marker) !=
			get_extension_oid("encrypted_column", true))
			marker = InvalidOid;
	}
	pfree(no_args);
	return marker;
}

/* Does the role hold the privilege?  Decided from the catalog, uncached. */
static bool
role_may_read(Oid role)
{
	Oid			schema;
	bool		before_marker;
	Oid			marker;

	if (!extension_facts(&schema, &before_marker))
		return false;
	marker = marker_function(schema);
	if (!OidIsValid(marker))
		return before_marker;
	return ec_proc_aclcheck(marker, role, ACL_EXECUTE) == ACLCHECK_OK;
}

/* Does the role hold the privilege?  Cached; see the file header. */
static bool
plaintext_allowed(Oid role)
{
	bool		allowed;

	for (int i = 0; i < priv_cache_used; i++)
		if (priv_cache[i].role == role)
			return priv_cache[i].allowed;

	allowed = role_may_read(role);
	priv_cache[priv_cache_next].role = role;
	priv_cache[priv_cache_next].allowed = allowed;
	priv_cache_next = (priv_cache_next + 1) % EC_PRIV_CACHE_SIZE;
	if (priv_cache_used < EC_PRIV_CACHE_SIZE)
		priv_cache_used++;
	return allowed;
}

/*
 * Raise 42501 unless the current role may read plaintext.  Called before
 * any envelope is opened; the error names the privilege, never a value.
 */
void
ec_require_plaintext_privilege(void)
{
	if (plaintext_allowed(GetUserId()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to read plaintext of encrypted columns"),
			 errdetail("Reading plaintext needs the EXECUTE privilege on the function read_plaintext() of the extension encrypted_column."),
			 errhint("A role that may grant it can run GRANT EXECUTE ON FUNCTION read_plaintext() TO the role that reads.")));
}

/*
 * read_plaintext(): the privilege itself.  Returns whether the current role
 * may read plaintext, which is true whenever the call is allowed at all.
 */
Datum
encrypted_column_read_plaintext(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(plaintext_allowed(GetUserId()));
}
