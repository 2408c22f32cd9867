/*
 * typed.c
 *		The typed encrypted types (encrypted_bigint, encrypted_numeric,
 *		encrypted_date, encrypted_timestamptz, encrypted_jsonb,
 *		encrypted_bytea): their ways in and out, their comparisons by
 *		plaintext, and the type modifier's cast that gives any randomized
 *		value its search terms.
 *
 * A typed value is an AES-256-GCM envelope whose algorithm byte names the
 * plain type, holding the plain type's binary (send) form, so that it
 * decrypts to the same value in every database and an envelope of one
 * type is never accepted as another.  Every rule of encrypted_text holds:
 * text in is plaintext (parsed by the plain type's input function, whose
 * errors, which quote the input, are replaced by one that does not),
 * ciphertext only with the restore switch; out is the ciphertext text
 * form; plaintext only through decrypt(), behind the one privilege.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "commands/vacuum.h"
#include "utils/hsearch.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "compat.h"
#include "encrypted_column.h"
#include "typed.h"

#define TYPED_ENTRY(name, type) \
PG_FUNCTION_INFO_V1(encrypted_##name##_in); \
Datum \
encrypted_##name##_in(PG_FUNCTION_ARGS) \
{ \
	return typed_in(fcinfo, &type); \
} \
PG_FUNCTION_INFO_V1(encrypted_##name##_recv); \
Datum \
encrypted_##name##_recv(PG_FUNCTION_ARGS) \
{ \
	return typed_recv(fcinfo, &type); \
} \
PG_FUNCTION_INFO_V1(encrypted_##name##_encrypt); \
Datum \
encrypted_##name##_encrypt(PG_FUNCTION_ARGS) \
{ \
	return typed_encrypt(fcinfo, &type); \
}

PG_FUNCTION_INFO_V1(encrypted_typed_decrypt);
PG_FUNCTION_INFO_V1(encrypted_typed_reencrypt);
PG_FUNCTION_INFO_V1(encrypted_apply_typmod);
PG_FUNCTION_INFO_V1(encrypted_typed_cmp);
PG_FUNCTION_INFO_V1(encrypted_typed_cmp_plain);
PG_FUNCTION_INFO_V1(encrypted_plain_cmp_typed);
PG_FUNCTION_INFO_V1(encrypted_typed_analyze);
PG_FUNCTION_INFO_V1(encrypted_order_guard);
PG_FUNCTION_INFO_V1(encrypted_order_value);

/* The typed type whose plain type is typid, or NULL. */
const ec_type *
ec_type_of_plain(Oid typid)
{
	for (uint8 alg = EC_ALG_BIGINT; alg <= EC_ALG_BYTEA; alg++)
		if (ec_typed_type(alg)->plain_type == typid)
			return ec_typed_type(alg);
	return NULL;
}

/* The plain types' binary I/O functions, looked up once per backend. */
typedef struct plain_io
{
	bool		ready;
	FmgrInfo	input;
	FmgrInfo	receive;
	Oid			ioparam;
	FmgrInfo	send;
} plain_io;

static plain_io *
plain_io_of(const ec_type *type)
{
	static plain_io io[EC_ALG_BYTEA - EC_ALG_BIGINT + 1];
	plain_io   *p = &io[type->algorithm - EC_ALG_BIGINT];

	if (!p->ready)
	{
		Oid			input;
		Oid			receive;
		Oid			send;
		bool		varlena;

		getTypeInputInfo(type->plain_type, &input, &p->ioparam);
		fmgr_info_cxt(input, &p->input, TopMemoryContext);
		getTypeBinaryInputInfo(type->plain_type, &receive, &p->ioparam);
		getTypeBinaryOutputInfo(type->plain_type, &send, &varlena);
		fmgr_info_cxt(receive, &p->receive, TopMemoryContext);
		fmgr_info_cxt(send, &p->send, TopMemoryContext);
		p->ready = true;
	}
	return p;
}

/* A big-endian integer of len bytes, sign-extended. */
static int64
read_be_signed(const char *bytes, size_t len)
{
	uint64		v = 0;

	for (size_t i = 0; i < len; i++)
		v = (v << 8) | (uint8) bytes[i];
	if (len < 8 && (v & (UINT64CONST(1) << (len * 8 - 1))))
		v |= ~UINT64CONST(0) << (len * 8);
	return (int64) v;
}

/*
 * A plain value from its binary form (the bytes a typed envelope holds).
 * The fixed-width types are read here, exactly as their receive functions
 * read them; the others go through the plain type's receive function.  A
 * by-reference result is a new datum; the bytes stay the caller's.
 */
Datum
ec_plain_datum(const ec_type *type, const char *bytes, size_t len)
{
	StringInfoData buf;
	plain_io   *io;

	if ((type->algorithm == EC_ALG_BIGINT || type->algorithm == EC_ALG_TIMESTAMPTZ) &&
		len == 8)
		return Int64GetDatum(read_be_signed(bytes, 8));
	if (type->algorithm == EC_ALG_DATE && len == 4)
		return DateADTGetDatum((DateADT) read_be_signed(bytes, 4));
	io = plain_io_of(type);
	buf.data = (char *) bytes;
	buf.len = (int) len;
	buf.maxlen = (int) len;
	buf.cursor = 0;
	return ReceiveFunctionCall(&io->receive, &buf, io->ioparam, -1);
}

/*
 * A typed envelope (detoasted) opened into its plain value, with the
 * context it is bound to (NULL: none); the decrypted bytes are wiped.
 * Needs the privilege to read plaintext.
 */
static Datum
open_typed(const ec_type *type, struct varlena *datum, text *context)
{
	ec_envelope env;
	struct varlena *volatile plain;
	volatile Datum value = (Datum) 0;

	plain = ec_open_bytes(type, datum,
						  context ? VARDATA_ANY(context) : NULL,
						  context ? VARSIZE_ANY_EXHDR(context) : 0, &env);
	PG_TRY();
	{
		value = ec_plain_datum(type, VARDATA(plain), VARSIZE(plain) - VARHDRSZ);
	}
	PG_CATCH();
	{
		ec_wipe(VARDATA(plain), VARSIZE(plain) - VARHDRSZ);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ec_wipe(VARDATA(plain), VARSIZE(plain) - VARHDRSZ);
	pfree(plain);
	return value;
}

/* A typed envelope (detoasted) opened into its plain value. */
Datum
ec_open_typed(const ec_type *type, struct varlena *datum)
{
	return open_typed(type, datum, NULL);
}

/*
 * The context argument argno when the call has one, else NULL.  A cast
 * function's second argument is the type modifier, not a context.
 */
static text *
context_if_any(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno ||
		get_fn_expr_argtype(fcinfo->flinfo, argno) != TEXTOID)
		return NULL;
	return ec_context_arg(fcinfo, argno);
}

/* A cast function's type modifier (its second argument), else -1. */
static int32
cast_typmod(FunctionCallInfo fcinfo)
{
	if (PG_NARGS() == 3 && get_fn_expr_argtype(fcinfo->flinfo, 1) == INT4OID)
		return PG_GETARG_INT32(1);
	return -1;
}

/* ---- the memo of values sealed here, for the type modifier's cast ---- */

/*
 * A value that this backend has just sealed from a plaintext its caller
 * handed in may get its search terms without the privilege to read
 * plaintext: the caller had the plaintext.  Such values are known by
 * their nonce (96 random bits, never repeated) until the transaction
 * ends.  Any other value needs the privilege, since its terms tell
 * something of a plaintext the caller may not read.  The memo holds the
 * newest MEMO_MAX values; when it is full it starts again.
 */
#define MEMO_MAX 65536

static HTAB *sealed_memo = NULL;

/* Transaction callback (module.c): the memo's memory goes with the transaction. */
void
ec_memo_xact_callback(XactEvent event, void *arg)
{
	(void) event;
	(void) arg;
	sealed_memo = NULL;
}

/* Remember that this backend sealed the value with this nonce. */
void
ec_memo_sealed(const uint8 *nonce)
{
	bool		found;

	if (!IsTransactionState())
		return;
	if (sealed_memo == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = EC_GCM_NONCE_LEN;
		ctl.entrysize = EC_GCM_NONCE_LEN;
		ctl.hcxt = TopTransactionContext;
		sealed_memo = hash_create("encrypted_column sealed values", 256, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* full: the newest values are the ones a cast is about to take */
	if (hash_get_num_entries(sealed_memo) >= MEMO_MAX)
	{
		hash_destroy(sealed_memo);
		sealed_memo = NULL;
		ec_memo_sealed(nonce);
		return;
	}
	(void) hash_search(sealed_memo, nonce, HASH_ENTER, &found);
}

static bool
memo_has(const uint8 *nonce)
{
	return sealed_memo != NULL &&
		hash_search(sealed_memo, nonce, HASH_FIND, NULL) != NULL;
}

/* ---- the type modifier: search terms for a randomized value ---- */

/* The type of a stored randomized value (text or typed), by its algorithm. */
static const ec_type *
randomized_type_of(struct varlena *datum)
{
	uint8		alg = VARSIZE_ANY_EXHDR(datum) >= 2 ?
		((const uint8 *) VARDATA_ANY(datum))[1] & ~EC_ALG_FLAG_BITS : 0;

	if (alg == EC_ALG_AES256_GCM)
		return &ec_type_gcm;
	if (ec_typed_type(alg) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored encrypted value is malformed"),
				 errdetail("%s", ec_envelope_status_detail(EC_ENV_BAD_ALGORITHM))));
	return ec_typed_type(alg);
}

typedef struct reseal
{
	const ec_type *type;
	const ec_key *key;
	int32		typmod;
} reseal;

/* Seal a plaintext again under a given key and modifier: an ec_plain_fn. */
static struct varlena *
reseal_plain(const char *plain, size_t len, void *arg)
{
	reseal	   *r = (reseal *) arg;

	return ec_seal_bytes_with_key(r->type, r->key, plain, len, NULL, 0,
								  r->typmod);
}

/*
 * A value as a column with this type modifier stores it: as it is when it
 * carries the terms the modifier asks for, else opened and sealed again
 * under its own key with them.  With no modifier (-1), as it is.
 */
struct varlena *
ec_apply_typmod(struct varlena *datum, int32 typmod)
{
	const ec_type *type;
	ec_envelope env;
	const ec_key *keys[EC_MAX_LOADED_KEYS];
	reseal		r;
	struct varlena *plain;

	if (typmod < 0)
		return datum;
	datum = PG_DETOAST_DATUM_PACKED(PointerGetDatum(datum));
	type = randomized_type_of(datum);
	ec_terms_check_typmod(type, typmod);
	ec_parse_stored(type, datum, &env);
	if (env.has_terms && env.terms_typmod == typmod)
		return datum;
	if (env.has_context)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a value bound to a context cannot carry search terms"),
				 errhint("Store context-bound values in a column of %s without a type modifier.",
						 type->name)));

	/* a value sealed here from its caller's plaintext needs no privilege */
	if (memo_has(env.nonce))
	{
		if (ec_find_keys_to_seal(env.key_id, keys, EC_MAX_LOADED_KEYS) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the key that sealed the value is no longer loaded")));
		plain = ec_open_bytes_with(keys[0], type, datum, &env);
	}
	else
	{
		plain = ec_open_bytes(type, datum, NULL, 0, &env);
		(void) ec_find_keys(env.key_id, keys, EC_MAX_LOADED_KEYS);
	}
	r.type = type;
	r.key = keys[0];
	r.typmod = typmod;
	return ec_apply_and_wipe(plain, reseal_plain, &r);
}

/* The length-coercion cast of every randomized type with a modifier. */
Datum
encrypted_apply_typmod(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ec_apply_typmod((struct varlena *) PG_GETARG_POINTER(0),
									  PG_GETARG_INT32(1)));
}

/* ---- ways in ---- */

typedef struct seal_plain
{
	const ec_type *type;
	int32		typmod;
	const char *context;
	size_t		context_len;
} seal_plain;

/* Seal the binary form of a plain value: an ec_plain_fn. */
static struct varlena *
seal_binary(const char *plain, size_t len, void *arg)
{
	seal_plain *s = (seal_plain *) arg;

	return ec_seal_bytes_with_key(s->type, ec_current_key(), plain, len,
								  s->context, s->context_len, s->typmod);
}

/* Seal a plain value of the type's plain type with the current key. */
static struct varlena *
seal_value(const ec_type *type, Datum value, int32 typmod,
		   const char *context, size_t context_len)
{
	bytea	   *binary;
	seal_plain	s = {type, typmod, context, context_len};

	binary = SendFunctionCall(&plain_io_of(type)->send, value);
	return ec_apply_and_wipe((struct varlena *) binary, seal_binary, &s);
}

/*
 * Input: plaintext in the plain type's text form, or (restore switch) a
 * ciphertext text form.  The plain type's input errors quote the input,
 * so they are replaced by one that does not, with no error context (COPY
 * adds the raw field to it).
 */
static Datum
typed_in(FunctionCallInfo fcinfo, const ec_type *type)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int32		typmod = PG_NARGS() >= 3 ? PG_GETARG_INT32(2) : -1;
	ErrorContextCallback *saved_context = error_context_stack;
	plain_io   *io = plain_io_of(type);
	Datum		value;
	int			sqlerrcode = 0;
	struct varlena *result;

	if (ec_text_has_prefix(str, strlen(str)))
	{
		result = ec_ciphertext_in(type, str, strlen(str), true,
								  EC_ESCONTEXT(fcinfo));
		if (result == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(ec_apply_typmod(result, typmod));
	}

	if (!ec_input_call_soft(&io->input, str, io->ioparam, &value, &sqlerrcode))
		ereturn(EC_ESCONTEXT(fcinfo), (Datum) 0,
				(errcode(sqlerrcode),
				 errmsg("invalid input for type %s", type->name),
				 errdetail("The value is not a valid %s; it is not shown, since it is plaintext.",
						   format_type_be(type->plain_type))));
	error_context_stack = NULL;
	result = seal_value(type, value, typmod, NULL, 0);
	error_context_stack = saved_context;
	PG_RETURN_POINTER(result);
}

/* Receive: envelope bytes, checked; terms made when the modifier asks. */
static Datum
typed_recv(FunctionCallInfo fcinfo, const ec_type *type)
{
	int32		typmod = PG_NARGS() >= 3 ? PG_GETARG_INT32(2) : -1;

	PG_RETURN_POINTER(ec_apply_typmod(ec_envelope_recv(fcinfo, type), typmod));
}

/*
 * The first argument as a value of the type's plain type: integers given
 * to the bigint and numeric types are widened.
 */
static Datum
plain_arg(FunctionCallInfo fcinfo, const ec_type *type)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Datum		value = PG_GETARG_DATUM(0);

	if (argtype == INT4OID && type->plain_type == INT8OID)
		return Int64GetDatum((int64) DatumGetInt32(value));
	if (argtype == INT4OID && type->plain_type == NUMERICOID)
		return DirectFunctionCall1(int4_numeric, value);
	if (argtype == INT8OID && type->plain_type == NUMERICOID)
		return DirectFunctionCall1(int8_numeric, value);
	if (OidIsValid(argtype) && argtype != type->plain_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cannot encrypt a value of type %s as %s",
						format_type_be(argtype), type->name)));
	return value;
}

/*
 * encrypt(value [, context]), and the cast from the plain type, which
 * gives the value the search terms of the column's type modifier.
 */
static Datum
typed_encrypt(FunctionCallInfo fcinfo, const ec_type *type)
{
	text	   *context = context_if_any(fcinfo, 1);

	PG_RETURN_POINTER(seal_value(type, plain_arg(fcinfo, type), cast_typmod(fcinfo),
								 context ? VARDATA_ANY(context) : NULL,
								 context ? VARSIZE_ANY_EXHDR(context) : 0));
}

TYPED_ENTRY(bigint, ec_type_bigint)
TYPED_ENTRY(numeric, ec_type_numeric)
TYPED_ENTRY(date, ec_type_date)
TYPED_ENTRY(timestamptz, ec_type_timestamptz)
TYPED_ENTRY(jsonb, ec_type_jsonb)
TYPED_ENTRY(bytea, ec_type_bytea)

/* The typed type of a stored value, by its algorithm byte. */
static const ec_type *
typed_type_of(struct varlena *datum)
{
	const ec_type *type = randomized_type_of(datum);

	if (type == &ec_type_gcm)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored encrypted value is malformed"),
				 errdetail("%s", ec_envelope_status_detail(EC_ENV_BAD_ALGORITHM))));
	return type;
}

/* ---- ways out ---- */

/* decrypt(encrypted_* [, context]): the plain value, behind the one privilege. */
Datum
encrypted_typed_decrypt(PG_FUNCTION_ARGS)
{
	struct varlena *datum = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));

	return open_typed(typed_type_of(datum), datum, context_if_any(fcinfo, 1));
}

/*
 * reencrypt(encrypted_* [, context]): open with whichever key fits, seal
 * with the current key, without terms, as reencrypt(encrypted_text) does:
 * a column with a modifier gives the value its terms under the new key.
 */
Datum
encrypted_typed_reencrypt(PG_FUNCTION_ARGS)
{
	struct varlena *datum = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	const ec_type *type = typed_type_of(datum);
	text	   *context = context_if_any(fcinfo, 1);
	seal_plain	s = {type, -1, NULL, 0};
	ec_envelope env;
	struct varlena *plain;

	if (context != NULL)
	{
		s.context = VARDATA_ANY(context);
		s.context_len = VARSIZE_ANY_EXHDR(context);
	}
	(void) ec_current_key();
	plain = ec_open_bytes(type, datum, s.context, s.context_len, &env);
	PG_RETURN_POINTER(ec_apply_and_wipe(plain, seal_binary, &s));
}

/* ---- comparisons by plaintext ---- */

/* Compare two plain values of a type with its default btree comparison. */
static int
plain_cmp(const ec_type *type, Datum a, Datum b)
{
	/* the type cache's entries stay for the backend's life: kept per type */
	static TypeCacheEntry *entries[EC_ALG_BYTEA - EC_ALG_BIGINT + 1];
	TypeCacheEntry **tc = &entries[type->algorithm - EC_ALG_BIGINT];

	if (*tc == NULL)
		*tc = lookup_type_cache(type->plain_type, TYPECACHE_CMP_PROC_FINFO);
	if (!OidIsValid((*tc)->cmp_proc_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("%s values cannot be ordered", type->name)));
	return DatumGetInt32(FunctionCall2Coll(&(*tc)->cmp_proc_finfo, InvalidOid,
										   a, b));
}

/* Wipe a by-reference plain value that we opened. */
static void
wipe_plain(const ec_type *type, Datum value)
{
	if (!get_typbyval(type->plain_type))
	{
		struct varlena *v = (struct varlena *) DatumGetPointer(value);

		ec_wipe(v, VARSIZE_ANY(v));
	}
}

/*
 * Values opened by one comparison function (one sort, or one operator in
 * a query), remembered by their whole envelope: a sort compares each
 * value about log2(n) times, and opening it once instead makes a sort by
 * plaintext cost n openings.  Equal envelope bytes are the same
 * authenticated plaintext, so a hit needs no check of its own.  A value
 * passed by reference (numeric) is kept as a copy in the function's
 * memory; every copy is wiped when its slot is taken by another value and
 * when the function's memory goes (its context's reset callback).
 */
#define OPENED_SLOTS		256
#define OPENED_MAX_BYTES	96

typedef struct opened_value
{
	uint32		len;			/* 0: empty */
	uint8		bytes[OPENED_MAX_BYTES];
	Datum		plain;
} opened_value;

typedef struct opened_cache
{
	MemoryContextCallback wipe;
	const ec_type *type;
	bool		byval;
	opened_value slots[OPENED_SLOTS];
} opened_cache;

/* Empty a slot, wiping a copy it holds. */
static void
opened_slot_clear(opened_cache *cache, opened_value *slot)
{
	if (slot->len != 0 && !cache->byval)
	{
		struct varlena *copy = (struct varlena *) DatumGetPointer(slot->plain);

		ec_wipe(copy, VARSIZE_ANY(copy));
		pfree(copy);
	}
	slot->len = 0;
}

static void
opened_cache_wipe(void *arg)
{
	opened_cache *cache = (opened_cache *) arg;

	for (int i = 0; i < OPENED_SLOTS; i++)
		if (cache->slots[i].len != 0 && !cache->byval)
			ec_wipe(DatumGetPointer(cache->slots[i].plain),
					VARSIZE_ANY(DatumGetPointer(cache->slots[i].plain)));
	ec_wipe(cache, sizeof(opened_cache));
}

/*
 * A typed value opened, from the call's cache where it can be.  *slot_used
 * is the slot that holds the result, or NULL when the caller owns it (and
 * wipes it); pinned, a slot the caller still uses, is never taken.
 */
static Datum
open_remembered(FunctionCallInfo fcinfo, const ec_type *type,
				struct varlena *datum, const opened_value *pinned,
				opened_value **slot_used)
{
	size_t		len = VARSIZE_ANY_EXHDR(datum);
	const uint8 *bytes = (const uint8 *) VARDATA_ANY(datum);
	opened_cache *cache;
	opened_value *slot;
	Datum		plain;

	*slot_used = NULL;
	if (fcinfo->flinfo == NULL || len > OPENED_MAX_BYTES || len < EC_HEADER_LEN)
		return ec_open_typed(type, datum);
	cache = (opened_cache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									   sizeof(opened_cache));
		cache->type = type;
		cache->byval = get_typbyval(type->plain_type);
		cache->wipe.func = opened_cache_wipe;
		cache->wipe.arg = cache;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt,
										   &cache->wipe);
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->type != type)
		return ec_open_typed(type, datum);
	/* the key id and the random nonce make the hash; all bytes must match */
	slot = &cache->slots[hash_bytes(bytes + 2, (int) Min(len - 2, 16)) % OPENED_SLOTS];
	if (slot->len == len && memcmp(slot->bytes, bytes, len) == 0)
	{
		*slot_used = slot;
		return slot->plain;
	}
	if (slot == pinned)
		return ec_open_typed(type, datum);
	*slot_used = slot;
	opened_slot_clear(cache, slot);
	plain = ec_open_typed(type, datum);
	if (!cache->byval)
	{
		struct varlena *opened = (struct varlena *) DatumGetPointer(plain);
		struct varlena *copy = MemoryContextAllocExtended(fcinfo->flinfo->fn_mcxt,
														  VARSIZE_ANY(opened),
														  MCXT_ALLOC_NO_OOM);

		if (copy == NULL)
		{
			/* the opened value is wiped before the error, as on every path */
			slot->len = 0;
			ec_wipe(opened, VARSIZE_ANY(opened));
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		}
		memcpy(copy, opened, VARSIZE_ANY(opened));
		ec_wipe(opened, VARSIZE_ANY(opened));
		pfree(opened);
		plain = PointerGetDatum(copy);
	}
	slot->plain = plain;
	memcpy(slot->bytes, bytes, len);
	slot->len = (uint32) len;
	return slot->plain;
}

/* encrypted_* against encrypted_*: both opened. */
Datum
encrypted_typed_cmp(PG_FUNCTION_ARGS)
{
	struct varlena *a = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	struct varlena *b = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1));
	const ec_type *type = typed_type_of(a);
	Datum		pa;
	Datum		pb;
	opened_value *slot_a;
	opened_value *slot_b;
	int			c;

	if (typed_type_of(b) != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored encrypted value is malformed"),
				 errdetail("%s", ec_envelope_status_detail(EC_ENV_BAD_ALGORITHM))));
	pa = open_remembered(fcinfo, type, a, NULL, &slot_a);
	pb = open_remembered(fcinfo, type, b, slot_a, &slot_b);
	c = plain_cmp(type, pa, pb);
	if (slot_a == NULL)
		wipe_plain(type, pa);
	if (slot_b == NULL)
		wipe_plain(type, pb);
	PG_RETURN_INT32(c);
}

/* encrypted_* against its plain type. */
Datum
encrypted_typed_cmp_plain(PG_FUNCTION_ARGS)
{
	struct varlena *a = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	const ec_type *type = typed_type_of(a);
	Datum		pa = ec_open_typed(type, a);
	int			c = plain_cmp(type, pa, PG_GETARG_DATUM(1));

	wipe_plain(type, pa);
	PG_RETURN_INT32(c);
}

/* The plain type against encrypted_*. */
Datum
encrypted_plain_cmp_typed(PG_FUNCTION_ARGS)
{
	struct varlena *b = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1));
	const ec_type *type = typed_type_of(b);
	Datum		pb = ec_open_typed(type, b);
	int			c = plain_cmp(type, PG_GETARG_DATUM(0), pb);

	wipe_plain(type, pb);
	PG_RETURN_INT32(c);
}

#define CMP_OPERATOR(kind, name, test) \
PG_FUNCTION_INFO_V1(encrypted_##kind##_##name); \
Datum \
encrypted_##kind##_##name(PG_FUNCTION_ARGS) \
{ \
	int			c = DatumGetInt32(encrypted_##kind##_cmp_fn(fcinfo)); \
	PG_RETURN_BOOL(test); \
}

#define encrypted_typed_cmp_fn encrypted_typed_cmp
#define encrypted_typed_plain_cmp_fn encrypted_typed_cmp_plain
#define encrypted_plain_typed_cmp_fn encrypted_plain_cmp_typed

#define CMP_OPERATORS(kind) \
CMP_OPERATOR(kind, lt, c < 0) \
CMP_OPERATOR(kind, le, c <= 0) \
CMP_OPERATOR(kind, eq, c == 0) \
CMP_OPERATOR(kind, ne, c != 0) \
CMP_OPERATOR(kind, ge, c >= 0) \
CMP_OPERATOR(kind, gt, c > 0)

CMP_OPERATORS(typed)
CMP_OPERATORS(typed_plain)
CMP_OPERATORS(plain_typed)

/*
 * order_guard(value [, n]): true, or the error sorting by plaintext would
 * raise on the value: the role may not read plaintext, or no key can open
 * it.  The ORDER BY rewrite (search_planner.c) adds it to the query, so
 * that ordering by range terms never answers where sorting by plaintext
 * would have failed.  Range terms are a bucket order per key, so a value
 * under a key that can open it but is not loaded for searching (a stored
 * key of another name) cannot be placed by the index walk: that is an
 * error too, never a wrong order.  With n (during a rotation, one index
 * walk per loaded key), true only for values under the n-th loaded key:
 * each value, and each NULL (the first walk's), belongs to one walk.
 */
Datum
encrypted_order_guard(PG_FUNCTION_ARGS)
{
	struct varlena *head;
	const ec_key *keys[EC_MAX_LOADED_KEYS];
	const uint8 *key_id;
	int32		n = PG_NARGS() > 1 && !PG_ARGISNULL(1) ? PG_GETARG_INT32(1) : -1;
	int			nkeys;
	int			slot = -1;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(n <= 0);
	ec_require_plaintext_privilege();
	head = PG_DETOAST_DATUM_SLICE(PG_GETARG_DATUM(0), 0, EC_HEADER_LEN);
	if (VARSIZE_ANY_EXHDR(head) < EC_HEADER_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored encrypted value is malformed"),
				 errdetail("%s", ec_envelope_status_detail(EC_ENV_TOO_SHORT))));
	key_id = (const uint8 *) VARDATA_ANY(head) + 2;
	if (ec_find_keys(key_id, keys, EC_MAX_LOADED_KEYS) == 0)
		ec_no_loaded_key(key_id);
	nkeys = ec_all_keys(keys, EC_MAX_LOADED_KEYS);
	for (int k = 0; k < nkeys && slot < 0; k++)
		if (memcmp(keys[k]->id, key_id, EC_KEY_ID_LEN) == 0)
			slot = k;
	if (slot < 0)
	{
		char		id_hex[EC_KEY_ID_HEX_LEN + 1];

		ec_hex_encode(key_id, EC_KEY_ID_LEN, id_hex);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot order through a range index a value under key id %s, which is not loaded for searching",
						id_hex),
				 errdetail("Range terms keep an order per key; a search uses the keys of encrypted_column.key, previous_keys and the versions of key_name."),
				 errhint("Load the key for searching, or sort by decrypt() of the column.")));
	}
	PG_RETURN_BOOL(n < 0 || slot == n);
}

/*
 * order_value(value): the value itself, as another expression, for the
 * ORDER BY rewrite (search_planner.c).
 */
Datum
encrypted_order_value(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

/* ---- ANALYZE: no statistic that would need a key ---- */

/*
 * ANALYZE of a typed column counts NULLs and widths only: a histogram or a
 * list of common values would need the key (autovacuum has none) and would
 * keep the plaintext's order and frequencies in pg_statistic.
 */
static void
compute_typed_stats(VacAttrStatsP stats, AnalyzeAttrFetchFunc fetchfunc,
					int samplerows, double totalrows)
{
	int			nulls = 0;
	double		width = 0;
	int			nonnull = 0;

	(void) totalrows;
	for (int i = 0; i < samplerows; i++)
	{
		bool		isnull;
		Datum		value = fetchfunc(stats, i, &isnull);

		if (isnull)
		{
			nulls++;
			continue;
		}
		width += VARSIZE_ANY(DatumGetPointer(value));
		nonnull++;
	}
	stats->stats_valid = true;
	stats->stanullfrac = samplerows > 0 ? (double) nulls / samplerows : 0;
	stats->stawidth = nonnull > 0 ? (int) (width / nonnull) : 0;
	stats->stadistinct = 0;		/* unknown */
}

Datum
encrypted_typed_analyze(PG_FUNCTION_ARGS)
{
	VacAttrStats *stats = (VacAttrStats *) PG_GETARG_POINTER(0);

	stats->compute_stats = compute_typed_stats;
	stats->minrows = 300 * 100;
	PG_RETURN_BOOL(true);
}
