/*
 * kmip_ttlv.h
 *		The KMIP messages that the kmip:// key-encryption-key source
 *		exchanges, in KMIP's TTLV encoding: a Get request built, and its
 *		response read.
 *
 * This file and kmip_ttlv.c depend on nothing but the C library, so the
 * same reader the server uses can be built into a fuzzing harness.
 *
 * TTLV: every item is a 3-byte tag, a 1-byte type, a 4-byte big-endian
 * length and a value padded with zeros to a multiple of 8 bytes; a
 * structure's value is a run of items.  The reader trusts no length: an
 * item must lie inside its parent, and every part it reports points into
 * the buffer it was given.
 */
#ifndef EC_KMIP_TTLV_H
#define EC_KMIP_TTLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EC_TTLV_HEADER_LEN		8
/* the largest response accepted; a Get of one AES key needs a few hundred */
#define EC_KMIP_MAX_RESPONSE	65536
/* the longest unique identifier sent; KMIP servers use UUIDs or integers */
#define EC_KMIP_MAX_ID_LEN		1024
/* a request has room for the header items and the identifier */
#define EC_KMIP_REQUEST_MAX		(160 + EC_KMIP_MAX_ID_LEN + 8)

/* enumeration values read from a response (KMIP 1.x, section 9.1.3) */
#define EC_KMIP_OBJECT_SYMMETRIC_KEY	2
#define EC_KMIP_FORMAT_RAW				1
#define EC_KMIP_FORMAT_TRANSPARENT_SYM	7
#define EC_KMIP_ALG_AES					3
#define EC_KMIP_RESULT_SUCCESS			0

/* what reading a response found wrong with it, if anything */
typedef enum ec_kmip_status
{
	EC_KMIP_OK = 0,
	EC_KMIP_MALFORMED,			/* not well-formed TTLV, or a field of the
								 * wrong type */
	EC_KMIP_NOT_RESPONSE,		/* well formed, but no Response Message of
								 * one batch item answering Get */
	EC_KMIP_FAILED,				/* Result Status other than Success */
	EC_KMIP_NOT_SYMMETRIC,		/* an object that is not a symmetric key */
	EC_KMIP_WRAPPED,			/* the key came wrapped by another key */
	EC_KMIP_NO_KEY				/* no Key Material byte string */
} ec_kmip_status;

/*
 * What a Get response holds.  Text and bytes point into the response, which
 * the caller keeps; -1 marks an enumeration or integer the response did not
 * carry.
 */
typedef struct ec_kmip_get_result
{
	int64_t		result_status;
	int64_t		result_reason;
	const char *result_message;	/* not NUL-terminated */
	size_t		result_message_len;
	const char *unique_id;		/* not NUL-terminated */
	size_t		unique_id_len;
	int64_t		object_type;
	int64_t		key_format;
	int64_t		algorithm;
	int64_t		crypto_length;	/* in bits */
	const uint8_t *key;			/* Key Material: secret, never print it */
	size_t		key_len;
} ec_kmip_get_result;

/*
 * Build a KMIP 1.2 Get request for the object with this unique identifier
 * into out (EC_KMIP_REQUEST_MAX bytes); returns its length, or 0 when the
 * identifier is empty or longer than EC_KMIP_MAX_ID_LEN.
 */
extern size_t ec_kmip_build_get(const char *uid, size_t uid_len, uint8_t *out);

/*
 * The total length of a response whose first EC_TTLV_HEADER_LEN bytes are
 * header: 0 unless it starts a Response Message structure whose length is
 * a multiple of 8 and at most EC_KMIP_MAX_RESPONSE in all.
 */
extern size_t ec_kmip_response_length(const uint8_t *header);

/*
 * Read a whole Get response.  Fills res as far as it got, in every case;
 * EC_KMIP_OK only for a successful Get of a symmetric key that came with
 * unwrapped key material (its format, algorithm and length are for the
 * caller to judge).
 */
extern ec_kmip_status ec_kmip_parse_get(const uint8_t *buf, size_t len,
										ec_kmip_get_result *res);

/* A short English text for a status, for messages. */
extern const char *ec_kmip_status_text(ec_kmip_status status);

/* KMIP's name of a Result Reason ("Item Not Found"), or NULL if unknown. */
extern const char *ec_kmip_reason_name(int64_t reason);

/* KMIP's names of an Object Type and a Cryptographic Algorithm, or NULL. */
extern const char *ec_kmip_object_type_name(int64_t type);
extern const char *ec_kmip_algorithm_name(int64_t alg);

#endif							/* EC_KMIP_TTLV_H */
