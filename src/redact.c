/*
 * redact.c
 *		Keeps keys and row data out of the server's own reporting channels.
 *
 * The extension cannot stop a client from writing a key or a plaintext
 * into SQL text, but it can keep what it recognises out of the places the
 * server copies that text to:
 *	- the server log and client messages (emit_log_hook): in any message
 *	  that names one of the extension's GUCs, runs of 16 or more hex digits
 *	  (keys; key ids have 8) are masked, and the STATEMENT line of such a
 *	  statement is left out;
 *	- pg_stat_statements and pg_stat_activity (ProcessUtility_hook): a
 *	  utility statement that names a key GUC (SET, ALTER ROLE ... SET) goes
 *	  down the hook chain, and into pg_stat_activity, with the same
 *	  masking; pg_stat_statements must come before encrypted_column in
 *	  shared_preload_libraries for its copy to be the masked one (the
 *	  server warns at start otherwise);
 *	- COPY ... FROM into a table with columns of the extension's types:
 *	  PostgreSQL's error context quotes the raw line or field, which is
 *	  plaintext, so errors of such a COPY are re-thrown with the data cut
 *	  out of the context ("COPY t, line 3, column c" stays) and out of a
 *	  message that quotes the field, such as an integer column's input
 *	  error.
 * Key masking rewrites strings in place, keeping their length, so statement
 * positions stay valid and the log hook allocates nothing.  These hooks
 * exist only once the library is loaded: preloading it covers a session's
 * first statement too.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "compat.h"
#include "encrypted_column.h"

#define GUC_PREFIX			"encrypted_column."
#define MIN_SECRET_HEX_RUN	16

static emit_log_hook_type prev_emit_log_hook = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;

extern PGDLLEXPORT Datum encrypted_text_in(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum encrypted_text_det_in(PG_FUNCTION_ARGS);

/* The input functions of the extension's column types: one line a type. */
static const PGFunction encrypted_type_inputs[] = {
	encrypted_text_in,
	encrypted_text_det_in,
};

/* Does the text name one of the extension's GUCs (any case)? */
static bool
names_guc(const char *s)
{
	size_t		n = strlen(GUC_PREFIX);

	if (s == NULL)
		return false;
	for (; *s != '\0'; s++)
		if ((*s == 'e' || *s == 'E') && pg_strncasecmp(s, GUC_PREFIX, n) == 0)
			return true;
	return false;
}

/* Is c a hex digit? */
static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Find the first run of at least MIN_SECRET_HEX_RUN hex digits at or after
 * *pos: its start in *pos and length in *len; false if there is none.
 */
static bool
next_secret_run(const char *s, size_t *pos, size_t *len)
{
	size_t		i = *pos;

	while (s[i] != '\0')
	{
		size_t		n = 0;

		while (is_hex(s[i + n]))
			n++;
		if (n >= MIN_SECRET_HEX_RUN)
		{
			*pos = i;
			*len = n;
			return true;
		}
		i += n > 0 ? n : 1;
	}
	return false;
}

/* Does the text hold a run of hex digits long enough to be a key? */
static bool
has_secret_run(const char *s)
{
	size_t		pos = 0;
	size_t		len;

	return s != NULL && next_secret_run(s, &pos, &len);
}

/* Overwrite every long hex run with '*', in place. */
static void
mask_in_place(char *s)
{
	size_t		pos = 0;
	size_t		len;

	if (s == NULL)
		return;
	while (next_secret_run(s, &pos, &len))
	{
		memset(s + pos, '*', len);
		pos += len;
	}
}

/*
 * emit_log_hook: when a message is about the extension's GUCs, mask key
 * material in every part of it and leave out a STATEMENT line that would
 * print the key.  Runs inside error reporting, so it must not fail.
 */
static void
redact_emit_log(ErrorData *edata)
{
	if (names_guc(edata->message) || names_guc(edata->detail) ||
		names_guc(edata->detail_log) || names_guc(edata->hint) ||
		names_guc(edata->context) || names_guc(edata->internalquery))
	{
		mask_in_place(edata->message);
		mask_in_place(edata->detail);
		mask_in_place(edata->detail_log);
		mask_in_place(edata->hint);
		mask_in_place(edata->context);
		mask_in_place(edata->internalquery);
	}
	/* only messages that may print the statement need the scan (LOG may) */
	if (edata->output_to_server && !edata->hide_stmt &&
		(edata->elevel == LOG || edata->elevel == LOG_SERVER_ONLY ||
		 edata->elevel >= log_min_error_statement) &&
		names_guc(debug_query_string) && has_secret_run(debug_query_string))
		edata->hide_stmt = true;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* Is this one of the extension's types, a domain over one, or an array of one? */
static bool
is_encrypted_type(Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			elem = get_element_type(base);
	Oid			infunc;
	Oid			ioparam;
	FmgrInfo	flinfo;

	if (OidIsValid(elem))
		base = getBaseType(elem);
	getTypeInputInfo(base, &infunc, &ioparam);
	fmgr_info(infunc, &flinfo);
	for (size_t i = 0; i < lengthof(encrypted_type_inputs); i++)
		if (flinfo.fn_addr == encrypted_type_inputs[i])
			return true;
	return false;
}

/* Is this COPY one that reads rows into a table with encrypted columns? */
static bool
copy_into_encrypted(CopyStmt *stmt)
{
	Oid			relid;

	if (!stmt->is_from || stmt->relation == NULL)
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return false;
	for (AttrNumber attnum = 1;; attnum++)
	{
		HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
										   Int16GetDatum(attnum));
		Form_pg_attribute att;
		bool		found;

		if (!HeapTupleIsValid(tuple))
			return false;
		att = (Form_pg_attribute) GETSTRUCT(tuple);
		found = !att->attisdropped && is_encrypted_type(att->atttypid);
		ReleaseSysCache(tuple);
		if (found)
			return true;
	}
}

/*
 * Find the quoted row data in COPY's error context: the first line
 * 'COPY ..., line N...: "' (PostgreSQL prints the raw line or field there).
 * Returns a pointer to the opening ": \"" or NULL.
 */
static char *
find_copy_data(char *context)
{
	char	   *copy;

	if (context == NULL)
		return NULL;
	for (copy = strstr(context, "COPY "); copy != NULL; copy = strstr(copy + 5, "COPY "))
	{
		char	   *line = strstr(copy, ", line ");
		char	   *eol = strchr(copy, '\n');
		char	   *quote = strstr(copy, ": \"");

		if (copy != context && copy[-1] != '\n')
			continue;
		if (line == NULL || quote == NULL || (eol != NULL && (line > eol || quote > eol)))
			continue;
		return quote;
	}
	return NULL;
}

/*
 * Hide a field value that an input function quoted in its message, such as
 * 'invalid input syntax for type integer: "<value>"': everything from the
 * opening quote before the value's first bytes to the message's last quote
 * becomes "...".  The value may have been shortened in the context, so only
 * its first bytes are searched for.
 */
static char *
hide_value(char *msg, const char *value)
{
	char		needle[34];
	char	   *at;
	char	   *last;
	StringInfoData buf;

	if (msg == NULL || value[0] == '\0')
		return msg;
	snprintf(needle, sizeof(needle), "\"%s", value);
	if ((at = strstr(msg, needle)) == NULL)
		return msg;
	last = strrchr(at + 1, '"');
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, msg, at - msg + 1);
	appendStringInfoString(&buf, "...");
	appendStringInfoString(&buf, last != NULL && last > at ? last : "\"");
	return buf.data;
}

/*
 * Take the row data out of an error raised by COPY: the quoted line or
 * field in the context (which keeps "COPY t, line N, column c"), and that
 * field where the message or detail quotes it.  The data may hold quotes
 * and newlines, so the context is cut at the data, outer lines included.
 */
static void
redact_copy_error(ErrorData *edata)
{
	char	   *data = find_copy_data(edata->context);
	char		value[32];

	if (data == NULL)
		return;
	/* the field's first bytes (at most 31), to find it in the message */
	strlcpy(value, data + 3, sizeof(value));
	if (strchr(value, '"') != NULL)
		*strchr(value, '"') = '\0';
	*data = '\0';
	edata->message = hide_value(edata->message, value);
	edata->detail = hide_value(edata->detail, value);
	edata->hint = hide_value(edata->hint, value);
}

/*
 * Does this statement, the part of queryString it was parsed from, name a
 * key GUC next to a hex run?  Only its own part is searched, so a long
 * multi-statement string is not scanned once per statement.
 */
static bool
statement_names_key(PlannedStmt *pstmt, const char *queryString)
{
	const char *start;
	char	   *part;
	bool		found;

	if (queryString == NULL)
		return false;
	start = queryString + (pstmt->stmt_location > 0 ? pstmt->stmt_location : 0);
	part = pstmt->stmt_len > 0 ? pnstrdup(start, pstmt->stmt_len) : pstrdup(start);
	found = names_guc(part) && has_secret_run(part);
	pfree(part);
	return found;
}

/* Hand a utility statement to the next hook, or to PostgreSQL. */
static void
next_process_utility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree,
					 ProcessUtilityContext context, ParamListInfo params,
					 QueryEnvironment *queryEnv, DestReceiver *dest,
					 QueryCompletion *qc)
{
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree,
							 context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree,
								context, params, queryEnv, dest, qc);
}

/* Run a COPY into encrypted columns; its errors lose the quoted row data. */
static void
copy_redacted(PlannedStmt *pstmt, const char *queryString,
			  bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest,
			  QueryCompletion *qc)
{
	MemoryContext oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		next_process_utility(pstmt, queryString, readOnlyTree,
							 context, params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		redact_copy_error(edata);
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * ProcessUtility_hook: mask key material in the text of utility statements
 * that name the key GUCs, and keep row data out of the errors of COPY into
 * tables with encrypted columns.
 */
static void
redact_process_utility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree,
					   ProcessUtilityContext context, ParamListInfo params,
					   QueryEnvironment *queryEnv, DestReceiver *dest,
					   QueryCompletion *qc)
{
	if (statement_names_key(pstmt, queryString))
	{
		char	   *masked = pstrdup(queryString);

		mask_in_place(masked);
		queryString = masked;
		if (context == PROCESS_UTILITY_TOPLEVEL)
			pgstat_report_activity(STATE_RUNNING, masked);
	}
	if (IsA(pstmt->utilityStmt, CopyStmt) &&
		copy_into_encrypted((CopyStmt *) pstmt->utilityStmt))
		copy_redacted(pstmt, queryString, readOnlyTree,
					  context, params, queryEnv, dest, qc);
	else
		next_process_utility(pstmt, queryString, readOnlyTree,
							 context, params, queryEnv, dest, qc);
}

/* The file name of a library list entry, without directory and ".so". */
static bool
library_is(const char *entry, const char *name)
{
	const char *base = strrchr(entry, '/');
	size_t		n = strlen(name);

	base = base ? base + 1 : entry;
	return strncmp(base, name, n) == 0 &&
		(base[n] == '\0' || strcmp(base + n, DLSUFFIX) == 0);
}

/*
 * Hooks run in the reverse order of loading: if pg_stat_statements is
 * preloaded after this library, it records utility statements before they
 * are masked here.  Say so when the server starts.
 */
static void
warn_on_library_order(void)
{
	char	   *copy;
	List	   *entries;
	ListCell   *lc;
	bool		seen_self = false;

	if (!process_shared_preload_libraries_in_progress ||
		shared_preload_libraries_string == NULL)
		return;
	copy = pstrdup(shared_preload_libraries_string);
	if (!SplitDirectoriesString(copy, ',', &entries))
		return;
	foreach(lc, entries)
	{
		const char *entry = (const char *) lfirst(lc);

		if (library_is(entry, "encrypted_column"))
			seen_self = true;
		else if (seen_self && library_is(entry, "pg_stat_statements"))
			ereport(WARNING,
					(errmsg("encrypted_column is loaded before pg_stat_statements"),
					 errdetail("pg_stat_statements will record statements that set a key before encrypted_column masks them."),
					 errhint("List encrypted_column after pg_stat_statements in shared_preload_libraries.")));
	}
}

/* Install the hooks; called once from _PG_init. */
void
ec_redact_install(void)
{
	warn_on_library_order();
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_emit_log;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = redact_process_utility;
}
