/*
 * encrypted_column.h
 *		Internal API shared by the extension's source files.
 *
 * Layers, from the bottom:
 *	crypto.c	the only file that includes OpenSSL: AEAD contexts, HKDF, the
 *				nonce pool; returns status codes and never calls ereport
 *	envelope.c	the envelope and text form, pure structure (envelope.h)
 *	keyring.c	key parsing, subkey derivation, the per-backend key ring
 *	module.c	PG_MODULE_MAGIC, _PG_init and the GUCs
 *	type_io.c	encrypted_text input, output, receive, send and casts
 *	accessors.c	encrypt(), decrypt() and the other SQL functions
 *	redact.c	log, statistics and activity hooks that mask keys and keep
 *				COPY row data out of error context (redact.h)
 *	keymask.c	key values in statement text, found by the core scanner
 *	guard.c		the list of the extension's types; refuses statistics
 *				objects that would store decrypted values
 */
#ifndef ENCRYPTED_COLUMN_H
#define ENCRYPTED_COLUMN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define EC_MASTER_KEY_LEN		32	/* bytes; 64 hex digits in the GUC */
#define EC_MAX_PREVIOUS_KEYS	16
#define EC_KEY_ID_HEX_LEN		(2 * EC_KEY_ID_LEN)

/* HKDF-SHA256 info strings: one subkey per purpose, never the master key. */
#define EC_INFO_KEY_ID			"encrypted_column key id"
#define EC_INFO_GCM				"encrypted_column aes-256-gcm"

/* ---- crypto.c ---- */

typedef enum ec_crypto_status
{
	EC_CRYPTO_OK = 0,
	EC_CRYPTO_LIBRARY,			/* OpenSSL failed: see ec_crypto_error_text */
	EC_CRYPTO_AUTH				/* the tag did not verify */
} ec_crypto_status;

typedef struct ec_gcm ec_gcm;	/* an AES-256-GCM key, expanded once */

extern ec_crypto_status ec_hkdf_sha256(const uint8_t *ikm, size_t ikm_len,
									   const char *info,
									   uint8_t *out, size_t out_len);
extern ec_gcm *ec_gcm_new(const uint8_t *key);
extern void ec_gcm_free(ec_gcm *gcm);
extern ec_crypto_status ec_gcm_seal(ec_gcm *gcm, const uint8_t *nonce,
									const uint8_t *aad, size_t aad_len,
									const uint8_t *context, size_t context_len,
									const uint8_t *in, size_t len,
									uint8_t *out, uint8_t *tag);
extern ec_crypto_status ec_gcm_open(ec_gcm *gcm, const uint8_t *nonce,
									const uint8_t *aad, size_t aad_len,
									const uint8_t *context, size_t context_len,
									const uint8_t *in, size_t len,
									const uint8_t *tag, uint8_t *out);
extern ec_crypto_status ec_gcm_next_nonce(uint8_t *nonce);
extern void ec_wipe(void *ptr, size_t len);
extern const char *ec_crypto_error_text(void);

/* ---- keyring.c ---- */

/* One loaded master key, as the rest of the code sees it. */
typedef struct ec_key
{
	uint8_t		id[EC_KEY_ID_LEN];
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
	ec_gcm	   *gcm;
} ec_key;

extern bool ec_parse_key_hex(const char *str, size_t len, uint8_t *key);
extern bool ec_key_list_valid(const char *list, int *count, int *bad_entry);
extern bool ec_key_id_of_hex(const char *hex, size_t len, char *id_hex);
extern void ec_keyring_invalidate(void);
extern const ec_key *ec_current_key(void);
extern const ec_key *ec_current_key_or_null(void);
extern int	ec_find_keys(const uint8_t *key_id, const ec_key **keys, int max);
extern void ec_crypto_failed(const char *what);

/* ---- redact.c: hooks that keep keys and row data out of logs ---- */

extern void ec_redact_install(void);

/* ---- module.c: GUC values ---- */

extern char *ec_key_guc;
extern char *ec_previous_keys_guc;
extern bool ec_accept_ciphertext;

/* ---- accessors.c: the one encrypt/decrypt path every entry point uses ---- */

struct varlena;
typedef struct varlena *(*ec_plain_fn) (const char *plain, size_t len, void *arg);
/* datum is a Datum; this header is also read where postgres.h is not */
extern struct varlena *ec_apply_to_plain(uintptr_t datum, ec_plain_fn fn, void *arg);
extern struct varlena *ec_seal_text(const char *plain, size_t len,
									const char *context, size_t context_len);
extern struct varlena *ec_open_to_text(struct varlena *envelope,
									   const char *context, size_t context_len);

/* ---- primitives for reading legacy formats (crypto.c, used by legacy.c) ---- */

#define EC_LEGACY_SHA256_LEN	32
#define EC_LEGACY_AES_BLOCK		16
#define EC_LEGACY_GCM_TAG_LEN	16

extern ec_crypto_status ec_legacy_sha256(const uint8_t *in, size_t len,
										 uint8_t *out);
extern ec_crypto_status ec_legacy_hmac_sha256(const uint8_t *key,
											  size_t key_len,
											  const uint8_t *in, size_t len,
											  uint8_t *out);
extern ec_crypto_status ec_legacy_aes_cbc_decrypt(const uint8_t *key,
												  size_t key_len,
												  const uint8_t *iv,
												  const uint8_t *in,
												  size_t len, uint8_t *out);
extern ec_crypto_status ec_legacy_aes_gcm_open(const uint8_t *key,
											   size_t key_len,
											   const uint8_t *nonce,
											   size_t nonce_len,
											   const uint8_t *in, size_t len,
											   const uint8_t *tag,
											   uint8_t *out);
extern bool ec_legacy_equal(const void *a, const void *b, size_t len);

#endif							/* ENCRYPTED_COLUMN_H */
