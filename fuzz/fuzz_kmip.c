/*
 * fuzz_kmip.c
 *		libFuzzer harness for the KMIP TTLV reader and writer of the
 *		kmip:// key-encryption-key source.
 *
 * It is linked with the extension's own src/kmip_ttlv.c, so it tests the
 * code the server runs on what a KMIP server sends.  Beyond what
 * AddressSanitizer and UBSan catch, it checks the contracts and traps when
 * one is broken:
 *	- ec_kmip_parse_get: every text and byte string it reports lies inside
 *	  the input; EC_KMIP_OK only with Result Status Success, Object Type
 *	  Symmetric Key and non-empty key material;
 *	- ec_kmip_response_length: 0, or a multiple of 8 of at most
 *	  EC_KMIP_MAX_RESPONSE bytes;
 *	- ec_kmip_build_get, given the input as a unique identifier: a request
 *	  whose lengths add up, whose identifier is the input, and which the
 *	  response reader never takes for a response.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmip_ttlv.h"

/* Stop the run when a contract is broken; libFuzzer saves the input. */
#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "contract broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

/* Is [p, p + n) inside [buf, buf + len)? */
static int
inside(const uint8_t *buf, size_t len, const void *ptr, size_t n)
{
	const uint8_t *p = ptr;

	return p >= buf && n <= len && (size_t) (p - buf) <= len - n;
}

/* Read a whole response from an exact-size copy and check what it claims. */
static void
check_parse(const uint8_t *data, size_t size)
{
	uint8_t    *copy = malloc(size ? size : 1);
	ec_kmip_get_result res;
	ec_kmip_status st;

	memcpy(copy, data, size);
	st = ec_kmip_parse_get(copy, size, &res);
	REQUIRE(ec_kmip_status_text(st) != NULL);
	if (res.result_message != NULL)
		REQUIRE(inside(copy, size, res.result_message, res.result_message_len));
	if (res.unique_id != NULL)
		REQUIRE(inside(copy, size, res.unique_id, res.unique_id_len));
	if (res.key != NULL)
		REQUIRE(inside(copy, size, res.key, res.key_len));
	if (st == EC_KMIP_OK)
	{
		REQUIRE(res.result_status == EC_KMIP_RESULT_SUCCESS);
		REQUIRE(res.object_type == EC_KMIP_OBJECT_SYMMETRIC_KEY);
		REQUIRE(res.key != NULL);
	}
	if (st == EC_KMIP_FAILED)
		REQUIRE(res.result_status > 0);
	/* the names are looked up for messages: any number must be safe */
	(void) ec_kmip_reason_name(res.result_reason);
	(void) ec_kmip_object_type_name(res.object_type);
	(void) ec_kmip_algorithm_name(res.algorithm);
	if (size >= EC_TTLV_HEADER_LEN)
	{
		size_t		total = ec_kmip_response_length(copy);

		REQUIRE(total == 0 || (total % 8 == 0 && total <= EC_KMIP_MAX_RESPONSE &&
							   total >= EC_TTLV_HEADER_LEN));
	}
	free(copy);
}

/* Build a Get request for the input as identifier and check its shape. */
static void
check_build(const uint8_t *data, size_t size)
{
	uint8_t		req[EC_KMIP_REQUEST_MAX];
	size_t		len = ec_kmip_build_get((const char *) data, size, req);
	ec_kmip_get_result res;
	size_t		outer;

	if (size == 0 || size > EC_KMIP_MAX_ID_LEN)
	{
		REQUIRE(len == 0);
		return;
	}
	REQUIRE(len > 0 && len <= EC_KMIP_REQUEST_MAX && len % 8 == 0);
	outer = ((size_t) req[4] << 24) | ((size_t) req[5] << 16) |
		((size_t) req[6] << 8) | req[7];
	REQUIRE(outer + EC_TTLV_HEADER_LEN == len);
	/* the identifier is the last item: its bytes, then zero padding */
	REQUIRE(memcmp(req + len - ((size + 7) & ~(size_t) 7), data, size) == 0);
	REQUIRE(ec_kmip_response_length(req) == 0);
	REQUIRE(ec_kmip_parse_get(req, len, &res) == EC_KMIP_NOT_RESPONSE);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_build(data, size);
	return 0;
}
