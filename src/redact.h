/*
 * redact.h
 *		Internal interface of the files that keep keys and plaintext out of
 *		the server's reporting channels and catalogs (redact.c, keymask.c,
 *		guard.c).
 */
#ifndef EC_REDACT_H
#define EC_REDACT_H

#include "postgres.h"

#include "nodes/parsenodes.h"

/* guard.c: catalog facts about the extension's types and functions */
extern bool ec_type_holds_encrypted(Oid typid);
extern void ec_guard_install(void);

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

/* scaleout.c: the parts that run inside redact.c's hooks */
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

extern void ec_citus_before_statement(ProcessUtility_hook_type next);
extern bool ec_citus_forward_set(VariableSetStmt *stmt,
								 ProcessUtility_hook_type next);
extern void ec_citus_check_execute(Oid funcid);
extern void ec_citus_check_logging(void);

#endif							/* EC_REDACT_H */
