/*
 * keymask.c
 *		Finds the values of the key settings in statement text with
 *		PostgreSQL's own scanner.
 *
 * The scanner does what the server does to the text: it folds case,
 * strips identifier quotes, decodes E'' strings, skips comments and white
 * space.  On its tokens a small state machine recognises
 *	- SET [SESSION | LOCAL] name ... and RESET name ..., wherever SET
 *	  stands (ALTER ROLE | DATABASE | SYSTEM ... SET, a function's SET
 *	  clause), with the name put together from its parts
 *	  ("encrypted_column" . "key" is encrypted_column.key);
 *	- set_config(name, value, ...) calls, and import_key(name, key), whose
 *	  second argument is a key (after analysis: known by its C symbol);
 *	- EXECUTE p(args) of a prepared statement that hands a parameter to
 *	  set_config() as the value of a key setting (decided from the
 *	  prepared statement's analysed query, not from its text);
 *	- the body of a DO block or function (see add_body);
 *	- a call of a function whose name it cannot read (a Unicode-escaped
 *	  identifier, U&"set_config"), treated as set_config() with a name
 *	  that may be a key; after analysis the function the server resolved
 *	  decides too (ec_query_key_values).
 * When the name is a key setting, or cannot be read (a Unicode-escaped
 * identifier, an expression for set_config's name), every token of the
 * value is reported: string constants by their contents, so the masked
 * text keeps its quotes and still lexes the same, other tokens whole.
 * A value that runs to the end of the text (the statement was cut off, or
 * the caller scans only the part before a syntax error) is reported as
 * "open", so the caller can mask everything after it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/prepare.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "parser/scanner.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/plancache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "redact.h"

/*
 * The settings whose values may be keys: every name in the extension's
 * prefix, not only encrypted_column.key and .previous_keys, because a key
 * given to a mistyped name (encrypted_column.keys) is refused with an
 * error whose STATEMENT: line would print it.  Masking the restore
 * switch's on/off on the way costs nothing.
 */
#define KEY_PREFIX		"encrypted_column"

/*
 * The grammar's token numbers for the tokens the state machine looks at.
 * The server's headers stopped shipping gram.h in PostgreSQL 16, so they
 * are learnt by scanning a probe text once; keywords are the tokens from
 * ABORT (the grammar's first keyword) on.
 */
static struct
{
	bool		known;
	int			ident;
	int			uident;
	int			sconst;
	int			usconst;
	int			bconst;
	int			xconst;
	int			equals_greater;
	int			param;
	int			first_keyword;
} tk;

#define IDENT			(tk.ident)
#define UIDENT			(tk.uident)
#define SCONST			(tk.sconst)
#define USCONST			(tk.usconst)
#define BCONST			(tk.bconst)
#define XCONST			(tk.xconst)
#define EQUALS_GREATER	(tk.equals_greater)
#define PARAM			(tk.param)
#define ABORT_P			(tk.first_keyword)

/* Learn the token numbers from a probe text (it lexes in any setting). */
static void
learn_tokens(void)
{
	static const char probe[] = "x U&\"x\" 'x' U&'x' B'1' X'1' => $1 abort";
	int		   *slot[] = {&tk.ident, &tk.uident, &tk.sconst, &tk.usconst,
		&tk.bconst, &tk.xconst, &tk.equals_greater, &tk.param, &tk.first_keyword};
	core_yyscan_t yyscanner;
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;

	yyscanner = scanner_init(probe, &yyextra, &ScanKeywords, ScanKeywordTokens);
	yyextra.standard_conforming_strings = true;
	yyextra.escape_string_warning = false;
	for (int i = 0; i < (int) lengthof(slot); i++)
		*slot[i] = core_yylex(&yylval, &yylloc, yyscanner);
	scanner_finish(yyscanner);
	tk.known = true;
}

static bool is_import_key(Oid funcid);

#define MAX_NAME 200
#define MAX_ARGS 16

typedef enum KeyScanState
{
	ST_IDLE,					/* between constructs */
	ST_NAME,					/* after SET or RESET: the setting's name */
	ST_VALUE,					/* the value of a key setting, to ';' */
	ST_CALL,					/* after set_config or EXECUTE p: '(' next */
	ST_ARGS						/* inside the call's parentheses */
} KeyScanState;

typedef struct KeyScan
{
	const char *scanbuf;		/* the scanner's copy of the text */
	int			len;
	EcMaskRange *ranges;
	int			nranges;
	int			maxranges;
	KeyScanState	state;
	/* ST_NAME */
	char		name[MAX_NAME];
	bool		name_unknown;	/* a part that cannot be read */
	bool		name_empty;
	bool		after_dot;
	/* ST_VALUE, ST_ARGS */
	int			depth;
	bool		is_execute;
	bool		is_import;		/* import_key(name, key): the key is arg 2 */
	char		stmt_name[NAMEDATALEN];
	int			nargs;
	int			arg_first[MAX_ARGS];	/* index of the arg's first range */
	int			arg_start[MAX_ARGS];	/* byte offset of its first token */
	int			arg_tokens[MAX_ARGS];
	bool		arg_sconst[MAX_ARGS];	/* a single string constant */
	bool		arg_simple[MAX_ARGS];	/* a single constant or $n */
	char	   *arg_value[MAX_ARGS];	/* ... and its value */
	bool		named;			/* name => value notation */
	int			value_first;	/* first range of a SET value */
	int			body_pending;	/* after DO or AS: tokens until a body */
	int			open_from;		/* where an unfinished value starts */
	const int  *locs;			/* tokens to mask whatever the state */
	int			nlocs;
	int			next_loc;
	bool		by_param;		/* a value is a bound parameter ($n) */
	bool		all_hex;		/* mask every long hex run of the text */
} KeyScan;

/* Length of the run of hex digits at s (0 if s does not start one). */
int
ec_hex_run(const char *s)
{
	int			n = 0;

	while (isxdigit((unsigned char) s[n]))
		n++;
	return n;
}

/* Is this a name in the extension's prefix (names are case-insensitive)? */
bool
ec_is_extension_guc(const char *name)
{
	size_t		len = strlen(KEY_PREFIX);

	return pg_strncasecmp(name, KEY_PREFIX, len) == 0 &&
		(name[len] == '\0' || name[len] == '.');
}

/*
 * May set_config() with this constant name set a key?  Every name in the
 * extension's prefix may; so may a name that is no setting at all (it is
 * refused with an error whose STATEMENT: line prints the value, as for
 * ' encrypted_column.key' with its leading space).  Only an existing
 * setting outside the prefix is known not to be a key.
 */
static bool
name_may_be_key(const char *name)
{
	return ec_is_extension_guc(name) ||
		GetConfigOption(name, true, false) == NULL;
}

/* Record a range to mask. */
static void
add_range(KeyScan *s, int token, int start, int len, bool quote)
{
	if (len <= 0)
		return;
	if (s->nranges == s->maxranges)
	{
		s->maxranges *= 2;
		s->ranges = repalloc(s->ranges, sizeof(EcMaskRange) * s->maxranges);
	}
	s->ranges[s->nranges].start = start;
	s->ranges[s->nranges].len = len;
	s->ranges[s->nranges].quote = quote;
	s->ranges[s->nranges].token = token;
	s->nranges++;
}

/*
 * The bytes of a token to mask: a string constant's contents between its
 * delimiters, any other token whole, written as a string constant of the
 * same length, so that the masked text still lexes (a run of '*' longer
 * than NAMEDATALEN would not).
 */
static void
add_token(KeyScan *s, int tok, int loc)
{
	const char *t = s->scanbuf + loc;
	int			len = strlen(t);
	int			open = 0;
	int			close = 0;

	if (tok == PARAM)
	{
		/* the value is not in the text; the caller masks what it can */
		s->by_param = true;
		return;
	}

	if (tok == SCONST || tok == USCONST || tok == BCONST || tok == XCONST)
	{
		if (t[0] == '$')
		{
			const char *end = strchr(t + 1, '$');

			open = close = end ? (int) (end - t) + 1 : 0;
		}
		else
		{
			const char *q = strchr(t, '\'');

			open = q ? (int) (q - t) + 1 : 0;
			close = t[len - 1] == '\'' ? 1 : 0;
		}
		if (open + close > len)
			open = close = 0;
		add_range(s, loc, loc + open, len - open - close, false);
	}
	else
		add_range(s, loc, loc, len, len >= 2);
}

/*
 * A DO block's or a function's body is a string constant the scanner
 * cannot read as SQL (it may be PL/pgSQL, or another language); a key
 * written in it (PERFORM set_config(...), EXECUTE 'SET ...') can only be
 * known by its form: runs of EC_MIN_SECRET_HEX_RUN or more hex digits
 * are masked.
 */
static void
add_body(KeyScan *s, int loc)
{
	const char *t = s->scanbuf + loc;

	for (int i = 0; t[i] != '\0';)
	{
		int			n = ec_hex_run(t + i);

		if (n >= EC_MIN_SECRET_HEX_RUN)
			add_range(s, loc, loc + i, n, false);
		i += n > 0 ? n : 1;
	}
}

/* A name part: an identifier (already folded and unquoted) or a keyword. */
static bool
name_part(KeyScan *s, int tok, core_YYSTYPE *val)
{
	const char *part;

	if (tok == UIDENT)
	{
		s->name_unknown = true;
		part = "";
	}
	else if (tok == IDENT)
		part = val->str;
	else if (tok >= ABORT_P)
		part = val->keyword;
	else
		return false;
	strlcat(s->name, part, sizeof(s->name));
	s->name_empty = false;
	s->after_dot = false;
	return true;
}

/*
 * Which arguments of an EXECUTE are values of key settings?  Looks for
 * set_config() calls in the prepared statement's analysed query: a value
 * given as $n marks argument n when the name is a key setting, a constant
 * name that is not one spares it, and any other name marks it.
 */
typedef struct ParamSearch
{
	bool		marked[MAX_ARGS];
	List	   *names;			/* arg values, for names given as $n */
} ParamSearch;

/* Expression walker for ParamSearch. */
static bool
param_walker(Node *node, ParamSearch *ps)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && list_length(((FuncExpr *) node)->args) >= 2 &&
		(((FuncExpr *) node)->funcid == F_SET_CONFIG ||
		 is_import_key(((FuncExpr *) node)->funcid)))
	{
		FuncExpr   *f = (FuncExpr *) node;
		Node	   *name = linitial(f->args);
		Node	   *value = lsecond(f->args);
		bool		key = true;

		if (f->funcid != F_SET_CONFIG)
			key = true;
		else if (IsA(name, Const) && !((Const *) name)->constisnull)
			key = name_may_be_key(TextDatumGetCString(((Const *) name)->constvalue));
		else if (IsA(name, Param) && ((Param *) name)->paramid <= list_length(ps->names))
		{
			char	   *v = list_nth(ps->names, ((Param *) name)->paramid - 1);

			key = (v == NULL || name_may_be_key(v));
		}
		if (key && IsA(value, Param) && ((Param *) value)->paramid <= MAX_ARGS)
			ps->marked[((Param *) value)->paramid - 1] = true;
		else if (key && !IsA(value, Const))
			memset(ps->marked, true, sizeof(ps->marked));
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, param_walker, (void *) ps, 0);
	return expression_tree_walker(node, param_walker, (void *) ps);
}

/* Mask the arguments of EXECUTE that the prepared statement uses as keys. */
static void
finish_execute(KeyScan *s)
{
	PreparedStatement *ps = FetchPreparedStatement(s->stmt_name, false);
	ParamSearch search;
	ListCell   *lc;

	if (ps == NULL)
		return;
	memset(search.marked, false, sizeof(search.marked));
	search.names = NIL;
	for (int i = 0; i < s->nargs; i++)
		search.names = lappend(search.names,
							   s->arg_sconst[i] ? s->arg_value[i] : NULL);
	foreach(lc, ps->plansource->query_list)
		(void) param_walker((Node *) lfirst(lc), &search);
	list_free(search.names);
	for (int i = s->nargs - 1; i >= 0; i--)
		if (!search.marked[i])
		{
			/* drop argument i's ranges: it is not a key */
			int			first = s->arg_first[i];
			int			next = i + 1 < s->nargs ? s->arg_first[i + 1] : s->nranges;

			memmove(&s->ranges[first], &s->ranges[next],
					sizeof(EcMaskRange) * (s->nranges - next));
			s->nranges -= next - first;
		}
}

/*
 * The set_config() calls of an analysed statement, found by the function
 * the server resolved (its OID), however its name was spelled: the
 * locations of the values that may be keys, and whether one is a bound
 * parameter or an expression (then a key can only be known by its form).
 */
typedef struct CallSearch
{
	List	   *locs;			/* integer byte offsets */
	bool		by_param;
	bool		exprs;
} CallSearch;

/* Is a constant NULL or an empty string? */
static bool
const_is_empty(Const *c)
{
	if (c->constisnull)
		return true;
	if (c->consttype == UNKNOWNOID || c->consttype == CSTRINGOID)
		return DatumGetCString(c->constvalue)[0] == '\0';
	if (c->constlen == -1)
		return VARSIZE_ANY_EXHDR(DatumGetPointer(c->constvalue)) == 0;
	return false;
}

/*
 * Is this the extension's import_key(name, key_hex), in whatever schema and
 * however it was called?  Known by its C symbol in the catalog.
 */
static bool
is_import_key(Oid funcid)
{
	HeapTuple	tuple;
	bool		result = false;

	if (funcid < FirstNormalObjectId)
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tuple))
		return false;
	if (((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId &&
		((Form_pg_proc) GETSTRUCT(tuple))->pronargs == 2)
	{
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);

		result = !isnull &&
			strcmp(TextDatumGetCString(src), "encrypted_column_import_key") == 0;
	}
	ReleaseSysCache(tuple);
	return result;
}

/* Expression walker for CallSearch. */
static bool
call_walker(Node *node, CallSearch *cs)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && list_length(((FuncExpr *) node)->args) >= 2 &&
		(((FuncExpr *) node)->funcid == F_SET_CONFIG ||
		 is_import_key(((FuncExpr *) node)->funcid)))
	{
		FuncExpr   *f = (FuncExpr *) node;
		Node	   *name = strip_implicit_coercions(linitial(f->args));
		Node	   *value = strip_implicit_coercions(lsecond(f->args));

		if (f->funcid != F_SET_CONFIG || !IsA(name, Const) ||
			((Const *) name)->constisnull ||
			name_may_be_key(TextDatumGetCString(((Const *) name)->constvalue)))
		{
			if (IsA(value, Const) && ((Const *) value)->location >= 0)
			{
				/* an empty or NULL value holds nothing to mask */
				if (!const_is_empty((Const *) value))
					cs->locs = lappend_int(cs->locs, ((Const *) value)->location);
			}
			else if (IsA(value, Param))
				cs->by_param = true;
			else if (!IsA(value, Const))
				cs->exprs = true;
		}
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, call_walker, (void *) cs, 0);
	return expression_tree_walker(node, call_walker, (void *) cs);
}

/* qsort comparator: ints. */
static int
int_cmp(const void *a, const void *b)
{
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;

	return (ia > ib) - (ia < ib);
}

/*
 * The values of the set_config() calls in an analysed statement that may
 * set a key: returns their byte offsets in the statement text (ascending,
 * palloc'd; NULL when none) in *locs and their number; *by_param and
 * *exprs say that a value is a bound parameter or an expression.
 */
int
ec_query_key_values(Query *query, int **locs, bool *by_param, bool *exprs)
{
	CallSearch	cs = {NIL, false, false};
	ListCell   *lc;
	int			n = 0;

	(void) call_walker((Node *) query, &cs);
	*by_param = cs.by_param;
	*exprs = cs.exprs;
	*locs = NULL;
	if (cs.locs == NIL)
		return 0;
	*locs = palloc(sizeof(int) * list_length(cs.locs));
	foreach(lc, cs.locs)
		(*locs)[n++] = lfirst_int(lc);
	list_free(cs.locs);
	qsort(*locs, n, sizeof(int), int_cmp);
	return n;
}

/*
 * The call's arguments are complete (or the text ended inside them): keep
 * the ranges of the arguments that may be keys, drop the others.  At the
 * end of the text, an argument that may be a key is open.
 */
static void
finish_call(KeyScan *s, bool at_end)
{
	bool		key;
	int			keep;

	if (s->is_execute)
	{
		if (at_end)
			s->open_from = s->nargs > 0 ? s->arg_start[0] : s->len;
		else
			finish_execute(s);
		return;
	}
	/*
	 * set_config: the name is the first argument, the value the second;
	 * import_key: the key's name, then the key itself
	 */
	key = s->is_import || s->named || s->nargs == 0 || !s->arg_sconst[0] ||
		name_may_be_key(s->arg_value[0]);
	keep = s->named ? 0 : 1;
	if (!key)
	{
		s->nranges = s->nargs > 0 ? s->arg_first[0] : s->nranges;
		return;
	}

	/*
	 * A value that is not one constant or $n (a column, an expression) may
	 * come from anywhere in the statement (a VALUES list, a subquery): a
	 * key there can only be known by its form.
	 */
	for (int i = s->named ? 0 : 1; i < (s->named ? s->nargs : Min(s->nargs, 2)); i++)
		s->all_hex |= !s->arg_simple[i];
	if (at_end)
		s->open_from = s->nargs > keep && s->arg_start[keep] >= 0 ?
			s->arg_start[keep] : s->len;
	if (s->named)
		return;					/* every argument stays masked */
	/* keep only the second argument's ranges */
	if (s->nargs >= 2)
	{
		int			first = s->arg_first[1];
		int			next = s->nargs > 2 ? s->arg_first[2] : s->nranges;

		memmove(&s->ranges[s->arg_first[0]], &s->ranges[first],
				sizeof(EcMaskRange) * (next - first));
		s->nranges = s->arg_first[0] + (next - first);
	}
	else if (s->nargs == 1)
		s->nranges = s->arg_first[0];
}

/* Wipe and free the copies of the call's string arguments. */
static void
wipe_args(KeyScan *s)
{
	for (int i = 0; i < s->nargs; i++)
		if (s->arg_value[i] != NULL)
		{
			explicit_bzero(s->arg_value[i], strlen(s->arg_value[i]));
			pfree(s->arg_value[i]);
			s->arg_value[i] = NULL;
		}
	s->nargs = 0;
}

/* Start a new argument of the call (its first token comes later). */
static void
start_arg(KeyScan *s)
{
	if (s->nargs == MAX_ARGS)
		return;
	s->arg_first[s->nargs] = s->nranges;
	s->arg_start[s->nargs] = -1;
	s->arg_tokens[s->nargs] = 0;
	s->arg_sconst[s->nargs] = false;
	s->arg_simple[s->nargs] = false;
	s->arg_value[s->nargs] = NULL;
	s->nargs++;
}

/* Feed one token to the state machine. */
static void
feed(KeyScan *s, int tok, core_YYSTYPE *val, int loc)
{
	switch (s->state)
	{
		case ST_NAME:
			if (tok == '.' && !s->name_empty && !s->after_dot)
			{
				strlcat(s->name, ".", sizeof(s->name));
				s->after_dot = true;
				return;
			}
			if ((s->name_empty || s->after_dot) && name_part(s, tok, val))
			{
				/* SET SESSION name, SET LOCAL name */
				if (strcmp(s->name, "session") == 0 || strcmp(s->name, "local") == 0)
				{
					s->name[0] = '\0';
					s->name_empty = true;
				}
				return;
			}
			if (s->name_empty || !(s->name_unknown || ec_is_extension_guc(s->name)))
			{
				s->state = ST_IDLE;
				break;			/* look at this token afresh */
			}
			s->state = ST_VALUE;
			s->depth = 0;
			s->value_first = s->nranges;
			s->open_from = -1;
			if (tok == '=' || (tok >= ABORT_P && strcmp(val->keyword, "to") == 0))
				return;
			/* no '=': the value starts here (a syntax error follows) */
			/* FALLTHROUGH */
		case ST_VALUE:
			if (tok == ';' && s->depth == 0)
			{
				s->state = ST_IDLE;
				return;
			}
			if (tok == '(')
				s->depth++;
			else if (tok == ')')
				s->depth--;
			if (s->open_from < 0)
				s->open_from = loc;
			add_token(s, tok, loc);
			return;
		case ST_CALL:
			if (tok == '(')
			{
				s->state = ST_ARGS;
				s->depth = 1;
				wipe_args(s);
				s->named = false;
				s->open_from = -1;
				return;
			}
			s->state = ST_IDLE;
			break;
		case ST_ARGS:
			if (tok == '(')
				s->depth++;
			else if (tok == ')' && --s->depth == 0)
			{
				finish_call(s, false);
				s->state = ST_IDLE;
				return;
			}
			else if (tok == ',' && s->depth == 1)
			{
				if (s->nargs == 0)
					start_arg(s);
				start_arg(s);
				return;
			}
			else if (tok == EQUALS_GREATER)
				s->named = true;
			else if (tok == ';')
			{
				finish_call(s, false);
				s->state = ST_IDLE;
				return;
			}
			if (s->nargs == 0)
				start_arg(s);
			{
				int			a = s->nargs - 1;

				if (s->arg_tokens[a]++ == 0)
					s->arg_start[a] = loc;
				s->arg_sconst[a] = (tok == SCONST && s->arg_tokens[a] == 1);
				s->arg_simple[a] = s->arg_tokens[a] == 1 && tok != IDENT &&
					tok != UIDENT && tok < ABORT_P;
				if (s->arg_sconst[a])
					s->arg_value[a] = pstrdup(val->str);
			}
			add_token(s, tok, loc);
			return;
		case ST_IDLE:
			break;
	}
	/* ST_IDLE */
	if (s->body_pending > 0)
	{
		s->body_pending--;
		if (tok == SCONST)
		{
			add_body(s, loc);
			s->body_pending = 0;
			return;
		}
		/* DO LANGUAGE name body */
		if (tok >= ABORT_P && strcmp(val->keyword, "language") == 0)
			s->body_pending = 2;
	}
	if (tok >= ABORT_P &&
		(strcmp(val->keyword, "do") == 0 || strcmp(val->keyword, "as") == 0))
	{
		s->body_pending = 1;
		return;
	}
	if (tok >= ABORT_P &&
		(strcmp(val->keyword, "set") == 0 || strcmp(val->keyword, "reset") == 0))
	{
		s->state = ST_NAME;
		s->name[0] = '\0';
		s->name_empty = true;
		s->name_unknown = false;
		s->after_dot = false;
	}
	else if ((tok == IDENT && strcmp(val->str, "set_config") == 0) ||
			 tok == UIDENT)
	{
		s->state = ST_CALL;
		s->is_execute = false;
		s->is_import = false;
	}
	else if (tok == IDENT && strcmp(val->str, "import_key") == 0)
	{
		s->state = ST_CALL;
		s->is_execute = false;
		s->is_import = true;
	}
	else if (tok >= ABORT_P && strcmp(val->keyword, "execute") == 0)
	{
		s->state = ST_CALL;
		s->is_execute = true;
		s->is_import = false;
		s->stmt_name[0] = '\0';
	}
}

/* qsort comparator: ranges by their start. */
static int
mask_range_cmp(const void *a, const void *b)
{
	int			sa = ((const EcMaskRange *) a)->start;
	int			sb = ((const EcMaskRange *) b)->start;

	return (sa > sb) - (sa < sb);
}

/* Is this token's value a copy of its text (which may be a key)? */
static bool
token_has_text(int tok)
{
	return tok == IDENT || tok == UIDENT || tok == SCONST || tok == USCONST ||
		tok == BCONST || tok == XCONST;
}

/*
 * Find the values of key settings in text[0..len).  Returns the number of
 * ranges (in *ranges, palloc'd, in the order of the text unless hex runs
 * were added); a value that the text ends inside is reported in
 * *open_from (its first byte, or len if it has none yet), else *open_from
 * is -1.  *by_param says that a key may be handed in as a bound parameter
 * ($n).  locs[0..nlocs), ascending, are the byte offsets of tokens that
 * are keys whatever the text around them says (the values of set_config()
 * calls found in the analysed statement); all_hex asks for every run of
 * EC_MIN_SECRET_HEX_RUN hex digits too.  The caller must know that the
 * text lexes: the scanner throws an error on text it cannot lex.  Every
 * copy of the text, and of its tokens, is wiped before it is freed.
 */
int
ec_find_key_values(const char *text, int len, const int *locs, int nlocs,
				   bool all_hex, int *open_from, bool *by_param,
				   EcMaskRange **ranges)
{
	KeyScan		s;
	char	   *copy = pnstrdup(text, len);
	core_yyscan_t yyscanner;
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	int			n;

	if (!tk.known)
		learn_tokens();
	memset(&s, 0, sizeof(s));
	s.maxranges = 8;
	s.ranges = palloc(sizeof(EcMaskRange) * s.maxranges);
	s.state = ST_IDLE;
	s.open_from = -1;
	s.len = len;
	s.locs = locs;
	s.nlocs = nlocs;
	s.all_hex = all_hex;
	yyscanner = scanner_init(copy, &yyextra, &ScanKeywords, ScanKeywordTokens);
	yyextra.escape_string_warning = false;	/* no WARNING from in here */
	s.scanbuf = yyextra.scanbuf;
	PG_TRY();
	{
		for (;;)
		{
			int			tok = core_yylex(&yylval, &yylloc, yyscanner);

			if (tok == 0)
				break;
			while (s.next_loc < s.nlocs && s.locs[s.next_loc] < yylloc)
				s.next_loc++;
			if (s.next_loc < s.nlocs && s.locs[s.next_loc] == yylloc)
				add_token(&s, tok, yylloc);
			/* EXECUTE name: the name comes before the '(' */
			if (s.state == ST_CALL && s.is_execute && s.stmt_name[0] == '\0' &&
				(tok == IDENT || tok >= ABORT_P))
				strlcpy(s.stmt_name, tok == IDENT ? yylval.str : yylval.keyword,
						sizeof(s.stmt_name));
			else
			{
				if (s.state == ST_CALL && s.is_execute && s.stmt_name[0] == '\0')
					s.state = ST_IDLE;
				feed(&s, tok, &yylval, yylloc);
			}
			if (token_has_text(tok) && yylval.str != NULL)
			{
				explicit_bzero(yylval.str, strlen(yylval.str));
				pfree(yylval.str);
			}
		}
	}
	PG_CATCH();
	{
		/* the text did not lex: wipe every copy before the error goes on */
		explicit_bzero(yyextra.scanbuf, yyextra.scanbuflen);
		explicit_bzero(yyextra.literalbuf, yyextra.literalalloc);
		wipe_args(&s);
		explicit_bzero(copy, len);
		PG_RE_THROW();
	}
	PG_END_TRY();
	*open_from = -1;
	if (s.state == ST_NAME && !s.name_empty &&
		(s.name_unknown || ec_is_extension_guc(s.name)))
		*open_from = len;
	else if (s.state == ST_VALUE)
		*open_from = s.open_from >= 0 ? s.open_from : len;
	else if (s.state == ST_ARGS)
	{
		s.open_from = -1;
		finish_call(&s, true);
		*open_from = s.open_from;
	}
	else if (s.state == ST_CALL && !s.is_execute)
		*open_from = len;
	if (s.all_hex)
	{
		for (int i = 0; i < len;)
		{
			int			run = ec_hex_run(copy + i);

			if (run >= EC_MIN_SECRET_HEX_RUN)
				add_range(&s, -1, i, run, false);
			i += run > 0 ? run : 1;
		}
		qsort(s.ranges, s.nranges, sizeof(EcMaskRange), mask_range_cmp);
	}
	else if (s.nlocs > 0)
		qsort(s.ranges, s.nranges, sizeof(EcMaskRange), mask_range_cmp);
	/* the scanner's copy of the text and its buffer of decoded literals */
	explicit_bzero(yyextra.scanbuf, yyextra.scanbuflen);
	explicit_bzero(yyextra.literalbuf, yyextra.literalalloc);
	scanner_finish(yyscanner);
	wipe_args(&s);
	explicit_bzero(copy, len);
	pfree(copy);
	*by_param = s.by_param;
	*ranges = s.ranges;
	n = s.nranges;
	explicit_bzero(&s, sizeof(s));
	return n;
}

/* Overwrite the ranges of text[0..len) with '*' (or '**'). */
void
ec_apply_ranges(char *text, int len, const EcMaskRange *ranges, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			start = ranges[i].start;
		int			end = Min(len, start + ranges[i].len);

		if (start >= 0 && start < end)
		{
			memset(text + start, '*', end - start);
			if (ranges[i].quote && end - start == ranges[i].len)
				text[start] = text[end - 1] = '\'';
		}
	}
}
