/*
 * kek_pkcs11.c
 *		The pkcs11: key-encryption-key source: a secret key in a PKCS#11
 *		token wraps and unwraps data keys inside the token, so the KEK
 *		never enters this backend's memory.
 *
 * The token's module is loaded with dlopen (never linked), through the
 * standard C API as p11-kit's header spells it.  kek.c opens one handle per
 * backend and source (ec_pkcs11_open), wraps and unwraps each data key with
 * CKM_AES_KEY_WRAP_PAD (RFC 5649, the bytes OpenSSL's
 * EVP_aes_256_wrap_pad gives, so file: and pkcs11: holding the same KEK
 * read each other's keys), and closes it when the source changes.
 *
 * A module is initialized once per process however many handles use it,
 * and the login state of a token is shared by all sessions on it, so a
 * short list of the open handles decides when C_Logout and C_Finalize
 * may run: only when the last handle on that token or module closes
 * (rotate_kek holds two handles on one module at once).
 *
 * Secrets here are the PIN (wiped right after C_Login, on every path) and
 * the data keys handed in and out (wiped by the caller; the session
 * objects that held them in the token are destroyed before returning).
 * Library calls are made with no ereport in between; their results are
 * reported once everything is cleaned up.
 */
#include "postgres.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "utils/memutils.h"

#include "compat.h"
#include "encrypted_column.h"
#include "kek.h"
#include "pkcs11_uri.h"

#define PIN_MAX			256		/* longer PIN files are refused */
#define DESC_MAX		160

/* One open token session holding one KEK. */
typedef struct ec_p11
{
	void	   *dl;				/* dlopen handle of the module */
	CK_FUNCTION_LIST_PTR f;
	bool		initialized;	/* this module was C_Initialize'd by us */
	CK_SLOT_ID	slot;
	bool		have_slot;
	CK_SESSION_HANDLE session;
	bool		have_session;
	bool		logged_in;
	CK_OBJECT_HANDLE key;
	char		desc[DESC_MAX]; /* "key "kek1" in token "ec"", for messages */
	struct ec_p11 *next;		/* in open_handles */
} ec_p11;

/* Handles that are open in this backend (a handful at most). */
static ec_p11 *open_handles = NULL;

/* Name of a PKCS#11 return value, for messages. */
static const char *
ckr_name(CK_RV rv)
{
	switch (rv)
	{
#define CKR(x) case x: return #x
			CKR(CKR_OK);
			CKR(CKR_CANCEL);
			CKR(CKR_HOST_MEMORY);
			CKR(CKR_SLOT_ID_INVALID);
			CKR(CKR_GENERAL_ERROR);
			CKR(CKR_FUNCTION_FAILED);
			CKR(CKR_ARGUMENTS_BAD);
			CKR(CKR_ATTRIBUTE_READ_ONLY);
			CKR(CKR_ATTRIBUTE_SENSITIVE);
			CKR(CKR_ATTRIBUTE_TYPE_INVALID);
			CKR(CKR_ATTRIBUTE_VALUE_INVALID);
			CKR(CKR_DEVICE_ERROR);
			CKR(CKR_DEVICE_MEMORY);
			CKR(CKR_DEVICE_REMOVED);
			CKR(CKR_ENCRYPTED_DATA_INVALID);
			CKR(CKR_ENCRYPTED_DATA_LEN_RANGE);
			CKR(CKR_FUNCTION_NOT_SUPPORTED);
			CKR(CKR_KEY_HANDLE_INVALID);
			CKR(CKR_KEY_SIZE_RANGE);
			CKR(CKR_KEY_TYPE_INCONSISTENT);
			CKR(CKR_KEY_FUNCTION_NOT_PERMITTED);
			CKR(CKR_KEY_NOT_WRAPPABLE);
			CKR(CKR_KEY_UNEXTRACTABLE);
			CKR(CKR_MECHANISM_INVALID);
			CKR(CKR_MECHANISM_PARAM_INVALID);
			CKR(CKR_OBJECT_HANDLE_INVALID);
			CKR(CKR_OPERATION_ACTIVE);
			CKR(CKR_PIN_INCORRECT);
			CKR(CKR_PIN_INVALID);
			CKR(CKR_PIN_LEN_RANGE);
			CKR(CKR_PIN_EXPIRED);
			CKR(CKR_PIN_LOCKED);
			CKR(CKR_SESSION_CLOSED);
			CKR(CKR_SESSION_COUNT);
			CKR(CKR_SESSION_HANDLE_INVALID);
			CKR(CKR_SESSION_READ_ONLY);
			CKR(CKR_TEMPLATE_INCOMPLETE);
			CKR(CKR_TEMPLATE_INCONSISTENT);
			CKR(CKR_TOKEN_NOT_PRESENT);
			CKR(CKR_TOKEN_NOT_RECOGNIZED);
			CKR(CKR_USER_ALREADY_LOGGED_IN);
			CKR(CKR_USER_NOT_LOGGED_IN);
			CKR(CKR_USER_PIN_NOT_INITIALIZED);
			CKR(CKR_USER_TYPE_INVALID);
			CKR(CKR_UNWRAPPING_KEY_HANDLE_INVALID);
			CKR(CKR_UNWRAPPING_KEY_SIZE_RANGE);
			CKR(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
			CKR(CKR_WRAPPED_KEY_INVALID);
			CKR(CKR_WRAPPED_KEY_LEN_RANGE);
			CKR(CKR_WRAPPING_KEY_HANDLE_INVALID);
			CKR(CKR_WRAPPING_KEY_SIZE_RANGE);
			CKR(CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
			CKR(CKR_BUFFER_TOO_SMALL);
			CKR(CKR_CRYPTOKI_NOT_INITIALIZED);
			CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED);
#undef CKR
		default:
			return "an unknown return value";
	}
}

/* Report a failed library call: which function, what it said, which key. */
static pg_noreturn void
p11_fail(const ec_p11 *h, const char *fn, CK_RV rv)
{
	ereport(ERROR,
			(errcode(ERRCODE_SYSTEM_ERROR),
			 errmsg("PKCS#11 %s failed: %s (0x%08lX)", fn, ckr_name(rv),
					(unsigned long) rv),
			 errdetail("The key-encryption key is the PKCS#11 %s.", h->desc)));
}

/* Append a non-secret name from the URI to a message, unprintables as '?'. */
static void
desc_append(char *buf, const char *what, const ec_p11_value *v)
{
	size_t		n = strlen(buf);

	if (!v->set || n + strlen(what) + 4 >= DESC_MAX)
		return;
	n += snprintf(buf + n, DESC_MAX - n, "%s%s \"", n ? " " : "", what);
	for (size_t i = 0; i < v->len && n + 2 < DESC_MAX; i++)
	{
		unsigned char c = v->data[i];

		buf[n++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char) c : '?';
	}
	if (n + 2 <= DESC_MAX)
		buf[n++] = '"';
	buf[n] = '\0';
}

/* Describe the key that a URI names, for messages (never the PIN). */
static void
describe(const ec_p11_uri *uri, char *buf)
{
	buf[0] = '\0';
	if (uri->object.set)
		desc_append(buf, "key", &uri->object);
	if (uri->id.set)
	{
		size_t		n = strlen(buf);

		n += snprintf(buf + n, DESC_MAX - n, "%sid ", n ? " " : "key ");
		for (size_t i = 0; i < uri->id.len && n + 3 < DESC_MAX; i++)
			n += snprintf(buf + n, DESC_MAX - n, "%02x", uri->id.data[i]);
	}
	if (buf[0] == '\0')
		strlcpy(buf, "secret key", DESC_MAX);
	if (uri->token.set)
	{
		strlcat(buf, " in", DESC_MAX);
		desc_append(buf, "token", &uri->token);
	}
	else if (uri->serial.set)
	{
		strlcat(buf, " in", DESC_MAX);
		desc_append(buf, "the token with serial", &uri->serial);
	}
}

/* Another open handle on the same module, and optionally the same slot. */
static ec_p11 *
other_handle(const ec_p11 *h, bool same_slot)
{
	for (ec_p11 *o = open_handles; o != NULL; o = o->next)
		if (o != h && o->dl == h->dl &&
			(!same_slot || (o->have_slot && h->have_slot && o->slot == h->slot)))
			return o;
	return NULL;
}

/*
 * Undo whatever part of an open succeeded, in reverse order, and free the
 * handle.  Never ereports: it runs on error paths.
 */
static void
p11_release(ec_p11 *h)
{
	ec_p11	  **pp;

	for (pp = &open_handles; *pp != NULL; pp = &(*pp)->next)
		if (*pp == h)
		{
			*pp = h->next;
			break;
		}
	if (h->f != NULL)
	{
		/* the login is the token's, shared with other handles on it */
		if (h->logged_in && other_handle(h, true) == NULL)
			(void) h->f->C_Logout(h->session);
		if (h->have_session)
			(void) h->f->C_CloseSession(h->session);
		if (h->initialized && other_handle(h, false) == NULL)
			(void) h->f->C_Finalize(NULL);
	}
	if (h->dl != NULL)
		dlclose(h->dl);
	pfree(h);
}

/*
 * Read the PIN from a file that only the server's user (or root) controls,
 * as PostgreSQL requires of ssl_key_file: owned by the server's user with
 * no access for group or others, or owned by root with at most group read.
 * The trailing newline is not part of the PIN.
 */
static size_t
read_pin_file(const char *spec, const char *desc, char *pin)
{
	const char *path = spec;
	int			fd;
	ssize_t		n;
	size_t		len = 0;

	if (strncmp(path, "file://", 7) == 0)
		path += 7;
	else if (strncmp(path, "file:", 5) == 0)
		path += 5;
	if (path[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("PKCS#11 pin-source must be an absolute file path"),
				 errdetail("The key-encryption key is the PKCS#11 %s.", desc)));
	fd = ec_open_secret_file(path, "PKCS#11 PIN file");
	while (len < PIN_MAX + 1 &&
		   (n = read(fd, pin + len, PIN_MAX + 1 - len)) != 0)
	{
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			close(fd);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("could not read PKCS#11 PIN file \"%s\": %m", path)));
		}
		len += n;
	}
	close(fd);
	if (len > 0 && pin[len - 1] == '\n')
		len--;
	if (len > 0 && pin[len - 1] == '\r')
		len--;
	if (len == 0 || len > PIN_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("PKCS#11 PIN file \"%s\" is empty or longer than %d bytes",
						path, PIN_MAX)));
	return len;
}

/* Does a blank-padded CK_TOKEN_INFO field hold exactly the URI's value? */
static bool
field_matches(const ec_p11_value *v, const CK_UTF8CHAR *field, size_t size)
{
	if (!v->set)
		return true;
	if (v->len > size || memcmp(field, v->data, v->len) != 0)
		return false;
	for (size_t i = v->len; i < size; i++)
		if (field[i] != ' ')
			return false;
	return true;
}

/* Find the one slot whose token the URI names; ereports otherwise. */
static void
p11_find_slot(ec_p11 *h, const ec_p11_uri *uri)
{
	CK_ULONG	n = 0;
	CK_SLOT_ID *slots;
	CK_RV		rv;
	int			found = 0;

	rv = h->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		p11_fail(h, "C_GetSlotList", rv);
	slots = palloc((n + 1) * sizeof(CK_SLOT_ID));
	rv = h->f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		p11_fail(h, "C_GetSlotList", rv);
	for (CK_ULONG i = 0; i < n; i++)
	{
		CK_TOKEN_INFO ti;

		if (uri->has_slot_id && slots[i] != uri->slot_id)
			continue;
		rv = h->f->C_GetTokenInfo(slots[i], &ti);
		if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED)
			continue;
		if (rv != CKR_OK)
			p11_fail(h, "C_GetTokenInfo", rv);
		if (field_matches(&uri->token, ti.label, sizeof(ti.label)) &&
			field_matches(&uri->manufacturer, ti.manufacturerID,
						  sizeof(ti.manufacturerID)) &&
			field_matches(&uri->serial, ti.serialNumber, sizeof(ti.serialNumber)) &&
			field_matches(&uri->model, ti.model, sizeof(ti.model)))
		{
			if (found++ == 0)
				h->slot = slots[i];
		}
	}
	pfree(slots);
	if (found != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg(found == 0 ? "no PKCS#11 token matches the URI of the key-encryption key"
						: "several PKCS#11 tokens match the URI of the key-encryption key"),
				 errdetail("The key-encryption key is the PKCS#11 %s; %lu tokens are present.",
						   h->desc, (unsigned long) n),
				 errhint(found == 0 ? "Check the token label and that the server's environment names the module's configuration (SOFTHSM2_CONF for SoftHSM2)."
						 : "Add token, serial or slot-id to the URI.")));
	h->have_slot = true;
}

/* Log in with the PIN that the URI gives, wiping every copy of it. */
static void
p11_login(ec_p11 *h, const ec_p11_uri *uri)
{
	char		pin[PIN_MAX + 1];
	volatile size_t len = 0;
	volatile CK_RV rv = CKR_OK;

	if (!uri->pin_source.set && !uri->pin_value.set)
		return;					/* a token with its own PIN path, or none */
	PG_TRY();
	{
		if (uri->pin_source.set)
			len = read_pin_file((const char *) uri->pin_source.data, h->desc, pin);
		else
		{
			len = Min(uri->pin_value.len, PIN_MAX);
			memcpy(pin, uri->pin_value.data, len);
		}
		rv = h->f->C_Login(h->session, CKU_USER, (CK_UTF8CHAR_PTR) pin, len);
	}
	PG_FINALLY();
	{
		explicit_bzero(pin, sizeof(pin));
	}
	PG_END_TRY();
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID ||
		rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the PKCS#11 token refused the PIN: %s", ckr_name(rv)),
				 errdetail("The key-encryption key is the PKCS#11 %s.", h->desc),
				 errhint("Check the file that pin-source names.")));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		p11_fail(h, "C_Login", rv);
	h->logged_in = true;
}

/* Find exactly one secret AES-256 key with the URI's label and id. */
static void
p11_find_key(ec_p11 *h, const ec_p11_uri *uri)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG	nt = 0;
	CK_OBJECT_HANDLE found[2];
	CK_ULONG	n = 0;
	CK_RV		rv;
	CK_KEY_TYPE kt = 0;
	CK_ULONG	value_len = 0;
	CK_ATTRIBUTE info[2] = {
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_VALUE_LEN, &value_len, sizeof(value_len)},
	};

	tmpl[nt++] = (CK_ATTRIBUTE) {CKA_CLASS, &cls, sizeof(cls)};
	if (uri->object.set)
		tmpl[nt++] = (CK_ATTRIBUTE) {CKA_LABEL, uri->object.data, uri->object.len};
	if (uri->id.set)
		tmpl[nt++] = (CK_ATTRIBUTE) {CKA_ID, uri->id.data, uri->id.len};
	rv = h->f->C_FindObjectsInit(h->session, tmpl, nt);
	if (rv != CKR_OK)
		p11_fail(h, "C_FindObjectsInit", rv);
	rv = h->f->C_FindObjects(h->session, found, 2, &n);
	(void) h->f->C_FindObjectsFinal(h->session);
	if (rv != CKR_OK)
		p11_fail(h, "C_FindObjects", rv);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg(n == 0 ? "the PKCS#11 token holds no secret key that matches the URI of the key-encryption key"
						: "the PKCS#11 token holds several secret keys that match the URI of the key-encryption key"),
				 errdetail("The key-encryption key is the PKCS#11 %s.", h->desc),
				 errhint(n == 0 ? (h->logged_in ? "Check the object label and id."
								   : "Check the object label and id; a private key needs a PIN (pin-source).")
						 : "Add object or id to the URI so that it names one key.")));
	h->key = found[0];
	rv = h->f->C_GetAttributeValue(h->session, h->key, info, 2);
	if (rv == CKR_OK && (kt != CKK_AES || value_len != EC_KEK_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the PKCS#11 key-encryption key is not an AES-256 key"),
				 errdetail("The key-encryption key is the PKCS#11 %s.", h->desc)));
}

/* See kek.h. */
void *
ec_pkcs11_open(const char *uri_text)
{
	ec_p11_uri	uri;
	char		err[EC_P11_URI_ERR_LEN];
	ec_p11	   *volatile h = NULL;

	if (!ec_p11_uri_parse(uri_text, strlen(uri_text), &uri, err))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("invalid PKCS#11 URI in encrypted_column.kek_source: %s", err)));
	PG_TRY();
	{
		CK_C_GetFunctionList get_list;
		CK_RV		rv;
		const char *module = (const char *) uri.module_path.data;

		h = MemoryContextAllocZero(TopMemoryContext, sizeof(ec_p11));
		describe(&uri, h->desc);
		if (module[0] != '/')
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("PKCS#11 module-path must be an absolute path")));
		h->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
		if (h->dl == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("could not load PKCS#11 module \"%s\"", module),
					 errdetail_internal("%s", dlerror())));
		get_list = (CK_C_GetFunctionList) dlsym(h->dl, "C_GetFunctionList");
		if (get_list == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("\"%s\" is not a PKCS#11 module: it has no C_GetFunctionList",
							module)));
		rv = get_list(&h->f);
		if (rv != CKR_OK || h->f == NULL)
		{
			h->f = NULL;
			p11_fail(h, "C_GetFunctionList", rv);
		}
		rv = h->f->C_Initialize(NULL);
		if (rv == CKR_OK)
			h->initialized = true;
		else if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		{
			/* by an earlier handle of ours, which passes the duty on */
			ec_p11	   *o = other_handle(h, false);

			h->initialized = o != NULL && o->initialized;
		}
		else
			p11_fail(h, "C_Initialize", rv);
		h->next = open_handles;
		open_handles = h;

		p11_find_slot(h, &uri);
		rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL,
								 &h->session);
		if (rv != CKR_OK)
			p11_fail(h, "C_OpenSession", rv);
		h->have_session = true;
		p11_login(h, &uri);
		p11_find_key(h, &uri);
	}
	PG_CATCH();
	{
		if (h != NULL)
			p11_release(h);
		ec_p11_uri_free(&uri);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ec_p11_uri_free(&uri);
	return h;
}

/* See kek.h. */
void
ec_pkcs11_wrap(void *handle, const uint8_t *key, size_t key_len,
			   uint8_t *wrapped)
{
	ec_p11	   *h = handle;
	CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL	no = CK_FALSE;
	CK_BBOOL	yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_TOKEN, &no, sizeof(no)},
		{CKA_SENSITIVE, &no, sizeof(no)},
		{CKA_EXTRACTABLE, &yes, sizeof(yes)},
		{CKA_VALUE, (CK_VOID_PTR) key, key_len},
	};
	CK_OBJECT_HANDLE obj;
	uint8_t		out[EC_WRAPPED_LEN + 32];
	CK_ULONG	out_len = sizeof(out);
	CK_RV		rv;
	const char *fn = "C_CreateObject";

	if (key_len != EC_DATA_KEY_LEN)
		elog(ERROR, "a data key to wrap has %zu bytes", key_len);
	rv = h->f->C_CreateObject(h->session, tmpl, lengthof(tmpl), &obj);
	if (rv == CKR_OK)
	{
		fn = "C_WrapKey";
		rv = h->f->C_WrapKey(h->session, &mech, h->key, obj, out, &out_len);
		(void) h->f->C_DestroyObject(h->session, obj);
	}
	if (rv != CKR_OK)
		p11_fail(h, fn, rv);
	if (out_len != EC_WRAPPED_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("PKCS#11 C_WrapKey with CKM_AES_KEY_WRAP_PAD gave %lu bytes for a 32-byte key, not the 40 of RFC 5649",
						(unsigned long) out_len),
				 errdetail("The key-encryption key is the PKCS#11 %s.", h->desc)));
	memcpy(wrapped, out, EC_WRAPPED_LEN);
}

/* See kek.h. */
bool
ec_pkcs11_unwrap(void *handle, const uint8_t *wrapped, size_t wrapped_len,
				 uint8_t *key)
{
	ec_p11	   *h = handle;
	CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL	no = CK_FALSE;
	CK_BBOOL	yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_TOKEN, &no, sizeof(no)},
		{CKA_SENSITIVE, &no, sizeof(no)},
		{CKA_EXTRACTABLE, &yes, sizeof(yes)},
	};
	uint8_t		value[EC_DATA_KEY_LEN];
	CK_ATTRIBUTE get = {CKA_VALUE, value, sizeof(value)};
	CK_OBJECT_HANDLE obj;
	CK_RV		rv;
	const char *fn = "C_UnwrapKey";

	rv = h->f->C_UnwrapKey(h->session, &mech, h->key, (CK_BYTE_PTR) wrapped,
						   wrapped_len, tmpl, lengthof(tmpl), &obj);
	if (rv == CKR_OK)
	{
		fn = "C_GetAttributeValue";
		rv = h->f->C_GetAttributeValue(h->session, obj, &get, 1);
		(void) h->f->C_DestroyObject(h->session, obj);
	}
	if (rv == CKR_OK && get.ulValueLen == EC_DATA_KEY_LEN)
	{
		memcpy(key, value, EC_DATA_KEY_LEN);
		explicit_bzero(value, sizeof(value));
		return true;
	}
	explicit_bzero(value, sizeof(value));
	/* the wrapped bytes do not verify under this KEK, or hold no data key */
	if (rv == CKR_OK || rv == CKR_WRAPPED_KEY_INVALID ||
		rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_INVALID ||
		rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_BUFFER_TOO_SMALL)
		return false;

	/*
	 * SoftHSM2 (2.6) answers an RFC 5649 integrity failure with
	 * CKR_GENERAL_ERROR.  When the session is still healthy afterwards the
	 * token itself works, so the failure is the wrapped bytes'.
	 */
	if (strcmp(fn, "C_UnwrapKey") == 0 &&
		(rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED))
	{
		CK_SESSION_INFO si;

		if (h->f->C_GetSessionInfo(h->session, &si) == CKR_OK &&
			(si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS ||
			 !h->logged_in))
			return false;
	}
	p11_fail(h, fn, rv);
}

/* See kek.h. */
void
ec_pkcs11_close(void *handle)
{
	if (handle != NULL)
		p11_release(handle);
}
