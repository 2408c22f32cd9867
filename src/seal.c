/*
 * seal.c
 *		The one path that seals plaintext into an envelope and opens an
 *		envelope to text, for both types, and the wiping of plaintext
 *		copies on every path.
 *
 * Every entry point of both types (the input function, the casts, the SQL
 * functions) seals through ec_seal_text() and opens through
 * ec_open_to_text(), which checks the one privilege to read plaintext
 * (privilege.c) before it touches the envelope.  A failed tag check gives
 * one generic error whatever failed (key, tampering, context), so the
 * error is no oracle.  The crypto layer (crypto.c) returns status codes;
 * this file turns them into errors, after wiping what was decrypted.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "compat.h"
#include "encrypted_column.h"

StaticAssertDecl(EC_TEXT_FORM_MAX == MaxAllocSize - 7,
				 "the text form limit must follow MaxAllocSize");

const ec_type ec_type_gcm = {
	EC_ALG_AES256_GCM, "encrypted_text", "encrypt", EC_GCM_OVERHEAD, TEXTOID
};
const ec_type ec_type_siv = {
	EC_ALG_AES256_SIV, "encrypted_text_det", "encrypt_det", EC_SIV_OVERHEAD, TEXTOID
};
const ec_type ec_type_bigint = {
	EC_ALG_BIGINT, "encrypted_bigint", "encrypt", EC_GCM_OVERHEAD, INT8OID
};
const ec_type ec_type_numeric = {
	EC_ALG_NUMERIC, "encrypted_numeric", "encrypt", EC_GCM_OVERHEAD, NUMERICOID
};
const ec_type ec_type_date = {
	EC_ALG_DATE, "encrypted_date", "encrypt", EC_GCM_OVERHEAD, DATEOID
};
const ec_type ec_type_timestamptz = {
	EC_ALG_TIMESTAMPTZ, "encrypted_timestamptz", "encrypt", EC_GCM_OVERHEAD,
	TIMESTAMPTZOID
};
const ec_type ec_type_jsonb = {
	EC_ALG_JSONB, "encrypted_jsonb", "encrypt", EC_GCM_OVERHEAD, JSONBOID
};
const ec_type ec_type_bytea = {
	EC_ALG_BYTEA, "encrypted_bytea", "encrypt", EC_GCM_OVERHEAD, BYTEAOID
};

/* The typed types, by algorithm; NULL for an algorithm no typed type has. */
const ec_type *
ec_typed_type(uint8_t algorithm)
{
	static const ec_type *const typed[] = {
		&ec_type_bigint, &ec_type_numeric, &ec_type_date,
		&ec_type_timestamptz, &ec_type_jsonb, &ec_type_bytea
	};

	if (algorithm < EC_ALG_BIGINT || algorithm > EC_ALG_BYTEA)
		return NULL;
	return typed[algorithm - EC_ALG_BIGINT];
}

/*
 * Seal len bytes of plaintext with one key into the envelope buffer env,
 * whose header is already written.  GCM draws a fresh nonce; SIV derives
 * its IV from the header, the context and the plaintext.
 */
static ec_crypto_status
seal_with_key(const ec_type *type, const ec_key *key, uint8_t *env,
			  size_t head, size_t env_len, const char *plain, size_t len,
			  const char *context, size_t context_len)
{
	ec_crypto_status status;

	if (EC_ALG_IS_GCM(type->algorithm))
	{
		status = ec_gcm_next_nonce(env + head);
		if (status == EC_CRYPTO_OK)
			status = ec_gcm_seal(key->gcm, env + head,
								 env, head,
								 (const uint8_t *) context, context_len,
								 (const uint8_t *) plain, len,
								 env + head + EC_GCM_NONCE_LEN,
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
 * Seal len bytes of plaintext (UTF-8 for the text types, the plain type's
 * binary form for the typed ones) with a given key into a new envelope
 * datum of the type.  A non-NULL context is bound to the value as
 * associated data.  encrypted_text sets the UTF-8 bit of byte 1 (values
 * written by 0.2.0 lack it); encrypted_text_det is UTF-8 by definition and
 * leaves the bit clear, so that equal plaintexts stay equal bytes.  With a
 * type modifier (typmod >= 0) the value carries the search terms that the
 * modifier asks for (search.c), authenticated with the header.
 */
struct varlena *
ec_seal_bytes_with_key(const ec_type *type, const ec_key *key,
					   const char *plain, size_t len,
					   const char *context, size_t context_len, int32 typmod)
{
	struct varlena *result;
	uint8_t    *env;
	uint8_t    *terms = NULL;
	size_t		terms_len = 0;
	size_t		head = EC_HEADER_LEN;
	size_t		env_len;

	ec_check_plaintext_len(len, type->overhead, type->name);
	if (typmod >= 0)
	{
		if (context != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a value bound to a context cannot carry search terms"),
					 errhint("Store context-bound values in a column of %s without a type modifier.",
							 type->name)));
		terms = ec_terms_make(type, key, plain, len, typmod, &terms_len);
		head += EC_TERMS_HEAD_LEN + terms_len;
		ec_check_plaintext_len(len, type->overhead + head - EC_HEADER_LEN,
							   type->name);
	}
	env_len = type->overhead + (head - EC_HEADER_LEN) + len;
	result = (struct varlena *) palloc(VARHDRSZ + env_len);
	SET_VARSIZE(result, VARHDRSZ + env_len);
	env = (uint8_t *) VARDATA(result);

	ec_envelope_write_header(env, type->algorithm |
							 (type->algorithm == EC_ALG_AES256_GCM ? EC_ALG_UTF8_BIT : 0),
							 context != NULL, key->id);
	if (terms != NULL)
		ec_envelope_write_terms(env, typmod, terms, terms_len);
	if (seal_with_key(type, key, env, head, env_len, plain, len,
					  context, context_len) != EC_CRYPTO_OK)
	{
		pfree(result);
		ec_crypto_failed("encrypt the value");
	}
	/* a randomized value without terms may get them by a cast (typed.c) */
	if (EC_ALG_IS_GCM(type->algorithm) && terms == NULL && context == NULL)
		ec_memo_sealed(env + head);
	if (terms != NULL)
		pfree(terms);
	/* a stored key's use is audited (audit.c); a raw key is the caller's */
	if (key->stored)
		ec_audit_count(key->id, true);
	return result;
}

/*
 * Encrypt len bytes of plaintext, in the database encoding, with a given
 * key into a new envelope datum of the type: converted to UTF-8 first, the
 * converted copy wiped on every path.
 */
struct varlena *
ec_seal_text_with_key(const ec_type *type, const ec_key *key,
					  const char *plain, size_t len,
					  const char *context, size_t context_len, int32 typmod)
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
		return ec_seal_bytes_with_key(type, key, plain, len, context,
									  context_len, typmod);
	PG_TRY();
	{
		result = ec_seal_bytes_with_key(type, key, utf8, utf8_len,
										context, context_len, typmod);
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
	return ec_seal_text_with_key(type, ec_current_key(), plain, len,
								 context, context_len, -1);
}

/* Open one envelope with one key into out (ciphertext_len bytes). */
static ec_crypto_status
open_with_key(const ec_key *key, const ec_envelope *env,
			  const char *context, size_t context_len, uint8_t *out)
{
	if (EC_ALG_IS_GCM(env->algorithm))
		return ec_gcm_open(key->gcm, env->nonce,
						   env->header, env->header_len,
						   (const uint8_t *) context, context_len,
						   env->ciphertext, env->ciphertext_len, env->tag,
						   out);
	else
	{
		ec_siv_ad	ad[2] = {{env->header, env->header_len},
		{(const uint8_t *) context, context_len}};

		return ec_siv_open(key->siv, ad, context != NULL ? 2 : 1, env->nonce,
						   env->ciphertext, env->ciphertext_len, out);
	}
}

/* Parse a stored datum of the type; a malformed one is data corruption. */
void
ec_parse_stored(const ec_type *type, struct varlena *datum, ec_envelope *env)
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

/* The error for a value whose key id no loaded key has. */
void
ec_no_loaded_key(const uint8_t *key_id)
{
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];

	ec_hex_encode(key_id, EC_KEY_ID_LEN, id_hex);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("no loaded key has key id %s", id_hex),
			 errhint("Set encrypted_column.key, or add the key to encrypted_column.previous_keys, "
					 "to the key whose id is %s.", id_hex)));
}

/*
 * Decrypt an envelope datum (detoasted) into a new datum of its plaintext
 * bytes, trying every loaded key with the envelope's key id; env receives
 * the parsed envelope.  Unverified bytes are wiped before any error is
 * raised.  The caller wipes the result.
 */
struct varlena *
ec_open_bytes(const ec_type *type, struct varlena *datum,
			  const char *context, size_t context_len, ec_envelope *env)
{
	const ec_key *keys[EC_MAX_LOADED_KEYS];
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
	struct varlena *result;
	int			nkeys;

	/* the privilege first, for every type and overload that opens values */
	ec_require_plaintext_privilege();
	ec_parse_stored(type, datum, env);

	/* the key id in hex is for the error messages: built only on their paths */
	nkeys = ec_find_keys(env->key_id, keys, EC_MAX_LOADED_KEYS);
	if (nkeys == 0)
		ec_no_loaded_key(env->key_id);

	result = (struct varlena *) palloc(VARHDRSZ + env->ciphertext_len);
	SET_VARSIZE(result, VARHDRSZ + env->ciphertext_len);
	for (int i = 0; i < nkeys; i++)
	{
		ec_crypto_status status;

		status = open_with_key(keys[i], env, context, context_len,
							   (uint8_t *) VARDATA(result));
		if (status == EC_CRYPTO_OK)
		{
			if (keys[i]->stored)
				ec_audit_count(env->key_id, false);
			return result;
		}
		ec_wipe(VARDATA(result), env->ciphertext_len);
		if (status == EC_CRYPTO_LIBRARY)
		{
			pfree(result);
			ec_crypto_failed("decrypt the value");
		}
	}
	pfree(result);
	ec_hex_encode(env->key_id, EC_KEY_ID_LEN, id_hex);
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
			 errmsg("could not decrypt %s value with key id %s", type->name, id_hex),
			 errdetail("The value was altered, or its context is not the one it was encrypted with.")));
	pg_unreachable();
}

/*
 * Open a parsed envelope with one given key, without the privilege check:
 * only for a value this backend sealed from its caller's plaintext (the
 * type modifier's cast, typed.c).  The caller wipes the result.
 */
struct varlena *
ec_open_bytes_with(const ec_key *key, const ec_type *type,
				   struct varlena *datum, ec_envelope *env)
{
	struct varlena *result;
	ec_crypto_status status;

	ec_parse_stored(type, datum, env);
	result = (struct varlena *) palloc(VARHDRSZ + env->ciphertext_len);
	SET_VARSIZE(result, VARHDRSZ + env->ciphertext_len);
	status = open_with_key(key, env, NULL, 0, (uint8_t *) VARDATA(result));
	if (status != EC_CRYPTO_OK)
	{
		ec_wipe(VARDATA(result), env->ciphertext_len);
		pfree(result);
		if (status == EC_CRYPTO_LIBRARY)
			ec_crypto_failed("decrypt the value");
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("could not decrypt %s value with key id %s", type->name,
						key->id_hex)));
	}
	return result;
}

/* Decrypt a text envelope datum (detoasted) into a new text datum. */
struct varlena *
ec_open_to_text(const ec_type *type, struct varlena *datum,
				const char *context, size_t context_len)
{
	ec_envelope env;
	struct varlena *plain = ec_open_bytes(type, datum, context, context_len,
										  &env);

	return ec_plain_to_text(plain, env.plain_utf8);
}

/*
 * Run fn on the bytes of a plaintext copy that belongs to us, then wipe and
 * free the copy, on error paths too.
 */
struct varlena *
ec_apply_and_wipe(struct varlena *plain, ec_plain_fn fn, void *arg)
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
	return ec_apply_and_wipe(plain, fn, arg);
}
