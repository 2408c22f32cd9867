/*
 * kek_pending.c
 *		The PKCS#11 source until its own file lands: it refuses with a
 *		clear error.
 */
#include "postgres.h"

#include "kek.h"

/* Refuse a source this build does not have. */
static void
not_in_this_build(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the %s key-encryption key source is not in this build", what)));
}

void *
ec_pkcs11_open(const char *uri)
{
	(void) uri;
	not_in_this_build("pkcs11");
	return NULL;
}

void
ec_pkcs11_wrap(void *handle, const uint8_t *key, size_t key_len, uint8_t *wrapped)
{
	(void) handle;
	(void) key;
	(void) key_len;
	(void) wrapped;
	not_in_this_build("pkcs11");
}

bool
ec_pkcs11_unwrap(void *handle, const uint8_t *wrapped, size_t wrapped_len, uint8_t *key)
{
	(void) handle;
	(void) wrapped;
	(void) wrapped_len;
	(void) key;
	not_in_this_build("pkcs11");
	return false;
}

void
ec_pkcs11_close(void *handle)
{
	(void) handle;
}
