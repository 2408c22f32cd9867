/*
 * fuzz_pkcs11_uri.c
 *		libFuzzer harness for the RFC 7512 URI parser of the pkcs11:
 *		key-encryption-key source.
 *
 * It is linked with the extension's own src/pkcs11_uri.c.  Beyond what
 * AddressSanitizer and UBSan catch, it checks the parser's contract and
 * traps when it is broken:
 *	- on success: module-path is set, non-empty and free of NUL bytes (it
 *	  goes to dlopen as a C string), pin-source likewise when set,
 *	  pin-source and pin-value are not both set, every value is
 *	  NUL-terminated and no longer than the input;
 *	- on failure: nothing is left allocated or set, and the message is a
 *	  non-empty, terminated string;
 *	- a PIN never reaches a message: the input is parsed again with a
 *	  pin-value appended in the query and in the path, and the message of
 *	  a failure must not contain that PIN.
 */
#define _GNU_SOURCE				/* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11_uri.h"

/* Stop the run when a contract is broken; libFuzzer saves the input. */
#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "contract broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

#define CANARY "Zk9Qp7PIN"

/* A set value is terminated and no longer than the input; an unset one is empty. */
static void
check_value(const ec_p11_value *v, size_t input_len)
{
	if (!v->set)
	{
		REQUIRE(v->data == NULL && v->len == 0);
		return;
	}
	REQUIRE(v->data != NULL);
	REQUIRE(v->len <= input_len);
	REQUIRE(v->data[v->len] == '\0');
}

/* Parse text[0..len) and check the contract; returns the parse result. */
static int
check_parse(const char *text, size_t len, char *err)
{
	ec_p11_uri	uri;
	char	   *copy = malloc(len ? len : 1);
	int			ok;

	/* an exact-size heap copy, so any read past the end is caught */
	memcpy(copy, text, len);
	memset(err, 'x', EC_P11_URI_ERR_LEN);
	ok = ec_p11_uri_parse(copy, len, &uri, err);
	if (ok)
	{
		check_value(&uri.token, len);
		check_value(&uri.manufacturer, len);
		check_value(&uri.serial, len);
		check_value(&uri.model, len);
		check_value(&uri.object, len);
		check_value(&uri.id, len);
		check_value(&uri.module_path, len);
		check_value(&uri.pin_source, len);
		check_value(&uri.pin_value, len);
		REQUIRE(uri.module_path.set && uri.module_path.len > 0);
		REQUIRE(strlen((char *) uri.module_path.data) == uri.module_path.len);
		REQUIRE(!(uri.pin_source.set && uri.pin_value.set));
		if (uri.pin_source.set)
			REQUIRE(strlen((char *) uri.pin_source.data) == uri.pin_source.len);
		ec_p11_uri_free(&uri);
		REQUIRE(!uri.module_path.set && uri.module_path.data == NULL);
	}
	else
	{
		static const ec_p11_uri empty;

		REQUIRE(memcmp(&uri, &empty, sizeof(uri)) == 0);
		REQUIRE(memchr(err, '\0', EC_P11_URI_ERR_LEN) != NULL);
		REQUIRE(err[0] != '\0');
	}
	free(copy);
	return ok;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: as it is, then with a PIN appended that no message may show. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *tails[] = {"&pin-value=" CANARY, "?pin-value=" CANARY,
	";pin-value=" CANARY, CANARY};
	char		err[EC_P11_URI_ERR_LEN];
	char	   *buf;

	check_parse((const char *) data, size, err);
	if (memmem(data, size, CANARY, strlen(CANARY)) != NULL)
		return 0;
	buf = malloc(size + 32);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++)
	{
		size_t		n = strlen(tails[i]);

		memcpy(buf, data, size);
		memcpy(buf + size, tails[i], n);
		if (!check_parse(buf, size + n, err))
			REQUIRE(strstr(err, CANARY) == NULL);
	}
	free(buf);
	return 0;
}
