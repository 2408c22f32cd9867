/*
 * envelope.c
 *		Parse and build the binary envelope and its text form.
 *
 * Nothing here touches keys, PostgreSQL or OpenSSL: it only checks
 * structure, so that a malformed value is rejected before any byte of it
 * reaches the cipher.  Every length is checked before it is used.
 */
#include <string.h>

#include "envelope.h"

static const char b64_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A big-endian 32-bit number. */
static uint32_t
read_be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | p[3];
}

/* Split an envelope into its parts, or say why it cannot be one. */
ec_envelope_status
ec_envelope_parse(const uint8_t *buf, size_t len, uint8_t algorithm,
				  ec_envelope *env)
{
	size_t		fixed;
	size_t		head = EC_HEADER_LEN;

	if (len < EC_HEADER_LEN)
		return EC_ENV_TOO_SHORT;
	if (buf[0] != EC_FORMAT_VERSION)
		return EC_ENV_BAD_VERSION;
	if ((buf[1] & ~EC_ALG_FLAG_BITS) != algorithm)
		return EC_ENV_BAD_ALGORITHM;

	env->has_terms = (buf[1] & EC_ALG_TERMS_BIT) != 0;
	env->terms_typmod = -1;
	env->terms = NULL;
	env->terms_len = 0;
	if (env->has_terms)
	{
		uint32_t	typmod;
		uint32_t	terms_len;

		/* only randomized values carry terms; text tags come in pairs */
		if (!EC_ALG_IS_GCM(algorithm))
			return EC_ENV_BAD_TERMS;
		if (len < EC_HEADER_LEN + EC_TERMS_HEAD_LEN)
			return EC_ENV_TOO_SHORT;
		typmod = read_be32(buf + EC_HEADER_LEN);
		terms_len = read_be32(buf + EC_HEADER_LEN + 4);
		if (typmod > INT32_MAX || terms_len > EC_TERMS_MAX ||
			(algorithm == EC_ALG_AES256_GCM ? terms_len % 2 != 0 : terms_len != 8))
			return EC_ENV_BAD_TERMS;
		if (len - EC_HEADER_LEN - EC_TERMS_HEAD_LEN < terms_len)
			return EC_ENV_TOO_SHORT;
		env->terms_typmod = (int32_t) typmod;
		env->terms = buf + EC_HEADER_LEN + EC_TERMS_HEAD_LEN;
		env->terms_len = terms_len;
		head += EC_TERMS_HEAD_LEN + terms_len;
	}

	if (EC_ALG_IS_GCM(algorithm))
		fixed = head + EC_GCM_NONCE_LEN + EC_GCM_TAG_LEN;
	else if (algorithm == EC_ALG_AES256_SIV)
		fixed = head + EC_SIV_IV_LEN;
	else
		return EC_ENV_BAD_ALGORITHM;
	if (len < fixed)
		return EC_ENV_TOO_SHORT;

	env->algorithm = algorithm;
	env->has_context = (buf[1] & EC_ALG_CONTEXT_BIT) != 0;
	/* encrypted_text_det was born in 0.3.0: always UTF-8, bit 6 clear */
	env->plain_utf8 = algorithm == EC_ALG_AES256_SIV ||
		(buf[1] & EC_ALG_UTF8_BIT) != 0;
	env->header = buf;
	env->header_len = head;
	env->key_id = buf + 2;
	env->nonce = buf + head;
	if (EC_ALG_IS_GCM(algorithm))
	{
		env->ciphertext = buf + head + EC_GCM_NONCE_LEN;
		env->ciphertext_len = len - fixed;
		env->tag = buf + len - EC_GCM_TAG_LEN;
	}
	else
	{
		env->ciphertext = buf + head + EC_SIV_IV_LEN;
		env->ciphertext_len = len - fixed;
		env->tag = NULL;
	}
	return EC_ENV_OK;
}

/*
 * Write a term block after the header that buf already holds, and mark
 * the header; returns the block's length.
 */
size_t
ec_envelope_write_terms(uint8_t *buf, int32_t typmod, const uint8_t *terms,
						size_t len)
{
	uint8_t    *p = buf + EC_HEADER_LEN;

	buf[1] |= EC_ALG_TERMS_BIT;
	for (int shift = 24; shift >= 0; shift -= 8)
		*p++ = (uint8_t) ((uint32_t) typmod >> shift);
	for (int shift = 24; shift >= 0; shift -= 8)
		*p++ = (uint8_t) ((uint32_t) len >> shift);
	memcpy(p, terms, len);
	return EC_TERMS_HEAD_LEN + len;
}

/* Write bytes 0..5 of an envelope; algorithm may carry EC_ALG_UTF8_BIT. */
void
ec_envelope_write_header(uint8_t *buf, uint8_t algorithm, bool has_context,
						 const uint8_t *key_id)
{
	buf[0] = EC_FORMAT_VERSION;
	buf[1] = algorithm | (has_context ? EC_ALG_CONTEXT_BIT : 0);
	memcpy(buf + 2, key_id, EC_KEY_ID_LEN);
}

/* A sentence for errdetail; says what is wrong, never what the bytes are. */
const char *
ec_envelope_status_detail(ec_envelope_status status)
{
	switch (status)
	{
		case EC_ENV_OK:
			return "The value is well formed.";
		case EC_ENV_TOO_SHORT:
			return "The envelope is shorter than its fixed fields.";
		case EC_ENV_BAD_VERSION:
			return "The envelope has an unknown format version.";
		case EC_ENV_BAD_ALGORITHM:
			return "The envelope names an algorithm this type does not use.";
		case EC_ENV_BAD_PREFIX:
			return "The text form does not start with the ciphertext prefix.";
		case EC_ENV_BAD_BASE64:
			return "The text after the prefix is not canonical padded base64.";
		case EC_ENV_BAD_TERMS:
			return "The envelope's search-term block is malformed.";
	}
	return "The envelope is malformed.";
}

/* Does this string start with the ciphertext prefix? */
bool
ec_text_has_prefix(const char *str, size_t len)
{
	return len >= EC_TEXT_PREFIX_LEN &&
		memcmp(str, EC_TEXT_PREFIX, EC_TEXT_PREFIX_LEN) == 0;
}

/* Length of the text form of an envelope of this length, without the NUL. */
size_t
ec_text_encoded_len(size_t envelope_len)
{
	return EC_TEXT_PREFIX_LEN + (envelope_len + 2) / 3 * 4;
}

/*
 * The longest plaintext whose envelope, overhead bytes longer, has a text
 * form of at most EC_TEXT_FORM_MAX characters: the prefix, then 4 base64
 * characters per started group of 3 envelope bytes.
 */
size_t
ec_max_plaintext_len(size_t overhead)
{
	size_t		groups = (EC_TEXT_FORM_MAX - EC_TEXT_PREFIX_LEN) / 4;

	return groups * 3 - overhead;
}

/* Write prefix, base64 and a terminating NUL; out has encoded_len + 1 bytes. */
void
ec_text_encode(const uint8_t *envelope, size_t len, char *out)
{
	size_t		i = 0;

	memcpy(out, EC_TEXT_PREFIX, EC_TEXT_PREFIX_LEN);
	out += EC_TEXT_PREFIX_LEN;
	for (; i + 3 <= len; i += 3)
	{
		uint32_t	v = ((uint32_t) envelope[i] << 16) |
			((uint32_t) envelope[i + 1] << 8) | envelope[i + 2];

		*out++ = b64_alphabet[(v >> 18) & 63];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = b64_alphabet[(v >> 6) & 63];
		*out++ = b64_alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32_t	v = (uint32_t) envelope[i] << 16;

		*out++ = b64_alphabet[(v >> 18) & 63];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	}
	else if (len - i == 2)
	{
		uint32_t	v = ((uint32_t) envelope[i] << 16) |
			((uint32_t) envelope[i + 1] << 8);

		*out++ = b64_alphabet[(v >> 18) & 63];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = b64_alphabet[(v >> 6) & 63];
		*out++ = '=';
	}
	*out = '\0';
}

/* Upper bound of the envelope length a text form of this length decodes to. */
size_t
ec_text_decoded_max(size_t text_len)
{
	if (text_len < EC_TEXT_PREFIX_LEN)
		return 0;
	return (text_len - EC_TEXT_PREFIX_LEN) / 4 * 3;
}

/*
 * Value of one base64 character, or -1.  With urlsafe, '-' and '_' count
 * as '+' and '/', as Python's urlsafe_b64decode reads them.
 */
int
ec_base64_value(unsigned char c, bool urlsafe)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || (urlsafe && c == '-'))
		return 62;
	if (c == '/' || (urlsafe && c == '_'))
		return 63;
	return -1;
}

/*
 * Decode a text form into out (ec_text_decoded_max(len) bytes).  Only the
 * canonical encoding is accepted: padded, no white space, unused bits zero,
 * so every envelope has exactly one text form.
 */
ec_envelope_status
ec_text_decode(const char *str, size_t len, uint8_t *out, size_t *out_len)
{
	const unsigned char *p;
	size_t		n;
	size_t		o = 0;

	if (!ec_text_has_prefix(str, len))
		return EC_ENV_BAD_PREFIX;
	p = (const unsigned char *) str + EC_TEXT_PREFIX_LEN;
	n = len - EC_TEXT_PREFIX_LEN;
	if (n == 0 || n % 4 != 0)
		return EC_ENV_BAD_BASE64;

	for (size_t i = 0; i < n; i += 4)
	{
		int			a = ec_base64_value(p[i], false);
		int			b = ec_base64_value(p[i + 1], false);
		int			c;
		int			d;
		bool		last = (i + 4 == n);

		if (a < 0 || b < 0)
			return EC_ENV_BAD_BASE64;
		if (last && p[i + 2] == '=' && p[i + 3] == '=')
		{
			if (b & 0x0f)
				return EC_ENV_BAD_BASE64;
			out[o++] = (uint8_t) ((a << 2) | (b >> 4));
			break;
		}
		c = ec_base64_value(p[i + 2], false);
		if (c < 0)
			return EC_ENV_BAD_BASE64;
		if (last && p[i + 3] == '=')
		{
			if (c & 0x03)
				return EC_ENV_BAD_BASE64;
			out[o++] = (uint8_t) ((a << 2) | (b >> 4));
			out[o++] = (uint8_t) (((b & 0x0f) << 4) | (c >> 2));
			break;
		}
		d = ec_base64_value(p[i + 3], false);
		if (d < 0)
			return EC_ENV_BAD_BASE64;
		out[o++] = (uint8_t) ((a << 2) | (b >> 4));
		out[o++] = (uint8_t) (((b & 0x0f) << 4) | (c >> 2));
		out[o++] = (uint8_t) (((c & 0x03) << 6) | d);
	}
	*out_len = o;
	return EC_ENV_OK;
}

/* Lower-case hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void
ec_hex_encode(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* Value of one hex digit (either case), or -1. */
int
ec_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
