/*
 * trigram.c
 *		The trigrams of a value and of a LIKE pattern, and the decimal
 *		width of encrypted_numeric's type modifier, as pure structure
 *		(trigram.h).
 *
 * A text is folded to one byte per character: ASCII letters to lower
 * case, every other ASCII byte as it is, every non-ASCII character to one
 * marker byte.  A value is padded with two start marks and one end mark,
 * and its trigrams are the folded text's 3-byte windows.  A pattern's
 * literal runs (between % and _, with backslash escapes as like_escape()
 * leaves them) are folded the same way, with the marks where the pattern
 * is anchored; every value that matches the pattern contains each of its
 * trigrams.  For ILIKE only trigrams without the marker and without the
 * letters i and k count: those are the only ASCII letters that some
 * locale's lower() maps to or from a non-ASCII character (U+0130, U+0131,
 * U+212A), so every other ASCII letter matches only its own two cases.
 * Every length is checked before a byte is read.
 */
#include <string.h>

#include "trigram.h"

/* The length of a UTF-8 character by its first byte, within what is left. */
int
ec_utf8_char_len(const unsigned char *s, size_t remaining)
{
	int			len;

	if (*s < 0x80)
		len = 1;
	else if ((*s & 0xe0) == 0xc0)
		len = 2;
	else if ((*s & 0xf0) == 0xe0)
		len = 3;
	else if ((*s & 0xf8) == 0xf0)
		len = 4;
	else
		len = 1;
	return (size_t) len > remaining ? (int) remaining : len;
}

/* A character's length, never below 1 nor beyond what is left. */
static size_t
char_len_within(ec_char_len_fn char_len, const char *s, size_t remaining)
{
	int			len = char_len((const unsigned char *) s, remaining);

	if (len < 1)
		return 1;
	return (size_t) len > remaining ? remaining : (size_t) len;
}

/* Fold one character of len bytes at s into out; returns 1. */
static size_t
fold_char(const char *s, uint8_t *out)
{
	unsigned char c = (unsigned char) *s;

	if (c >= 0x80)
		*out = EC_FOLD_OTHER;
	else if (c >= 'A' && c <= 'Z')
		*out = (uint8_t) (c + ('a' - 'A'));
	else
		*out = c;
	return 1;
}

/* Start on the trigrams of a UTF-8 value. */
void
ec_value_trigrams_begin(ec_trigram_iter *it, const char *value, size_t len)
{
	it->value = value;
	it->len = len;
	it->pos = 0;
	it->window[0] = EC_FOLD_START;
	it->window[1] = EC_FOLD_START;
	it->done = false;
}

/*
 * The next at most max trigrams of the value, 3 bytes each, into out;
 * returns how many (0 when there are no more).  A value of n characters
 * has n + 1.
 */
int
ec_value_trigrams_next(ec_trigram_iter *it, uint8_t *out, int max)
{
	int			n = 0;

	while (!it->done && n < max)
	{
		if (it->pos >= it->len)
		{
			it->window[2] = EC_FOLD_END;
			it->done = true;
		}
		else
		{
			fold_char(it->value + it->pos, &it->window[2]);
			it->pos += char_len_within(ec_utf8_char_len, it->value + it->pos,
									   it->len - it->pos);
		}
		memcpy(out + 3 * n, it->window, 3);
		n++;
		it->window[0] = it->window[1];
		it->window[1] = it->window[2];
	}
	return n;
}

/*
 * All the trigrams of a UTF-8 value, 3 bytes each, into out (room for
 * 3 * EC_TRIGRAMS_MAX(len) bytes); returns how many.
 */
int
ec_value_trigrams(const char *value, size_t len, uint8_t *out)
{
	ec_trigram_iter it;

	ec_value_trigrams_begin(&it, value, len);
	return ec_value_trigrams_next(&it, out, (int) EC_TRIGRAMS_MAX(len));
}

/* May an ILIKE search use this trigram?  Not with a non-ASCII character. */
static bool
case_safe(const uint8_t *t)
{
	for (int i = 0; i < 3; i++)
		if (t[i] == EC_FOLD_OTHER)
			return false;
	return true;
}

/*
 * The forms that a trigram of an ILIKE pattern can take in a matching
 * value, 3 bytes each, into out (room for 8 trigrams); returns how many.
 * An i or a k may stand for a non-ASCII character in the value (see the
 * header comment), so each of them is also tried as the marker.
 */
int
ec_trigram_case_variants(const uint8_t *t, uint8_t *out)
{
	int			n = 1;

	memcpy(out, t, 3);
	for (int pos = 0; pos < 3; pos++)
	{
		if (t[pos] != 'i' && t[pos] != 'k')
			continue;
		for (int v = 0; v < n; v++)
		{
			memcpy(out + 3 * (n + v), out + 3 * v, 3);
			out[3 * (n + v) + pos] = EC_FOLD_OTHER;
		}
		n *= 2;
	}
	return n;
}

/*
 * The trigrams that every value matching a LIKE pattern contains, 3 bytes
 * each, into out (room for 3 * EC_TRIGRAMS_MAX(len) bytes); for ILIKE
 * only the case-safe ones.  Returns how many.
 */
int
ec_pattern_trigrams(const char *p, size_t len, bool ilike,
					ec_char_len_fn char_len, uint8_t *out)
{
	uint8_t		window[3];
	size_t		filled;
	size_t		i = 0;
	int			n = 0;
	bool		anchored_start = true;

	for (;;)
	{
		/* one literal run: up to the next % or _, or the end */
		filled = 0;
		if (anchored_start)
		{
			window[0] = window[1] = EC_FOLD_START;
			filled = 2;
		}
		while (i < len && p[i] != '%' && p[i] != '_')
		{
			if (p[i] == '\\' && i + 1 < len)
				i++;
			if (filled == 3)
			{
				window[0] = window[1];
				window[1] = window[2];
				filled = 2;
			}
			fold_char(p + i, &window[filled++]);
			i += char_len_within(char_len, p + i, len - i);
			if (filled == 3 && (!ilike || case_safe(window)))
			{
				memcpy(out + 3 * n, window, 3);
				n++;
			}
		}
		if (i >= len)
		{
			/* anchored at the end */
			if (filled == 3)
			{
				window[0] = window[1];
				window[1] = window[2];
				filled = 2;
			}
			if (filled == 2)
			{
				window[2] = EC_FOLD_END;
				if (!ilike || case_safe(window))
				{
					memcpy(out + 3 * n, window, 3);
					n++;
				}
			}
			return n;
		}
		i++;					/* the % or _ */
		anchored_start = false;
	}
}

/* Does a pattern end in an unescaped backslash? */
bool
ec_pattern_ends_in_escape(const char *p, size_t len, ec_char_len_fn char_len)
{
	size_t		i = 0;

	while (i < len)
	{
		if (p[i] == '\\')
		{
			if (i + 1 >= len)
				return true;
			i++;
		}
		i += char_len_within(char_len, p + i, len - i);
	}
	return false;
}

/*
 * A positive decimal number of at most 7 significant digits ("0.01",
 * "2500"), as mantissa * 10^exponent with trailing zeros moved into the
 * exponent, which stays within -64..63.  False for anything else.
 */
bool
ec_parse_decimal_width(const char *word, int32_t *mantissa, int32_t *exponent)
{
	int64_t		m = 0;
	int32_t		e = 0;
	bool		point = false;
	bool		digits = false;
	const char *p;

	for (p = word; *p; p++)
	{
		if (*p == '.' && !point)
			point = true;
		else if (*p >= '0' && *p <= '9')
		{
			m = m * 10 + (*p - '0');
			if (m > 9999999)
				return false;
			if (point)
				e--;
			digits = true;
		}
		else
			return false;
		if (e < -64)
			return false;
	}
	while (m != 0 && m % 10 == 0)
	{
		m /= 10;
		e++;
	}
	if (!digits || m == 0 || m > 9999999 || e < -64 || e > 63)
		return false;
	*mantissa = (int32_t) m;
	*exponent = e;
	return true;
}
