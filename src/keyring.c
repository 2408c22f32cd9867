/*
 * keyring.c
 *		Master keys: parsing, subkey derivation and the per-backend key ring.
 *
 * The GUCs hold keys as hex text.  The first time a backend needs a key
 * after the GUCs changed, it parses them, derives for each key its id, its
 * AES-256-GCM subkey and its AES-256-SIV subkey with HKDF-SHA256, expands
 * the subkeys into long-lived cipher contexts, and wipes every
 * intermediate copy.  The raw
 * master key is never used to encrypt anything.
 */
#include "postgres.h"

#include "storage/ipc.h"
#include "miscadmin.h"

#include "encrypted_column.h"

#define MAX_RING (1 + EC_MAX_PREVIOUS_KEYS)

static ec_key ring[MAX_RING];
static int	ring_len = 0;
static bool ring_has_current = false;
static bool ring_valid = false;
static bool ring_verified = false;	/* require_stored() passed */
static uint8_t ring_check[EC_KEY_CHECK_LEN];	/* the current key's check value */
static bool exit_hook_registered = false;

/* Parse exactly 64 hex digits into a 32-byte key; false if malformed. */
bool
ec_parse_key_hex(const char *str, size_t len, uint8_t *key)
{
	if (len != 2 * EC_MASTER_KEY_LEN)
		return false;
	for (size_t i = 0; i < EC_MASTER_KEY_LEN; i++)
	{
		int			hi = ec_hex_digit(str[2 * i]);
		int			lo = ec_hex_digit(str[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			ec_wipe(key, EC_MASTER_KEY_LEN);
			return false;
		}
		key[i] = (uint8_t) ((hi << 4) | lo);
	}
	return true;
}

/*
 * Find the next entry of a comma-separated key list, blanks around it
 * trimmed.  Returns false at the end of the list.
 */
static bool
next_list_entry(const char **cursor, const char **start, size_t *len)
{
	const char *p = *cursor;
	const char *end;

	if (*p == '\0')
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p;
	while (*end != '\0' && *end != ',')
		end++;
	*start = p;
	*len = end - p;
	while (*len > 0 && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
		(*len)--;
	*cursor = (*end == ',') ? end + 1 : end;
	return true;
}

/*
 * Check a previous_keys list.  An empty or all-blank list is valid and
 * holds no key.  On failure *bad_entry is the 1-based entry at fault, or 0
 * when there are too many entries.
 */
bool
ec_key_list_valid(const char *list, int *count, int *bad_entry)
{
	const char *cursor = list;
	const char *start;
	size_t		len;
	uint8_t		key[EC_MASTER_KEY_LEN];
	int			n = 0;

	*count = 0;
	*bad_entry = 0;
	for (const char *p = list; *p == ' ' || *p == '\t' || *p == '\0'; p++)
		if (*p == '\0')
			return true;

	while (next_list_entry(&cursor, &start, &len))
	{
		n++;
		if (!ec_parse_key_hex(start, len, key))
		{
			*bad_entry = n;
			return false;
		}
		ec_wipe(key, sizeof(key));
		if (n > EC_MAX_PREVIOUS_KEYS)
			return false;
	}
	/* a trailing comma leaves an empty last entry */
	if (cursor > list && cursor[-1] == ',')
	{
		*bad_entry = n + 1;
		return false;
	}
	*count = n;
	return true;
}

/* Derive the key id of a master key. */
static ec_crypto_status
derive_key_id(const uint8_t *master, uint8_t *id)
{
	return ec_hkdf_sha256(master, EC_MASTER_KEY_LEN, EC_INFO_KEY_ID,
						  id, EC_KEY_ID_LEN);
}

/*
 * The 8-hex-digit key id of a key given as hex, for SHOW; false if the
 * text is not a key or the derivation failed.
 */
bool
ec_key_id_of_hex(const char *hex, size_t len, char *id_hex)
{
	uint8_t		master[EC_MASTER_KEY_LEN];
	uint8_t		id[EC_KEY_ID_LEN];
	ec_crypto_status status;

	if (!ec_parse_key_hex(hex, len, master))
		return false;
	status = derive_key_id(master, id);
	ec_wipe(master, sizeof(master));
	if (status != EC_CRYPTO_OK)
		return false;
	ec_hex_encode(id, EC_KEY_ID_LEN, id_hex);
	return true;
}

/* Free one key's contexts, cleansing their key schedules.  Never fails. */
void
ec_key_free(ec_key *key)
{
	ec_gcm_free(key->gcm);
	key->gcm = NULL;
	ec_siv_free(key->siv);
	key->siv = NULL;
	ec_prf_free(key->terms);
	key->terms = NULL;
}

/* Free every loaded key. */
static void
ring_clear(void)
{
	for (int i = 0; i < ring_len; i++)
		ec_key_free(&ring[i]);
	memset(ring, 0, sizeof(ring));
	ring_len = 0;
	ring_has_current = false;
	ring_valid = false;
	ring_verified = false;
	ec_wipe(ring_check, sizeof(ring_check));
}

/* At backend exit, do not leave expanded keys in memory. */
static void
ring_at_exit(int code, Datum arg)
{
	(void) code;
	(void) arg;
	ring_clear();
}

/* Raise the error for a failed OpenSSL call; the text names no key byte. */
void
ec_crypto_failed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not %s", what),
			 errdetail("OpenSSL reported: %s", ec_crypto_error_text())));
}

/*
 * Derive a master key's id and subkeys into slot and expand them into
 * contexts; every intermediate copy is wiped.  False when OpenSSL failed:
 * then whatever slot holds must still be freed with ec_key_free.  Stored
 * data keys (store.c) come through here too, so they play exactly the
 * role of a key of the settings.
 */
bool
ec_key_derive(const uint8_t *master, ec_key *slot)
{
	uint8_t		subkey[EC_MASTER_KEY_LEN];
	uint8_t		siv_key[EC_SIV_KEY_LEN];
	uint8_t		terms_key[EC_MASTER_KEY_LEN];
	ec_crypto_status status;

	status = derive_key_id(master, slot->id);
	if (status == EC_CRYPTO_OK)
		status = ec_hkdf_sha256(master, EC_MASTER_KEY_LEN, EC_INFO_GCM,
								subkey, sizeof(subkey));
	if (status == EC_CRYPTO_OK)
		status = ec_hkdf_sha256(master, EC_MASTER_KEY_LEN, EC_INFO_SIV,
								siv_key, sizeof(siv_key));
	if (status == EC_CRYPTO_OK)
		status = ec_hkdf_sha256(master, EC_MASTER_KEY_LEN, EC_INFO_TERMS,
								terms_key, sizeof(terms_key));
	if (status == EC_CRYPTO_OK)
	{
		slot->gcm = ec_gcm_new(subkey);
		slot->siv = ec_siv_new(siv_key, sizeof(siv_key));
		slot->terms = ec_prf_new(terms_key);
		if (slot->gcm == NULL || slot->siv == NULL || slot->terms == NULL)
			status = EC_CRYPTO_LIBRARY;
	}
	ec_wipe(subkey, sizeof(subkey));
	ec_wipe(siv_key, sizeof(siv_key));
	ec_wipe(terms_key, sizeof(terms_key));
	if (status != EC_CRYPTO_OK)
		return false;
	ec_hex_encode(slot->id, EC_KEY_ID_LEN, slot->id_hex);
	return true;
}

/* The key id of a master key given as bytes; false if OpenSSL failed. */
bool
ec_key_id_of(const uint8_t *master, uint8_t *id)
{
	return derive_key_id(master, id) == EC_CRYPTO_OK;
}

/*
 * The verifier of a master key that the key table keeps beside a stored
 * key: it recognises the same key given raw, without the KEK.
 */
bool
ec_key_check_value(const uint8_t *master, uint8_t *check)
{
	return ec_hkdf_sha256(master, EC_MASTER_KEY_LEN, EC_INFO_KEY_CHECK,
						  check, EC_KEY_CHECK_LEN) == EC_CRYPTO_OK;
}

/* Load one master key given as hex into the next slot of the ring. */
static void
ring_add(const char *hex, size_t len)
{
	uint8_t		master[EC_MASTER_KEY_LEN];
	ec_key	   *slot = &ring[ring_len];
	bool		ok;

	/* the check hooks let only well-formed keys through */
	if (!ec_parse_key_hex(hex, len, master))
		elog(ERROR, "encrypted_column: a key that passed its check hook does not parse");
	ok = ec_key_derive(master, slot);
	if (ok && ring_len == 0)
		ok = ec_key_check_value(master, ring_check);
	ec_wipe(master, sizeof(master));
	/* count the slot so that ring_clear frees what it holds */
	ring_len++;
	if (!ok)
	{
		ring_clear();
		ec_crypto_failed("derive the encryption key");
	}
}

/* Rebuild the ring from the GUCs if they changed since it was built. */
static void
ring_ensure(void)
{
	const char *cursor;
	const char *start;
	size_t		len;

	if (ring_valid)
		return;
	ring_clear();
	if (!exit_hook_registered)
	{
		on_proc_exit(ring_at_exit, (Datum) 0);
		exit_hook_registered = true;
	}

	if (ec_key_guc != NULL && ec_key_guc[0] != '\0')
	{
		ring_add(ec_key_guc, strlen(ec_key_guc));
		ring_has_current = true;
	}
	if (ec_previous_keys_guc != NULL)
	{
		int			count;
		int			bad;

		if (!ec_key_list_valid(ec_previous_keys_guc, &count, &bad))
			elog(ERROR, "encrypted_column: a key list that passed its check hook does not parse");
		cursor = ec_previous_keys_guc;
		for (int i = 0; i < count && next_list_entry(&cursor, &start, &len); i++)
			ring_add(start, len);
	}
	ring_valid = true;
}

/*
 * Forget the ring, and free its contexts at once: a session that changes
 * or resets its key and then encrypts nothing more must not keep the old
 * key schedules.  Called by the GUC assign hooks, so it must not fail;
 * freeing cannot.  No caller holds a key across a change of the settings.
 */
void
ec_keyring_invalidate(void)
{
	ring_clear();
}

/* Is a stored key chosen by name (encrypted_column.key_name)? */
static bool
key_name_set(void)
{
	return ec_key_name_guc != NULL && ec_key_name_guc[0] != '\0';
}

/*
 * How many keys are loaded (the stored versions of key_name, the current
 * and previous keys of the settings), without raising the "not set"
 * error: the planner sizes its index condition by it.
 */
int
ec_loaded_key_count(void)
{
	const ec_key *versions[EC_MAX_KEY_VERSIONS];

	ring_ensure();
	if (!key_name_set())
		return ring_len;
	return ring_len + ec_store_versions(ec_key_name_guc, versions,
										EC_MAX_KEY_VERSIONS);
}

/*
 * With encrypted_column.require_stored_keys on, the current key of the
 * settings encrypts only if the key table holds it (not destroyed), so a
 * mistyped or stolen-and-replaced key cannot write values nobody can
 * read.  Checked once per key and change of the key table.
 */
static void
require_stored(void)
{
	static uint64 verified_at = 0;
	uint64		before;

	if (!ec_require_stored_keys)
		return;
	if (ring_verified && verified_at == ec_store_generation())
		return;
	/* the generation from before the read (see store.c's entry_for) */
	before = ec_store_generation();
	ec_store_require_raw(ring_check, &ring[0]);
	ring_verified = true;
	verified_at = before;
}

/*
 * The current key, or NULL when no key is set: the current version of the
 * stored key that encrypted_column.key_name names, else the key of
 * encrypted_column.key.
 */
const ec_key *
ec_current_key_or_null(void)
{
	if (key_name_set())
		return ec_store_current(ec_key_name_guc);
	ring_ensure();
	if (!ring_has_current)
		return NULL;
	require_stored();
	return &ring[0];
}
/*
 * The current key, to encrypt with; raises the "not set" error when there
 * is none.  Whatever is sealed with it may end up as a constant in a plan
 * being made, so the next change of the key resets cached plans.
 */
const ec_key *
ec_current_key(void)
{
	const ec_key *key = ec_current_key_or_null();

	ec_sealed_since_plan_reset = true;

	if (key == NULL)
	{
		const char *hint = ec_no_key_hint ? ec_no_key_hint() : NULL;

		if (hint != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("encrypted_column.key is not set"),
					 errhint("%s", hint)));
		if (ec_store_in_use())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("encrypted_column.key is not set"),
					 errhint("Name a stored key with SET encrypted_column.key_name, or hand a key to the session as 64 hexadecimal digits in encrypted_column.key.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("encrypted_column.key is not set"),
				 errhint("Hand the key to the session as 64 hexadecimal digits, "
						 "preferably as a connection option "
						 "(options='-c encrypted_column.key=...'), or with SET.")));
	}
	return key;
}

/* The "not set" error, when neither kind of key is there to try. */
static void
no_key_at_all(void)
{
	if (ring_len == 0 && !key_name_set() && !ec_store_in_use())
		(void) ec_current_key();
}

/*
 * The keys whose id matches, keys of the settings first, then stored keys
 * that the role may use to decrypt (decrypt) or to encrypt (to compare
 * by sealing).  Two keys can share an id (one chance in 2^32), so the
 * caller tries each.  Raises the "not set" error if no key at all can be
 * loaded.
 */
static int
find_keys(const uint8_t *key_id, bool decrypt, const ec_key **keys, int max)
{
	int			n = 0;

	ring_ensure();
	no_key_at_all();
	for (int i = 0; i < ring_len && n < max; i++)
		if (memcmp(ring[i].id, key_id, EC_KEY_ID_LEN) == 0)
			keys[n++] = &ring[i];
	if (n == 0)
		n = ec_store_find(key_id, decrypt, keys, max);
	return n;
}

/* The keys that may decrypt an envelope with this key id. */
int
ec_find_keys(const uint8_t *key_id, const ec_key **keys, int max)
{
	return find_keys(key_id, true, keys, max);
}

/* The keys with this key id that may seal, to compare a plaintext. */
int
ec_find_keys_to_seal(const uint8_t *key_id, const ec_key **keys, int max)
{
	return find_keys(key_id, false, keys, max);
}

/*
 * Every loaded key, current key first: the stored versions of key_name
 * (newest first), then the keys of the settings.  Raises the "not set"
 * error if there is none.
 */
int
ec_all_keys(const ec_key **keys, int max)
{
	int			n = 0;

	ring_ensure();
	if (key_name_set())
		n = ec_store_versions(ec_key_name_guc, keys,
							  Min(max, EC_MAX_KEY_VERSIONS));
	else if (ring_len == 0)
		(void) ec_current_key();
	else if (ring_has_current)
		require_stored();
	for (int i = 0; i < ring_len && n < max; i++)
		keys[n++] = &ring[i];
	return n;
}
