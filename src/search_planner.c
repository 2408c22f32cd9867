/*
 * search_planner.c
 *		The planner's side of range search: index conditions on range
 *		terms for the comparison operators of the typed types, and the
 *		rewrite that lets ORDER BY col LIMIT n walk such an index.
 *
 * A comparison `col < x` (or <=, =, >=, >, BETWEEN, either way round)
 * decrypts; its support function offers the planner a lossy index
 * condition on an index of col with one of the range_ops operator classes:
 * `col ~<=~ range_bound(x, typmod, true)` (and ~>=~ for a lower end), where
 * range_bound() computes the widest bound over the loaded keys when the
 * scan starts, so a prepared plan stays right across key changes.  The
 * comparison stays as the recheck.
 *
 * ORDER BY col [DESC] LIMIT n: range terms are a bucket order per key, so
 * when the session holds exactly one key, ordering by the terms first and
 * by plaintext within equal terms is the plaintext order.  The rewrite
 * puts a sort key on the terms in front (the same column, the range_ops
 * ordering operator); the planner then reads the index in order and sorts
 * each bucket by decrypting (an incremental sort), stopping after n rows.
 * With several keys loaded (during a rotation) terms of different keys do
 * not compare and nothing is rewritten: the query sorts every row.  A
 * plan made either way is remade when the number of keys changes.  The
 * rewrite also adds order_guard(col) to the query's conditions: a row
 * under a key the session does not hold, or a role that may not read
 * plaintext, raises the error that sorting by plaintext would have
 * raised, where the index walk might otherwise never compare that row.
 *
 * INSERT ... SELECT into a column with a type modifier, on a Citus
 * coordinator: the modifier's cast moves into the SELECT (see
 * ec_search_keep_typmod_casts).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_am.h"
#include "catalog/pg_language.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/prep.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compat.h"
#include "encrypted_column.h"

PG_FUNCTION_INFO_V1(encrypted_range_support);

/* The comparison a C function of the extension makes, from its symbol. */
typedef enum comparison
{
	CMP_NONE, CMP_LT, CMP_LE, CMP_EQ, CMP_GE, CMP_GT
} comparison;

/* The C symbol of a C function, or NULL. */
char *
ec_c_symbol(Oid funcid)
{
	HeapTuple	tuple;
	char	   *symbol = NULL;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tuple))
		return NULL;
	if (((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId)
	{
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tuple,
										  Anum_pg_proc_prosrc, &isnull);

		if (!isnull)
			symbol = TextDatumGetCString(src);
	}
	ReleaseSysCache(tuple);
	return symbol;
}

/*
 * The comparison of one of the typed types' operator functions (prefix
 * names its family of C functions), or CMP_NONE.
 */
static comparison
comparison_of(Oid funcid, const char *prefix)
{
	static const char *const names[] = {"", "lt", "le", "eq", "ge", "gt"};
	char	   *symbol = ec_c_symbol(funcid);
	size_t		plen = strlen(prefix);

	if (symbol == NULL || strncmp(symbol, prefix, plen) != 0)
		return CMP_NONE;
	for (int c = CMP_LT; c <= CMP_GT; c++)
		if (strcmp(symbol + plen, names[c]) == 0)
			return (comparison) c;
	return CMP_NONE;
}

/* The comparison seen from the other side: x < col is col > x. */
static comparison
commute(comparison c)
{
	switch (c)
	{
		case CMP_LT:
			return CMP_GT;
		case CMP_LE:
			return CMP_GE;
		case CMP_GE:
			return CMP_LE;
		case CMP_GT:
			return CMP_LT;
		default:
			return c;
	}
}

/*
 * Is opfamily one of the extension's range_ops families for type?  It is
 * when its ~>=~ against bigint is the extension's term comparison.
 */
static Oid
range_operator(Oid opfamily, Oid type, Oid righttype, int strategy,
			   const char *symbol)
{
	Oid			op = get_opfamily_member(opfamily, type, righttype, strategy);
	char	   *actual;

	if (!OidIsValid(op))
		return InvalidOid;
	actual = ec_c_symbol(get_opcode(op));
	return actual != NULL && strcmp(actual, symbol) == 0 ? op : InvalidOid;
}

/* An int4 constant. */
static Node *
int4_const(int32 value)
{
	return (Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(value),
							  false, true);
}

/*
 * range_bound(x, typmod, upper [, n]) of the operator function's
 * extension: the widest bound over the loaded keys without n, else the
 * n-th key's (x NULL for its end).  NULL if the extension has no such
 * function.
 */
static Node *
bound_call(Oid operator_function, Node *value, int32 typmod, bool upper,
		   Node *n)
{
	Oid			argtypes[4] = {ANYELEMENTOID, INT4OID, BOOLOID, INT4OID};
	Oid			fn = ec_extension_function(operator_function, "range_bound",
										   n == NULL ? 3 : 4, argtypes);
	List	   *args;

	if (!OidIsValid(fn))
		return NULL;
	args = list_make3(copyObject(value), int4_const(typmod),
					  makeBoolConst(upper, false));
	if (n != NULL)
		args = lappend(args, copyObject(n));
	return (Node *) makeFuncExpr(fn, INT8OID, args, InvalidOid, InvalidOid,
								 COERCE_EXPLICIT_CALL);
}

/* col op bound, an index clause on the range terms. */
static Expr *
term_clause(Oid op, Node *column, Node *bound)
{
	return make_opclause(op, BOOLOID, false, (Expr *) copyObject(column),
						 (Expr *) bound, InvalidOid, InvalidOid);
}

/* The comparison of a typed types' comparison function, or CMP_NONE. */
static comparison
typed_comparison(Oid funcid)
{
	comparison	cmp = comparison_of(funcid, "encrypted_typed_");

	if (cmp == CMP_NONE)
		cmp = comparison_of(funcid, "encrypted_typed_plain_");
	if (cmp == CMP_NONE)
		cmp = comparison_of(funcid, "encrypted_plain_typed_");
	return cmp;
}

/* The type modifier of a table's column. */
static int32
column_typmod(Oid relid, AttrNumber attno)
{
	Oid			atttype;
	int32		typmod;
	Oid			collation;

	get_atttypetypmodcoll(relid, attno, &atttype, &typmod, &collation);
	return typmod;
}

/*
 * Set by the planner hook for the statement being planned: may the
 * rewrites for a rotation run (not on a Citus node, whose distributed
 * plans take neither shape)?  While they may, a comparison offers no
 * index condition of its own during a rotation: the per-key conditions
 * the rewrite added serve instead (see rewrite_ranges).
 */
static bool rotation_rewrites = false;

/* The index condition for a comparison of a typed value, or NIL. */
static List *
index_condition(SupportRequestIndexCondition *req)
{
	OpExpr	   *clause;
	Node	   *column;
	Node	   *other;
	Oid			type;
	comparison	cmp;
	RangeTblEntry *rte;
	AttrNumber	attno;
	int32		typmod;
	Oid			le_op;
	Oid			ge_op;
	List	   *conds = NIL;
	Node	   *bound;

	if (!is_opclause(req->node) || req->index->relam != BTREE_AM_OID)
		return NIL;
	clause = (OpExpr *) req->node;
	if (list_length(clause->args) != 2)
		return NIL;
	column = list_nth(clause->args, req->indexarg);
	other = list_nth(clause->args, 1 - req->indexarg);
	type = exprType(column);

	cmp = typed_comparison(req->funcid);
	if (cmp == CMP_NONE)
		return NIL;
	if (req->indexarg == 1)
		cmp = commute(cmp);

	le_op = range_operator(req->opfamily, type, INT8OID,
						   BTLessEqualStrategyNumber, "encrypted_range_le_term");
	ge_op = range_operator(req->opfamily, type, INT8OID,
						   BTGreaterEqualStrategyNumber, "encrypted_range_ge_term");
	if (!OidIsValid(le_op) || !OidIsValid(ge_op))
		return NIL;

	/* the bound is computed once per scan: no Var of the index's table */
	if (bms_is_member(req->index->rel->relid, pull_varnos(req->root, other)) ||
		contain_volatile_functions(other))
		return NIL;

	/* the column's type modifier says how its terms were made */
	attno = req->index->indexkeys[req->indexcol];
	if (attno <= 0)
		return NIL;
	rte = planner_rt_fetch(req->index->rel->relid, req->root);
	typmod = column_typmod(rte->relid, attno);
	if (typmod < 0)
		return NIL;

	/* the plan depends on the number of keys */
	ec_planned_by_key_count = true;
	if (rotation_rewrites && ec_loaded_key_count() > 1)
		return NIL;

	if (cmp == CMP_LT || cmp == CMP_LE || cmp == CMP_EQ)
	{
		if ((bound = bound_call(req->funcid, other, typmod, true, NULL)) == NULL)
			return NIL;
		conds = lappend(conds, term_clause(le_op, column, bound));
	}
	if (cmp == CMP_GT || cmp == CMP_GE || cmp == CMP_EQ)
	{
		if ((bound = bound_call(req->funcid, other, typmod, false, NULL)) == NULL)
			return NIL;
		conds = lappend(conds, term_clause(ge_op, column, bound));
	}
	/* a bucket holds more than the comparison takes: keep it as the recheck */
	req->lossy = true;
	return conds;
}

/* The support function of the typed types' comparison operators. */
Datum
encrypted_range_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);

	if (IsA(rawreq, SupportRequestIndexCondition))
		PG_RETURN_POINTER(index_condition((SupportRequestIndexCondition *) rawreq));
	PG_RETURN_POINTER(NULL);
}

/*
 * The operator family of a range_ops btree index on the relation whose
 * first column is attno (and which has no predicate), or InvalidOid.
 */
static Oid
range_index_family(Oid relid, AttrNumber attno, Oid type)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		if (index->rd_rel->relam == BTREE_AM_OID &&
			index->rd_index->indnkeyatts >= 1 &&
			index->rd_index->indkey.values[0] == attno &&
			index->rd_indpred == NIL &&
			OidIsValid(range_operator(index->rd_opfamily[0], type, type,
									  BTEqualStrategyNumber, "encrypted_range_eq")))
			result = index->rd_opfamily[0];
		index_close(index, AccessShareLock);
		if (OidIsValid(result))
			break;
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	return result;
}

/* The number of loaded keys, asked once per statement and only if needed. */
static int
keys_loaded(int *known)
{
	if (*known < 0)
		*known = ec_loaded_key_count();
	return *known;
}

/* The conjuncts of a qualification, AND trees flattened. */
static void
conjuncts_of(Node *qual, List **out)
{
	ListCell   *lc;

	if (qual == NULL)
		return;
	if (is_andclause(qual))
	{
		foreach(lc, ((BoolExpr *) qual)->args)
			conjuncts_of(lfirst(lc), out);
	}
	else if (IsA(qual, List))
	{
		foreach(lc, (List *) qual)
			conjuncts_of(lfirst(lc), out);
	}
	else
		*out = lappend(*out, qual);
}

/* One column's range in a query's conditions. */
typedef struct column_range
{
	Var		   *column;
	Oid			funcid;			/* a comparison's, to find the extension */
	Node	   *lower;			/* column >= lower, or NULL */
	Node	   *upper;			/* column <= upper, or NULL */
} column_range;

/*
 * col ~>=~ range_bound(lower, typmod, false, n) AND col ~<=~
 * range_bound(upper, typmod, true, n): the n-th key's index range for
 * values between lower and upper, a side without a value ending with the
 * key's terms.  Both sides are always there: the range stays within the
 * key's part of the index (the key's tag in the terms).  NIL if the
 * extension lacks range_bound's n-th key form.
 */
static List *
key_range(Oid funcid, Var *column, int32 typmod, Node *lower, Node *upper,
		  Node *n, Oid le_op, Oid ge_op)
{
	Node	   *open = (Node *) makeNullConst(column->vartype, -1, InvalidOid);
	Node	   *lo = bound_call(funcid, lower ? lower : open, typmod, false, n);
	Node	   *hi = bound_call(funcid, upper ? upper : open, typmod, true, n);

	if (lo == NULL || hi == NULL)
		return NIL;
	return list_make2(term_clause(ge_op, (Node *) column, lo),
					  term_clause(le_op, (Node *) column, hi));
}

/*
 * During a rotation (nkeys > 1): the ranges that the WHERE clause's
 * comparisons put on columns with a range index, as one index range per
 * key, ORed:
 *
 *	 (col ~>=~ range_bound(lo, typmod, false, 0) AND col ~<=~ range_bound(hi, typmod, true, 0))
 *	 OR ... OR (the same with n - 1)
 *
 * (a side without a comparison gets the key's end, a NULL lo or hi).  The
 * planner reads them as a BitmapOr of index scans.  Each key's range is as
 * narrow as with one key and holds that key's values only (the terms
 * carry the key's tag, but two keys' tags can be equal: the comparisons
 * stay, as the recheck).  The widest bound over the keys would span the
 * index between the keys' parts.
 */
static void
rewrite_ranges(Query *query, int *nkeys_known)
{
	List	   *conjuncts = NIL;
	List	   *ranges = NIL;
	ListCell   *lc;
	int			nkeys;

	if (query->jointree == NULL)
		return;
	conjuncts_of(query->jointree->quals, &conjuncts);
	foreach(lc, conjuncts)
	{
		OpExpr	   *op = (OpExpr *) lfirst(lc);
		comparison	cmp;
		Var		   *column;
		Node	   *other;
		column_range *range = NULL;
		ListCell   *lr;

		if (!IsA(op, OpExpr) || list_length(op->args) != 2)
			continue;
		cmp = typed_comparison(get_opcode(op->opno));
		if (cmp == CMP_NONE)
			continue;
		if (IsA(linitial(op->args), Var))
		{
			column = linitial(op->args);
			other = lsecond(op->args);
		}
		else if (IsA(lsecond(op->args), Var))
		{
			column = lsecond(op->args);
			other = linitial(op->args);
			cmp = commute(cmp);
		}
		else
			continue;
		if (column->varlevelsup != 0 || column->varattno <= 0 ||
			rt_fetch(column->varno, query->rtable)->rtekind != RTE_RELATION ||
			contain_vars_of_level(other, 0) ||
			contain_volatile_functions(other) || checkExprHasSubLink(other))
			continue;
		foreach(lr, ranges)
		{
			column_range *r = lfirst(lr);

			if (r->column->varno == column->varno &&
				r->column->varattno == column->varattno)
				range = r;
		}
		if (range == NULL)
		{
			range = palloc0(sizeof(column_range));
			range->column = column;
			range->funcid = get_opcode(op->opno);
			ranges = lappend(ranges, range);
		}
		if ((cmp == CMP_GT || cmp == CMP_GE || cmp == CMP_EQ) && range->lower == NULL)
			range->lower = other;
		if ((cmp == CMP_LT || cmp == CMP_LE || cmp == CMP_EQ) && range->upper == NULL)
			range->upper = other;
	}

	if (ranges == NIL)
		return;
	/* a plan made with one key is remade for a rotation, and back */
	ec_planned_by_key_count = true;
	nkeys = keys_loaded(nkeys_known);
	if (nkeys < 2 || !rotation_rewrites)
		return;
	foreach(lc, ranges)
	{
		column_range *range = lfirst(lc);
		Var		   *column = range->column;
		Oid			relid = rt_fetch(column->varno, query->rtable)->relid;
		Oid			family = range_index_family(relid, column->varattno,
												column->vartype);
		int32		typmod = column_typmod(relid, column->varattno);
		Oid			le_op;
		Oid			ge_op;
		List	   *arms = NIL;

		if (!OidIsValid(family) || typmod < 0)
			continue;
		le_op = range_operator(family, column->vartype, INT8OID,
							   BTLessEqualStrategyNumber, "encrypted_range_le_term");
		ge_op = range_operator(family, column->vartype, INT8OID,
							   BTGreaterEqualStrategyNumber, "encrypted_range_ge_term");
		if (!OidIsValid(le_op) || !OidIsValid(ge_op))
			continue;
		for (int k = 0; k < nkeys; k++)
		{
			List	   *arm = key_range(range->funcid, column, typmod,
										range->lower, range->upper,
										int4_const(k), le_op, ge_op);

			if (arm == NIL)
				break;
			arms = lappend(arms, make_andclause(arm));
		}
		if (list_length(arms) == nkeys)
			query->jointree->quals = make_and_qual(query->jointree->quals,
												   (Node *) make_orclause(arms));
	}
}

/*
 * Sort one query by the range terms first (query's first sort clause,
 * on column), by plaintext within equal terms, and guard it with
 * order_guard(column [, slot]); false, with nothing changed, if the
 * extension lacks the functions.
 */
static bool
order_by_terms(Query *query, SortGroupClause *first, Var *column, Oid op,
			   Oid eqop, Node *slot)
{
	Oid			argtypes[2] = {ANYELEMENTOID, INT4OID};
	Oid			guard = ec_extension_function(get_opcode(first->sortop),
											  "order_guard", slot ? 2 : 1,
											  argtypes);
	Oid			same = ec_extension_function(get_opcode(first->sortop),
											 "order_value", 1, argtypes);
	List	   *guard_args = list_make1(copyObject(column));
	SortGroupClause *terms;
	TargetEntry *junk;
	Index		maxref = 0;
	ListCell   *lc;

	if (!OidIsValid(guard) || !OidIsValid(same))
		return false;

	/* the guard: an error where sorting by plaintext would have failed */
	if (slot != NULL)
		guard_args = lappend(guard_args, slot);
	query->jointree->quals =
		make_and_qual(query->jointree->quals,
					  (Node *) makeFuncExpr(guard, BOOLOID, guard_args,
											InvalidOid, InvalidOid,
											COERCE_EXPLICIT_CALL));

	/*
	 * The plaintext order, the original clause, now sorts by
	 * order_value(col): the same value, but another expression than the
	 * column the terms' clause sorts by.  (PostgreSQL 18 sorts by only the
	 * first of two clauses on one expression.)
	 */
	foreach(lc, query->targetList)
		maxref = Max(maxref, ((TargetEntry *) lfirst(lc))->ressortgroupref);
	junk = makeTargetEntry((Expr *) makeFuncExpr(same, column->vartype,
												 list_make1(copyObject(column)),
												 InvalidOid, InvalidOid,
												 COERCE_EXPLICIT_CALL),
						   list_length(query->targetList) + 1, NULL, true);
	junk->ressortgroupref = maxref + 1;
	query->targetList = lappend(query->targetList, junk);

	terms = makeNode(SortGroupClause);
	terms->tleSortGroupRef = first->tleSortGroupRef;
	terms->sortop = op;
	terms->eqop = eqop;
	terms->nulls_first = first->nulls_first;
	EC_COPY_SORT_DIRECTION(terms, first);
	terms->hashable = false;
	first->tleSortGroupRef = junk->ressortgroupref;
	query->sortClause = lcons(terms, query->sortClause);
	return true;
}

/* Does the table's column reject NULLs? */
static bool
column_not_null(Oid relid, AttrNumber attno)
{
	HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
										Int16GetDatum(attno));
	bool		result = false;

	if (HeapTupleIsValid(tuple))
	{
		result = ((Form_pg_attribute) GETSTRUCT(tuple))->attnotnull;
		ReleaseSysCache(tuple);
	}
	return result;
}

/* A subquery in FROM. */
static RangeTblEntry *
subquery_rte(Query *subquery, const char *name, List *colnames, bool lateral)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = subquery;
	rte->lateral = lateral;
	rte->eref = makeAlias(name, copyObject(colnames));
	rte->inFromCl = true;
	return rte;
}

/*
 * The target list of a query over FROM item varno whose first ncolumns
 * columns are those of model (a target list): Vars of the same types and
 * names, and with model's sort references if keep_refs.
 */
static List *
columns_of(List *model, Index varno, int ncolumns, bool keep_refs)
{
	List	   *tlist = NIL;
	ListCell   *lc;

	foreach(lc, model)
	{
		TargetEntry *tle = flatCopyTargetEntry(lfirst_node(TargetEntry, lc));

		if (foreach_current_index(lc) >= ncolumns)
			break;
		tle->expr = (Expr *) makeVar(varno, tle->resno,
									 exprType((Node *) tle->expr),
									 exprTypmod((Node *) tle->expr),
									 exprCollation((Node *) tle->expr), 0);
		if (!keep_refs)
		{
			tle->ressortgroupref = 0;
			tle->resjunk = false;
		}
		tlist = lappend(tlist, tle);
	}
	return tlist;
}

/* A copy of the query levels deeper, every one of its columns shown. */
static Query *
copy_below(Query *query, int levels, int ncolumns, List **colnames)
{
	Query	   *copy = copyObject(query);
	ListCell   *lc;

	IncrementVarSublevelsUp((Node *) copy, levels, 1);
	copy->limitOffset = NULL;
	if (query->limitOffset != NULL && !((Const *) query->limitOffset)->constisnull)
		copy->limitCount = (Node *) makeFuncExpr(F_INT8PL, INT8OID,
												 list_make2(copy->limitCount,
															copyObject(query->limitOffset)),
												 InvalidOid, InvalidOid,
												 COERCE_EXPLICIT_CALL);
	if (colnames != NULL)
		*colnames = NIL;
	foreach(lc, copy->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (foreach_current_index(lc) >= ncolumns)
			break;
		tle->resjunk = false;
		if (tle->resname == NULL)
			tle->resname = pstrdup("?column?");
		if (colnames != NULL)
			*colnames = lappend(*colnames, makeString(pstrdup(tle->resname)));
	}
	return copy;
}

/* A query's FROM list of range table entries 1 to n. */
static FromExpr *
from_first(int n)
{
	List	   *refs = NIL;

	for (int i = 1; i <= n; i++)
	{
		RangeTblRef *ref = makeNode(RangeTblRef);

		ref->rtindex = i;
		refs = lappend(refs, ref);
	}
	return makeFromExpr(refs, NULL);
}

/*
 * During a rotation: one index walk per loaded key, merged.  The query
 *
 *	 SELECT tl FROM ... WHERE q ORDER BY col, ... LIMIT n OFFSET m
 *
 * becomes
 *
 *	 SELECT * FROM (
 *	   SELECT per_key.* FROM generate_series(0, nkeys - 1) key_slots(slot),
 *		 LATERAL (SELECT tl FROM ... WHERE q AND order_guard(col, slot)
 *					AND col ~>=~ range_bound(NULL, typmod, false, slot)
 *				  ORDER BY (the terms), order_value(col), ... LIMIT n + m) per_key
 *	   UNION ALL
 *	   SELECT tl FROM ... WHERE q AND col IS NULL ORDER BY col, ... LIMIT n + m
 *	 ) merged ORDER BY col, ... LIMIT n OFFSET m
 *
 * Each walk starts at its key's part of the index (the terms carry the
 * key's tag: for DESC, at the part's end, with ~<=~ and upper) and reads
 * it in bucket order, stopping after n + m rows; order_guard() keeps the
 * walk's own key's values where two keys' tags are equal, or where a key
 * has fewer rows and the walk goes on into the next part.  (With both
 * ends of the part, the planner would take the walk for a narrow range
 * and sort all of it.)  The NULLs,
 * which no index condition takes, come from a query of their own (none
 * for a NOT NULL column, where the walks make the whole FROM).  The outer
 * sort decrypts at most nkeys * (n + m) rows.  The query node is changed
 * in place: it may be a subquery of another.
 */
static void
order_per_key(Query *query, Oid family, Oid op, Oid eqop, bool descending,
			  int32 typmod, bool not_null, int nkeys)
{
	int			ncolumns = list_length(query->targetList);
	Query	   *arm;
	Query	   *walks;
	List	   *part;
	List	   *colnames;
	Oid			le_op;
	Oid			ge_op;
	SortGroupClause *first;
	TargetEntry *tle;
	Var		   *slot;
	RangeTblFunction *series;
	FuncExpr   *call;
	RangeTblEntry *slots_rte;

	if (query->cteList != NIL || query->rowMarks != NIL ||
		query->hasForUpdate || query->limitOption != LIMIT_OPTION_COUNT ||
		contain_volatile_functions((Node *) query->targetList) ||
		(query->limitOffset != NULL && !IsA(query->limitOffset, Const)))
		return;

	/* the walk: the query below the walks' query, for the slot-th key */
	arm = copy_below(query, not_null ? 1 : 3, ncolumns, &colnames);
	first = linitial_node(SortGroupClause, arm->sortClause);
	tle = get_sortgroupclause_tle(first, arm->targetList);
	slot = makeVar(1, 1, INT4OID, -1, InvalidOid, 1);
	le_op = range_operator(family, exprType((Node *) tle->expr), INT8OID,
						   BTLessEqualStrategyNumber, "encrypted_range_le_term");
	ge_op = range_operator(family, exprType((Node *) tle->expr), INT8OID,
						   BTGreaterEqualStrategyNumber, "encrypted_range_ge_term");
	if (!OidIsValid(le_op) || !OidIsValid(ge_op))
		return;
	part = key_range(get_opcode(first->sortop), (Var *) tle->expr, typmod,
					 NULL, NULL, (Node *) slot, le_op, ge_op);
	if (part == NIL ||
		!order_by_terms(arm, first, (Var *) tle->expr, op, eqop, (Node *) slot))
		return;
	/* where the walk starts: an open end, which the planner takes as wide */
	arm->jointree->quals = make_and_qual(arm->jointree->quals,
										 descending ? lsecond(part) : linitial(part));

	/* the walks: the key slots and the walk of each */
	call = makeFuncExpr(F_GENERATE_SERIES_INT4_INT4, INT4OID,
						list_make2(int4_const(0), int4_const(nkeys - 1)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	call->funcretset = true;
	series = makeNode(RangeTblFunction);
	series->funcexpr = (Node *) call;
	series->funccolcount = 1;
	slots_rte = makeNode(RangeTblEntry);
	slots_rte->rtekind = RTE_FUNCTION;
	slots_rte->functions = list_make1(series);
	slots_rte->eref = makeAlias("key_slots", list_make1(makeString("slot")));
	slots_rte->inFromCl = true;

	if (not_null)
		walks = query;
	else
	{
		walks = makeNode(Query);
		walks->commandType = CMD_SELECT;
		walks->querySource = QSRC_ORIGINAL;
		walks->canSetTag = true;
	}
	walks->rtable = list_make2(slots_rte,
							   subquery_rte(arm, "per_key", colnames, true));
	walks->jointree = from_first(2);
	walks->targetList = columns_of(query->targetList, 2, ncolumns, not_null);

	if (!not_null)
	{
		/* the NULLs, and the UNION ALL of both */
		Query	   *nulls = copy_below(query, 2, ncolumns, NULL);
		TargetEntry *ntle = get_sortgroupclause_tle(linitial(nulls->sortClause),
													nulls->targetList);
		NullTest   *isnull = makeNode(NullTest);
		Query	   *merged = makeNode(Query);
		SetOperationStmt *op_union = makeNode(SetOperationStmt);
		RangeTblRef *left = makeNode(RangeTblRef);
		RangeTblRef *right = makeNode(RangeTblRef);
		ListCell   *lc;

		isnull->arg = (Expr *) copyObject(ntle->expr);
		isnull->nulltesttype = IS_NULL;
		isnull->location = -1;
		nulls->jointree->quals = make_and_qual(nulls->jointree->quals,
											   (Node *) isnull);

		left->rtindex = 1;
		right->rtindex = 2;
		op_union->op = SETOP_UNION;
		op_union->all = true;
		op_union->larg = (Node *) left;
		op_union->rarg = (Node *) right;
		foreach(lc, walks->targetList)
		{
			Node	   *expr = (Node *) lfirst_node(TargetEntry, lc)->expr;

			op_union->colTypes = lappend_oid(op_union->colTypes, exprType(expr));
			op_union->colTypmods = lappend_int(op_union->colTypmods, exprTypmod(expr));
			op_union->colCollations = lappend_oid(op_union->colCollations,
												  exprCollation(expr));
		}
		merged->commandType = CMD_SELECT;
		merged->querySource = QSRC_ORIGINAL;
		merged->canSetTag = true;
		merged->rtable = list_make2(subquery_rte(walks, "walks", colnames, false),
									subquery_rte(nulls, "nulls", colnames, false));
		merged->jointree = makeFromExpr(NIL, NULL);
		merged->setOperations = (Node *) op_union;
		merged->targetList = columns_of(query->targetList, 1, ncolumns, false);

		query->rtable = list_make1(subquery_rte(merged, "merged", colnames, false));
		query->jointree = from_first(1);
		query->targetList = columns_of(query->targetList, 1, ncolumns, true);
	}
	EC_QUERY_RESET_PERMINFOS(query);
	query->hasSubLinks = checkExprHasSubLink(query->limitCount);
}

/* Rewrite one query's ORDER BY, if it qualifies (see the header comment). */
static void
rewrite_order(Query *query, int *nkeys_known)
{
	int			nkeys;
	SortGroupClause *first;
	TargetEntry *tle;
	Var		   *var;
	RangeTblEntry *rte;
	comparison	cmp;
	Oid			family;
	Oid			op;
	Oid			eqop;

	if (query->commandType != CMD_SELECT || query->sortClause == NIL ||
		query->limitCount == NULL || query->groupClause != NIL ||
		query->distinctClause != NIL || query->setOperations != NULL ||
		query->havingQual != NULL || query->hasAggs ||
		query->hasWindowFuncs || query->hasTargetSRFs ||
		(IsA(query->limitCount, Const) && ((Const *) query->limitCount)->constisnull))
		return;
	first = linitial_node(SortGroupClause, query->sortClause);
	cmp = comparison_of(get_opcode(first->sortop), "encrypted_typed_");
	if (cmp != CMP_LT && cmp != CMP_GT)
		return;
	tle = get_sortgroupclause_tle(first, query->targetList);
	if (!IsA(tle->expr, Var))
		return;
	var = (Var *) tle->expr;
	if (var->varlevelsup != 0 || var->varattno <= 0)
		return;
	rte = rt_fetch(var->varno, query->rtable);
	if (rte->rtekind != RTE_RELATION)
		return;

	/* the planner's choice now depends on the number of keys */
	ec_planned_by_key_count = true;
	family = range_index_family(rte->relid, var->varattno, var->vartype);
	if (!OidIsValid(family))
		return;
	op = range_operator(family, var->vartype, var->vartype,
						cmp == CMP_LT ? BTLessStrategyNumber : BTGreaterStrategyNumber,
						cmp == CMP_LT ? "encrypted_range_lt" : "encrypted_range_gt");
	eqop = range_operator(family, var->vartype, var->vartype,
						  BTEqualStrategyNumber, "encrypted_range_eq");
	if (!OidIsValid(op) || !OidIsValid(eqop))
		return;
	nkeys = keys_loaded(nkeys_known);
	if (nkeys == 1)
		(void) order_by_terms(query, first, var, op, eqop, NULL);
	else if (nkeys > 1 && rotation_rewrites)
	{
		int32		typmod = column_typmod(rte->relid, var->varattno);

		if (typmod >= 0)
			order_per_key(query, family, op, eqop, cmp == CMP_GT, typmod,
						  column_not_null(rte->relid, var->varattno), nkeys);
	}
}

/*
 * Visit every query of the statement: subqueries in FROM, CTEs, and
 * subquery expressions.  Each query's subqueries first, so that a query
 * rewritten into per-key walks, whose copy holds its subqueries, is
 * visited once.
 */
static bool
rewrite_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;

		(void) query_tree_walker(query, rewrite_walker, context, 0);
		rewrite_ranges(query, (int *) context);
		rewrite_order(query, (int *) context);
		return false;
	}
	return expression_tree_walker(node, rewrite_walker, context);
}

/*
 * planner_hook step: ranges during a rotation as one index range per key,
 * and ORDER BY a typed column LIMIT n through its range index.
 * may_restructure is false on a Citus node.
 */
Query *
ec_search_rewrite_order(Query *parse, bool may_restructure)
{
	int			nkeys = -1;		/* not asked yet */

	rotation_rewrites = may_restructure;
	if (!OidIsValid(get_extension_oid("encrypted_column", true)))
		return parse;
	(void) rewrite_walker((Node *) parse, &nkeys);
	return parse;
}

/*
 * The innermost argument of a chain of casts (a length coercion's first
 * argument, then single-argument casts), as a pointer to its place in the
 * tree, or NULL when the chain does not end in a Var.
 */
static Expr **
cast_chain_var(Expr **place)
{
	for (;;)
	{
		Expr	   *e = *place;

		if (IsA(e, Var))
			return place;
		if (IsA(e, FuncExpr) &&
			(((FuncExpr *) e)->funcformat == COERCE_IMPLICIT_CAST ||
			 ((FuncExpr *) e)->funcformat == COERCE_EXPLICIT_CAST) &&
			((FuncExpr *) e)->args != NIL)
			place = (Expr **) &linitial(((FuncExpr *) e)->args);
		else if (IsA(e, RelabelType))
			place = &((RelabelType *) e)->arg;
		else if (IsA(e, CoerceViaIO))
			place = &((CoerceViaIO *) e)->arg;
		else
			return NULL;
	}
}

/* Show every cast of the chain when the query is deparsed. */
static void
cast_chain_explicit(Expr *e)
{
	while (!IsA(e, Var))
	{
		if (IsA(e, FuncExpr))
		{
			((FuncExpr *) e)->funcformat = COERCE_EXPLICIT_CAST;
			e = linitial(((FuncExpr *) e)->args);
		}
		else if (IsA(e, RelabelType))
		{
			((RelabelType *) e)->relabelformat = COERCE_EXPLICIT_CAST;
			e = ((RelabelType *) e)->arg;
		}
		else
		{
			((CoerceViaIO *) e)->coerceformat = COERCE_EXPLICIT_CAST;
			e = ((CoerceViaIO *) e)->arg;
		}
	}
}

/*
 * Is this C function one of the casts that give a value its column's
 * search terms: the modifier's cast of an encrypted value, or a cast from
 * text, a plain type or an integer, which seals with the terms?
 */
static bool
is_typmod_cast(const char *symbol)
{
	size_t		len = strlen(symbol);

	return strcmp(symbol, "encrypted_apply_typmod") == 0 ||
		strcmp(symbol, "encrypted_text_from_text") == 0 ||
		(strncmp(symbol, "encrypted_", 10) == 0 && len > 18 &&
		 strcmp(symbol + len - 8, "_encrypt") == 0);
}

/*
 * planner_hook step on a Citus coordinator, for INSERT ... SELECT.  The
 * parser puts the cast to a column's type modifier, the one that gives a
 * value its search terms (from a plain value, sealing it with them, or of
 * an encrypted value), into the INSERT's target list.  Citus keeps only
 * the Vars of that list and, when it runs the SELECT itself (through the
 * coordinator, or repartitioned), casts the SELECT's columns to the
 * column types without the modifier: the values would reach the shards
 * without their terms, and each shard would have to open them to add
 * them, needing a key and read_plaintext() there, and giving each
 * placement of a reference table an envelope of its own.  So the whole
 * cast moves into the SELECT's target list, shown in full when Citus
 * deparses it: the values get their terms where they are sealed, on the
 * node where Citus's own cast would have run.  (Where Citus does not plan
 * the statement, the cast runs in the SELECT instead of after it.)
 */
Query *
ec_search_keep_typmod_casts(Query *parse)
{
	RangeTblRef *ref;
	RangeTblEntry *rte;
	Query	   *select;
	ListCell   *lc;

	if (parse->commandType != CMD_INSERT || parse->jointree == NULL ||
		list_length(parse->jointree->fromlist) != 1 ||
		!IsA(linitial(parse->jointree->fromlist), RangeTblRef))
		return parse;
	ref = linitial_node(RangeTblRef, parse->jointree->fromlist);
	rte = rt_fetch(ref->rtindex, parse->rtable);
	if (rte->rtekind != RTE_SUBQUERY || rte->subquery == NULL ||
		rte->subquery->setOperations != NULL)
		return parse;
	select = rte->subquery;

	foreach(lc, parse->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		TargetEntry *stle;
		int32		typmod;
		char	   *symbol;
		Expr	  **place;
		Var		   *var;
		Expr	   *cast;

		if (tle->resjunk || !IsA(tle->expr, FuncExpr) ||
			!exprIsLengthCoercion((Node *) tle->expr, &typmod) || typmod < 0)
			continue;
		symbol = ec_c_symbol(((FuncExpr *) tle->expr)->funcid);
		if (symbol == NULL || !is_typmod_cast(symbol))
			continue;
		cast = copyObject(tle->expr);
		place = cast_chain_var(&cast);
		if (place == NULL)
			continue;
		var = (Var *) *place;
		if (var->varno != ref->rtindex || var->varlevelsup != 0 ||
			var->varattno <= 0 || var->varattno > list_length(select->targetList))
			continue;
		stle = list_nth_node(TargetEntry, select->targetList, var->varattno - 1);
		/* a column the SELECT sorts or groups by keeps its plaintext */
		if (stle->resjunk || stle->ressortgroupref != 0 ||
			exprType((Node *) stle->expr) != var->vartype)
			continue;
		cast_chain_explicit(cast);
		*place = stle->expr;
		stle->expr = cast;
		tle->expr = (Expr *) makeVar(ref->rtindex, var->varattno,
									 exprType((Node *) cast), typmod,
									 exprCollation((Node *) cast), 0);
	}
	return parse;
}
