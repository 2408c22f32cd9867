/*
 * accessors.c
 *		encrypt(), encrypt_det(), decrypt(), reencrypt(), key_id(),
 *		current_key_id(), encrypt_det_all(), the comparison of a
 *		deterministic value with a plaintext, and the one sealing and
 *		opening path that every entry point of both types shares.
 *
 * decrypt() is the only door to plaintext, and every opening goes through
 * ec_open_to_text(), which checks the one privilege to read plaintext
 * (privilege.c) before it touches the envelope.  A failed tag check gives one generic error whatever
 * failed (key, tampering, context), so the error is no oracle.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
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
PG_FUNCTION_INFO_V1(encrypted_text_det_encrypt);
PG_FUNCTION_INFO_V1(encrypted_text_det_encrypt_context);
PG_FUNCTION_INFO_V1(encrypted_text_det_decrypt);
PG_FUNCTION_INFO_V1(encrypted_text_det_decrypt_context);
PG_FUNCTION_INFO_V1(encrypted_text_det_reencrypt);
PG_FUNCTION_INFO_V1(encrypted_text_det_reencrypt_context);
PG_FUNCTION_INFO_V1(encrypted_text_det_encrypt_all);
PG_FUNCTION_INFO_V1(encrypted_text_det_encrypt_all_array);
PG_FUNCTION_INFO_V1(encrypted_text_det_encrypt_nth);
PG_FUNCTION_INFO_V1(encrypted_text_det_eq_text);
PG_FUNCTION_INFO_V1(encrypted_text_det_ne_text);
PG_FUNCTION_INFO_V1(encrypted_text_text_eq_det);
PG_FUNCTION_INFO_V1(encrypted_text_text_ne_det);

const ec_type ec_type_gcm = {
	EC_ALG_AES256_GCM, "encrypted_text", "encrypt", EC_GCM_OVERHEAD
};
const ec_type ec_type_siv = {
	EC_ALG_AES256_SIV, "encrypted_text_det", "encrypt_det", EC_SIV_OVERHEAD
};

/*
 * Seal len bytes of plaintext with one key into the envelope buffer env,
 * whose header is already written.  GCM draws a fresh nonce; SIV derives
 * its IV from the header, the context and the plaintext.
 */
static ec_crypto_status
seal_with_key(const ec_type *type, const ec_key *key, uint8_t *env,
			  size_t env_len, const char *plain, size_t len,
			  const char *context, size_t context_len)
{
	ec_crypto_status status;

	if (type->algorithm == EC_ALG_AES256_GCM)
	{
		status = ec_gcm_next_nonce(env + EC_HEADER_LEN);
		if (status == EC_CRYPTO_OK)
			status = ec_gcm_seal(key->gcm, env + EC_HEADER_LEN,
								 env, EC_HEADER_LEN,
								 (const uint8_t *) context, context_len,
								 (const uint8_t *) plain, len,
								 env + EC_HEADER_LEN + EC_GCM_NONCE_LEN,
								 env + env_len - EC_GCM_TAG_LEN);
	}
	else
	{
		/* the header and the context are two S2V strings, never one */
		ec_siv_ad	ad[2] = {{env, EC_HEADER_LEN},
		{(const uint8_t *) context, context_len}};

		status = ec_siv_seal(key->siv, ad, context != NULL ? 2 : 1,
							 (const uint8_t *) plain, len,
							 env + EC_SIV_OVERHEAD, env + EC_HEADER_LEN);
	}
	return status;
}

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
 * Seal len bytes of UTF-8 plaintext with a given key into a new envelope
 * datum of the type.  A non-NULL context is bound to the value as
 * associated data.  encrypted_text sets the UTF-8 bit of byte 1 (values
 * written by 0.2.0 lack it); encrypted_text_det is UTF-8 by definition and
 * leaves the bit clear, so that equal plaintexts stay equal bytes.
 */
static struct varlena *
seal_utf8_with_key(const ec_type *type, const ec_key *key,
				   const char *plain, size_t len,
				   const char *context, size_t context_len)
{
	struct varlena *result;
	uint8_t    *env;
	size_t		env_len;

	ec_check_plaintext_len(len, type->overhead, type->name);
	env_len = type->overhead + len;
	result = (struct varlena *) palloc(VARHDRSZ + env_len);
	SET_VARSIZE(result, VARHDRSZ + env_len);
	env = (uint8_t *) VARDATA(result);

	ec_envelope_write_header(env, type->algorithm |
							 (type->algorithm == EC_ALG_AES256_GCM ? EC_ALG_UTF8_BIT : 0),
							 context != NULL, key->id);
	if (seal_with_key(type, key, env, env_len, plain, len,
					  context, context_len) != EC_CRYPTO_OK)
	{
		pfree(result);
		ec_crypto_failed("encrypt the value");
	}
	return result;
}

/*
 * Encrypt len bytes of plaintext, in the database encoding, with a given
 * key into a new envelope datum of the type: converted to UTF-8 first, the
 * converted copy wiped on every path.
 */
static struct varlena *
seal_text_with_key(const ec_type *type, const ec_key *key,
				   const char *plain, size_t len,
				   const char *context, size_t context_len)
{
	struct varlena *volatile result = NULL;
	char	   *utf8;
	size_t		utf8_len;
	bool		copied;

	/*
	 * No server encoding shrinks by half in UTF-8: a plaintext this long is
	 * refused before its conversion buffer is allocated.
	 */
	if (len / 2 > ec_max_plaintext_len(type->overhead))
		ec_check_plaintext_len(len, type->overhead, type->name);
	utf8 = ec_plain_to_utf8(plain, len, &utf8_len, &copied);
	if (!copied)
		return seal_utf8_with_key(type, key, plain, len, context, context_len);
	PG_TRY();
	{
		result = seal_utf8_with_key(type, key, utf8, utf8_len,
									context, context_len);
	}
	PG_FINALLY();
	{
		ec_wipe(utf8, utf8_len);
		pfree(utf8);
	}
	PG_END_TRY();
	return result;
}

/* Encrypt with the current key: the way every value comes in. */
struct varlena *
ec_seal_text(const ec_type *type, const char *plain, size_t len,
			 const char *context, size_t context_len)
{
	return seal_text_with_key(type, ec_current_key(), plain, len,
							  context, context_len);
}

/* Open one envelope with one key into out (ciphertext_len bytes). */
static ec_crypto_status
open_with_key(const ec_key *key, const ec_envelope *env,
			  const char *context, size_t context_len, uint8_t *out)
{
	if (env->algorithm == EC_ALG_AES256_GCM)
		return ec_gcm_open(key->gcm, env->nonce,
						   env->header, EC_HEADER_LEN,
						   (const uint8_t *) context, context_len,
						   env->ciphertext, env->ciphertext_len, env->tag,
						   out);
	else
	{
		ec_siv_ad	ad[2] = {{env->header, EC_HEADER_LEN},
		{(const uint8_t *) context, context_len}};

		return ec_siv_open(key->siv, ad, context != NULL ? 2 : 1, env->nonce,
						   env->ciphertext, env->ciphertext_len, out);
	}
}

/* Parse a stored datum of the type; a malformed one is data corruption. */
static void
parse_stored(const ec_type *type, struct varlena *datum, ec_envelope *env)
{
	ec_envelope_status parsed;

	parsed = ec_envelope_parse((const uint8_t *) VARDATA_ANY(datum),
							   VARSIZE_ANY_EXHDR(datum),
							   type->algorithm, env);
	if (parsed != EC_ENV_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored %s value is malformed", type->name),
				 errdetail("%s", ec_envelope_status_detail(parsed))));
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
ec_plain_to_text(struct varlena *plain_arg, bool utf8)
{
	struct varlena *volatile plain = plain_arg;
	int			db_encoding = GetDatabaseEncoding();
	size_t		len = VARSIZE(plain) - VARHDRSZ;
	text	   *volatile result = NULL;
	size_t		result_len;
	Oid			proc;
	volatile int done = 0;

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

	/* a lookup or an allocation that fails must not leave the plaintext */
	PG_TRY();
	{
		proc = FindDefaultConversionProc(PG_UTF8, db_encoding);
		if (!OidIsValid(proc))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("no conversion from encoding UTF8 to \"%s\"",
							GetDatabaseEncodingName())));
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
	}
	PG_FINALLY();
	{
		ec_wipe(VARDATA(plain), len);
		pfree(plain);
	}
	PG_END_TRY();
	result_len = strlen(VARDATA(result));
	if ((size_t) done != len)
	{
		ec_wipe(VARDATA(result), result_len);
		pfree(result);
		encoding_error();
	}
	if (result_len > MaxAllocSize - VARHDRSZ)
	{
		ec_wipe(VARDATA(result), result_len);
		pfree(result);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("decrypted value is too long in the database encoding"),
				 errdetail("Converted to \"%s\", the plaintext would exceed the largest text value.",
						   GetDatabaseEncodingName())));
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
ec_open_to_text(const ec_type *type, struct varlena *datum,
				const char *context, size_t context_len)
{
	const ec_key *keys[MAX_CANDIDATES];
	ec_envelope env;
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
	text	   *result;
	int			nkeys;

	/* the privilege first, for every type and overload that opens values */
	ec_require_plaintext_privilege();
	parse_stored(type, datum, &env);

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

		status = open_with_key(keys[i], &env, context, context_len,
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
			 errmsg("could not decrypt %s value with key id %s", type->name, id_hex),
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

/* What an encrypt() call seals into and binds its value to. */
typedef struct seal_context
{
	const ec_type *type;
	const char *bytes;
	size_t		len;
} seal_context;

/* Seal plaintext for encrypt(): an ec_plain_fn. */
static struct varlena *
seal_with_context(const char *plain, size_t len, void *arg)
{
	seal_context *context = (seal_context *) arg;

	return ec_seal_text(context->type, plain, len, context->bytes,
						context->len);
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

/* encrypt(text) and encrypt_det(text): encrypt with the current key. */
static Datum
encrypt_plain(FunctionCallInfo fcinfo, const ec_type *type)
{
	seal_context context = {type, NULL, 0};

	PG_RETURN_POINTER(ec_apply_to_plain(PG_GETARG_DATUM(0),
										seal_with_context, &context));
}

/* encrypt(text, context) and encrypt_det(text, context). */
static Datum
encrypt_bound(FunctionCallInfo fcinfo, const ec_type *type)
{
	text	   *bound = context_arg(fcinfo, 1);
	seal_context context = {type, VARDATA_ANY(bound), VARSIZE_ANY_EXHDR(bound)};
	struct varlena *result;

	result = ec_apply_to_plain(PG_GETARG_DATUM(0), seal_with_context, &context);
	PG_FREE_IF_COPY(bound, 1);
	PG_RETURN_POINTER(result);
}

/* decrypt() of either type, with or without a context argument. */
static Datum
decrypt_value(FunctionCallInfo fcinfo, const ec_type *type, bool bound)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	text	   *context = bound ? context_arg(fcinfo, 1) : NULL;
	struct varlena *result;

	result = ec_open_to_text(type, value,
							 bound ? VARDATA_ANY(context) : NULL,
							 bound ? VARSIZE_ANY_EXHDR(context) : 0);
	PG_FREE_IF_COPY(value, 0);
	if (bound)
		PG_FREE_IF_COPY(context, 1);
	PG_RETURN_TEXT_P(result);
}

/*
 * reencrypt() of either type: open with whichever key fits and seal again
 * with the current key and the same context.
 */
static Datum
reencrypt_value(FunctionCallInfo fcinfo, const ec_type *type, bool bound)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	text	   *context = bound ? context_arg(fcinfo, 1) : NULL;
	seal_context seal = {type, bound ? VARDATA_ANY(context) : NULL,
	bound ? VARSIZE_ANY_EXHDR(context) : 0};
	struct varlena *result;

	/* fail on a missing current key before any plaintext exists */
	(void) ec_current_key();
	result = apply_and_wipe(ec_open_to_text(type, value, seal.bytes, seal.len),
							seal_with_context, &seal);
	PG_FREE_IF_COPY(value, 0);
	if (bound)
		PG_FREE_IF_COPY(context, 1);
	PG_RETURN_POINTER(result);
}

/* encrypt(text): encrypt with the current key. */
Datum
encrypted_text_encrypt(PG_FUNCTION_ARGS)
{
	return encrypt_plain(fcinfo, &ec_type_gcm);
}

/* encrypt(text, context): encrypt bound to a context. */
Datum
encrypted_text_encrypt_context(PG_FUNCTION_ARGS)
{
	return encrypt_bound(fcinfo, &ec_type_gcm);
}

/* decrypt(encrypted_text): the accessor. */
Datum
encrypted_text_decrypt(PG_FUNCTION_ARGS)
{
	return decrypt_value(fcinfo, &ec_type_gcm, false);
}

/* decrypt(encrypted_text, context): the accessor for context-bound values. */
Datum
encrypted_text_decrypt_context(PG_FUNCTION_ARGS)
{
	return decrypt_value(fcinfo, &ec_type_gcm, true);
}

/* reencrypt(encrypted_text): move a value to the current key. */
Datum
encrypted_text_reencrypt(PG_FUNCTION_ARGS)
{
	return reencrypt_value(fcinfo, &ec_type_gcm, false);
}

/* reencrypt(encrypted_text, context): the same for context-bound values. */
Datum
encrypted_text_reencrypt_context(PG_FUNCTION_ARGS)
{
	return reencrypt_value(fcinfo, &ec_type_gcm, true);
}

/* encrypt_det(text): deterministic encryption with the current key. */
Datum
encrypted_text_det_encrypt(PG_FUNCTION_ARGS)
{
	return encrypt_plain(fcinfo, &ec_type_siv);
}

/* encrypt_det(text, context): the same, bound to a context. */
Datum
encrypted_text_det_encrypt_context(PG_FUNCTION_ARGS)
{
	return encrypt_bound(fcinfo, &ec_type_siv);
}

/* decrypt(encrypted_text_det): the accessor. */
Datum
encrypted_text_det_decrypt(PG_FUNCTION_ARGS)
{
	return decrypt_value(fcinfo, &ec_type_siv, false);
}

/* decrypt(encrypted_text_det, context). */
Datum
encrypted_text_det_decrypt_context(PG_FUNCTION_ARGS)
{
	return decrypt_value(fcinfo, &ec_type_siv, true);
}

/* reencrypt(encrypted_text_det): move a value to the current key. */
Datum
encrypted_text_det_reencrypt(PG_FUNCTION_ARGS)
{
	return reencrypt_value(fcinfo, &ec_type_siv, false);
}

/* reencrypt(encrypted_text_det, context). */
Datum
encrypted_text_det_reencrypt_context(PG_FUNCTION_ARGS)
{
	return reencrypt_value(fcinfo, &ec_type_siv, true);
}

/* What encrypt_det_all() seals under: every loaded key. */
typedef struct seal_all
{
	const char *context;
	size_t		context_len;
	Oid			elemtype;		/* encrypted_text_det, wherever it lives */
} seal_all;

/* Seal plaintext under every loaded key into an array: an ec_plain_fn. */
static struct varlena *
seal_under_all_keys(const char *plain, size_t len, void *arg)
{
	seal_all   *all = (seal_all *) arg;
	const ec_key *keys[MAX_CANDIDATES];
	Datum		elems[MAX_CANDIDATES];
	int			nkeys = ec_all_keys(keys, MAX_CANDIDATES);

	for (int i = 0; i < nkeys; i++)
		elems[i] = PointerGetDatum(seal_text_with_key(&ec_type_siv, keys[i],
													  plain, len,
													  all->context,
													  all->context_len));
	return (struct varlena *) construct_array(elems, nkeys, all->elemtype,
											  -1, false, TYPALIGN_INT);
}

/*
 * The element type of the function's result array (encrypted_text_det,
 * in whichever schema the extension lives), looked up at the first call
 * through this FmgrInfo only: a prepared lookup calls the function once
 * per execution, and the catalog lookup was a noticeable part of it.
 */
static Oid
result_element_type(FunctionCallInfo fcinfo)
{
	Oid		   *cached = (Oid *) fcinfo->flinfo->fn_extra;

	if (cached == NULL)
	{
		Oid			elemtype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));

		if (!OidIsValid(elemtype))
			elog(ERROR, "encrypt_det_all: could not determine the element type");
		cached = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid));
		*cached = elemtype;
		fcinfo->flinfo->fn_extra = cached;
	}
	return *cached;
}

/*
 * encrypt_det_all(text [, context]): the value's encryption under every
 * loaded key, current key first.  `col = ANY(encrypt_det_all(x))` is an
 * index lookup that also finds rows still under a previous key.
 */
Datum
encrypted_text_det_encrypt_all(PG_FUNCTION_ARGS)
{
	seal_all	all = {NULL, 0, InvalidOid};
	text	   *bound = NULL;
	struct varlena *result;

	all.elemtype = result_element_type(fcinfo);
	if (PG_NARGS() > 1)
	{
		bound = context_arg(fcinfo, 1);
		all.context = VARDATA_ANY(bound);
		all.context_len = VARSIZE_ANY_EXHDR(bound);
	}
	result = ec_apply_to_plain(PG_GETARG_DATUM(0), seal_under_all_keys, &all);
	if (bound != NULL)
		PG_FREE_IF_COPY(bound, 1);
	PG_RETURN_POINTER(result);
}

/* Seal plaintext under one given key: an ec_plain_fn. */
static struct varlena *
seal_under_key(const char *plain, size_t len, void *arg)
{
	return seal_text_with_key(&ec_type_siv, (const ec_key *) arg, plain, len,
							  NULL, 0);
}

/*
 * encrypt_det_nth(text, n): the value's encryption under the n-th loaded
 * key, current key first (n = 0), or NULL past the last one.  The
 * planner's index condition for encrypted_text_det = text is an array of
 * these, one per key loaded when the plan was made (det_planner.c).
 */
Datum
encrypted_text_det_encrypt_nth(PG_FUNCTION_ARGS)
{
	const ec_key *keys[MAX_CANDIDATES];
	int32		n = PG_GETARG_INT32(1);
	int			nkeys = ec_all_keys(keys, MAX_CANDIDATES);

	if (n < 0 || n >= nkeys)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(ec_apply_to_plain(PG_GETARG_DATUM(0), seal_under_key,
										(void *) keys[n]));
}

/*
 * encrypt_det_all(text[] [, context]): every element's encryption under
 * every loaded key, and a NULL for each NULL element, so that
 * `col = ANY (encrypt_det_all(a))` has the answer of `col = ANY (a)`.
 * An array without plaintexts needs no key.
 */
Datum
encrypted_text_det_encrypt_all_array(PG_FUNCTION_ARGS)
{
	Datum		arg = PG_GETARG_DATUM(0);
	text	   *bound = PG_NARGS() > 1 ? context_arg(fcinfo, 1) : NULL;
	Oid			elemtype = result_element_type(fcinfo);
	ArrayType  *volatile array;
	bool		copied;
	ArrayType  *volatile result = NULL;

	/* detoast only now: the errors above must leave no plaintext copy */
	array = DatumGetArrayTypeP(arg);
	copied = (Pointer) array != DatumGetPointer(arg);
	PG_TRY();
	{
		const ec_key *keys[MAX_CANDIDATES];
		Datum	   *values;
		bool	   *nulls;
		Datum	   *out;
		bool	   *outnulls;
		int			n;
		int			nkeys = 0;
		int			nout = 0;
		int			dims[1];
		int			lbs[1] = {1};

		deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
						  &values, &nulls, &n);
		for (int i = 0; i < n && nkeys == 0; i++)
			if (!nulls[i])
				nkeys = ec_all_keys(keys, MAX_CANDIDATES);
		out = palloc(sizeof(Datum) * (Size) Max(1, n) * Max(1, nkeys));
		outnulls = palloc(sizeof(bool) * (Size) Max(1, n) * Max(1, nkeys));
		for (int i = 0; i < n; i++)
		{
			struct varlena *plain = (struct varlena *) DatumGetPointer(values[i]);

			if (nulls[i])
			{
				out[nout] = (Datum) 0;
				outnulls[nout++] = true;
				continue;
			}
			for (int k = 0; k < nkeys; k++)
			{
				out[nout] = PointerGetDatum(seal_text_with_key(&ec_type_siv, keys[k],
															   VARDATA_ANY(plain),
															   VARSIZE_ANY_EXHDR(plain),
															   bound ? VARDATA_ANY(bound) : NULL,
															   bound ? VARSIZE_ANY_EXHDR(bound) : 0));
				outnulls[nout++] = false;
			}
		}
		dims[0] = nout;
		if (nout == 0)
			result = construct_empty_array(elemtype);
		else
			result = construct_md_array(out, outnulls, 1, dims, lbs, elemtype,
										-1, false, TYPALIGN_INT);
	}
	PG_CATCH();
	{
		/* a detoasted copy holds plaintexts: wipe it on the way out */
		if (copied)
			ec_wipe(array, VARSIZE(array));
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (copied)
	{
		ec_wipe(array, VARSIZE(array));
		pfree(array);
	}
	PG_RETURN_ARRAYTYPE_P(result);
}

/* What the plaintext is compared with: one stored envelope. */
typedef struct compare_with
{
	const uint8_t *bytes;
	size_t		len;
	ec_envelope env;
} compare_with;

/*
 * Does this plaintext, sealed without a context under the key the stored
 * envelope names, give the stored bytes?  An ec_plain_fn whose result is
 * only NULL or not.  Exactly the rows that `= ANY(encrypt_det_all(x))`
 * finds: the same keys, the same bytes.
 */
static struct varlena *
plain_matches(const char *plain, size_t len, void *arg)
{
	compare_with *stored = (compare_with *) arg;
	const ec_key *keys[MAX_CANDIDATES];
	int			nkeys;

	/*
	 * The envelope holds the UTF-8 form: the lengths can only be compared
	 * where the plaintext is UTF-8 already (SQL_ASCII refuses anything else).
	 */
	if (stored->env.has_context)
		return NULL;
	if ((GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII) &&
		stored->len != len + EC_SIV_OVERHEAD)
		return NULL;
	nkeys = ec_find_keys(stored->env.key_id, keys, MAX_CANDIDATES);
	for (int i = 0; i < nkeys; i++)
	{
		struct varlena *sealed = seal_text_with_key(&ec_type_siv, keys[i],
													plain, len, NULL, 0);
		bool		equal = memcmp(VARDATA(sealed), stored->bytes,
								   stored->len) == 0;

		pfree(sealed);
		if (equal)
			return (struct varlena *) stored->bytes;	/* any non-NULL */
	}
	return NULL;
}

/* The stored value equals the plaintext, as the lookup by index decides. */
static bool
det_equals_text(Datum det, Datum plain)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(det);
	compare_with stored;
	bool		result;

	stored.bytes = (const uint8_t *) VARDATA_ANY(value);
	stored.len = VARSIZE_ANY_EXHDR(value);

	/* a malformed value equals no plaintext, as no encryption gives it */
	if (ec_envelope_parse(stored.bytes, stored.len, EC_ALG_AES256_SIV,
						  &stored.env) != EC_ENV_OK)
		result = false;
	else
		result = ec_apply_to_plain(plain, plain_matches, &stored) != NULL;
	if ((Pointer) value != DatumGetPointer(det))
		pfree(value);
	return result;
}

/* encrypted_text_det = text */
Datum
encrypted_text_det_eq_text(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(det_equals_text(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

/* encrypted_text_det <> text */
Datum
encrypted_text_det_ne_text(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!det_equals_text(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

/* text = encrypted_text_det */
Datum
encrypted_text_text_eq_det(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(det_equals_text(PG_GETARG_DATUM(1), PG_GETARG_DATUM(0)));
}

/* text <> encrypted_text_det */
Datum
encrypted_text_text_ne_det(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!det_equals_text(PG_GETARG_DATUM(1), PG_GETARG_DATUM(0)));
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
