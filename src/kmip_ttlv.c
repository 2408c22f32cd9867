/*
 * kmip_ttlv.c
 *		KMIP's TTLV encoding for the kmip:// key-encryption-key source: the
 *		Get request written, its response read with every length checked.
 *
 * Only what a Get of one symmetric key needs is here (KMIP 1.2, OASIS
 * kmip-spec-v1.2, sections 7 and 9).  The reader walks the fixed shape of
 * a Get response without recursion, so no input can make it deep; items it
 * does not know are stepped over, but only after their lengths were found
 * to lie inside their parent.  Nothing here allocates or prints, so the
 * fuzzing harness runs it as the server does.
 */
#include <string.h>

#include "kmip_ttlv.h"

/* tags (KMIP 1.2, section 9.1.3.1) */
#define TAG_BATCH_COUNT			0x42000D
#define TAG_BATCH_ITEM			0x42000F
#define TAG_CRYPTO_ALGORITHM	0x420028
#define TAG_CRYPTO_LENGTH		0x42002A
#define TAG_KEY					0x42003F
#define TAG_KEY_BLOCK			0x420040
#define TAG_KEY_FORMAT_TYPE		0x420042
#define TAG_KEY_MATERIAL		0x420043
#define TAG_KEY_VALUE			0x420045
#define TAG_KEY_WRAPPING_DATA	0x420046
#define TAG_OBJECT_TYPE			0x420057
#define TAG_OPERATION			0x42005C
#define TAG_PROTOCOL_VERSION	0x420069
#define TAG_PROTOCOL_MAJOR		0x42006A
#define TAG_PROTOCOL_MINOR		0x42006B
#define TAG_REQUEST_HEADER		0x420077
#define TAG_REQUEST_MESSAGE		0x420078
#define TAG_REQUEST_PAYLOAD		0x420079
#define TAG_RESPONSE_HEADER		0x42007A
#define TAG_RESPONSE_MESSAGE	0x42007B
#define TAG_RESPONSE_PAYLOAD	0x42007C
#define TAG_RESULT_MESSAGE		0x42007D
#define TAG_RESULT_REASON		0x42007E
#define TAG_RESULT_STATUS		0x42007F
#define TAG_SYMMETRIC_KEY		0x42008F
#define TAG_UNIQUE_IDENTIFIER	0x420094

/* item types (section 9.1.1.2) */
#define TYPE_STRUCTURE			0x01
#define TYPE_INTEGER			0x02
#define TYPE_ENUMERATION		0x05
#define TYPE_TEXT_STRING		0x07
#define TYPE_BYTE_STRING		0x08

#define OPERATION_GET			0x0A

/* One item as read: its value points into the buffer. */
typedef struct ttlv_item
{
	uint32_t	tag;
	uint8_t		type;
	size_t		len;
	const uint8_t *value;
} ttlv_item;

/* A run of items being read: the next item's start and the run's end. */
typedef struct ttlv_cursor
{
	const uint8_t *at;
	const uint8_t *end;
} ttlv_cursor;

/* Read a big-endian 32-bit number. */
static uint32_t
get_u32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/* Write a big-endian 32-bit number. */
static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

/*
 * Step to the next item of a run.  Returns 1 with the item, 0 at the end of
 * the run, -1 when the item's header or padded value would pass the end:
 * the one place where a length from the wire is trusted or not.
 */
static int
ttlv_next(ttlv_cursor *cur, ttlv_item *item)
{
	size_t		left = (size_t) (cur->end - cur->at);
	size_t		padded;

	if (left == 0)
		return 0;
	if (left < EC_TTLV_HEADER_LEN)
		return -1;
	item->tag = get_u32(cur->at) >> 8;
	item->type = cur->at[3];
	item->len = get_u32(cur->at + 4);
	/* a 32-bit length plus 7 cannot overflow a size_t of 64 bits */
	padded = (item->len + 7) & ~(size_t) 7;
	if (padded > left - EC_TTLV_HEADER_LEN)
		return -1;
	/* a structure holds whole items, so its length is a multiple of 8 */
	if (item->type == TYPE_STRUCTURE && item->len != padded)
		return -1;
	item->value = cur->at + EC_TTLV_HEADER_LEN;
	cur->at += EC_TTLV_HEADER_LEN + padded;
	return 1;
}

/* The run of items inside a structure item. */
static ttlv_cursor
ttlv_inside(const ttlv_item *item)
{
	ttlv_cursor c;

	c.at = item->value;
	c.end = item->value + item->len;
	return c;
}

/* Read an Enumeration (unsigned) or Integer (signed) of 4 bytes; false if
 * the item is of another type or length. */
static bool
ttlv_number(const ttlv_item *item, uint8_t type, int64_t *out)
{
	uint32_t	v;

	if (item->type != type || item->len != 4)
		return false;
	v = get_u32(item->value);
	*out = type == TYPE_INTEGER ? (int64_t) (int32_t) v : (int64_t) v;
	return true;
}

/*
 * Take a field once: false when it came before (a response that says two
 * things about one field is not believed), else marks it seen.
 */
static bool
first_time(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

/* Write one item's header at out. */
static uint8_t *
put_header(uint8_t *out, uint32_t tag, uint8_t type, uint32_t len)
{
	put_u32(out, (tag << 8) | type);
	put_u32(out + 4, len);
	return out + EC_TTLV_HEADER_LEN;
}

/* Write a 4-byte Integer or Enumeration item with its 4 bytes of padding. */
static uint8_t *
put_number(uint8_t *out, uint32_t tag, uint8_t type, uint32_t v)
{
	out = put_header(out, tag, type, 4);
	put_u32(out, v);
	memset(out + 4, 0, 4);
	return out + 8;
}

/* Build a KMIP 1.2 Get request for one object; see kmip_ttlv.h. */
size_t
ec_kmip_build_get(const char *uid, size_t uid_len, uint8_t *out)
{
	size_t		uid_padded;
	size_t		payload_len;
	size_t		item_len;
	size_t		header_len;
	size_t		total;
	uint8_t    *p = out;

	if (uid == NULL || uid_len == 0 || uid_len > EC_KMIP_MAX_ID_LEN)
		return 0;
	uid_padded = (uid_len + 7) & ~(size_t) 7;
	/* Protocol Version {Major, Minor} and Batch Count */
	header_len = (8 + 16 + 16) + 16;
	/* Operation, Request Payload {Unique Identifier} */
	payload_len = 8 + uid_padded;
	item_len = 16 + 8 + payload_len;
	total = 8 + (8 + header_len) + (8 + item_len);
	if (total > EC_KMIP_REQUEST_MAX)
		return 0;

	p = put_header(p, TAG_REQUEST_MESSAGE, TYPE_STRUCTURE,
				   (uint32_t) (total - 8));
	p = put_header(p, TAG_REQUEST_HEADER, TYPE_STRUCTURE, (uint32_t) header_len);
	p = put_header(p, TAG_PROTOCOL_VERSION, TYPE_STRUCTURE, 32);
	p = put_number(p, TAG_PROTOCOL_MAJOR, TYPE_INTEGER, 1);
	p = put_number(p, TAG_PROTOCOL_MINOR, TYPE_INTEGER, 2);
	p = put_number(p, TAG_BATCH_COUNT, TYPE_INTEGER, 1);
	p = put_header(p, TAG_BATCH_ITEM, TYPE_STRUCTURE, (uint32_t) item_len);
	p = put_number(p, TAG_OPERATION, TYPE_ENUMERATION, OPERATION_GET);
	p = put_header(p, TAG_REQUEST_PAYLOAD, TYPE_STRUCTURE,
				   (uint32_t) payload_len);
	p = put_header(p, TAG_UNIQUE_IDENTIFIER, TYPE_TEXT_STRING,
				   (uint32_t) uid_len);
	memcpy(p, uid, uid_len);
	memset(p + uid_len, 0, uid_padded - uid_len);
	p += uid_padded;
	return (size_t) (p - out);
}

/* The length of a whole response from its first 8 bytes; see kmip_ttlv.h. */
size_t
ec_kmip_response_length(const uint8_t *header)
{
	uint32_t	len = get_u32(header + 4);

	if (get_u32(header) != ((TAG_RESPONSE_MESSAGE << 8) | TYPE_STRUCTURE))
		return 0;
	if (len % 8 != 0 || len > EC_KMIP_MAX_RESPONSE - EC_TTLV_HEADER_LEN)
		return 0;
	return EC_TTLV_HEADER_LEN + (size_t) len;
}

/*
 * Read Key Value: a structure with Key Material, which is a byte string for
 * the Raw format or a structure with Key for Transparent Symmetric Key.  A
 * Key Value that is itself a byte string is a wrapped key.
 */
static ec_kmip_status
parse_key_value(const ttlv_item *kv, ec_kmip_get_result *res)
{
	ttlv_cursor c;
	ttlv_item	it;
	int			r;
	unsigned	seen = 0;

	if (kv->type == TYPE_BYTE_STRING)
		return EC_KMIP_WRAPPED;
	if (kv->type != TYPE_STRUCTURE)
		return EC_KMIP_MALFORMED;
	c = ttlv_inside(kv);
	while ((r = ttlv_next(&c, &it)) > 0)
	{
		if (it.tag != TAG_KEY_MATERIAL)
			continue;			/* Attributes may follow */
		if (!first_time(&seen, 1))
			return EC_KMIP_MALFORMED;
		if (it.type == TYPE_BYTE_STRING)
		{
			res->key = it.value;
			res->key_len = it.len;
		}
		else if (it.type == TYPE_STRUCTURE)
		{
			ttlv_cursor kc = ttlv_inside(&it);
			ttlv_item	k;
			int			kr;
			unsigned	kseen = 0;

			while ((kr = ttlv_next(&kc, &k)) > 0)
			{
				if (k.tag != TAG_KEY)
					continue;
				if (!first_time(&kseen, 1) || k.type != TYPE_BYTE_STRING)
					return EC_KMIP_MALFORMED;
				res->key = k.value;
				res->key_len = k.len;
			}
			if (kr < 0)
				return EC_KMIP_MALFORMED;
		}
		else
			return EC_KMIP_MALFORMED;
	}
	if (r < 0)
		return EC_KMIP_MALFORMED;
	return EC_KMIP_OK;
}

/* Read Key Block: format, algorithm, length and the key value. */
static ec_kmip_status
parse_key_block(const ttlv_item *kb, ec_kmip_get_result *res)
{
	ttlv_cursor c = ttlv_inside(kb);
	ttlv_item	it;
	ttlv_item	kv = {0};
	int			r;
	unsigned	seen = 0;
	bool		wrapped = false;

	while ((r = ttlv_next(&c, &it)) > 0)
	{
		switch (it.tag)
		{
			case TAG_KEY_FORMAT_TYPE:
				if (!first_time(&seen, 1) ||
					!ttlv_number(&it, TYPE_ENUMERATION, &res->key_format))
					return EC_KMIP_MALFORMED;
				break;
			case TAG_CRYPTO_ALGORITHM:
				if (!first_time(&seen, 2) ||
					!ttlv_number(&it, TYPE_ENUMERATION, &res->algorithm))
					return EC_KMIP_MALFORMED;
				break;
			case TAG_CRYPTO_LENGTH:
				if (!first_time(&seen, 4) ||
					!ttlv_number(&it, TYPE_INTEGER, &res->crypto_length))
					return EC_KMIP_MALFORMED;
				break;
			case TAG_KEY_VALUE:
				if (!first_time(&seen, 8))
					return EC_KMIP_MALFORMED;
				kv = it;
				break;
			case TAG_KEY_WRAPPING_DATA:
				wrapped = true;
				break;
			default:
				break;
		}
	}
	if (r < 0)
		return EC_KMIP_MALFORMED;
	if (wrapped)
		return EC_KMIP_WRAPPED;
	if (!(seen & 8))
		return EC_KMIP_NO_KEY;
	return parse_key_value(&kv, res);
}

/* Read Response Payload: the object type, its id and the symmetric key. */
static ec_kmip_status
parse_payload(const ttlv_item *pl, ec_kmip_get_result *res)
{
	ttlv_cursor c = ttlv_inside(pl);
	ttlv_item	it;
	ttlv_item	sk = {0};
	int			r;
	unsigned	seen = 0;
	ec_kmip_status st;

	while ((r = ttlv_next(&c, &it)) > 0)
	{
		switch (it.tag)
		{
			case TAG_OBJECT_TYPE:
				if (!first_time(&seen, 1) ||
					!ttlv_number(&it, TYPE_ENUMERATION, &res->object_type))
					return EC_KMIP_MALFORMED;
				break;
			case TAG_UNIQUE_IDENTIFIER:
				if (!first_time(&seen, 2) || it.type != TYPE_TEXT_STRING)
					return EC_KMIP_MALFORMED;
				res->unique_id = (const char *) it.value;
				res->unique_id_len = it.len;
				break;
			case TAG_SYMMETRIC_KEY:
				if (!first_time(&seen, 4) || it.type != TYPE_STRUCTURE)
					return EC_KMIP_MALFORMED;
				sk = it;
				break;
			default:
				break;
		}
	}
	if (r < 0)
		return EC_KMIP_MALFORMED;
	if (res->object_type != EC_KMIP_OBJECT_SYMMETRIC_KEY || !(seen & 4))
		return EC_KMIP_NOT_SYMMETRIC;

	/* Symmetric Key holds exactly one Key Block */
	c = ttlv_inside(&sk);
	seen = 0;
	st = EC_KMIP_NO_KEY;
	while ((r = ttlv_next(&c, &it)) > 0)
	{
		if (it.tag != TAG_KEY_BLOCK)
			continue;
		if (!first_time(&seen, 1) || it.type != TYPE_STRUCTURE)
			return EC_KMIP_MALFORMED;
		st = parse_key_block(&it, res);
		if (st != EC_KMIP_OK)
			return st;
	}
	if (r < 0)
		return EC_KMIP_MALFORMED;
	if (st == EC_KMIP_OK && res->key == NULL)
		st = EC_KMIP_NO_KEY;
	return st;
}

/* Read the one Batch Item: the result, then the payload on success. */
static ec_kmip_status
parse_batch_item(const ttlv_item *bi, ec_kmip_get_result *res)
{
	ttlv_cursor c = ttlv_inside(bi);
	ttlv_item	it;
	ttlv_item	pl = {0};
	int			r;
	unsigned	seen = 0;
	int64_t		op;

	while ((r = ttlv_next(&c, &it)) > 0)
	{
		switch (it.tag)
		{
			case TAG_OPERATION:
				if (!first_time(&seen, 1) ||
					!ttlv_number(&it, TYPE_ENUMERATION, &op))
					return EC_KMIP_MALFORMED;
				if (op != OPERATION_GET)
					return EC_KMIP_NOT_RESPONSE;
				break;
			case TAG_RESULT_STATUS:
				if (!first_time(&seen, 2) ||
					!ttlv_number(&it, TYPE_ENUMERATION, &res->result_status))
					return EC_KMIP_MALFORMED;
				break;
			case TAG_RESULT_REASON:
				if (!first_time(&seen, 4) ||
					!ttlv_number(&it, TYPE_ENUMERATION, &res->result_reason))
					return EC_KMIP_MALFORMED;
				break;
			case TAG_RESULT_MESSAGE:
				if (!first_time(&seen, 8) || it.type != TYPE_TEXT_STRING)
					return EC_KMIP_MALFORMED;
				res->result_message = (const char *) it.value;
				res->result_message_len = it.len;
				break;
			case TAG_RESPONSE_PAYLOAD:
				if (!first_time(&seen, 16) || it.type != TYPE_STRUCTURE)
					return EC_KMIP_MALFORMED;
				pl = it;
				break;
			default:
				break;
		}
	}
	if (r < 0)
		return EC_KMIP_MALFORMED;
	if (!(seen & 2))
		return EC_KMIP_NOT_RESPONSE;
	if (res->result_status != EC_KMIP_RESULT_SUCCESS)
		return EC_KMIP_FAILED;
	if (!(seen & 16))
		return EC_KMIP_NO_KEY;
	return parse_payload(&pl, res);
}

/* Read a whole Get response; see kmip_ttlv.h. */
ec_kmip_status
ec_kmip_parse_get(const uint8_t *buf, size_t len, ec_kmip_get_result *res)
{
	ttlv_cursor top;
	ttlv_cursor c;
	ttlv_item	msg;
	ttlv_item	it;
	ttlv_item	bi = {0};
	int			r;
	int			items = 0;
	int64_t		batch_count = -1;
	unsigned	seen = 0;

	memset(res, 0, sizeof(*res));
	res->result_status = res->result_reason = -1;
	res->object_type = res->key_format = -1;
	res->algorithm = res->crypto_length = -1;

	top.at = buf;
	top.end = buf + len;
	r = ttlv_next(&top, &msg);
	if (r <= 0 || top.at != top.end)
		return EC_KMIP_MALFORMED;
	if (msg.tag != TAG_RESPONSE_MESSAGE || msg.type != TYPE_STRUCTURE)
		return EC_KMIP_NOT_RESPONSE;

	c = ttlv_inside(&msg);
	while ((r = ttlv_next(&c, &it)) > 0)
	{
		if (it.tag == TAG_RESPONSE_HEADER)
		{
			ttlv_cursor hc;
			ttlv_item	h;
			int			hr;

			if (!first_time(&seen, 1) || it.type != TYPE_STRUCTURE)
				return EC_KMIP_MALFORMED;
			hc = ttlv_inside(&it);
			while ((hr = ttlv_next(&hc, &h)) > 0)
			{
				if (h.tag != TAG_BATCH_COUNT)
					continue;
				if (!first_time(&seen, 2) ||
					!ttlv_number(&h, TYPE_INTEGER, &batch_count))
					return EC_KMIP_MALFORMED;
			}
			if (hr < 0)
				return EC_KMIP_MALFORMED;
		}
		else if (it.tag == TAG_BATCH_ITEM)
		{
			if (it.type != TYPE_STRUCTURE)
				return EC_KMIP_MALFORMED;
			bi = it;
			items++;
		}
	}
	if (r < 0)
		return EC_KMIP_MALFORMED;
	/* one request was sent, so one answer is expected, said both ways */
	if (!(seen & 1) || batch_count != 1 || items != 1)
		return EC_KMIP_NOT_RESPONSE;
	return parse_batch_item(&bi, res);
}

/* A short text for a status; see kmip_ttlv.h. */
const char *
ec_kmip_status_text(ec_kmip_status status)
{
	switch (status)
	{
		case EC_KMIP_OK:
			return "a symmetric key";
		case EC_KMIP_MALFORMED:
			return "a response that is not well-formed KMIP";
		case EC_KMIP_NOT_RESPONSE:
			return "a message that is not the response to one Get request";
		case EC_KMIP_FAILED:
			return "a failed operation";
		case EC_KMIP_NOT_SYMMETRIC:
			return "an object that is not a symmetric key";
		case EC_KMIP_WRAPPED:
			return "a key wrapped by another key";
		case EC_KMIP_NO_KEY:
			return "a symmetric key without key material";
	}
	return "an unknown status";
}

/* KMIP's name of a Result Reason (section 9.1.3.2.29). */
const char *
ec_kmip_reason_name(int64_t reason)
{
	static const char *const names[] = {
		NULL, "Item Not Found", "Response Too Large",
		"Authentication Not Successful", "Invalid Message",
		"Operation Not Supported", "Missing Data", "Invalid Field",
		"Feature Not Supported", "Operation Canceled By Requester",
		"Cryptographic Failure", "Illegal Operation", "Permission Denied",
		"Object Archived", "Index Out of Bounds",
		"Application Namespace Not Supported", "Key Format Type Not Supported",
		"Key Compression Type Not Supported", "Encoding Option Error",
		"Key Value Not Present", "Attestation Required", "Attestation Failed",
	};

	if (reason == 0x100)
		return "General Failure";
	if (reason > 0 && reason < (int64_t) (sizeof(names) / sizeof(names[0])))
		return names[reason];
	return NULL;
}

/* KMIP's name of an Object Type (section 9.1.3.2.12). */
const char *
ec_kmip_object_type_name(int64_t type)
{
	static const char *const names[] = {
		NULL, "Certificate", "Symmetric Key", "Public Key", "Private Key",
		"Split Key", "Template", "Secret Data", "Opaque Object", "PGP Key",
	};

	if (type > 0 && type < (int64_t) (sizeof(names) / sizeof(names[0])))
		return names[type];
	return NULL;
}

/* KMIP's name of a Cryptographic Algorithm (section 9.1.3.2.13), in part. */
const char *
ec_kmip_algorithm_name(int64_t alg)
{
	static const char *const names[] = {
		NULL, "DES", "3DES", "AES", "RSA", "DSA", "ECDSA", "HMAC-SHA1",
		"HMAC-SHA224", "HMAC-SHA256", "HMAC-SHA384", "HMAC-SHA512", "HMAC-MD5",
		"DH", "ECDH", "ECMQV", "Blowfish", "Camellia", "CAST5", "IDEA", "MARS",
		"RC2", "RC4", "RC5", "SKIPJACK", "Twofish", "EC",
	};

	if (alg > 0 && alg < (int64_t) (sizeof(names) / sizeof(names[0])))
		return names[alg];
	return NULL;
}
