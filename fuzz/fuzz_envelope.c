/*
 * fuzz_envelope.c
 *		libFuzzer harness for the envelope and text-form parsers.
 *
 * It is linked with the extension's own src/envelope.c, so it tests the
 * code the server runs.  Every input goes through every parser.  Beyond
 * what AddressSanitizer and UBSan catch (reads or writes outside a buffer,
 * undefined behaviour), it checks each parser's contract and traps when
 * one is broken:
 *	- ec_envelope_parse: on success every part lies inside the input and
 *	  the parts add up to its length; on failure nothing is claimed;
 *	- ec_text_decode: writes into a buffer of exactly
 *	  ec_text_decoded_max(len) bytes, and what it accepts is canonical, so
 *	  encoding the result gives back the input byte for byte;
 *	- ec_text_encode: its output has ec_text_encoded_len bytes, carries the
 *	  prefix, and decodes back to the bytes encoded;
 *	- the two types: no input is an envelope of both algorithms, so an
 *	  encrypted_text value is never accepted as encrypted_text_det or the
 *	  other way round.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

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
inside(const uint8_t *buf, size_t len, const uint8_t *p, size_t n)
{
	return p >= buf && n <= len && (size_t) (p - buf) <= len - n;
}

/* Parse as a binary envelope of the given algorithm and check the parts. */
static void
check_parse(const uint8_t *data, size_t size, uint8_t algorithm)
{
	ec_envelope env;
	ec_envelope_status status;
	uint8_t    *copy = malloc(size ? size : 1);

	/* an exact-size heap copy, so any read past the end is caught */
	memcpy(copy, data, size);
	status = ec_envelope_parse(copy, size, algorithm, &env);
	REQUIRE(ec_envelope_status_detail(status) != NULL);
	if (status == EC_ENV_OK)
	{
		REQUIRE(env.algorithm == algorithm);
		REQUIRE(env.header == copy);
		REQUIRE(inside(copy, size, env.header, EC_HEADER_LEN));
		REQUIRE(inside(copy, size, env.key_id, EC_KEY_ID_LEN));
		REQUIRE(env.has_context == ((copy[1] & EC_ALG_CONTEXT_BIT) != 0));
		/* encrypted_text_det is UTF-8 by definition, whatever bit 6 says */
		REQUIRE(env.plain_utf8 == ((copy[1] & EC_ALG_UTF8_BIT) != 0 ||
								   algorithm == EC_ALG_AES256_SIV));
		REQUIRE(copy[0] == EC_FORMAT_VERSION);
		REQUIRE(inside(copy, size, env.ciphertext, env.ciphertext_len));
		if (algorithm == EC_ALG_AES256_GCM)
		{
			REQUIRE(inside(copy, size, env.nonce, EC_GCM_NONCE_LEN));
			REQUIRE(inside(copy, size, env.tag, EC_GCM_TAG_LEN));
			REQUIRE(env.ciphertext_len + EC_GCM_OVERHEAD == size);
			REQUIRE(env.tag == copy + size - EC_GCM_TAG_LEN);
		}
		else
		{
			REQUIRE(inside(copy, size, env.nonce, EC_SIV_IV_LEN));
			REQUIRE(env.tag == NULL);
			REQUIRE(env.ciphertext_len + EC_SIV_OVERHEAD == size);
			REQUIRE(env.ciphertext == copy + EC_SIV_OVERHEAD);
		}
		/* the header writer produces the header the parser accepted */
		{
			uint8_t		header[EC_HEADER_LEN];

			ec_envelope_write_header(header,
									 algorithm | (copy[1] & EC_ALG_UTF8_BIT),
									 env.has_context, env.key_id);
			REQUIRE(memcmp(header, copy, EC_HEADER_LEN) == 0);
		}
	}
	free(copy);
}

/* Decode as a text form; what is accepted must re-encode to the input. */
static void
check_decode(const uint8_t *data, size_t size)
{
	size_t		max = ec_text_decoded_max(size);
	uint8_t    *out = malloc(max ? max : 1);
	size_t		out_len = 0;
	ec_envelope_status status;

	status = ec_text_decode((const char *) data, size, out, &out_len);
	REQUIRE(ec_text_has_prefix((const char *) data, size) ||
			status == EC_ENV_BAD_PREFIX);
	if (status == EC_ENV_OK)
	{
		size_t		enc_len = ec_text_encoded_len(out_len);
		char	   *enc = malloc(enc_len + 1);

		REQUIRE(out_len <= max);
		REQUIRE(out_len > 0);
		ec_text_encode(out, out_len, enc);
		REQUIRE(enc_len == size);
		REQUIRE(memcmp(enc, data, size) == 0);
		REQUIRE(enc[enc_len] == '\0');
		free(enc);
		/* the server parses what it decoded, as either type */
		check_parse(out, out_len, EC_ALG_AES256_GCM);
		check_parse(out, out_len, EC_ALG_AES256_SIV);
	}
	free(out);
}

/* Encode the input bytes; the text form must decode back to them. */
static void
check_encode(const uint8_t *data, size_t size)
{
	size_t		enc_len = ec_text_encoded_len(size);
	char	   *enc = malloc(enc_len + 1);
	size_t		max = ec_text_decoded_max(enc_len);
	uint8_t    *back = malloc(max ? max : 1);
	size_t		back_len = 0;
	ec_envelope_status status;

	ec_text_encode(data, size, enc);
	REQUIRE(strlen(enc) == enc_len);
	REQUIRE(ec_text_has_prefix(enc, enc_len));
	status = ec_text_decode(enc, enc_len, back, &back_len);
	if (size == 0)
		REQUIRE(status == EC_ENV_BAD_BASE64);	/* an empty envelope has no text form */
	else
	{
		REQUIRE(status == EC_ENV_OK);
		REQUIRE(back_len == size);
		REQUIRE(memcmp(back, data, size) == 0);
	}
	free(back);
	free(enc);
}

/* No input parses as an envelope of both algorithms. */
static void
check_types_apart(const uint8_t *data, size_t size)
{
	ec_envelope env;
	int			accepted = 0;

	accepted += ec_envelope_parse(data, size, EC_ALG_AES256_GCM, &env) == EC_ENV_OK;
	accepted += ec_envelope_parse(data, size, EC_ALG_AES256_SIV, &env) == EC_ENV_OK;
	REQUIRE(accepted <= 1);
}

/* Hex of the first bytes, as key ids are printed. */
static void
check_hex(const uint8_t *data, size_t size)
{
	size_t		n = size < 64 ? size : 64;
	char		hex[2 * 64 + 1];

	ec_hex_encode(data, n, hex);
	REQUIRE(strlen(hex) == 2 * n);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size, EC_ALG_AES256_GCM);
	check_parse(data, size, EC_ALG_AES256_SIV);
	check_types_apart(data, size);
	check_decode(data, size);
	check_encode(data, size);
	check_hex(data, size);
	return 0;
}
