/*
 * typed.h
 *		The hook table's step of typed.c: the memo of values sealed in
 *		the current transaction is forgotten when it ends.
 */
#ifndef EC_TYPED_H
#define EC_TYPED_H

#include "access/xact.h"

extern void ec_memo_xact_callback(XactEvent event, void *arg);

#endif							/* EC_TYPED_H */
