/*
 * kek.c
 *		Key-encryption keys: the source that encrypted_column.kek_source
 *		names, opened once per backend, and the wrapping of data keys.
 *
 * Sources (kek.h):
 *	file:PATH		64 hex digits in a file the server's user owns and
 *					nobody else can read, outside the data directory
 *	command:CMD		a shell command that prints 64 hex digits
 *	session			the session's encrypted_column.kek
 *	kmip://...		a KMIP server (kek_kmip.c)
 *	pkcs11:...		a PKCS#11 token, which wraps inside itself (kek_pkcs11.c)
 * Every source but the token hands this backend 32 bytes of KEK, kept in
 * one malloc'd ec_kek and wiped when the source or the session KEK
 * changes and at exit.  A KEK is known by its kek id: the first 4 bytes of
 * SHA-256 over its RFC 5649 wrapping of 32 zero bytes, the same whichever
 * kind of source holds the same key, and no help in finding it.
 */
#include "postgres.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port.h"
#include "storage/fd.h"
#include "storage/ipc.h"

#include "encrypted_column.h"
#include "kek.h"

typedef enum kek_kind
{
	KEK_LOCAL,					/* 32 bytes in this backend */
	KEK_TOKEN					/* a PKCS#11 token holds it */
} kek_kind;

struct ec_kek
{
	kek_kind	kind;
	uint8_t		material[EC_KEK_LEN];	/* KEK_LOCAL */
	void	   *token;			/* KEK_TOKEN */
	char		id_hex[EC_KEY_ID_HEX_LEN + 1];
};

/* the KEK of the configured source, until a setting changes */
static ec_kek *current_kek = NULL;
static bool current_stale = false;
static bool exit_hook_registered = false;

/* Largest file or command output read for a KEK: hex and a newline. */
#define KEK_TEXT_MAX	256

/* Wipe and free a KEK; NULL is ignored.  Never fails. */
void
ec_kek_close(ec_kek *kek)
{
	if (kek == NULL)
		return;
	if (kek->kind == KEK_TOKEN)
		ec_pkcs11_close(kek->token);
	ec_wipe(kek, sizeof(*kek));
	free(kek);
}

/* At backend exit, no KEK stays in memory. */
static void
kek_at_exit(int code, Datum arg)
{
	(void) code;
	(void) arg;
	ec_kek_close(current_kek);
	current_kek = NULL;
}

/*
 * Forget the configured source's KEK: called by the assign hooks of
 * kek_source and kek, which must not fail, so the closing (which talks to
 * a token) waits for the next use.  The local bytes are wiped now.
 */
void
ec_kek_invalidate(void)
{
	if (current_kek != NULL && current_kek->kind == KEK_LOCAL)
		ec_wipe(current_kek->material, EC_KEK_LEN);
	current_stale = true;
}

/* Parse 64 hex digits, blanks and a newline around them allowed. */
static bool
parse_kek_text(char *text, size_t len, uint8_t *kek)
{
	size_t		start = 0;

	while (start < len && isspace((unsigned char) text[start]))
		start++;
	while (len > start && isspace((unsigned char) text[len - 1]))
		len--;
	return ec_parse_key_hex(text + start, len - start, kek);
}

/* The error for a KEK text that is not 64 hex digits; names no byte. */
static void
bad_kek_text(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("the key-encryption key from %s is not 64 hexadecimal digits", what)));
}

/*
 * Open a file that holds a secret (a KEK, a PIN, a TLS client key), by the
 * rule PostgreSQL applies to ssl_key_file: a regular file (a symbolic
 * link is followed, and its target judged), owned by the server's user
 * with no group or other access, or owned by root and readable by the
 * group at most.  what names the file in the errors.  Returns the open
 * descriptor.
 */
int
ec_open_secret_file(const char *path, const char *what)
{
	struct stat st;
	int			fd;

	fd = open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not open %s \"%s\": %m", what, path)));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" is not a regular file", what, path)));
	}
	if (st.st_uid != geteuid() && st.st_uid != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" must be owned by the database user or root", what, path)));
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) ||
		(st.st_uid != geteuid() && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" has group or world access", what, path),
				 errdetail("The file must be owned by the database user with permissions u=rw (0600) or less, or owned by root with permissions u=rw,g=r (0640) or less.")));
	}
	return fd;
}

/*
 * file:PATH.  As for ssl_key_file: the file must be a regular file owned
 * by the server's user (or by root, readable by the group) that nobody
 * else can read; and it must lie outside the data directory, which base
 * backups copy with the data it protects.
 */
static void
kek_from_file(const char *path, uint8_t *kek)
{
	char		canonical[MAXPGPATH];
	char		text[KEK_TEXT_MAX];
	int			fd;
	ssize_t		len;
	bool		ok;

	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("key-encryption key file \"%s\" is not an absolute path", path)));
	strlcpy(canonical, path, sizeof(canonical));
	canonicalize_path(canonical);
	if (DataDir != NULL && path_is_prefix_of_path(DataDir, canonical))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("key-encryption key file \"%s\" is inside the data directory", path),
				 errhint("Keep the key-encryption key apart from the data it protects: base backups copy the data directory.")));

	fd = ec_open_secret_file(path, "key-encryption key file");
	len = read(fd, text, sizeof(text));
	close(fd);
	ok = len > 0 && len < (ssize_t) sizeof(text) &&
		parse_kek_text(text, (size_t) len, kek);
	ec_wipe(text, sizeof(text));
	if (!ok)
		bad_kek_text(psprintf("file \"%s\"", path));
}

/*
 * command:CMD, run by the shell as ssl_passphrase_command is, once per
 * backend that needs the KEK.  It prints the KEK as 64 hex digits.
 */
static void
kek_from_command(const char *command, uint8_t *kek)
{
	char		text[KEK_TEXT_MAX];
	size_t		len = 0;
	FILE	   *pipe;
	int			status;
	bool		ok;

	fflush(NULL);
	pipe = OpenPipeStream(command, "r");
	if (pipe == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not run the key-encryption key command: %m")));
	for (;;)
	{
		char		rest[KEK_TEXT_MAX];
		size_t		n;

		/* past the buffer, read on to the end: the command must not block */
		if (len < sizeof(text))
			n = fread(text + len, 1, sizeof(text) - len, pipe);
		else
		{
			n = fread(rest, 1, sizeof(rest), pipe);
			ec_wipe(rest, sizeof(rest));
		}
		if (n == 0)
			break;
		len = Min(len + n, sizeof(text));
	}
	status = ClosePipeStream(pipe);
	ok = status == 0 && len < sizeof(text) && parse_kek_text(text, len, kek);
	ec_wipe(text, sizeof(text));
	if (status != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("the key-encryption key command failed"),
				 errdetail_internal("%s", wait_result_to_str(status))));
	if (!ok)
		bad_kek_text("the command");
}

/* session: the session's KEK setting (or the next one, for rotate_kek). */
static void
kek_from_session(const char *hex, const char *setting, uint8_t *kek)
{
	if (hex == NULL || hex[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not set", setting),
				 errhint("With encrypted_column.kek_source = 'session', hand the key-encryption key to the session as 64 hexadecimal digits, preferably as a connection option.")));
	/* the check hook let only 64 hex digits through */
	if (!ec_parse_key_hex(hex, strlen(hex), kek))
		elog(ERROR, "encrypted_column: a key-encryption key that passed its check hook does not parse");
}

/* Which source a kek_source value names; NULL when none. */
const char *
ec_kek_source_kind(const char *source)
{
	if (source == NULL || source[0] == '\0')
		return NULL;
	if (strncmp(source, "file:", 5) == 0)
		return "file";
	if (strncmp(source, "command:", 8) == 0)
		return "command";
	if (strcmp(source, "session") == 0)
		return "session";
	if (strncmp(source, "pkcs11:", 7) == 0)
		return "pkcs11";
	if (strncmp(source, "kmip://", 7) == 0)
		return "kmip";
	return NULL;
}

/* Wrap a data key with a KEK; the RFC 5649 bytes are EC_WRAPPED_LEN long. */
void
ec_kek_wrap(ec_kek *kek, const uint8_t *key, uint8_t *wrapped)
{
	size_t		len = 0;

	if (kek->kind == KEK_TOKEN)
	{
		ec_pkcs11_wrap(kek->token, key, EC_DATA_KEY_LEN, wrapped);
		return;
	}
	if (ec_kwp_wrap(kek->material, key, EC_DATA_KEY_LEN, wrapped, &len) != EC_CRYPTO_OK ||
		len != EC_WRAPPED_LEN)
		ec_crypto_failed("wrap a data key");
}

/* Unwrap a data key; false when it does not verify under this KEK. */
bool
ec_kek_unwrap(ec_kek *kek, const uint8_t *wrapped, size_t wrapped_len,
			  uint8_t *key)
{
	uint8_t		out[EC_WRAPPED_LEN];
	size_t		len = 0;
	ec_crypto_status status;

	if (kek->kind == KEK_TOKEN)
		return ec_pkcs11_unwrap(kek->token, wrapped, wrapped_len, key);
	if (wrapped_len != EC_WRAPPED_LEN)
		return false;
	status = ec_kwp_unwrap(kek->material, wrapped, wrapped_len, out, &len);
	if (status == EC_CRYPTO_LIBRARY)
	{
		ec_wipe(out, sizeof(out));
		ec_crypto_failed("unwrap a data key");
	}
	if (status != EC_CRYPTO_OK || len != EC_DATA_KEY_LEN)
	{
		ec_wipe(out, sizeof(out));
		return false;
	}
	memcpy(key, out, EC_DATA_KEY_LEN);
	ec_wipe(out, sizeof(out));
	return true;
}

/* The 8-hex-digit id of a KEK (see the header comment). */
const char *
ec_kek_id(ec_kek *kek)
{
	return kek->id_hex;
}

/* Compute a new KEK's id from its wrapping of zeros. */
static void
compute_kek_id(ec_kek *kek)
{
	uint8_t		zeros[EC_DATA_KEY_LEN] = {0};
	uint8_t		wrapped[EC_WRAPPED_LEN];
	uint8_t		digest[32];

	ec_kek_wrap(kek, zeros, wrapped);
	if (ec_sha256(wrapped, sizeof(wrapped), digest) != EC_CRYPTO_OK)
		ec_crypto_failed("compute the key-encryption key id");
	ec_hex_encode(digest, EC_KEY_ID_LEN, kek->id_hex);
}

/*
 * Open a source: the configured one, or another for rotate_kek.  With
 * "session", session_hex is the KEK (and setting names it for errors).
 * The result is malloc'd; the caller closes it with ec_kek_close.
 */
ec_kek *
ec_kek_open(const char *source, const char *session_hex, const char *setting)
{
	const char *kind = ec_kek_source_kind(source);
	uint8_t		material[EC_KEK_LEN];
	ec_kek	   *volatile kek = NULL;

	if (kind == NULL)
	{
		if (source == NULL || source[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("encrypted_column.kek_source is not set"),
					 errhint("Stored keys need a key-encryption key: a superuser sets encrypted_column.kek_source in postgresql.conf.")));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("encrypted_column.kek_source names no known source"),
				 errhint("Use file:PATH, command:CMD, pkcs11:URI, kmip://HOST:PORT/ID?... or session.")));
	}

	kek = calloc(1, sizeof(ec_kek));
	if (kek == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	PG_TRY();
	{
		if (strcmp(kind, "pkcs11") == 0)
		{
			kek->kind = KEK_TOKEN;
			kek->token = ec_pkcs11_open(source);
		}
		else
		{
			kek->kind = KEK_LOCAL;
			if (strcmp(kind, "file") == 0)
				kek_from_file(source + 5, material);
			else if (strcmp(kind, "command") == 0)
				kek_from_command(source + 8, material);
			else if (strcmp(kind, "kmip") == 0)
				ec_kmip_fetch(source, material);
			else
				kek_from_session(session_hex, setting, material);
			memcpy(kek->material, material, EC_KEK_LEN);
			ec_wipe(material, sizeof(material));
		}
		compute_kek_id(kek);
	}
	PG_CATCH();
	{
		ec_wipe(material, sizeof(material));
		ec_kek_close(kek);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return kek;
}

/* The KEK of the configured source, opened on first use in this backend. */
ec_kek *
ec_kek_current(void)
{
	if (current_stale)
	{
		ec_kek_close(current_kek);
		current_kek = NULL;
		current_stale = false;
	}
	if (current_kek == NULL)
	{
		if (!exit_hook_registered)
		{
			on_proc_exit(kek_at_exit, (Datum) 0);
			exit_hook_registered = true;
		}
		current_kek = ec_kek_open(ec_kek_source_guc, ec_kek_guc,
								  "encrypted_column.kek");
	}
	return current_kek;
}
