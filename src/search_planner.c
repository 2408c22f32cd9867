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
 * extension: the widest bound over the loaded keys for n < 0, else the
 * n-th key's.  NULL if the extension has no such function.
 */
static Node *
bound_call(Oid operator_function, Node *value, int32 typmod, bool upper, int n)
{
	Oid			argtypes[4] = {ANYELEMENTOID, INT4OID, BOOLOID, INT4OID};
	Oid			fn = ec_extension_function(operator_function, "range_bound",
										   n < 0 ? 3 : 4, argtypes);
	List	   *args;

	if (!OidIsValid(fn))
		return NULL;
	args = list_make3(copyObject(value), int4_const(typmod),
					  makeBoolConst(upper, false));
	if (n >= 0)
		args = lappend(args, int4_const(n));
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
		if ((bound = bound_call(req->funcid, other, typmod, true, -1)) == NULL)
			return NIL;
		conds = lappend(conds, term_clause(le_op, column, bound));
	}
	if (cmp == CMP_GT || cmp == CMP_GE || cmp == CMP_EQ)
	{
		if ((bound = bound_call(req->funcid, other, typmod, false, -1)) == NULL)
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
 * During a rotation (nkeys > 1): the ranges that the WHERE clause's
 * comparisons put on columns with a range index, as one index range per
 * key, ORed:
 *
 *	 (col ~>=~ range_bound(lo, typmod, false, 0) AND col ~<=~ range_bound(hi, typmod, true, 0))
 *	 OR ... OR (the same with n - 1)
 *
 * The planner reads them as a BitmapOr of index scans.  Each key's range
 * is as narrow as with one key; a row of another key inside it is a false
 * positive, removed by the comparisons, which stay.  The widest bound over
 * the keys would span most of the index, as the keys' maps are unrelated.
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
			List	   *arm = NIL;
			Node	   *bound;

			if (range->lower != NULL)
			{
				if ((bound = bound_call(range->funcid, range->lower, typmod,
										false, k)) == NULL)
					break;
				arm = lappend(arm, term_clause(ge_op, (Node *) column, bound));
			}
			if (range->upper != NULL)
			{
				if ((bound = bound_call(range->funcid, range->upper, typmod,
										true, k)) == NULL)
					break;
				arm = lappend(arm, term_clause(le_op, (Node *) column, bound));
			}
			arms = lappend(arms, list_length(arm) == 1 ? linitial(arm) :
						   (Node *) make_andclause(arm));
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

/*
 * During a rotation: one index walk per loaded key, merged.  The query
 *
 *	 SELECT tl FROM ... WHERE q ORDER BY col, ... LIMIT n OFFSET m
 *
 * becomes
 *
 *	 SELECT per_key.* FROM generate_series(0, nkeys - 1) key_slots(slot),
 *	   LATERAL (SELECT tl FROM ... WHERE q AND order_guard(col, slot)
 *				ORDER BY (the terms), order_value(col), ... LIMIT n + m) per_key
 *	 ORDER BY col, ... LIMIT n OFFSET m
 *
 * Each walk reads its key's values in bucket order, skipping the other
 * keys' values by their key id without decrypting them, and stops after
 * n + m; the outer sort decrypts at most nkeys * (n + m) rows.  The query
 * node is changed in place: it may be a subquery of another.
 */
static void
order_per_key(Query *query, Oid op, Oid eqop, int nkeys)
{
	Query	   *arm;
	SortGroupClause *first;
	TargetEntry *tle;
	Var		   *slot;
	RangeTblFunction *series;
	FuncExpr   *call;
	RangeTblEntry *slots_rte;
	RangeTblEntry *arm_rte;
	List	   *colnames = NIL;
	List	   *outer_tlist = NIL;
	int			ncolumns = list_length(query->targetList);
	ListCell   *lc;

	if (query->cteList != NIL || query->rowMarks != NIL ||
		query->hasForUpdate || query->limitOption != LIMIT_OPTION_COUNT ||
		contain_volatile_functions((Node *) query->targetList) ||
		(query->limitOffset != NULL && !IsA(query->limitOffset, Const)))
		return;

	/* the arm: the query one level down, for the slot-th key's values */
	arm = copyObject(query);
	IncrementVarSublevelsUp((Node *) arm, 1, 1);
	first = linitial_node(SortGroupClause, arm->sortClause);
	tle = get_sortgroupclause_tle(first, arm->targetList);
	slot = makeVar(1, 1, INT4OID, -1, InvalidOid, 1);
	if (!order_by_terms(arm, first, (Var *) tle->expr, op, eqop, (Node *) slot))
		return;
	arm->limitOffset = NULL;
	if (query->limitOffset != NULL && !((Const *) query->limitOffset)->constisnull)
		arm->limitCount = (Node *) makeFuncExpr(F_INT8PL, INT8OID,
												list_make2(arm->limitCount,
														   copyObject(query->limitOffset)),
												InvalidOid, InvalidOid,
												COERCE_EXPLICIT_CALL);
	foreach(lc, arm->targetList)
	{
		TargetEntry *atle = lfirst_node(TargetEntry, lc);

		if (foreach_current_index(lc) >= ncolumns)
			break;
		atle->resjunk = false;
		if (atle->resname == NULL)
			atle->resname = pstrdup("?column?");
		colnames = lappend(colnames, makeString(pstrdup(atle->resname)));
	}

	/* the outer query: the key slots, the arm, the original order and limit */
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

	arm_rte = makeNode(RangeTblEntry);
	arm_rte->rtekind = RTE_SUBQUERY;
	arm_rte->subquery = arm;
	arm_rte->lateral = true;
	arm_rte->eref = makeAlias("per_key", colnames);
	arm_rte->inFromCl = true;

	foreach(lc, query->targetList)
	{
		TargetEntry *otle = flatCopyTargetEntry(lfirst_node(TargetEntry, lc));

		otle->expr = (Expr *) makeVar(2, otle->resno, exprType((Node *) otle->expr),
									  exprTypmod((Node *) otle->expr),
									  exprCollation((Node *) otle->expr), 0);
		outer_tlist = lappend(outer_tlist, otle);
	}
	query->targetList = outer_tlist;
	query->rtable = list_make2(slots_rte, arm_rte);
	EC_QUERY_RESET_PERMINFOS(query);
	{
		RangeTblRef *r1 = makeNode(RangeTblRef);
		RangeTblRef *r2 = makeNode(RangeTblRef);

		r1->rtindex = 1;
		r2->rtindex = 2;
		query->jointree = makeFromExpr(list_make2(r1, r2), NULL);
	}
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
		order_per_key(query, op, eqop, nkeys);
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
 * planner_hook step on a Citus coordinator, for INSERT ... SELECT.  The
 * parser puts the cast to a column's type modifier, the one that gives a
 * value its search terms, into the INSERT's target list.  Citus keeps only
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
		if (symbol == NULL || strcmp(symbol, "encrypted_apply_typmod") != 0)
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
