/*
 * accessors.c
 *		encrypt(), decrypt(), reencrypt(), key_id(), current_key_id(), and
 *		the one sealing and opening path that every entry point shares.
 *
 * decrypt() is the only door to plaintext: revoking EXECUTE on it is real
 * access control.  A failed tag check gives one generic error whatever
 * failed (key, tampering, context), so the error is no oracle.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "compat.h"
#include "encrypted_column.h"

#define MAX_CANDIDATES (1 + EC_MAX_PREVIOUS_KEYS)

StaticAssertDecl(EC_TEXT_FORM_MAX == MaxAllocSize - 7,
				 "the text form limit must follow MaxAllocSize");

PG_FUNCTION_INFO_V1(encrypted_text_encrypt);
PG_FUNCTION_INFO_V1(encrypted_text_encrypt_context);
PG_FUNCTION_INFO_V1(encrypted_text_decrypt);
PG_FUNCTION_INFO_V1(encrypted_text_decrypt_context);
PG_FUNCTION_INFO_V1(encrypted_text_reencrypt);
PG_FUNCTION_INFO_V1(encrypted_text_reencrypt_context);
PG_FUNCTION_INFO_V1(encrypted_text_key_id);
PG_FUNCTION_INFO_V1(encrypted_column_current_key_id);

/* The one error for a plaintext the database encoding cannot hold. */
static void
encoding_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
			 errmsg("decrypted value is not valid in the database encoding"),
			 errdetail("The plaintext holds a character that encoding \"%s\" cannot represent, or was written by version 0.2.0 in a database of another encoding.",
					   GetDatabaseEncodingName())));
}

/*
 * Refuse a plaintext of len bytes whose value, overhead bytes of envelope
 * longer, would have a text form too long to print: SELECT, COPY TO and
 * pg_dump could never give it back.  Every type of the extension calls
 * this with its own overhead before it encrypts.
 */
void
ec_check_plaintext_len(size_t len, size_t overhead, const char *type_name)
{
	size_t		max = ec_max_plaintext_len(overhead);

	if (len > max)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value is too long to encrypt"),
				 errdetail("A value of type %s holds at most %zu bytes of UTF-8 plaintext, so that its text form fits in %zu bytes.",
						   type_name, max, (size_t) EC_TEXT_FORM_MAX)));
}

/*
 * The plaintext as it is sealed: UTF-8, whatever the database encoding,
 * so that a value decrypts to the same characters in every database.
 * Returns plain itself when the bytes are already UTF-8, else a new buffer
 * (*copied set) that the caller wipes.  A character with no UTF-8 form, or
 * bytes of no encoding in an SQL_ASCII database, are refused with an error
 * that does not quote them.
 */
char *
ec_plain_to_utf8(const char *plain, size_t len, size_t *out_len, bool *copied)
{
	int			db_encoding = GetDatabaseEncoding();
	Oid			proc;
	char	   *utf8;
	int			done;

	*out_len = len;
	*copied = false;
	if (db_encoding == PG_UTF8 || len == 0)
		return (char *) plain;
	if (db_encoding == PG_SQL_ASCII)
	{
		if (!pg_verify_mbstr(PG_UTF8, plain, len, true))
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("value to encrypt is not valid UTF-8"),
					 errdetail("In an SQL_ASCII database the extension encrypts only text that is valid UTF-8.")));
		return (char *) plain;
	}

	proc = FindDefaultConversionProc(db_encoding, PG_UTF8);
	if (!OidIsValid(proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("no conversion from encoding \"%s\" to UTF8",
						GetDatabaseEncodingName())));
	utf8 = MemoryContextAllocHuge(CurrentMemoryContext,
								  len * MAX_CONVERSION_GROWTH + 1);
	/* noError: the conversion stops short rather than quote a character */
	done = DatumGetInt32(OidFunctionCall6(proc,
										  Int32GetDatum(db_encoding),
										  Int32GetDatum(PG_UTF8),
										  CStringGetDatum(plain),
										  CStringGetDatum(utf8),
										  Int32GetDatum((int) len),
										  BoolGetDatum(true)));
	*out_len = strlen(utf8);
	if ((size_t) done != len)
	{
		ec_wipe(utf8, *out_len);
		pfree(utf8);
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("value to encrypt has a character with no UTF-8 equivalent"),
				 errdetail("Plaintexts are encrypted as UTF-8, and the character cannot be converted from encoding \"%s\".",
						   GetDatabaseEncodingName())));
	}
	*copied = true;
	return utf8;
}

/*
 * Seal len bytes of UTF-8 plaintext with the current key into a new
 * envelope datum.
 */
static struct varlena *
seal_utf8(const ec_key *key, const char *plain, size_t len,
		  const char *context, size_t context_len)
{
	struct varlena *result;
	uint8_t    *env;
	size_t		env_len;
	ec_crypto_status status;

	ec_check_plaintext_len(len, EC_GCM_OVERHEAD, "encrypted_text");
	env_len = EC_GCM_OVERHEAD + len;
	result = (struct varlena *) palloc(VARHDRSZ + env_len);
	SET_VARSIZE(result, VARHDRSZ + env_len);
	env = (uint8_t *) VARDATA(result);

	ec_envelope_write_header(env, EC_ALG_AES256_GCM | EC_ALG_UTF8_BIT,
							 context != NULL, key->id);
	status = ec_gcm_next_nonce(env + EC_HEADER_LEN);
	if (status == EC_CRYPTO_OK)
		status = ec_gcm_seal(key->gcm, env + EC_HEADER_LEN,
							 env, EC_HEADER_LEN,
							 (const uint8_t *) context, context_len,
							 (const uint8_t *) plain, len,
							 env + EC_HEADER_LEN + EC_GCM_NONCE_LEN,
							 env + env_len - EC_GCM_TAG_LEN);
	if (status != EC_CRYPTO_OK)
	{
		pfree(result);
		ec_crypto_failed("encrypt the value");
	}
	return result;
}

/*
 * Encrypt len bytes of plaintext, in the database encoding, with the
 * current key into a new envelope datum.  A non-NULL context is bound to
 * the value as associated data.
 */
struct varlena *
ec_seal_text(const char *plain, size_t len, const char *context,
			 size_t context_len)
{
	const ec_key *key = ec_current_key();
	struct varlena *volatile result = NULL;
	char	   *utf8;
	size_t		utf8_len;
	bool		copied;

	/*
	 * No server encoding shrinks by half in UTF-8: a plaintext this long is
	 * refused before its conversion buffer is allocated.
	 */
	if (len / 2 > ec_max_plaintext_len(EC_GCM_OVERHEAD))
		ec_check_plaintext_len(len, EC_GCM_OVERHEAD, "encrypted_text");
	utf8 = ec_plain_to_utf8(plain, len, &utf8_len, &copied);
	if (!copied)
		return seal_utf8(key, plain, len, context, context_len);
	PG_TRY();
	{
		result = seal_utf8(key, utf8, utf8_len, context, context_len);
	}
	PG_FINALLY();
	{
		ec_wipe(utf8, utf8_len);
		pfree(utf8);
	}
	PG_END_TRY();
	return result;
}

/*
 * The plaintext of an envelope as text in the database encoding.  plain
 * holds the decrypted bytes; it is returned, or wiped and freed when a new
 * datum replaces it, on error paths too.  A UTF-8 plaintext is converted to
 * the database encoding; one without the flag (written by 0.2.0) is in the
 * encoding of the database that wrote it and is taken as it is.  Either way
 * a character this database cannot hold raises the encoding error, which
 * quotes nothing.
 */
struct varlena *
ec_plain_to_text(struct varlena *plain, bool utf8)
{
	int			db_encoding = GetDatabaseEncoding();
	size_t		len = VARSIZE(plain) - VARHDRSZ;
	text	   *result;
	size_t		result_len;
	Oid			proc;
	int			done;

	if (!utf8 || db_encoding == PG_UTF8 || db_encoding == PG_SQL_ASCII || len == 0)
	{
		if (utf8 ? !pg_verify_mbstr(PG_UTF8, VARDATA(plain), len, true)
			: !pg_verifymbstr(VARDATA(plain), len, true))
		{
			ec_wipe(VARDATA(plain), len);
			pfree(plain);
			encoding_error();
		}
		return plain;
	}

	proc = FindDefaultConversionProc(PG_UTF8, db_encoding);
	if (!OidIsValid(proc))
	{
		ec_wipe(VARDATA(plain), len);
		pfree(plain);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("no conversion from encoding UTF8 to \"%s\"",
						GetDatabaseEncodingName())));
	}
	result = (text *) MemoryContextAllocHuge(CurrentMemoryContext,
											 VARHDRSZ + len * MAX_CONVERSION_GROWTH + 1);
	/* noError: the conversion stops short rather than quote a character */
	done = DatumGetInt32(OidFunctionCall6(proc,
										  Int32GetDatum(PG_UTF8),
										  Int32GetDatum(db_encoding),
										  CStringGetDatum(VARDATA(plain)),
										  CStringGetDatum(VARDATA(result)),
										  Int32GetDatum((int) len),
										  BoolGetDatum(true)));
	ec_wipe(VARDATA(plain), len);
	pfree(plain);
	result_len = strlen(VARDATA(result));
	if ((size_t) done != len || result_len > MaxAllocSize - VARHDRSZ)
	{
		ec_wipe(VARDATA(result), result_len);
		pfree(result);
		encoding_error();
	}
	SET_VARSIZE(result, VARHDRSZ + result_len);
	return result;
}

/*
 * Decrypt an envelope datum (detoasted) into a new text datum, trying every
 * loaded key with the envelope's key id.  Unverified bytes are wiped
 * before any error is raised.
 */
struct varlena *
ec_open_to_text(struct varlena *datum, const char *context,
				size_t context_len)
{
	const ec_key *keys[MAX_CANDIDATES];
	ec_envelope env;
	ec_envelope_status parsed;
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
	text	   *result;
	int			nkeys;

	parsed = ec_envelope_parse((const uint8_t *) VARDATA_ANY(datum),
							   VARSIZE_ANY_EXHDR(datum),
							   EC_ALG_AES256_GCM, &env);
	if (parsed != EC_ENV_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored encrypted_text value is malformed"),
				 errdetail("%s", ec_envelope_status_detail(parsed))));

	/* the key id in hex is for the error messages: built only on their paths */
	nkeys = ec_find_keys(env.key_id, keys, MAX_CANDIDATES);
	if (nkeys == 0)
	{
		ec_hex_encode(env.key_id, EC_KEY_ID_LEN, id_hex);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no loaded key has key id %s", id_hex),
				 errhint("Set encrypted_column.key, or add the key to encrypted_column.previous_keys, "
						 "to the key whose id is %s.", id_hex)));
	}

	result = (text *) palloc(VARHDRSZ + env.ciphertext_len);
	SET_VARSIZE(result, VARHDRSZ + env.ciphertext_len);
	for (int i = 0; i < nkeys; i++)
	{
		ec_crypto_status status;

		status = ec_gcm_open(keys[i]->gcm, env.nonce,
							 env.header, EC_HEADER_LEN,
							 (const uint8_t *) context, context_len,
							 env.ciphertext, env.ciphertext_len, env.tag,
							 (uint8_t *) VARDATA(result));
		if (status == EC_CRYPTO_OK)
			return (struct varlena *) ec_plain_to_text(result, env.plain_utf8);
		ec_wipe(VARDATA(result), env.ciphertext_len);
		if (status == EC_CRYPTO_LIBRARY)
		{
			pfree(result);
			ec_crypto_failed("decrypt the value");
		}
	}
	pfree(result);
	ec_hex_encode(env.key_id, EC_KEY_ID_LEN, id_hex);
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
			 errmsg("could not decrypt encrypted_text value with key id %s", id_hex),
			 errdetail("The value was altered, or its context is not the one it was encrypted with.")));
	pg_unreachable();
}

/* A context argument: its bytes, refusing the empty string. */
static text *
context_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *context = PG_GETARG_TEXT_PP(argno);

	if (VARSIZE_ANY_EXHDR(context) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("encryption context must not be empty"),
				 errhint("Pass a non-empty context, such as the row's primary key, "
						 "or call the function without a context.")));
	return context;
}

/* What an encrypt() call binds its value to. */
typedef struct seal_context
{
	const char *bytes;
	size_t		len;
} seal_context;

/* Seal plaintext for encrypt(): an ec_plain_fn. */
static struct varlena *
seal_with_context(const char *plain, size_t len, void *arg)
{
	seal_context *context = (seal_context *) arg;

	return ec_seal_text(plain, len, context->bytes, context->len);
}

/*
 * Run fn on the bytes of a plaintext copy that belongs to us, then wipe and
 * free the copy, on error paths too.
 */
static struct varlena *
apply_and_wipe(struct varlena *plain, ec_plain_fn fn, void *arg)
{
	struct varlena *volatile result = NULL;

	PG_TRY();
	{
		result = fn(VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain), arg);
	}
	PG_CATCH();
	{
		ec_wipe(plain, VARSIZE_ANY(plain));
		PG_RE_THROW();
	}
	PG_END_TRY();
	ec_wipe(plain, VARSIZE_ANY(plain));
	pfree(plain);
	return result;
}

/*
 * Run fn on the bytes of a text datum.  When detoasting made a copy of the
 * plaintext, the copy is wiped on every path, errors included.
 */
struct varlena *
ec_apply_to_plain(Datum datum, ec_plain_fn fn, void *arg)
{
	struct varlena *plain = PG_DETOAST_DATUM_PACKED(datum);

	if ((Pointer) plain == DatumGetPointer(datum))
		return fn(VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain), arg);
	return apply_and_wipe(plain, fn, arg);
}

/* encrypt(text): encrypt with the current key. */
Datum
encrypted_text_encrypt(PG_FUNCTION_ARGS)
{
	seal_context context = {NULL, 0};

	PG_RETURN_POINTER(ec_apply_to_plain(PG_GETARG_DATUM(0),
										seal_with_context, &context));
}

/* encrypt(text, context): encrypt bound to a context. */
Datum
encrypted_text_encrypt_context(PG_FUNCTION_ARGS)
{
	text	   *bound = context_arg(fcinfo, 1);
	seal_context context = {VARDATA_ANY(bound), VARSIZE_ANY_EXHDR(bound)};
	struct varlena *result;

	result = ec_apply_to_plain(PG_GETARG_DATUM(0), seal_with_context, &context);
	PG_FREE_IF_COPY(bound, 1);
	PG_RETURN_POINTER(result);
}

/* decrypt(encrypted_text): the accessor. */
Datum
encrypted_text_decrypt(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	struct varlena *result;

	result = ec_open_to_text(value, NULL, 0);
	PG_FREE_IF_COPY(value, 0);
	PG_RETURN_TEXT_P(result);
}

/* decrypt(encrypted_text, context): the accessor for context-bound values. */
Datum
encrypted_text_decrypt_context(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	text	   *context = context_arg(fcinfo, 1);
	struct varlena *result;

	result = ec_open_to_text(value, VARDATA_ANY(context),
							 VARSIZE_ANY_EXHDR(context));
	PG_FREE_IF_COPY(value, 0);
	PG_FREE_IF_COPY(context, 1);
	PG_RETURN_TEXT_P(result);
}

/* Open with whichever key fits and seal again with the current key. */
static struct varlena *
reencrypt(struct varlena *value, const char *context, size_t context_len)
{
	seal_context bound = {context, context_len};

	/* fail on a missing current key before any plaintext exists */
	(void) ec_current_key();
	return apply_and_wipe(ec_open_to_text(value, context, context_len),
						  seal_with_context, &bound);
}

/* reencrypt(encrypted_text): move a value to the current key. */
Datum
encrypted_text_reencrypt(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	struct varlena *result = reencrypt(value, NULL, 0);

	PG_FREE_IF_COPY(value, 0);
	PG_RETURN_POINTER(result);
}

/* reencrypt(encrypted_text, context): the same for context-bound values. */
Datum
encrypted_text_reencrypt_context(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	text	   *context = context_arg(fcinfo, 1);
	struct varlena *result;

	result = reencrypt(value, VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context));
	PG_FREE_IF_COPY(value, 0);
	PG_FREE_IF_COPY(context, 1);
	PG_RETURN_POINTER(result);
}

/* key_id(encrypted_text): the key id in the header, read without detoasting the rest. */
Datum
encrypted_text_key_id(PG_FUNCTION_ARGS)
{
	struct varlena *head = PG_DETOAST_DATUM_SLICE(PG_GETARG_DATUM(0), 0,
												  EC_HEADER_LEN);
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];

	if (VARSIZE_ANY_EXHDR(head) < EC_HEADER_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored encrypted_text value is malformed"),
				 errdetail("%s", ec_envelope_status_detail(EC_ENV_TOO_SHORT))));
	ec_hex_encode((const uint8_t *) VARDATA_ANY(head) + 2, EC_KEY_ID_LEN, id_hex);
	PG_RETURN_TEXT_P(cstring_to_text(id_hex));
}

/* current_key_id(): the id of encrypted_column.key, NULL when unset. */
Datum
encrypted_column_current_key_id(PG_FUNCTION_ARGS)
{
	const ec_key *key = ec_current_key_or_null();

	if (key == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(key->id_hex));
}
