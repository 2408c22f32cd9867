/*
 * fuzz_trigram.c
 *		libFuzzer harness for the trigrams of values and LIKE patterns and
 *		for the decimal width of encrypted_numeric's type modifier.
 *
 * It is linked with the extension's own src/trigram.c, the code the server
 * runs.  Beyond what AddressSanitizer and UBSan catch, it checks the
 * contract of each function and traps when one is broken:
 *	- ec_value_trigrams and ec_pattern_trigrams (LIKE and ILIKE, with
 *	  ec_utf8_char_len, with a single-byte character length and with one
 *	  that returns nonsense: 0, negative, longer than what is left) write
 *	  into a heap buffer of exactly 3 * EC_TRIGRAMS_MAX(len) bytes and
 *	  return a count within it; a value of n characters has n + 1
 *	  trigrams, each a 3-byte window of its folded form (two start marks,
 *	  one byte per character, an end mark); a pattern's trigrams hold no
 *	  upper-case letter, and for ILIKE none holds the non-ASCII marker;
 *	  ec_trigram_case_variants gives 2^m forms of a trigram with m i's
 *	  and k's, the first the trigram itself, each differing from it only
 *	  where an i or k became the marker;
 *	- the property the index rests on: for a valid UTF-8 value v and a
 *	  pattern p made by cutting v into pieces joined with % and _ (literal
 *	  %, _ and \ escaped, other characters now and then escaped too), so
 *	  that v LIKE p holds (checked by a reference matcher), every trigram
 *	  of p is among the trigrams of v; with a single-byte character length
 *	  for the same pattern written in a single-byte encoding; and for ILIKE
 *	  with the pattern's ASCII letters in flipped case and, in the value,
 *	  k and K as the Kelvin sign (U+212A) and i and I as U+0130 or U+0131,
 *	  the characters that some locale's lower() maps to or from ASCII,
 *	  one of the forms of every trigram of p is among those of v;
 *	- ec_pattern_ends_in_escape: false for every pattern so made, true
 *	  once an unescaped backslash is appended;
 *	- ec_parse_decimal_width on the input as a NUL-terminated string (an
 *	  exact-size heap copy): it accepts only a positive decimal number,
 *	  digits with at most one point, of at most 7 significant digits,
 *	  giving the mantissa without trailing zeros (1 to 9999999) and the
 *	  exponent (-64 to 63) of that number; every such number written with
 *	  at most 7 digits from its first non-zero digit on and at most 64
 *	  decimal places is accepted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trigram.h"

/* Stop the run when a contract is broken; libFuzzer saves the input. */
#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "contract broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

/*
 * The harness's own code is not instrumented for coverage: its branches
 * say nothing about the code under test, and tracing them would only slow
 * the run.  AddressSanitizer and UBSan still check it.
 */
#define HARNESS __attribute__((no_sanitize("coverage")))

/* Longest value the property checks build (characters; inputs are shorter). */
#define MAX_CHARS		128

/* ---- character lengths ---- */

/* A single-byte encoding (LATIN1 and the like). */
HARNESS static int
single_char_len(const unsigned char *s, size_t remaining)
{
	(void) s;
	(void) remaining;
	return 1;
}

/* A character length function that misbehaves: 0, negative, too long. */
HARNESS static int
wild_char_len(const unsigned char *s, size_t remaining)
{
	(void) remaining;
	return (int) (*s % 9) - 3;
}

/* ---- the folded form, computed here independently ---- */

HARNESS static uint8_t
fold_byte(unsigned char c)
{
	if (c >= 0x80)
		return EC_FOLD_OTHER;
	if (c >= 'A' && c <= 'Z')
		return (uint8_t) (c + 32);
	return c;
}

/* The length of a UTF-8 character, as the server's value side counts it. */
HARNESS static size_t
utf8_len(const unsigned char *s, size_t remaining)
{
	size_t		len = 1;

	if ((*s & 0xe0) == 0xc0)
		len = 2;
	else if ((*s & 0xf0) == 0xe0)
		len = 3;
	else if ((*s & 0xf8) == 0xf0)
		len = 4;
	return len > remaining ? remaining : len;
}

/* An exact-size heap buffer for the trigrams of len bytes. */
HARNESS static uint8_t *
trigram_buffer(size_t len)
{
	return malloc(3 * EC_TRIGRAMS_MAX(len));
}

HARNESS static int
cmp_trigram(const void *a, const void *b)
{
	return memcmp(a, b, 3);
}

/* Is trigram t among the n trigrams at set (sorted by cmp_trigram)? */
HARNESS static bool
has_trigram(const uint8_t *set, int n, const uint8_t *t)
{
	return bsearch(t, set, (size_t) n, 3, cmp_trigram) != NULL;
}

/* ---- contracts on arbitrary bytes ---- */

/* Trigrams of arbitrary bytes as a value: count and windows. */
HARNESS static void
check_value(const uint8_t *data, size_t size)
{
	char	   *copy = malloc(size ? size : 1);
	uint8_t    *out = trigram_buffer(size);
	uint8_t    *folded = malloc(size + 3);
	size_t		nfolded = 0;
	int			n;

	/* an exact-size heap copy, so any read past the end is caught */
	memcpy(copy, data, size);
	n = ec_value_trigrams(copy, size, out);
	REQUIRE(n >= 1 && (size_t) n <= EC_TRIGRAMS_MAX(size));

	folded[nfolded++] = EC_FOLD_START;
	folded[nfolded++] = EC_FOLD_START;
	for (size_t i = 0; i < size; i += utf8_len(data + i, size - i))
		folded[nfolded++] = fold_byte(data[i]);
	folded[nfolded++] = EC_FOLD_END;
	/* n characters: n + 1 trigrams, the windows of the folded form in order */
	REQUIRE((size_t) n == nfolded - 2);
	for (int t = 0; t < n; t++)
		REQUIRE(memcmp(out + 3 * t, folded + t, 3) == 0);
	free(folded);
	free(out);
	free(copy);
}

/* Trigrams of arbitrary bytes as a pattern: count and shape. */
HARNESS static void
check_pattern(const uint8_t *data, size_t size, bool ilike, ec_char_len_fn char_len)
{
	char	   *copy = malloc(size ? size : 1);
	uint8_t    *out = trigram_buffer(size);
	int			n;

	memcpy(copy, data, size);
	n = ec_pattern_trigrams(copy, size, ilike, char_len, out);
	REQUIRE(n >= 0 && (size_t) n <= EC_TRIGRAMS_MAX(size));
	/*
	 * Control bytes fold to themselves and may look like the marks, which
	 * only widens a search; but no letter is upper case, and what ILIKE
	 * looks up is case-safe.
	 */
	for (int t = 0; t < n; t++)
	{
		const uint8_t *g = out + 3 * t;

		for (int k = 0; k < 3; k++)
		{
			REQUIRE(!(g[k] >= 'A' && g[k] <= 'Z'));
			if (ilike)
				REQUIRE(g[k] != EC_FOLD_OTHER);
		}
		if (ilike)
		{
			uint8_t		forms[3 * 8];
			int			m = 0;
			int			nf = ec_trigram_case_variants(g, forms);

			for (int k = 0; k < 3; k++)
				m += g[k] == 'i' || g[k] == 'k';
			REQUIRE(nf == 1 << m);
			REQUIRE(memcmp(forms, g, 3) == 0);
			for (int f = 0; f < nf; f++)
				for (int k = 0; k < 3; k++)
					REQUIRE(forms[3 * f + k] == g[k] ||
							((g[k] == 'i' || g[k] == 'k') &&
							 forms[3 * f + k] == EC_FOLD_OTHER));
		}
	}
	(void) ec_pattern_ends_in_escape(copy, size, char_len);
	free(out);
	free(copy);
}

/* ---- the decimal width ---- */

/*
 * The reference: is s a positive decimal number (digits, at most one point,
 * at least one digit) of at most 7 significant digits whose exponent is in
 * -64..63?  Sets the mantissa, the exponent, the digits from the first
 * non-zero one to the end and the decimal places as written.
 */
HARNESS static bool
reference_width(const char *s, int64_t *mantissa, int32_t *exponent,
				size_t *written, size_t *places)
{
	size_t		len = strlen(s);
	char	   *digits = malloc(len + 1);
	size_t		nd = 0;
	size_t		last;
	bool		point = false;
	bool		ok = false;
	int64_t		e;
	int64_t		m = 0;

	*places = 0;
	for (const char *p = s; *p; p++)
	{
		if (*p == '.' && !point)
			point = true;
		else if (*p >= '0' && *p <= '9')
		{
			if (point)
				(*places)++;
			/* the digits from the first non-zero one on */
			if (*p != '0' || nd > 0)
				digits[nd++] = *p;
		}
		else
			goto done;
	}
	*written = nd;
	/* the significant digits: without the trailing zeros */
	last = nd;
	while (last > 0 && digits[last - 1] == '0')
		last--;
	if (last == 0 || last > 7)
		goto done;				/* zero, no digit, or too many digits */
	for (size_t i = 0; i < last; i++)
		m = m * 10 + (digits[i] - '0');
	e = (int64_t) (nd - last) - (int64_t) *places;
	if (e < -64 || e > 63)
		goto done;
	*mantissa = m;
	*exponent = (int32_t) e;
	ok = true;
done:
	free(digits);
	return ok;
}

HARNESS static void
check_decimal_width(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	int32_t		mantissa = -1;
	int32_t		exponent = -1000;
	int64_t		ref_m = 0;
	int32_t		ref_e = 0;
	size_t		written = 0;
	size_t		places = 0;
	bool		ok;
	bool		ref;

	/* an exact-size heap copy, NUL-terminated at the input's end */
	memcpy(s, data, size);
	s[size] = '\0';
	ok = ec_parse_decimal_width(s, &mantissa, &exponent);
	ref = reference_width(s, &ref_m, &ref_e, &written, &places);
	if (ok)
	{
		REQUIRE(ref);
		REQUIRE(mantissa >= 1 && mantissa <= 9999999);
		REQUIRE(mantissa % 10 != 0);
		REQUIRE(exponent >= -64 && exponent <= 63);
		REQUIRE(mantissa == ref_m && exponent == ref_e);
	}
	else if (ref && written <= 7 && places <= 64)
		REQUIRE(!"a number written with at most 7 digits was refused");
	free(s);
}

/* ---- the index property ---- */

/* A deterministic stream of choices drawn from the input. */
typedef struct choices
{
	uint64_t	state;
} choices;

HARNESS static unsigned
pick(choices *c, unsigned n)
{
	c->state ^= c->state << 13;
	c->state ^= c->state >> 7;
	c->state ^= c->state << 17;
	return n ? (unsigned) (c->state % n) : 0;
}

/* Code points some locale's case mapping treats specially, and others. */
static const uint32_t interesting[] = {
	0x00DF, 0x0130, 0x0131, 0x212A, 0x00E9, 0x00C9, 0x03A9, 0x03C9, 0x1E9E,
	0xFB00, 0x0080, 0x07FF, 0x0800, 0xFFFD, 0x10000, 0x10FFFF, 0x1F600,
	0x00A0, 0x2028, 0x0307, 0x017F, 0x03C2, 0x0345, 0x2126, 0x00C5, 0x212B,
	0x0049, 0x0069, 0x004B, 0x006B, 0x0025, 0x005F, 0x005C
};

HARNESS static size_t
utf8_encode(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80)
	{
		out[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (unsigned char) (0xc0 | (cp >> 6));
		out[1] = (unsigned char) (0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (unsigned char) (0xe0 | (cp >> 12));
		out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char) (0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char) (0xf0 | (cp >> 18));
	out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char) (0x80 | (cp & 0x3f));
	return 4;
}

/* Code points of a valid text, drawn from the input bytes; returns how many. */
HARNESS static size_t
code_points(const uint8_t *data, size_t size, uint32_t *cps)
{
	size_t		n = 0;

	for (size_t i = 0; i < size && n < MAX_CHARS; i++)
	{
		uint8_t		b = data[i];
		uint32_t	cp;

		if (b == 0)
			cp = 'a';			/* text holds no NUL */
		else if (b < 0x80)
			cp = b;
		else if (b & 0x40)
			cp = interesting[(b & 0x3f) % (sizeof(interesting) / sizeof(interesting[0]))];
		else
		{
			uint32_t	x = (uint32_t) (b & 0x3f) << 16;

			if (i + 1 < size)
				x |= (uint32_t) data[++i] << 8;
			if (i + 1 < size)
				x |= data[++i];
			cp = 0x80 + x % (0x110000 - 0x80);
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
		}
		cps[n++] = cp;
	}
	return n;
}

/* A pattern token: a literal character, _ or %. */
enum
{
	TOK_LIT, TOK_ONE, TOK_ANY
};

typedef struct token
{
	int			kind;
	uint32_t	cp;
} token;

/* Does the text (code points) match the pattern tokens, as LIKE does? */
HARNESS static bool
like_matches(const uint32_t *text, size_t nt, const token *pat, size_t np)
{
	/* match[j]: the first i characters match the first j tokens */
	bool		prev[MAX_CHARS + 1];
	bool		cur[MAX_CHARS + 1];

	/* dynamic programming over the pattern, a row per token */
	for (size_t i = 0; i <= nt; i++)
		prev[i] = i == 0;
	for (size_t j = 0; j < np; j++)
	{
		for (size_t i = 0; i <= nt; i++)
		{
			if (pat[j].kind == TOK_ANY)
				cur[i] = prev[i] || (i > 0 && cur[i - 1]);
			else if (i == 0)
				cur[i] = false;
			else if (pat[j].kind == TOK_ONE)
				cur[i] = prev[i - 1];
			else
				cur[i] = prev[i - 1] && text[i - 1] == pat[j].cp;
		}
		memcpy(prev, cur, sizeof(bool) * (nt + 1));
	}
	return prev[nt];
}

/*
 * A pattern that the text (code points) matches: pieces of it joined by
 * % (which may swallow characters) and _ (which stands for one).
 */
HARNESS static size_t
make_tokens(const uint32_t *text, size_t nt, choices *c, token *pat)
{
	size_t		np = 0;
	size_t		i = 0;

	bool		after_any = false;

	while (i < nt)
	{
		unsigned	r = pick(c, 16);

		if (r == 0 && !after_any)
		{
			pat[np++] = (token) {TOK_ANY, 0};
			i += pick(c, 4);	/* swallow up to three characters */
			after_any = true;
			continue;
		}
		if (r == 1)
			pat[np++] = (token) {TOK_ONE, 0};
		else
			pat[np++] = (token) {TOK_LIT, text[i]};
		i++;
		after_any = false;
	}
	if (!after_any && pick(c, 4) == 0)
		pat[np++] = (token) {TOK_ANY, 0};
	return np;
}

/*
 * Write the tokens as a pattern: literal characters in UTF-8 (or, with
 * single_byte, one byte each: ASCII as it is, anything else as a byte from
 * 0x80 up), %, _ and \ escaped, other characters now and then.
 */
HARNESS static size_t
write_pattern(const token *pat, size_t np, bool single_byte, choices *c,
			  unsigned char *out)
{
	size_t		o = 0;

	for (size_t j = 0; j < np; j++)
	{
		if (pat[j].kind == TOK_ANY)
			out[o++] = '%';
		else if (pat[j].kind == TOK_ONE)
			out[o++] = '_';
		else
		{
			uint32_t	cp = pat[j].cp;

			if (cp == '%' || cp == '_' || cp == '\\' || pick(c, 8) == 0)
				out[o++] = '\\';
			if (single_byte)
				out[o++] = cp < 0x80 ? (unsigned char) cp : (unsigned char) (0x80 | (cp & 0x7f));
			else
				o += utf8_encode(cp, out + o);
		}
	}
	return o;
}

HARNESS static uint32_t
flip_case(uint32_t cp)
{
	if (cp >= 'a' && cp <= 'z')
		return cp - 32;
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	return cp;
}

HARNESS static uint32_t
ascii_lower(uint32_t cp)
{
	return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

/*
 * Every trigram of the pattern (LIKE or ILIKE, written in UTF-8 or in a
 * single-byte encoding) is among the trigrams of the value.
 */
HARNESS static void
check_subset(const uint32_t *value_cps, size_t nv, const token *pat, size_t np,
			 bool ilike, bool single_byte, choices *c)
{
	unsigned char *value = malloc(4 * nv + 1);
	unsigned char *pattern = malloc(2 * 4 * np + 2);
	size_t		vlen = 0;
	size_t		plen;
	uint8_t    *vt;
	uint8_t    *pt;
	char	   *pcopy;
	int			nvt;
	int			npt;
	ec_char_len_fn char_len = single_byte ? single_char_len : ec_utf8_char_len;

	for (size_t i = 0; i < nv; i++)
		vlen += utf8_encode(value_cps[i], value + vlen);
	plen = write_pattern(pat, np, single_byte, c, pattern);

	vt = trigram_buffer(vlen);
	nvt = ec_value_trigrams((const char *) value, vlen, vt);
	REQUIRE(nvt >= 1 && (size_t) nvt <= EC_TRIGRAMS_MAX(vlen));
	qsort(vt, (size_t) nvt, 3, cmp_trigram);

	/* an exact-size heap copy of the pattern, and an exact-size buffer */
	pcopy = malloc(plen ? plen : 1);
	memcpy(pcopy, pattern, plen);
	pt = trigram_buffer(plen);
	npt = ec_pattern_trigrams(pcopy, plen, ilike, char_len, pt);
	REQUIRE(npt >= 0 && (size_t) npt <= EC_TRIGRAMS_MAX(plen));
	for (int t = 0; t < npt; t++)
	{
		uint8_t		forms[3 * 8];
		int			nf = ilike ? ec_trigram_case_variants(pt + 3 * t, forms) : 1;
		bool		found = false;

		if (!ilike)
			memcpy(forms, pt + 3 * t, 3);
		for (int f = 0; f < nf && !found; f++)
			found = has_trigram(vt, nvt, forms + 3 * f);
		REQUIRE(found);
	}
	/* every escape is complete; one more backslash is left open */
	REQUIRE(!ec_pattern_ends_in_escape(pcopy, plen, char_len));
	free(pcopy);
	pattern[plen] = '\\';
	pcopy = malloc(plen + 1);
	memcpy(pcopy, pattern, plen + 1);
	REQUIRE(ec_pattern_ends_in_escape(pcopy, plen + 1, char_len));
	free(pcopy);
	free(pt);
	free(vt);
	free(pattern);
	free(value);
}

HARNESS static void
check_property(const uint8_t *data, size_t size)
{
	uint32_t	text[MAX_CHARS];
	uint32_t	shown[MAX_CHARS];
	uint32_t	lowered[MAX_CHARS];
	token		pat[2 * MAX_CHARS + 1];
	choices		c = {0x9e3779b97f4a7c15ULL};
	size_t		nt;
	size_t		np;

	if (size < 8)
		return;
	for (int i = 0; i < 8; i++)
		c.state = (c.state ^ data[i]) * 0x100000001b3ULL;
	if (c.state == 0)
		c.state = 1;
	nt = code_points(data + 8, size - 8, text);

	/* LIKE: the value as it is, the pattern cut from it */
	np = make_tokens(text, nt, &c, pat);
	REQUIRE(like_matches(text, nt, pat, np));
	check_subset(text, nt, pat, np, false, false, &c);
	check_subset(text, nt, pat, np, false, true, &c);

	/*
	 * ILIKE: the pattern in flipped ASCII case; the value with k, K, i and
	 * I now and then as the non-ASCII letters that lower() may map to or
	 * from them.  Both match once ASCII letters are lowered.
	 */
	for (size_t i = 0; i < nt; i++)
	{
		uint32_t	cp = text[i];
		unsigned	r = pick(&c, 4);

		shown[i] = cp;
		if ((cp == 'k' || cp == 'K') && r == 0)
			shown[i] = 0x212A;
		else if ((cp == 'i' || cp == 'I') && r == 0)
			shown[i] = pick(&c, 2) ? 0x0130 : 0x0131;
		else if (r == 1)
			shown[i] = flip_case(cp);
	}
	np = make_tokens(text, nt, &c, pat);
	for (size_t j = 0; j < np; j++)
		if (pat[j].kind == TOK_LIT && pick(&c, 2))
			pat[j].cp = flip_case(pat[j].cp);
	/* the construction is right: lowered, the original text matches */
	{
		token		low[2 * MAX_CHARS + 1];

		for (size_t i = 0; i < nt; i++)
			lowered[i] = ascii_lower(text[i]);
		for (size_t j = 0; j < np; j++)
		{
			low[j] = pat[j];
			low[j].cp = ascii_lower(pat[j].cp);
		}
		REQUIRE(like_matches(lowered, nt, low, np));
	}
	check_subset(shown, nt, pat, np, true, false, &c);
	check_subset(shown, nt, pat, np, true, true, &c);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_value(data, size);
	check_pattern(data, size, false, ec_utf8_char_len);
	check_pattern(data, size, true, ec_utf8_char_len);
	check_pattern(data, size, false, single_char_len);
	check_pattern(data, size, true, single_char_len);
	check_pattern(data, size, false, wild_char_len);
	check_pattern(data, size, true, wild_char_len);
	check_decimal_width(data, size);
	check_property(data, size);
	return 0;
}
