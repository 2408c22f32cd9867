/*
 * crypto.c
 *		The crypto layer: the only file that includes OpenSSL.
 *
 * It owns AES-256-GCM contexts (one pair per key, with the key schedule
 * expanded once), AES-SIV contexts (a keyed template per key that every
 * operation copies), HKDF-SHA256, and the per-backend nonce pool.  Functions
 * return an ec_crypto_status and never call ereport, so no OpenSSL object
 * can be stranded by a longjmp; the callers turn failures into errors.
 * Memory here comes from OpenSSL's allocator, not from palloc, because
 * contexts live as long as the backend's key ring.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "encrypted_column.h"

struct ec_gcm
{
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

/*
 * OpenSSL's SIV context does one operation per keying: it counts the
 * operations and refuses a second.  Keying again would redo the key
 * schedules and the CMAC subkeys, so each key keeps two keyed templates
 * that are never used directly, and each operation works on a copy of one
 * of them in a context reused across calls.
 */
struct ec_siv
{
	EVP_CIPHER_CTX *enc;		/* keyed template for sealing */
	EVP_CIPHER_CTX *dec;		/* keyed template for opening */
	EVP_CIPHER_CTX *work;		/* the copy an operation runs on */
	EVP_MAC_CTX *cmac;			/* S2V's CMAC key, for the empty plaintext */
};

/* Algorithms fetched once per process: implicit fetches cost a lookup each. */
static EVP_CIPHER *gcm_cipher = NULL;
static EVP_CIPHER *siv_cipher = NULL;	/* AES-256-SIV, 64-byte keys */
static EVP_CIPHER *siv128_cipher = NULL;	/* AES-128-SIV, RFC 5297's vectors */
static EVP_KDF *hkdf_kdf = NULL;
static EVP_MAC *cmac_mac = NULL;

/*
 * Nonces are drawn from a buffer the CSPRNG fills in bulk: one RAND_bytes
 * call per value costs more than the encryption itself.  The buffer
 * belongs to the process that filled it: a fork handler empties it in the
 * child, so two processes can never hand out the same nonce.  (A getpid()
 * check per value would do the same at the price of a system call, as much
 * as the encryption.)  Nothing fills it before first use, so the
 * postmaster never does.
 */
#define NONCE_POOL_COUNT 512
static uint8_t nonce_pool[NONCE_POOL_COUNT * EC_GCM_NONCE_LEN];
static size_t nonce_pool_next = sizeof(nonce_pool);
static bool nonce_pool_fork_handler = false;

static char error_text[256];

/* Fetch the algorithms this file uses, once. */
static bool
fetch_algorithms(void)
{
	if (gcm_cipher == NULL)
		gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (siv_cipher == NULL)
		siv_cipher = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
	if (hkdf_kdf == NULL)
		hkdf_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (cmac_mac == NULL)
		cmac_mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	return gcm_cipher != NULL && siv_cipher != NULL && hkdf_kdf != NULL &&
		cmac_mac != NULL;
}

/*
 * Remember OpenSSL's reason for the last failure and clear its queue.  The
 * migration readers' library links this file for this and ec_wipe().
 */
void
ec_crypto_note_error(void)
{
	unsigned long code = ERR_get_error();

	if (code != 0)
		ERR_error_string_n(code, error_text, sizeof(error_text));
	else
		strncpy(error_text, "unknown OpenSSL failure", sizeof(error_text) - 1);
	ERR_clear_error();
}

/* A failed OpenSSL call, as this layer reports it. */
static ec_crypto_status
library_failure(void)
{
	ec_crypto_note_error();
	return EC_CRYPTO_LIBRARY;
}

/* OpenSSL's text for the last EC_CRYPTO_LIBRARY; it never holds key bytes. */
const char *
ec_crypto_error_text(void)
{
	return error_text[0] ? error_text : "unknown OpenSSL failure";
}

/* Wipe memory in a way the compiler may not optimise away. */
void
ec_wipe(void *ptr, size_t len)
{
	if (ptr != NULL && len > 0)
		OPENSSL_cleanse(ptr, len);
}

/* HKDF-SHA256 with no salt (RFC 5869 then uses a block of zeros). */
ec_crypto_status
ec_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *info,
			   uint8_t *out, size_t out_len)
{
	EVP_KDF_CTX *kctx;
	OSSL_PARAM	params[4];
	int			ok;

	if (!fetch_algorithms())
		return library_failure();
	kctx = EVP_KDF_CTX_new(hkdf_kdf);
	if (kctx == NULL)
		return library_failure();

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
												 (char *) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
												  (void *) ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
												  (void *) info, strlen(info));
	params[3] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, out, out_len, params);
	EVP_KDF_CTX_free(kctx);
	if (ok <= 0)
	{
		ec_wipe(out, out_len);
		return library_failure();
	}
	return EC_CRYPTO_OK;
}

/* Expand one AES-256 key into an encrypting and a decrypting GCM context. */
ec_gcm *
ec_gcm_new(const uint8_t *key)
{
	ec_gcm	   *gcm;

	if (!fetch_algorithms())
	{
		library_failure();
		return NULL;
	}
	gcm = OPENSSL_zalloc(sizeof(ec_gcm));
	if (gcm == NULL)
	{
		library_failure();
		return NULL;
	}
	gcm->enc = EVP_CIPHER_CTX_new();
	gcm->dec = EVP_CIPHER_CTX_new();
	if (gcm->enc == NULL || gcm->dec == NULL ||
		EVP_EncryptInit_ex(gcm->enc, gcm_cipher, NULL, key, NULL) != 1 ||
		EVP_DecryptInit_ex(gcm->dec, gcm_cipher, NULL, key, NULL) != 1)
	{
		library_failure();
		ec_gcm_free(gcm);
		return NULL;
	}
	return gcm;
}

/* Free both contexts; OpenSSL cleanses the key schedules as it frees them. */
void
ec_gcm_free(ec_gcm *gcm)
{
	if (gcm == NULL)
		return;
	EVP_CIPHER_CTX_free(gcm->enc);
	EVP_CIPHER_CTX_free(gcm->dec);
	OPENSSL_free(gcm);
}

/*
 * Encrypt len bytes under a fresh nonce.  The associated data is the
 * envelope header followed by the optional context; out receives exactly
 * len bytes and tag EC_GCM_TAG_LEN.
 */
ec_crypto_status
ec_gcm_seal(ec_gcm *gcm, const uint8_t *nonce,
			const uint8_t *aad, size_t aad_len,
			const uint8_t *context, size_t context_len,
			const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = gcm->enc;
	OSSL_PARAM	params[2];
	int			n;

	if (len > INT_MAX || aad_len > INT_MAX || context_len > INT_MAX)
		return library_failure();
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &n, aad, (int) aad_len) != 1)
		return library_failure();
	if (context_len > 0 &&
		EVP_EncryptUpdate(ctx, NULL, &n, context, (int) context_len) != 1)
		return library_failure();
	if (len > 0 && EVP_EncryptUpdate(ctx, out, &n, in, (int) len) != 1)
		return library_failure();
	/* the tag as an OSSL_PARAM: EVP_CIPHER_CTX_ctrl would build one anyway */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
												  tag, EC_GCM_TAG_LEN);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_EncryptFinal_ex(ctx, out + len, &n) != 1 ||
		EVP_CIPHER_CTX_get_params(ctx, params) != 1)
		return library_failure();
	return EC_CRYPTO_OK;
}

/*
 * Decrypt and verify.  On EC_CRYPTO_AUTH the caller must treat out as
 * unverified and wipe it; nothing of it may be returned.
 */
ec_crypto_status
ec_gcm_open(ec_gcm *gcm, const uint8_t *nonce,
			const uint8_t *aad, size_t aad_len,
			const uint8_t *context, size_t context_len,
			const uint8_t *in, size_t len, const uint8_t *tag, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = gcm->dec;
	OSSL_PARAM	params[2];
	int			n;

	if (len > INT_MAX || aad_len > INT_MAX || context_len > INT_MAX)
		return library_failure();
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
		EVP_DecryptUpdate(ctx, NULL, &n, aad, (int) aad_len) != 1)
		return library_failure();
	if (context_len > 0 &&
		EVP_DecryptUpdate(ctx, NULL, &n, context, (int) context_len) != 1)
		return library_failure();
	if (len > 0 && EVP_DecryptUpdate(ctx, out, &n, in, (int) len) != 1)
		return library_failure();
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
												  (void *) tag, EC_GCM_TAG_LEN);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_set_params(ctx, params) != 1)
		return library_failure();
	if (EVP_DecryptFinal_ex(ctx, out + len, &n) != 1)
	{
		/* a failed tag check leaves nothing on the queue worth keeping */
		ERR_clear_error();
		return EC_CRYPTO_AUTH;
	}
	return EC_CRYPTO_OK;
}

/*
 * Key an AES-SIV template pair.  A 64-byte key is AES-256-SIV, the
 * extension's cipher; a 32-byte key is AES-128-SIV, accepted so that the
 * unit test can run RFC 5297's own vectors through this code.
 */
ec_siv *
ec_siv_new(const uint8_t *key, size_t key_len)
{
	EVP_CIPHER *cipher;
	ec_siv	   *siv;
	OSSL_PARAM	params[2];

	if (!fetch_algorithms())
	{
		library_failure();
		return NULL;
	}
	if (key_len == EC_SIV_KEY_LEN)
		cipher = siv_cipher;
	else if (key_len == EC_SIV_KEY_LEN / 2)
	{
		if (siv128_cipher == NULL)
			siv128_cipher = EVP_CIPHER_fetch(NULL, "AES-128-SIV", NULL);
		cipher = siv128_cipher;
	}
	else
		cipher = NULL;
	if (cipher == NULL)
	{
		library_failure();
		return NULL;
	}
	siv = OPENSSL_zalloc(sizeof(ec_siv));
	if (siv == NULL)
	{
		library_failure();
		return NULL;
	}
	siv->enc = EVP_CIPHER_CTX_new();
	siv->dec = EVP_CIPHER_CTX_new();
	siv->work = EVP_CIPHER_CTX_new();
	siv->cmac = EVP_MAC_CTX_new(cmac_mac);
	/* S2V's key is the first half of the SIV key, CMAC over AES-CBC */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
												 key_len == EC_SIV_KEY_LEN ?
												 (char *) "AES-256-CBC" :
												 (char *) "AES-128-CBC", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (siv->enc == NULL || siv->dec == NULL || siv->work == NULL ||
		siv->cmac == NULL ||
		EVP_EncryptInit_ex(siv->enc, cipher, NULL, key, NULL) != 1 ||
		EVP_DecryptInit_ex(siv->dec, cipher, NULL, key, NULL) != 1 ||
		EVP_MAC_init(siv->cmac, key, key_len / 2, params) != 1)
	{
		library_failure();
		ec_siv_free(siv);
		return NULL;
	}
	return siv;
}

/* Free the templates and the working copy; OpenSSL cleanses their keys. */
void
ec_siv_free(ec_siv *siv)
{
	if (siv == NULL)
		return;
	EVP_CIPHER_CTX_free(siv->enc);
	EVP_CIPHER_CTX_free(siv->dec);
	EVP_CIPHER_CTX_free(siv->work);
	EVP_MAC_CTX_free(siv->cmac);
	OPENSSL_free(siv);
}

/* One CMAC under S2V's key into out (EC_SIV_IV_LEN bytes). */
static bool
siv_cmac(ec_siv *siv, const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(siv->cmac);
	size_t		n = 0;
	bool		ok;

	ok = ctx != NULL &&
		EVP_MAC_update(ctx, in, len) == 1 &&
		EVP_MAC_final(ctx, out, &n, EC_SIV_IV_LEN) == 1 &&
		n == EC_SIV_IV_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok;
}

/* Doubling in GF(2^128) as RFC 5297 defines it, without a branch on data. */
static void
siv_dbl(uint8_t *block)
{
	uint8_t		carry = block[0] >> 7;

	for (int i = 0; i < EC_SIV_IV_LEN - 1; i++)
		block[i] = (uint8_t) ((block[i] << 1) | (block[i + 1] >> 7));
	block[EC_SIV_IV_LEN - 1] = (uint8_t) ((block[EC_SIV_IV_LEN - 1] << 1) ^
										  (0x87 & -carry));
}

/*
 * S2V (RFC 5297, section 2.4) of the associated data and an empty
 * plaintext.  OpenSSL 3.0's SIV cipher skips a zero-length update and
 * then refuses to finish, so the one case it cannot do is done here from
 * CMAC: the IV of an empty plaintext is all its ciphertext.
 */
static bool
siv_s2v_empty(ec_siv *siv, const ec_siv_ad *ad, int nad, uint8_t *iv)
{
	uint8_t		d[EC_SIV_IV_LEN] = {0};
	uint8_t		mac[EC_SIV_IV_LEN];
	bool		ok = siv_cmac(siv, d, sizeof(d), d);

	for (int i = 0; ok && i < nad; i++)
	{
		ok = siv_cmac(siv, ad[i].data, ad[i].len, mac);
		siv_dbl(d);
		for (int j = 0; j < EC_SIV_IV_LEN; j++)
			d[j] ^= mac[j];
	}
	/* the plaintext is shorter than a block: dbl(D) xor pad("") */
	siv_dbl(d);
	d[0] ^= 0x80;
	ok = ok && siv_cmac(siv, d, sizeof(d), iv);
	ec_wipe(d, sizeof(d));
	ec_wipe(mac, sizeof(mac));
	return ok;
}

/* Feed each associated-data component to S2V as a string of its own. */
static bool
siv_feed_ad(EVP_CIPHER_CTX *ctx, const ec_siv_ad *ad, int nad)
{
	int			n;

	for (int i = 0; i < nad; i++)
	{
		if (ad[i].len > INT_MAX ||
			EVP_CipherUpdate(ctx, NULL, &n, ad[i].data, (int) ad[i].len) != 1)
			return false;
	}
	return true;
}

/*
 * Encrypt len bytes deterministically.  The associated data is a vector of
 * components (RFC 5297 S2V takes each as a separate string); out receives
 * len bytes and iv the EC_SIV_IV_LEN-byte synthetic IV, which is also the
 * authentication tag.
 */
ec_crypto_status
ec_siv_seal(ec_siv *siv, const ec_siv_ad *ad, int nad,
			const uint8_t *in, size_t len, uint8_t *out, uint8_t *iv)
{
	EVP_CIPHER_CTX *ctx = siv->work;
	OSSL_PARAM	params[2];
	int			n;

	if (len > INT_MAX)
		return library_failure();
	if (len == 0)
		return siv_s2v_empty(siv, ad, nad, iv) ? EC_CRYPTO_OK : library_failure();
	if (EVP_CIPHER_CTX_copy(ctx, siv->enc) != 1 ||
		!siv_feed_ad(ctx, ad, nad) ||
		EVP_EncryptUpdate(ctx, out, &n, in, (int) len) != 1 ||
		EVP_EncryptFinal_ex(ctx, out + len, &n) != 1)
		return library_failure();
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
												  iv, EC_SIV_IV_LEN);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_get_params(ctx, params) != 1)
		return library_failure();
	return EC_CRYPTO_OK;
}

/*
 * Decrypt and verify.  On EC_CRYPTO_AUTH the caller must treat out as
 * unverified and wipe it; nothing of it may be returned.
 */
ec_crypto_status
ec_siv_open(ec_siv *siv, const ec_siv_ad *ad, int nad, const uint8_t *iv,
			const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = siv->work;
	OSSL_PARAM	params[2];
	int			n;

	if (len > INT_MAX)
		return library_failure();
	if (len == 0)
	{
		uint8_t		expected[EC_SIV_IV_LEN];
		bool		equal;

		if (!siv_s2v_empty(siv, ad, nad, expected))
			return library_failure();
		equal = CRYPTO_memcmp(expected, iv, EC_SIV_IV_LEN) == 0;
		ec_wipe(expected, sizeof(expected));
		return equal ? EC_CRYPTO_OK : EC_CRYPTO_AUTH;
	}
	/* the tag goes in before any data: SIV decrypts with it as the IV */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
												  (void *) iv, EC_SIV_IV_LEN);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_copy(ctx, siv->dec) != 1 ||
		EVP_CIPHER_CTX_set_params(ctx, params) != 1 ||
		!siv_feed_ad(ctx, ad, nad))
		return library_failure();

	/* SIV checks the tag as it decrypts: a mismatch fails the update */
	if (EVP_DecryptUpdate(ctx, out, &n, in, (int) len) != 1 ||
		EVP_DecryptFinal_ex(ctx, out + len, &n) != 1)
	{
		ERR_clear_error();
		return EC_CRYPTO_AUTH;
	}
	return EC_CRYPTO_OK;
}

/* In the child of a fork: the parent's unused nonces are not ours. */
static void
nonce_pool_forget(void)
{
	nonce_pool_next = sizeof(nonce_pool);
}

/* Hand out the next 96-bit nonce from this process's pool. */
ec_crypto_status
ec_gcm_next_nonce(uint8_t *nonce)
{
	if (nonce_pool_next >= sizeof(nonce_pool))
	{
		if (!nonce_pool_fork_handler)
		{
			if (pthread_atfork(NULL, NULL, nonce_pool_forget) != 0)
			{
				strncpy(error_text, "could not register a fork handler",
						sizeof(error_text) - 1);
				return EC_CRYPTO_LIBRARY;
			}
			nonce_pool_fork_handler = true;
		}
		if (RAND_bytes(nonce_pool, sizeof(nonce_pool)) != 1)
			return library_failure();
		nonce_pool_next = 0;
	}
	memcpy(nonce, nonce_pool + nonce_pool_next, EC_GCM_NONCE_LEN);
	nonce_pool_next += EC_GCM_NONCE_LEN;
	return EC_CRYPTO_OK;
}
