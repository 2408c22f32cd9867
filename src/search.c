/*
 * search.c
 *		Search terms: what a value carries so that an index can find it
 *		without a key, and the SQL that uses them.
 *
 * A column opts in with a type modifier: encrypted_text(trigram [, bits])
 * gives every value keyed, truncated tags of the trigrams of its case-
 * folded plaintext; encrypted_bigint, encrypted_numeric, encrypted_date
 * and encrypted_timestamptz (range, width) give every value one range
 * term, an order-preserving image of its bucket of the given width.  The
 * terms are made when the value is sealed, with a PRF keyed by a subkey of
 * the value's own data key, and travel inside the envelope, authenticated
 * with its header.  So an index build, REINDEX, a restore, logical
 * replication and VACUUM read them without any key.
 *
 * An index over the terms is coarse on purpose; every candidate it gives
 * is rechecked by the operator itself, which decrypts.  Results are
 * therefore exactly those of the same predicate on decrypt(col).
 *
 * Trigram tags.  The trigrams of the plaintext, and those every value
 * matching a LIKE or ILIKE pattern contains, are found by trigram.c; each
 * becomes the top `bits` bits of AES(subkey, trigram).  An index entry is
 * the tag with its bit count above it, so one index serves columns of any
 * bit count, and a query looks up its trigrams at every bit count (an
 * ILIKE trigram with an i or a k in each of its forms).
 *
 * Range terms.  A value's bucket is floor(value / width), clamped to 40
 * bits (a clamped bucket only widens the recheck), and its term is a
 * keyed, strictly increasing function of the bucket into 52 bits: the
 * domain is halved 40 times, and at each halving the PRF picks where the
 * range splits, so that each term needs one batch of 41 AES blocks.  Above
 * those 52 bits sit 11 bits of the key id (public in every envelope): an
 * index of range terms keeps each key's values together, so that during a
 * rotation a search reads one index range per key, none of them crossing
 * another key's values, whose order under their own key says nothing.
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/stratnum.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "encrypted_column.h"
#include "trigram.h"

PG_FUNCTION_INFO_V1(encrypted_trigram_typmod_in);
PG_FUNCTION_INFO_V1(encrypted_trigram_typmod_out);
PG_FUNCTION_INFO_V1(encrypted_bigint_typmod_in);
PG_FUNCTION_INFO_V1(encrypted_date_typmod_in);
PG_FUNCTION_INFO_V1(encrypted_timestamptz_typmod_in);
PG_FUNCTION_INFO_V1(encrypted_range_typmod_out);
PG_FUNCTION_INFO_V1(encrypted_numeric_typmod_in);
PG_FUNCTION_INFO_V1(encrypted_numeric_typmod_out);
PG_FUNCTION_INFO_V1(encrypted_text_like);
PG_FUNCTION_INFO_V1(encrypted_text_not_like);
PG_FUNCTION_INFO_V1(encrypted_text_ilike);
PG_FUNCTION_INFO_V1(encrypted_text_not_ilike);
PG_FUNCTION_INFO_V1(encrypted_trigram_extract_value);
PG_FUNCTION_INFO_V1(encrypted_trigram_extract_query);
PG_FUNCTION_INFO_V1(encrypted_trigram_consistent);
PG_FUNCTION_INFO_V1(encrypted_trigram_triconsistent);
PG_FUNCTION_INFO_V1(encrypted_search_terms);
PG_FUNCTION_INFO_V1(encrypted_range_term);
PG_FUNCTION_INFO_V1(encrypted_range_cmp);
PG_FUNCTION_INFO_V1(encrypted_range_cmp_term);
PG_FUNCTION_INFO_V1(encrypted_range_lt);
PG_FUNCTION_INFO_V1(encrypted_range_le);
PG_FUNCTION_INFO_V1(encrypted_range_eq);
PG_FUNCTION_INFO_V1(encrypted_range_ge);
PG_FUNCTION_INFO_V1(encrypted_range_gt);
PG_FUNCTION_INFO_V1(encrypted_range_lt_term);
PG_FUNCTION_INFO_V1(encrypted_range_le_term);
PG_FUNCTION_INFO_V1(encrypted_range_eq_term);
PG_FUNCTION_INFO_V1(encrypted_range_ge_term);
PG_FUNCTION_INFO_V1(encrypted_range_gt_term);
PG_FUNCTION_INFO_V1(encrypted_range_bound);

#define TRIGRAM_MIN_BITS	8
#define TRIGRAM_MAX_BITS	16
#define TRIGRAM_DEFAULT_BITS 12

#define BUCKET_BITS			40
#define TERM_BITS			52
#define KEY_TAG_BITS		11	/* 11 + 52 bits: a positive int8 */
#define OPE_BLOCKS			(BUCKET_BITS + 1)
#define MAX_BUCKET			((UINT64CONST(1) << BUCKET_BITS) - 1)


/* ---- type modifiers ---- */

/* The type modifier's words, from typmod_in's cstring[] argument. */
static char **
typmod_words(ArrayType *array, int *n)
{
	Datum	   *elems;
	char	  **words;

	deconstruct_array(array, CSTRINGOID, -2, false, TYPALIGN_CHAR,
					  &elems, NULL, n);
	words = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		words[i] = DatumGetCString(elems[i]);
	return words;
}

/* A positive integer word of a type modifier, or an error. */
static int32
typmod_integer(const char *word, int32 min, int32 max, const char *what)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(word, &end, 10);
	if (errno != 0 || end == word || *end != '\0' || v < min || v > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be an integer from %d to %d", what, min, max)));
	return (int32) v;
}

/* encrypted_text(trigram [, bits]): the tag bits are the modifier. */
Datum
encrypted_trigram_typmod_in(PG_FUNCTION_ARGS)
{
	int			n;
	char	  **words = typmod_words(PG_GETARG_ARRAYTYPE_P(0), &n);

	if (n < 1 || n > 2 || pg_strcasecmp(words[0], "trigram") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier for encrypted_text"),
				 errhint("Write encrypted_text(trigram) or encrypted_text(trigram, bits), with bits from %d to %d.",
						 TRIGRAM_MIN_BITS, TRIGRAM_MAX_BITS)));
	if (n == 1)
		PG_RETURN_INT32(TRIGRAM_DEFAULT_BITS);
	PG_RETURN_INT32(typmod_integer(words[1], TRIGRAM_MIN_BITS,
								   TRIGRAM_MAX_BITS, "trigram tag bits"));
}

/* A modifier as typmod_out prints it: (scheme,number), or nothing. */
static char *
typmod_text(int32 typmod, const char *scheme)
{
	return typmod < 0 ? pstrdup("") : psprintf("(%s,%d)", scheme, typmod);
}

Datum
encrypted_trigram_typmod_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(typmod_text(PG_GETARG_INT32(0), "trigram"));
}

/* The first word of a range modifier, checked. */
static void
range_words(char **words, int n, const char *type, const char *unit)
{
	if (n != 2 || pg_strcasecmp(words[0], "range") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier for %s", type),
				 errhint("Write %s(range, width), the width of a bucket in %s.",
						 type, unit)));
}

/*
 * encrypted_bigint, encrypted_date, encrypted_timestamptz (range, width):
 * the width (in the type's units: integers, days or seconds) is the
 * modifier.
 */
static int32
range_typmod_in(FunctionCallInfo fcinfo, const char *type, const char *unit)
{
	int			n;
	char	  **words = typmod_words(PG_GETARG_ARRAYTYPE_P(0), &n);

	range_words(words, n, type, unit);
	return typmod_integer(words[1], 1, PG_INT32_MAX, "bucket width");
}

Datum
encrypted_bigint_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(range_typmod_in(fcinfo, "encrypted_bigint", "integers"));
}

Datum
encrypted_date_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(range_typmod_in(fcinfo, "encrypted_date", "days"));
}

Datum
encrypted_timestamptz_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(range_typmod_in(fcinfo, "encrypted_timestamptz", "seconds"));
}

Datum
encrypted_range_typmod_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(typmod_text(PG_GETARG_INT32(0), "range"));
}

/* A numeric bucket width from its modifier: mantissa times 10^exponent. */
static Numeric
numeric_width(int32 typmod)
{
	int			mantissa = typmod >> 7;
	int			exponent = (typmod & 127) - 64;

	return DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(psprintf("%de%d", mantissa, exponent)),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/* encrypted_numeric(range, width): a positive decimal width. */
Datum
encrypted_numeric_typmod_in(PG_FUNCTION_ARGS)
{
	int			n;
	char	  **words = typmod_words(PG_GETARG_ARRAYTYPE_P(0), &n);
	int32		mantissa;
	int32		exponent;

	range_words(words, n, "encrypted_numeric", "units of the value");
	if (!ec_parse_decimal_width(words[1], &mantissa, &exponent))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket width of encrypted_numeric must be a positive decimal number"),
				 errdetail("At most %d digits, and at most %d decimal places.",
						   7, 64)));
	PG_RETURN_INT32((mantissa << 7) | (exponent + 64));
}

Datum
encrypted_numeric_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);
	char	   *width;

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	width = DatumGetCString(DirectFunctionCall1(numeric_out,
												NumericGetDatum(numeric_width(typmod))));
	PG_RETURN_CSTRING(psprintf("(range,%s)", width));
}

/* ---- trigram tags ---- */

/* A character of the database encoding: pg_mblen, within what is left. */
static int
db_char_len(const unsigned char *s, size_t remaining)
{
	int			len = pg_mblen((const char *) s);

	return (size_t) len > remaining ? (int) remaining : len;
}

/*
 * The 16-bit PRF values of n trigrams under a key, into tags[]; a
 * trigram's tag at b bits is the top b bits of its value.
 */
static void
trigram_values(const ec_key *key, const uint8 *trigrams, int n, uint16 *tags)
{
	uint8	   *blocks;

	if (n == 0)
		return;
	blocks = palloc0((size_t) n * 32);
	for (int i = 0; i < n; i++)
	{
		blocks[i * 16] = 't';
		memcpy(blocks + i * 16 + 1, trigrams + i * 3, 3);
	}
	if (ec_prf_blocks(key->terms, blocks, n, blocks + (size_t) n * 16) != EC_CRYPTO_OK)
	{
		ec_wipe(blocks, (size_t) n * 32);
		pfree(blocks);
		ec_crypto_failed("compute search terms");
	}
	for (int i = 0; i < n; i++)
		tags[i] = (uint16) ((blocks[(n + i) * 16] << 8) | blocks[(n + i) * 16 + 1]);
	ec_wipe(blocks, (size_t) n * 32);
	pfree(blocks);
}

#define TRIGRAM_BATCH 1024

static int
cmp_uint16(const void *a, const void *b)
{
	uint16		x = *(const uint16 *) a;
	uint16		y = *(const uint16 *) b;

	return (x > y) - (x < y);
}

/*
 * The trigram tags of a UTF-8 plaintext: ascending, distinct, 2 bytes
 * each.  The trigrams are made a batch at a time; the tags of a value of
 * one batch are sorted, those of a longer value gathered in a bitmap, so
 * that memory stays small for any length of value.
 */
static uint8 *
trigram_terms(const ec_key *key, const char *plain, size_t len, int bits,
			  size_t *terms_len)
{
	uint8		trigrams[3 * TRIGRAM_BATCH];
	uint16		tags[TRIGRAM_BATCH];
	uint8	   *seen = NULL;
	uint8	   *out;
	ec_trigram_iter it;
	int			n;
	int			used;
	int			distinct = 0;

	ec_value_trigrams_begin(&it, plain, len);
	n = ec_value_trigrams_next(&it, trigrams, TRIGRAM_BATCH);
	used = n;
	trigram_values(key, trigrams, n, tags);
	for (int i = 0; i < n; i++)
		tags[i] >>= (16 - bits);
	if (it.done)
	{
		/* the common case: one batch, sorted */
		qsort(tags, n, sizeof(uint16), cmp_uint16);
		out = palloc(2 * (size_t) n);
		for (int i = 0; i < n; i++)
		{
			if (distinct > 0 && tags[i] == tags[i - 1])
				continue;
			out[2 * distinct] = (uint8) (tags[i] >> 8);
			out[2 * distinct + 1] = (uint8) tags[i];
			distinct++;
		}
	}
	else
	{
		seen = palloc0(1 << (16 - 3));
		do
		{
			for (int i = 0; i < n; i++)
				seen[tags[i] >> 3] |= (uint8) (1 << (tags[i] & 7));
			n = ec_value_trigrams_next(&it, trigrams, TRIGRAM_BATCH);
			used = Max(used, n);
			trigram_values(key, trigrams, n, tags);
			for (int i = 0; i < n; i++)
				tags[i] >>= (16 - bits);
		} while (n > 0);
		out = palloc(2 * ((size_t) 1 << bits));
		for (int tag = 0; tag < (1 << bits); tag++)
			if (seen[tag >> 3] & (1 << (tag & 7)))
			{
				out[2 * distinct] = (uint8) (tag >> 8);
				out[2 * distinct + 1] = (uint8) tag;
				distinct++;
			}
		pfree(seen);
	}
	/* the trigrams are a function of the plaintext: wiped, as far as used */
	ec_wipe(trigrams, 3 * (size_t) used);
	ec_wipe(tags, sizeof(uint16) * (size_t) used);
	ec_wipe(&it, sizeof(it));
	*terms_len = 2 * (size_t) distinct;
	return out;
}

/* ---- range terms ---- */

/*
 * A draw from [0, span) out of a 16-byte PRF block v: floor(v * span /
 * 2^128), within 2^-76 of uniform for span < 2^52, in two multiplications
 * (a 128-bit remainder cost most of a term).
 */
static uint64
draw(const uint8 *block, uint64 span)
{
	uint64		hi = 0;
	uint64		lo = 0;
	unsigned __int128 a;
	unsigned __int128 b;

	for (int i = 0; i < 8; i++)
	{
		hi = (hi << 8) | block[i];
		lo = (lo << 8) | block[8 + i];
	}
	a = (unsigned __int128) hi * span;
	b = (unsigned __int128) lo * span;
	return (uint64) ((a + (b >> 64)) >> 64);
}

/*
 * The range term of a bucket (0 <= bucket < 2^40) under a key: a keyed,
 * strictly increasing function into [0, 2^52), under the key's tag.
 */
static int64
range_term_of_bucket(const ec_key *key, uint64 bucket)
{
	uint8		blocks[2 * OPE_BLOCKS * 16];
	uint64		dlo = 0,
				dhi = (UINT64CONST(1) << BUCKET_BITS) - 1;
	uint64		rlo = 0,
				rhi = (UINT64CONST(1) << TERM_BITS) - 1;
	uint8	   *out = blocks + OPE_BLOCKS * 16;
	int64		term;

	memset(blocks, 0, OPE_BLOCKS * 16);
	for (int level = 0; level <= BUCKET_BITS; level++)
	{
		uint8	   *b = blocks + level * 16;
		uint64		prefix = level == 0 ? 0 : bucket >> (BUCKET_BITS - level);

		b[0] = 'r';
		b[1] = (uint8) level;
		for (int i = 0; i < 8; i++)
			b[2 + i] = (uint8) (prefix >> (56 - 8 * i));
	}
	if (ec_prf_blocks(key->terms, blocks, OPE_BLOCKS, out) != EC_CRYPTO_OK)
	{
		ec_wipe(blocks, sizeof(blocks));
		ec_crypto_failed("compute search terms");
	}
	for (int level = 0; level < BUCKET_BITS; level++)
	{
		uint64		dmid = dlo + (dhi - dlo) / 2;
		uint64		nleft = dmid - dlo + 1;
		uint64		nright = dhi - dmid;
		uint64		smin = rlo + nleft - 1;
		uint64		smax = rhi - nright;
		uint64		split = smin + draw(out + level * 16, smax - smin + 1);

		if (bucket <= dmid)
		{
			dhi = dmid;
			rhi = split;
		}
		else
		{
			dlo = dmid + 1;
			rlo = split + 1;
		}
	}
	term = (int64) (rlo + draw(out + BUCKET_BITS * 16, rhi - rlo + 1));
	ec_wipe(blocks, sizeof(blocks));
	return term | (int64) (((uint64) key->id[0] << 3 | key->id[1] >> 5)
						   << TERM_BITS);
}

/* floor(v / w) for w > 0, clamped to the 40-bit bucket domain. */
static uint64
clamp_bucket(int64 v, int64 w)
{
	int64		q = v / w;
	int64		lim = INT64CONST(1) << (BUCKET_BITS - 1);

	if (v % w != 0 && v < 0)
		q--;
	q = Max(q, -lim);
	q = Min(q, lim - 1);
	return (uint64) (q + lim);
}

/* The bucket of a numeric value under a width modifier. */
static uint64
numeric_bucket(Numeric value, int32 typmod)
{
	int64		lim = INT64CONST(1) << (BUCKET_BITS - 1);
	Numeric		q;
	Datum		lo;
	Datum		hi;

	Numeric		quotient;
	uint64		bucket;

	if (numeric_is_nan(value))
		return (uint64) (2 * lim - 1);	/* NaN sorts above every number */
	quotient = DatumGetNumeric(DirectFunctionCall2(numeric_div,
												   NumericGetDatum(value),
												   NumericGetDatum(numeric_width(typmod))));
	q = DatumGetNumeric(DirectFunctionCall1(numeric_floor,
											NumericGetDatum(quotient)));
	lo = DirectFunctionCall1(int8_numeric, Int64GetDatum(-lim));
	hi = DirectFunctionCall1(int8_numeric, Int64GetDatum(lim - 1));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(q), lo)) < 0)
		bucket = 0;
	else if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(q), hi)) > 0)
		bucket = (uint64) (2 * lim - 1);
	else
		bucket = (uint64) (DatumGetInt64(DirectFunctionCall1(numeric_int8,
															 NumericGetDatum(q))) + lim);
	/* the quotients are as good as the plaintext: wiped */
	ec_wipe(quotient, VARSIZE(quotient));
	ec_wipe(q, VARSIZE(q));
	return bucket;
}

/* The bucket of a plain value (a Datum of the type's plain type). */
static uint64
bucket_of(const ec_type *type, Datum value, int32 typmod)
{
	switch (type->algorithm)
	{
		case EC_ALG_BIGINT:
			return clamp_bucket(DatumGetInt64(value), typmod);
		case EC_ALG_DATE:
			return clamp_bucket(DatumGetDateADT(value), typmod);
		case EC_ALG_TIMESTAMPTZ:
			return clamp_bucket(DatumGetTimestampTz(value),
								(int64) typmod * USECS_PER_SEC);
		case EC_ALG_NUMERIC:
			return numeric_bucket(DatumGetNumeric(value), typmod);
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s has no range terms", type->name)));
	pg_unreachable();
}

/*
 * Refuse a type modifier that no typmod_in function makes: the cast
 * functions and range_bound() can be called with any integer.
 */
void
ec_terms_check_typmod(const ec_type *type, int32 typmod)
{
	bool		valid;

	if (type->algorithm == EC_ALG_AES256_GCM)
		valid = typmod >= TRIGRAM_MIN_BITS && typmod <= TRIGRAM_MAX_BITS;
	else if (type->algorithm == EC_ALG_NUMERIC)
		valid = typmod >= 0 && (typmod >> 7) >= 1;
	else if (type->algorithm == EC_ALG_BIGINT || type->algorithm == EC_ALG_DATE ||
			 type->algorithm == EC_ALG_TIMESTAMPTZ)
		valid = typmod >= 1;
	else
		valid = false;
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier %d for %s", typmod, type->name)));
}

/*
 * The search terms that a value sealed with key, of plaintext plain (UTF-8
 * text, or the plain type's binary form), carries under a modifier.
 */
uint8 *
ec_terms_make(const ec_type *type, const ec_key *key, const char *plain,
			  size_t len, int32 typmod, size_t *terms_len)
{
	uint8	   *out;
	Datum		value;
	int64		term;

	ec_terms_check_typmod(type, typmod);
	if (type->algorithm == EC_ALG_AES256_GCM)
		return trigram_terms(key, plain, len, typmod, terms_len);
	value = ec_plain_datum(type, plain, len);
	term = range_term_of_bucket(key, bucket_of(type, value, typmod));
	if (type->algorithm == EC_ALG_NUMERIC)
		ec_wipe(DatumGetPointer(value), VARSIZE(DatumGetPointer(value)));
	out = palloc(8);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8) ((uint64) term >> (56 - 8 * i));
	*terms_len = 8;
	return out;
}

/* ---- reading the terms of a stored value, without a key ---- */

/* The parsed envelope of a stored value, which must carry terms. */
static void
stored_terms(const ec_type *type, struct varlena *datum, ec_envelope *env)
{
	ec_parse_stored(type, datum, env);
	if (!env->has_terms)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s value carries no search terms", type->name),
				 errdetail("Only values stored in a column declared with a type modifier, such as encrypted_text(trigram) or encrypted_date(range, 7), carry search terms.")));
}

/* The type of a stored typed value, from its algorithm byte. */
static const ec_type *
typed_type_of(struct varlena *datum)
{
	const ec_type *type = NULL;

	if (VARSIZE_ANY_EXHDR(datum) >= 2)
		type = ec_typed_type(((const uint8 *) VARDATA_ANY(datum))[1] &
							 ~EC_ALG_FLAG_BITS);
	if (type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored encrypted value is malformed"),
				 errdetail("%s", ec_envelope_status_detail(EC_ENV_BAD_ALGORITHM))));
	return type;
}

/* The range term of a stored typed value. */
static int64
stored_range_term(Datum d)
{
	struct varlena *datum = PG_DETOAST_DATUM_PACKED(d);
	ec_envelope env;
	uint64		term = 0;

	stored_terms(typed_type_of(datum), datum, &env);
	for (int i = 0; i < 8; i++)
		term = (term << 8) | env.terms[i];
	return (int64) term;
}

/* search_terms(encrypted_text): the stored trigram tags, as index entries. */
Datum
encrypted_search_terms(PG_FUNCTION_ARGS)
{
	struct varlena *datum = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	ec_envelope env;
	int			n;
	Datum	   *elems;

	stored_terms(&ec_type_gcm, datum, &env);
	n = (int) env.terms_len / 2;
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		elems[i] = Int32GetDatum((env.terms_typmod << 16) |
								 (env.terms[2 * i] << 8) | env.terms[2 * i + 1]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, INT4OID, 4, true,
										  TYPALIGN_INT));
}

/* range_term(encrypted_*): the stored range term. */
Datum
encrypted_range_term(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(stored_range_term(PG_GETARG_DATUM(0)));
}

/* ---- LIKE and ILIKE on encrypted_text, rechecked by decrypting ---- */

typedef struct like_call
{
	PGFunction	fn;
	Oid			collation;
	Datum		pattern;
	bool		result;
} like_call;

/* Run the text LIKE function on a plaintext: an ec_plain_fn. */
static struct varlena *
like_plain(const char *plain, size_t len, void *arg)
{
	like_call  *call = (like_call *) arg;
	text	   *t = (text *) palloc(VARHDRSZ + len);

	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), plain, len);
	PG_TRY();
	{
		call->result = DatumGetBool(DirectFunctionCall2Coll(call->fn,
															call->collation,
															PointerGetDatum(t),
															call->pattern));
	}
	PG_CATCH();
	{
		ec_wipe(VARDATA(t), len);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ec_wipe(VARDATA(t), len);
	pfree(t);
	return NULL;
}

/*
 * col LIKE pattern and its kin: the operator decrypts and applies
 * PostgreSQL's own text operator, so it is also the index's recheck.
 * Nondeterministic collations are refused: the trigram tags assume that
 * equal characters are equal bytes up to ASCII case.
 */
static bool
text_like(FunctionCallInfo fcinfo, PGFunction fn)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	like_call	call;
	Oid			collation = PG_GET_COLLATION();

	if (OidIsValid(collation) && collation != DEFAULT_COLLATION_OID &&
		!get_collation_isdeterministic(collation))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("nondeterministic collations are not supported for LIKE on encrypted_text")));
	call.fn = fn;
	call.collation = OidIsValid(collation) ? collation : DEFAULT_COLLATION_OID;
	call.pattern = PG_GETARG_DATUM(1);
	call.result = false;
	(void) ec_apply_and_wipe(ec_open_to_text(&ec_type_gcm, value, NULL, 0),
							 like_plain, &call);
	return call.result;
}

Datum
encrypted_text_like(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(text_like(fcinfo, textlike));
}

Datum
encrypted_text_not_like(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!text_like(fcinfo, textlike));
}

Datum
encrypted_text_ilike(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(text_like(fcinfo, texticlike));
}

Datum
encrypted_text_not_ilike(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!text_like(fcinfo, texticlike));
}

/* ---- the GIN operator class encrypted_trigram_ops ---- */

#define STRATEGY_LIKE	1
#define STRATEGY_ILIKE	2

/*
 * What extractQuery hands consistent.  Entries come in groups (one per
 * loaded key and tag width) of per_group entries each; entry i of a group
 * stands for trigram trigram_of[i] (an ILIKE trigram has up to 8 forms).
 * A row is a candidate when, in some group, every trigram has an entry.
 */
typedef struct trigram_query
{
	int			per_group;
	int			ntrigrams;
	int		   *trigram_of;
	GinTernaryValue *scratch;	/* ntrigrams, reused by every call */
} trigram_query;

Datum
encrypted_trigram_extract_value(PG_FUNCTION_ARGS)
{
	struct varlena *datum = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	int32	   *nentries = (int32 *) PG_GETARG_POINTER(1);
	ec_envelope env;
	Datum	   *entries;
	int			n;

	stored_terms(&ec_type_gcm, datum, &env);
	n = (int) env.terms_len / 2;
	entries = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		entries[i] = Int32GetDatum((env.terms_typmod << 16) |
								   (env.terms[2 * i] << 8) | env.terms[2 * i + 1]);
	*nentries = n;
	PG_RETURN_POINTER(entries);
}

Datum
encrypted_trigram_extract_query(PG_FUNCTION_ARGS)
{
	text	   *pattern = PG_GETARG_TEXT_PP(0);
	int32	   *nentries = (int32 *) PG_GETARG_POINTER(1);
	StrategyNumber strategy = PG_GETARG_UINT16(2);
	Pointer   **extra_data = (Pointer **) PG_GETARG_POINTER(4);
	int32	   *search_mode = (int32 *) PG_GETARG_POINTER(6);
	const ec_key *keys[EC_MAX_LOADED_KEYS];
	int			nkeys;
	uint8	   *trigrams;
	int			ntrigrams;
	uint8	   *forms;
	int			nforms;
	int			per_group;
	int			ngroups;
	uint16	   *values;
	Datum	   *entries;
	trigram_query *query;

	/*
	 * A search decrypts its candidates; a role that may not read plaintext
	 * is refused before the index says whether there are any.
	 */
	ec_require_plaintext_privilege();
	trigrams = palloc(3 * EC_TRIGRAMS_MAX(VARSIZE_ANY_EXHDR(pattern)));
	ntrigrams = ec_pattern_trigrams(VARDATA_ANY(pattern), VARSIZE_ANY_EXHDR(pattern),
									strategy == STRATEGY_ILIKE, db_char_len, trigrams);

	/*
	 * A pattern that ends in its escape character is an error of LIKE when
	 * a row reaches that far: every row is a candidate, so that the recheck
	 * raises it (or not) as the decrypting query would.
	 */
	if (ec_pattern_ends_in_escape(VARDATA_ANY(pattern), VARSIZE_ANY_EXHDR(pattern),
								  db_char_len))
		ntrigrams = 0;
	if (ntrigrams == 0)
	{
		/* nothing to look up: every row is a candidate, rechecked */
		*nentries = 0;
		*search_mode = GIN_SEARCH_MODE_ALL;
		PG_RETURN_POINTER(NULL);
	}

	/* an ILIKE trigram with an i or a k is looked up in each of its forms */
	forms = palloc(3 * 8 * (size_t) ntrigrams);
	query = palloc(sizeof(trigram_query));
	query->trigram_of = palloc(sizeof(int) * 8 * (size_t) ntrigrams);
	query->ntrigrams = ntrigrams;
	query->scratch = palloc(sizeof(GinTernaryValue) * ntrigrams);
	nforms = 0;
	for (int t = 0; t < ntrigrams; t++)
	{
		int			n = 1;

		if (strategy == STRATEGY_ILIKE)
			n = ec_trigram_case_variants(trigrams + 3 * t, forms + 3 * nforms);
		else
			memcpy(forms + 3 * nforms, trigrams + 3 * t, 3);
		for (int v = 0; v < n; v++)
			query->trigram_of[nforms + v] = t;
		nforms += n;
	}
	ec_wipe(trigrams, 3 * (size_t) ntrigrams);

	/*
	 * One group per loaded key (rows under every version of the current
	 * key are found) and per tag width (the index may hold columns of any
	 * width).
	 */
	nkeys = ec_all_keys(keys, EC_MAX_LOADED_KEYS);
	per_group = nforms;
	query->per_group = per_group;
	ngroups = nkeys * (TRIGRAM_MAX_BITS - TRIGRAM_MIN_BITS + 1);
	values = palloc(sizeof(uint16) * nforms);
	entries = palloc(sizeof(Datum) * (size_t) ngroups * per_group);
	*extra_data = palloc(sizeof(Pointer) * (size_t) ngroups * per_group);
	for (int k = 0; k < nkeys; k++)
	{
		trigram_values(keys[k], forms, nforms, values);
		for (int bits = TRIGRAM_MIN_BITS; bits <= TRIGRAM_MAX_BITS; bits++)
		{
			int			g = k * (TRIGRAM_MAX_BITS - TRIGRAM_MIN_BITS + 1) +
				(bits - TRIGRAM_MIN_BITS);

			for (int f = 0; f < nforms; f++)
			{
				entries[g * per_group + f] =
					Int32GetDatum((bits << 16) | (values[f] >> (16 - bits)));
				(*extra_data)[g * per_group + f] = (Pointer) query;
			}
		}
	}
	ec_wipe(forms, 3 * (size_t) nforms);
	*nentries = ngroups * per_group;
	*search_mode = GIN_SEARCH_MODE_DEFAULT;
	PG_RETURN_POINTER(entries);
}

/*
 * Can group g match?  Each trigram takes the best of its forms' checks
 * (true over maybe over false); the group takes the worst of its
 * trigrams.
 */
static GinTernaryValue
group_match(trigram_query *query, int g, const GinTernaryValue *check)
{
	GinTernaryValue result = GIN_TRUE;

	for (int t = 0; t < query->ntrigrams; t++)
		query->scratch[t] = GIN_FALSE;
	for (int i = 0; i < query->per_group; i++)
	{
		GinTernaryValue c = check[g * query->per_group + i];
		GinTernaryValue *best = &query->scratch[query->trigram_of[i]];

		if (c == GIN_TRUE || (c == GIN_MAYBE && *best == GIN_FALSE))
			*best = c;
	}
	for (int t = 0; t < query->ntrigrams; t++)
	{
		if (query->scratch[t] == GIN_FALSE)
			return GIN_FALSE;
		if (query->scratch[t] == GIN_MAYBE)
			result = GIN_MAYBE;
	}
	return result;
}

Datum
encrypted_trigram_consistent(PG_FUNCTION_ARGS)
{
	bool	   *check = (bool *) PG_GETARG_POINTER(0);
	int32		nentries = PG_GETARG_INT32(3);
	Pointer    *extra_data = (Pointer *) PG_GETARG_POINTER(4);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(5);
	trigram_query *query;

	*recheck = true;
	if (nentries == 0)
		PG_RETURN_BOOL(true);
	query = (trigram_query *) extra_data[0];
	for (int g = 0; g * query->per_group < nentries; g++)
	{
		/* bool and GinTernaryValue are both one byte of 0 or 1 here */
		if (group_match(query, g, (const GinTernaryValue *) check) != GIN_FALSE)
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}

Datum
encrypted_trigram_triconsistent(PG_FUNCTION_ARGS)
{
	GinTernaryValue *check = (GinTernaryValue *) PG_GETARG_POINTER(0);
	int32		nentries = PG_GETARG_INT32(3);
	Pointer    *extra_data = (Pointer *) PG_GETARG_POINTER(4);
	trigram_query *query;

	if (nentries == 0)
		PG_RETURN_GIN_TERNARY_VALUE(GIN_MAYBE);
	query = (trigram_query *) extra_data[0];
	for (int g = 0; g * query->per_group < nentries; g++)
		if (group_match(query, g, check) != GIN_FALSE)
			PG_RETURN_GIN_TERNARY_VALUE(GIN_MAYBE);
	PG_RETURN_GIN_TERNARY_VALUE(GIN_FALSE);
}

/* ---- the btree operator classes encrypted_*_range_ops ---- */

/*
 * These order values by their range terms only, read without a key: an
 * index of them keeps each bucket together, in an order that is a bucket
 * order per key.  The operators a user writes (<, BETWEEN...) decrypt;
 * their support function (search_planner.c) turns them into bounds on
 * these for an index scan, and keeps them as the recheck.
 */
static int
cmp_int64(int64 a, int64 b)
{
	return (a > b) - (a < b);
}

Datum
encrypted_range_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(cmp_int64(stored_range_term(PG_GETARG_DATUM(0)),
							  stored_range_term(PG_GETARG_DATUM(1))));
}

Datum
encrypted_range_cmp_term(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(cmp_int64(stored_range_term(PG_GETARG_DATUM(0)),
							  PG_GETARG_INT64(1)));
}

#define RANGE_OPERATOR(name, test) \
Datum \
encrypted_range_##name(PG_FUNCTION_ARGS) \
{ \
	int			c = cmp_int64(stored_range_term(PG_GETARG_DATUM(0)), \
							  stored_range_term(PG_GETARG_DATUM(1))); \
	PG_RETURN_BOOL(test); \
} \
Datum \
encrypted_range_##name##_term(PG_FUNCTION_ARGS) \
{ \
	int			c = cmp_int64(stored_range_term(PG_GETARG_DATUM(0)), \
							  PG_GETARG_INT64(1)); \
	PG_RETURN_BOOL(test); \
}

RANGE_OPERATOR(lt, c < 0)
RANGE_OPERATOR(le, c <= 0)
RANGE_OPERATOR(eq, c == 0)
RANGE_OPERATOR(ge, c >= 0)
RANGE_OPERATOR(gt, c > 0)

/*
 * range_bound(value, typmod, upper [, n]): the bound on range terms that
 * every value on the given side of a plain value has under some loaded
 * key: the least term of its bucket over the keys for a lower bound, the
 * greatest for an upper one.  With n, the bound under the n-th loaded key
 * only (current key first), or NULL past the last one: during a rotation
 * the planner asks the index one range per key (search_planner.c), since
 * the widest bound over two keys' unrelated maps spans most of the index;
 * this form takes a NULL value as the side left open, and gives the
 * key's least or greatest term.  The value is plain, or an encrypted
 * value of the same type (a literal the parser encrypted), opened here.
 */
Datum
encrypted_range_bound(PG_FUNCTION_ARGS)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	int32		typmod;
	bool		upper;
	const ec_key *keys[EC_MAX_LOADED_KEYS];
	const ec_type *type = ec_type_of_plain(argtype);
	uint64		bucket;
	int			nkeys;
	int64		bound = 0;

	/* the n-th key's form is not strict: see below */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		(PG_NARGS() > 3 && PG_ARGISNULL(3)))
		PG_RETURN_NULL();
	typmod = PG_GETARG_INT32(1);
	upper = PG_GETARG_BOOL(2);
	/* as for LIKE: no answer from the index to a role that may not read */
	ec_require_plaintext_privilege();
	if (PG_ARGISNULL(0))
	{
		/* no value: the end of a key's terms, for the side left open */
		if (PG_NARGS() <= 3)
			PG_RETURN_NULL();
		bucket = upper ? MAX_BUCKET : 0;
	}
	else
	{
		Datum		value = PG_GETARG_DATUM(0);

		if (type == NULL)
		{
			/* an encrypted value: its type from the envelope */
			struct varlena *datum = PG_DETOAST_DATUM_PACKED(value);

			type = typed_type_of(datum);
			ec_terms_check_typmod(type, typmod);
			value = ec_open_typed(type, datum);
		}
		ec_terms_check_typmod(type, typmod);
		bucket = bucket_of(type, value, typmod);
	}
	nkeys = ec_all_keys(keys, EC_MAX_LOADED_KEYS);
	if (PG_NARGS() > 3)
	{
		int32		n = PG_GETARG_INT32(3);

		if (n < 0 || n >= nkeys)
			PG_RETURN_NULL();
		PG_RETURN_INT64(range_term_of_bucket(keys[n], bucket));
	}
	for (int k = 0; k < nkeys; k++)
	{
		int64		term = range_term_of_bucket(keys[k], bucket);

		if (k == 0 || (upper ? term > bound : term < bound))
			bound = term;
	}
	PG_RETURN_INT64(bound);
}
