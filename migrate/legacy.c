/*
 * legacy.c
 *		encrypted_column_migrate: SQL functions that read ciphertexts written
 *		by application-level encryption, so a column can move to
 *		encrypted_text in one statement:
 *		decrypt_sqlalchemy_aes(), decrypt_sqlalchemy_aesgcm(),
 *		decrypt_sqlalchemy_fernet() for the engines of sqlalchemy-utils'
 *		EncryptedType and StringEncryptedType, and decrypt_fernet() for
 *		tokens of cryptography's Fernet.
 *
 * The layouts, as sqlalchemy-utils 0.38 and cryptography 38 write them:
 *	passphrase key	SHA-256 of the passphrase's UTF-8 bytes (all engines)
 *	AesEngine		base64(AES-256-CBC(key, iv = key[0..15], pad(plain)))
 *	AesGcmEngine	base64(nonce[12] || tag[16] || AES-256-GCM(key, plain))
 *	FernetEngine	a Fernet token under the Fernet key key[0..31]
 *	Fernet token	urlsafe-base64(0x80 || timestamp[8, big endian] ||
 *					iv[16] || AES-128-CBC(key[16..31], pkcs7(plain)) ||
 *					HMAC-SHA256(key[0..15], everything before))
 * EncryptedType stores the base64 text as bytea, StringEncryptedType as
 * varchar, so every function reads the same ASCII from either type.
 *
 * A value the library wrote is decoded exactly as the library reads it
 * back, quirks included (naive padding strips every trailing '*', the
 * "oneandzeroes" decoder every trailing 0x80).  What the library could
 * not have written with the given secret is rejected rather than returned
 * as garbage, as far as the format can tell.  Parsing, padding and errors
 * live here; the OpenSSL primitives are in legacy_crypto.c.  Derived keys
 * and plaintext are wiped before this file returns or raises an error, and
 * no message carries plaintext or secret bytes.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "access/xact.h"

#include "compat.h"
#include "legacy.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(encrypted_column_migrate_decrypt_sqlalchemy_aes);
PG_FUNCTION_INFO_V1(encrypted_column_migrate_decrypt_sqlalchemy_aesgcm);
PG_FUNCTION_INFO_V1(encrypted_column_migrate_decrypt_sqlalchemy_fernet);
PG_FUNCTION_INFO_V1(encrypted_column_migrate_decrypt_fernet);

#define AES_BLOCK			EC_LEGACY_AES_BLOCK
#define GCM_NONCE_LEN		12
#define GCM_TAG_LEN			EC_LEGACY_GCM_TAG_LEN
#define FERNET_VERSION		0x80
#define FERNET_KEY_LEN		32	/* signing key, then encryption key */
#define FERNET_HALF_KEY		16
#define FERNET_HEADER_LEN	25	/* version, timestamp, iv */
#define FERNET_HMAC_LEN		32
#define FERNET_CLOCK_SKEW	60	/* seconds, as cryptography allows */

#define HINT_AES \
	"Check the passphrase and the padding mode; a column declared without a padding argument uses \"naive\"."
#define HINT_PASSPHRASE "Check the passphrase."
#define HINT_FERNET_KEY "Check the Fernet key."

/* AesEngine's padding modes, by the names sqlalchemy-utils gives them. */
typedef enum legacy_padding
{
	PAD_PKCS5,
	PAD_NAIVE,
	PAD_ZEROES,
	PAD_ONEANDZEROES
} legacy_padding;

static const struct
{
	const char *name;
	legacy_padding mode;
}			padding_modes[] =
{
	{"pkcs5", PAD_PKCS5},
	{"naive", PAD_NAIVE},
	{"zeroes", PAD_ZEROES},
	{"oneandzeroes", PAD_ONEANDZEROES}
};

/* How base64 decoding failed; the caller words the error. */
typedef enum b64_status
{
	B64_OK,
	B64_BAD_CHAR,
	B64_BAD_PADDING,
	B64_INCOMPLETE
} b64_status;

/* What a caller knows about a buffer of decrypted bytes. */
typedef enum plain_origin
{
	PLAIN_UNAUTHENTICATED,		/* bad UTF-8 most likely means a wrong key */
	PLAIN_AUTHENTICATED			/* the MAC held: the bytes are what was sent */
} plain_origin;

pg_noreturn static void too_short(const char *fn, size_t len,
								  const char *what);
pg_noreturn static void wrong_secret(const char *fn, const char *what,
									 const char *detail, const char *hint,
									 uint8_t *plain, size_t plain_len);
pg_noreturn static void crypto_failed(uint8_t *key, size_t key_len,
									  uint8_t *plain, size_t plain_len);

/*
 * Decode padded base64, skipping ASCII whitespace.  Stricter than Python's
 * default decoder, which silently drops any character outside the alphabet
 * and anything after the padding: the libraries never write those, so
 * such input is reported instead of guessed at.  *pos receives the offset
 * of a bad character.
 */
static b64_status
b64_decode(const char *src, size_t len, bool urlsafe,
		   uint8_t *out, size_t *out_len, size_t *pos)
{
	int			quad[4];
	int			q = 0;
	bool		finished = false;
	size_t		n = 0;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) src[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
			c == '\f' || c == '\v')
			continue;
		*pos = i;
		if (finished)
			return B64_BAD_PADDING;
		if (c == '=')
		{
			if (q < 2)
				return B64_BAD_PADDING;
			quad[q++] = -1;
		}
		else
		{
			int			v = ec_base64_value(c, urlsafe);

			if (v < 0)
				return B64_BAD_CHAR;
			if (q > 0 && quad[q - 1] < 0)
				return B64_BAD_PADDING;
			quad[q++] = v;
		}
		if (q == 4)
		{
			uint32_t	acc = 0;
			int			npad = 0;
			int			k;

			for (k = 0; k < 4; k++)
			{
				acc <<= 6;
				if (quad[k] < 0)
					npad++;
				else
					acc |= (uint32_t) quad[k];
			}
			out[n++] = (uint8_t) (acc >> 16);
			if (npad < 2)
				out[n++] = (uint8_t) (acc >> 8);
			if (npad < 1)
				out[n++] = (uint8_t) acc;
			finished = npad > 0;
			q = 0;
		}
	}
	*out_len = n;
	return q == 0 ? B64_OK : B64_INCOMPLETE;
}

/* Decode a stored value's base64, or raise an invalid-text error naming fn. */
static uint8_t *
decode_value(const char *fn, const struct varlena *value, bool urlsafe,
			 size_t *out_len)
{
	const char *src = VARDATA_ANY(value);
	size_t		len = VARSIZE_ANY_EXHDR(value);
	uint8_t    *out = palloc(len / 4 * 3 + 3);
	size_t		pos = 0;

	switch (b64_decode(src, len, urlsafe, out, out_len, &pos))
	{
		case B64_OK:
			return out;
		case B64_BAD_CHAR:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("%s: value is not valid %sbase64", fn,
							urlsafe ? "url-safe " : ""),
					 errdetail("The character at offset %zu is outside the base64 alphabet.",
							   pos)));
			break;
		case B64_BAD_PADDING:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("%s: value is not valid %sbase64", fn,
							urlsafe ? "url-safe " : ""),
					 errdetail("The padding at offset %zu is misplaced.", pos)));
			break;
		case B64_INCOMPLETE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("%s: value is truncated", fn),
					 errdetail("Its base64 text does not end on a complete, padded group of four characters.")));
			break;
	}
	pg_unreachable();
}

/* Raise the error for a structurally impossible ciphertext length. */
static void
too_short(const char *fn, size_t len, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("%s: value is truncated", fn),
			 errdetail("The value decodes to %zu bytes; %s.", len, what)));
}

/* Raise the one error for a failed check of a secret; plain is wiped. */
static void
wrong_secret(const char *fn, const char *what, const char *detail,
			 const char *hint, uint8_t *plain, size_t plain_len)
{
	ec_wipe(plain, plain_len);
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
			 errmsg("%s: wrong %s or corrupted value", fn, what),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
}

/* Report a failure of the crypto layer after wiping what it left behind. */
static void
crypto_failed(uint8_t *key, size_t key_len, uint8_t *plain, size_t plain_len)
{
	ec_wipe(key, key_len);
	ec_wipe(plain, plain_len);
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not decrypt a legacy value"),
			 errdetail("OpenSSL reported: %s", ec_crypto_error_text())));
}

/* Whether len bytes are valid UTF-8 (NUL allowed), as Python decodes it. */
static bool
valid_utf8(const uint8_t *s, size_t len, bool *has_nul)
{
	size_t		i = 0;

	*has_nul = false;
	while (i < len)
	{
		int			l;

		if (s[i] == 0)
		{
			*has_nul = true;
			i++;
			continue;
		}
		l = pg_utf_mblen(s + i);
		if ((size_t) l > len - i || !pg_utf8_islegal(s + i, l))
			return false;
		i += l;
	}
	return true;
}

/*
 * Turn decrypted UTF-8 bytes into a text datum in the database encoding.
 * buf (buf_len bytes, of which the first len are the plaintext) is wiped
 * on every path.  Conversion errors would quote the bytes, so they are
 * replaced by one that does not.
 */
static text *
plain_to_text(const char *fn, uint8_t *buf, size_t buf_len, size_t len,
			  plain_origin origin, const char *what, const char *hint)
{
	bool		has_nul;
	text	   *result;

	if (!valid_utf8(buf, len, &has_nul))
	{
		if (origin == PLAIN_UNAUTHENTICATED)
			wrong_secret(fn, what, "The decrypted bytes are not valid UTF-8.",
						 hint, buf, buf_len);
		ec_wipe(buf, buf_len);
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("%s: decrypted value is not valid UTF-8 text", fn),
				 errdetail("The value authenticates, but its plaintext is not UTF-8, so it cannot be returned as text.")));
	}
	if (has_nul)
	{
		ec_wipe(buf, buf_len);
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("%s: decrypted value contains a NUL byte", fn),
				 errdetail("PostgreSQL text cannot hold NUL bytes.")));
	}

	if (GetDatabaseEncoding() == PG_UTF8 || len == 0)
		result = cstring_to_text_with_len((const char *) buf, (int) len);
	else
	{
		MemoryContext oldcxt = CurrentMemoryContext;
		char	   *converted = NULL;

		PG_TRY();
		{
			converted = pg_any_to_server((const char *) buf, (int) len,
										 PG_UTF8);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			ec_wipe(buf, buf_len);
			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) !=
				ERRCODE_DATA_EXCEPTION)
				PG_RE_THROW();
			FlushErrorState();
			/* the server's message quotes the bytes it could not convert */
			if (edata->message)
				ec_wipe(edata->message, strlen(edata->message));
			ereport(ERROR,
					(errcode(edata->sqlerrcode),
					 errmsg("%s: decrypted value cannot be represented in the database encoding \"%s\"",
							fn, GetDatabaseEncodingName())));
		}
		PG_END_TRY();
		/* unconverted input comes back as is, without a terminating NUL */
		if (converted == (char *) buf)
			result = cstring_to_text_with_len((const char *) buf, (int) len);
		else
		{
			result = cstring_to_text(converted);
			ec_wipe(converted, strlen(converted));
			pfree(converted);
		}
	}
	ec_wipe(buf, buf_len);
	return result;
}

/* Wipe and free a secret argument's detoasted copy, if it is a copy. */
static void
wipe_secret_arg(FunctionCallInfo fcinfo, int argno, text *secret)
{
	if ((Pointer) secret != PG_GETARG_POINTER(argno))
	{
		ec_wipe(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret));
		pfree(secret);
	}
}

/*
 * The sqlalchemy-utils engine key: SHA-256 of the passphrase's UTF-8
 * bytes, which is what the library's str.encode() hashes.
 */
static void
passphrase_key(FunctionCallInfo fcinfo, const char *fn, int argno,
			   uint8_t *key)
{
	text	   *secret = PG_GETARG_TEXT_PP(argno);
	const char *src = VARDATA_ANY(secret);
	int			src_len = VARSIZE_ANY_EXHDR(secret);
	char	   *utf8;
	size_t		len;
	ec_legacy_status status;

	/* SQL_ASCII holds any bytes; the server's own check would quote them */
	if (GetDatabaseEncoding() == PG_SQL_ASCII &&
		!pg_verify_mbstr(PG_UTF8, src, src_len, true))
	{
		wipe_secret_arg(fcinfo, argno, secret);
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("%s: passphrase is not valid UTF-8", fn),
				 errdetail("The libraries hash the passphrase's UTF-8 bytes.")));
	}
	{
		MemoryContext oldcxt = CurrentMemoryContext;

		PG_TRY();
		{
			utf8 = pg_server_to_any(src, src_len, PG_UTF8);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* the server's message quotes the bytes it could not convert */
			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			if (edata->message)
				ec_wipe(edata->message, strlen(edata->message));
			wipe_secret_arg(fcinfo, argno, secret);
			ereport(ERROR,
					(errcode(edata->sqlerrcode),
					 errmsg("%s: passphrase has a character with no UTF-8 form", fn),
					 errdetail("The libraries hash the passphrase's UTF-8 bytes.")));
		}
		PG_END_TRY();
	}
	len = utf8 == src ? (size_t) src_len : strlen(utf8);
	status = ec_legacy_sha256((const uint8_t *) utf8, len, key);
	if (utf8 != src)
	{
		ec_wipe(utf8, len);
		pfree(utf8);
	}
	wipe_secret_arg(fcinfo, argno, secret);
	if (status != EC_LEGACY_OK)
		crypto_failed(key, EC_LEGACY_SHA256_LEN, NULL, 0);
}

/*
 * Reject a NULL secret or option.  A STRICT function would return NULL
 * instead, and a migration whose passphrase setting is missing would
 * quietly replace every value with NULL.
 */
static void
require_arg(FunctionCallInfo fcinfo, const char *fn, int argno,
			const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: %s must not be null", fn, name),
				 errhint("Only the value may be NULL; a NULL value gives NULL.")));
}

/* Look up a padding mode by its sqlalchemy-utils name. */
static legacy_padding
parse_padding(const char *fn, text *arg)
{
	const char *s = VARDATA_ANY(arg);
	size_t		len = VARSIZE_ANY_EXHDR(arg);
	size_t		i;

	for (i = 0; i < lengthof(padding_modes); i++)
		if (strlen(padding_modes[i].name) == len &&
			memcmp(padding_modes[i].name, s, len) == 0)
			return padding_modes[i].mode;

	/* the argument is not echoed: it may be a misplaced passphrase */
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: unknown padding mode", fn),
			 errhint("The padding modes are \"pkcs5\", \"naive\", \"zeroes\" and \"oneandzeroes\", as sqlalchemy-utils names them.")));
	pg_unreachable();
}

/*
 * Strip AesEngine padding from len decrypted bytes (len >= one block) the
 * way the library's unpad() does, after checking what its pad() always
 * writes.  Sets *plain_len, or returns false if the padding cannot be one
 * the library wrote.
 */
static bool
strip_padding(const uint8_t *p, size_t len, legacy_padding mode,
			  size_t *plain_len)
{
	size_t		n;
	size_t		i;

	switch (mode)
	{
		case PAD_PKCS5:
			/* n copies of n, 1 <= n <= 16 */
			n = p[len - 1];
			if (n < 1 || n > AES_BLOCK)
				return false;
			for (i = len - n; i < len; i++)
				if (p[i] != n)
					return false;
			*plain_len = len - n;
			return true;

		case PAD_NAIVE:
			/* 1 to 16 '*'; unpad() strips every trailing '*', the text's too */
			if (p[len - 1] != '*')
				return false;
			n = len;
			while (n > 0 && p[n - 1] == '*')
				n--;
			*plain_len = n;
			return true;

		case PAD_ZEROES:
			/* n - 1 zero bytes, then n; unpad() reads only the last byte */
			n = p[len - 1];
			if (n < 1 || n > AES_BLOCK)
				return false;
			for (i = len - n; i < len - 1; i++)
				if (p[i] != 0)
					return false;
			*plain_len = len - n;
			return true;

		case PAD_ONEANDZEROES:
			/* 0x80, then 0 to 15 zeros; unpad() strips every trailing 0x80 */
			n = len;
			while (n > 0 && p[n - 1] == 0)
				n--;
			if (n == 0 || len - n >= AES_BLOCK || p[n - 1] != 0x80)
				return false;
			while (n > 0 && p[n - 1] == 0x80)
				n--;
			*plain_len = n;
			return true;
	}
	return false;
}

/* decrypt_sqlalchemy_aes(value, passphrase, padding): AesEngine values. */
Datum
encrypted_column_migrate_decrypt_sqlalchemy_aes(PG_FUNCTION_ARGS)
{
	const char *fn = "decrypt_sqlalchemy_aes";
	struct varlena *value;
	legacy_padding mode;
	uint8_t    *ct;
	size_t		ct_len;
	uint8_t		key[EC_LEGACY_SHA256_LEN];
	uint8_t    *plain;
	size_t		plain_len;
	char		detail[128];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, fn, 1, "passphrase");
	require_arg(fcinfo, fn, 2, "padding");
	mode = parse_padding(fn, PG_GETARG_TEXT_PP(2));
	value = PG_GETARG_VARLENA_PP(0);

	ct = decode_value(fn, value, false, &ct_len);
	if (ct_len == 0 || ct_len % AES_BLOCK != 0)
		too_short(fn, ct_len,
				  "an AesEngine value is a whole number of 16-byte blocks, at least one");

	plain = palloc(ct_len);		/* before the key: nothing may fail after it */
	passphrase_key(fcinfo, fn, 1, key);
	/* the IV is the first half of the key, so equal values encrypt alike */
	if (ec_legacy_aes_cbc_decrypt(key, sizeof(key), key, ct, ct_len,
								  plain) != EC_LEGACY_OK)
		crypto_failed(key, sizeof(key), plain, ct_len);
	ec_wipe(key, sizeof(key));

	if (!strip_padding(plain, ct_len, mode, &plain_len))
	{
		snprintf(detail, sizeof(detail),
				 "The decrypted value does not end in \"%s\" padding.",
				 padding_modes[mode].name);
		wrong_secret(fn, "passphrase, padding mode", detail, HINT_AES,
					 plain, ct_len);
	}
	PG_RETURN_TEXT_P(plain_to_text(fn, plain, ct_len, plain_len,
								   PLAIN_UNAUTHENTICATED,
								   "passphrase, padding mode", HINT_AES));
}

/* decrypt_sqlalchemy_aesgcm(value, passphrase): AesGcmEngine values. */
Datum
encrypted_column_migrate_decrypt_sqlalchemy_aesgcm(PG_FUNCTION_ARGS)
{
	const char *fn = "decrypt_sqlalchemy_aesgcm";
	struct varlena *value;
	uint8_t    *raw;
	size_t		raw_len;
	size_t		ct_len;
	uint8_t		key[EC_LEGACY_SHA256_LEN];
	uint8_t    *plain;
	ec_legacy_status status;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, fn, 1, "passphrase");
	value = PG_GETARG_VARLENA_PP(0);

	raw = decode_value(fn, value, false, &raw_len);
	if (raw_len < GCM_NONCE_LEN + GCM_TAG_LEN)
		too_short(fn, raw_len,
				  "an AesGcmEngine value has at least 28 (a 12-byte nonce and a 16-byte tag)");
	ct_len = raw_len - GCM_NONCE_LEN - GCM_TAG_LEN;

	plain = palloc(ct_len + 1);
	passphrase_key(fcinfo, fn, 1, key);
	status = ec_legacy_aes_gcm_open(key, sizeof(key), raw, GCM_NONCE_LEN,
									raw + GCM_NONCE_LEN + GCM_TAG_LEN, ct_len,
									raw + GCM_NONCE_LEN, plain);
	if (status == EC_LEGACY_AUTH)
	{
		ec_wipe(key, sizeof(key));
		wrong_secret(fn, "passphrase", "The authentication tag does not verify.",
					 HINT_PASSPHRASE, plain, ct_len);
	}
	if (status != EC_LEGACY_OK)
		crypto_failed(key, sizeof(key), plain, ct_len);
	ec_wipe(key, sizeof(key));

	PG_RETURN_TEXT_P(plain_to_text(fn, plain, ct_len, ct_len,
								   PLAIN_AUTHENTICATED, "passphrase",
								   HINT_PASSPHRASE));
}

/*
 * Decode a Fernet token and check its structure, before any key exists:
 * nothing in a token is secret until its MAC is checked.
 */
static uint8_t *
fernet_parse(const char *fn, struct varlena *token, size_t *raw_len)
{
	uint8_t    *raw = decode_value(fn, token, true, raw_len);

	if (*raw_len == 0 || raw[0] != FERNET_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s: value is not a Fernet token", fn),
				 errdetail("A Fernet token starts with the version byte 0x80.")));
	if (*raw_len < FERNET_HEADER_LEN + AES_BLOCK + FERNET_HMAC_LEN ||
		(*raw_len - FERNET_HEADER_LEN - FERNET_HMAC_LEN) % AES_BLOCK != 0)
		too_short(fn, *raw_len,
				  "a Fernet token has 57 plus a whole number of 16-byte blocks, at least one");
	return raw;
}

/*
 * Open a parsed Fernet token under a 32-byte Fernet key, which is wiped
 * here, into plain (raw_len - 57 bytes, allocated before the key so that
 * no allocation can fail while the key exists).  With check_ttl, the token must be at most ttl seconds older than
 * the statement's start and at most 60 seconds younger, as
 * Fernet.decrypt() with a ttl demands.
 */
static text *
fernet_open(const char *fn, const char *what, const char *hint,
			const uint8_t *raw, size_t raw_len, uint8_t *key, uint8_t *plain,
			bool check_ttl, int64 ttl)
{
	size_t		signed_len = raw_len - FERNET_HMAC_LEN;
	size_t		ct_len = signed_len - FERNET_HEADER_LEN;
	uint8_t		mac[FERNET_HMAC_LEN];
	size_t		n;
	size_t		i;
	bool		ok;

	if (ec_legacy_hmac_sha256(key, FERNET_HALF_KEY, raw, signed_len,
							  mac) != EC_LEGACY_OK)
		crypto_failed(key, FERNET_KEY_LEN, NULL, 0);
	if (!ec_legacy_equal(mac, raw + signed_len, FERNET_HMAC_LEN))
	{
		ec_wipe(key, FERNET_KEY_LEN);
		wrong_secret(fn, what, "The token's HMAC does not verify.", hint,
					 NULL, 0);
	}

	/* checked after the MAC, so only authentic tokens report their age */
	if (check_ttl)
	{
		pg_time_t	now_signed;
		uint64		now;
		uint64		stamp = 0;

		now_signed = timestamptz_to_time_t(GetCurrentStatementStartTimestamp());
		now = now_signed < 0 ? 0 : (uint64) now_signed;
		for (i = 1; i <= 8; i++)
			stamp = (stamp << 8) | raw[i];
		/* Fernet: expired when timestamp + ttl < now */
		if (stamp <= now && now - stamp > (uint64) ttl)
		{
			ec_wipe(key, FERNET_KEY_LEN);
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
					 errmsg("%s: Fernet token has expired", fn),
					 errdetail("The token was issued " UINT64_FORMAT " seconds before the statement started; the ttl is " INT64_FORMAT " seconds.",
							   now - stamp, ttl)));
		}
		if (stamp > now && stamp - now > FERNET_CLOCK_SKEW)
		{
			ec_wipe(key, FERNET_KEY_LEN);
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
					 errmsg("%s: Fernet token is from the future", fn),
					 errdetail("Its timestamp is " UINT64_FORMAT " seconds after the statement's start; Fernet allows %d seconds of clock skew.",
							   stamp - now, FERNET_CLOCK_SKEW)));
		}
	}

	if (ec_legacy_aes_cbc_decrypt(key + FERNET_HALF_KEY, FERNET_HALF_KEY,
								  raw + 9, raw + FERNET_HEADER_LEN, ct_len,
								  plain) != EC_LEGACY_OK)
		crypto_failed(key, FERNET_KEY_LEN, plain, ct_len);
	ec_wipe(key, FERNET_KEY_LEN);

	/* PKCS#7: an authentic token always has it, but trust no length */
	n = plain[ct_len - 1];
	ok = n >= 1 && n <= AES_BLOCK;
	for (i = ct_len - (ok ? n : 0); ok && i < ct_len; i++)
		ok = plain[i] == n;
	if (!ok)
		wrong_secret(fn, what, "The decrypted token does not end in PKCS#7 padding.",
					 hint, plain, ct_len);

	return plain_to_text(fn, plain, ct_len, ct_len - n, PLAIN_AUTHENTICATED,
						 what, hint);
}

/* decrypt_sqlalchemy_fernet(value, passphrase): FernetEngine values. */
Datum
encrypted_column_migrate_decrypt_sqlalchemy_fernet(PG_FUNCTION_ARGS)
{
	const char *fn = "decrypt_sqlalchemy_fernet";
	uint8_t		key[FERNET_KEY_LEN];
	uint8_t    *raw;
	size_t		raw_len;
	uint8_t    *plain;

	StaticAssertStmt(FERNET_KEY_LEN == EC_LEGACY_SHA256_LEN,
					 "the engine's Fernet key is a SHA-256 digest");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, fn, 1, "passphrase");
	raw = fernet_parse(fn, PG_GETARG_VARLENA_PP(0), &raw_len);

	/* FernetEngine builds Fernet(urlsafe_b64encode(sha256(passphrase))) */
	plain = palloc(raw_len - FERNET_HEADER_LEN - FERNET_HMAC_LEN);
	passphrase_key(fcinfo, fn, 1, key);
	PG_RETURN_TEXT_P(fernet_open(fn, "passphrase", HINT_PASSPHRASE, raw,
								 raw_len, key, plain, false, 0));
}

/* Decode a url-safe base64 Fernet key into 32 bytes; never echoes it. */
static void
fernet_key(FunctionCallInfo fcinfo, const char *fn, uint8_t *key)
{
	text	   *secret = PG_GETARG_TEXT_PP(1);
	size_t		len = VARSIZE_ANY_EXHDR(secret);
	uint8_t    *buf = palloc(len / 4 * 3 + 3);
	size_t		buf_len = 0;
	size_t		pos;
	bool		ok;

	ok = b64_decode(VARDATA_ANY(secret), len, true, buf, &buf_len,
					&pos) == B64_OK && buf_len == FERNET_KEY_LEN;
	if (ok)
		memcpy(key, buf, FERNET_KEY_LEN);
	ec_wipe(buf, len / 4 * 3 + 3);
	pfree(buf);
	wipe_secret_arg(fcinfo, 1, secret);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: invalid Fernet key", fn),
				 errdetail("A Fernet key is 32 bytes in url-safe base64: 44 characters ending in \"=\".")));
}

/*
 * decrypt_fernet(token, key [, ttl]): a cryptography Fernet token; with
 * ttl, one at most ttl seconds old, as Fernet.decrypt(token, ttl).
 */
Datum
encrypted_column_migrate_decrypt_fernet(PG_FUNCTION_ARGS)
{
	const char *fn = "decrypt_fernet";
	bool		has_ttl = PG_NARGS() > 2;
	int64		ttl = 0;
	uint8_t    *raw;
	size_t		raw_len;
	uint8_t		key[FERNET_KEY_LEN];
	uint8_t    *plain;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_arg(fcinfo, fn, 1, "key");
	if (has_ttl)
	{
		require_arg(fcinfo, fn, 2, "ttl");
		ttl = PG_GETARG_INT64(2);
		if (ttl < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: ttl must not be negative", fn)));
	}
	raw = fernet_parse(fn, PG_GETARG_VARLENA_PP(0), &raw_len);
	plain = palloc(raw_len - FERNET_HEADER_LEN - FERNET_HMAC_LEN);
	fernet_key(fcinfo, fn, key);
	PG_RETURN_TEXT_P(fernet_open(fn, "key", HINT_FERNET_KEY, raw, raw_len,
								 key, plain, has_ttl, ttl));
}
