/*
 * siv_vectors.c
 *		Known answers for the crypto layer's AES-SIV (src/crypto.c, no
 *		PostgreSQL): RFC 5297's test vectors (appendix A.1, deterministic
 *		use with one associated-data string, and A.2, three strings the
 *		last of which is a nonce), which are AES-128-SIV with 32-byte keys,
 *		and AES-256-SIV answers from Python's cryptography package for a
 *		64-byte key, the empty plaintext among them.
 *
 * Each vector is sealed and compared byte for byte, opened back, then
 * opened again with one bit of the IV, the ciphertext or an associated
 * string flipped, which must fail authentication and leave the output
 * wiped.  Every key's contexts are used repeatedly, as a backend reuses
 * them.
 *
 * The crypto layer builds SIV from CMAC and AES-CTR; OpenSSL's own SIV
 * cipher is a second implementation, so many lengths (every one around
 * the block size, both key sizes, zero to three associated strings) are
 * also compared with it, in an order that alternates short and long
 * messages on the same contexts.
 *
 * Last, plaintexts of every length from 17 to 47 bytes (whose last
 * block straddles the plaintext and S2V's value) are sealed and opened
 * and wiped by the caller, and the process heap, where OpenSSL keeps its
 * contexts, must hold no 8-byte run of any of them.
 */
#define _GNU_SOURCE				/* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "encrypted_column.h"

#define MAX_AD 3
#define MAX_LEN 64

typedef struct siv_vector
{
	const char *name;
	const char *key;
	const char *ad[MAX_AD];		/* hex; NULL ends the list */
	const char *plaintext;
	const char *expected;		/* IV followed by the ciphertext */
} siv_vector;

static const siv_vector vectors[] = {
	{"RFC 5297 A.1",
		"fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		{"101112131415161718191a1b1c1d1e1f2021222324252627"},
		"112233445566778899aabbccddee",
	"85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c"},
	{"RFC 5297 A.2",
		"7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f",
		{"00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100",
			"102030405060708090a0",
		"09f911029d74e35bd84156c5635688c0"},
		"7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553",
		"7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17"
	"dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d"},
	{"AES-256-SIV, empty plaintext",
		"0000000000000000000000000000000000000000000000000000000000000000"
		"0000000000000000000000000000000000000000000000000000000000000000",
		{"6162"},
		"",
	"564f87836ad0c33b864c4d2d3782daea"},
	{"AES-256-SIV, one byte",
		"0000000000000000000000000000000000000000000000000000000000000000"
		"0000000000000000000000000000000000000000000000000000000000000000",
		{"6162"},
		"78",
	"af6467be1d8608e41a0aead0c9f52504ca"},
};

static int	failures = 0;

/* Decode hex into out; returns the byte count. */
static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t		n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++)
	{
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			exit(2);
		out[i] = (uint8_t) v;
	}
	return n;
}

/* Record a failed check. */
static void
fail(const char *name, const char *what)
{
	fprintf(stderr, "%s: %s\n", name, what);
	failures++;
}

/* Whether len bytes are all zero. */
static bool
all_zero(const uint8_t *p, size_t len)
{
	uint8_t		acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* Run one vector through seal, open and three tampered opens. */
static void
run(const siv_vector *v)
{
	uint8_t		key[EC_SIV_KEY_LEN];
	uint8_t		adbuf[MAX_AD][MAX_LEN];
	ec_siv_ad	ad[MAX_AD];
	uint8_t		plain[MAX_LEN];
	uint8_t		expected[EC_SIV_IV_LEN + MAX_LEN];
	uint8_t		iv[EC_SIV_IV_LEN];
	uint8_t		out[MAX_LEN + 1];
	uint8_t		back[MAX_LEN + 1];
	size_t		key_len = unhex(v->key, key);
	size_t		len = unhex(v->plaintext, plain);
	int			nad = 0;
	ec_siv	   *siv = ec_siv_new(key, key_len);

	if (siv == NULL)
	{
		fail(v->name, ec_crypto_error_text());
		return;
	}
	for (; nad < MAX_AD && v->ad[nad] != NULL; nad++)
	{
		ad[nad].data = adbuf[nad];
		ad[nad].len = unhex(v->ad[nad], adbuf[nad]);
	}
	unhex(v->expected, expected);

	/* twice, so that the second run uses contexts the first one used */
	for (int round = 0; round < 2; round++)
	{
		if (ec_siv_seal(siv, ad, nad, plain, len, out, iv) != EC_CRYPTO_OK)
			fail(v->name, "seal failed");
		else if (memcmp(iv, expected, EC_SIV_IV_LEN) != 0 ||
				 memcmp(out, expected + EC_SIV_IV_LEN, len) != 0)
			fail(v->name, "sealed bytes differ from the known answer");

		if (ec_siv_open(siv, ad, nad, iv, out, len, back) != EC_CRYPTO_OK)
			fail(v->name, "open of the known answer failed");
		else if (memcmp(back, plain, len) != 0)
			fail(v->name, "opened bytes differ from the plaintext");

		iv[round] ^= 0x01;
		memset(back, 0xa5, sizeof(back));
		if (ec_siv_open(siv, ad, nad, iv, out, len, back) != EC_CRYPTO_AUTH)
			fail(v->name, "a flipped IV bit was not detected");
		else if (!all_zero(back, len))
			fail(v->name, "a failed open left its output behind");
		iv[round] ^= 0x01;
		if (len > 0)
		{
			out[len - 1] ^= 0x80;
			if (ec_siv_open(siv, ad, nad, iv, out, len, back) != EC_CRYPTO_AUTH)
				fail(v->name, "a flipped ciphertext bit was not detected");
			out[len - 1] ^= 0x80;
		}
		adbuf[nad - 1][0] ^= 0x01;
		if (ec_siv_open(siv, ad, nad, iv, out, len, back) != EC_CRYPTO_AUTH)
			fail(v->name, "a flipped associated-data bit was not detected");
		adbuf[nad - 1][0] ^= 0x01;
	}
	ec_siv_free(siv);
}

/*
 * Seal with OpenSSL's own SIV cipher, a fresh context per message; false
 * when it cannot (OpenSSL 3.0 refuses the empty plaintext).
 */
static bool
reference_seal(EVP_CIPHER *cipher, const uint8_t *key,
			   const ec_siv_ad *ad, int nad, const uint8_t *in, size_t len,
			   uint8_t *out, uint8_t *iv)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	OSSL_PARAM	params[2];
	int			n;
	bool		ok;

	ok = ctx != NULL && EVP_EncryptInit_ex(ctx, cipher, NULL, key, NULL) == 1;
	for (int i = 0; ok && i < nad; i++)
		ok = EVP_EncryptUpdate(ctx, NULL, &n, ad[i].data, (int) ad[i].len) == 1;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
												  iv, EC_SIV_IV_LEN);
	params[1] = OSSL_PARAM_construct_end();
	ok = ok && EVP_EncryptUpdate(ctx, out, &n, in, (int) len) == 1 &&
		EVP_EncryptFinal_ex(ctx, out + len, &n) == 1 &&
		EVP_CIPHER_CTX_get_params(ctx, params) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

#define CROSS_MAX 4200

/* Compare the crypto layer with OpenSSL's SIV cipher for one key size. */
static int
cross_check(size_t key_len, const char *cipher_name)
{
	static const size_t lengths[] = {1, 4097, 15, 16, 1024, 17, 2, 31, 32,
	33, 47, 48, 49, 255, 256, 5, 63, 64, 65, 100};
	static uint8_t plain[CROSS_MAX];
	static uint8_t out[CROSS_MAX];
	static uint8_t ref[CROSS_MAX + EC_SIV_IV_LEN];
	static uint8_t back[CROSS_MAX];
	uint8_t		key[EC_SIV_KEY_LEN];
	uint8_t		adbuf[3][40];
	ec_siv_ad	ad[3];
	uint8_t		iv[EC_SIV_IV_LEN];
	uint8_t		ref_iv[EC_SIV_IV_LEN];
	EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, cipher_name, NULL);
	ec_siv	   *siv;
	int			checked = 0;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t) (i * 7 + key_len);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t) (i * 13 + 5);
	for (int a = 0; a < 3; a++)
	{
		for (size_t i = 0; i < sizeof(adbuf[a]); i++)
			adbuf[a][i] = (uint8_t) (a * 31 + i);
		ad[a].data = adbuf[a];
		ad[a].len = (size_t) (6 + a * 17);	/* 6, 23 and 40 bytes */
	}
	siv = ec_siv_new(key, key_len);
	if (cipher == NULL || siv == NULL)
	{
		fail(cipher_name, "no cipher or no key");
		EVP_CIPHER_free(cipher);
		ec_siv_free(siv);
		return 0;
	}
	for (int nad = 0; nad <= 3; nad++)
	{
		for (size_t k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++)
		{
			size_t		len = lengths[k];

			if (!reference_seal(cipher, key, ad, nad, plain, len, ref, ref_iv))
			{
				fail(cipher_name, "OpenSSL's SIV cipher failed");
				continue;
			}
			if (ec_siv_seal(siv, ad, nad, plain, len, out, iv) != EC_CRYPTO_OK)
				fail(cipher_name, "seal failed");
			else if (memcmp(iv, ref_iv, EC_SIV_IV_LEN) != 0 ||
					 memcmp(out, ref, len) != 0)
			{
				fprintf(stderr, "%zu bytes, %d associated strings: ", len, nad);
				fail(cipher_name, "differs from OpenSSL's SIV cipher");
			}
			else if (ec_siv_open(siv, ad, nad, iv, out, len, back) != EC_CRYPTO_OK ||
					 memcmp(back, plain, len) != 0)
				fail(cipher_name, "did not open its own sealing");
			else
				checked++;
		}
	}
	EVP_CIPHER_free(cipher);
	ec_siv_free(siv);
	return checked;
}

/* Does the process heap hold needle?  (Read through /proc/self/mem.) */
static bool
heap_holds(const uint8_t *needle, size_t len)
{
	FILE	   *maps = fopen("/proc/self/maps", "r");
	char		line[512];
	bool		found = false;

	if (maps == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), maps) != NULL)
	{
		unsigned long start,
					end;
		FILE	   *mem;
		uint8_t    *copy;

		if (strstr(line, "[heap]") == NULL ||
			sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		copy = malloc(end - start);
		mem = fopen("/proc/self/mem", "rb");
		if (copy != NULL && mem != NULL && fseek(mem, (long) start, SEEK_SET) == 0 &&
			fread(copy, 1, end - start, mem) == end - start)
			found = memmem(copy, end - start, needle, len) != NULL;
		if (mem != NULL)
			fclose(mem);
		if (copy != NULL)
		{
			memset(copy, 0, end - start);
			free(copy);
		}
	}
	fclose(maps);
	return found;
}

/*
 * Seal and open plaintexts whose last block straddles the plaintext and
 * S2V's value, wipe them, and look for them in the heap.
 */
static void
no_plaintext_left(void)
{
	uint8_t		key[EC_SIV_KEY_LEN];
	ec_siv	   *siv;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t) (i * 7 + 3);
	siv = ec_siv_new(key, sizeof(key));
	if (siv == NULL)
	{
		fail("heap check", "no context");
		return;
	}
	for (size_t len = 17; len < 48; len++)
	{
		uint8_t		plain[48];
		uint8_t		out[48];
		uint8_t		back[48];
		uint8_t		iv[EC_SIV_IV_LEN];
		uint8_t		probe[8];

		/* a pattern made at run time, so that no constant holds it */
		for (size_t i = 0; i < len; i++)
			plain[i] = (uint8_t) (0xA5 ^ (len * 31 + i * 13));
		if (ec_siv_seal(siv, NULL, 0, plain, len, out, iv) != EC_CRYPTO_OK ||
			ec_siv_open(siv, NULL, 0, iv, out, len, back) != EC_CRYPTO_OK ||
			memcmp(back, plain, len) != 0)
			fail("heap check", "round trip");
		memcpy(probe, plain, sizeof(probe));
		ec_wipe(plain, sizeof(plain));
		ec_wipe(back, sizeof(back));
		if (heap_holds(probe, sizeof(probe)))
		{
			char		what[64];

			snprintf(what, sizeof(what), "a %zu-byte plaintext", len);
			fail("left in the heap", what);
		}
		ec_wipe(probe, sizeof(probe));
	}
	ec_siv_free(siv);
	ec_wipe(key, sizeof(key));
}

int
main(void)
{
	uint8_t		key[48] = {0};
	int			cross;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		run(&vectors[i]);
	cross = cross_check(EC_SIV_KEY_LEN, "AES-256-SIV") +
		cross_check(EC_SIV_KEY_LEN / 2, "AES-128-SIV");

	no_plaintext_left();

	/* a key of any other length is refused */
	if (ec_siv_new(key, sizeof(key)) != NULL)
		fail("48-byte key", "accepted");

	if (failures > 0)
		return 1;
	printf("AES-SIV: %zu known-answer vectors passed, %d messages agree "
		   "with OpenSSL's SIV cipher\n",
		   sizeof(vectors) / sizeof(vectors[0]), cross);
	return 0;
}
