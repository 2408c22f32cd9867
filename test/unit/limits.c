/*
 * limits.c
 *		Unit test of the size limit (src/envelope.c, no PostgreSQL): the
 *		longest plaintext whose text form fits, for the overhead of each
 *		envelope type, checked at the boundary by encoding lengths rather
 *		than by allocating a gigabyte.
 */
#include <stdio.h>
#include <stdlib.h>

#include "envelope.h"

static int	failures = 0;

/* Report one check. */
static void
check(int ok, const char *what, size_t overhead)
{
	printf("%s - %s (overhead %zu)\n", ok ? "ok" : "NOT OK", what, overhead);
	if (!ok)
		failures++;
}

/* The boundary for one overhead: max fits, max + 1 does not. */
static void
check_overhead(size_t overhead, size_t want)
{
	size_t		max = ec_max_plaintext_len(overhead);

	check(max == want, "the limit is the documented number of bytes", overhead);
	check(ec_text_encoded_len(max + overhead) <= EC_TEXT_FORM_MAX,
		  "the longest plaintext's text form fits", overhead);
	check(ec_text_encoded_len(max + 1 + overhead) > EC_TEXT_FORM_MAX,
		  "one byte more does not fit", overhead);
}

int
main(void)
{
	/* MaxAllocSize is 2^30 - 1; a DataRow adds 6 bytes, the NUL one */
	check(EC_TEXT_FORM_MAX == 0x3fffffff - 7, "the text form limit", 0);
	check_overhead(EC_GCM_OVERHEAD, 805306322);
	/* the deterministic type: header and synthetic IV, no tag */
	check_overhead(EC_HEADER_LEN + EC_SIV_IV_LEN, 805306334);
	return failures == 0 ? 0 : 1;
}
