/*
 * redact.c
 *		Keeps keys out of the server's own reporting channels.
 *
 * The extension cannot stop a client from writing a key into SQL text,
 * but it keeps the keys it finds out of the places the server copies
 * that text to.  Which bytes are keys is decided by keymask.c from the
 * core scanner's tokens; this file applies that decision in each channel,
 * through steps that the hook table (module.c) calls:
 *	- the client's statement text itself, in place, once it is parsed
 *	  (ec_redact_parsed) and when a prepared copy of it runs
 *	  (ec_redact_statement): the STATEMENT lines of later errors,
 *	  pg_stat_statements (which stores the text when the statement ends,
 *	  whatever the library order), pg_prepared_statements and
 *	  current_query() then see the masked text, and pg_stat_activity is
 *	  told the masked text at once;
 *	- the server log and client messages (ec_redact_message): lines that
 *	  quote the statement (log_statement comes before analysis), the token
 *	  of a syntax error when it lies in a key, keys bound as parameters in
 *	  the "parameters:" detail; statements that never reach analysis
 *	  (syntax errors, an aborted transaction) are masked here, in
 *	  pg_stat_activity too; the statement of a function or DO block that
 *	  a message quotes on its QUERY: or CONTEXT: line; the node dumps of
 *	  debug_print_parse, debug_print_rewritten and debug_print_plan.
 * Masking keeps the text's length, so error positions stay valid.  Only
 * the client's own text (debug_query_string) is changed in place; the
 * text of statements inside functions is left alone, since PL/pgSQL
 * parses it again when a plan is invalidated.  These hooks exist only
 * once the library is loaded: preloading it covers a session's first
 * statement.  Row data in the messages of COPY is copy_redact.c's.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "replication/walsender.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "compat.h"
#include "encrypted_column.h"
#include "redact.h"

/*
 * Executors running a statement that may hand in a key as a bound
 * parameter: auto_explain logs its plan, with the parameter folded in, at
 * ExecutorEnd, when debug_query_string may already be gone.  While one
 * runs, key-shaped runs of hex digits are masked in every message.
 */
static int	key_executors = 0;

/*
 * The last statement text that was scanned: a copy as it was, and the
 * ranges found in it.  Errors and log lines of a multi-statement string
 * come while its statements run, possibly after one of them changed
 * standard_conforming_strings; the copy keeps the scan made before any of
 * them ran, and saves scanning the text again for each.
 */
static char *scanned_text = NULL;
static int	scanned_len = 0;
static EcMaskRange *scanned_ranges = NULL;
static int	scanned_n = 0;
static bool scanned_by_param = false;
static bool scanned_hex = false;	/* every long hex run is a range */

/*
 * The client's text that was last found equal to the scanned copy, and
 * whether the ranges were applied to it since.  A multi-statement string
 * is analysed and run statement by statement; comparing the whole text
 * with the copy for each statement made such a string cost the square of
 * its length.  The text of one protocol message does not change while the
 * message is processed (except by the masking here), so the comparison is
 * made once per message: the memo is dropped when MessageContext, which
 * holds the message, is reset for the next one.
 */
static const char *verified_text = NULL;
static bool verified_applied = false;
static bool verified_callback_armed = false;
static MemoryContextCallback verified_callback;

/*
 * Statements run from inside the server (PL/pgSQL's EXECUTE, a function's
 * statements) that the scanner found to set a key, as they were analysed:
 * an error raised while one runs quotes it on a CONTEXT line ("SQL
 * statement ..."), where its key values are masked.  A few are kept, the
 * innermost last.
 */
#define NESTED_SCANS 4
typedef struct NestedScan
{
	char	   *text;
	int			len;
	EcMaskRange *ranges;
	int			n;
} NestedScan;
static NestedScan nested[NESTED_SCANS];
static int	nested_next = 0;

/*
 * A statement that sets a key with more than this many separate values
 * (tokens of 8 bytes or more that are not runs of hex digits) is not
 * searched value by value in each message; see mask_with_scan.
 */
#define MAX_VALUES_SEARCHED 32

/*
 * Overwrite every run of EC_MIN_SECRET_HEX_RUN or more hex digits with '*',
 * in place.  Keys are 64 hex digits (the key settings accept nothing
 * else); key ids have 8.  Used only in messages about a statement that
 * the scanner found to set a key, where a key bound as a parameter can
 * show up without being in the text, and while a transaction's keys are
 * out of the session's hands (a scale-out layer, see module.c).
 */
static void
mask_hex_runs(char *s)
{
	size_t		i = 0;

	if (s == NULL)
		return;
	while (s[i] != '\0')
	{
		size_t		n = ec_hex_run(s + i);

		if (n >= EC_MIN_SECRET_HEX_RUN)
			memset(s + i, '*', n);
		i += n > 0 ? n : 1;
	}
}

/*
 * Is text (of len bytes) the text last scanned, possibly already masked?
 * Bytes outside the ranges must be equal, bytes inside equal or '*'.
 */
static bool
is_scanned(const char *text, int len)
{
	int			pos = 0;

	if (scanned_text == NULL || len != scanned_len)
		return false;
	for (int i = 0; i <= scanned_n; i++)
	{
		int			start = i < scanned_n ? scanned_ranges[i].start : len;
		int			end = i < scanned_n ? Min(len, start + scanned_ranges[i].len) : len;

		if (start > pos && memcmp(text + pos, scanned_text + pos, start - pos) != 0)
			return false;
		for (int j = start; j < end; j++)
			if (text[j] != scanned_text[j] && text[j] != '*' && text[j] != '\'')
				return false;
		pos = Max(pos, end);
	}
	return true;
}

/*
 * Remember a scan.  An open value (the text ends inside it) becomes a
 * range to the end.
 */
static void
remember_scan(const char *text, int len, EcMaskRange *ranges, int n,
			  int open_from, bool by_param)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (scanned_text != NULL)
	{
		explicit_bzero(scanned_text, scanned_len);
		pfree(scanned_text);
	}
	if (scanned_ranges != NULL)
		pfree(scanned_ranges);
	verified_text = NULL;
	verified_applied = false;
	scanned_hex = false;
	scanned_text = pnstrdup(text, len);
	scanned_len = len;
	scanned_ranges = palloc(sizeof(EcMaskRange) * (n + 1));
	if (n > 0)
		memcpy(scanned_ranges, ranges, sizeof(EcMaskRange) * n);
	if (open_from >= 0 && open_from < len)
	{
		scanned_ranges[n].start = open_from;
		scanned_ranges[n].len = len - open_from;
		scanned_ranges[n].quote = false;
		scanned_ranges[n].token = -1;
		n++;
	}
	scanned_n = n;
	scanned_by_param = by_param;
	MemoryContextSwitchTo(old);
}

/* MessageContext is being reset: the next message's text is another. */
static void
forget_verified(void *arg)
{
	(void) arg;
	verified_text = NULL;
	verified_applied = false;
	verified_callback_armed = false;
}

/*
 * Is text the text last scanned (see is_scanned)?  Sets *lenp to its
 * length.  For the client's text the answer is kept for the rest of the
 * message, so each statement of a multi-statement string costs no more
 * than its own part of the text.
 */
static bool
text_scanned(const char *text, int *lenp)
{
	if (text != NULL && text == verified_text)
	{
		*lenp = scanned_len;
		return true;
	}
	*lenp = strlen(text);
	if (!is_scanned(text, *lenp))
		return false;
	if (text == debug_query_string && MessageContext != NULL)
	{
		if (!verified_callback_armed)
		{
			verified_callback.func = forget_verified;
			verified_callback.arg = NULL;
			MemoryContextRegisterResetCallback(MessageContext, &verified_callback);
			verified_callback_armed = true;
		}
		verified_text = text;
		verified_applied = false;
	}
	return true;
}

/*
 * Scan a statement text that the server has parsed (outside error
 * reporting): should the scanner still fail on it, the whole text counts
 * as a key.  locs, nlocs and all_hex as for ec_find_key_values.
 */
static void
scan_parsed_text(const char *text, int len, const int *locs, int nlocs,
				 bool all_hex)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	EcMaskRange *ranges = NULL;
	int			n = 0;
	int			open_from = -1;
	bool		by_param = false;

	PG_TRY();
	{
		n = ec_find_key_values(text, len, locs, nlocs, all_hex,
							   &open_from, &by_param, &ranges);
		open_from = -1;			/* the whole text was seen */
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		FlushErrorState();
		n = 0;
		open_from = 0;
	}
	PG_END_TRY();
	remember_scan(text, len, ranges, n, open_from, by_param);
	scanned_hex = all_hex;
}

/*
 * Mask the key values in the client's statement text in place, and show
 * the masked text in pg_stat_activity if anything changed.  Only the text
 * the client sent (debug_query_string) is changed, and the copies of it
 * that a prepared statement and its portal run from.
 */
static void
mask_statement(const char *text)
{
	int			len;
	bool		changed = false;

	if (text == NULL || debug_query_string == NULL)
		return;
	if (text != debug_query_string)
	{
		/* a copy: the same text as the client's, masked or not */
		int			dlen;

		if (!text_scanned(debug_query_string, &dlen))
			scan_parsed_text(debug_query_string, dlen, NULL, 0, false);
		len = strlen(text);
		if (dlen != len || !is_scanned(text, len))
			return;
	}
	else
	{
		if (!text_scanned(text, &len))
		{
			scan_parsed_text(text, len, NULL, 0, false);
			(void) text_scanned(text, &len);
		}
		if (verified_text == text && verified_applied)
			return;
	}
	for (int i = 0; i < scanned_n && !changed; i++)
		for (int j = 0; j < scanned_ranges[i].len && !changed; j++)
			changed |= text[scanned_ranges[i].start + j] != '*' &&
				text[scanned_ranges[i].start + j] != '\'';
	if (text == verified_text)
		verified_applied = true;
	if (!changed)
		return;
	ec_apply_ranges((char *) text, len, scanned_ranges, scanned_n);
	pgstat_report_activity(STATE_RUNNING, text);
	if (text != debug_query_string)
		ec_apply_ranges((char *) debug_query_string, len, scanned_ranges, scanned_n);
}

/*
 * A statement run from inside the server (not the client's text nor a
 * copy of it) has been analysed: scan it, and keep the scan if it found a
 * key value (see NestedScan).  Outside error reporting; a text the
 * scanner fails on is not kept.
 */
static void
scan_nested(const char *text, const int *locs, int nlocs, bool all_hex)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	int			len = strlen(text);
	EcMaskRange *ranges = NULL;
	int			n = 0;
	int			open_from;
	bool		by_param = false;
	NestedScan *slot;

	PG_TRY();
	{
		n = ec_find_key_values(text, len, locs, nlocs, all_hex,
							   &open_from, &by_param, &ranges);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		FlushErrorState();
		n = 0;
		by_param = false;
	}
	PG_END_TRY();
	if (n == 0)
		return;
	slot = &nested[nested_next];
	nested_next = (nested_next + 1) % NESTED_SCANS;
	if (slot->text != NULL)
	{
		explicit_bzero(slot->text, slot->len);
		pfree(slot->text);
		pfree(slot->ranges);
	}
	slot->text = MemoryContextStrdup(TopMemoryContext, text);
	slot->len = len;
	slot->ranges = MemoryContextAlloc(TopMemoryContext, sizeof(EcMaskRange) * n);
	memcpy(slot->ranges, ranges, sizeof(EcMaskRange) * n);
	slot->n = n;
}

/*
 * Is this statement text the client's, or a copy of it (a prepared
 * statement's)?  Scans the client's text if it was not yet.
 */
static bool
is_client_text(const char *text)
{
	int			len;

	if (debug_query_string == NULL)
		return false;
	if (!text_scanned(debug_query_string, &len))
	{
		scan_parsed_text(debug_query_string, len, NULL, 0, false);
		(void) text_scanned(debug_query_string, &len);
	}
	return text == debug_query_string ||
		((int) strlen(text) == len && is_scanned(text, len));
}

/* Does the scan have a range made for the token at byte offset loc? */
static bool
has_token_range(int loc)
{
	int			lo = 0;
	int			hi = scanned_n;

	/* the first range that starts at loc or later (ranges are in order) */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (scanned_ranges[mid].start < loc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* a token's range starts inside its opening delimiter at the latest */
	for (int r = lo; r < scanned_n &&
		 scanned_ranges[r].start <= loc + 2 * NAMEDATALEN + 4; r++)
		if (scanned_ranges[r].token == loc)
			return true;
	return false;
}

/*
 * After analysis, the set_config() calls the server resolved decide too,
 * whatever their spelling: a value the scanner did not find is added by
 * scanning again with its location; a value bound as a parameter or given
 * as an expression is treated as the scanner treats its own finds.  A
 * statement run from inside the server is scanned (see NestedScan).
 */
static void
check_statement(Query *query, const char *text)
{
	int		   *locs;
	bool		by_param;
	bool		exprs;
	int			nlocs = ec_query_key_values(query, &locs, &by_param, &exprs);
	int			len;
	bool		missing = false;

	if (!is_client_text(text))
		scan_nested(text, locs, nlocs, exprs);
	else if (nlocs > 0 || by_param || exprs)
	{
		(void) text_scanned(debug_query_string, &len);
		for (int i = 0; i < nlocs && !missing; i++)
			missing = !has_token_range(locs[i]);
		if (missing || (exprs && !scanned_hex))
		{
			bool		had_param = scanned_by_param;

			scan_parsed_text(debug_query_string, len, locs, nlocs, exprs);
			scanned_by_param |= had_param;
			(void) text_scanned(debug_query_string, &len);
		}
		scanned_by_param |= by_param;
	}
	if (locs != NULL)
		pfree(locs);
}

/*
 * Mask, in one field of a message, a scanned statement text (where the
 * message quotes it whole, as log_statement does) and each masked value
 * that is long enough to find by itself (a key quoted alone).  Values
 * that are runs of hex digits are left to mask_hex_runs, which every
 * caller applies next.  The work is linear in the field's length and the
 * text's: the text is searched once, at most MAX_VALUES_SEARCHED values
 * one by one, each from where its last match ended; a statement with more
 * values than that gets every run of 8 or more characters other than
 * white space masked in the field.
 */
static void
mask_with_scan(char *field, const char *stext, int slen,
			   const EcMaskRange *ranges, int n)
{
	size_t		flen;
	int			searched = 0;
	char	   *at;

	if (field == NULL || n == 0)
		return;
	flen = strlen(field);
	if (slen > 0 && flen >= (size_t) slen)
		for (at = strstr(field, stext); at != NULL; at = strstr(at + slen, stext))
			ec_apply_ranges(at, slen, ranges, n);
	for (int i = 0; i < n; i++)
	{
		const char *value = stext + ranges[i].start;
		int			vlen = Min(ranges[i].len, slen - ranges[i].start);
		char	   *end = field + flen;

		if (vlen < 8 || (size_t) vlen > flen ||
			(vlen >= EC_MIN_SECRET_HEX_RUN && ec_hex_run(value) >= vlen))
			continue;
		if (++searched > MAX_VALUES_SEARCHED)
		{
			for (size_t j = 0; j < flen;)
			{
				size_t		k = j;

				while (k < flen && !isspace((unsigned char) field[k]))
					k++;
				if (k - j >= 8)
					memset(field + j, '*', k - j);
				j = k + 1;
			}
			return;
		}
		for (at = memmem(field, flen, value, vlen); at != NULL;
			 at = memmem(at + vlen, end - (at + vlen), value, vlen))
			memset(at, '*', vlen);
	}
}

/* mask_with_scan with the client's statement text. */
static void
mask_field(char *field)
{
	mask_with_scan(field, scanned_text, scanned_len, scanned_ranges, scanned_n);
}

/*
 * mask_with_scan with each kept statement run from inside the server.
 * mask_with_scan leaves values that are runs of hex digits to
 * mask_hex_runs; while such a statement of this transaction is kept, a
 * message may quote its key alone (a cast of the value that fails), so
 * runs of hex digits are masked here too.
 */
static void
mask_nested(char *field)
{
	bool		kept = false;

	for (int i = 0; i < NESTED_SCANS; i++)
		if (nested[i].text != NULL)
		{
			mask_with_scan(field, nested[i].text, nested[i].len,
						   nested[i].ranges, nested[i].n);
			kept = true;
		}
	if (kept && field != NULL)
		mask_hex_runs(field);
}

/* Wipe and forget the kept statements run from inside the server. */
static void
forget_nested(void)
{
	for (int i = 0; i < NESTED_SCANS; i++)
		if (nested[i].text != NULL)
		{
			explicit_bzero(nested[i].text, nested[i].len);
			pfree(nested[i].text);
			pfree(nested[i].ranges);
			nested[i].text = NULL;
		}
	nested_next = 0;
}

/* Apply a masking function to every part of a message that can quote text. */
static void
mask_error_fields(ErrorData *edata, void (*mask) (char *))
{
	mask(edata->message);
	mask(edata->detail);
	mask(edata->detail_log);
	mask(edata->hint);
	mask(edata->context);
	mask(edata->internalquery);
}

/* Is this error the raw parser's (the scanner or the grammar)? */
static bool
from_raw_parser(ErrorData *edata)
{
	const char *file = edata->filename;
	const char *base;

	if (file == NULL)
		return false;
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	return strcmp(base, "scan.l") == 0 || strcmp(base, "scan.c") == 0 ||
		strcmp(base, "gram.y") == 0 || strcmp(base, "gram.c") == 0 ||
		strcmp(base, "parser.c") == 0 || strcmp(base, "scansup.c") == 0;
}

/*
 * Does this raw-parser error's cursor point at the start of a token, so
 * that the text before it lexes?  That holds for the messages of
 * scanner_yyerror(), the grammar's syntax errors and the scanner's own
 * ("unterminated quoted string"), known by their untranslated message
 * ids.  Other errors of the raw parser (a bad escape in an E'' or U&''
 * literal, UESCAPE) point inside a literal, where the text before the
 * cursor ends in an open quote and the scanner would throw.
 */
static bool
cursor_at_token(ErrorData *edata)
{
	return from_raw_parser(edata) && edata->message_id != NULL &&
		(strcmp(edata->message_id, "%s at or near \"%s\"") == 0 ||
		 strcmp(edata->message_id, "%s at end of input") == 0);
}

/*
 * Is this error the encoding check's (pg_verifymbstr and the conversions,
 * in mbutils.c)?  The raw parser calls it on a string constant with
 * escapes, or on a U&'' escape, before the text is fully lexed; such an
 * error may carry no cursor, or one that the scanner's callback set.
 */
static bool
from_encoding_check(ErrorData *edata)
{
	const char *file = edata->filename;
	const char *base;

	if (edata->sqlerrcode == ERRCODE_CHARACTER_NOT_IN_REPERTOIRE ||
		edata->sqlerrcode == ERRCODE_UNTRANSLATABLE_CHARACTER)
		return true;
	if (file == NULL)
		return false;
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	return strcmp(base, "mbutils.c") == 0;
}

/*
 * The text a message quotes was never lexed and may not lex: the scanner
 * would throw inside error reporting, where an error wipes the message
 * being reported and the statement text with it.  A key it holds can
 * only be known by its form: runs of hex digits are masked in the
 * message, in the statement text (so also in pg_stat_activity), and the
 * STATEMENT line is left out.
 */
static void
mask_unlexed(ErrorData *edata, const char *text)
{
	char	   *copy = pstrdup(text);

	mask_error_fields(edata, mask_hex_runs);
	mask_hex_runs((char *) text);
	if (strcmp(copy, text) != 0)
		pgstat_report_activity(STATE_RUNNING, text);
	explicit_bzero(copy, strlen(copy));
	pfree(copy);
	edata->hide_stmt = true;
}

/*
 * Mask, in the message's fields, the longest run that equals the start of
 * the token at which the raw parser failed: "syntax error at or near" and
 * its kin quote it.  Knuth-Morris-Pratt over the field finds it in time
 * linear in the field and the token (the token can be the rest of a text
 * of megabytes).  Should the table not be allocated, the whole field is
 * masked.
 */
static void
mask_error_token(ErrorData *edata, const char *token)
{
	char	   *fields[] = {edata->message, edata->detail, edata->hint};

	for (int f = 0; f < (int) lengthof(fields); f++)
	{
		char	   *field = fields[f];
		size_t		flen;
		size_t		m;
		int		   *fail;
		size_t		k = 0;
		size_t		best_k = 0;
		size_t		best_end = 0;

		if (field == NULL || token[0] == '\0')
			continue;
		flen = strlen(field);
		m = strnlen(token, flen);
		if (m == 0)
			continue;
		fail = palloc_extended(sizeof(int) * m, MCXT_ALLOC_NO_OOM);
		if (fail == NULL)
		{
			memset(field, '*', flen);
			continue;
		}
		/* fail[i]: the longest proper border of token[0..i] */
		fail[0] = 0;
		for (size_t i = 1; i < m; i++)
		{
			while (k > 0 && token[i] != token[k])
				k = fail[k - 1];
			if (token[i] == token[k])
				k++;
			fail[i] = k;
		}
		k = 0;
		for (size_t i = 0; i < flen; i++)
		{
			while (k > 0 && (k == m || field[i] != token[k]))
				k = fail[k - 1];
			if (field[i] == token[k])
				k++;
			if (k > best_k)
			{
				best_k = k;
				best_end = i + 1;
			}
		}
		pfree(fail);
		if (best_k > 0)
			memset(field + best_end - best_k, '*', best_k);
	}
}

/* Byte offset of the character at 1-based position pos in text[0..len). */
static int
char_offset(const char *text, int len, int pos)
{
	int			off = 0;

	for (int i = 1; i < pos && off < len; i++)
		off += pg_mblen(text + off);
	return Min(off, len);
}

/*
 * The raw parser failed at the cursor: the text before it lexes, the rest
 * may not (an unterminated quote), so only the part before is scanned, and
 * if a key's value is still open there, everything after it is masked.
 * The token the error quotes, when masked, is masked in the message too.
 * Runs inside error reporting, so nothing here may throw.
 */
static void
scan_failed_text(ErrorData *edata, const char *text, int len)
{
	int			cursor = char_offset(text, len, edata->cursorpos);
	EcMaskRange *ranges = NULL;
	int			n;
	int			open_from;
	bool		by_param;

	n = ec_find_key_values(text, cursor, NULL, 0, false, &open_from,
						   &by_param, &ranges);
	remember_scan(text, len, ranges, n, open_from, by_param);
	/* the error's token starts at the cursor: mask it where quoted */
	if (open_from >= 0 && open_from <= cursor && cursor < len)
		mask_error_token(edata, text + cursor);
}

/*
 * Mask the statement a message quotes on its QUERY: line (a statement of
 * a function or DO block).  The scanner reads it only where that cannot
 * throw: before the raw parser's error position, where the text lexed a
 * moment ago (after it, a value left open is masked to the end).  Other
 * errors may come after the settings that decide how it lexes changed
 * (standard_conforming_strings), or from a language's own parser, so
 * there, as everywhere, a key is known by its form: runs of hex digits
 * are masked (keys have 64).
 */
static void
mask_internal_query(ErrorData *edata)
{
	char	   *q = edata->internalquery;
	int			len;

	if (q == NULL)
		return;
	len = strlen(q);
	if (cursor_at_token(edata) && edata->internalpos > 0)
	{
		int			cursor = char_offset(q, len, edata->internalpos);
		EcMaskRange *ranges;
		int			open_from;
		bool		by_param;
		int			n = ec_find_key_values(q, cursor, NULL, 0, false,
										   &open_from, &by_param, &ranges);

		if (open_from >= 0 && open_from <= cursor && cursor < len)
			mask_error_token(edata, q + cursor);
		ec_apply_ranges(q, len, ranges, n);
		if (open_from >= 0 && open_from < len)
			memset(q + open_from, '*', len - open_from);
	}
	mask_hex_runs(q);
}

/*
 * Is this message one of the server's node dumps (debug_print_parse,
 * debug_print_rewritten, debug_print_plan)?  Known by the function that
 * reports them and its untranslated message id.
 */
static bool
is_node_dump(ErrorData *edata)
{
	return edata->funcname != NULL && edata->message_id != NULL &&
		strcmp(edata->funcname, "elog_node_display") == 0 &&
		strcmp(edata->message_id, "%s:") == 0;
}

/*
 * In a node dump, write '*' over the digits of every Const's datum
 * (":constvalue 68 [ 16 1 0 0 48 ... ]"): a key handed to set_config() as
 * a literal or a bound parameter is such a datum, and any role may turn
 * the dumps on.  Which constants could hold a key cannot be told from the
 * dump (a parameter folded into a custom plan, a PL/pgSQL variable), so
 * the datums of all are masked; their length and the rest of the tree
 * stay.  The dump's own syntax is the server's (outfuncs.c writes field
 * names this way and escapes white space in strings, so no string from
 * the statement reads as a field).
 */
static void
mask_const_values(char *dump)
{
	static const char field[] = ":constvalue";
	char	   *at;

	if (dump == NULL)
		return;
	for (at = strstr(dump, field); at != NULL; at = strstr(at, field))
	{
		at += sizeof(field) - 1;
		/* the datum's length, then its bytes in brackets */
		while (*at != '\0' && *at != '[' && *at != ':' && *at != '}')
			at++;
		if (*at != '[')
			continue;
		for (; *at != '\0' && *at != ']'; at++)
			if (isdigit((unsigned char) *at))
				*at = '*';
	}
}

/*
 * A message is about to be logged or sent (emit_log_hook): keep key values
 * out of every part of it that quotes the statement, out of its STATEMENT
 * line and, for statements that never got to analysis, out of
 * pg_stat_activity.  keys_out: the session's keys are out of its hands
 * (given to a scale-out layer that may print them), so key-shaped runs of
 * hex digits are masked in any message.  Runs inside error reporting, so
 * it must not fail: only text the raw parser has read is scanned (see
 * scan_failed_text).
 */
void
ec_redact_message(ErrorData *edata, bool keys_out)
{
	const char *text = debug_query_string;
	int			len;

	if (is_node_dump(edata))
	{
		mask_const_values(edata->detail);
		mask_const_values(edata->detail_log);
		mask_error_fields(edata, mask_hex_runs);
	}
	mask_error_fields(edata, mask_nested);
	mask_internal_query(edata);
	if (text != NULL && from_raw_parser(edata) && edata->cursorpos <= 0 &&
		edata->internalquery == NULL)
	{
		/*
		 * A notice from the middle of lexing (an identifier truncated):
		 * the text may not lex yet, so it is not scanned; a key it quotes
		 * is a run of hex digits, and the statement line is left out.
		 */
		mask_error_fields(edata, mask_hex_runs);
		edata->hide_stmt = true;
	}
	else if (text != NULL && !from_raw_parser(edata) &&
			 from_encoding_check(edata) && !text_scanned(text, &len))
		mask_unlexed(edata, text);
	else if (text != NULL && from_raw_parser(edata) &&
			 edata->internalquery == NULL && edata->cursorpos > 0 &&
			 !cursor_at_token(edata) && !text_scanned(text, &len))
	{
		/*
		 * The raw parser failed inside a literal (a bad escape): the text
		 * before the cursor does not lex, and the rest may not either.
		 */
		mask_unlexed(edata, text);
	}
	else if (text != NULL)
	{
		len = strlen(text);

		if (edata->cursorpos > 0 && edata->internalquery == NULL &&
			cursor_at_token(edata))
			scan_failed_text(edata, text, len);
		else if (!text_scanned(text, &len) && am_walsender)
		{
			/*
			 * A walsender's replication command (START_REPLICATION ...
			 * LOGICAL 0/1DFDF88) is read by the replication grammar, not
			 * the SQL scanner, which would throw on it; it holds no key
			 * setting, and one quoted is known by its form.
			 */
			mask_error_fields(edata, mask_hex_runs);
			edata->hide_stmt = true;
			return;
		}
		else if (!text_scanned(text, &len))
		{
			EcMaskRange *ranges;
			int			open_from;
			bool		by_param;
			int			n = ec_find_key_values(text, len, NULL, 0, false,
											   &open_from, &by_param, &ranges);

			remember_scan(text, len, ranges, n, -1, by_param);
		}
		if (scanned_n > 0 || scanned_by_param)
		{
			mask_error_fields(edata, mask_field);
			/*
			 * Keys bound as parameters are not in the text: they show in
			 * the "parameters:" detail and, folded into the plan, in
			 * auto_explain's output.
			 */
			mask_error_fields(edata, mask_hex_runs);
			mask_statement(text);
		}
	}
	if (key_executors > 0 || keys_out)
		mask_error_fields(edata, mask_hex_runs);
}

/*
 * A statement was parsed and analysed (post_parse_analyze_hook): the
 * client's statement text is masked in place before anything stores or
 * shows it.
 */
void
ec_redact_parsed(ParseState *pstate, Query *query)
{
	if (pstate->p_sourcetext != NULL)
		check_statement(query, pstate->p_sourcetext);
	mask_statement(pstate->p_sourcetext);
}

/*
 * A statement's own copy of its text is about to run (ExecutorStart_hook,
 * ProcessUtility_hook): a statement prepared with the extended protocol
 * runs from its own copy, which Bind and Execute show in pg_stat_activity
 * again; mask that copy.
 */
void
ec_redact_statement(const char *text)
{
	mask_statement(text);
}

/*
 * An executor has started (after ExecutorStart_hook's chain): count it
 * while it runs a statement that may hand in a key as a bound parameter.
 * auto_explain logs its plan, with the parameter folded in, at
 * ExecutorEnd, when debug_query_string may already be gone.
 */
void
ec_redact_executor_started(QueryDesc *queryDesc)
{
	const char *text = queryDesc->sourceText;
	int			len;

	if (text != NULL && scanned_by_param && text_scanned(text, &len))
		key_executors++;
}

/*
 * An executor is about to end (ExecutorEnd_hook): was it counted?  The
 * caller calls ec_redact_executor_ended after the chain if so.
 */
bool
ec_redact_executor_counted(QueryDesc *queryDesc)
{
	const char *text = queryDesc->sourceText;
	int			len;

	return key_executors > 0 && text != NULL &&
		scanned_by_param && text_scanned(text, &len);
}

/* A counted executor has ended. */
void
ec_redact_executor_ended(void)
{
	key_executors--;
}

/*
 * Transaction callback: portals end before the commit, and an aborted
 * statement never reaches ExecutorEnd; start each transaction afresh.  The
 * statements kept for CONTEXT lines go too (an error's message is written
 * before its transaction is aborted), so that no key-bearing copy outlives
 * its transaction.
 */
void
ec_redact_xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		key_executors = 0;
		forget_nested();
	}
}
