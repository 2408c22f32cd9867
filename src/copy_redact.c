/*
 * copy_redact.c
 *		Keeps row data out of the messages of COPY ... FROM into tables with
 *		encrypted columns.
 *
 * The rows such a COPY reads are plaintext.  PostgreSQL's error context
 * quotes the raw line or the field ("COPY users, line 2, column email:
 * ..."), and input errors quote the field in their message.  For a COPY
 * into a table with a column that holds an encrypted type anywhere
 * (looked through domains, arrays, ranges and composites, in the
 * catalog), its errors are re-thrown with the data cut out, and its
 * warnings and notices lose the data the same way.  Which part of a
 * message is data is found by matching the message against the
 * translation of its untranslated message id, so this holds in any
 * lc_messages language.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "compat.h"
#include "encrypted_column.h"
#include "redact.h"

/*
 * Nesting depth of COPY ... FROM into tables with encrypted columns: while
 * one runs, lower-level messages (a trigger's WARNING, COPY's own NOTICEs)
 * lose the row data the way its errors do.
 */
static int	copy_depth = 0;

/*
 * Is this utility statement a COPY that reads rows into a table with
 * encrypted columns?
 */
bool
ec_copy_into_encrypted(Node *utility)
{
	CopyStmt   *stmt = (CopyStmt *) utility;
	Oid			relid;

	if (!IsA(utility, CopyStmt) || !stmt->is_from || stmt->relation == NULL)
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return false;
	/* the table's row type, whose columns are looked through */
	return ec_type_holds_encrypted(get_rel_type_id(relid));
}

/*
 * The context lines COPY FROM writes that quote row data (the raw line, or
 * one field), as untranslated message ids in each spelling of the line
 * number's conversion: the data is their last %s.
 */
static const char *const COPY_DATA_CONTEXTS[] = {
	"COPY %s, line %llu, column %s: \"%s\"",
	"COPY %s, line %llu: \"%s\"",
	/* PostgreSQL 18 writes the line number with PRIu64 */
	"COPY %s, line %lu, column %s: \"%s\"",
	"COPY %s, line %lu: \"%s\"",
};

#define MAX_CONVERSIONS 8

/*
 * A message template cut into literal pieces and conversions: piece i
 * comes before conversion i, the last piece after the last conversion;
 * argno[i] is the argument conversion i prints (1-based; "%2$s" in a
 * translation may reorder them).
 */
typedef struct Template
{
	int			nconv;
	const char *piece[MAX_CONVERSIONS + 1];
	int			piece_len[MAX_CONVERSIONS + 1];
	int			argno[MAX_CONVERSIONS];
} Template;

/* Cut a printf template into pieces; false if it has too many conversions. */
static bool
parse_template(const char *t, Template *tp)
{
	const char *start = t;

	tp->nconv = 0;
	while (*t != '\0')
	{
		const char *conv = t;
		int			pos = 0;

		if (*t != '%')
		{
			t++;
			continue;
		}
		if (t[1] == '%')
		{
			t += 2;
			continue;
		}
		t++;
		while (*t >= '0' && *t <= '9')
			pos = pos * 10 + (*t++ - '0');
		if (*t == '$')
			t++;
		else
			pos = 0;
		while (*t != '\0' && strchr("-+ #0123456789.hlLqjzt", *t) != NULL)
			t++;
		if (*t == '\0' || tp->nconv == MAX_CONVERSIONS)
			return false;
		t++;
		tp->piece[tp->nconv] = start;
		tp->piece_len[tp->nconv] = conv - start;
		tp->argno[tp->nconv] = pos > 0 ? pos : tp->nconv + 1;
		tp->nconv++;
		start = t;
	}
	tp->piece[tp->nconv] = start;
	tp->piece_len[tp->nconv] = t - start;
	return true;
}

/*
 * Match a formatted text against a template: where does each argument
 * lie?  Pieces are found left to right, the last one at the text's end
 * (an argument may itself hold a piece's text).  False if it does not
 * match.
 */
static bool
match_template(const Template *tp, const char *text, int len,
			   int *arg_start, int *arg_len)
{
	int			pos = tp->piece_len[0];

	if (len < pos || strncmp(text, tp->piece[0], pos) != 0)
		return false;
	for (int i = 0; i < tp->nconv; i++)
	{
		const char *piece = tp->piece[i + 1];
		int			plen = tp->piece_len[i + 1];
		int			next;

		if (i == tp->nconv - 1)
		{
			next = len - plen;
			if (next < pos || strncmp(text + next, piece, plen) != 0)
				return false;
		}
		else
		{
			const char *found = NULL;

			for (int j = pos; j + plen <= len && found == NULL; j++)
				if (strncmp(text + j, piece, plen) == 0)
					found = text + j;
			if (found == NULL)
				return false;
			next = found - text;
		}
		arg_start[i] = pos;
		arg_len[i] = next - pos;
		pos = next + plen;
	}
	return true;
}

/*
 * Find COPY's data-quoting context line in an error's context, matched
 * against the translation of its message id in the error's language.
 * Returns the byte offset where the data's quote begins (the line is cut
 * there), and the data's own offset in *data; -1 if there is none.
 */
static int
find_copy_data(ErrorData *edata, int *data)
{
	const char *context = edata->context;
	int			len;

	if (context == NULL)
		return -1;
	len = strlen(context);
	for (int line = 0; line < len;)
	{
		for (int i = 0; i < (int) lengthof(COPY_DATA_CONTEXTS); i++)
		{
			Template	tp;
			int			arg_start[MAX_CONVERSIONS];
			int			arg_len[MAX_CONVERSIONS];
			int			nargs;

			if (!parse_template(dgettext(edata->context_domain,
										 COPY_DATA_CONTEXTS[i]), &tp))
				continue;
			/* the data runs to the end of the context (outer lines too) */
			if (!match_template(&tp, context + line, len - line, arg_start, arg_len))
				continue;
			nargs = tp.nconv;
			for (int c = 0; c < tp.nconv; c++)
				if (tp.argno[c] == nargs)
				{
					*data = line + arg_start[c];
					return line + arg_start[c] - tp.piece_len[c];
				}
		}
		while (line < len && context[line] != '\n')
			line++;
		line++;
	}
	return -1;
}

/*
 * In a message made from a known message id, replace each argument that
 * is part of the row data (the field a type's input function quotes, a
 * record literal) with "...".  Returns the new message, or NULL to say
 * the message could not be matched to its template.
 */
static char *
hide_data_args(const char *domain, const char *msgid, const char *msg,
			   const char *data, int data_len)
{
	Template	tp;
	int			arg_start[MAX_CONVERSIONS];
	int			arg_len[MAX_CONVERSIONS];
	int			len = strlen(msg);
	StringInfoData buf;
	int			pos = 0;

	if (msgid == NULL || !parse_template(dgettext(domain, msgid), &tp) ||
		!match_template(&tp, msg, len, arg_start, arg_len))
		return NULL;
	initStringInfo(&buf);
	for (int i = 0; i < tp.nconv; i++)
	{
		int			n = Min(arg_len[i], data_len);
		bool		is_data;

		/* the context may shorten the data: compare what both have */
		is_data = arg_len[i] > 0 && n > 0 &&
			(strncmp(msg + arg_start[i], data, n) == 0 ||
			 memmem(data, data_len, msg + arg_start[i], arg_len[i]) != NULL);
		appendBinaryStringInfo(&buf, msg + pos, arg_start[i] - pos);
		if (is_data)
			appendStringInfoString(&buf, "...");
		else
			appendBinaryStringInfo(&buf, msg + arg_start[i], arg_len[i]);
		pos = arg_start[i] + arg_len[i];
	}
	appendStringInfoString(&buf, msg + pos);
	return buf.data;
}

/*
 * Take the row data out of an error raised by COPY FROM: the quoted line
 * or field in the context (which keeps "COPY t, line N, column c"), and
 * the arguments of the message that quote it.  Both are found by message
 * id, matched in the error's own language.  A message that quotes the
 * data but cannot be matched to its id is replaced whole; so is a detail
 * or hint that quotes it.
 */
static void
redact_copy_error(ErrorData *edata)
{
	int			data;
	int			cut = find_copy_data(edata, &data);
	char	   *value;
	int			value_len;
	char	   *msg;

	if (cut < 0)
		return;
	value = pstrdup(edata->context + data);
	value_len = strlen(value);
	/* drop the closing quote and what follows the data, if on one line */
	edata->context[cut] = '\0';
	if (value_len == 0)
		return;
	msg = hide_data_args(edata->domain, edata->message_id, edata->message,
						 value, value_len);
	if (msg != NULL)
		edata->message = msg;
	else if (edata->message != NULL &&
			 memmem(edata->message, strlen(edata->message), value,
					Min(value_len, 8)) != NULL)
		edata->message = pstrdup(_("invalid input in COPY"));
	if (edata->detail != NULL &&
		memmem(edata->detail, strlen(edata->detail), value, Min(value_len, 8)) != NULL)
		edata->detail = NULL;
	if (edata->hint != NULL &&
		memmem(edata->hint, strlen(edata->hint), value, Min(value_len, 8)) != NULL)
		edata->hint = NULL;
	ec_wipe(value, value_len);
}

/*
 * The NOTICE that COPY ... FROM (ON_ERROR ignore, LOG_VERBOSITY verbose)
 * writes for each row it skips quotes the field as its last argument:
 * its message ids as PostgreSQL 17 and later spell them (the line
 * number's format differs between builds).
 */
static const char *const COPY_DATA_MESSAGES[] = {
	"skipping row due to data type incompatibility at line %llu for column \"%s\": \"%s\"",
	"skipping row due to data type incompatibility at line %lu for column \"%s\": \"%s\"",
};

/*
 * A message below ERROR raised while a COPY into encrypted columns runs
 * (a trigger's WARNING, COPY's own NOTICE about a skipped row): the same
 * cut as for its errors, and the skipped row's field out of COPY's NOTICE.
 * Runs inside error reporting: nothing here may throw.
 */
void
ec_copy_redact_message(ErrorData *edata)
{
	Template	tp;
	int			arg_start[MAX_CONVERSIONS];
	int			arg_len[MAX_CONVERSIONS];
	bool		known = false;
	StringInfoData buf;

	if (copy_depth == 0 || edata->elevel >= ERROR)
		return;
	redact_copy_error(edata);
	if (edata->message_id == NULL || edata->message == NULL)
		return;
	for (int i = 0; i < (int) lengthof(COPY_DATA_MESSAGES); i++)
		known |= strcmp(edata->message_id, COPY_DATA_MESSAGES[i]) == 0;
	if (!known)
		return;
	if (!parse_template(dgettext(edata->domain, edata->message_id), &tp) ||
		!match_template(&tp, edata->message, strlen(edata->message),
						arg_start, arg_len))
	{
		edata->message = pstrdup(_("invalid input in COPY"));
		return;
	}
	initStringInfo(&buf);
	for (int c = 0; c < tp.nconv; c++)
		if (tp.argno[c] == tp.nconv)
		{
			appendBinaryStringInfo(&buf, edata->message, arg_start[c]);
			appendStringInfoString(&buf, "...");
			appendStringInfoString(&buf, edata->message + arg_start[c] + arg_len[c]);
			edata->message = buf.data;
			return;
		}
}

/*
 * Run a COPY into encrypted columns through next (the rest of the utility
 * hook chain); its errors, and the messages below ERROR raised while it
 * runs, lose the quoted row data.
 */
void
ec_copy_run_redacted(ProcessUtility_hook_type next,
					 PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree,
					 ProcessUtilityContext context, ParamListInfo params,
					 QueryEnvironment *queryEnv, DestReceiver *dest,
					 QueryCompletion *qc)
{
	MemoryContext oldcontext = CurrentMemoryContext;

	copy_depth++;
	PG_TRY();
	{
		next(pstmt, queryString, readOnlyTree,
			 context, params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		copy_depth--;
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		redact_copy_error(edata);
		ReThrowError(edata);
	}
	PG_END_TRY();
	copy_depth--;
}
