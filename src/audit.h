/*
 * audit.h
 *		The steps of audit.c that the hook table (module.c) calls: the
 *		shared table's setting, its shared memory and the transaction end
 *		that hands a backend's counts to it.  Counting itself is
 *		ec_audit_count() in encrypted_column.h, called by seal.c.
 */
#ifndef EC_AUDIT_H
#define EC_AUDIT_H

#include "postgres.h"

#include "access/xact.h"

/* encrypted_column.audit_max_entries; only when preloaded */
extern void ec_audit_define_gucs(void);

/* shmem_request_hook and shmem_startup_hook steps */
extern void ec_audit_shmem_request(void);
extern void ec_audit_shmem_startup(void);

/* every end of a transaction: the backend's counts reach shared memory */
extern void ec_audit_xact_callback(XactEvent event, void *arg);

#endif							/* EC_AUDIT_H */
