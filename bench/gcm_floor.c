/*
 * gcm_floor.c
 *		The floor under encrypted_text and encrypted_text_det: the
 *		extension's own crypto layer (src/crypto.c) timed in a tight C
 *		loop, without PostgreSQL.
 *
 * One AES-256-GCM key, its contexts expanded once and reused as in a
 * backend; each message draws a nonce from the pool, seals with the 6-byte
 * header as associated data, and is opened again.  The same for one
 * AES-256-SIV key (64 bytes), with the header as its one associated-data
 * string, as encrypt_det() without a context does.  Whatever a SQL call
 * costs on top of these numbers is PostgreSQL and the extension's glue;
 * these numbers themselves are OpenSSL's per-message EVP cost plus the AES
 * and GHASH work.
 *
 * Usage: gcm_floor [repetitions]; prints one JSON object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "encrypted_column.h"

#define MAX_LEN 1024
#define MAX_REPS 25

/* Monotonic time in nanoseconds. */
static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* qsort comparator for doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Median, minimum and maximum of n samples (sorts them). */
static void
summarise(double *v, int n, double *med, double *min, double *max)
{
	qsort(v, n, sizeof(double), cmp_double);
	*med = (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*min = v[0];
	*max = v[n - 1];
}

/* Time sealing and opening messages of len bytes; print one JSON member. */
static int
measure(ec_gcm *gcm, size_t len, long count, int reps, const char *sep)
{
	static uint8_t plain[MAX_LEN];
	static uint8_t env[EC_GCM_OVERHEAD + MAX_LEN];
	static uint8_t back[MAX_LEN];
	static const uint8_t key_id[EC_KEY_ID_LEN] = {1, 2, 3, 4};
	double		seal[MAX_REPS];
	double		open[MAX_REPS];
	double		med, min, max;
	uint8_t    *nonce = env + EC_HEADER_LEN;
	uint8_t    *ct = nonce + EC_GCM_NONCE_LEN;
	uint8_t    *tag = ct + len;

	memset(plain, 'a', sizeof(plain));
	ec_envelope_write_header(env, EC_ALG_AES256_GCM, false, key_id);
	for (int r = 0; r < reps; r++)
	{
		double		t0 = now_ns();

		for (long i = 0; i < count; i++)
			if (ec_gcm_next_nonce(nonce) != EC_CRYPTO_OK ||
				ec_gcm_seal(gcm, nonce, env, EC_HEADER_LEN, NULL, 0,
							plain, len, ct, tag) != EC_CRYPTO_OK)
				return 1;
		seal[r] = (now_ns() - t0) / count;

		t0 = now_ns();
		for (long i = 0; i < count; i++)
			if (ec_gcm_open(gcm, nonce, env, EC_HEADER_LEN, NULL, 0,
							ct, len, tag, back) != EC_CRYPTO_OK)
				return 1;
		open[r] = (now_ns() - t0) / count;
	}
	if (memcmp(plain, back, len) != 0)
		return 1;

	printf("%s\"%zu\": {", sep, len);
	summarise(seal, reps, &med, &min, &max);
	printf("\"seal_ns\": [%.1f, %.1f, %.1f], ", med, min, max);
	summarise(open, reps, &med, &min, &max);
	printf("\"open_ns\": [%.1f, %.1f, %.1f]}", med, min, max);
	return 0;
}

/* Time AES-SIV sealing and opening of len-byte messages; one JSON member. */
static int
measure_siv(ec_siv *siv, size_t len, long count, int reps, const char *sep)
{
	static uint8_t plain[MAX_LEN];
	static uint8_t env[EC_HEADER_LEN + EC_SIV_IV_LEN + MAX_LEN];
	static uint8_t back[MAX_LEN];
	static const uint8_t key_id[EC_KEY_ID_LEN] = {1, 2, 3, 4};
	double		seal[MAX_REPS];
	double		open[MAX_REPS];
	double		med, min, max;
	uint8_t    *iv = env + EC_HEADER_LEN;
	uint8_t    *ct = iv + EC_SIV_IV_LEN;
	ec_siv_ad	ad = {env, EC_HEADER_LEN};

	memset(plain, 'a', sizeof(plain));
	ec_envelope_write_header(env, EC_ALG_AES256_SIV, false, key_id);
	for (int r = 0; r < reps; r++)
	{
		double		t0 = now_ns();

		/* vary the first byte so that no two messages are the same */
		for (long i = 0; i < count; i++)
		{
			plain[0] = (uint8_t) i;
			if (ec_siv_seal(siv, &ad, 1, plain, len, ct, iv) != EC_CRYPTO_OK)
				return 1;
		}
		seal[r] = (now_ns() - t0) / count;

		t0 = now_ns();
		for (long i = 0; i < count; i++)
			if (ec_siv_open(siv, &ad, 1, iv, ct, len, back) != EC_CRYPTO_OK)
				return 1;
		open[r] = (now_ns() - t0) / count;
	}
	if (memcmp(plain, back, len) != 0)
		return 1;

	printf("%s\"%zu\": {", sep, len);
	summarise(seal, reps, &med, &min, &max);
	printf("\"seal_ns\": [%.1f, %.1f, %.1f], ", med, min, max);
	summarise(open, reps, &med, &min, &max);
	printf("\"open_ns\": [%.1f, %.1f, %.1f]}", med, min, max);
	return 0;
}

int
main(int argc, char **argv)
{
	uint8_t		key[32];
	uint8_t		siv_key[EC_SIV_KEY_LEN];
	ec_gcm	   *gcm;
	ec_siv	   *siv;
	int			reps = argc > 1 ? atoi(argv[1]) : 7;

	if (reps < 1 || reps > MAX_REPS)
		reps = 7;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t) i;
	gcm = ec_gcm_new(key);
	if (gcm == NULL)
	{
		fprintf(stderr, "gcm_floor: %s\n", ec_crypto_error_text());
		return 1;
	}
	printf("{\"openssl\": \"%s\", ", OpenSSL_version(OPENSSL_VERSION));
	printf("\"repetitions\": %d, \"sizes\": {", reps);
	if (measure(gcm, 22, 1000000, reps, "") != 0 ||
		measure(gcm, 1024, 200000, reps, ", ") != 0)
	{
		fprintf(stderr, "gcm_floor: %s\n", ec_crypto_error_text());
		return 1;
	}
	printf("}, \"siv\": {");
	for (int i = 0; i < EC_SIV_KEY_LEN; i++)
		siv_key[i] = (uint8_t) (i * 7);
	siv = ec_siv_new(siv_key, sizeof(siv_key));
	if (siv == NULL ||
		measure_siv(siv, 22, 1000000, reps, "") != 0 ||
		measure_siv(siv, 1024, 200000, reps, ", ") != 0)
	{
		fprintf(stderr, "gcm_floor: %s\n", ec_crypto_error_text());
		return 1;
	}
	printf("}}\n");
	ec_siv_free(siv);
	ec_gcm_free(gcm);
	return 0;
}
