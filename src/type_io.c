/*
 * type_io.c
 *		Input, output, receive and send of encrypted_text and
 *		encrypted_text_det, and the casts from text and varchar.
 *
 * One piece of code serves both types; an ec_type says which algorithm an
 * envelope must carry, so an envelope of one type is never accepted as the
 * other, by any way in.
 * Text coming in is plaintext and is encrypted here.  Text that starts
 * with the ciphertext prefix is refused unless the session has set
 * encrypted_column.accept_ciphertext, so a stolen ciphertext cannot be
 * laundered through an ordinary insert (a Citus node's shipped values are
 * the one other exception, see citus.c); with the switch on it must be a
 * well-formed envelope and is stored as it is.  Text going out is always
 * the ciphertext text form.  The binary path carries envelopes only.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "compat.h"
#include "encrypted_column.h"

PG_FUNCTION_INFO_V1(encrypted_text_in);
PG_FUNCTION_INFO_V1(encrypted_text_out);
PG_FUNCTION_INFO_V1(encrypted_text_recv);
PG_FUNCTION_INFO_V1(encrypted_text_send);
PG_FUNCTION_INFO_V1(encrypted_text_from_text);
PG_FUNCTION_INFO_V1(encrypted_text_det_in);
PG_FUNCTION_INFO_V1(encrypted_text_det_recv);
PG_FUNCTION_INFO_V1(encrypted_text_det_from_text);

/*
 * Decode a ciphertext text form into an envelope datum.  Returns NULL after
 * a soft error when escontext can hold one.
 */
static struct varlena *
ciphertext_in(const ec_type *type, const char *str, size_t len,
			  Node *escontext)
{
	struct varlena *result;
	ec_envelope env;
	ec_envelope_status status;
	size_t		env_len = 0;

	result = (struct varlena *) palloc(VARHDRSZ + ec_text_decoded_max(len));
	status = ec_text_decode(str, len, (uint8_t *) VARDATA(result), &env_len);
	if (status == EC_ENV_OK)
		status = ec_envelope_parse((const uint8_t *) VARDATA(result), env_len,
								   type->algorithm, &env);
	if (status != EC_ENV_OK)
	{
		pfree(result);
		ereturn(escontext, NULL,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", type->name),
				 errdetail("%s", ec_envelope_status_detail(status))));
	}
	SET_VARSIZE(result, VARHDRSZ + env_len);
	return result;
}

/*
 * The single way in from text: encrypt plaintext, or take a ciphertext text
 * form when the restore switch is on, or when the input function reads a
 * value that a cluster node shipped (ec_input_may_take_ciphertext: citus.c).
 */
static struct varlena *
text_to_encrypted(const ec_type *type, const char *str, size_t len,
				  bool input_function, int32 typmod, Node *escontext)
{
	ErrorContextCallback *saved_context;
	struct varlena *result;

	if (ec_text_has_prefix(str, len))
	{
		result = ec_ciphertext_in(type, str, len, input_function, escontext);
		return result == NULL ? NULL : ec_apply_typmod(result, typmod);
	}

	/*
	 * Callers such as COPY add the raw field to the error context, and here
	 * the field is plaintext: errors raised while encrypting go out without
	 * any context.  Error recovery restores the stack.
	 */
	saved_context = error_context_stack;
	error_context_stack = NULL;
	result = ec_seal_text_with_key(type, ec_current_key(), str, len, NULL, 0,
								   typmod);
	error_context_stack = saved_context;
	return result;
}

/*
 * A ciphertext text form coming in: refused unless the restore switch is
 * on, or the input function reads a value that a cluster node shipped
 * (ec_input_may_take_ciphertext: citus.c); then decoded and checked.
 */
struct varlena *
ec_ciphertext_in(const ec_type *type, const char *str, size_t len,
				 bool input_function, Node *escontext)
{
	{
		if (!ec_accept_ciphertext && !(input_function && ec_input_may_take_ciphertext &&
									  ec_input_may_take_ciphertext()))
			ereturn(escontext, NULL,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("input looks like an %s ciphertext", type->name),
					 errdetail("Text input is encrypted as plaintext, and this value starts with the ciphertext prefix \"%s\".",
							   EC_TEXT_PREFIX),
					 errhint("To restore ciphertext from a dump, set encrypted_column.accept_ciphertext = on for the session. "
							 "To encrypt a plaintext that starts with the prefix, use %s().",
							 type->encrypt_fn)));
		return ciphertext_in(type, str, len, escontext);
	}
}

/* Input function of either type: plaintext in, envelope stored. */
static Datum
type_in(FunctionCallInfo fcinfo, const ec_type *type)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int32		typmod = PG_NARGS() >= 3 && type == &ec_type_gcm ? PG_GETARG_INT32(2) : -1;
	struct varlena *result;

	result = text_to_encrypted(type, str, strlen(str), true, typmod,
							   EC_ESCONTEXT(fcinfo));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(result);
}

/* encrypted_text input. */
Datum
encrypted_text_in(PG_FUNCTION_ARGS)
{
	return type_in(fcinfo, &ec_type_gcm);
}

/* encrypted_text_det input. */
Datum
encrypted_text_det_in(PG_FUNCTION_ARGS)
{
	return type_in(fcinfo, &ec_type_siv);
}

/* Output function of both types: the ciphertext text form, never plaintext. */
Datum
encrypted_text_out(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	size_t		len = VARSIZE_ANY_EXHDR(value);
	char	   *out = palloc(ec_text_encoded_len(len) + 1);

	ec_text_encode((const uint8_t *) VARDATA_ANY(value), len, out);
	PG_FREE_IF_COPY(value, 0);
	PG_RETURN_CSTRING(out);
}

/* Envelope bytes coming in, checked before they are stored. */
struct varlena *
ec_envelope_recv(FunctionCallInfo fcinfo, const ec_type *type)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *bytes = pq_getmsgbytes(buf, len);
	ec_envelope env;
	ec_envelope_status status;
	struct varlena *result;

	status = ec_envelope_parse((const uint8_t *) bytes, len,
							   type->algorithm, &env);
	if (status != EC_ENV_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary representation of an %s value", type->name),
				 errdetail("%s", ec_envelope_status_detail(status))));
	/* no longer than an encrypting function would make it: it must print */
	if (env.ciphertext_len > ec_max_plaintext_len(type->overhead))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary representation of an %s value", type->name),
				 errdetail("The envelope is longer than any that encryption makes (at most %zu bytes of plaintext), and its text form could not be printed.",
						   ec_max_plaintext_len(type->overhead))));
	result = (struct varlena *) palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), bytes, len);
	return result;
}

/* Receive function of either text type; encrypted_text applies its modifier. */
static Datum
type_recv(FunctionCallInfo fcinfo, const ec_type *type)
{
	int32		typmod = PG_NARGS() >= 3 && type == &ec_type_gcm ? PG_GETARG_INT32(2) : -1;

	PG_RETURN_POINTER(ec_apply_typmod(ec_envelope_recv(fcinfo, type), typmod));
}

/* encrypted_text binary input. */
Datum
encrypted_text_recv(PG_FUNCTION_ARGS)
{
	return type_recv(fcinfo, &ec_type_gcm);
}

/* encrypted_text_det binary input. */
Datum
encrypted_text_det_recv(PG_FUNCTION_ARGS)
{
	return type_recv(fcinfo, &ec_type_siv);
}

/* Send function of both types: the envelope bytes. */
Datum
encrypted_text_send(PG_FUNCTION_ARGS)
{
	struct varlena *value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_FREE_IF_COPY(value, 0);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* What a cast from text seals into: the type, and the column's modifier. */
typedef struct cast_target
{
	const ec_type *type;
	int32		typmod;
} cast_target;

/* Encrypt the bytes of a text argument, as the input function would. */
static struct varlena *
cast_plain(const char *plain, size_t len, void *arg)
{
	cast_target *target = (cast_target *) arg;

	return text_to_encrypted(target->type, plain, len, false, target->typmod,
							 NULL);
}

/*
 * Cast from text and varchar to encrypted_text: the input function's
 * rules; declared with the type modifier's argument (0.5.0), the value
 * gets the column's search terms as it is sealed.
 */
Datum
encrypted_text_from_text(PG_FUNCTION_ARGS)
{
	cast_target target = {&ec_type_gcm, PG_NARGS() >= 2 ? PG_GETARG_INT32(1) : -1};

	PG_RETURN_POINTER(ec_apply_to_plain(PG_GETARG_DATUM(0), cast_plain, &target));
}

/* Cast from text and varchar to encrypted_text_det: the same rules. */
Datum
encrypted_text_det_from_text(PG_FUNCTION_ARGS)
{
	cast_target target = {&ec_type_siv, -1};

	PG_RETURN_POINTER(ec_apply_to_plain(PG_GETARG_DATUM(0), cast_plain, &target));
}
