/*
 * fuzz_envelope.c
 *		libFuzzer harness for the envelope and text-form parsers.
 *
 * It is linked with the extension's own src/envelope.c, so it tests the
 * code the server runs.  Every input goes through every parser.  Beyond
 * what AddressSanitizer and UBSan catch (reads or writes outside a buffer,
 * undefined behaviour), it checks each parser's contract and traps when
 * one is broken:
 *	- ec_envelope_parse, for each of the eight algorithms (text, the
 *	  deterministic type and the six typed values): on success every part
 *	  lies inside the input and the parts add up to its length; a term
 *	  block (flag bit 5) is accepted only for the randomized algorithms,
 *	  only when it lies inside the input, holds no more than EC_TERMS_MAX
 *	  bytes, an even number of them for text and exactly 8 for a typed
 *	  value, and names a type modifier of at most INT32_MAX; on failure
 *	  nothing is claimed;
 *	- term blocks built from the input (type modifier, length and terms
 *	  from its bytes) by ec_envelope_write_header and
 *	  ec_envelope_write_terms: the parser gives back the same modifier and
 *	  terms; a truncation into the term block, the nonce or the tag is
 *	  refused as too short, and so is a declared length beyond the bytes
 *	  that follow, without a read past the (exact-size) buffer;
 *	- ec_text_decode: writes into a buffer of exactly
 *	  ec_text_decoded_max(len) bytes, and what it accepts is canonical, so
 *	  encoding the result gives back the input byte for byte;
 *	- ec_text_encode: its output has ec_text_encoded_len bytes, carries the
 *	  prefix, and decodes back to the bytes encoded;
 *	- the types: no input is an envelope of two algorithms, so a value of
 *	  one type (encrypted_text, encrypted_text_det, a typed value) is never
 *	  accepted as another.
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

/* The first and the last algorithm an envelope may name. */
#define ALG_FIRST	EC_ALG_AES256_GCM
#define ALG_LAST	EC_ALG_BYTEA

/* A big-endian 32-bit number. */
static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | p[3];
}

/* Parse as a binary envelope of the given algorithm and check the parts. */
static ec_envelope_status
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
		size_t		head = EC_HEADER_LEN;
		int			gcm = EC_ALG_IS_GCM(algorithm);

		REQUIRE(env.algorithm == algorithm);
		REQUIRE(env.header == copy);
		REQUIRE(inside(copy, size, env.header, EC_HEADER_LEN));
		REQUIRE(inside(copy, size, env.key_id, EC_KEY_ID_LEN));
		REQUIRE(env.key_id == copy + 2);
		REQUIRE(env.has_context == ((copy[1] & EC_ALG_CONTEXT_BIT) != 0));
		/* encrypted_text_det is UTF-8 by definition, whatever bit 6 says */
		REQUIRE(env.plain_utf8 == ((copy[1] & EC_ALG_UTF8_BIT) != 0 ||
								   algorithm == EC_ALG_AES256_SIV));
		REQUIRE(copy[0] == EC_FORMAT_VERSION);
		REQUIRE((copy[1] & ~EC_ALG_FLAG_BITS) == algorithm);

		/* the term block: only where the flag says, and well formed */
		REQUIRE(env.has_terms == ((copy[1] & EC_ALG_TERMS_BIT) != 0));
		if (env.has_terms)
		{
			REQUIRE(gcm);
			REQUIRE(size >= EC_HEADER_LEN + EC_TERMS_HEAD_LEN);
			REQUIRE(env.terms_typmod >= 0);
			REQUIRE((uint32_t) env.terms_typmod == be32(copy + EC_HEADER_LEN));
			REQUIRE(env.terms_len == be32(copy + EC_HEADER_LEN + 4));
			REQUIRE(env.terms_len <= EC_TERMS_MAX);
			if (algorithm == EC_ALG_AES256_GCM)
				REQUIRE(env.terms_len % 2 == 0);
			else
				REQUIRE(env.terms_len == 8);
			REQUIRE(env.terms == copy + EC_HEADER_LEN + EC_TERMS_HEAD_LEN);
			REQUIRE(inside(copy, size, env.terms, env.terms_len));
			head += EC_TERMS_HEAD_LEN + env.terms_len;
		}
		else
		{
			REQUIRE(env.terms == NULL && env.terms_len == 0);
			REQUIRE(env.terms_typmod == -1);
		}
		/* the associated data: the header and the term block */
		REQUIRE(env.header_len == head);
		REQUIRE(inside(copy, size, env.header, env.header_len));
		REQUIRE(env.nonce == copy + head);
		REQUIRE(inside(copy, size, env.ciphertext, env.ciphertext_len));
		if (gcm)
		{
			REQUIRE(inside(copy, size, env.nonce, EC_GCM_NONCE_LEN));
			REQUIRE(inside(copy, size, env.tag, EC_GCM_TAG_LEN));
			REQUIRE(env.ciphertext == copy + head + EC_GCM_NONCE_LEN);
			REQUIRE(head + EC_GCM_NONCE_LEN + env.ciphertext_len + EC_GCM_TAG_LEN == size);
			REQUIRE(env.tag == copy + size - EC_GCM_TAG_LEN);
		}
		else
		{
			REQUIRE(inside(copy, size, env.nonce, EC_SIV_IV_LEN));
			REQUIRE(env.tag == NULL);
			REQUIRE(env.ciphertext_len + EC_SIV_OVERHEAD == size);
			REQUIRE(env.ciphertext == copy + EC_SIV_OVERHEAD);
		}
		/* the writers produce the header and term block the parser accepted */
		{
			uint8_t    *header = malloc(head);
			size_t		n;

			ec_envelope_write_header(header,
									 algorithm | (copy[1] & EC_ALG_UTF8_BIT),
									 env.has_context, env.key_id);
			if (env.has_terms)
			{
				n = ec_envelope_write_terms(header, env.terms_typmod, env.terms,
											env.terms_len);
				REQUIRE(n == EC_TERMS_HEAD_LEN + env.terms_len);
			}
			REQUIRE(memcmp(header, copy, head) == 0);
			free(header);
		}
	}
	else
	{
		/* a refusal for a reason the input shows */
		if (size >= 2 && copy[0] == EC_FORMAT_VERSION &&
			(copy[1] & ~EC_ALG_FLAG_BITS) == algorithm && size >= EC_HEADER_LEN)
			REQUIRE(status == EC_ENV_TOO_SHORT || status == EC_ENV_BAD_TERMS);
	}
	free(copy);
	return status;
}

/*
 * Envelopes with a term block built from the input: the first four bytes
 * are the type modifier, the next two choose the length (an even one, 8,
 * one taken whole from the input, or one the input is too short for), the
 * rest are the terms and what follows them.  Built with the writers into
 * an exact-size buffer; then parsed whole and at every shorter length.
 */
static void
check_term_blocks(const uint8_t *data, size_t size)
{
	uint32_t	typmod;
	uint32_t	declared;
	size_t		rest_len;
	const uint8_t *rest;
	static const uint8_t key_id[EC_KEY_ID_LEN] = {0xde, 0xad, 0xbe, 0xef};

	if (size < 6)
		return;
	typmod = be32(data);
	rest = data + 6;
	rest_len = size - 6;
	switch (data[4] % 4)
	{
		case 0:					/* as many terms as the input has, made even */
			declared = (uint32_t) (rest_len & ~(size_t) 1);
			break;
		case 1:					/* one range term */
			declared = 8;
			break;
		case 2:					/* a length of the input's choosing, maybe huge */
			declared = be32(data + 2);
			break;
		default:				/* longer than what follows */
			declared = (uint32_t) rest_len + 1 + data[5];
			break;
	}

	/* text, the deterministic type (always refused) and one typed value */
	for (int which = 0; which < 3; which++)
	{
		uint8_t		algorithm = which == 0 ? EC_ALG_AES256_GCM :
			which == 1 ? EC_ALG_AES256_SIV : (uint8_t) (EC_ALG_BIGINT + data[5] % 6);
		/* header, term head, then the input's bytes (as terms, nonce, ...) */
		size_t		len = EC_HEADER_LEN + EC_TERMS_HEAD_LEN + rest_len;
		uint8_t    *env = malloc(len);
		size_t		fit = declared <= rest_len ? declared : rest_len;
		ec_envelope parsed;
		ec_envelope_status status;
		int			gcm = EC_ALG_IS_GCM(algorithm);
		int			len_ok;

		ec_envelope_write_header(env, algorithm | (data[5] & EC_ALG_UTF8_BIT),
								 (data[5] & 1) != 0, key_id);
		/* the writer copies len terms: write what fits, then declare */
		REQUIRE(ec_envelope_write_terms(env, (int32_t) typmod, rest, fit) ==
				EC_TERMS_HEAD_LEN + fit);
		memcpy(env + EC_HEADER_LEN + EC_TERMS_HEAD_LEN, rest, rest_len);
		env[EC_HEADER_LEN + 4] = (uint8_t) (declared >> 24);
		env[EC_HEADER_LEN + 5] = (uint8_t) (declared >> 16);
		env[EC_HEADER_LEN + 6] = (uint8_t) (declared >> 8);
		env[EC_HEADER_LEN + 7] = (uint8_t) declared;
		REQUIRE((env[1] & EC_ALG_TERMS_BIT) != 0);

		status = check_parse(env, len, algorithm);
		len_ok = typmod <= INT32_MAX && declared <= EC_TERMS_MAX &&
			(algorithm == EC_ALG_AES256_GCM ? declared % 2 == 0 : declared == 8);
		if (!gcm || !len_ok)
			REQUIRE(status == EC_ENV_BAD_TERMS);
		else if (declared > rest_len ||
				 rest_len - declared < EC_GCM_NONCE_LEN + EC_GCM_TAG_LEN)
			REQUIRE(status == EC_ENV_TOO_SHORT);
		else
		{
			REQUIRE(status == EC_ENV_OK);
			REQUIRE(ec_envelope_parse(env, len, algorithm, &parsed) == EC_ENV_OK);
			REQUIRE(parsed.terms_typmod == (int32_t) typmod);
			REQUIRE(parsed.terms_len == declared);
			REQUIRE(memcmp(parsed.terms, rest, declared) == 0);
			REQUIRE(parsed.ciphertext_len ==
					rest_len - declared - EC_GCM_NONCE_LEN - EC_GCM_TAG_LEN);
		}

		/*
		 * truncations: refused (too short) while they cut into the term
		 * block, the nonce or the tag, well formed with a shorter
		 * ciphertext after that, and read only within their length; cut
		 * on each side of every boundary between the parts, and the last
		 * byte off
		 */
		if (status == EC_ENV_OK)
		{
			size_t		terms_end = EC_HEADER_LEN + EC_TERMS_HEAD_LEN + declared;
			size_t		fixed = terms_end + EC_GCM_NONCE_LEN + EC_GCM_TAG_LEN;
			size_t		edges[] = {0, 1, EC_HEADER_LEN - 1, EC_HEADER_LEN,
				EC_HEADER_LEN + 4, EC_HEADER_LEN + EC_TERMS_HEAD_LEN - 1,
				EC_HEADER_LEN + EC_TERMS_HEAD_LEN, terms_end - 1, terms_end,
				terms_end + EC_GCM_NONCE_LEN, fixed - 1, fixed, fixed + 1, len - 1};

			for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++)
			{
				size_t		cut = edges[k];

				if (cut >= len)
					continue;
				if (cut < fixed)
					REQUIRE(check_parse(env, cut, algorithm) == EC_ENV_TOO_SHORT);
				else
					REQUIRE(check_parse(env, cut, algorithm) == EC_ENV_OK);
			}
		}
		/* an envelope of one algorithm is no other's */
		for (uint8_t other = ALG_FIRST; other <= ALG_LAST; other++)
			if (other != algorithm)
				REQUIRE(ec_envelope_parse(env, len, other, &parsed) == EC_ENV_BAD_ALGORITHM);
		free(env);
	}
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
		/* the server parses what it decoded, as any type */
		for (uint8_t a = ALG_FIRST; a <= ALG_LAST; a++)
			check_parse(out, out_len, a);
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

/* No input parses as an envelope of two algorithms. */
static void
check_types_apart(const uint8_t *data, size_t size)
{
	ec_envelope env;
	int			accepted = 0;

	for (uint8_t a = ALG_FIRST; a <= ALG_LAST; a++)
		accepted += ec_envelope_parse(data, size, a, &env) == EC_ENV_OK;
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
	for (uint8_t a = ALG_FIRST; a <= ALG_LAST; a++)
		check_parse(data, size, a);
	check_types_apart(data, size);
	check_term_blocks(data, size);
	check_decode(data, size);
	check_encode(data, size);
	check_hex(data, size);
	return 0;
}
