/*
 * accessors.c
 *		The SQL functions: encrypt(), encrypt_det(), decrypt(), reencrypt(),
 *		key_id(), current_key_id(), encrypt_det_all(), encrypt_det_nth(),
 *		and the comparison of a deterministic value with a plaintext.
 *
 * Each is a thin wrapper around the one sealing and opening path in
 * seal.c: decrypt() is the only door to plaintext, and it opens values
 * only through ec_open_to_text().
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

/* A context argument: its bytes, refusing the empty string. */
text *
ec_context_arg(FunctionCallInfo fcinfo, int argno)
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
	text	   *bound = ec_context_arg(fcinfo, 1);
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
	text	   *context = bound ? ec_context_arg(fcinfo, 1) : NULL;
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
	text	   *context = bound ? ec_context_arg(fcinfo, 1) : NULL;
	seal_context seal = {type, bound ? VARDATA_ANY(context) : NULL,
	bound ? VARSIZE_ANY_EXHDR(context) : 0};
	struct varlena *result;

	/* fail on a missing current key before any plaintext exists */
	(void) ec_current_key();
	result = ec_apply_and_wipe(ec_open_to_text(type, value, seal.bytes, seal.len),
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
	const ec_key *keys[EC_MAX_LOADED_KEYS];
	Datum		elems[EC_MAX_LOADED_KEYS];
	int			nkeys = ec_all_keys(keys, EC_MAX_LOADED_KEYS);

	for (int i = 0; i < nkeys; i++)
		elems[i] = PointerGetDatum(ec_seal_text_with_key(&ec_type_siv, keys[i],
													  plain, len,
													  all->context,
													  all->context_len, -1));
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
		bound = ec_context_arg(fcinfo, 1);
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
	return ec_seal_text_with_key(&ec_type_siv, (const ec_key *) arg, plain, len,
								 NULL, 0, -1);
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
	const ec_key *keys[EC_MAX_LOADED_KEYS];
	int32		n = PG_GETARG_INT32(1);
	int			nkeys = ec_all_keys(keys, EC_MAX_LOADED_KEYS);

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
	text	   *bound = PG_NARGS() > 1 ? ec_context_arg(fcinfo, 1) : NULL;
	Oid			elemtype = result_element_type(fcinfo);
	ArrayType  *volatile array;
	bool		copied;
	ArrayType  *volatile result = NULL;

	/* detoast only now: the errors above must leave no plaintext copy */
	array = DatumGetArrayTypeP(arg);
	copied = (Pointer) array != DatumGetPointer(arg);
	PG_TRY();
	{
		const ec_key *keys[EC_MAX_LOADED_KEYS];
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
				nkeys = ec_all_keys(keys, EC_MAX_LOADED_KEYS);
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
				out[nout] = PointerGetDatum(ec_seal_text_with_key(&ec_type_siv, keys[k],
															   VARDATA_ANY(plain),
															   VARSIZE_ANY_EXHDR(plain),
															   bound ? VARDATA_ANY(bound) : NULL,
															   bound ? VARSIZE_ANY_EXHDR(bound) : 0,
															   -1));
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
	const ec_key *keys[EC_MAX_LOADED_KEYS];
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
	nkeys = ec_find_keys_to_seal(stored->env.key_id, keys, EC_MAX_LOADED_KEYS);
	for (int i = 0; i < nkeys; i++)
	{
		struct varlena *sealed = ec_seal_text_with_key(&ec_type_siv, keys[i],
													plain, len, NULL, 0, -1);
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
