/*
 * redact.h
 *		Internal interface of the files that keep keys and plaintext out of
 *		the server's reporting channels and catalogs (keymask.c, redact.c,
 *		copy_redact.c, stats_guard.c).
 */
#ifndef EC_REDACT_H
#define EC_REDACT_H

#include "postgres.h"

#include "nodes/parsenodes.h"

/* stats_guard.c: catalog facts about the extension's types and functions */
extern bool ec_type_holds_encrypted(Oid typid);
extern void ec_guard_object_created(Oid classId, Oid objectId, int subId);

/* keymask.c: key values in statement text, found by the core scanner */
typedef struct EcMaskRange
{
	int			start;			/* byte offset of the first masked byte */
	int			len;			/* bytes to mask */
	bool		quote;			/* write '***' rather than *** */
	int			token;			/* byte offset of its token, -1 if none */
} EcMaskRange;

/*
 * Where a key can only be known by its form (a DO block's body, messages
 * about a statement that sets a key by parameter), runs of this many hex
 * digits or more are masked: keys have 64, key ids 8.
 */
#define EC_MIN_SECRET_HEX_RUN	16

extern int	ec_hex_run(const char *s);
extern bool ec_is_extension_guc(const char *name);
extern int	ec_find_key_values(const char *text, int len, const int *locs,
							   int nlocs, bool all_hex, int *open_from,
							   bool *by_param, EcMaskRange **ranges);
extern int	ec_query_key_values(Query *query, int **locs, bool *by_param,
								bool *exprs);
extern void ec_apply_ranges(char *text, int len, const EcMaskRange *ranges,
							int n);

/* redact.c: keys out of the server's reporting channels (module.c calls) */
#include "access/xact.h"
#include "executor/execdesc.h"
#include "parser/parse_node.h"
#include "tcop/utility.h"
#include "utils/elog.h"

extern void ec_redact_message(ErrorData *edata, bool keys_out);
extern void ec_redact_parsed(ParseState *pstate, Query *query);
extern void ec_redact_statement(const char *text);
extern void ec_redact_executor_started(QueryDesc *queryDesc);
extern bool ec_redact_executor_counted(QueryDesc *queryDesc);
extern void ec_redact_executor_ended(void);
extern void ec_redact_xact_callback(XactEvent event, void *arg);

/* copy_redact.c: row data out of the messages of COPY into encrypted columns */
extern bool ec_copy_into_encrypted(Node *utility);
extern void ec_copy_run_redacted(ProcessUtility_hook_type next,
								 PlannedStmt *pstmt, const char *queryString,
								 bool readOnlyTree,
								 ProcessUtilityContext context,
								 ParamListInfo params,
								 QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);
extern void ec_copy_redact_message(ErrorData *edata);

#endif							/* EC_REDACT_H */
