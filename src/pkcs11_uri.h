/*
 * pkcs11_uri.h
 *		RFC 7512 PKCS#11 URIs as pure structure: the parts of a
 *		"pkcs11:" key-encryption-key source, percent-decoded.
 *
 * No server header is included: the fuzzer builds this file alone.
 */
#ifndef EC_PKCS11_URI_H
#define EC_PKCS11_URI_H

#include <stdbool.h>
#include <stddef.h>

/*
 * One decoded attribute value.  data is malloc'd and always followed by a
 * NUL byte that is not counted in len; the value itself may hold NUL bytes
 * (id is binary).
 */
typedef struct ec_p11_value
{
	bool		set;
	unsigned char *data;
	size_t		len;
} ec_p11_value;

/* The attributes that a key-encryption-key URI may carry. */
typedef struct ec_p11_uri
{
	/* path: which token */
	ec_p11_value token;			/* CK_TOKEN_INFO label */
	ec_p11_value manufacturer;	/* CK_TOKEN_INFO manufacturerID */
	ec_p11_value serial;		/* CK_TOKEN_INFO serialNumber */
	ec_p11_value model;			/* CK_TOKEN_INFO model */
	bool		has_slot_id;
	unsigned long slot_id;
	/* path: which key in it */
	ec_p11_value object;		/* CKA_LABEL */
	ec_p11_value id;			/* CKA_ID */
	bool		has_type;		/* type=secret-key, the only type allowed */
	/* query */
	ec_p11_value module_path;	/* the module to dlopen */
	ec_p11_value pin_source;	/* a file holding the PIN */
	ec_p11_value pin_value;		/* the PIN itself; wiped by ec_p11_uri_free */
} ec_p11_uri;

/* Longest message that ec_p11_uri_parse writes, with its NUL. */
#define EC_P11_URI_ERR_LEN 160

/*
 * Parse a "pkcs11:" URI.  On success returns true and fills *uri, which
 * the caller frees with ec_p11_uri_free.  On failure returns false, leaves
 * *uri empty and writes into err a message that names the attribute at
 * fault but never quotes a value (a value may be a PIN).
 */
extern bool ec_p11_uri_parse(const char *text, size_t len, ec_p11_uri *uri,
							 char *err /* EC_P11_URI_ERR_LEN */ );

/* Wipe and free every value of *uri; an empty or freed *uri is fine. */
extern void ec_p11_uri_free(ec_p11_uri *uri);

#endif							/* EC_PKCS11_URI_H */
