/*
 * nonce_fork.c
 *		Unit test of the nonce pool across fork(), against the extension's
 *		own crypto layer (src/crypto.c, no PostgreSQL).
 *
 * PostgreSQL never lets a process that drew nonces fork a backend, so no
 * SQL test can reach this path; here a process fills its pool, forks, and
 * parent and child each draw the nonces that follow.  Without the fork
 * handler they would hand out the same ones.  A second check draws a
 * million nonces in one process and requires them all distinct.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "encrypted_column.h"

#define DRAWS 64

/* Draw n nonces into out, or exit on failure. */
static void
draw(uint8_t *out, int n)
{
	for (int i = 0; i < n; i++)
		if (ec_gcm_next_nonce(out + i * EC_GCM_NONCE_LEN) != EC_CRYPTO_OK)
		{
			fprintf(stderr, "nonce draw failed: %s\n", ec_crypto_error_text());
			exit(2);
		}
}

/* Order nonces for qsort. */
static int
cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, EC_GCM_NONCE_LEN);
}

int
main(void)
{
	static uint8_t parent[DRAWS * EC_GCM_NONCE_LEN];
	static uint8_t child[DRAWS * EC_GCM_NONCE_LEN];
	static uint8_t many[1000000 * EC_GCM_NONCE_LEN];
	uint8_t		first[EC_GCM_NONCE_LEN];
	int			fds[2];
	pid_t		pid;
	int			status;
	int			failed = 0;
	int			shared = 0;

	/* fill the pool, then fork with most of it unused */
	draw(first, 1);
	if (pipe(fds) != 0 || (pid = fork()) < 0)
	{
		perror("fork");
		return 2;
	}
	if (pid == 0)
	{
		draw(child, DRAWS);
		if (write(fds[1], child, sizeof(child)) != (ssize_t) sizeof(child))
			_exit(2);
		_exit(0);
	}
	draw(parent, DRAWS);
	if (read(fds[0], child, sizeof(child)) != (ssize_t) sizeof(child) ||
		waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		WEXITSTATUS(status) != 0)
	{
		fprintf(stderr, "child failed\n");
		return 2;
	}
	for (int i = 0; i < DRAWS; i++)
		for (int j = 0; j < DRAWS; j++)
			if (memcmp(parent + i * EC_GCM_NONCE_LEN,
					   child + j * EC_GCM_NONCE_LEN, EC_GCM_NONCE_LEN) == 0)
				shared++;
	printf("%s - parent and child draw different nonces after fork (%d shared of %d)\n",
		   shared == 0 ? "ok    " : "NOT OK", shared, DRAWS);
	failed += shared != 0;

	/* a million nonces in one process, all distinct */
	draw(many, 1000000);
	qsort(many, 1000000, EC_GCM_NONCE_LEN, cmp_nonce);
	shared = 0;
	for (int i = 1; i < 1000000; i++)
		if (memcmp(many + (i - 1) * EC_GCM_NONCE_LEN,
				   many + i * EC_GCM_NONCE_LEN, EC_GCM_NONCE_LEN) == 0)
			shared++;
	printf("%s - 1000000 nonces in one process are distinct (%d repeats)\n",
		   shared == 0 ? "ok    " : "NOT OK", shared);
	failed += shared != 0;

	printf("nonce checks: %d passed, %d failed\n", 2 - failed, failed);
	return failed ? 1 : 0;
}
