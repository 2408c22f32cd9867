/*
 * citus.h
 *		The steps of citus.c that the hook table (module.c) calls.  No other
 *		file includes this header: lower layers reach Citus only through the
 *		neutral callbacks in encrypted_column.h that module.c sets.
 */
#ifndef EC_CITUS_H
#define EC_CITUS_H

#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

/* encrypted_column.trusted_node_cn */
extern char *ec_trusted_node_cn;
extern void ec_citus_define_gucs(void);

/* shipped values: may a node's input function take one as it is? */
extern bool ec_citus_may_ship(void);
extern bool ec_citus_routes_constants(void);
extern void ec_citus_computing_enter(void);
extern void ec_citus_computing_leave(void);
extern bool ec_citus_needs_fmgr(Oid fn_oid);
extern void ec_citus_fmgr(FmgrHookEventType event, FmgrInfo *flinfo);
extern void ec_citus_check_execute(Oid funcid);

/* keys for the worker sessions */
extern void ec_citus_before_statement(ProcessUtility_hook_type next);
extern bool ec_citus_forward_set(VariableSetStmt *stmt,
								 ProcessUtility_hook_type next);
extern void ec_citus_check_logging(void);
extern void ec_citus_keys_changed(void);
extern bool ec_citus_keys_out(void);
extern const char *ec_citus_no_key_hint(void);

/* the key table on every node */
extern void ec_citus_stored_keys_changed(const char *name);
extern void ec_citus_xact_callback(XactEvent event, void *arg);
extern void ec_citus_subxact_callback(SubXactEvent event,
									  SubTransactionId mySubid,
									  SubTransactionId parentSubid,
									  void *arg);

#endif							/* EC_CITUS_H */
