/*
 * compat.h
 *		Shims over the differences between the PostgreSQL versions that
 *		encrypted_column supports (15, 17 and 18).  Every version test
 *		lives in this file; the rest of the code reads as if there were
 *		one version.
 */
#ifndef EC_COMPAT_H
#define EC_COMPAT_H

#include "postgres.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 150000
#error "encrypted_column needs PostgreSQL 15 or later"
#endif

/* PostgreSQL 16 moved the varlena macros (VARDATA_ANY...) to varatt.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * PostgreSQL 18 replaced pg_attribute_noreturn(), written after a
 * declaration, with pg_noreturn, written before it.  GCC and clang take the
 * attribute in front as well, so the old macro serves as the new one.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * PostgreSQL 16 lets input functions report soft errors through an
 * ErrorSaveContext (pg_input_is_valid, COPY ... ON_ERROR).  Before that
 * there is no such context and the error is thrown as usual.
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#define EC_ESCONTEXT(fcinfo) ((fcinfo)->context)
#else
#define EC_ESCONTEXT(fcinfo) ((Node *) NULL)
#define ereturn(context, dummy_value, ...) \
	do { \
		(void) (context); \
		ereport(ERROR, __VA_ARGS__); \
		pg_unreachable(); \
	} while (0)
#endif

/*
 * A plain type's input function, its errors kept as data: true and the
 * value, or false and the error's SQLSTATE, with nothing thrown.  The
 * typed types replace those errors, which quote the input, with their
 * own.  PostgreSQL 16 has soft errors for this; before it, the error is
 * caught and the error state cleared, which is safe because the caller
 * raises an error of its own at once.
 */
#if PG_VERSION_NUM >= 160000
static inline bool
ec_input_call_soft(FmgrInfo *flinfo, char *str, Oid ioparam, Datum *result,
				   int *sqlerrcode)
{
	ErrorSaveContext escontext;

	memset(&escontext, 0, sizeof(escontext));
	escontext.type = T_ErrorSaveContext;
	escontext.details_wanted = true;
	if (InputFunctionCallSafe(flinfo, str, ioparam, -1, (Node *) &escontext,
							  result))
		return true;
	*sqlerrcode = escontext.error_data->sqlerrcode;
	return false;
}
#else
static inline bool
ec_input_call_soft(FmgrInfo *flinfo, char *str, Oid ioparam, Datum *result,
				   int *sqlerrcode)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		*result = InputFunctionCall(flinfo, str, ioparam, -1);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		*sqlerrcode = edata->sqlerrcode;
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}
#endif

/*
 * PostgreSQL 18 marks a descending sort in SortGroupClause.reverse_sort
 * (its sortop is then a ">" operator); before, the operator alone said so.
 */
#if PG_VERSION_NUM >= 180000
#define EC_COPY_SORT_DIRECTION(to, from) ((to)->reverse_sort = (from)->reverse_sort)
#else
#define EC_COPY_SORT_DIRECTION(to, from) ((void) (to), (void) (from))
#endif

/*
 * PostgreSQL 18 drops ExecutorRun's execute_once argument.  The
 * extension's hook declares its parameters with EC_EXECUTOR_RUN_PARAMS and
 * hands them on with EC_EXECUTOR_RUN_ARGS.
 */
#if PG_VERSION_NUM >= 180000
#define EC_EXECUTOR_RUN_PARAMS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define EC_EXECUTOR_RUN_ARGS queryDesc, direction, count
#else
#define EC_EXECUTOR_RUN_PARAMS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define EC_EXECUTOR_RUN_ARGS queryDesc, direction, count, execute_once
#endif

/*
 * PostgreSQL 16 replaced pg_proc_aclcheck() and its siblings with
 * object_aclcheck(), which takes the catalog.  Callers include
 * utils/acl.h and catalog/pg_proc.h.
 */
#if PG_VERSION_NUM >= 160000
#define ec_proc_aclcheck(proc, role, mode) \
	object_aclcheck(ProcedureRelationId, (proc), (role), (mode))
#else
#define ec_proc_aclcheck(proc, role, mode) \
	pg_proc_aclcheck((proc), (role), (mode))
#endif

/*
 * PostgreSQL 16 keeps the permissions of a query's relations in
 * Query.rteperminfos.  A query rewritten so that its relations move into a
 * subquery (which keeps a copy of the list) drops its own.
 */
#if PG_VERSION_NUM >= 160000
#define EC_QUERY_RESET_PERMINFOS(query) ((query)->rteperminfos = NIL)
#else
#define EC_QUERY_RESET_PERMINFOS(query) ((void) (query))
#endif

#endif							/* EC_COMPAT_H */
