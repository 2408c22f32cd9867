/*
 * gucs.c
 *		The extension's settings: encrypted_column.key, previous_keys and
 *		accept_ciphertext, with their check, assign and show hooks.
 *
 * The key GUCs are masked everywhere PostgreSQL would print them: SHOW and
 * current_setting() go through the show hooks, which print only key ids,
 * and GUC_NO_SHOW_ALL keeps them out of SHOW ALL and pg_settings (whose
 * reset_val and boot_val columns ignore show hooks).  Malformed keys are
 * rejected by the check hooks with messages that do not echo the value, and
 * so are keys that ALTER ROLE, ALTER DATABASE or CREATE FUNCTION would
 * store in a catalog.  A change of the current key makes cached plans anew,
 * and the restore switch is a superuser setting that can be granted.
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/plancache.h"

#include "compat.h"
#include "encrypted_column.h"

char	   *ec_key_guc = NULL;
char	   *ec_previous_keys_guc = NULL;
bool		ec_accept_ciphertext = false;
char	   *ec_key_name_guc = NULL;
char	   *ec_kek_source_guc = NULL;
char	   *ec_kek_guc = NULL;
char	   *ec_new_kek_guc = NULL;
bool		ec_require_stored_keys = false;
bool		ec_sealed_since_plan_reset = false;
bool		ec_planned_by_key_count = false;

void		_PG_init(void);

/*
 * ALTER ROLE/DATABASE ... SET and CREATE FUNCTION ... SET check a value
 * with source PGC_S_TEST before they store it in pg_db_role_setting or
 * pg_proc, which every user can read (and pg_dumpall prints): a key given
 * there is refused.
 */
static bool
stored_in_catalog(const char *name, const char *value, GucSource source)
{
	if (source != PGC_S_TEST || value == NULL ||
		strspn(value, " \t,") == strlen(value))
		return false;
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("%s cannot be stored in the catalog", name);
	GUC_check_errdetail("ALTER ROLE, ALTER DATABASE and CREATE FUNCTION store settings where every user can read them.");
	GUC_check_errhint("Hand the key to each session as a connection option (options='-c %s=...').", name);
	return true;
}

/* A setting that holds one key: empty, or exactly one valid key. */
static bool
check_one_key(const char *name, char **newval, GucSource source)
{
	uint8_t		key[EC_MASTER_KEY_LEN];

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (stored_in_catalog(name, *newval, source))
		return false;
	if (ec_parse_key_hex(*newval, strlen(*newval), key))
	{
		ec_wipe(key, sizeof(key));
		return true;
	}
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("invalid value for parameter \"%s\"", name);
	GUC_check_errdetail("The key must be exactly 64 hexadecimal digits (256 bits).");
	return false;
}

/* Check hook for encrypted_column.key. */
static bool
check_key(char **newval, void **extra, GucSource source)
{
	(void) extra;
	return check_one_key("encrypted_column.key", newval, source);
}

/* Check hook for encrypted_column.kek, the session's KEK. */
static bool
check_kek(char **newval, void **extra, GucSource source)
{
	(void) extra;
	return check_one_key("encrypted_column.kek", newval, source);
}

/* Check hook for encrypted_column.new_kek, the next session KEK. */
static bool
check_new_kek(char **newval, void **extra, GucSource source)
{
	(void) extra;
	return check_one_key("encrypted_column.new_kek", newval, source);
}

/* Check hook for encrypted_column.key_name: a possible key name. */
static bool
check_key_name(char **newval, void **extra, GucSource source)
{
	(void) extra;
	(void) source;
	if (*newval == NULL)
		return true;
	if (strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("A key name is at most %d bytes long.", NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/* Check hook for encrypted_column.kek_source: empty or a known source. */
static bool
check_kek_source(char **newval, void **extra, GucSource source)
{
	(void) extra;
	(void) source;
	if (*newval == NULL || (*newval)[0] == '\0' ||
		ec_kek_source_kind(*newval) != NULL)
		return true;
	/* never the value: a mistyped source may hold a PIN or a token */
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("invalid value for parameter \"encrypted_column.kek_source\"");
	GUC_check_errdetail("Use file:PATH, command:CMD, pkcs11:URI, kmip://HOST:PORT/ID?... or session.");
	return false;
}

/*
 * Assign hook for the KEK's source and the session KEK: the KEK and every
 * key it unwrapped are forgotten, to be fetched again at their next use.
 */
static void
assign_kek(const char *newval, void *extra)
{
	(void) newval;
	(void) extra;
	ec_kek_invalidate();
	ec_store_invalidate();
}

/* SHOW for the KEK settings: whether one is set, never its bytes. */
static const char *
show_kek(void)
{
	return (ec_kek_guc != NULL && ec_kek_guc[0] != '\0') ? "(hidden)" : "";
}

/* SHOW for encrypted_column.new_kek. */
static const char *
show_new_kek(void)
{
	return (ec_new_kek_guc != NULL && ec_new_kek_guc[0] != '\0') ? "(hidden)" : "";
}

/* Check hook for encrypted_column.previous_keys: a list of valid keys. */
static bool
check_previous_keys(char **newval, void **extra, GucSource source)
{
	int			count;
	int			bad;

	(void) extra;
	if (*newval != NULL &&
		stored_in_catalog("encrypted_column.previous_keys", *newval, source))
		return false;
	if (*newval == NULL || ec_key_list_valid(*newval, &count, &bad))
		return true;
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("invalid value for parameter \"encrypted_column.previous_keys\"");
	if (bad > 0)
		GUC_check_errdetail("Entry %d of the list is not 64 hexadecimal digits.", bad);
	else
		GUC_check_errdetail("The list holds more than %d keys.", EC_MAX_PREVIOUS_KEYS);
	return false;
}

/*
 * Assign hook for both key settings.  A plaintext literal in a prepared
 * statement, a PL/pgSQL or SQL function body is encrypted when its plan is
 * made (and so, on a Citus coordinator, is a lookup by plaintext, under
 * every loaded key: det_planner.c), and the cached plan would go on using
 * that ciphertext under the old keys, or with no key at all.  So the key
 * ring is rebuilt on next use, and every cached plan is made anew once a
 * key setting changes, if anything has been sealed since the last reset
 * (a plan made since then holds no constant sealed under the old keys), or
 * if an encrypted_text_det lookup was planned for the number of keys then
 * loaded (det_planner.c).
 * ResetPlanCache() only marks plans invalid, so it cannot fail here.
 */
static void
assign_key(const char *newval, void *extra)
{
	(void) newval;
	(void) extra;
	ec_keyring_invalidate();
	if (ec_keys_changed)
		ec_keys_changed();
	if (ec_sealed_since_plan_reset || ec_planned_by_key_count)
	{
		ResetPlanCache();
		ec_sealed_since_plan_reset = false;
		ec_planned_by_key_count = false;
	}
}

/* SHOW for encrypted_column.key: the key id, never the key. */
static const char *
show_key(void)
{
	static char buf[64];
	char		id[EC_KEY_ID_HEX_LEN + 1];

	if (ec_key_guc == NULL || ec_key_guc[0] == '\0')
		return "";
	if (!ec_key_id_of_hex(ec_key_guc, strlen(ec_key_guc), id))
		return "(hidden)";
	snprintf(buf, sizeof(buf), "(hidden, key id %s)", id);
	return buf;
}

/* SHOW for encrypted_column.previous_keys: the key ids, never the keys. */
static const char *
show_previous_keys(void)
{
	static char buf[32 + (EC_KEY_ID_HEX_LEN + 1) * EC_MAX_PREVIOUS_KEYS];
	const char *p = ec_previous_keys_guc;
	size_t		used;
	int			n = 0;

	if (p == NULL)
		return "";
	used = snprintf(buf, sizeof(buf), "(hidden, key ids ");
	while (*p != '\0')
	{
		const char *start;
		size_t		len;
		char		id[EC_KEY_ID_HEX_LEN + 1];

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		len = p - start;
		if (len == 0)
			continue;
		if (!ec_key_id_of_hex(start, len, id) || n >= EC_MAX_PREVIOUS_KEYS)
			return "(hidden)";
		used += snprintf(buf + used, sizeof(buf) - used, "%s%s",
						 n > 0 ? "," : "", id);
		n++;
	}
	if (n == 0)
		return "";
	snprintf(buf + used, sizeof(buf) - used, ")");
	return buf;
}

/* Register the settings; called once from _PG_init. */
void
ec_define_gucs(void)
{
	DefineCustomStringVariable("encrypted_column.key",
							   "Current master key (64 hex digits): encrypts new values and decrypts.",
							   "Never shown: SHOW prints only its key id.",
							   &ec_key_guc,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_key, assign_key, show_key);

	DefineCustomStringVariable("encrypted_column.previous_keys",
							   "Comma-separated earlier master keys, used only to decrypt.",
							   "Never shown: SHOW prints only their key ids.",
							   &ec_previous_keys_guc,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_previous_keys, assign_key,
							   show_previous_keys);

	DefineCustomStringVariable("encrypted_column.key_name",
							   "Name of the stored key that encrypts new values.",
							   "Not secret; set it per session or per transaction (SET LOCAL).  Decryption finds stored keys by the key id in each value.",
							   &ec_key_name_guc,
							   "",
							   PGC_USERSET,
							   0,
							   check_key_name, assign_key, NULL);

	/*
	 * Where the key-encryption key comes from: a superuser's choice, since
	 * a file or command source runs on the server as its user.  Reloadable,
	 * as ssl_passphrase_command is; shown only to superusers.
	 */
	DefineCustomStringVariable("encrypted_column.kek_source",
							   "Source of the key-encryption key that wraps stored keys.",
							   "file:PATH, command:CMD, pkcs11:URI, kmip://HOST:PORT/ID?cert=..&key=..&ca=.., or session.",
							   &ec_kek_source_guc,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_kek_source, assign_kek, NULL);

	DefineCustomStringVariable("encrypted_column.kek",
							   "The session's key-encryption key (64 hex digits), with kek_source = 'session'.",
							   "Never shown.",
							   &ec_kek_guc,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_kek, assign_kek, show_kek);

	DefineCustomStringVariable("encrypted_column.new_kek",
							   "The next session key-encryption key, for rotate_kek('session').",
							   "Never shown.",
							   &ec_new_kek_guc,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_new_kek, NULL, show_new_kek);

	/*
	 * A database that requires stored keys refuses to encrypt with a key of
	 * the settings that the key table does not hold: a privilege, since the
	 * roles it stops must not lift it.
	 */
	DefineCustomBoolVariable("encrypted_column.require_stored_keys",
							 "Encrypt only with keys the key table holds.",
							 "While on, encrypted_column.key encrypts only if import_key() stored it.",
							 &ec_require_stored_keys,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * The restore switch is a privilege: a role that may not decrypt must
	 * not be able to lift the rule that keeps it from storing a copied
	 * ciphertext.  Superusers set it, and roles granted SET ON PARAMETER.
	 */
	DefineCustomBoolVariable("encrypted_column.accept_ciphertext",
							 "Accept ciphertext text forms as input and store them as they are.",
							 "For restoring dumps; while off, input that looks like ciphertext is refused.",
							 &ec_accept_ciphertext,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
}
