/*
 * legacy.h
 *		Internal API of encrypted_column_migrate, the extension that reads
 *		ciphertexts written by application-level encryption.
 *
 *	legacy_crypto.c	one-shot SHA-256, HMAC-SHA256, AES-CBC and AES-GCM
 *					over OpenSSL; returns status codes and never calls
 *					ereport
 *	legacy.c		the SQL functions: formats, padding, errors
 *
 * The base64 alphabet (src/envelope.c) and OpenSSL's error text and
 * wiping (src/crypto.c) come from the core extension's own files,
 * compiled into this library too; the core's key ring and contexts are
 * never used here.
 */
#ifndef EC_LEGACY_H
#define EC_LEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encrypted_column.h"

#define EC_LEGACY_SHA256_LEN	32
#define EC_LEGACY_AES_BLOCK		16
#define EC_LEGACY_GCM_TAG_LEN	16

typedef enum ec_legacy_status
{
	EC_LEGACY_OK = 0,
	EC_LEGACY_LIBRARY,			/* OpenSSL failed: see ec_crypto_error_text */
	EC_LEGACY_AUTH				/* the tag did not verify */
} ec_legacy_status;

extern ec_legacy_status ec_legacy_sha256(const uint8_t *in, size_t len,
										 uint8_t *out);
extern ec_legacy_status ec_legacy_hmac_sha256(const uint8_t *key,
											  size_t key_len,
											  const uint8_t *in, size_t len,
											  uint8_t *out);
extern ec_legacy_status ec_legacy_aes_cbc_decrypt(const uint8_t *key,
												  size_t key_len,
												  const uint8_t *iv,
												  const uint8_t *in,
												  size_t len, uint8_t *out);
extern ec_legacy_status ec_legacy_aes_gcm_open(const uint8_t *key,
											   size_t key_len,
											   const uint8_t *nonce,
											   size_t nonce_len,
											   const uint8_t *in, size_t len,
											   const uint8_t *tag,
											   uint8_t *out);
extern bool ec_legacy_equal(const void *a, const void *b, size_t len);

#endif							/* EC_LEGACY_H */
