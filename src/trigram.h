/*
 * trigram.h
 *		The trigrams of a value and of a LIKE pattern, and the decimal
 *		width of encrypted_numeric's type modifier, as pure structure.
 *
 * Nothing here touches keys or PostgreSQL: trigram.c depends on the C
 * library only, so that a fuzzing harness can drive the same parsers the
 * server uses.  The caller says how long a character is (UTF-8 for a
 * stored value, the database encoding for a pattern).
 */
#ifndef EC_TRIGRAM_H
#define EC_TRIGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EC_FOLD_OTHER			0x80	/* any non-ASCII character */
#define EC_FOLD_START			0x01	/* two of these before an anchored start */
#define EC_FOLD_END				0x02	/* one after an anchored end */

/* bytes of the character at s, of which remaining are left (at least 1) */
typedef int (*ec_char_len_fn) (const unsigned char *s, size_t remaining);

/* the most trigrams a value or pattern of len bytes gives */
#define EC_TRIGRAMS_MAX(len)	((len) + 1)

/* the trigrams of a value, a batch at a time */
typedef struct ec_trigram_iter
{
	const char *value;
	size_t		len;
	size_t		pos;			/* the next character's offset */
	uint8_t		window[3];
	bool		done;
} ec_trigram_iter;

extern int	ec_utf8_char_len(const unsigned char *s, size_t remaining);
extern void ec_value_trigrams_begin(ec_trigram_iter *it, const char *value,
									size_t len);
extern int	ec_value_trigrams_next(ec_trigram_iter *it, uint8_t *out, int max);
extern int	ec_value_trigrams(const char *value, size_t len, uint8_t *out);
extern int	ec_pattern_trigrams(const char *pattern, size_t len, bool ilike,
								ec_char_len_fn char_len, uint8_t *out);
extern int	ec_trigram_case_variants(const uint8_t *trigram, uint8_t *out);
extern bool ec_pattern_ends_in_escape(const char *pattern, size_t len,
									  ec_char_len_fn char_len);
extern bool ec_parse_decimal_width(const char *word, int32_t *mantissa,
								   int32_t *exponent);

#endif							/* EC_TRIGRAM_H */
