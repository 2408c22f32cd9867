/*
 * module.c
 *		Module entry: PG_MODULE_MAGIC, _PG_init and the hook table.
 *
 * This file owns every hook and callback the extension installs and every
 * pointer to the hook it replaced.  _PG_init installs them all in one block; each
 * hook below is one function that calls the concerns' steps in a visible
 * order and then the previous hook (or PostgreSQL's standard function).
 * The concerns are
 *	redact.c		keys out of the statement text, the log, pg_stat_activity
 *	copy_redact.c	row data out of the messages of COPY into encrypted columns
 *	stats_guard.c	statistics objects and indexes that could store decrypted
 *					values
 *	det_planner.c	encrypted_text_det = ANY (text[]) made index-friendly
 *	search_planner.c	ORDER BY a typed column LIMIT n through its range index
 *	typed.c			the memo of values sealed in the transaction, forgotten
 *					at its end
 *	privilege.c		the answers of read_plaintext(), forgotten when the
 *					catalog changes
 *	citus.c			Citus clusters: keys for worker sessions, shipped values
 *	audit.c			who used which stored key, in shared memory (only when
 *					the library is in shared_preload_libraries)
 * Lower layers never call citus.c: the seams (ec_input_may_take_ciphertext,
 * ec_keys_changed, ec_no_key_hint, ec_stored_keys_changed) are pointed at
 * it here.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "audit.h"
#include "compat.h"
#include "citus.h"
#include "encrypted_column.h"
#include "redact.h"
#include "typed.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* the seams (encrypted_column.h) */
bool		(*ec_input_may_take_ciphertext) (void) = NULL;
void		(*ec_keys_changed) (void) = NULL;
const char *(*ec_no_key_hint) (void) = NULL;
void		(*ec_stored_keys_changed) (const char *name) = NULL;

/* the hooks that were installed before ours */
static emit_log_hook_type prev_emit_log = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;
static planner_hook_type prev_planner = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;
static ExecutorRun_hook_type prev_executor_run = NULL;
static ExecutorFinish_hook_type prev_executor_finish = NULL;
static ExecutorEnd_hook_type prev_executor_end = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;
static object_access_hook_type prev_object_access = NULL;
static needs_fmgr_hook_type prev_needs_fmgr = NULL;
static fmgr_hook_type prev_fmgr = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

/*
 * The rest of the utility chain: the previous hook or PostgreSQL.  A DO
 * block's code runs outside any executor, so it counts as computing for
 * Citus's shipped-value rule.
 */
static void
next_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest,
			 QueryCompletion *qc)
{
	bool		counted = IsA(pstmt->utilityStmt, DoStmt);

	if (counted)
		ec_citus_computing_enter();
	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		if (counted)
			ec_citus_computing_leave();
	}
	PG_END_TRY();
}

/*
 * emit_log_hook: row data out of COPY's messages, then keys out of every
 * part of the message.  Runs inside error reporting: no step may fail.
 */
static void
ec_emit_log(ErrorData *edata)
{
	ec_copy_redact_message(edata);
	ec_redact_message(edata, ec_citus_keys_out());
	if (prev_emit_log)
		prev_emit_log(edata);
}

/* post_parse_analyze_hook: mask the parsed statement's keys in place. */
static void
ec_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	ec_redact_parsed(pstate, query);
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
}

/* The rest of the planner chain, counted as computing (it inlines SQL functions). */
static PlannedStmt *
next_planner(Query *parse, const char *query_string, int cursorOptions,
			 ParamListInfo boundParams)
{
	PlannedStmt *volatile result = NULL;

	ec_citus_computing_enter();
	PG_TRY();
	{
		if (prev_planner)
			result = prev_planner(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_FINALLY();
	{
		ec_citus_computing_leave();
	}
	PG_END_TRY();
	return result;
}

/*
 * planner_hook: make encrypted_text_det lookups by text arrays usable by
 * an index; on a Citus coordinator, fold lookups by a known plaintext into
 * constants Citus can route and keep an INSERT ... SELECT's type modifier
 * casts; plan; then turn the index conditions sized by
 * the number of keys into single calls.
 */
static PlannedStmt *
ec_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	uint64		arrays = ec_det_arrays_made();
	PlannedStmt *stmt;

	parse = ec_det_rewrite(parse);
	/* ranges and ORDER BY a typed column LIMIT n through its range index */
	parse = ec_search_rewrite_order(parse, !ec_citus_routes_constants());
	if (ec_citus_routes_constants())
	{
		parse = ec_det_fold_known(parse, boundParams);
		/* INSERT ... SELECT: a type modifier's cast where Citus keeps it */
		parse = ec_search_keep_typmod_casts(parse);
	}
	stmt = next_planner(parse, query_string, cursorOptions, boundParams);
	ec_det_finish_plan(stmt, arrays);
	return stmt;
}

/*
 * ExecutorStart_hook: mask the statement's own copy of its text, hand the
 * keys to Citus's worker sessions if it will open any, start, and count a
 * statement that may carry a key as a parameter.
 */
static void
ec_executor_start(QueryDesc *queryDesc, int eflags)
{
	ec_redact_statement(queryDesc->sourceText);
	ec_citus_before_statement(next_utility);
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	ec_redact_executor_started(queryDesc);
}

/* ExecutorRun_hook: the executor computes. */
static void
ec_executor_run(EC_EXECUTOR_RUN_PARAMS)
{
	ec_citus_computing_enter();
	PG_TRY();
	{
		if (prev_executor_run)
			prev_executor_run(EC_EXECUTOR_RUN_ARGS);
		else
			standard_ExecutorRun(EC_EXECUTOR_RUN_ARGS);
	}
	PG_FINALLY();
	{
		ec_citus_computing_leave();
	}
	PG_END_TRY();
}

/* ExecutorFinish_hook: AFTER triggers compute here. */
static void
ec_executor_finish(QueryDesc *queryDesc)
{
	ec_citus_computing_enter();
	PG_TRY();
	{
		if (prev_executor_finish)
			prev_executor_finish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		ec_citus_computing_leave();
	}
	PG_END_TRY();
}

/* ExecutorEnd_hook: end, and uncount a statement counted at the start. */
static void
ec_executor_end(QueryDesc *queryDesc)
{
	bool		counted = ec_redact_executor_counted(queryDesc);

	if (prev_executor_end)
		prev_executor_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (counted)
		ec_redact_executor_ended();
}

/*
 * ProcessUtility_hook: mask the statement's keys; keep Citus's command
 * logging off while keys are handed over and hand a SET LOCAL of a key to
 * Citus from the parse tree; run a COPY into encrypted columns so that its
 * messages lose the row data.
 */
static void
ec_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	ec_redact_statement(queryString);
	/* (SET may turn the logging off again; ending the transaction is fine) */
	if (!IsA(stmt, VariableSetStmt) && !IsA(stmt, TransactionStmt))
		ec_citus_check_logging();
	if (IsA(stmt, VariableSetStmt) &&
		ec_citus_forward_set((VariableSetStmt *) stmt, next_utility))
		return;
	if (ec_copy_into_encrypted(stmt))
		ec_copy_run_redacted(next_utility, pstmt, queryString, readOnlyTree,
							 context, params, queryEnv, dest, qc);
	else
		next_utility(pstmt, queryString, readOnlyTree, context, params,
					 queryEnv, dest, qc);
}

/*
 * object_access_hook: a statistics object or an index just created is
 * checked; a function about to run may be one of Citus's command shippers.
 */
static void
ec_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (access == OAT_POST_CREATE)
		ec_guard_object_created(classId, objectId, subId);
	else if (access == OAT_FUNCTION_EXECUTE)
		ec_citus_check_execute(objectId);
}

/* needs_fmgr_hook: Citus watches procedural functions on its nodes. */
static bool
ec_needs_fmgr(Oid fn_oid)
{
	if (prev_needs_fmgr && prev_needs_fmgr(fn_oid))
		return true;
	return ec_citus_needs_fmgr(fn_oid);
}

/* fmgr_hook: a watched function starts or ends. */
static void
ec_fmgr(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (prev_fmgr)
		prev_fmgr(event, flinfo, private);
	ec_citus_fmgr(event, flinfo);
}

/* Role and membership changes: both kinds of privilege answer anew. */
static void
ec_roles_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	ec_privilege_forget(arg, cacheid, hashvalue);
	ec_store_forget_privileges();
}

/* A relation changed: perhaps the key table (store.c). */
static void
ec_relation_changed(Datum arg, Oid relid)
{
	ec_store_forget(arg, relid);
}

/* shmem_request_hook: the audit's table and lock (preloaded only). */
static void
ec_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	ec_audit_shmem_request();
}

/* shmem_startup_hook: make or find the audit's table (preloaded only). */
static void
ec_shmem_startup(void)
{
	if (prev_shmem_startup)
		prev_shmem_startup();
	ec_audit_shmem_startup();
}

/*
 * Register the settings, point the seams and install the hook table.
 * Shared memory can be had only while shared_preload_libraries loads:
 * loaded later, the library leaves the shared-memory hooks alone and the
 * audit counts nothing.
 */
void
_PG_init(void)
{
	ec_define_gucs();
	ec_citus_define_gucs();
	if (process_shared_preload_libraries_in_progress)
		ec_audit_define_gucs();
	MarkGUCPrefixReserved("encrypted_column");

	ec_input_may_take_ciphertext = ec_citus_may_ship;
	ec_keys_changed = ec_citus_keys_changed;
	ec_no_key_hint = ec_citus_no_key_hint;
	ec_stored_keys_changed = ec_citus_stored_keys_changed;

	prev_emit_log = emit_log_hook;
	emit_log_hook = ec_emit_log;
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = ec_post_parse_analyze;
	prev_planner = planner_hook;
	planner_hook = ec_planner;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = ec_executor_start;
	prev_executor_run = ExecutorRun_hook;
	ExecutorRun_hook = ec_executor_run;
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = ec_executor_finish;
	prev_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = ec_executor_end;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = ec_process_utility;
	prev_object_access = object_access_hook;
	object_access_hook = ec_object_access;
	prev_needs_fmgr = needs_fmgr_hook;
	needs_fmgr_hook = ec_needs_fmgr;
	prev_fmgr = fmgr_hook;
	fmgr_hook = ec_fmgr;
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request = shmem_request_hook;
		shmem_request_hook = ec_shmem_request;
		prev_shmem_startup = shmem_startup_hook;
		shmem_startup_hook = ec_shmem_startup;
	}
	RegisterXactCallback(ec_redact_xact_callback, NULL);
	RegisterXactCallback(ec_citus_xact_callback, NULL);
	RegisterXactCallback(ec_audit_xact_callback, NULL);
	RegisterXactCallback(ec_memo_xact_callback, NULL);
	RegisterSubXactCallback(ec_citus_subxact_callback, NULL);
	CacheRegisterSyscacheCallback(PROCOID, ec_privilege_forget, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, ec_roles_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, ec_roles_changed, (Datum) 0);
	CacheRegisterRelcacheCallback(ec_relation_changed, (Datum) 0);
}
