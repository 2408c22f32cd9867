/*
 * encrypted_column.h
 *		Internal API shared by the extension's source files.
 *
 * Files, by layer from the bottom (docs/architecture.md is the full map:
 * what each file owns, the hook table, the seams, the test map):
 *	crypto.c		the only file that includes OpenSSL: AEAD contexts, HKDF,
 *					the nonce pool; returns status codes, never ereport
 *	envelope.c		the envelope and text form, pure structure (envelope.h)
 *	trigram.c		trigrams of values and LIKE patterns, pure structure (trigram.h)
 *	pkcs11_uri.c	RFC 7512 PKCS#11 URIs, pure structure (pkcs11_uri.h)
 *	keyring.c		key parsing, subkey derivation, the per-backend key ring
 *	kek_pkcs11.c	the pkcs11: KEK source: wrap and unwrap inside a token (kek.h)
 *	gucs.c			the settings and their check, assign and show hooks
 *	kek.c			key-encryption keys from kek_source (kek.h); kek_kmip.c,
 *					kmip_ttlv.c and kek_pkcs11.c are its KMIP and PKCS#11 sources
 *	store.c			stored data keys: the key table, the cache, the grants
 *	seal.c			the one seal and open path of every type; plaintext wiped
 *	privilege.c		read_plaintext(): the one privilege every opening checks
 *	type_io.c		input, output, receive, send and the casts from text
 *	typed.c			the typed types; the modifier's cast that gives search terms
 *	accessors.c		the SQL functions: encrypt(), decrypt() and the others
 *	key_admin.c		the SQL functions that manage stored keys
 *	det_ops.c		encrypted_text_det's comparison and hash functions
 *	det_planner.c	planner support for encrypted_text_det = text lookups
 *	search.c		search terms: trigram tags, range terms, LIKE, GIN support
 *	search_planner.c	range index conditions and the ORDER BY ... LIMIT rewrite
 *	forward_020.c	0.2.0's entry points, forwarded to encrypted_column_migrate
 *	keymask.c		key values in statement text, found by the core scanner
 *	redact.c		keys out of the statement text, log and activity (redact.h)
 *	copy_redact.c	row data out of the messages of COPY into encrypted columns
 *	stats_guard.c	the extension's types in the catalog; refuses statistics
 *					objects and indexes that could store decrypted values
 *	audit.c			who used which stored key: counts in shared memory (audit.h)
 *	citus.c			Citus clusters (citus.h), called by the hook table only
 *	module.c		PG_MODULE_MAGIC, _PG_init and the hook table
 */
#ifndef ENCRYPTED_COLUMN_H
#define ENCRYPTED_COLUMN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define EC_MASTER_KEY_LEN		32	/* bytes; 64 hex digits in the GUC */
#define EC_MAX_PREVIOUS_KEYS	16
#define EC_KEY_ID_HEX_LEN		(2 * EC_KEY_ID_LEN)

/* HKDF-SHA256 info strings: one subkey per purpose, never the master key. */
#define EC_INFO_KEY_ID			"encrypted_column key id"
#define EC_INFO_GCM				"encrypted_column aes-256-gcm"
#define EC_INFO_SIV				"encrypted_column aes-256-siv"
#define EC_INFO_TERMS			"encrypted_column search terms"

#define EC_SIV_KEY_LEN			64	/* AES-256-SIV: two AES-256 keys */

/* ---- crypto.c ---- */

typedef enum ec_crypto_status
{
	EC_CRYPTO_OK = 0,
	EC_CRYPTO_LIBRARY,			/* OpenSSL failed: see ec_crypto_error_text */
	EC_CRYPTO_AUTH				/* the tag did not verify */
} ec_crypto_status;

typedef struct ec_gcm ec_gcm;	/* an AES-256-GCM key, expanded once */
typedef struct ec_siv ec_siv;	/* an AES-SIV key, expanded once */

/* One associated-data component of AES-SIV (RFC 5297 S2V string). */
typedef struct ec_siv_ad
{
	const uint8_t *data;
	size_t		len;
} ec_siv_ad;

extern ec_crypto_status ec_hkdf_sha256(const uint8_t *ikm, size_t ikm_len,
									   const char *info,
									   uint8_t *out, size_t out_len);
typedef struct ec_prf ec_prf;	/* the search terms' keyed PRF (AES-256) */
extern ec_prf *ec_prf_new(const uint8_t *key);
extern void ec_prf_free(ec_prf *prf);
extern ec_crypto_status ec_prf_blocks(ec_prf *prf, const uint8_t *in,
									  size_t nblocks, uint8_t *out);
extern ec_gcm *ec_gcm_new(const uint8_t *key);
extern void ec_gcm_free(ec_gcm *gcm);
extern ec_crypto_status ec_gcm_seal(ec_gcm *gcm, const uint8_t *nonce,
									const uint8_t *aad, size_t aad_len,
									const uint8_t *context, size_t context_len,
									const uint8_t *in, size_t len,
									uint8_t *out, uint8_t *tag);
extern ec_crypto_status ec_gcm_open(ec_gcm *gcm, const uint8_t *nonce,
									const uint8_t *aad, size_t aad_len,
									const uint8_t *context, size_t context_len,
									const uint8_t *in, size_t len,
									const uint8_t *tag, uint8_t *out);
extern ec_crypto_status ec_gcm_next_nonce(uint8_t *nonce);
extern ec_siv *ec_siv_new(const uint8_t *key, size_t key_len);
extern void ec_siv_free(ec_siv *siv);
extern ec_crypto_status ec_siv_seal(ec_siv *siv, const ec_siv_ad *ad, int nad,
									const uint8_t *in, size_t len,
									uint8_t *out, uint8_t *iv);
extern ec_crypto_status ec_siv_open(ec_siv *siv, const ec_siv_ad *ad, int nad,
									const uint8_t *iv,
									const uint8_t *in, size_t len,
									uint8_t *out);
extern ec_crypto_status ec_random_key(uint8_t *out, size_t len);
extern ec_crypto_status ec_sha256(const uint8_t *in, size_t len, uint8_t *out);
extern ec_crypto_status ec_kwp_wrap(const uint8_t *kek, const uint8_t *in,
									size_t in_len, uint8_t *out,
									size_t *out_len);
extern ec_crypto_status ec_kwp_unwrap(const uint8_t *kek, const uint8_t *in,
									  size_t in_len, uint8_t *out,
									  size_t *out_len);
extern void ec_wipe(void *ptr, size_t len);
extern void ec_crypto_note_error(void);
extern const char *ec_crypto_error_text(void);

/* ---- keyring.c ---- */

/*
 * One loaded master key, as the rest of the code sees it: a key of the
 * settings, or a stored data key (store.c), which plays the same role.
 */
typedef struct ec_key
{
	uint8_t		id[EC_KEY_ID_LEN];
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
	ec_gcm	   *gcm;
	ec_siv	   *siv;
	ec_prf	   *terms;			/* the search terms' PRF (search.c) */
	bool		stored;			/* a data key from the key table */
} ec_key;

extern bool ec_parse_key_hex(const char *str, size_t len, uint8_t *key);
extern bool ec_key_list_valid(const char *list, int *count, int *bad_entry);
extern bool ec_key_id_of_hex(const char *hex, size_t len, char *id_hex);
extern void ec_keyring_invalidate(void);
extern const ec_key *ec_current_key(void);
extern const ec_key *ec_current_key_or_null(void);
extern int	ec_find_keys(const uint8_t *key_id, const ec_key **keys, int max);
extern int	ec_find_keys_to_seal(const uint8_t *key_id, const ec_key **keys,
								 int max);
extern int	ec_all_keys(const ec_key **keys, int max);
extern int	ec_loaded_key_count(void);
extern void ec_crypto_failed(const char *what);
extern bool ec_key_derive(const uint8_t *master, ec_key *slot);
extern void ec_key_free(ec_key *key);
extern bool ec_key_check_value(const uint8_t *master, uint8_t *check);
extern bool ec_key_id_of(const uint8_t *master, uint8_t *id);

/* ---- kek.c: key-encryption keys (kek.h for the sources) ---- */

#define EC_KEY_CHECK_LEN		16	/* verifier of a stored key, stored beside it */
#define EC_INFO_KEY_CHECK		"encrypted_column key check"

typedef struct ec_kek ec_kek;
extern const char *ec_kek_source_kind(const char *source);
extern ec_kek *ec_kek_open(const char *source, const char *session_hex,
						   const char *setting);
extern ec_kek *ec_kek_current(void);
extern void ec_kek_close(ec_kek *kek);
extern void ec_kek_invalidate(void);
extern void ec_kek_wrap(ec_kek *kek, const uint8_t *key, uint8_t *wrapped);
extern bool ec_kek_unwrap(ec_kek *kek, const uint8_t *wrapped,
						  size_t wrapped_len, uint8_t *key);
extern const char *ec_kek_id(ec_kek *kek);

/* ---- store.c: stored data keys, cached per backend ---- */

#define EC_MAX_KEY_VERSIONS		16	/* versions of key_name a lookup tries */

extern bool ec_store_in_use(void);
extern const ec_key *ec_store_current(const char *name);
extern int	ec_store_versions(const char *name, const ec_key **keys, int max);
extern int	ec_store_find(const uint8_t *key_id, bool decrypt,
						  const ec_key **keys, int max);
extern void ec_store_require_raw(const uint8_t *check, const ec_key *key);
extern uint64_t ec_store_generation(void);
extern void ec_store_invalidate(void);
extern void ec_store_forget(uintptr_t arg, uint32_t relid);
extern void ec_store_forget_privileges(void);

/* ---- det_planner.c: index lookups of encrypted_text_det by plaintext ---- */

struct Query;
struct ParamListInfoData;
extern struct Query *ec_det_rewrite(struct Query *parse);
extern unsigned int ec_extension_function(unsigned int operator_function,
										  const char *name, int nargs,
										  unsigned int *argtypes);
/* search_planner.c */
extern struct Query *ec_search_rewrite_order(struct Query *parse,
											  bool may_restructure);
extern struct Query *ec_search_keep_typmod_casts(struct Query *parse);
extern char *ec_c_symbol(unsigned int funcid);
extern struct Query *ec_det_fold_known(struct Query *parse,
									   struct ParamListInfoData *boundParams);
struct PlannedStmt;
extern uint64_t ec_det_arrays_made(void);
extern void ec_det_finish_plan(struct PlannedStmt *stmt, uint64_t before);

/*
 * ---- seams: callbacks that module.c points at an optional layer ----
 *
 * Lower layers call these and know nothing of what answers them (today
 * citus.c; NULL where nothing does).
 */

/* may the input function take this ciphertext text form as it is? */
extern bool (*ec_input_may_take_ciphertext) (void);

/* a key setting changed (after the key ring was invalidated) */
extern void (*ec_keys_changed) (void);

/* a better hint for "encrypted_column.key is not set" here, or NULL */
extern const char *(*ec_no_key_hint) (void);

/*
 * The key functions changed the rows of one stored key name (NULL: of
 * every name) in this transaction, as the key table's owner may see them
 * now; called after the change, as the calling role.
 */
extern void (*ec_stored_keys_changed) (const char *name);

/* ---- gucs.c: the settings ---- */

extern void ec_define_gucs(void);

extern char *ec_key_guc;
extern char *ec_previous_keys_guc;
extern bool ec_accept_ciphertext;
extern char *ec_key_name_guc;
extern char *ec_kek_source_guc;
extern char *ec_kek_guc;
extern char *ec_new_kek_guc;
extern bool ec_require_stored_keys;
/*
 * Set when the current key is fetched to encrypt; the key's assign hook
 * resets cached plans when it is true.
 */
extern bool ec_sealed_since_plan_reset;
/*
 * Set when the planner makes an index condition with one element per
 * loaded key (det_planner.c); the assign hooks of both key settings reset
 * cached plans when it is true, since the number of keys may change.
 */
extern bool ec_planned_by_key_count;

/* ---- seal.c: the one encrypt/decrypt path every entry point uses ---- */

#define EC_MAX_LOADED_KEYS		(1 + EC_MAX_PREVIOUS_KEYS + EC_MAX_KEY_VERSIONS)

/*
 * What differs between encrypted_text and encrypted_text_det; every path
 * in and out of either type is one piece of code that takes one of these.
 */
typedef struct ec_type
{
	uint8_t		algorithm;		/* EC_ALG_AES256_GCM or EC_ALG_AES256_SIV */
	const char *name;			/* the SQL type, for messages */
	const char *encrypt_fn;		/* its encrypting function, for hints */
	size_t		overhead;		/* envelope bytes beyond the plaintext */
	unsigned int plain_type;	/* the plain type's OID (text for both text types) */
} ec_type;

extern const ec_type ec_type_gcm;
extern const ec_type ec_type_siv;
extern const ec_type ec_type_bigint;
extern const ec_type ec_type_numeric;
extern const ec_type ec_type_date;
extern const ec_type ec_type_timestamptz;
extern const ec_type ec_type_jsonb;
extern const ec_type ec_type_bytea;
extern const ec_type *ec_typed_type(uint8_t algorithm);

struct varlena;
typedef struct varlena *(*ec_plain_fn) (const char *plain, size_t len, void *arg);
/* datum is a Datum; this header is also read where postgres.h is not */
extern struct varlena *ec_apply_to_plain(uintptr_t datum, ec_plain_fn fn, void *arg);
extern struct varlena *ec_apply_and_wipe(struct varlena *plain, ec_plain_fn fn,
										 void *arg);
extern struct varlena *ec_seal_text(const ec_type *type,
									const char *plain, size_t len,
									const char *context, size_t context_len);
extern struct varlena *ec_seal_text_with_key(const ec_type *type,
											 const ec_key *key,
											 const char *plain, size_t len,
											 const char *context,
											 size_t context_len,
											 int32_t typmod);
extern struct varlena *ec_seal_bytes_with_key(const ec_type *type,
											  const ec_key *key,
											  const char *plain, size_t len,
											  const char *context,
											  size_t context_len,
											  int32_t typmod);
extern struct varlena *ec_open_to_text(const ec_type *type,
									   struct varlena *envelope,
									   const char *context, size_t context_len);
struct ec_envelope;
extern struct varlena *ec_open_bytes(const ec_type *type,
									 struct varlena *envelope,
									 const char *context, size_t context_len,
									 struct ec_envelope *env);
extern void ec_parse_stored(const ec_type *type, struct varlena *datum,
							struct ec_envelope *env);
extern void ec_no_loaded_key(const uint8_t *key_id);

extern struct varlena *ec_open_bytes_with(const ec_key *key,
										  const ec_type *type,
										  struct varlena *datum,
										  struct ec_envelope *env);

/* ---- type_io.c: the ways in shared by every type ---- */
struct Node;
struct FunctionCallInfoBaseData;
extern struct varlena *ec_ciphertext_in(const ec_type *type, const char *str,
										size_t len, bool input_function,
										struct Node *escontext);
extern struct varlena *ec_envelope_recv(struct FunctionCallInfoBaseData *fcinfo,
										const ec_type *type);

/* ---- accessors.c ---- */
extern struct varlena *ec_context_arg(struct FunctionCallInfoBaseData *fcinfo,
									  int argno);

/* ---- typed.c: the typed types ---- */
extern const ec_type *ec_type_of_plain(unsigned int typid);
extern uintptr_t ec_plain_datum(const ec_type *type, const char *bytes,
								size_t len);
extern uintptr_t ec_open_typed(const ec_type *type, struct varlena *datum);
extern void ec_memo_sealed(const uint8_t *nonce);
extern struct varlena *ec_apply_typmod(struct varlena *datum, int32_t typmod);

/* ---- search.c: search terms ---- */
extern void ec_terms_check_typmod(const ec_type *type, int32_t typmod);
extern uint8_t *ec_terms_make(const ec_type *type, const ec_key *key,
							  const char *plain, size_t len, int32_t typmod,
							  size_t *terms_len);

/* for every type: the size limit, and plaintext as UTF-8 in the envelope */
extern void ec_check_plaintext_len(size_t len, size_t overhead,
								   const char *type_name);
extern char *ec_plain_to_utf8(const char *plain, size_t len, size_t *out_len,
							  bool *copied);
extern struct varlena *ec_plain_to_text(struct varlena *plain, bool utf8);

/*
 * ---- audit.c: who used which stored key (audit.h has the hook table's
 * steps); counts nothing unless the library was preloaded ----
 */

/* one value encrypted or decrypted with a stored key by the current role */
extern void ec_audit_count(const uint8_t *key_id, bool encrypt);

/* ---- privilege.c ---- */
/* 42501 unless the current role may read plaintext; before any opening */
extern void ec_require_plaintext_privilege(void);
extern void ec_privilege_forget(uintptr_t arg, int cacheid, uint32_t hashvalue);

#endif							/* ENCRYPTED_COLUMN_H */
