/*
 * pkcs11_uri.c
 *		RFC 7512 PKCS#11 URIs: parse and percent-decode the attributes of a
 *		"pkcs11:" key-encryption-key source.
 *
 * Strict on purpose: a URI that names a key which encrypts every data key
 * should mean one thing only, so unknown, repeated and malformed
 * attributes are refused instead of ignored.  Messages name the attribute,
 * never its value, because pin-value is a PIN and a mistyped separator can
 * put a PIN where a name or value is expected.  No server header here: the
 * fuzzer links this file alone (fuzz/fuzz_pkcs11_uri.c).
 */
#define _DEFAULT_SOURCE			/* explicit_bzero */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "pkcs11_uri.h"

#define URI_SCHEME "pkcs11:"

/* How one attribute name is stored. */
typedef enum attr_kind
{
	ATTR_VALUE,					/* a decoded value in an ec_p11_value */
	ATTR_SLOT_ID,				/* a decimal number */
	ATTR_TYPE					/* must decode to "secret-key" */
} attr_kind;

/* One attribute the parser knows: its name, where it goes, its part. */
typedef struct attr_def
{
	const char *name;
	bool		query;			/* after '?' (else in the path) */
	attr_kind	kind;
	size_t		offset;			/* of its ec_p11_value in ec_p11_uri */
} attr_def;

static const attr_def attrs[] = {
	{"token", false, ATTR_VALUE, offsetof(ec_p11_uri, token)},
	{"manufacturer", false, ATTR_VALUE, offsetof(ec_p11_uri, manufacturer)},
	{"serial", false, ATTR_VALUE, offsetof(ec_p11_uri, serial)},
	{"model", false, ATTR_VALUE, offsetof(ec_p11_uri, model)},
	{"slot-id", false, ATTR_SLOT_ID, 0},
	{"object", false, ATTR_VALUE, offsetof(ec_p11_uri, object)},
	{"id", false, ATTR_VALUE, offsetof(ec_p11_uri, id)},
	{"type", false, ATTR_TYPE, 0},
	{"module-path", true, ATTR_VALUE, offsetof(ec_p11_uri, module_path)},
	{"pin-source", true, ATTR_VALUE, offsetof(ec_p11_uri, pin_source)},
	{"pin-value", true, ATTR_VALUE, offsetof(ec_p11_uri, pin_value)},
};

#define N_ATTRS (sizeof(attrs) / sizeof(attrs[0]))

/*
 * Is c allowed unescaped in a value?  RFC 7512 section 2.3: unreserved
 * characters and a few others, with '&' allowed in the path and '/', '?'
 * and '|' in the query.
 */
static bool
value_char(unsigned char c, bool query)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9'))
		return true;
	if (strchr("-._~:[]@!$'()*+,=", c) != NULL && c != '\0')
		return true;
	if (query)
		return c == '/' || c == '?' || c == '|';
	return c == '&';
}

/* Wipe and free one value, leaving it unset. */
static void
value_free(ec_p11_value *v)
{
	if (v->data != NULL)
	{
		explicit_bzero(v->data, v->len);
		free(v->data);
	}
	v->data = NULL;
	v->len = 0;
	v->set = false;
}

/*
 * Percent-decode text[0..len) into a new NUL-terminated buffer; NULL with
 * *why set when an escape is malformed, a character is not allowed, or
 * memory runs out.
 */
static unsigned char *
decode(const char *text, size_t len, bool query, size_t *out_len,
	   const char **why)
{
	unsigned char *out = malloc(len + 1);
	size_t		n = 0;

	if (out == NULL)
	{
		*why = "out of memory";
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (c == '%')
		{
			if (len - i < 3 || ec_hex_digit((char) text[i + 1]) < 0 ||
				ec_hex_digit((char) text[i + 2]) < 0)
			{
				*why = "a malformed percent escape";
				explicit_bzero(out, n);
				free(out);
				return NULL;
			}
			out[n++] = (unsigned char) (ec_hex_digit((char) text[i + 1]) << 4 |
										ec_hex_digit((char) text[i + 2]));
			i += 2;
		}
		else if (value_char(c, query))
			out[n++] = c;
		else
		{
			*why = "a character that must be percent-encoded";
			explicit_bzero(out, n);
			free(out);
			return NULL;
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/*
 * Print a name taken from the URI into a message only when it looks like
 * an attribute name, since text that lost its '=' may be a PIN.
 */
static bool
printable_name(const char *name, size_t len)
{
	if (len == 0 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '-' ||
			  (name[i] >= '0' && name[i] <= '9') ||
			  (name[i] >= 'A' && name[i] <= 'Z')))
			return false;
	return true;
}

/* Parse one "name=value" attribute of the path or the query. */
static bool
parse_attr(const char *text, size_t len, bool query, int ordinal,
		   ec_p11_uri *uri, char *err)
{
	const char *eq = memchr(text, '=', len);
	const char *part = query ? "query" : "path";
	const attr_def *def = NULL;
	size_t		name_len;
	unsigned char *val;
	size_t		val_len;
	const char *why = NULL;

	if (len == 0)
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "empty %s attribute number %d", part, ordinal);
		return false;
	}
	if (eq == NULL)
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "%s attribute number %d has no \"=\"", part, ordinal);
		return false;
	}
	name_len = (size_t) (eq - text);
	for (size_t i = 0; i < N_ATTRS; i++)
		if (strlen(attrs[i].name) == name_len &&
			memcmp(attrs[i].name, text, name_len) == 0)
			def = &attrs[i];
	if (def == NULL || def->query != query)
	{
		const char *hint = "";

		if (name_len == 11 && memcmp(text, "module-name", 11) == 0)
			hint = " (give module-path instead)";
		if (printable_name(text, name_len))
			snprintf(err, EC_P11_URI_ERR_LEN,
					 "unknown or unsupported %s attribute \"%.*s\"%s",
					 part, (int) name_len, text, hint);
		else
			snprintf(err, EC_P11_URI_ERR_LEN,
					 "%s attribute number %d has an invalid name",
					 part, ordinal);
		return false;
	}

	val = decode(eq + 1, len - name_len - 1, query, &val_len, &why);
	if (val == NULL)
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "attribute \"%s\" has %s", def->name, why);
		return false;
	}

	switch (def->kind)
	{
		case ATTR_VALUE:
			{
				ec_p11_value *v = (ec_p11_value *) ((char *) uri + def->offset);

				if (v->set)
				{
					why = "is given twice";
					break;
				}
				v->set = true;
				v->data = val;
				v->len = val_len;
				return true;
			}
		case ATTR_SLOT_ID:
			if (uri->has_slot_id)
			{
				why = "is given twice";
				break;
			}
			if (val_len == 0 || val_len > 19 ||
				strspn((char *) val, "0123456789") != val_len)
			{
				why = "is not a decimal number";
				break;
			}
			uri->slot_id = strtoul((char *) val, NULL, 10);
			uri->has_slot_id = true;
			break;
		case ATTR_TYPE:
			if (uri->has_type)
			{
				why = "is given twice";
				break;
			}
			if (val_len != 10 || memcmp(val, "secret-key", 10) != 0)
			{
				why = "is not \"secret-key\" (a key-encryption key is a secret key)";
				break;
			}
			uri->has_type = true;
			break;
	}
	explicit_bzero(val, val_len);
	free(val);
	if (why != NULL)
	{
		snprintf(err, EC_P11_URI_ERR_LEN, "attribute \"%s\" %s",
				 def->name, why);
		return false;
	}
	return true;
}

/*
 * Split one part of the URI at sep and parse each attribute; an empty part
 * has no attributes (so "pkcs11:?module-path=..." is fine).
 */
static bool
parse_part(const char *text, size_t len, char sep, bool query,
		   ec_p11_uri *uri, char *err)
{
	size_t		start = 0;
	int			ordinal = 1;

	if (len == 0)
		return true;
	for (size_t i = 0; i <= len; i++)
	{
		if (i == len || text[i] == sep)
		{
			if (!parse_attr(text + start, i - start, query, ordinal, uri, err))
				return false;
			ordinal++;
			start = i + 1;
		}
	}
	return true;
}

/* Check the pieces that only make sense together. */
static bool
check_whole(ec_p11_uri *uri, char *err)
{
	if (!uri->module_path.set)
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "attribute \"module-path\" is required");
		return false;
	}
	if (uri->pin_source.set && uri->pin_value.set)
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "attributes \"pin-source\" and \"pin-value\" exclude each other");
		return false;
	}
	/* paths are handed to dlopen() and open() as C strings */
	if (memchr(uri->module_path.data, '\0', uri->module_path.len) != NULL ||
		uri->module_path.len == 0)
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "attribute \"module-path\" is empty or holds a NUL byte");
		return false;
	}
	if (uri->pin_source.set &&
		(memchr(uri->pin_source.data, '\0', uri->pin_source.len) != NULL ||
		 uri->pin_source.len == 0))
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "attribute \"pin-source\" is empty or holds a NUL byte");
		return false;
	}
	return true;
}

/* See pkcs11_uri.h. */
bool
ec_p11_uri_parse(const char *text, size_t len, ec_p11_uri *uri, char *err)
{
	const size_t scheme_len = sizeof(URI_SCHEME) - 1;
	const char *q;
	size_t		path_len;

	memset(uri, 0, sizeof(*uri));
	err[0] = '\0';
	if (len < scheme_len || memcmp(text, URI_SCHEME, scheme_len) != 0)
	{
		snprintf(err, EC_P11_URI_ERR_LEN, "it does not start with \"pkcs11:\"");
		return false;
	}
	text += scheme_len;
	len -= scheme_len;
	q = memchr(text, '?', len);
	path_len = q != NULL ? (size_t) (q - text) : len;
	if (memchr(text, '#', len) != NULL)
	{
		snprintf(err, EC_P11_URI_ERR_LEN,
				 "it has a fragment (\"#\"), which PKCS#11 URIs do not have");
		return false;
	}
	if (!parse_part(text, path_len, ';', false, uri, err) ||
		(q != NULL &&
		 !parse_part(q + 1, len - path_len - 1, '&', true, uri, err)) ||
		!check_whole(uri, err))
	{
		ec_p11_uri_free(uri);
		return false;
	}
	return true;
}

/* See pkcs11_uri.h. */
void
ec_p11_uri_free(ec_p11_uri *uri)
{
	value_free(&uri->token);
	value_free(&uri->manufacturer);
	value_free(&uri->serial);
	value_free(&uri->model);
	value_free(&uri->object);
	value_free(&uri->id);
	value_free(&uri->module_path);
	value_free(&uri->pin_source);
	value_free(&uri->pin_value);
	memset(uri, 0, sizeof(*uri));
}
