/*
 * det_planner.c
 *		Planner support for comparing encrypted_text_det with plaintext.
 *
 * `col = x` with x of type text (or varchar, by its implicit cast to text)
 * is the operator =(encrypted_text_det, text), which encrypts x under the
 * key each row names.  No index can serve that operator directly: during
 * a key rotation a plaintext has one encryption per loaded key, at as
 * many places in the index.  The support function attached to it hands
 * the planner the equivalent index condition
 *		col = ANY (ARRAY[encrypt_det_nth(x, 0), ..., encrypt_det_nth(x, n - 1)])
 * for the n keys loaded (at least one element: with no key the first
 * raises the "not set" error), which is exact (not lossy): a row's bytes
 * equal x's encryption under the key the row names exactly when they equal
 * one of x's encryptions under every loaded key.  Only btree indexes take
 * an array condition in a plain index scan, so only they are offered one.
 *
 * Why an array of n calls rather than encrypt_det_all(x), one call that
 * returns all n: the planner knows the length of an ARRAY[...] and
 * estimates the scan from it, in a custom plan and in a generic one
 * alike.  It cannot know the length of a function's result: a custom plan
 * evaluates encrypt_det_all() for the bound value while estimating (one
 * element per key), a generic plan guesses ten, so the custom plan always
 * looked cheaper, and a prepared lookup was planned, and encrypted twice,
 * on every execution.  Once the plan is made, the planner hook turns each
 * such array of its index conditions back into the single call
 * encrypt_det_all(x), which costs less to set up and run than one call
 * per key and encrypts under the keys loaded when the plan runs.  An
 * array left anywhere else (the hook knows the index scan nodes) is still
 * right, as every change of either key setting makes cached plans anew
 * once such a condition was planned (module.c).  Where the extension's
 * SQL objects predate encrypt_det_nth() (the library is newer than the
 * installed version) the condition is col = ANY (encrypt_det_all(x)) from
 * the start.
 *
 * The planner asks support functions about single comparisons only, never
 * about `col = ANY (array)`.  For that form a planner hook rewrites
 *		col = ANY (a)		(a of type text[], operator =(det, text))
 * into the equivalent
 *		col = ANY (encrypt_det_all(a))
 * with the equality of the type's default btree operator class, which any
 * index on the column serves.  The operator is recognised by the C
 * function behind it, never by its name.
 *
 * For a Citus coordinator (the hook table asks citus.c when) the planner
 * also folds `col = x`, where x is a text constant or a text parameter
 * whose value the plan is made for (a custom plan), into
 *		col = 'envelope'			(one loaded key)
 *		col = ANY ('{envelope, ...}')	(a previous key too)
 * made with the keys loaded now.  Citus routes a query to one shard only
 * from constants of the distribution column's own type, so without this a
 * lookup by plaintext ran on every shard.  The envelopes are sealed while
 * the plan is made, so a change of either key setting resets cached plans
 * (gucs.c), as for a literal of the type itself.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/dependency.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "catalog/pg_opclass.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "commands/defrem.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "encrypted_column.h"

PG_FUNCTION_INFO_V1(encrypted_text_det_text_support);

/* the C functions of =(encrypted_text_det, text) and its commutator */
extern PGDLLEXPORT Datum encrypted_text_det_eq_text(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum encrypted_text_text_eq_det(PG_FUNCTION_ARGS);


/* per-key arrays made so far, so the planner hook knows to look for them */
static uint64 ec_per_key_arrays = 0;
static Oid	ec_nth_function = InvalidOid;	/* their elements' function */

/*
 * The answers of ec_extension_function() so far: each costs two scans of
 * pg_depend, and planning a search asks several.  Forgotten whenever
 * pg_proc changes (a function created, dropped or altered anywhere).
 */
#define FUNCTION_MEMO_MAX	32
#define FUNCTION_MEMO_ARGS	4

typedef struct function_memo
{
	Oid			operator_function;
	char		name[NAMEDATALEN];
	int			nargs;
	Oid			argtypes[FUNCTION_MEMO_ARGS];
	Oid			result;
} function_memo;

static function_memo function_memos[FUNCTION_MEMO_MAX];
static int	function_memo_count = 0;

static void
function_memo_reset(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	function_memo_count = 0;
}

/*
 * The extension's function name(argtypes), found in the schema of the
 * operator's function, so that a relocated extension still finds its own,
 * and only if it belongs to the same extension, never a look-alike.
 */
Oid
ec_extension_function(Oid operator_function, const char *name, int nargs,
					  Oid *argtypes)
{
	static bool callback_registered = false;
	Oid			namespace;
	char	   *schema;
	Oid			extension;
	Oid			func;

	if (!callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, function_memo_reset, (Datum) 0);
		callback_registered = true;
	}
	for (int i = 0; i < function_memo_count; i++)
	{
		function_memo *m = &function_memos[i];

		if (m->operator_function == operator_function && m->nargs == nargs &&
			strcmp(m->name, name) == 0 &&
			memcmp(m->argtypes, argtypes, sizeof(Oid) * nargs) == 0)
			return m->result;
	}

	namespace = get_func_namespace(operator_function);
	schema = get_namespace_name(namespace);
	extension = getExtensionOfObject(ProcedureRelationId, operator_function);
	if (schema == NULL || !OidIsValid(extension))
		return InvalidOid;
	func = LookupFuncName(list_make2(makeString(schema),
									 makeString(pstrdup(name))),
						  nargs, argtypes, true);
	if (OidIsValid(func) &&
		getExtensionOfObject(ProcedureRelationId, func) != extension)
		func = InvalidOid;

	if (function_memo_count < FUNCTION_MEMO_MAX && nargs <= FUNCTION_MEMO_ARGS &&
		strlen(name) < NAMEDATALEN)
	{
		function_memo *m = &function_memos[function_memo_count++];

		m->operator_function = operator_function;
		strlcpy(m->name, name, NAMEDATALEN);
		m->nargs = nargs;
		memcpy(m->argtypes, argtypes, sizeof(Oid) * nargs);
		m->result = func;
	}
	return func;
}

/* encrypt_det_all(argtype) of the extension of the operator's function. */
static Oid
encrypt_all_function(Oid operator_function, Oid argtype)
{
	Oid			argtypes[1] = {argtype};

	return ec_extension_function(operator_function, "encrypt_det_all", 1, argtypes);
}

/*
 * ARRAY[encrypt_det_nth(plain, 0), ...], one element per loaded key, or
 * NULL if the extension has no encrypt_det_nth().
 */
static Node *
per_key_array(Oid operator_function, Node *plain, Oid dettype)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Oid			nth = ec_extension_function(operator_function, "encrypt_det_nth",
										 2, argtypes);
	int			nkeys = Max(ec_loaded_key_count(), 1);
	ArrayExpr  *array;

	if (!OidIsValid(nth))
		return NULL;
	array = makeNode(ArrayExpr);
	array->array_typeid = get_array_type(dettype);
	array->array_collid = InvalidOid;
	array->element_typeid = dettype;
	array->multidims = false;
	array->location = -1;
	for (int i = 0; i < nkeys; i++)
		array->elements = lappend(array->elements,
								  makeFuncExpr(nth, dettype,
											   list_make2(copyObject(plain),
														  makeConst(INT4OID, -1, InvalidOid,
																	sizeof(int32),
																	Int32GetDatum(i),
																	false, true)),
											   InvalidOid, InvalidOid,
											   COERCE_EXPLICIT_CALL));
	/* cached plans are sized for nkeys: a change of the keys remakes them */
	ec_planned_by_key_count = true;
	ec_per_key_arrays++;
	ec_nth_function = nth;
	return (Node *) array;
}

/*
 * Turn `col = plaintext` into `col = ANY (ARRAY[encrypt_det_nth(...), ...])`,
 * or `col = ANY (encrypt_det_all(plaintext))` with an older install.
 */
static List *
index_condition(SupportRequestIndexCondition *req)
{
	OpExpr	   *clause;
	Node	   *column;
	Node	   *plain;
	Oid			dettype;
	Oid			eq;
	Node	   *keys;
	ScalarArrayOpExpr *saop;

	if (!is_opclause(req->node) || req->index->relam != BTREE_AM_OID ||
		!req->index->amsearcharray)
		return NIL;
	clause = (OpExpr *) req->node;
	if (list_length(clause->args) != 2)
		return NIL;
	column = list_nth(clause->args, req->indexarg);
	plain = list_nth(clause->args, 1 - req->indexarg);
	if (exprType(plain) != TEXTOID)
		return NIL;

	dettype = exprType(column);
	eq = get_opfamily_member(req->opfamily, dettype, dettype,
							 BTEqualStrategyNumber);
	if (!OidIsValid(eq) || !OidIsValid(get_array_type(dettype)))
		return NIL;
	keys = per_key_array(req->funcid, plain, dettype);
	if (keys == NULL)
	{
		Oid			encrypt_all = encrypt_all_function(req->funcid, TEXTOID);

		if (!OidIsValid(encrypt_all))
			return NIL;
		keys = (Node *) makeFuncExpr(encrypt_all, get_array_type(dettype),
									 list_make1(copyObject(plain)),
									 InvalidOid, InvalidOid,
									 COERCE_EXPLICIT_CALL);
	}

	saop = makeNode(ScalarArrayOpExpr);
	saop->opno = eq;
	saop->opfuncid = get_opcode(eq);
	saop->useOr = true;
	saop->inputcollid = InvalidOid;
	saop->args = list_make2(copyObject(column), keys);
	saop->location = -1;

	req->lossy = false;
	return list_make1(saop);
}

/*
 * The support function of =(encrypted_text_det, text) and its commutator;
 * the extension attaches it to those two functions only, never to <>.
 */
Datum
encrypted_text_det_text_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);

	if (IsA(rawreq, SupportRequestIndexCondition))
		PG_RETURN_POINTER(index_condition((SupportRequestIndexCondition *) rawreq));
	PG_RETURN_POINTER(NULL);
}

/* Is this SAOP `det = ANY (text[])` with the extension's own operator? */
static bool
is_det_text_any(ScalarArrayOpExpr *saop)
{
	Oid			funcid;
	FmgrInfo	flinfo;

	if (!saop->useOr || list_length(saop->args) != 2 ||
		exprType(lsecond(saop->args)) != TEXTARRAYOID)
		return false;
	funcid = OidIsValid(saop->opfuncid) ? saop->opfuncid : get_opcode(saop->opno);
	if (!OidIsValid(funcid) || get_func_nargs(funcid) != 2)
		return false;
	fmgr_info(funcid, &flinfo);
	return flinfo.fn_addr == encrypted_text_det_eq_text;
}

/* Walker: does the tree hold a comparison the hook rewrites? */
static bool
contains_det_text_any(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, contains_det_text_any,
								 context, 0);
	if (IsA(node, ScalarArrayOpExpr) &&
		is_det_text_any((ScalarArrayOpExpr *) node))
		return true;
	return expression_tree_walker(node, contains_det_text_any, context);
}

/*
 * `col = ANY (a)` as `col = ANY (encrypt_det_all(a))`, or the node as it
 * is when the catalog lacks a piece (the comparison stays correct, only
 * unindexed).
 */
static Node *
rewrite_det_text_any(ScalarArrayOpExpr *saop)
{
	Node	   *column = linitial(saop->args);
	Node	   *plains = lsecond(saop->args);
	Oid			dettype = exprType(column);
	Oid			funcid = OidIsValid(saop->opfuncid) ? saop->opfuncid : get_opcode(saop->opno);
	Oid			opclass = GetDefaultOpClass(dettype, BTREE_AM_OID);
	Oid			eq = InvalidOid;
	Oid			encrypt_all = encrypt_all_function(funcid, TEXTARRAYOID);
	ScalarArrayOpExpr *result;

	if (OidIsValid(opclass))
		eq = get_opfamily_member(get_opclass_family(opclass), dettype, dettype,
								 BTEqualStrategyNumber);
	if (!OidIsValid(eq) || !OidIsValid(encrypt_all) ||
		!OidIsValid(get_array_type(dettype)))
		return (Node *) saop;

	result = makeNode(ScalarArrayOpExpr);
	result->opno = eq;
	result->opfuncid = get_opcode(eq);
	result->useOr = true;
	result->inputcollid = InvalidOid;
	result->args = list_make2(column,
							  makeFuncExpr(encrypt_all, get_array_type(dettype),
										   list_make1(plains), InvalidOid,
										   exprCollation(plains),
										   COERCE_EXPLICIT_CALL));
	result->location = saop->location;
	return (Node *) result;
}

/* Mutator: rewrite every such comparison, in subqueries and CTEs too. */
static Node *
rewrite_mutator(Node *node, void *context)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Query))
		return (Node *) query_tree_mutator((Query *) node, rewrite_mutator,
										   context, 0);
	if (IsA(node, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *)
			expression_tree_mutator(node, rewrite_mutator, context);

		return is_det_text_any(saop) ? rewrite_det_text_any(saop) : (Node *) saop;
	}
	return expression_tree_mutator(node, rewrite_mutator, context);
}

/* Which side of `det = text` (0 or 1) holds the text, or -1: not that operator. */
static int
det_text_side(OpExpr *op)
{
	FmgrInfo	flinfo;
	Oid			funcid;

	if (list_length(op->args) != 2)
		return -1;
	if (exprType(linitial(op->args)) != TEXTOID &&
		exprType(lsecond(op->args)) != TEXTOID)
		return -1;
	funcid = OidIsValid(op->opfuncid) ? op->opfuncid : get_opcode(op->opno);
	if (!OidIsValid(funcid) || get_func_nargs(funcid) != 2)
		return -1;
	fmgr_info(funcid, &flinfo);
	if (flinfo.fn_addr == encrypted_text_det_eq_text)
		return 1;
	if (flinfo.fn_addr == encrypted_text_text_eq_det)
		return 0;
	return -1;
}

/*
 * The value of a text operand known while planning: a constant, or an
 * external parameter whose value this plan is made for (a custom plan).
 * NULL when it is anything else or SQL NULL.
 */
static Const *
known_text(Node *node, ParamListInfo params)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node == NULL)
		return NULL;
	if (IsA(node, Const))
	{
		Const	   *c = (Const *) node;

		if (c->constisnull ||
			(c->consttype != TEXTOID && c->consttype != VARCHAROID))
			return NULL;
		return c;
	}
	if (IsA(node, Param) && params != NULL &&
		((Param *) node)->paramkind == PARAM_EXTERN)
	{
		int			id = ((Param *) node)->paramid;
		ParamExternData *prm;
		ParamExternData prmdata;

		if (id <= 0 || id > params->numParams)
			return NULL;
		if (params->paramFetch != NULL)
			prm = params->paramFetch(params, id, true, &prmdata);
		else
			prm = &params->params[id - 1];
		if (prm == NULL || prm->isnull || !(prm->pflags & PARAM_FLAG_CONST) ||
			(prm->ptype != TEXTOID && prm->ptype != VARCHAROID))
			return NULL;
		return makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
						 prm->value, false, false);
	}
	return NULL;
}

/*
 * `col = x` with x known as `col = 'envelope'` or `col = ANY ('{...}')`,
 * or the node as it is when the catalog lacks a piece.
 */
static Node *
fold_known_lookup(OpExpr *op, int text_side, Const *plain)
{
	Node	   *column = list_nth(op->args, 1 - text_side);
	Oid			dettype = exprType(column);
	Oid			funcid = OidIsValid(op->opfuncid) ? op->opfuncid : get_opcode(op->opno);
	Oid			opclass = GetDefaultOpClass(dettype, BTREE_AM_OID);
	Oid			arraytype = get_array_type(dettype);
	Oid			eq = InvalidOid;
	Oid			encrypt_all = encrypt_all_function(funcid, TEXTOID);
	Const	   *sealed;
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (OidIsValid(opclass))
		eq = get_opfamily_member(get_opclass_family(opclass), dettype, dettype,
								 BTEqualStrategyNumber);
	if (!OidIsValid(eq) || !OidIsValid(encrypt_all) || !OidIsValid(arraytype))
		return (Node *) op;

	/* the envelopes are constants of this plan from here on */
	ec_sealed_since_plan_reset = true;
	sealed = (Const *) evaluate_expr((Expr *) makeFuncExpr(encrypt_all, arraytype,
														   list_make1(copyObject(plain)),
														   InvalidOid, InvalidOid,
														   COERCE_EXPLICIT_CALL),
									 arraytype, -1, InvalidOid);
	if (!IsA(sealed, Const) || sealed->constisnull)
		return (Node *) op;

	array = DatumGetArrayTypeP(sealed->constvalue);
	get_typlenbyvalalign(dettype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, dettype, typlen, typbyval, typalign,
					  &elems, &nulls, &n);
	if (n == 1 && !nulls[0])
	{
		/* one key: the form Citus's fast path router takes */
		return (Node *) make_opclause(eq, BOOLOID, false,
									  (Expr *) column,
									  (Expr *) makeConst(dettype, -1, InvalidOid,
														 typlen, elems[0], false,
														 typbyval),
									  InvalidOid, InvalidOid);
	}
	else
	{
		ScalarArrayOpExpr *saop = makeNode(ScalarArrayOpExpr);

		saop->opno = eq;
		saop->opfuncid = get_opcode(eq);
		saop->useOr = true;
		saop->inputcollid = InvalidOid;
		saop->args = list_make2(column, sealed);
		saop->location = op->location;
		return (Node *) saop;
	}
}

/* Mutator: fold every known lookup, in subqueries and CTEs too. */
static Node *
fold_mutator(Node *node, void *context)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Query))
		return (Node *) query_tree_mutator((Query *) node, fold_mutator,
										   context, 0);
	if (IsA(node, OpExpr))
	{
		OpExpr	   *op = (OpExpr *) expression_tree_mutator(node, fold_mutator,
															context);
		int			side = det_text_side(op);
		Const	   *plain;

		if (side < 0)
			return (Node *) op;
		plain = known_text(list_nth(op->args, side), (ParamListInfo) context);
		return plain != NULL ? fold_known_lookup(op, side, plain) : (Node *) op;
	}
	return expression_tree_mutator(node, fold_mutator, context);
}

/* Walker: does the tree hold a `det = text` comparison? */
static bool
contains_det_text(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, contains_det_text, context, 0);
	if (IsA(node, OpExpr) && det_text_side((OpExpr *) node) >= 0)
		return true;
	return expression_tree_walker(node, contains_det_text, context);
}

/*
 * Is this ARRAY[encrypt_det_nth(x, 0), ..., encrypt_det_nth(x, n - 1)] as
 * per_key_array() builds it?  Then *plain is x and *nth the function.
 */
static bool
is_per_key_array(Node *node, Node **plain, Oid *nth)
{
	ArrayExpr  *array = (ArrayExpr *) node;
	int			i = 0;
	ListCell   *lc;

	*plain = NULL;
	*nth = InvalidOid;
	/* made by per_key_array(): no parse location, the extension's function */
	if (!IsA(node, ArrayExpr) || array->multidims || array->elements == NIL ||
		array->location != -1)
		return false;
	foreach(lc, array->elements)
	{
		FuncExpr   *f = (FuncExpr *) lfirst(lc);
		Const	   *n;

		if (!IsA(f, FuncExpr) || f->funcid != ec_nth_function ||
			list_length(f->args) != 2 || !IsA(lsecond(f->args), Const))
			return false;
		n = (Const *) lsecond(f->args);
		if (n->constisnull || DatumGetInt32(n->constvalue) != i++)
			return false;
		if (lc == list_head(array->elements))
		{
			*nth = f->funcid;
			*plain = linitial(f->args);
		}
		else if (f->funcid != *nth || !equal(linitial(f->args), *plain))
			return false;
	}
	return true;
}

/*
 * Mutator: the per-key array of a finished plan as one call of
 * encrypt_det_all(x), which encrypts under the keys loaded when the plan
 * runs.  The array served the estimates; at run time one function call
 * costs less to set up than one per key.
 */
static Node *
single_call_mutator(Node *node, void *context)
{
	Node	   *plain;
	Oid			nth;

	if (node == NULL)
		return NULL;
	if (is_per_key_array(node, &plain, &nth))
	{
		Oid			all = encrypt_all_function(nth, TEXTOID);

		if (OidIsValid(all))
			return (Node *) makeFuncExpr(all, ((ArrayExpr *) node)->array_typeid,
										 list_make1(plain), InvalidOid,
										 InvalidOid, COERCE_EXPLICIT_CALL);
	}
	return expression_tree_mutator(node, single_call_mutator, context);
}

#define SWAP(field) ((field) = (void *) single_call_mutator((Node *) (field), NULL))

/* The index conditions of a plan tree, each per-key array as one call. */
static void
single_calls_in_plan(Plan *plan)
{
	ListCell   *lc;
	List	   *children = NIL;

	if (plan == NULL)
		return;
	check_stack_depth();
	switch (nodeTag(plan))
	{
		case T_IndexScan:
			SWAP(((IndexScan *) plan)->indexqual);
			SWAP(((IndexScan *) plan)->indexqualorig);
			break;
		case T_IndexOnlyScan:
			SWAP(((IndexOnlyScan *) plan)->indexqual);
			break;
		case T_BitmapIndexScan:
			SWAP(((BitmapIndexScan *) plan)->indexqual);
			SWAP(((BitmapIndexScan *) plan)->indexqualorig);
			break;
		case T_BitmapHeapScan:
			SWAP(((BitmapHeapScan *) plan)->bitmapqualorig);
			break;
		case T_Append:
			children = ((Append *) plan)->appendplans;
			break;
		case T_MergeAppend:
			children = ((MergeAppend *) plan)->mergeplans;
			break;
		case T_BitmapAnd:
			children = ((BitmapAnd *) plan)->bitmapplans;
			break;
		case T_BitmapOr:
			children = ((BitmapOr *) plan)->bitmapplans;
			break;
		case T_SubqueryScan:
			single_calls_in_plan(((SubqueryScan *) plan)->subplan);
			break;
		case T_CustomScan:
			children = ((CustomScan *) plan)->custom_plans;
			break;
		default:
			break;
	}
	foreach(lc, children)
		single_calls_in_plan((Plan *) lfirst(lc));
	single_calls_in_plan(plan->lefttree);
	single_calls_in_plan(plan->righttree);
}

/*
 * Before planning (planner_hook): rewrite `det = ANY (text[])` into the
 * form the index can use.  Returns the query to plan.
 */
Query *
ec_det_rewrite(Query *parse)
{
	if (contains_det_text_any((Node *) parse, NULL))
		parse = (Query *) rewrite_mutator((Node *) parse, NULL);
	return parse;
}

/*
 * How many per-key arrays the support function has made in this backend;
 * the hook table reads it before planning and hands it to
 * ec_det_finish_plan after.
 */
uint64
ec_det_arrays_made(void)
{
	return ec_per_key_arrays;
}

/*
 * After planning (planner_hook): turn the per-key arrays of the support
 * function's index conditions, if any were made since `before`, into
 * single calls.  A condition left as an array anywhere is still right:
 * cached plans are made anew whenever the number of keys may change.
 */
void
ec_det_finish_plan(PlannedStmt *stmt, uint64 before)
{
	ListCell   *lc;

	if (ec_per_key_arrays == before)
		return;
	single_calls_in_plan(stmt->planTree);
	foreach(lc, stmt->subplans)
		single_calls_in_plan((Plan *) lfirst(lc));
}

/*
 * Fold `det = text` lookups whose text is known while planning (a
 * constant, or a parameter of a custom plan) into comparisons with the
 * plaintext's envelopes under every loaded key, for a scale-out layer
 * that routes only on constants of the column's own type (the hook table
 * decides when).  Without a key nothing is folded: the comparison keeps
 * raising its own error when it runs.  Returns the query to plan.
 */
Query *
ec_det_fold_known(Query *parse, ParamListInfo boundParams)
{
	if (!contains_det_text((Node *) parse, NULL) ||
		ec_current_key_or_null() == NULL)
		return parse;
	return (Query *) fold_mutator((Node *) parse, boundParams);
}
