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
 *		col = ANY (encrypt_det_all(x))
 * which is exact (not lossy): a row's bytes equal x's encryption under
 * the key the row names exactly when they equal one of x's encryptions
 * under every loaded key.  Only btree indexes take an array condition in
 * a plain index scan, so only they are offered one.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"

#include "encrypted_column.h"

PG_FUNCTION_INFO_V1(encrypted_text_det_text_support);

/*
 * encrypt_det_all(text), found in the schema of the function the support
 * request is about, so that a relocated extension still finds its own.
 */
static Oid
encrypt_all_function(Oid operator_function)
{
	Oid			namespace = get_func_namespace(operator_function);
	char	   *schema = get_namespace_name(namespace);
	Oid			argtypes[1] = {TEXTOID};

	if (schema == NULL)
		return InvalidOid;
	return LookupFuncName(list_make2(makeString(schema),
									 makeString("encrypt_det_all")),
						  1, argtypes, true);
}

/* Turn `col = plaintext` into `col = ANY (encrypt_det_all(plaintext))`. */
static List *
index_condition(SupportRequestIndexCondition *req)
{
	OpExpr	   *clause;
	Node	   *column;
	Node	   *plain;
	Oid			dettype;
	Oid			eq;
	Oid			encrypt_all;
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
	encrypt_all = encrypt_all_function(req->funcid);
	if (!OidIsValid(eq) || !OidIsValid(encrypt_all) ||
		!OidIsValid(get_array_type(dettype)))
		return NIL;

	saop = makeNode(ScalarArrayOpExpr);
	saop->opno = eq;
	saop->opfuncid = get_opcode(eq);
	saop->useOr = true;
	saop->inputcollid = InvalidOid;
	saop->args = list_make2(copyObject(column),
							makeFuncExpr(encrypt_all, get_array_type(dettype),
										 list_make1(copyObject(plain)),
										 InvalidOid, InvalidOid,
										 COERCE_EXPLICIT_CALL));
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
