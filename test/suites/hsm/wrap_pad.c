/*
 * wrap_pad.c
 *		The reference for the hsm suite: RFC 5649 AES key wrap with padding
 *		by OpenSSL's EVP_aes_256_wrap_pad, which "openssl enc" no longer
 *		offers (OpenSSL 3.5 calls it an unstreamable cipher mode).
 *
 *	wrap_pad KEK-HEX KEY-HEX	prints the wrapping in lower-case hex
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Parse hex into out (at most max bytes); the byte count, or -1. */
static int
unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t		n = strlen(hex);

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++)
	{
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (unsigned char) b;
	}
	return (int) (n / 2);
}

/* Wrap the key given under the KEK given and print the result. */
int
main(int argc, char **argv)
{
	unsigned char kek[32], key[256], out[256 + 16];
	int			key_len, len = 0, fin = 0;
	EVP_CIPHER_CTX *ctx;

	if (argc != 3 || unhex(argv[1], kek, sizeof(kek)) != 32 ||
		(key_len = unhex(argv[2], key, sizeof(key))) < 1)
	{
		fprintf(stderr, "usage: wrap_pad KEK-HEX KEY-HEX\n");
		return 2;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx != NULL)
		EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (ctx == NULL ||
		EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, kek, NULL) != 1 ||
		EVP_EncryptUpdate(ctx, out, &len, key, key_len) != 1 ||
		EVP_EncryptFinal_ex(ctx, out + len, &fin) != 1)
	{
		fprintf(stderr, "wrap_pad: OpenSSL failed\n");
		return 1;
	}
	EVP_CIPHER_CTX_free(ctx);
	for (int i = 0; i < len + fin; i++)
		printf("%02x", out[i]);
	printf("\n");
	return 0;
}
