/*
 * compat.h
 *		Shims over the differences between PostgreSQL 13 and 17 that
 *		encrypted_column touches.  Every version test lives in this file.
 */
#ifndef EC_COMPAT_H
#define EC_COMPAT_H

#include "postgres.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 130000
#error "encrypted_column needs PostgreSQL 13 or later"
#endif

/*
 * PostgreSQL 15 reserves a GUC prefix; older releases only warn about
 * placeholders that exist when the library is loaded.
 */
#if PG_VERSION_NUM >= 150000
#define ec_reserve_guc_prefix(prefix) MarkGUCPrefixReserved(prefix)
#else
#define ec_reserve_guc_prefix(prefix) EmitWarningsOnPlaceholders(prefix)
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

/* PostgreSQL 14 added readOnlyTree to ProcessUtility_hook. */
#if PG_VERSION_NUM >= 140000
#define EC_UTILITY_READONLY_PARAM bool readOnlyTree,
#define EC_UTILITY_READONLY_ARG readOnlyTree,
#else
#define EC_UTILITY_READONLY_PARAM
#define EC_UTILITY_READONLY_ARG
#endif

#endif							/* EC_COMPAT_H */
