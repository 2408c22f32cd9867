/*
 * legacy_crypto.c
 *		The crypto layer of encrypted_column_migrate: the only file of this
 *		library that includes OpenSSL.
 *
 * One-shot helpers for legacy.c, which reads ciphertexts that application
 * libraries wrote (sqlalchemy-utils, Fernet).  Each creates its own
 * OpenSSL object, frees it before returning on every path and leaves the
 * error queue empty; the caller owns and wipes every key and output buffer.
 * Functions return an ec_legacy_status and never call ereport, so no
 * OpenSSL object can be stranded by a longjmp.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "legacy.h"

/* A failed OpenSSL call: its reason is kept for ec_crypto_error_text(). */
static ec_legacy_status
library_failure(void)
{
	ec_crypto_note_error();
	return EC_LEGACY_LIBRARY;
}

/* SHA-256 of len bytes into out (EC_LEGACY_SHA256_LEN bytes). */
ec_legacy_status
ec_legacy_sha256(const uint8_t *in, size_t len, uint8_t *out)
{
	unsigned int out_len = 0;

	if (EVP_Digest(in, len, out, &out_len, EVP_sha256(), NULL) != 1 ||
		out_len != EC_LEGACY_SHA256_LEN)
	{
		ec_wipe(out, EC_LEGACY_SHA256_LEN);
		return library_failure();
	}
	return EC_LEGACY_OK;
}

/* HMAC-SHA256 of len bytes under key into out (EC_LEGACY_SHA256_LEN bytes). */
ec_legacy_status
ec_legacy_hmac_sha256(const uint8_t *key, size_t key_len,
					  const uint8_t *in, size_t len, uint8_t *out)
{
	static EVP_MAC *hmac = NULL;	/* fetched once per process */
	EVP_MAC_CTX *ctx;
	OSSL_PARAM	params[2];
	size_t		out_len = 0;
	int			ok;

	if (hmac == NULL)
		hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac == NULL)
		return library_failure();
	ctx = EVP_MAC_CTX_new(hmac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
												 (char *) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = ctx != NULL &&
		EVP_MAC_init(ctx, key, key_len, params) == 1 &&
		EVP_MAC_update(ctx, in, len) == 1 &&
		EVP_MAC_final(ctx, out, &out_len, EC_LEGACY_SHA256_LEN) == 1 &&
		out_len == EC_LEGACY_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);		/* cleanses the keyed state */
	if (!ok)
	{
		ec_wipe(out, EC_LEGACY_SHA256_LEN);
		return library_failure();
	}
	return EC_LEGACY_OK;
}

/* The AES variant for a 16- or 32-byte key, or NULL for another length. */
static const EVP_CIPHER *
legacy_aes(size_t key_len, const EVP_CIPHER *(*aes128) (void),
		   const EVP_CIPHER *(*aes256) (void))
{
	if (key_len == 16)
		return aes128();
	if (key_len == 32)
		return aes256();
	return NULL;
}

/*
 * Raw AES-CBC decryption (no padding removed) of len bytes, a multiple of
 * the block size, with a 16- or 32-byte key; out receives len bytes.
 */
ec_legacy_status
ec_legacy_aes_cbc_decrypt(const uint8_t *key, size_t key_len,
						  const uint8_t *iv, const uint8_t *in, size_t len,
						  uint8_t *out)
{
	const EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *ctx;
	int			n1 = 0;
	int			n2 = 0;
	int			ok;

	cipher = legacy_aes(key_len, EVP_aes_128_cbc, EVP_aes_256_cbc);
	if (cipher == NULL)
		return library_failure();
	if (len > INT_MAX || len % EC_LEGACY_AES_BLOCK != 0)
		return library_failure();
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return library_failure();
	ok = EVP_DecryptInit_ex(ctx, cipher, NULL, key, iv) == 1 &&
		EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
		(len == 0 || EVP_DecryptUpdate(ctx, out, &n1, in, (int) len) == 1) &&
		EVP_DecryptFinal_ex(ctx, out + n1, &n2) == 1 &&
		(size_t) n1 + (size_t) n2 == len;
	EVP_CIPHER_CTX_free(ctx);	/* cleanses the key schedule */
	if (!ok)
	{
		ec_wipe(out, len);
		return library_failure();
	}
	return EC_LEGACY_OK;
}

/*
 * One-shot AES-GCM decryption with a 16- or 32-byte key, no associated
 * data and a 16-byte tag.  On EC_LEGACY_AUTH out has already been wiped.
 */
ec_legacy_status
ec_legacy_aes_gcm_open(const uint8_t *key, size_t key_len,
					   const uint8_t *nonce, size_t nonce_len,
					   const uint8_t *in, size_t len,
					   const uint8_t *tag, uint8_t *out)
{
	const EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *ctx;
	int			n = 0;
	int			final_len = 0;
	ec_legacy_status status = EC_LEGACY_OK;

	cipher = legacy_aes(key_len, EVP_aes_128_gcm, EVP_aes_256_gcm);
	if (cipher == NULL)
		return library_failure();
	if (len > INT_MAX || nonce_len == 0 || nonce_len > INT_MAX)
		return library_failure();
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return library_failure();
	if (EVP_DecryptInit_ex(ctx, cipher, NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int) nonce_len,
							NULL) != 1 ||
		EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
		(len > 0 && EVP_DecryptUpdate(ctx, out, &n, in, (int) len) != 1) ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, EC_LEGACY_GCM_TAG_LEN,
							(void *) tag) != 1)
		status = library_failure();
	else if (EVP_DecryptFinal_ex(ctx, out + n, &final_len) != 1)
	{
		ERR_clear_error();
		status = EC_LEGACY_AUTH;
	}
	EVP_CIPHER_CTX_free(ctx);	/* cleanses the key schedule */
	if (status != EC_LEGACY_OK)
		ec_wipe(out, len);
	return status;
}

/* Compare two MACs in time that does not depend on where they differ. */
bool
ec_legacy_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
