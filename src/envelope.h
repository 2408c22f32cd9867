/*
 * envelope.h
 *		The stored datum (the binary envelope) and its text form.
 *
 * This file and envelope.c depend on nothing but the C library, so the
 * same parsers the server uses can be built into a fuzzing harness.
 *
 * Envelope, version 1:
 *	byte 0		format version (1)
 *	byte 1		algorithm (1 = AES-256-GCM, 2 = AES-256-SIV), bit 7 set when
 *				the value is bound to a context, bit 6 set when the plaintext
 *				is UTF-8 (every value since 0.3.0; without it, the plaintext
 *				is in the encoding of the database that wrote it)
 *				Algorithms 3 to 8 are AES-256-GCM holding a typed value, the
 *				plain type's binary (send) form: 3 bigint, 4 numeric, 5 date,
 *				6 timestamptz, 7 jsonb, 8 bytea.  Bit 5 set when a search-term
 *				block follows the header (GCM and typed values only).
 *	bytes 2..5	key id
 *	terms:		(bit 5 only) 4 bytes, the type modifier the terms were made
 *				for; 4 bytes, their length N; N bytes of terms (trigram tags
 *				of 2 bytes each, ascending, or one 8-byte range term), all
 *				big-endian
 *	GCM:		12-byte nonce, ciphertext, 16-byte tag
 *	SIV:		16-byte synthetic IV, ciphertext
 * Bytes 0..5 and the term block are authenticated as associated data.
 *
 * Text form: EC_TEXT_PREFIX followed by standard, padded base64 of the
 * envelope.
 */
#ifndef EC_ENVELOPE_H
#define EC_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EC_FORMAT_VERSION		1
#define EC_ALG_AES256_GCM		1
#define EC_ALG_AES256_SIV		2
#define EC_ALG_BIGINT			3
#define EC_ALG_NUMERIC			4
#define EC_ALG_DATE				5
#define EC_ALG_TIMESTAMPTZ		6
#define EC_ALG_JSONB			7
#define EC_ALG_BYTEA			8
#define EC_ALG_CONTEXT_BIT		0x80
#define EC_ALG_UTF8_BIT			0x40
#define EC_ALG_TERMS_BIT		0x20
#define EC_ALG_FLAG_BITS		(EC_ALG_CONTEXT_BIT | EC_ALG_UTF8_BIT | EC_ALG_TERMS_BIT)
/* does an algorithm seal with AES-256-GCM (text or a typed value)? */
#define EC_ALG_IS_GCM(alg)		((alg) == EC_ALG_AES256_GCM || \
								 ((alg) >= EC_ALG_BIGINT && (alg) <= EC_ALG_BYTEA))

#define EC_HEADER_LEN			6
#define EC_KEY_ID_LEN			4
#define EC_GCM_NONCE_LEN		12
#define EC_GCM_TAG_LEN			16
#define EC_SIV_IV_LEN			16
#define EC_TERMS_HEAD_LEN		8	/* the term block's type modifier and length */
#define EC_TERMS_MAX			(1 << 20)	/* longest term block: bytes of terms */
/* everything a GCM envelope adds to the plaintext: 34 bytes */
#define EC_GCM_OVERHEAD			(EC_HEADER_LEN + EC_GCM_NONCE_LEN + EC_GCM_TAG_LEN)
/* everything a SIV envelope adds to the plaintext: 22 bytes */
#define EC_SIV_OVERHEAD			(EC_HEADER_LEN + EC_SIV_IV_LEN)

#define EC_TEXT_PREFIX			"ecv1:"
#define EC_TEXT_PREFIX_LEN		(sizeof(EC_TEXT_PREFIX) - 1)

/*
 * The longest text form a value may have.  SELECT sends it in a DataRow
 * message (a 2-byte column count and a 4-byte length before it), built in
 * a buffer that PostgreSQL caps at MaxAllocSize (2^30 - 1) bytes, NUL
 * included; COPY TO, pg_dump and a cast to text need less.  seal.c
 * checks this against MaxAllocSize at compile time.
 */
#define EC_TEXT_FORM_MAX		((size_t) 0x3fffffff - 7)

typedef enum ec_envelope_status
{
	EC_ENV_OK = 0,
	EC_ENV_TOO_SHORT,
	EC_ENV_BAD_VERSION,
	EC_ENV_BAD_ALGORITHM,
	EC_ENV_BAD_PREFIX,
	EC_ENV_BAD_BASE64,
	EC_ENV_BAD_TERMS
} ec_envelope_status;

/* A parsed envelope: pointers into the caller's buffer, nothing copied. */
typedef struct ec_envelope
{
	uint8_t		algorithm;		/* without EC_ALG_CONTEXT_BIT */
	bool		has_context;
	bool		plain_utf8;		/* EC_ALG_UTF8_BIT: the plaintext is UTF-8 */
	const uint8_t *header;		/* bytes 0..5 and the terms: associated data */
	size_t		header_len;		/* EC_HEADER_LEN, plus the term block */
	bool		has_terms;
	int32_t		terms_typmod;	/* the type modifier the terms were made for */
	const uint8_t *terms;		/* the terms, terms_len bytes */
	size_t		terms_len;
	const uint8_t *key_id;		/* EC_KEY_ID_LEN bytes */
	const uint8_t *nonce;		/* GCM: EC_GCM_NONCE_LEN; SIV: the IV */
	const uint8_t *ciphertext;
	size_t		ciphertext_len;
	const uint8_t *tag;			/* GCM only */
} ec_envelope;

extern ec_envelope_status ec_envelope_parse(const uint8_t *buf, size_t len,
											uint8_t algorithm,
											ec_envelope *env);
extern void ec_envelope_write_header(uint8_t *buf, uint8_t algorithm,
									 bool has_context,
									 const uint8_t *key_id);
extern size_t ec_envelope_write_terms(uint8_t *buf, int32_t typmod,
									  const uint8_t *terms, size_t len);
extern const char *ec_envelope_status_detail(ec_envelope_status status);

extern bool ec_text_has_prefix(const char *str, size_t len);
extern size_t ec_text_encoded_len(size_t envelope_len);
extern size_t ec_max_plaintext_len(size_t overhead);
extern void ec_text_encode(const uint8_t *envelope, size_t len, char *out);
extern size_t ec_text_decoded_max(size_t text_len);
extern ec_envelope_status ec_text_decode(const char *str, size_t len,
										 uint8_t *out, size_t *out_len);
extern int	ec_base64_value(unsigned char c, bool urlsafe);
extern void ec_hex_encode(const uint8_t *bytes, size_t len, char *out);
extern int	ec_hex_digit(char c);

#endif							/* EC_ENVELOPE_H */
