/*
 * det_ops.c
 *		The comparison and hash functions of encrypted_text_det's operator
 *		classes: the envelope bytes, compared as bytea.
 *
 * Two envelopes are equal exactly when their bytes are, and the byte order
 * only lets a btree hold them.  PostgreSQL's bytea functions do this on any
 * varlena, so each function here hands its call to the bytea function.  It
 * could be declared LANGUAGE internal with the bytea function's name, but
 * fmgr knows built-in functions by their own OIDs only: for any other OID
 * it reads pg_proc and searches the table of built-in functions by name on
 * every lookup, and the executor looks these functions up for each scan
 * key of every index scan.  A C function is found by OID in fmgr's hash of
 * loaded C functions after its first call.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"

PG_FUNCTION_INFO_V1(encrypted_text_det_eq);
PG_FUNCTION_INFO_V1(encrypted_text_det_ne);
PG_FUNCTION_INFO_V1(encrypted_text_det_lt);
PG_FUNCTION_INFO_V1(encrypted_text_det_le);
PG_FUNCTION_INFO_V1(encrypted_text_det_ge);
PG_FUNCTION_INFO_V1(encrypted_text_det_gt);
PG_FUNCTION_INFO_V1(encrypted_text_det_cmp);
PG_FUNCTION_INFO_V1(encrypted_text_det_hash);
PG_FUNCTION_INFO_V1(encrypted_text_det_hash_extended);

/* envelope = envelope: the same bytes */
Datum
encrypted_text_det_eq(PG_FUNCTION_ARGS)
{
	return byteaeq(fcinfo);
}

/* envelope <> envelope */
Datum
encrypted_text_det_ne(PG_FUNCTION_ARGS)
{
	return byteane(fcinfo);
}

/* byte order, for btree only */
Datum
encrypted_text_det_lt(PG_FUNCTION_ARGS)
{
	return bytealt(fcinfo);
}

/* byte order, for btree only */
Datum
encrypted_text_det_le(PG_FUNCTION_ARGS)
{
	return byteale(fcinfo);
}

/* byte order, for btree only */
Datum
encrypted_text_det_ge(PG_FUNCTION_ARGS)
{
	return byteage(fcinfo);
}

/* byte order, for btree only */
Datum
encrypted_text_det_gt(PG_FUNCTION_ARGS)
{
	return byteagt(fcinfo);
}

/* btree support function 1: the byte comparison */
Datum
encrypted_text_det_cmp(PG_FUNCTION_ARGS)
{
	return byteacmp(fcinfo);
}

/* hash support function 1: the hash of the bytes */
Datum
encrypted_text_det_hash(PG_FUNCTION_ARGS)
{
	return hashvarlena(fcinfo);
}

/* hash support function 2: the seeded 64-bit hash of the bytes */
Datum
encrypted_text_det_hash_extended(PG_FUNCTION_ARGS)
{
	return hashvarlenaextended(fcinfo);
}
