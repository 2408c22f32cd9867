/*
 * sqlfuzz.c
 *		SQL-level fuzzing of encrypted_text and encrypted_text_det through a
 *		real server (libpq).
 *
 * Usage: sqlfuzz CONNINFO SEED CASES KEY1 KEY2 [SECRETS_FILE]
 *
 * The driver builds a pool of genuine envelopes of each type (encrypt() and
 * encrypt_det() under KEY1, some bound to a context), then sends random and
 * mutated inputs through every door into each type, half the cases each;
 * an envelope of one type sent unchanged as the other must be refused:
 *	binary	envelopes as binary bind parameters (the recv function)
 *	copy	envelopes in COPY ... (FORMAT binary)
 *	text	text forms with encrypted_column.accept_ciphertext = on, through
 *			the input function and through the cast from text
 *	plain	plaintexts and prefixed text with the switch off
 *	guc		random values for the key GUCs and the switch, by set_config()
 *			and by SET, each followed by a decrypt whose outcome the
 *			driver predicts from the GUC values the server accepted
 *	context	decrypt() with random contexts
 *	lookup	encrypted_text_det rows found by plaintext (a text or an untyped
 *			parameter, encrypt_det_all(), during a rotation too) and by
 *			mutated deterministic parameters, each count predicted
 *	search	a table with an encrypted_text(trigram) column (GIN index) and an
 *			encrypted_date(range, 7) column (range_ops index): rows
 *			inserted; LIKE, ILIKE, NOT LIKE and NOT ILIKE with patterns cut
 *			from stored plaintexts (with % and _, escapes, ESCAPE clauses,
 *			case flips) or mutated into anything (a trailing escape, bytes
 *			that are not UTF-8); comparisons, BETWEEN and ORDER BY ... LIMIT
 *			with random bounds (infinity too); each through the index and
 *			on decrypt(col), which must give the same rows, or fail with
 *			the same SQLSTATE; and mutated envelopes of either column (and
 *			of the other types) as binary parameters, which must be refused
 *			or, accepted, decrypt only if they are genuine
 * Every statement must succeed or fail with an ERROR whose SQLSTATE is one
 * the operation may raise; a value the server accepted must decrypt to the
 * plaintext of the pool envelope it is byte-identical to, or fail to
 * decrypt (a mutated value that decrypts is a forgery); no message,
 * detail, hint or context may hold a plaintext marker or a key; and the
 * connection must survive every input.  The figures and any failure go to
 * standard output; the exit status is 0 only if nothing failed.  Every
 * key-like value set during the run is written to SECRETS_FILE, one a
 * line, so that the caller can search the server log for them.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define POOL_SIZE		64
#define MAX_INPUT		8192
#define MARKER			"FZPLAIN"
#define TEXT_OID		25
#define UNKNOWN_OID		0
#define NTYPES			2		/* 0: encrypted_text, 1: encrypted_text_det */
#define NKINDS			8
#define SEARCH_POOL		16		/* genuine envelopes of each search column */
#define SEARCH_PLAINS	64		/* plaintexts stored in the search table */

typedef struct pool_entry
{
	char		plain[512];
	char		context[32];	/* empty: not bound to a context */
	uint8_t		env[600];
	size_t		env_len;
	char		text[900];
} pool_entry;

static PGconn *conn;
static unsigned int type_oids[NTYPES];
static pool_entry pools[NTYPES][POOL_SIZE];
static const char *const type_names[NTYPES] = {"encrypted_text", "encrypted_text_det"};
static const char *const tables[NTYPES] = {"fz", "fzd"};
static const char *const encrypt_fns[NTYPES] = {"encrypt", "encrypt_det"};

/* the type the current case sends its inputs to, and its pool */
static int	ty;
#define pool	(pools[ty])
#define enc_oid	(type_oids[ty])
static const char *key1;
static const char *key2;
static uint64_t rng_state;

/* GUC state as the server accepted it, to predict decrypt() */
static char cur_key[80];
static char cur_prev[4096];
static int	guc_dirty;

/* secrets that must never appear in an error: keys set during the run */
#define MAX_SECRETS 64
static char secrets[MAX_SECRETS][17];
static int	nsecrets;
static FILE *secrets_file;

static long n_statements;
static long n_errors;
static long n_accepted;
static long n_decrypted;
static long n_failures;
static long n_lookups;
static long n_cases[NKINDS];
static long n_type_cases[NTYPES];
static const char *const case_names[NKINDS] = {"binary", "copy", "text", "plain", "guc", "context", "lookup", "search"};
static long n_searches;
static long n_searches_found;	/* searches that found rows */
static long n_searches_failed;	/* searches that failed alike both ways */

/* the search table: genuine envelopes of its columns, stored plaintexts */
typedef struct search_entry
{
	char		plain[256];		/* the text, or the date's text form */
	uint8_t		env[600];
	size_t		env_len;
} search_entry;
static search_entry search_pool[2][SEARCH_POOL];	/* 0: c (trigram), 1: d (date) */
static unsigned int search_oids[2];	/* encrypted_text, encrypted_date */
static char search_plains[SEARCH_PLAINS][256];
static int	n_search_plains;

/* ---- small utilities ---- */

/* xorshift64*: reproducible from the seed. */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* A random number in [0, n). */
static size_t
rn(size_t n)
{
	return n ? (size_t) (rnd() % n) : 0;
}

/* Record a failure with a printf-style description. */
static void
fail(const char *fmt,...)
{
	va_list		ap;

	n_failures++;
	if (n_failures > 20)
		return;
	printf("FAILURE: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Print bytes as hex, shortened, for a failure report. */
static void
print_hex(const char *label, const uint8_t *p, size_t n)
{
	if (n_failures > 20)
		return;
	printf("  %s (%zu bytes): ", label, n);
	for (size_t i = 0; i < n && i < 96; i++)
		printf("%02x", p[i]);
	printf("%s\n", n > 96 ? "..." : "");
}

/* Remember a key so that no later error may show it. */
static void
add_secret(const char *key)
{
	if (strlen(key) < 16 || strspn(key, "0123456789abcdefABCDEF") < 16)
		return;
	if (secrets_file != NULL)
		fprintf(secrets_file, "%.*s\n", (int) strspn(key, "0123456789abcdefABCDEF"), key);
	memcpy(secrets[nsecrets % MAX_SECRETS], key, 16);
	secrets[nsecrets % MAX_SECRETS][16] = '\0';
	nsecrets++;
}

/* Does an error field hold a plaintext marker or a key? */
static int
leaks(const char *field)
{
	int			n = nsecrets < MAX_SECRETS ? nsecrets : MAX_SECRETS;

	if (field == NULL)
		return 0;
	if (strstr(field, MARKER) != NULL)
		return 1;
	for (int i = 0; i < n; i++)
		if (strcasestr(field, secrets[i]) != NULL)
			return 1;
	return 0;
}

/* The server must be there after every statement. */
static void
require_connection(const char *what)
{
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fail("connection lost after %s: %s", what, PQerrorMessage(conn));
		printf("sqlfuzz: %ld statements, %ld failures\n", n_statements, n_failures);
		exit(2);
	}
}

/*
 * Judge a result: 1 on success, 0 on an ERROR with an allowed SQLSTATE
 * (allowed is a space-separated list), -1 on anything else (recorded).
 */
static int
judge(PGresult *res, const char *what, const char *allowed)
{
	ExecStatusType st = PQresultStatus(res);
	const char *state;
	const char *fields[4];

	n_statements++;
	require_connection(what);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return 1;
	if (st != PGRES_FATAL_ERROR)
	{
		fail("%s: unexpected result status %s", what, PQresStatus(st));
		return -1;
	}
	n_errors++;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	fields[0] = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	fields[1] = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	fields[2] = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	fields[3] = PQresultErrorField(res, PG_DIAG_CONTEXT);
	for (int i = 0; i < 4; i++)
		if (leaks(fields[i]))
		{
			fail("%s: error field %d holds a plaintext marker or a key", what, i);
			return -1;
		}
	if (state == NULL || strlen(state) != 5)
	{
		fail("%s: error without a SQLSTATE: %s", what, fields[0] ? fields[0] : "?");
		return -1;
	}
	if (allowed != NULL && strstr(allowed, state) != NULL)
		return 0;
	fail("%s: SQLSTATE %s not among [%s]: %s", what, state, allowed ? allowed : "",
		 fields[0] ? fields[0] : "?");
	return -1;
}

/*
 * The statement text for the current type: @T is its table, @Y the type's
 * name and @E its encrypting function.  The result lives until the next
 * call but one.
 */
static const char *
q(const char *fmt)
{
	static char bufs[2][512];
	static int	which;
	char	   *out = bufs[which ^= 1];
	size_t		o = 0;

	for (const char *f = fmt; *f && o < sizeof(bufs[0]) - 40; f++)
	{
		const char *sub = NULL;

		if (f[0] == '@' && f[1] == 'T')
			sub = tables[ty];
		else if (f[0] == '@' && f[1] == 'Y')
			sub = type_names[ty];
		else if (f[0] == '@' && f[1] == 'E')
			sub = encrypt_fns[ty];
		if (sub != NULL)
		{
			o += (size_t) snprintf(out + o, sizeof(bufs[0]) - o, "%s", sub);
			f++;
		}
		else
			out[o++] = *f;
	}
	out[o] = '\0';
	return out;
}

/* Run a statement with up to 3 parameters; returns the PGresult. */
static PGresult *
run(const char *sql, int nparams, const unsigned int *types,
	const char *const *values, const int *lengths, const int *formats,
	int result_binary)
{
	return PQexecParams(conn, sql, nparams, types, values, lengths, formats,
						result_binary);
}

/* Run a statement that must succeed (set-up). */
static void
must(const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (judge(res, sql, NULL) != 1)
	{
		printf("set-up statement failed: %s\n", sql);
		exit(2);
	}
	PQclear(res);
}

/* set_config() a GUC; 1 if the server accepted the value. */
static int
set_guc(const char *name, const char *value, int via_set)
{
	PGresult   *res;
	int			ok;

	if (via_set)
	{
		char	   *lit = PQescapeLiteral(conn, value, strlen(value));
		char	   *sql = malloc(strlen(lit) + 128);

		sprintf(sql, "SET %s = %s", name, lit);
		res = PQexec(conn, sql);
		free(sql);
		PQfreemem(lit);
	}
	else
	{
		const char *values[2] = {name, value};

		res = run("SELECT set_config($1, $2, false)", 2, NULL, values, NULL, NULL, 0);
	}
	ok = judge(res, "set a GUC", via_set ? "22023 42602 42704 22021 42601" : "22023 42602 42704 22021");
	PQclear(res);
	return ok == 1;
}

/* ---- the pool of genuine envelopes ---- */

static void build_entry(int i);

/* A random plaintext with the marker: ASCII, some multibyte, some long. */
static void
random_plain(char *out, size_t cap)
{
	static const char *const multi[] = {"ü", "日本", "é", "Ω", "😀"};
	size_t		len = rn(4) == 0 ? rn(cap - 40) : rn(40);
	size_t		o;

	o = (size_t) snprintf(out, cap, "%s%08x-", MARKER, (unsigned) rnd());
	while (o < len && o + 8 < cap)
	{
		if (rn(10) == 0)
		{
			const char *m = multi[rn(5)];

			memcpy(out + o, m, strlen(m));
			o += strlen(m);
		}
		else
			out[o++] = (char) (' ' + rn(95));
	}
	out[o] = '\0';
}

/* Encrypt the pool's plaintexts with the server and keep the envelopes. */
static void
build_pool(void)
{
	for (int i = 0; i < POOL_SIZE; i++)
	{
		if (ty == 1 && i % 8 == 5)
		{
			/* the deterministic pool repeats a plaintext, as columns do */
			pool[i] = pool[i - 1];
			continue;
		}
		build_entry(i);
	}
}

/* Encrypt one pool entry of the current type. */
static void
build_entry(int i)
{
	pool_entry *p = &pool[i];
	const char *values[2];
	PGresult   *res;

	random_plain(p->plain, sizeof(p->plain));
	if (i == 0)
		p->plain[0] = '\0';
	if (i % 4 == 3)
		snprintf(p->context, sizeof(p->context), "ctx-%d", i);
	values[0] = p->plain;
	values[1] = p->context;
	res = run(p->context[0]
			  ? q("SELECT e, e::text FROM (SELECT @E($1, $2) AS e) s")
			  : q("SELECT e, e::text FROM (SELECT @E($1) AS e) s"),
			  p->context[0] ? 2 : 1, NULL, values, NULL, NULL, 1);
	if (judge(res, "build the pool", NULL) != 1 || PQntuples(res) != 1)
	{
		printf("could not build the envelope pool\n");
		exit(2);
	}
	p->env_len = (size_t) PQgetlength(res, 0, 0);
	memcpy(p->env, PQgetvalue(res, 0, 0), p->env_len);
	snprintf(p->text, sizeof(p->text), "%.*s", PQgetlength(res, 0, 1),
			 PQgetvalue(res, 0, 1));
	PQclear(res);
}

/* ---- mutations ---- */

static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0x81, 0x82, 0xfe, 0xff};

/* Mutate bytes in place (len may change, up to cap); returns the new length. */
static size_t
mutate_bytes(uint8_t *buf, size_t len, size_t cap)
{
	int			rounds = 1 + (int) rn(3);

	for (int r = 0; r < rounds; r++)
	{
		size_t		pos = rn(len ? len : 1);

		switch (rn(10))
		{
			case 0:				/* flip a bit */
				if (len)
					buf[pos] ^= (uint8_t) (1 << rn(8));
				break;
			case 1:				/* an interesting byte */
				if (len)
					buf[pos] = interesting[rn(sizeof(interesting))];
				break;
			case 2:				/* a random byte */
				if (len)
					buf[pos] = (uint8_t) rnd();
				break;
			case 3:				/* truncate */
				len = rn(len + 1);
				break;
			case 4:				/* append random bytes */
				{
					size_t		n = 1 + rn(40);

					while (n-- && len < cap)
						buf[len++] = (uint8_t) rnd();
				}
				break;
			case 5:				/* delete one byte */
				if (len)
				{
					memmove(buf + pos, buf + pos + 1, len - pos - 1);
					len--;
				}
				break;
			case 6:				/* insert one byte */
				if (len < cap)
				{
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = (uint8_t) rnd();
					len++;
				}
				break;
			case 7:				/* edit the header: version, algorithm, context bit */
				if (len >= 2)
					buf[rn(2)] = interesting[rn(sizeof(interesting))];
				break;
			case 8:				/* cut to a length near a boundary */
				{
					static const size_t edges[] = {0, 1, 5, 6, 17, 18, 21, 22, 33, 34, 35};
					size_t		n = edges[rn(sizeof(edges) / sizeof(edges[0]))];

					if (n < len)
						len = n;
				}
				break;
			case 9:				/* splice in another envelope's tail */
				{
					const pool_entry *o = &pool[rn(POOL_SIZE)];
					size_t		from = rn(o->env_len);
					size_t		n = o->env_len - from;

					if (pos + n > cap)
						n = cap - pos;
					memcpy(buf + pos, o->env + from, n);
					if (pos + n > len)
						len = pos + n;
				}
				break;
		}
	}
	return len;
}

/* Standard padded base64 with the prefix, as the output function writes. */
static void
to_text_form(const uint8_t *env, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t		o = 0;

	memcpy(out, "ecv1:", 5);
	out += 5;
	for (size_t i = 0; i < len; i += 3)
	{
		uint32_t	v = (uint32_t) env[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t) env[i + 1] << 8;
		if (i + 2 < len)
			v |= env[i + 2];
		out[o++] = a[(v >> 18) & 63];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = i + 1 < len ? a[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? a[v & 63] : '=';
	}
	out[o] = '\0';
}

/* Mutate a text form in place (NUL-terminated, at most cap - 1 chars). */
static void
mutate_text(char *s, size_t cap)
{
	static const char chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\n-_.:";
	size_t		len = strlen(s);
	int			rounds = 1 + (int) rn(3);

	for (int r = 0; r < rounds; r++)
	{
		size_t		pos = rn(len ? len : 1);

		switch (rn(8))
		{
			case 0:				/* replace a character */
			case 1:
				if (len)
					s[pos] = chars[rn(sizeof(chars) - 1)];
				break;
			case 2:				/* truncate */
				len = rn(len + 1);
				s[len] = '\0';
				break;
			case 3:				/* insert a character */
				if (len + 1 < cap)
				{
					memmove(s + pos + 1, s + pos, len - pos + 1);
					s[pos] = chars[rn(sizeof(chars) - 1)];
					len++;
				}
				break;
			case 4:				/* delete a character */
				if (len)
				{
					memmove(s + pos, s + pos + 1, len - pos);
					len--;
				}
				break;
			case 5:				/* add or remove padding */
				if (len + 2 < cap && rn(2))
				{
					s[len++] = '=';
					s[len] = '\0';
				}
				else if (len > 5)
					s[--len] = '\0';
				break;
			case 6:				/* mangle the prefix */
				if (len >= 5)
					s[rn(5)] = (char) toupper((unsigned char) s[rn(5)]);
				break;
			case 7:				/* a random printable or high byte */
				if (len)
					s[pos] = (char) (rn(4) ? ' ' + rn(95) : 0x80 + rn(0x7f));
				break;
		}
	}
	/* text parameters are C strings */
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0')
			s[i] = 'A';
}

/* ---- checking what the server accepted ---- */

/*
 * A row the server accepted: read back its bytes.  If they are a pool
 * envelope, it must decrypt (with that envelope's context) to its
 * plaintext; anything else must not decrypt, whatever the context.
 */
static void
check_stored(const char *id, const pool_entry *origin)
{
	const pool_entry *match = NULL;
	const char *values[2] = {id, NULL};
	PGresult   *res;
	int			ok;

	res = run(q("SELECT c, c::text, key_id(c) FROM @T WHERE id = $1"), 1, NULL, values, NULL, NULL, 1);
	if (judge(res, "read back", NULL) != 1 || PQntuples(res) != 1)
	{
		PQclear(res);
		return;
	}
	for (int i = 0; i < POOL_SIZE && match == NULL; i++)
		if ((size_t) PQgetlength(res, 0, 0) == pool[i].env_len &&
			memcmp(PQgetvalue(res, 0, 0), pool[i].env, pool[i].env_len) == 0)
			match = &pool[i];
	if (strncmp(PQgetvalue(res, 0, 1), "ecv1:", 5) != 0)
		fail("output function did not give a ciphertext text form");
	PQclear(res);

	values[1] = match ? match->context : origin->context;
	res = run(values[1][0] ? q("SELECT decrypt(c, $2) FROM @T WHERE id = $1")
			  : q("SELECT decrypt(c) FROM @T WHERE id = $1"),
			  values[1][0] ? 2 : 1, NULL, values, NULL, NULL, 0);
	ok = judge(res, "decrypt a fuzzed value", "39000 42704");
	if (ok == 1)
	{
		n_decrypted++;
		if (match == NULL)
			fail("a value that is not a genuine envelope decrypted (forgery)");
		else if (strcmp(PQgetvalue(res, 0, 0), match->plain) != 0)
			fail("decrypt() gave the wrong plaintext");
	}
	else if (ok == 0 && match != NULL)
		fail("a genuine envelope did not decrypt");
	PQclear(res);
}

/* The type whose pool a case draws from: now and then the other one. */
static int
source_type(void)
{
	return rn(4) == 0 ? 1 - ty : ty;
}

/* An envelope of the other type, sent unchanged, must never be accepted. */
static void
check_cross(int accepted, int unchanged, int st, const char *door)
{
	if (accepted && unchanged && st != ty)
		fail("%s: an unchanged %s envelope was accepted as %s", door,
			 type_names[st], type_names[ty]);
}

/* Insert through the binary path (recv); check what was accepted. */
static void
case_binary(void)
{
	int			st = source_type();
	const pool_entry *o = &pools[st][rn(POOL_SIZE)];
	int			unchanged = 0;
	uint8_t		buf[MAX_INPUT];
	size_t		len;
	const char *values[1];
	int			lengths[1];
	int			formats[1] = {1};
	PGresult   *res;
	int			ok;

	if (rn(8) == 0)
	{
		len = rn(80);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t) rnd();
	}
	else
	{
		memcpy(buf, o->env, o->env_len);
		unchanged = rn(16) == 0 || st != ty;
		len = unchanged ? o->env_len : mutate_bytes(buf, o->env_len, sizeof(buf));
	}
	values[0] = (const char *) buf;
	lengths[0] = (int) len;
	res = run(q("INSERT INTO @T (c) VALUES ($1) RETURNING id"), 1, &enc_oid, values,
			  lengths, formats, 0);
	ok = judge(res, "binary insert", "22P03");
	check_cross(ok == 1, unchanged, st, "binary insert");
	if (ok < 0)
		print_hex("input", buf, len);
	if (ok == 1)
	{
		n_accepted++;
		check_stored(PQgetvalue(res, 0, 0), o);
	}
	PQclear(res);
}

/* Append a big-endian integer to a buffer. */
static size_t
put_be(uint8_t *p, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t) (v >> (8 * (bytes - 1 - i)));
	return (size_t) bytes;
}

/* COPY ... FROM STDIN (FORMAT binary) with one fuzzed row. */
static void
case_copy(void)
{
	int			st = source_type();
	const pool_entry *o = &pools[st][rn(POOL_SIZE)];
	int			unchanged = rn(16) == 0 || st != ty;
	uint8_t		env[MAX_INPUT];
	uint8_t		stream[MAX_INPUT + 64];
	size_t		len;
	size_t		n = 0;
	PGresult   *res;
	int			ok;

	memcpy(env, o->env, o->env_len);
	len = unchanged ? o->env_len : mutate_bytes(env, o->env_len, sizeof(env));
	memcpy(stream, "PGCOPY\n\377\r\n\0", 11);
	n = 11;
	n += put_be(stream + n, 0, 4);	/* flags */
	n += put_be(stream + n, 0, 4);	/* header extension */
	n += put_be(stream + n, 1, 2);	/* one field */
	n += put_be(stream + n, (uint32_t) len, 4);
	memcpy(stream + n, env, len);
	n += len;
	n += put_be(stream + n, 0xffff, 2);	/* trailer */

	res = PQexec(conn, q("COPY @T (c) FROM STDIN (FORMAT binary)"));
	if (PQresultStatus(res) != PGRES_COPY_IN)
	{
		judge(res, "start COPY", NULL);
		PQclear(res);
		return;
	}
	PQclear(res);
	if (PQputCopyData(conn, (const char *) stream, (int) n) != 1 ||
		PQputCopyEnd(conn, NULL) != 1)
		require_connection("COPY data");
	res = PQgetResult(conn);
	ok = judge(res, "binary COPY", "22P03");
	check_cross(ok == 1, unchanged, st, "binary COPY");
	if (ok < 0)
		print_hex("input", env, len);
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	if (ok == 1)
		n_accepted++;
}

/* Text forms with the switch on, by the input function or the text cast. */
static void
case_text(void)
{
	int			st = source_type();
	const pool_entry *o = &pools[st][rn(POOL_SIZE)];
	int			unchanged = 0;
	char		s[MAX_INPUT];
	const char *values[1] = {s};
	unsigned int types[1];
	PGresult   *res;
	int			ok;
	int			via_cast = (int) rn(2);
	int			prefixed;

	if (rn(3) == 0)
	{
		uint8_t		env[MAX_INPUT / 2];
		size_t		len;

		memcpy(env, o->env, o->env_len);
		len = mutate_bytes(env, o->env_len, sizeof(env));
		to_text_form(env, len, s);	/* valid base64 of a mutated envelope */
	}
	else
	{
		snprintf(s, sizeof(s), "%s", o->text);
		unchanged = rn(16) == 0 || st != ty;
		if (!unchanged)
			mutate_text(s, sizeof(s));
	}
	prefixed = strncmp(s, "ecv1:", 5) == 0;
	types[0] = via_cast ? TEXT_OID : UNKNOWN_OID;
	res = run(via_cast ? q("INSERT INTO @T (c) VALUES ($1::text::@Y) RETURNING id")
			  : q("INSERT INTO @T (c) VALUES ($1) RETURNING id"),
			  1, types, values, NULL, NULL, 0);
	ok = judge(res, "text-form insert", "22P02 22021");
	check_cross(ok == 1, unchanged, st, "text-form insert");
	if (ok < 0)
		print_hex("input", (const uint8_t *) s, strlen(s));
	if (ok == 1)
	{
		n_accepted++;
		if (prefixed)
			check_stored(PQgetvalue(res, 0, 0), o);
		else
		{
			/* no prefix: it was taken as plaintext and must come back */
			const char *id[1] = {PQgetvalue(res, 0, 0)};
			PGresult   *r2 = run(q("SELECT decrypt(c) FROM @T WHERE id = $1"), 1, NULL, id,
								 NULL, NULL, 0);

			if (judge(r2, "decrypt an unprefixed text", NULL) == 1 &&
				strcmp(PQgetvalue(r2, 0, 0), s) != 0)
				fail("unprefixed text did not round-trip");
			PQclear(r2);
		}
	}
	PQclear(res);
}

/* Plaintexts and prefixed text with the switch off. */
static void
case_plain(void)
{
	char		s[MAX_INPUT];
	const char *values[1] = {s};
	unsigned int types[1];
	PGresult   *res;
	int			ok;
	int			via_cast = (int) rn(2);

	switch (rn(4))
	{
		case 0:					/* a ciphertext text form: refused */
			snprintf(s, sizeof(s), "%s", pools[source_type()][rn(POOL_SIZE)].text);
			break;
		case 1:					/* random bytes, maybe not UTF-8 */
			{
				size_t		len = rn(60);

				for (size_t i = 0; i < len; i++)
					s[i] = (char) (1 + rn(255));
				s[len] = '\0';
			}
			break;
		default:				/* a plaintext, sometimes long */
			random_plain(s, rn(8) == 0 ? sizeof(s) : 200);
			break;
	}
	types[0] = via_cast ? TEXT_OID : UNKNOWN_OID;
	res = run(via_cast ? q("INSERT INTO @T (c) VALUES ($1::text::@Y) RETURNING id")
			  : q("INSERT INTO @T (c) VALUES ($1) RETURNING id"),
			  1, types, values, NULL, NULL, 0);
	ok = judge(res, "plaintext insert", "22023 22021");
	if (ok == 1)
	{
		const char *id[1] = {PQgetvalue(res, 0, 0)};
		PGresult   *r2;

		n_accepted++;
		if (strncmp(s, "ecv1:", 5) == 0)
			fail("ciphertext text form accepted with the switch off");
		r2 = run(q("SELECT decrypt(c) FROM @T WHERE id = $1"), 1, NULL, id, NULL, NULL, 0);
		if (judge(r2, "decrypt a plaintext", NULL) == 1)
		{
			n_decrypted++;
			if (strcmp(PQgetvalue(r2, 0, 0), s) != 0)
				fail("plaintext did not round-trip");
		}
		PQclear(r2);
		if (ty == 1)
		{
			/* the deterministic row is found by its plaintext, through the index */
			const char *lv[2] = {id[0], s};

			r2 = run("SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = $2::text",
					 2, NULL, lv, NULL, NULL, 0);
			n_lookups++;
			if (judge(r2, "look up a plaintext", NULL) == 1 &&
				strcmp(PQgetvalue(r2, 0, 0), "1") != 0)
				fail("a deterministic row was not found by its plaintext");
			PQclear(r2);
		}
	}
	else if (ok == 0 && strncmp(s, "ecv1:", 5) == 0 &&
			 strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "22023") != 0)
		fail("prefixed input refused with the wrong SQLSTATE");
	PQclear(res);
}

/* A random candidate key: valid, nearly valid or junk. */
static void
random_key(char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	size_t		len;

	switch (rn(8))
	{
		case 0:
		case 1:
		case 2:					/* valid */
			for (int i = 0; i < 64; i++)
				out[i] = hex[rn(22)];
			out[64] = '\0';
			break;
		case 3:					/* one of the real keys */
			snprintf(out, cap, "%s", rn(2) ? key1 : key2);
			break;
		case 4:					/* wrong length */
			len = rn(2) ? 63 : 65 + rn(3);
			for (size_t i = 0; i < len; i++)
				out[i] = hex[rn(22)];
			out[len] = '\0';
			break;
		case 5:					/* one bad character or a blank */
			for (int i = 0; i < 64; i++)
				out[i] = hex[rn(22)];
			out[rn(64)] = " g-x,\tZ:"[rn(8)];
			out[64] = '\0';
			break;
		case 6:					/* empty: unset */
			out[0] = '\0';
			break;
		default:				/* junk, sometimes long */
			len = rn(4) == 0 ? rn(cap - 1) : rn(100);
			for (size_t i = 0; i < len; i++)
				out[i] = (char) (' ' + rn(95));
			out[len] = '\0';
			break;
	}
}

/* Is key k (hex, any case) named by a previous_keys list? */
static int
list_has_key(const char *list, const char *k)
{
	const char *p = list;

	while (*p)
	{
		const char *start;
		size_t		len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		len = (size_t) (p - start);
		while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
			len--;
		if (len == 64 && strncasecmp(start, k, 64) == 0)
			return 1;
	}
	return 0;
}

/* Random GUC values; then a decrypt whose outcome follows from them. */
static void
case_guc(void)
{
	char		v[12000];
	int			via_set = rn(3) == 0;
	const pool_entry *o;
	const char *values[2];
	int			lengths[2] = {0, 0};
	int			formats[2] = {1, 0};
	unsigned int types[2] = {enc_oid, TEXT_OID};
	PGresult   *res;
	int			ok;
	int			have_key1;
	int			any_key;

	guc_dirty = 1;
	switch (rn(6))
	{
		case 0:
		case 1:
			random_key(v, 200);
			add_secret(v);
			if (set_guc("encrypted_column.key", v, via_set))
				snprintf(cur_key, sizeof(cur_key), "%s", v);
			break;
		case 2:
		case 3:
			{
				int			n = (int) rn(20);
				size_t		o2 = 0;
				static const char *const seps[] = {",", ", ", " ,", ",,", "\t,"};

				v[0] = '\0';
				for (int i = 0; i < n && o2 + 200 < sizeof(v); i++)
				{
					char		k[200];

					random_key(k, 120);
					add_secret(k);
					o2 += (size_t) snprintf(v + o2, sizeof(v) - o2, "%s%s",
											i ? seps[rn(5)] : "", k);
				}
				if (rn(8) == 0 && o2 + 1 < sizeof(v))
					strcat(v, ",");
				if (set_guc("encrypted_column.previous_keys", v, via_set))
					snprintf(cur_prev, sizeof(cur_prev), "%s", v);
			}
			break;
		case 4:
			{
				static const char *const b[] = {"on", "off", "true", "false", "yes", "no",
				"1", "0", "maybe", "", "o", "ON ", "2"};

				set_guc("encrypted_column.accept_ciphertext", b[rn(13)], via_set);
			}
			break;
		default:
			{
				static const char *const names[] = {"encrypted_column.keys", "encrypted_column.",
				"encrypted_column.key.x", "encrypted_column.keyx", "encrypted_column.previous_key"};

				random_key(v, 100);
				set_guc(names[rn(5)], v, via_set);
			}
			break;
	}

	/* SHOW never prints key bytes (leaks() checks every key set so far) */
	res = PQexec(conn, "SELECT current_setting('encrypted_column.key') || ' ' || "
				 "current_setting('encrypted_column.previous_keys')");
	if (judge(res, "show the key GUCs", NULL) == 1 && leaks(PQgetvalue(res, 0, 0)))
		fail("SHOW printed key bytes");
	PQclear(res);

	/* decrypt a pool value (under KEY1): predicted from the accepted GUCs */
	o = &pool[rn(POOL_SIZE)];
	values[0] = (const char *) o->env;
	values[1] = o->context;
	lengths[0] = (int) o->env_len;
	have_key1 = strcasecmp(cur_key, key1) == 0 || list_has_key(cur_prev, key1);
	any_key = cur_key[0] != '\0' || strspn(cur_prev, " \t,") != strlen(cur_prev);
	res = run(o->context[0] ? "SELECT decrypt($1, $2)" : "SELECT decrypt($1)",
			  o->context[0] ? 2 : 1, types, values, lengths, formats, 0);
	ok = judge(res, "decrypt after a GUC change", "42704 55000");
	if (ok == 1 && !have_key1)
		fail("decrypted without the key loaded");
	else if (ok == 1 && strcmp(PQgetvalue(res, 0, 0), o->plain) != 0)
		fail("wrong plaintext after a GUC change");
	else if (ok == 0 && have_key1)
		fail("did not decrypt although the key is loaded");
	else if (ok == 0 && !any_key &&
			 strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "55000") != 0)
		fail("no key loaded, but not the 'key is not set' error");
	PQclear(res);

	/*
	 * A deterministic value equals its plaintext exactly when its key is
	 * loaded and it has no context, by the operator and by the index form.
	 */
	if (ty == 1)
	{
		int			found = have_key1 && !o->context[0];

		values[1] = o->plain;
		res = run("SELECT ($1 = $2::text)::text || ' ' || "
				  "($1 = ANY (encrypt_det_all($2::text)))::text",
				  2, types, values, lengths, formats, 0);
		ok = judge(res, "look up after a GUC change", "55000");
		n_lookups++;
		if (ok == 1 && strcmp(PQgetvalue(res, 0, 0), found ? "true true" : "false false") != 0)
			fail("lookup after a GUC change gave %s, predicted %s", PQgetvalue(res, 0, 0),
				 found ? "true" : "false");
		else if (ok == 0 && any_key)
			fail("lookup failed although a key is loaded");
		PQclear(res);
	}

	/* encrypting works exactly when a current key is set */
	values[0] = o->plain;
	res = run(q("SELECT decrypt(@E($1))"), 1, NULL, values, NULL, NULL, 0);
	ok = judge(res, "encrypt after a GUC change", "55000");
	if (ok == 1 && strcmp(PQgetvalue(res, 0, 0), o->plain) != 0)
		fail("round trip failed after a GUC change");
	if ((ok == 1) != (cur_key[0] != '\0'))
		fail("encrypt() %s although the key is %s", ok == 1 ? "worked" : "failed",
			 cur_key[0] ? "set" : "unset");
	PQclear(res);
}

/* decrypt() with random contexts. */
static void
case_context(void)
{
	const pool_entry *o = &pool[rn(POOL_SIZE)];
	char		ctx[64];
	const char *values[2] = {(const char *) o->env, ctx};
	int			lengths[2] = {(int) o->env_len, 0};
	int			formats[2] = {1, 0};
	unsigned int types[2] = {enc_oid, TEXT_OID};
	PGresult   *res;
	int			ok;
	int			right;

	switch (rn(4))
	{
		case 0:
			snprintf(ctx, sizeof(ctx), "%s", o->context);
			break;
		case 1:
			ctx[0] = '\0';
			break;
		default:
			snprintf(ctx, sizeof(ctx), "ctx-%d", (int) rn(POOL_SIZE));
			break;
	}
	right = o->context[0] && strcmp(ctx, o->context) == 0;
	res = run("SELECT decrypt($1, $2)", 2, types, values, lengths, formats, 0);
	ok = judge(res, "decrypt with a context", "39000 22023");
	if (ok == 1 && !right)
		fail("decrypted with the wrong context");
	else if (ok == 1 && strcmp(PQgetvalue(res, 0, 0), o->plain) != 0)
		fail("wrong plaintext with the right context");
	else if (ok == 0 && right)
		fail("did not decrypt with the right context");
	PQclear(res);
}

/*
 * Deterministic lookups of a genuine row: by a plaintext (as text, as an
 * untyped parameter, through encrypt_det_all(), with a context), by the
 * same under a rotation to KEY2 with KEY1 previous, and by a mutated
 * deterministic parameter.  Every count is predicted.
 */
static void
case_lookup(void)
{
	const pool_entry *o = &pool[rn(POOL_SIZE)];
	uint8_t		buf[MAX_INPUT];
	char		plain[MAX_INPUT];
	char		id[32];
	const char *values[3];
	int			lengths[3] = {0, 0, 0};
	int			formats[3] = {0, 0, 0};
	unsigned int types[3] = {0, 0, 0};
	const char *sql;
	PGresult   *res;
	int			expected;
	int			ok;

	values[0] = (const char *) o->env;
	lengths[0] = (int) o->env_len;
	formats[0] = 1;
	res = run("INSERT INTO fzd (c) VALUES ($1) RETURNING id", 1, &enc_oid, values,
			  lengths, formats, 0);
	if (judge(res, "insert a genuine deterministic value", NULL) != 1)
	{
		PQclear(res);
		return;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);

	values[0] = id;
	lengths[0] = 0;
	formats[0] = 0;
	values[1] = plain;
	values[2] = o->context;
	snprintf(plain, sizeof(plain), "%s", o->plain);
	if (rn(3) == 0)
		mutate_text(plain, sizeof(plain));
	switch (rn(5))
	{
		case 0:					/* a text-typed parameter */
			sql = "SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = $2::text";
			expected = !o->context[0] && strcmp(plain, o->plain) == 0;
			break;
		case 1:					/* an untyped parameter, through the input function */
			sql = "SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = $2";
			expected = !o->context[0] && strcmp(plain, o->plain) == 0 &&
				strncmp(plain, "ecv1:", 5) != 0;
			if (strncmp(plain, "ecv1:", 5) == 0)
				expected = -1;	/* a text form: a match only if it is this one */
			break;
		case 2:					/* the explicit index form, with the row's context */
			sql = o->context[0]
				? "SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = ANY (encrypt_det_all($2, $3))"
				: "SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = ANY (encrypt_det_all($2))";
			expected = strcmp(plain, o->plain) == 0;
			break;
		case 3:					/* during a rotation: KEY2 current, KEY1 previous */
			if (set_guc("encrypted_column.key", key2, 0))
				snprintf(cur_key, sizeof(cur_key), "%s", key2);
			if (set_guc("encrypted_column.previous_keys", key1, 0))
				snprintf(cur_prev, sizeof(cur_prev), "%s", key1);
			guc_dirty = 1;
			sql = rn(2) ? "SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = $2::text"
				: "SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = ANY (ARRAY[$2::text, 'x'])";
			expected = !o->context[0] && strcmp(plain, o->plain) == 0;
			break;
		default:				/* a deterministic parameter, maybe mutated */
			{
				size_t		len;

				memcpy(buf, o->env, o->env_len);
				len = rn(4) == 0 ? o->env_len : mutate_bytes(buf, o->env_len, sizeof(buf));
				values[1] = (const char *) buf;
				lengths[1] = (int) len;
				formats[1] = 1;
				types[1] = enc_oid;
				sql = "SELECT count(*) FILTER (WHERE id = $1) FROM fzd WHERE c = $2";
				expected = len == o->env_len && memcmp(buf, o->env, len) == 0;
			}
			break;
	}
	res = run(sql, strstr(sql, "$3") ? 3 : 2, types, values, lengths, formats, 0);
	ok = judge(res, "deterministic lookup", "22P02 22P03 22021");
	n_lookups++;
	if (ok == 1 && expected >= 0 && atoi(PQgetvalue(res, 0, 0)) != expected)
		fail("deterministic lookup found %s row(s), predicted %d", PQgetvalue(res, 0, 0),
			 expected);
	else if (ok == 0 && formats[1] == 0 && strncmp(plain, "ecv1:", 5) != 0 &&
			 strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "22021") != 0)
		fail("a lookup by plaintext failed");
	else if (ok == 0 && expected == 1)
		fail("a lookup of a genuine value failed");
	PQclear(res);
}

/* ---- search: LIKE, ILIKE and ranges through the indexes ---- */

/* Bytes of the UTF-8 character at s (1 for a byte that starts none). */
static size_t
utf8_char(const char *s)
{
	unsigned char c = (unsigned char) *s;
	size_t		n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		(c & 0xf8) == 0xf0 ? 4 : 1;

	for (size_t i = 1; i < n; i++)
		if (s[i] == '\0')
			return i;
	return n;
}

/* Remember a plaintext stored in the search table (shorter than 256 bytes). */
static void
remember_plain(const char *plain)
{
	char	   *dst = search_plains[n_search_plains++ % SEARCH_PLAINS];
	size_t		n = strnlen(plain, 255);

	memcpy(dst, plain, n);
	dst[n] = '\0';
}

/* A random date offset from 2020-01-01 as text, sometimes infinite. */
static void
random_date(char *out, size_t cap)
{
	switch (rn(16))
	{
		case 0:
			snprintf(out, cap, "infinity");
			break;
		case 1:
			snprintf(out, cap, "-infinity");
			break;
		default:
			snprintf(out, cap, "%d", (int) rn(2100) - 50);
			break;
	}
}

/* The SQL for a date from random_date(): $n is its text. */
#define DATE_OF(n) "(CASE WHEN $" #n " LIKE '%infinity' THEN $" #n "::date " \
	"ELSE date '2020-01-01' + $" #n "::int END)"

/* Insert a row into the search table (a plaintext marked, a date). */
static void
search_insert(void)
{
	char		plain[256];
	char		date[32];
	const char *values[2] = {plain, date};
	PGresult   *res;

	random_plain(plain, rn(4) == 0 ? sizeof(plain) : 60);
	random_date(date, sizeof(date));
	if (rn(12) == 0)
		values[0] = NULL;
	if (rn(12) == 0)
		values[1] = NULL;
	res = run("INSERT INTO fzs (c, d) VALUES ($1, " DATE_OF(2) ")", 2, NULL, values, NULL, NULL, 0);
	if (judge(res, "insert into the search table", NULL) == 1 && values[0] != NULL)
		remember_plain(plain);
	PQclear(res);
}

/*
 * A pattern cut from a text: characters kept (escaped when they are the
 * escape character, % or _; other ones now and then), replaced by _, or
 * swallowed by %; ASCII letters flipped in case now and then.  esc is the
 * escape character ('\\', '#', or 0 for none).
 */
static void
cut_pattern(const char *text, char esc, char *out, size_t cap)
{
	size_t		o = 0;

	for (const char *p = text; *p && o + 12 < cap;)
	{
		size_t		n = utf8_char(p);

		switch (rn(12))
		{
			case 0:				/* % swallows up to three characters */
				out[o++] = '%';
				for (int k = (int) rn(4); k > 0 && *p; k--)
					p += utf8_char(p);
				continue;
			case 1:
				out[o++] = '_';
				break;
			default:
				if (n == 1 && (*p == '%' || *p == '_' || (esc && *p == esc)))
				{
					if (!esc)
					{
						out[o++] = '_';	/* cannot be escaped: any character */
						break;
					}
					out[o++] = esc;
				}
				else if (esc && rn(10) == 0)
					out[o++] = esc;
				if (n == 1 && isalpha((unsigned char) *p) && rn(3) == 0)
					out[o++] = (char) (islower((unsigned char) *p) ? toupper((unsigned char) *p)
									   : tolower((unsigned char) *p));
				else
				{
					memcpy(out + o, p, n);
					o += n;
				}
				break;
		}
		p += n;
	}
	if (rn(4) == 0)
		out[o++] = '%';
	out[o] = '\0';
}

/*
 * Run a query through the index and its reference on the decrypted
 * value (the same text with "c" or "d" replaced by "decrypt(c)" or
 * "decrypt(d)" where marked @C or @D); both must give the same text, or
 * fail with the same SQLSTATE among the allowed ones.
 */
static void
search_compare(const char *tmpl, int nparams, const char *const *values,
			   const char *allowed, const char *what)
{
	char		sql[2][1024];
	PGresult   *res[2];
	int			ok[2];

	for (int k = 0; k < 2; k++)
	{
		size_t		o = 0;

		for (const char *f = tmpl; *f && o < sizeof(sql[k]) - 16; f++)
		{
			if (f[0] == '@' && (f[1] == 'C' || f[1] == 'D'))
			{
				const char *col = f[1] == 'C' ? "c" : "d";

				o += (size_t) snprintf(sql[k] + o, sizeof(sql[k]) - o,
									   k ? "decrypt(%s)" : "%s", col);
				f++;
			}
			else
				sql[k][o++] = *f;
		}
		sql[k][o] = '\0';
		res[k] = run(sql[k], nparams, NULL, values, NULL, NULL, 0);
		ok[k] = judge(res[k], what, allowed);
	}
	n_searches++;
	if (ok[0] == 1 && ok[1] == 1)
	{
		const char *rows = PQgetvalue(res[0], 0, 0);

		if (rows[0] != '\0' && strcmp(rows, "{}") != 0)
			n_searches_found++;
		if (strcmp(PQgetvalue(res[0], 0, 0), PQgetvalue(res[1], 0, 0)) != 0)
		{
			fail("%s: the index gave %.200s, decrypting gave %.200s", what,
				 PQgetvalue(res[0], 0, 0), PQgetvalue(res[1], 0, 0));
			if (n_failures <= 20)
				printf("  query: %s\n  parameter: %s\n", sql[0], values[0] ? values[0] : "NULL");
		}
	}
	else if (ok[0] >= 0 && ok[1] >= 0 && ok[0] != ok[1])
	{
		fail("%s: %s through the index, %s by decrypting", what,
			 ok[0] == 1 ? "a result" : PQresultErrorField(res[0], PG_DIAG_SQLSTATE),
			 ok[1] == 1 ? "a result" : PQresultErrorField(res[1], PG_DIAG_SQLSTATE));
		if (n_failures <= 20)
			printf("  query: %s\n  parameter: %s\n", sql[0], values[0] ? values[0] : "NULL");
	}
	else if (ok[0] == 0 && ok[1] == 0 &&
			 strcmp(PQresultErrorField(res[0], PG_DIAG_SQLSTATE),
					PQresultErrorField(res[1], PG_DIAG_SQLSTATE)) == 0)
		n_searches_failed++;
	else if (ok[0] == 0 && ok[1] == 0)
		fail("%s: SQLSTATE %s through the index, %s by decrypting", what,
			 PQresultErrorField(res[0], PG_DIAG_SQLSTATE),
			 PQresultErrorField(res[1], PG_DIAG_SQLSTATE));
	PQclear(res[0]);
	PQclear(res[1]);
}

/* LIKE, ILIKE and their negations with a cut or mutated pattern. */
static void
search_like(void)
{
	static const char *const ops[] = {"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"};
	static const char escs[] = {'\\', '\\', '#', 0};
	char		src[256];
	char		pat[600];
	char		tmpl[256];
	const char *values[1] = {pat};
	const char *op = ops[rn(4) == 0 ? 2 + rn(2) : rn(2)];
	char		esc = escs[rn(4)];

	if (n_search_plains > 0 && rn(8) != 0)
		snprintf(src, sizeof(src), "%s",
				 search_plains[rn(n_search_plains < SEARCH_PLAINS ? n_search_plains : SEARCH_PLAINS)]);
	else
		random_plain(src, 40);
	/* now and then only a piece of it */
	if (rn(3) == 0)
	{
		size_t		len = strlen(src);
		size_t		from = rn(len + 1);

		while (from > 0 && ((unsigned char) src[from] & 0xc0) == 0x80)
			from--;
		memmove(src, src + from, len - from + 1);
	}
	cut_pattern(src, esc, pat, sizeof(pat));
	switch (rn(10))
	{
		case 0:					/* a trailing escape */
			if (esc && strlen(pat) + 1 < sizeof(pat))
				strncat(pat, &esc, 1);
			break;
		case 1:					/* any mutation, maybe not UTF-8 */
			mutate_text(pat, sizeof(pat));
			break;
		case 2:					/* only wildcards and escapes */
			{
				size_t		n = rn(8);

				for (size_t i = 0; i < n; i++)
					pat[i] = "%_\\#a"[rn(5)];
				pat[n] = '\0';
			}
			break;
		default:
			break;
	}
	if (esc == '\\')
		snprintf(tmpl, sizeof(tmpl),
				 "SELECT coalesce(array_agg(id ORDER BY id), '{}')::text FROM fzs WHERE @C %s $1", op);
	else
		snprintf(tmpl, sizeof(tmpl),
				 "SELECT coalesce(array_agg(id ORDER BY id), '{}')::text FROM fzs WHERE @C %s $1 ESCAPE '%s'",
				 op, esc ? "#" : "");
	search_compare(tmpl, 1, values, "22025 22021", op);
}

/* Comparisons, BETWEEN and ORDER BY ... LIMIT on the date column. */
static void
search_range(void)
{
	static const char *const forms[] = {
		"@D < " DATE_OF(1), "@D <= " DATE_OF(1), "@D = " DATE_OF(1), "@D >= " DATE_OF(1),
		"@D > " DATE_OF(1), "@D BETWEEN " DATE_OF(1) " AND " DATE_OF(2),
		DATE_OF(1) " <= @D AND " DATE_OF(2) " > @D", "@D NOT BETWEEN " DATE_OF(1) " AND " DATE_OF(2)
	};
	static const char *const dirs[] = {"", "DESC", "NULLS FIRST", "DESC NULLS LAST"};
	char		lo[32];
	char		hi[32];
	char		tmpl[700];
	const char *values[2] = {lo, hi};

	random_date(lo, sizeof(lo));
	random_date(hi, sizeof(hi));
	if (rn(4) == 0)
	{
		int			limit = 1 + (int) rn(30);
		const char *dir = dirs[rn(4)];

		snprintf(tmpl, sizeof(tmpl),
				 "SELECT coalesce(string_agg(coalesce(decrypt(d)::text, 'null'), ',' ORDER BY o), '') FROM "
				 "(SELECT d, row_number() OVER () o FROM (SELECT d FROM fzs ORDER BY @D %s LIMIT %d) s) s",
				 dir, limit);
		search_compare(tmpl, 0, values, "", "ORDER BY ... LIMIT");
		return;
	}
	snprintf(tmpl, sizeof(tmpl),
			 "SELECT coalesce(array_agg(id ORDER BY id), '{}')::text FROM fzs WHERE %s",
			 forms[rn(8)]);
	search_compare(tmpl, strstr(tmpl, "$2") ? 2 : 1, values, "", "range search");
}

/*
 * A mutated envelope (of a search column, or of the other types) as a
 * binary parameter into a search column: refused, or accepted and then
 * decrypting only if it is a genuine envelope, to that envelope's value.
 */
static void
search_binary(void)
{
	int			col = (int) rn(2);
	int			from = (int) rn(4);	/* 0, 1: this column's pool; 2: encrypted_text; 3: det */
	/* an envelope of another type than the column's */
	int			other_type = from == 3 || (col == 1 && from == 2);
	const uint8_t *genuine;
	size_t		genuine_len;
	const char *plain = NULL;
	int			bound = 0;
	uint8_t		buf[MAX_INPUT];
	size_t		len;
	int			unchanged = rn(4) == 0;
	const char *values[1] = {(const char *) buf};
	int			lengths[1];
	int			formats[1] = {1};
	PGresult   *res;
	int			ok;

	if (from < 2)
	{
		const search_entry *e = &search_pool[col][rn(SEARCH_POOL)];

		genuine = e->env;
		genuine_len = e->env_len;
		plain = e->plain;
	}
	else
	{
		const pool_entry *e = &pools[from - 2][rn(POOL_SIZE)];

		genuine = e->env;
		genuine_len = e->env_len;
		plain = e->plain;
		bound = e->context[0] != '\0';
	}
	memcpy(buf, genuine, genuine_len);
	len = unchanged ? genuine_len : mutate_bytes(buf, genuine_len, sizeof(buf));
	unchanged = len == genuine_len && memcmp(buf, genuine, len) == 0;
	lengths[0] = (int) len;
	res = run(col ? "INSERT INTO fzs (d) VALUES ($1) RETURNING id, decrypt(d)::text"
			  : "INSERT INTO fzs (c) VALUES ($1) RETURNING id, decrypt(c)",
			  1, &search_oids[col], values, lengths, formats, 0);
	ok = judge(res, "binary insert into a search column", "22P03 0A000 39000 42704");
	if (ok < 0)
		print_hex("input", buf, len);
	else if (ok == 1)
	{
		n_accepted++;
		n_decrypted++;
		/* it decrypted (to give its terms, or in RETURNING): genuine only */
		if (!unchanged)
		{
			fail("binary insert into a search column: a value that is not a genuine envelope decrypted (forgery)");
			print_hex("input", buf, len);
		}
		else if (other_type)
			fail("binary insert into a search column: an envelope of another type was accepted");
		else if (bound)
			fail("binary insert into a search column: a context-bound value was taken");
		else if (strcmp(PQgetvalue(res, 0, 1), plain) != 0)
			fail("binary insert into a search column: wrong plaintext");
	}
	else if (unchanged && !other_type && !bound)
		fail("binary insert into a search column: a genuine envelope was refused");
	PQclear(res);
}

static void
case_search(void)
{
	switch (rn(8))
	{
		case 0:
		case 1:
			search_insert();
			break;
		case 2:
		case 3:
		case 4:
			search_like();
			break;
		case 5:
		case 6:
			search_range();
			break;
		default:
			search_binary();
			break;
	}
}

/* Does the plan of an EXPLAIN hold the text? */
static int
plan_has(const char *explain, const char *text)
{
	PGresult   *res = PQexec(conn, explain);
	int			found = 0;

	if (judge(res, "a plan", NULL) == 1)
		for (int i = 0; i < PQntuples(res); i++)
			found |= strstr(PQgetvalue(res, i, 0), text) != NULL;
	PQclear(res);
	return found;
}

/* The genuine envelopes of the search columns, and the index plans. */
static void
build_search_pool(void)
{
	PGresult   *res;

	res = PQexec(conn, "SELECT 'encrypted_text'::regtype::oid, 'encrypted_date'::regtype::oid");
	if (judge(res, "search type oids", NULL) != 1)
		exit(2);
	for (int t = 0; t < 2; t++)
		search_oids[t] = (unsigned int) strtoul(PQgetvalue(res, 0, t), NULL, 10);
	PQclear(res);
	for (int i = 0; i < SEARCH_POOL; i++)
	{
		search_entry *c = &search_pool[0][i];
		search_entry *d = &search_pool[1][i];
		char		date[32];
		const char *values[2] = {c->plain, date};

		random_plain(c->plain, 80);
		random_date(date, sizeof(date));
		res = run("INSERT INTO fzs (c, d) VALUES ($1, " DATE_OF(2) ") "
				  "RETURNING c, d, decrypt(d)::text", 2, NULL, values, NULL, NULL, 1);
		if (judge(res, "build the search pool", NULL) != 1)
			exit(2);
		c->env_len = (size_t) PQgetlength(res, 0, 0);
		memcpy(c->env, PQgetvalue(res, 0, 0), c->env_len);
		d->env_len = (size_t) PQgetlength(res, 0, 1);
		memcpy(d->env, PQgetvalue(res, 0, 1), d->env_len);
		snprintf(d->plain, sizeof(d->plain), "%.*s", PQgetlength(res, 0, 2), PQgetvalue(res, 0, 2));
		PQclear(res);
		remember_plain(c->plain);
	}
	/* the searches go through the indexes */
	if (!plan_has("EXPLAIN (COSTS OFF) SELECT id FROM fzs WHERE c LIKE 'x%'", "Index Scan on fzs_c_idx") ||
		!plan_has("EXPLAIN (COSTS OFF) SELECT id FROM fzs WHERE d > date '2021-01-01'", "fzs_d_idx"))
	{
		printf("a search does not use its index\n");
		exit(2);
	}
}

/* Put the session back to the known state: KEY1 current, switch on. */
static void
reset_session(void)
{
	must("RESET encrypted_column.previous_keys");
	set_guc("encrypted_column.key", key1, 0);
	snprintf(cur_key, sizeof(cur_key), "%s", key1);
	cur_prev[0] = '\0';
	must("SET encrypted_column.accept_ciphertext = on");
	guc_dirty = 0;
}

int
main(int argc, char **argv)
{
	long		cases;
	PGresult   *res;

	if (argc != 6 && argc != 7)
	{
		fprintf(stderr, "usage: %s CONNINFO SEED CASES KEY1 KEY2 [SECRETS_FILE]\n", argv[0]);
		return 2;
	}
	if (argc == 7 && (secrets_file = fopen(argv[6], "w")) == NULL)
	{
		perror(argv[6]);
		return 2;
	}
	rng_state = strtoull(argv[2], NULL, 10) | 1;
	cases = strtol(argv[3], NULL, 10);
	key1 = argv[4];
	key2 = argv[5];
	add_secret(key1);
	add_secret(key2);

	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		return 2;
	}
	PQsetNoticeProcessor(conn, NULL, NULL);
	must("SET client_min_messages = warning");
	must("CREATE EXTENSION IF NOT EXISTS encrypted_column");
	must("DROP TABLE IF EXISTS fz");
	must("CREATE TABLE fz (id bigserial PRIMARY KEY, c encrypted_text)");
	must("DROP TABLE IF EXISTS fzd");
	must("CREATE TABLE fzd (id bigserial PRIMARY KEY, c encrypted_text_det)");
	/* hash: a btree entry could not hold the longest plaintexts */
	must("CREATE INDEX ON fzd USING hash (c)");
	must("DROP TABLE IF EXISTS fzs");
	must("CREATE TABLE fzs (id bigserial PRIMARY KEY, c encrypted_text(trigram), d encrypted_date(range, 7))");
	must("CREATE INDEX ON fzs USING gin (c)");
	must("CREATE INDEX ON fzs (d encrypted_date_range_ops)");
	/*
	 * the searches read the indexes, the references every row; a plan
	 * that enable_seqscan = off makes look costly would be compiled by JIT
	 */
	must("SET enable_seqscan = off");
	must("SET jit = off");
	res = PQexec(conn, "SELECT 'encrypted_text'::regtype::oid, 'encrypted_text_det'::regtype::oid");
	if (judge(res, "type oids", NULL) != 1)
		return 2;
	for (int t = 0; t < NTYPES; t++)
		type_oids[t] = (unsigned int) strtoul(PQgetvalue(res, 0, t), NULL, 10);
	PQclear(res);

	reset_session();
	for (ty = 0; ty < NTYPES; ty++)
		build_pool();
	build_search_pool();

	for (long i = 0; i < cases; i++)
	{
		int			kind;
		size_t		r = rn(100);

		/*
		 * weights: binary 23, copy 8, text 19, plain 9, guc 13, context 8,
		 * lookup 10, search 10; each case but a lookup or a search goes to
		 * either type
		 */
		kind = r < 23 ? 0 : r < 31 ? 1 : r < 50 ? 2 : r < 59 ? 3 : r < 72 ? 4 :
			r < 80 ? 5 : r < 90 ? 6 : 7;
		ty = kind == 6 ? 1 : kind == 7 ? 0 : (int) rn(NTYPES);
		n_cases[kind]++;
		if (kind != 7)
			n_type_cases[ty]++;
		if (kind != 4 && guc_dirty)
			reset_session();
		if (kind == 3)
			must("SET encrypted_column.accept_ciphertext = off");
		switch (kind)
		{
			case 0:
				case_binary();
				break;
			case 1:
				case_copy();
				break;
			case 2:
				case_text();
				break;
			case 3:
				case_plain();
				break;
			case 4:
				case_guc();
				break;
			case 5:
				case_context();
				break;
			case 6:
				case_lookup();
				break;
			default:
				case_search();
				break;
		}
		if (kind == 3)
			must("SET encrypted_column.accept_ciphertext = on");
		if (i % 2000 == 1999)
		{
			must("TRUNCATE fz, fzd, fzs");
			n_search_plains = 0;
		}
	}

	printf("sqlfuzz: %ld cases (", cases);
	for (int k = 0; k < NKINDS; k++)
		printf("%s%s %ld", k ? ", " : "", case_names[k], n_cases[k]);
	printf("; %s %ld, %s %ld), %ld statements, %ld clean errors, %ld values accepted, "
		   "%ld decrypted, %ld lookups, %ld searches against decrypt() (%ld found rows, %ld "
		   "failed alike), %ld failures\n",
		   type_names[0], n_type_cases[0], type_names[1], n_type_cases[1],
		   n_statements, n_errors, n_accepted, n_decrypted, n_lookups, n_searches,
		   n_searches_found, n_searches_failed, n_failures);
	PQfinish(conn);
	if (secrets_file != NULL)
		fclose(secrets_file);
	return n_failures == 0 ? 0 : 1;
}
