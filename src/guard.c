/*
 * guard.c
 *		Catalog facts about the extension's types, and the refusal of DDL
 *		that would make the server store decrypted values on its own.
 *
 * The extension's types are a list of names looked up in the extension's
 * schema (EC_TYPE_NAMES): a type that joins the extension joins the list
 * with one line, and every rule here (COPY redaction in redact.c, the
 * statistics guard below) covers it.
 *
 * PostgreSQL insists on IMMUTABLE expressions for index expressions and
 * predicates, generated columns and partition keys, so decrypt() (STABLE)
 * cannot reach them.  Extended statistics on expressions have no such
 * check: ANALYZE would evaluate decrypt() and keep most common values and
 * histograms of the plaintext in pg_statistic_ext_data.  The object access
 * hook sees every statistics object as it is created (CREATE STATISTICS,
 * and the objects ALTER TABLE rebuilds) and refuses one whose expressions
 * could decrypt.  The hook exists once the library is loaded: preloading
 * it covers every session.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "compat.h"
#include "encrypted_column.h"
#include "redact.h"

/* The extension's types: one line per type. */
static const char *const EC_TYPE_NAMES[] = {
	"encrypted_text",
	"encrypted_text_det",
};

#define EC_NTYPES lengthof(EC_TYPE_NAMES)
#define MAX_TYPE_DEPTH 16


/* The schema the extension lives in, or InvalidOid if it is not created. */
static Oid
extension_namespace(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("encrypted_column"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		nsp = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* Fill types[] with the OIDs of the extension's types; returns how many. */
static int
extension_types(Oid *types)
{
	Oid			nsp = extension_namespace();
	int			n = 0;

	if (!OidIsValid(nsp))
		return 0;
	for (int i = 0; i < (int) EC_NTYPES; i++)
	{
		Oid			t = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum(EC_TYPE_NAMES[i]),
										ObjectIdGetDatum(nsp));

		if (OidIsValid(t))
			types[n++] = t;
	}
	return n;
}

/* Does typid hold one of types[], through domains, arrays, ranges, rows? */
static bool
holds_type(Oid typid, const Oid *types, int ntypes, int depth)
{
	Oid			elem;
	Oid			relid;

	if (depth > MAX_TYPE_DEPTH || !OidIsValid(typid))
		return depth > MAX_TYPE_DEPTH;	/* too deep to tell: assume so */
	typid = getBaseType(typid);
	for (int i = 0; i < ntypes; i++)
		if (typid == types[i])
			return true;
	if (OidIsValid(elem = get_element_type(typid)))
		return holds_type(elem, types, ntypes, depth + 1);
	if (type_is_range(typid))
		return holds_type(get_range_subtype(typid), types, ntypes, depth + 1);
	if (type_is_multirange(typid))
		return holds_type(get_multirange_range(typid), types, ntypes, depth + 1);
	if (OidIsValid(relid = get_typ_typrelid(typid)))
	{
		for (AttrNumber att = 1;; att++)
		{
			HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
											   Int16GetDatum(att));
			Form_pg_attribute form;
			bool		found;

			if (!HeapTupleIsValid(tuple))
				break;
			form = (Form_pg_attribute) GETSTRUCT(tuple);
			found = !form->attisdropped &&
				holds_type(form->atttypid, types, ntypes, depth + 1);
			ReleaseSysCache(tuple);
			if (found)
				return true;
		}
	}
	return false;
}

/*
 * Does a value of this type hold one of the extension's types, looked
 * through domains, arrays, ranges and composite types?
 */
bool
ec_type_holds_encrypted(Oid typid)
{
	Oid			types[EC_NTYPES];
	int			n = extension_types(types);

	return n > 0 && holds_type(typid, types, n, 0);
}

typedef struct DecryptSearch
{
	Oid			extoid;
	Oid			migrate_extoid;	/* encrypted_column_migrate, if created */
	Oid			types[EC_NTYPES];
	int			ntypes;
	Oid			found;			/* the first function that could decrypt */
} DecryptSearch;

/* Is this one of the extension's types' output or send functions? */
static bool
is_type_output(DecryptSearch *s, Oid funcid)
{
	for (int i = 0; i < s->ntypes; i++)
	{
		HeapTuple	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(s->types[i]));
		bool		match = false;

		if (HeapTupleIsValid(tuple))
		{
			Form_pg_type t = (Form_pg_type) GETSTRUCT(tuple);

			match = t->typoutput == funcid || t->typsend == funcid;
			ReleaseSysCache(tuple);
		}
		if (match)
			return true;
	}
	return false;
}

/*
 * check_functions_in_node callback: could this function hand out plaintext?
 * One of the extension's functions whose result is not an encrypted type
 * (decrypt and its kin; the types' output functions give ciphertext), or
 * any other function that takes an encrypted value (it could wrap
 * decrypt()).
 */
static bool
could_decrypt(Oid funcid, void *context)
{
	DecryptSearch *s = (DecryptSearch *) context;
	Oid			extension;
	Oid			rettype;
	Oid		   *argtypes;
	int			nargs;

	rettype = get_func_signature(funcid, &argtypes, &nargs);
	extension = getExtensionOfObject(ProcedureRelationId, funcid);
	if (OidIsValid(extension) && extension == s->migrate_extoid)
		s->found = funcid;		/* the migration readers return plaintext */
	else if (extension == s->extoid)
	{
		if (!holds_type(rettype, s->types, s->ntypes, 0) &&
			!is_type_output(s, funcid))
			s->found = funcid;
	}
	else
	{
		for (int i = 0; i < nargs; i++)
			if (holds_type(argtypes[i], s->types, s->ntypes, 0))
				s->found = funcid;
	}
	pfree(argtypes);
	return OidIsValid(s->found);
}

/* Does some Var below node hold one of the extension's types? */
static bool
var_holds_walker(Node *node, DecryptSearch *s)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return holds_type(exprType(node), s->types, s->ntypes, 0);
	return expression_tree_walker(node, var_holds_walker, (void *) s);
}

/*
 * Does this actual argument hand a function an encrypted value?  Its own
 * type says so, whatever the function declares (anyelement, record); an
 * anonymous record (ROW(c)) is looked into.
 */
static bool
arg_holds_encrypted(Node *arg, DecryptSearch *s)
{
	Oid			type = exprType(arg);

	if (holds_type(type, s->types, s->ntypes, 0))
		return true;
	return get_typtype(type) == TYPTYPE_PSEUDO && var_holds_walker(arg, s);
}

/*
 * A call of a function outside the extension with an encrypted value as
 * an actual argument: a polymorphic wrapper (w(anyelement), w(record))
 * declares no encrypted type and could still call decrypt().
 */
static bool
call_takes_encrypted(Oid funcid, List *args, DecryptSearch *s)
{
	ListCell   *lc;

	if (!OidIsValid(funcid) ||
		getExtensionOfObject(ProcedureRelationId, funcid) == s->extoid)
		return false;
	foreach(lc, args)
		if (arg_holds_encrypted((Node *) lfirst(lc), s))
		{
			s->found = funcid;
			return true;
		}
	return false;
}

/* Walk an expression for a function that could decrypt. */
static bool
decrypt_walker(Node *node, DecryptSearch *s)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, could_decrypt, s))
		return true;
	if (IsA(node, FuncExpr) &&
		call_takes_encrypted(((FuncExpr *) node)->funcid,
							 ((FuncExpr *) node)->args, s))
		return true;
	if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
	{
		OpExpr	   *op = (OpExpr *) node;

		set_opfuncid(op);
		if (call_takes_encrypted(op->opfuncid, op->args, s))
			return true;
	}
	if (IsA(node, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;

		set_sa_opfuncid(op);
		if (call_takes_encrypted(op->opfuncid, op->args, s))
			return true;
	}
	return expression_tree_walker(node, decrypt_walker, (void *) s);
}

/*
 * A statistics object was just created: refuse it if ANALYZE would have
 * to decrypt to compute it.  The new catalog row is read with SnapshotSelf,
 * since the command has not yet made it visible.
 */
static void
check_new_statistics(Oid statoid)
{
	DecryptSearch s;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Node	   *exprs = NULL;

	s.extoid = get_extension_oid("encrypted_column", true);
	s.migrate_extoid = get_extension_oid("encrypted_column_migrate", true);
	if (!OidIsValid(s.extoid) || (s.ntypes = extension_types(s.types)) == 0)
		return;
	s.found = InvalidOid;
	rel = table_open(StatisticExtRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_statistic_ext_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(statoid));
	scan = systable_beginscan(rel, StatisticExtOidIndexId, true, SnapshotSelf,
							  1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_statistic_ext_stxexprs,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			exprs = (Node *) stringToNode(TextDatumGetCString(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (exprs != NULL && decrypt_walker(exprs, &s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("statistics expressions must not decrypt encrypted values"),
				 errdetail("ANALYZE would compute %s() and store the decrypted values in pg_statistic_ext_data, in data files, WAL and standbys.",
						   get_func_name(s.found)),
				 errhint("Create the statistics on the encrypted column itself, or on an expression that does not read encrypted values.")));
}

/*
 * An object was created (object_access_hook, OAT_POST_CREATE): check a
 * statistics object before ANALYZE can fill it.
 */
void
ec_guard_object_created(Oid classId, Oid objectId)
{
	if (classId == StatisticExtRelationId)
		check_new_statistics(objectId);
}
