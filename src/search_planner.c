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
#include "utils/builtins.h"
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

/* range_bound(x, typmod, upper) of the operator function's extension. */
static Node *
bound_call(Oid operator_function, Node *value, int32 typmod, bool upper)
{
	Oid			argtypes[3] = {ANYELEMENTOID, INT4OID, BOOLOID};
	Oid			fn = ec_extension_function(operator_function, "range_bound", 3,
										   argtypes);

	if (!OidIsValid(fn))
		return NULL;
	return (Node *) makeFuncExpr(fn, INT8OID,
								 list_make3(copyObject(value),
											makeConst(INT4OID, -1, InvalidOid, 4,
													  Int32GetDatum(typmod), false, true),
											makeBoolConst(upper, false)),
								 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
}

/* col op bound, an index clause on the range terms. */
static Expr *
term_clause(Oid op, Node *column, Node *bound)
{
	return make_opclause(op, BOOLOID, false, (Expr *) copyObject(column),
						 (Expr *) bound, InvalidOid, InvalidOid);
}

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

	cmp = comparison_of(req->funcid, "encrypted_typed_");
	if (cmp == CMP_NONE)
		cmp = comparison_of(req->funcid, "encrypted_typed_plain_");
	if (cmp == CMP_NONE)
		cmp = comparison_of(req->funcid, "encrypted_plain_typed_");
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
	{
		Oid			atttype;
		Oid			collation;

		get_atttypetypmodcoll(rte->relid, attno, &atttype, &typmod, &collation);
	}
	if (typmod < 0)
		return NIL;

	if (cmp == CMP_LT || cmp == CMP_LE || cmp == CMP_EQ)
	{
		if ((bound = bound_call(req->funcid, other, typmod, true)) == NULL)
			return NIL;
		conds = lappend(conds, term_clause(le_op, column, bound));
	}
	if (cmp == CMP_GT || cmp == CMP_GE || cmp == CMP_EQ)
	{
		if ((bound = bound_call(req->funcid, other, typmod, false)) == NULL)
			return NIL;
		conds = lappend(conds, term_clause(ge_op, column, bound));
	}
	/* a bucket holds more than the comparison takes: keep it as the recheck */
	req->lossy = true;
	ec_planned_by_key_count = true;
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
 * The range_ops ordering operator (strategy, < or >) of a btree index of
 * the relation whose first column is attno, or InvalidOid.
 */
static Oid
indexed_term_order(Oid relid, AttrNumber attno, Oid type, int strategy,
				   Oid *eqop)
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
			index->rd_indpred == NIL)
		{
			Oid			family = index->rd_opfamily[0];

			result = range_operator(family, type, type, strategy,
									strategy == BTLessStrategyNumber ?
									"encrypted_range_lt" : "encrypted_range_gt");
			*eqop = range_operator(family, type, type, BTEqualStrategyNumber,
								   "encrypted_range_eq");
			if (!OidIsValid(*eqop))
				result = InvalidOid;
		}
		index_close(index, AccessShareLock);
		if (OidIsValid(result))
			break;
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	return result;
}

/* Rewrite one query's ORDER BY, if it qualifies (see the header comment). */
static void
rewrite_order(Query *query)
{
	SortGroupClause *first;
	SortGroupClause *terms;
	TargetEntry *tle;
	Var		   *var;
	RangeTblEntry *rte;
	comparison	cmp;
	Oid			op;
	Oid			eqop = InvalidOid;

	if (query->commandType != CMD_SELECT || query->sortClause == NIL ||
		query->limitCount == NULL || query->groupClause != NIL ||
		query->distinctClause != NIL || query->setOperations != NULL ||
		query->hasAggs || query->hasWindowFuncs || query->hasTargetSRFs)
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
	if (ec_loaded_key_count() != 1)
		return;
	op = indexed_term_order(rte->relid, var->varattno, var->vartype,
							cmp == CMP_LT ? BTLessStrategyNumber :
							BTGreaterStrategyNumber, &eqop);
	if (!OidIsValid(op))
		return;

	/* the guard: an error where sorting by plaintext would have failed */
	{
		Oid			argtypes[1] = {ANYELEMENTOID};
		Oid			guard = ec_extension_function(get_opcode(first->sortop),
												  "order_guard", 1, argtypes);
		FuncExpr   *call;

		if (!OidIsValid(guard))
			return;
		call = makeFuncExpr(guard, BOOLOID, list_make1(copyObject(var)),
							InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		query->jointree->quals = make_and_qual(query->jointree->quals,
											   (Node *) call);
	}

	/*
	 * The plaintext order, the original clause, now sorts by
	 * order_value(col): the same value, but another expression than the
	 * column the terms' clause sorts by.  (PostgreSQL 18 sorts by only the
	 * first of two clauses on one expression.)
	 */
	{
		Oid			argtypes[1] = {ANYELEMENTOID};
		Oid			same = ec_extension_function(get_opcode(first->sortop),
												 "order_value", 1, argtypes);
		TargetEntry *junk;
		Index		maxref = 0;
		ListCell   *lc;

		if (!OidIsValid(same))
			return;
		foreach(lc, query->targetList)
			maxref = Max(maxref, ((TargetEntry *) lfirst(lc))->ressortgroupref);
		junk = makeTargetEntry((Expr *) makeFuncExpr(same, var->vartype,
													 list_make1(copyObject(var)),
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
	}
}

/* Walk the query and its subqueries in FROM. */
static void
rewrite_walk(Query *query)
{
	ListCell   *lc;

	rewrite_order(query);
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY && rte->subquery != NULL)
			rewrite_walk(rte->subquery);
	}
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = (CommonTableExpr *) lfirst(lc);

		if (IsA(cte->ctequery, Query))
			rewrite_walk((Query *) cte->ctequery);
	}
}

/* planner_hook step: ORDER BY a typed column LIMIT n through its range index. */
Query *
ec_search_rewrite_order(Query *parse)
{
	if (!OidIsValid(get_extension_oid("encrypted_column", true)))
		return parse;
	rewrite_walk(parse);
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
