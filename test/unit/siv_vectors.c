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
 * string flipped, which must fail authentication.  Every key's contexts
 * are used repeatedly, as a backend reuses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		if (ec_siv_open(siv, ad, nad, iv, out, len, back) != EC_CRYPTO_AUTH)
			fail(v->name, "a flipped IV bit was not detected");
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

int
main(void)
{
	uint8_t		key[48] = {0};

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		run(&vectors[i]);

	/* a key of any other length is refused */
	if (ec_siv_new(key, sizeof(key)) != NULL)
		fail("48-byte key", "accepted");

	if (failures > 0)
		return 1;
	printf("AES-SIV: %zu known-answer vectors passed\n",
		   sizeof(vectors) / sizeof(vectors[0]));
	return 0;
}
