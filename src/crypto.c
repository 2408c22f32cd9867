/*
 * crypto.c
 *		The crypto layer: the only file that includes OpenSSL.
 *
 * It owns AES-256-GCM contexts (one pair per key, with the key schedule
 * expanded once), AES-SIV contexts (CMAC and AES-CTR, keyed once per key
 * and restarted per message), HKDF-SHA256, and the per-backend nonce pool.  Functions
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
 * AES-SIV built from its parts, because OpenSSL's SIV cipher does one
 * operation per keying and would have to be copied for every value.  Both
 * contexts here are keyed once and restarted per message by setting only
 * their IV: AES-CBC for S2V's CMAC (RFC 4493), AES-CTR for the encryption.
 * CMAC is done here over CBC rather than with OpenSSL's CMAC, which calls
 * the cipher once per block: one call per message chunk is a quarter
 * faster on a kilobyte.
 */
struct ec_siv
{
	EVP_CIPHER_CTX *cbc;		/* AES-CBC, keyed with the first half */
	EVP_CIPHER_CTX *ctr;		/* AES-CTR, keyed with the second half */
	uint8_t		k1[EC_SIV_IV_LEN];	/* CMAC's subkey for a whole last block */
	uint8_t		k2[EC_SIV_IV_LEN];	/* and for a padded one */
	uint8_t		cmac_zero[EC_SIV_IV_LEN];	/* CMAC(<zero>), S2V's start */
};

/* Algorithms fetched once per process: implicit fetches cost a lookup each. */
static EVP_CIPHER *gcm_cipher = NULL;
static EVP_CIPHER *ctr256_cipher = NULL;	/* AES-256-SIV's CTR, 64-byte keys */
static EVP_CIPHER *ctr128_cipher = NULL;	/* AES-128-SIV's, RFC 5297's vectors */
static EVP_KDF *hkdf_kdf = NULL;
static EVP_CIPHER *cbc256_cipher = NULL;
static EVP_CIPHER *cbc128_cipher = NULL;
static EVP_CIPHER *ecb256_cipher = NULL;	/* the search terms' PRF */

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
	if (ctr256_cipher == NULL)
		ctr256_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
	if (hkdf_kdf == NULL)
		hkdf_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (cbc256_cipher == NULL)
		cbc256_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (ecb256_cipher == NULL)
		ecb256_cipher = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
	return gcm_cipher != NULL && ctr256_cipher != NULL && hkdf_kdf != NULL &&
		cbc256_cipher != NULL && ecb256_cipher != NULL;
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

/*
 * The pseudorandom function of the search terms: AES-256 on single blocks
 * (ECB is exactly that), keyed once per key with its own HKDF subkey.
 */
ec_prf *
ec_prf_new(const uint8_t *key)
{
	EVP_CIPHER_CTX *ctx;

	if (!fetch_algorithms())
	{
		library_failure();
		return NULL;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
		EVP_EncryptInit_ex(ctx, ecb256_cipher, NULL, key, NULL) != 1 ||
		EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
	{
		library_failure();
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return (ec_prf *) ctx;
}

/* Free a PRF context; OpenSSL cleanses its key schedule. */
void
ec_prf_free(ec_prf *prf)
{
	EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *) prf);
}

/* The PRF of nblocks 16-byte blocks, in one call. */
ec_crypto_status
ec_prf_blocks(ec_prf *prf, const uint8_t *in, size_t nblocks, uint8_t *out)
{
	int			outl = 0;

	if (nblocks == 0)
		return EC_CRYPTO_OK;
	if (nblocks > (size_t) INT_MAX / 16 ||
		EVP_EncryptUpdate((EVP_CIPHER_CTX *) prf, out, &outl, in,
						  (int) (nblocks * 16)) != 1)
		return library_failure();
	return EC_CRYPTO_OK;
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

static bool siv_cmac(ec_siv *siv, const uint8_t *a, size_t a_len,
					 const uint8_t *b, size_t b_len, uint8_t *out);
static void siv_dbl(uint8_t *block);

/*
 * Key AES-SIV.  A 64-byte key is AES-256-SIV, the extension's cipher; a
 * 32-byte key is AES-128-SIV, accepted so that the unit test can run RFC
 * 5297's own vectors through this code.  The first half keys S2V's CMAC,
 * the second half the CTR encryption.
 */
ec_siv *
ec_siv_new(const uint8_t *key, size_t key_len)
{
	EVP_CIPHER *cbc;
	EVP_CIPHER *ctr;
	ec_siv	   *siv;
	size_t		half = key_len / 2;
	uint8_t		zero[EC_SIV_IV_LEN] = {0};
	int			n;

	if (!fetch_algorithms())
	{
		library_failure();
		return NULL;
	}
	if (key_len == EC_SIV_KEY_LEN)
	{
		cbc = cbc256_cipher;
		ctr = ctr256_cipher;
	}
	else if (key_len == EC_SIV_KEY_LEN / 2)
	{
		if (cbc128_cipher == NULL)
			cbc128_cipher = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
		if (ctr128_cipher == NULL)
			ctr128_cipher = EVP_CIPHER_fetch(NULL, "AES-128-CTR", NULL);
		cbc = cbc128_cipher;
		ctr = ctr128_cipher;
	}
	else
		cbc = ctr = NULL;
	if (cbc == NULL || ctr == NULL)
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
	siv->cbc = EVP_CIPHER_CTX_new();
	siv->ctr = EVP_CIPHER_CTX_new();
	/* CMAC's subkeys come from L = AES(0): K1 = dbl(L), K2 = dbl(K1) */
	if (siv->cbc == NULL || siv->ctr == NULL ||
		EVP_EncryptInit_ex2(siv->cbc, cbc, key, zero, NULL) != 1 ||
		EVP_CIPHER_CTX_set_padding(siv->cbc, 0) != 1 ||
		EVP_EncryptUpdate(siv->cbc, siv->k1, &n, zero, sizeof(zero)) != 1 ||
		n != EC_SIV_IV_LEN ||
		EVP_EncryptInit_ex2(siv->ctr, ctr, key + half, NULL, NULL) != 1)
	{
		library_failure();
		ec_siv_free(siv);
		return NULL;
	}
	siv_dbl(siv->k1);
	memcpy(siv->k2, siv->k1, sizeof(siv->k2));
	siv_dbl(siv->k2);
	if (!siv_cmac(siv, zero, sizeof(zero), NULL, 0, siv->cmac_zero))
	{
		library_failure();
		ec_siv_free(siv);
		return NULL;
	}
	return siv;
}

/* Free the contexts (OpenSSL cleanses their keys) and wipe S2V's start. */
void
ec_siv_free(ec_siv *siv)
{
	if (siv == NULL)
		return;
	EVP_CIPHER_CTX_free(siv->cbc);
	EVP_CIPHER_CTX_free(siv->ctr);
	ec_wipe(siv->k1, sizeof(siv->k1));
	ec_wipe(siv->k2, sizeof(siv->k2));
	ec_wipe(siv->cmac_zero, sizeof(siv->cmac_zero));
	OPENSSL_free(siv);
}

#define SIV_CHUNK 512

/*
 * CMAC (RFC 4493) under S2V's key of a followed by b, into out
 * (EC_SIV_IV_LEN bytes).  Every block but the last goes through CBC from a
 * zero IV, in chunks; the last block, xored with K1 when whole and padded
 * and xored with K2 when not, continues the chain, and its ciphertext is
 * the MAC.  Restarting CBC with a new IV keeps the key schedule.
 */
static bool
siv_cmac(ec_siv *siv, const uint8_t *a, size_t a_len,
		 const uint8_t *b, size_t b_len, uint8_t *out)
{
	static const uint8_t zero_iv[EC_SIV_IV_LEN] = {0};
	uint8_t		scratch[SIV_CHUNK + EC_SIV_IV_LEN];
	uint8_t		last[EC_SIV_IV_LEN] = {0};
	size_t		total = a_len + b_len;
	size_t		last_len = total == 0 ? 0 : (total - 1) % EC_SIV_IV_LEN + 1;
	size_t		todo = total - last_len;	/* a multiple of the block */
	size_t		pos = 0;
	const uint8_t *mask;
	int			n;
	bool		ok;

	ok = EVP_EncryptInit_ex2(siv->cbc, NULL, NULL, zero_iv, NULL) == 1;
	while (ok && pos < todo)
	{
		/* the next chunk, from a or from b, never past the last block */
		const uint8_t *src = pos < a_len ? a + pos : b + (pos - a_len);
		size_t		avail = pos < a_len ? a_len - pos : b_len - (pos - a_len);
		size_t		step = todo - pos;

		if (pos < a_len && avail < EC_SIV_IV_LEN)
		{
			/*
			 * A block that straddles a and b is put together here: given
			 * in two pieces, OpenSSL would keep the first in its context,
			 * which lives as long as the key.
			 */
			uint8_t		block[EC_SIV_IV_LEN];

			for (size_t i = 0; i < EC_SIV_IV_LEN; i++)
				block[i] = pos + i < a_len ? a[pos + i] : b[pos + i - a_len];
			ok = EVP_EncryptUpdate(siv->cbc, scratch, &n, block, sizeof(block)) == 1;
			ec_wipe(block, sizeof(block));
			pos += EC_SIV_IV_LEN;
			continue;
		}
		if (step > avail)
			step = avail;
		if (step > SIV_CHUNK)
			step = SIV_CHUNK;
		/* whole blocks only, so that OpenSSL buffers nothing */
		step -= step % EC_SIV_IV_LEN;
		ok = EVP_EncryptUpdate(siv->cbc, scratch, &n, src, (int) step) == 1;
		pos += step;
	}
	/* the last block's bytes, which may straddle a and b */
	for (size_t i = 0; i < last_len; i++, pos++)
		last[i] = pos < a_len ? a[pos] : b[pos - a_len];
	if (last_len < EC_SIV_IV_LEN)
	{
		last[last_len] = 0x80;
		mask = siv->k2;
	}
	else
		mask = siv->k1;
	for (int i = 0; i < EC_SIV_IV_LEN; i++)
		last[i] ^= mask[i];
	ok = ok &&
		EVP_EncryptUpdate(siv->cbc, out, &n, last, sizeof(last)) == 1 &&
		n == EC_SIV_IV_LEN;
	/* the chain over the message: no update wrote more than todo bytes */
	ec_wipe(scratch, todo < sizeof(scratch) ? todo : sizeof(scratch));
	ec_wipe(last, sizeof(last));
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
 * S2V (RFC 5297, section 2.4) of the associated-data components and the
 * plaintext, into iv.  CMAC(<zero>) depends on the key only and was
 * computed when the key was.
 */
static bool
siv_s2v(ec_siv *siv, const ec_siv_ad *ad, int nad,
		const uint8_t *in, size_t len, uint8_t *iv)
{
	uint8_t		d[EC_SIV_IV_LEN];
	uint8_t		mac[EC_SIV_IV_LEN];
	bool		ok = true;

	memcpy(d, siv->cmac_zero, sizeof(d));
	for (int i = 0; ok && i < nad; i++)
	{
		ok = siv_cmac(siv, ad[i].data, ad[i].len, NULL, 0, mac);
		siv_dbl(d);
		for (int j = 0; j < EC_SIV_IV_LEN; j++)
			d[j] ^= mac[j];
	}
	if (ok && len >= EC_SIV_IV_LEN)
	{
		/* xorend: D goes into the plaintext's last block */
		const uint8_t *tail = in + len - EC_SIV_IV_LEN;

		for (int j = 0; j < EC_SIV_IV_LEN; j++)
			d[j] ^= tail[j];
		ok = siv_cmac(siv, in, len - EC_SIV_IV_LEN, d, sizeof(d), iv);
	}
	else if (ok)
	{
		/* a short plaintext: dbl(D) xor pad(plaintext) */
		siv_dbl(d);
		for (size_t j = 0; j < len; j++)
			d[j] ^= in[j];
		d[len] ^= 0x80;
		ok = siv_cmac(siv, d, sizeof(d), NULL, 0, iv);
	}
	ec_wipe(d, sizeof(d));
	ec_wipe(mac, sizeof(mac));
	return ok;
}

/*
 * AES-CTR of len bytes from in to out, with the synthetic IV as the
 * counter block after clearing bits 63 and 31 (RFC 5297, section 2.6).
 * CTR's decryption is its encryption, so one context keyed for encryption
 * serves both directions; setting only the IV keeps its key schedule.
 */
static bool
siv_ctr(ec_siv *siv, const uint8_t *iv, const uint8_t *in, size_t len,
		uint8_t *out)
{
	uint8_t		q[EC_SIV_IV_LEN];
	int			n;
	bool		ok;

	if (len == 0)
		return true;
	memcpy(q, iv, sizeof(q));
	q[8] &= 0x7f;
	q[12] &= 0x7f;
	ok = EVP_EncryptInit_ex2(siv->ctr, NULL, NULL, q, NULL) == 1 &&
		EVP_EncryptUpdate(siv->ctr, out, &n, in, (int) len) == 1 &&
		n == (int) len;
	ec_wipe(q, sizeof(q));
	return ok;
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
	if (len > INT_MAX ||
		!siv_s2v(siv, ad, nad, in, len, iv) ||
		!siv_ctr(siv, iv, in, len, out))
		return library_failure();
	return EC_CRYPTO_OK;
}

/*
 * Decrypt and verify.  On EC_CRYPTO_AUTH out has been wiped already; the
 * caller must still treat it as unverified and return nothing of it.
 */
ec_crypto_status
ec_siv_open(ec_siv *siv, const ec_siv_ad *ad, int nad, const uint8_t *iv,
			const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t		expected[EC_SIV_IV_LEN];
	bool		equal;

	if (len > INT_MAX)
		return library_failure();
	if (!siv_ctr(siv, iv, in, len, out))
	{
		ec_wipe(out, len);
		return library_failure();
	}
	if (!siv_s2v(siv, ad, nad, out, len, expected))
	{
		ec_wipe(out, len);
		ec_wipe(expected, sizeof(expected));
		return library_failure();
	}
	equal = CRYPTO_memcmp(expected, iv, EC_SIV_IV_LEN) == 0;
	ec_wipe(expected, sizeof(expected));
	if (!equal)
	{
		ec_wipe(out, len);
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

/*
 * Fresh random bytes for a new data key.  RAND_priv_bytes draws from the
 * generator OpenSSL keeps for secrets, apart from the one nonces use.
 */
ec_crypto_status
ec_random_key(uint8_t *out, size_t len)
{
	if (RAND_priv_bytes(out, (int) len) != 1)
	{
		ec_wipe(out, len);
		return library_failure();
	}
	return EC_CRYPTO_OK;
}

/* SHA-256 of a buffer (for key-encryption key ids). */
ec_crypto_status
ec_sha256(const uint8_t *in, size_t len, uint8_t *out)
{
	if (EVP_Digest(in, len, out, NULL, EVP_sha256(), NULL) != 1)
		return library_failure();
	return EC_CRYPTO_OK;
}

/*
 * AES-256 key wrap with padding (RFC 5649) of in under kek, in one
 * direction.  On wrap, out receives in_len rounded up to 8, plus 8 bytes;
 * on unwrap, in_len - 8 bytes at most, and *out_len the true length.  A
 * wrapped key that does not verify under kek is EC_CRYPTO_AUTH.  The
 * context is freed here on every path: no key schedule outlives the call.
 */
static ec_crypto_status
kwp(bool wrap, const uint8_t *kek, const uint8_t *in, size_t in_len,
	uint8_t *out, size_t *out_len)
{
	EVP_CIPHER_CTX *ctx;
	int			len1 = 0;
	int			len2 = 0;
	int			ok;

	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return library_failure();
	/* OpenSSL refuses wrap modes unless the caller opts in */
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, kek, NULL,
						   wrap ? 1 : 0) == 1;
	if (ok)
		ok = EVP_CipherUpdate(ctx, out, &len1, in, (int) in_len) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(ctx, out + len1, &len2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
	{
		if (!wrap)
		{
			/* a failed integrity check: nothing of use was written */
			ERR_clear_error();
			ec_wipe(out, in_len > 8 ? in_len - 8 : 0);
			return EC_CRYPTO_AUTH;
		}
		return library_failure();
	}
	*out_len = (size_t) len1 + (size_t) len2;
	return EC_CRYPTO_OK;
}

/* Wrap a key under kek (RFC 5649); out holds in_len rounded up to 8, + 8. */
ec_crypto_status
ec_kwp_wrap(const uint8_t *kek, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t *out_len)
{
	return kwp(true, kek, in, in_len, out, out_len);
}

/* Unwrap a key wrapped under kek; EC_CRYPTO_AUTH when it does not verify. */
ec_crypto_status
ec_kwp_unwrap(const uint8_t *kek, const uint8_t *in, size_t in_len,
			  uint8_t *out, size_t *out_len)
{
	if (in_len < 16 || in_len % 8 != 0)
		return EC_CRYPTO_AUTH;
	return kwp(false, kek, in, in_len, out, out_len);
}
