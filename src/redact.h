/*
 * redact.h
 *		Internal interface of the files that keep keys and plaintext out of
 *		the server's reporting channels and catalogs (redact.c, keymask.c,
 *		guard.c).
 */
#ifndef EC_REDACT_H
#define EC_REDACT_H

#include "postgres.h"

/* guard.c: catalog facts about the extension's types and functions */
extern bool ec_type_holds_encrypted(Oid typid);
extern void ec_guard_install(void);

/* keymask.c: key values in statement text, found by the core scanner */
typedef struct EcMaskRange
{
	int			start;			/* byte offset of the first masked byte */
	int			len;			/* bytes to mask */
	bool		quote;			/* write '***' rather than *** */
} EcMaskRange;

extern int	ec_find_key_values(const char *text, int len, int *open_from,
							   bool *by_param, EcMaskRange **ranges);
extern void ec_apply_ranges(char *text, int len, const EcMaskRange *ranges,
							int n);

/* scaleout.c: the parts that run inside redact.c's hooks */
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

extern void ec_citus_before_statement(ProcessUtility_hook_type next);
extern bool ec_citus_forward_set(VariableSetStmt *stmt,
								 ProcessUtility_hook_type next);

#endif							/* EC_REDACT_H */
