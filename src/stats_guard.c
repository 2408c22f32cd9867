/*
 * stats_guard.c
 *		Catalog facts about the extension's types, and the refusal of DDL
 *		that would make the server store decrypted values on its own.
 *
 * The extension's types are a list of names looked up in the extension's
 * schema (EC_TYPE_NAMES): a type that joins the extension joins the list
 * with one line, and every rule here (COPY redaction in redact.c, the
 * statistics guard below) covers it.
 *
 * Extended statistics on expressions make ANALYZE evaluate them and keep
 * most common values and histograms of the results in
 * pg_statistic_ext_data; an index stores the results of its expressions
 * in its pages, where an index-only scan hands them back without a key.
 * PostgreSQL's demand for IMMUTABLE index expressions keeps decrypt()
 * (STABLE) out, but not a function its owner declares IMMUTABLE.  And a
 * function need not take an encrypted value to decrypt: f(id) may select
 * decrypt(c) by primary key, from any table.  What a function's body can
 * reach is not decidable from its call, so the rule is an allow-list:
 * while the extension exists in the database, an expression of a
 * statistics object, or an index's expression or predicate, may call
 * only functions created with the database system (OIDs below
 * FirstNormalObjectId, bodies fixed by the server's own catalog) except
 * the few of those that run a query given as text or read a table or view
 * by name (query_to_xml and its kin, ts_stat, ts_rewrite), and the
 * extension's functions that return an encrypted value or ciphertext text.
 * Any other function, in any language, is refused by OID, whatever its
 * name.  The object access hook sees every statistics object and index as
 * it is created (CREATE STATISTICS, CREATE INDEX, constraints, and what
 * ALTER TABLE rebuilds), before an index is built.  The hook exists once
 * the library is loaded: preloading it covers every session.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
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
#include "store.h"

/* The extension's types: one line per type. */
static const char *const EC_TYPE_NAMES[] = {
	"encrypted_text",
	"encrypted_text_det",
	"encrypted_bigint",
	"encrypted_numeric",
	"encrypted_date",
	"encrypted_timestamptz",
	"encrypted_jsonb",
	"encrypted_bytea",
};

#define EC_NTYPES lengthof(EC_TYPE_NAMES)
#define MAX_TYPE_DEPTH 16


/* The schema the extension lives in, or InvalidOid if it is not created. */
static Oid
extension_namespace(void)
{
	Oid			ext = get_extension_oid("encrypted_column", true);

	return OidIsValid(ext) ? ec_extension_schema(ext) : InvalidOid;
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
	bool		index;			/* an index's expressions: IMMUTABLE only */
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
 * Is this a function of the database system whose body cannot run a query
 * chosen by its caller?  Functions made by initdb have OIDs below
 * FirstNormalObjectId; among them, these run SQL text or read a named
 * table or view (a view can select decrypt()).
 */
static bool
is_builtin_without_query(Oid funcid)
{
	static const Oid runs_query[] = {
		F_QUERY_TO_XML, F_QUERY_TO_XMLSCHEMA, F_QUERY_TO_XML_AND_XMLSCHEMA,
		F_CURSOR_TO_XML, F_CURSOR_TO_XMLSCHEMA,
		F_TABLE_TO_XML, F_TABLE_TO_XMLSCHEMA, F_TABLE_TO_XML_AND_XMLSCHEMA,
		F_SCHEMA_TO_XML, F_SCHEMA_TO_XMLSCHEMA, F_SCHEMA_TO_XML_AND_XMLSCHEMA,
		F_DATABASE_TO_XML, F_DATABASE_TO_XMLSCHEMA,
		F_DATABASE_TO_XML_AND_XMLSCHEMA,
		F_TS_STAT_TEXT, F_TS_STAT_TEXT_TEXT, F_TS_REWRITE_TSQUERY_TEXT,
	};

	if (funcid >= FirstNormalObjectId)
		return false;
	for (int i = 0; i < (int) lengthof(runs_query); i++)
		if (funcid == runs_query[i])
			return false;
	return true;
}

/*
 * check_functions_in_node callback: could this function hand out plaintext?
 * One of the extension's functions whose result is not an encrypted type
 * (decrypt and its kin; the types' output functions give ciphertext), a
 * built-in function that runs a query, or any function that is neither
 * built in nor the extension's: its body could reach decrypt() (a wrapper,
 * or a lookup by key in another table).
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
		/*
		 * In an index, PostgreSQL admits only IMMUTABLE functions, and the
		 * extension's IMMUTABLE functions (key_id, the comparisons) read no
		 * key: everything that decrypts reads the key and is STABLE.
		 */
		if (!holds_type(rettype, s->types, s->ntypes, 0) &&
			!is_type_output(s, funcid) &&
			!(s->index && func_volatile(funcid) == PROVOLATILE_IMMUTABLE))
			s->found = funcid;
	}
	else if (!is_builtin_without_query(funcid))
		s->found = funcid;
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

/* Set up a search for decrypting functions; false if the extension is absent. */
static bool
decrypt_search_init(DecryptSearch *s, bool index)
{
	s->index = index;
	s->extoid = get_extension_oid("encrypted_column", true);
	s->migrate_extoid = get_extension_oid("encrypted_column_migrate", true);
	s->found = InvalidOid;
	return OidIsValid(s->extoid) && (s->ntypes = extension_types(s->types)) > 0;
}

/*
 * A copy of the catalog row whose OID column oidatt is objoid, found
 * through index indexoid, and of the catalog's tuple descriptor; read with
 * SnapshotSelf, since the command that made the row has not yet made it
 * visible.  NULL if there is none.
 */
static HeapTuple
new_row(Oid catalog, Oid indexoid, AttrNumber oidatt, Oid objoid,
		TupleDesc *desc)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	HeapTuple	copy = NULL;

	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, oidatt, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(objoid));
	scan = systable_beginscan(rel, indexoid, true, SnapshotSelf, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		copy = heap_copytuple(tuple);
	*desc = CreateTupleDescCopy(RelationGetDescr(rel));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return copy;
}

/*
 * The expression trees in text columns of a new catalog row (see
 * new_row), all of the named columns as one list.
 */
static List *
new_row_expressions(Oid catalog, Oid indexoid, AttrNumber oidatt, Oid objoid,
					const AttrNumber *exprcols, int ncols)
{
	TupleDesc	desc;
	HeapTuple	tuple = new_row(catalog, indexoid, oidatt, objoid, &desc);
	List	   *exprs = NIL;

	for (int i = 0; tuple != NULL && i < ncols; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, exprcols[i], desc, &isnull);

		if (!isnull)
			exprs = lappend(exprs, stringToNode(TextDatumGetCString(d)));
	}
	return exprs;
}

/*
 * Does this operator class order by plaintext: is its comparison (support
 * function 1) one of the extension's that decrypts?  The extension's
 * functions that read no key are IMMUTABLE (see could_decrypt); the typed
 * types' default btree classes compare by decrypting, for ORDER BY, and
 * an index of one would keep the plaintext order in its pages.
 */
static bool
opclass_decrypts(Oid opclass, Oid extoid)
{
	HeapTuple	tuple = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
	Form_pg_opclass form;
	Oid			proc;

	if (!HeapTupleIsValid(tuple))
		return false;
	form = (Form_pg_opclass) GETSTRUCT(tuple);
	proc = get_opfamily_proc(form->opcfamily, form->opcintype,
							 form->opcintype, 1);
	ReleaseSysCache(tuple);
	return OidIsValid(proc) &&
		getExtensionOfObject(ProcedureRelationId, proc) == extoid &&
		func_volatile(proc) != PROVOLATILE_IMMUTABLE;
}

/*
 * Does this operator class index search terms (encrypted_trigram_ops, a
 * range_ops class)?  Its key function reads them: the btree comparison or
 * GIN's extractValue.
 */
static bool
opclass_reads_terms(Oid opclass, Oid extoid)
{
	HeapTuple	tuple = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
	Form_pg_opclass form;
	Oid			proc;
	char	   *symbol;

	if (!HeapTupleIsValid(tuple))
		return false;
	form = (Form_pg_opclass) GETSTRUCT(tuple);
	proc = get_opfamily_proc(form->opcfamily, form->opcintype, form->opcintype,
							 form->opcmethod == GIN_AM_OID ? 2 : 1);
	ReleaseSysCache(tuple);
	if (!OidIsValid(proc) || getExtensionOfObject(ProcedureRelationId, proc) != extoid)
		return false;
	symbol = ec_c_symbol(proc);
	return symbol != NULL && (strcmp(symbol, "encrypted_range_cmp") == 0 ||
							  strcmp(symbol, "encrypted_trigram_extract_value") == 0);
}

/*
 * A type's name without its schema, for messages (index builds run with
 * a search_path of pg_catalog only, where format_type_be qualifies it).
 */
static char *
type_name(Oid typid)
{
	HeapTuple	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	char	   *name;

	if (!HeapTupleIsValid(tuple))
		return pstrdup("?");
	name = pstrdup(NameStr(((Form_pg_type) GETSTRUCT(tuple))->typname));
	ReleaseSysCache(tuple);
	return name;
}

/* An operator class's name, for messages. */
static char *
opclass_name(Oid opclass)
{
	HeapTuple	tuple = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
	char	   *name;

	if (!HeapTupleIsValid(tuple))
		return pstrdup("?");
	name = pstrdup(NameStr(((Form_pg_opclass) GETSTRUCT(tuple))->opcname));
	ReleaseSysCache(tuple);
	return name;
}

/* Does sorting or grouping values of this type decrypt (its default btree class)? */
static bool
type_sorts_by_plaintext(Oid typid, Oid extoid)
{
	Oid			opclass = GetDefaultOpClass(getBaseType(typid), BTREE_AM_OID);

	return OidIsValid(opclass) && opclass_decrypts(opclass, extoid);
}

/*
 * A vector column of a new catalog row (see new_row): the columns of a
 * statistics object, the operator classes or keys of an index; NULL if it
 * is null.  *relid receives the row's relation column relcol.
 */
static Datum
new_row_vector(Oid catalog, Oid indexoid, AttrNumber oidatt, Oid objoid,
			   AttrNumber vectcol, Oid *relid, AttrNumber relcol)
{
	TupleDesc	desc;
	HeapTuple	tuple = new_row(catalog, indexoid, oidatt, objoid, &desc);
	bool		isnull;
	Datum		d;

	if (tuple == NULL)
		return (Datum) 0;
	if (relid != NULL)
		*relid = DatumGetObjectId(heap_getattr(tuple, relcol, desc, &isnull));
	d = heap_getattr(tuple, vectcol, desc, &isnull);
	return isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
}

/*
 * A statistics object was just created: refuse it if ANALYZE would have
 * to decrypt to compute it.
 */
static void
check_new_statistics(Oid statoid)
{
	static const AttrNumber cols[] = {Anum_pg_statistic_ext_stxexprs};
	DecryptSearch s;
	List	   *exprs;

	if (!decrypt_search_init(&s, false))
		return;
	exprs = new_row_expressions(StatisticExtRelationId, StatisticExtOidIndexId,
								Anum_pg_statistic_ext_oid, statoid,
								cols, lengthof(cols));
	{
		Oid			relid = InvalidOid;
		Datum		keys = new_row_vector(StatisticExtRelationId,
										  StatisticExtOidIndexId,
										  Anum_pg_statistic_ext_oid, statoid,
										  Anum_pg_statistic_ext_stxkeys,
										  &relid, Anum_pg_statistic_ext_stxrelid);
		int2vector *cols = (int2vector *) DatumGetPointer(keys);

		for (int i = 0; cols != NULL && i < cols->dim1; i++)
			if (type_sorts_by_plaintext(get_atttype(relid, cols->values[i]), s.extoid))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("statistics objects must not include column \"%s\"",
								get_attname(relid, cols->values[i], false)),
						 errdetail("Its type compares by decrypting: ANALYZE would need a key and would keep counts of distinct plaintexts.")));
	}
	if (exprs != NIL && decrypt_walker((Node *) exprs, &s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("statistics expressions must not decrypt encrypted values"),
				 errdetail("ANALYZE would compute %s() and store the decrypted values in pg_statistic_ext_data, in data files, WAL and standbys.",
						   get_func_name(s.found)),
				 errhint("Create the statistics on the encrypted column itself, or on an expression of built-in functions only: while encrypted_column is installed, a function that is not built in could decrypt in its body.")));
}

/*
 * A relation was just created: if it is an index (it has a pg_index row,
 * read with SnapshotSelf since the syscache cannot see it yet), refuse it
 * before it is built if its expressions or predicate could decrypt.  The
 * index's pages would keep the results, and an index-only scan returns
 * them without a key.
 */
static void
check_new_index(Oid indexoid)
{
	static const AttrNumber cols[] = {Anum_pg_index_indexprs, Anum_pg_index_indpred};
	DecryptSearch s;
	List	   *exprs;

	if (!decrypt_search_init(&s, true))
		return;
	exprs = new_row_expressions(IndexRelationId, IndexRelidIndexId,
								Anum_pg_index_indexrelid, indexoid,
								cols, lengthof(cols));
	{
		Datum		classes = new_row_vector(IndexRelationId, IndexRelidIndexId,
											 Anum_pg_index_indexrelid, indexoid,
											 Anum_pg_index_indclass, NULL, 0);
		oidvector  *opclasses = (oidvector *) DatumGetPointer(classes);

		Oid			relid = InvalidOid;
		Datum		keyvec = new_row_vector(IndexRelationId, IndexRelidIndexId,
											Anum_pg_index_indexrelid, indexoid,
											Anum_pg_index_indkey, &relid,
											Anum_pg_index_indrelid);
		int2vector *keys = (int2vector *) DatumGetPointer(keyvec);

		for (int i = 0; opclasses != NULL && keys != NULL && i < opclasses->dim1 &&
			 i < keys->dim1; i++)
		{
			Oid			atttype;
			int32		typmod = -1;
			Oid			collation;

			if (keys->values[i] > 0)
				get_atttypetypmodcoll(relid, keys->values[i], &atttype, &typmod,
									  &collation);
			if (keys->values[i] > 0 && typmod < 0 &&
				opclass_reads_terms(opclasses->values[i], s.extoid))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("column \"%s\" carries no search terms for operator class %s",
								get_attname(relid, keys->values[i], false),
								opclass_name(opclasses->values[i])),
						 errhint("Declare the column with a type modifier first, as in ALTER TABLE ... ALTER COLUMN ... TYPE encrypted_text(trigram) or encrypted_date(range, 7).")));
		}
		for (int i = 0; opclasses != NULL && i < opclasses->dim1; i++)
			if (opclass_decrypts(opclasses->values[i], s.extoid))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("operator class %s orders by plaintext and cannot be used in an index",
								opclass_name(opclasses->values[i])),
						 errdetail("Its comparison decrypts: every insert would need a key, and the index pages would keep the plaintext order."),
						 errhint("Index the column with the operator class %s_range_ops, after declaring it with a (range, width) type modifier.",
								 type_name(get_opclass_input_type(opclasses->values[i])))));
	}
	if (exprs != NIL && decrypt_walker((Node *) exprs, &s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("index expressions and predicates must not decrypt encrypted values"),
				 errdetail("Every build of the index and every insert would compute %s() and could store decrypted values in the index, in data files, WAL and standbys.",
						   get_func_name(s.found)),
				 errhint("Index the encrypted column itself, or an expression of built-in functions only: while encrypted_column is installed, a function that is not built in could decrypt in its body.")));
}

/*
 * An object was created (object_access_hook, OAT_POST_CREATE): check a
 * statistics object before ANALYZE can fill it, and an index before it is
 * built.  subId is nonzero for a column added to a relation.
 */
void
ec_guard_object_created(Oid classId, Oid objectId, int subId)
{
	if (classId == StatisticExtRelationId)
		check_new_statistics(objectId);
	else if (classId == RelationRelationId && subId == 0)
		check_new_index(objectId);
}
