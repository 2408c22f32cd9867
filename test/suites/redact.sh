#!/usr/bin/env bash
# Redaction: keys in statement text, decrypted values in statistics, row
# data in COPY errors, on a server that preloads pg_stat_statements and
# encrypted_column and logs every statement.
#   1. Key masking, decided by the core scanner: each spelling of a key
#      setting (quoted and spaced names, upper case, comments, E'', U&'',
#      dollar quoting, set_config() with each string syntax) and each way
#      a statement can fail or never run (missing '=', unterminated quote,
#      unquoted key, aborted transaction, Parse without Execute, bound
#      parameter, SQL PREPARE/EXECUTE, a later statement that fails the
#      encoding check, a DO block's statement quoted on a QUERY: line,
#      set_config() of a column or of a name that is no setting), for
#      both key settings; each is
#      searched for in the server log, pg_stat_statements and the
#      pg_stat_activity row of the idle session, as sent and as decoded.
#   2. Statistics: every DDL that would make the server store decrypted
#      values is refused (with SQLSTATE), ANALYZE stores no plaintext.
#   3. COPY errors into tables with encrypted values, nested in composite
#      types, domains and arrays, with lc_messages in English and German:
#      no plaintext of the bad line in client output or log; good rows
#      unchanged.  A trigger's WARNING during such a COPY, and (17 and
#      later) the NOTICE of ON_ERROR ignore about a skipped row: no
#      plaintext either.
REL_NAME=redact
source "$(dirname "$0")/lib.sh"
rel_init

PQSTEPS=$REL_TMP/pqsteps
cc -I"$("$PG_BINDIR/pg_config" --includedir)" -o "$PQSTEPS" "$REL_DIR/redact/pqsteps.c" \
	-L"$("$PG_BINDIR/pg_config" --libdir)" -lpq || { echo "cannot build pqsteps"; exit 1; }

# A German locale for lc_messages (the server's German messages come with
# its package).
GERMAN=""
if [[ -f /usr/share/locale/de/LC_MESSAGES/postgres-$PG_MAJOR.mo ]]; then
	if ! locale -a 2>/dev/null | grep -q -i '^de_DE\.utf-\?8$'; then
		if ((EUID == 0)); then
			command -v localedef >/dev/null || {
				apt-get update -qq >/dev/null 2>&1
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq locales >/dev/null 2>&1
			}
			localedef -i de_DE -f UTF-8 de_DE.UTF-8 >/dev/null 2>&1
		fi
	fi
	locale -a 2>/dev/null | grep -q -i '^de_DE\.utf-\?8$' && GERMAN=de_DE.UTF-8
fi

PORT=$(cluster_up red 55470 <<EOF
shared_preload_libraries = 'pg_stat_statements,encrypted_column'
log_line_prefix = '%m [%p] '
log_statement = 'all'
log_min_error_statement = error
pg_stat_statements.track = all
pg_stat_statements.track_utility = on
EOF
) || exit 1
LOG=$REL_TMP/red.log
say "cluster on port $PORT, log_statement = all, pg_stat_statements with utility statements"

pq "$PORT" postgres <<SQL || exit 1
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION encrypted_column;
CREATE ROLE app LOGIN;
CREATE TABLE t (id int, c encrypted_text);
GRANT ALL ON t TO app;
SQL

# ---- 1. key masking ----
# A distinct test key per case, so that a leak names its case.
key_for() { printf '%s' "$1" | sha256sum | cut -c1-64; }
hexbytes() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
e_escaped() { hexbytes "$1" | sed 's/../\\x&/g'; }
u_escaped() { hexbytes "$1" | sed "s/../${2:-\\\\}00&/g"; }
# a slice's bytes as the decimal numbers of a node dump's Const
# (:constvalue 68 [ 16 1 0 0 57 98 ...]), without white space: dumps wrap
# their lines anywhere, so the log is searched with its white space removed
d_escaped() { printf '%s' "$1" | od -An -tu1 | tr -d ' \n'; }
b_escaped() { u_escaped "$1" '!'; }
# A regex of the slices of a case's key, as sent (escaped: e, u, b) and as
# decoded: case_re KEY ESC
case_re() {
	local re
	re=$(key_slices_re "$1")
	[[ $2 != - ]] && re="$re|$(key_slices_re -t "${2}_escaped" "$1")"
	printf '%s' "$re"
}

CASES=()
# run_case NAME USER STEP...: @K@ in a step is the case's key, @E@ and @U@
# its E'' and U&'' escapes, @B@ its U&'' escapes with '!'.  Prints the idle
# session's pg_stat_activity row and checks it.
run_case() {
	local name=$1 user=$2 key esc=- re
	shift 2
	key=$(key_for "$name")
	case $name in
	*ident*) key="a${key:1}" ;;
	*digits*) key="1${key:1}" ;;
	esac
	local steps=() st
	for st in "$@"; do
		[[ $st == *@E@* ]] && esc=e
		[[ $st == *@U@* ]] && esc=u
		[[ $st == *@B@* ]] && esc=b
		[[ $st == *@D@* ]] && esc=d
		st=${st//@D@/}
		st=${st//@K@/$key}
		st=${st//@E@/$(e_escaped "$key")}
		st=${st//@U@/$(u_escaped "$key")}
		st=${st//@B@/$(u_escaped "$key" '!')}
		steps+=("$st")
	done
	local out=$REL_TMP/case-$name.out act=$REL_TMP/case-$name.act line
	pq "$PORT" postgres -o /dev/null -c "SELECT pg_stat_statements_reset()"
	coproc CASE { "$PQSTEPS" "host=$REL_TMP port=$PORT user=$user dbname=postgres application_name=$name" "${steps[@]}" 2>&1; }
	: >"$out"
	while read -r -t 30 line <&"${CASE[0]}"; do
		echo "$line" >>"$out"
		[[ $line == ready ]] && break
	done
	pq "$PORT" postgres -c "SELECT state || ' | ' || query FROM pg_stat_activity WHERE application_name = '$name'" >"$act"
	exec {CASE[1]}>&-
	wait "$CASE_PID" 2>/dev/null
	# the case's statements in pg_stat_statements (reset before the case)
	pq "$PORT" postgres -c "SELECT query FROM pg_stat_statements" >"$REL_TMP/case-$name.pgss"
	CASES+=("$name $key $esc")
	re=$(case_re "$key" "$esc")
	check "$name: pg_stat_activity shows the idle session's statement" grep -q "^idle" "$act"
	check_eq "$name: no key in pg_stat_activity" 0 "$(grep -c -i -E -e "$re" "$act")"
}

LOG_OFF=$(file_size "$LOG")
run_case plain app "simple:SET encrypted_column.key = '@K@'" "simple:SELECT decrypt(encrypt('works'))"
run_case quoted app "simple:SET \"encrypted_column\".\"key\" = '@K@'" "simple:SELECT decrypt(encrypt('works'))"
run_case quoted_whole app "simple:SET \"encrypted_column.key\" TO '@K@'"
run_case spaced app "simple:SET encrypted_column . key = '@K@'"
run_case upper app "simple:SET ENCRYPTED_COLUMN.KEY TO '@K@'"
run_case session app "simple:SET SESSION encrypted_column.key = '@K@'"
run_case local app "simple:BEGIN" "simple:SET LOCAL encrypted_column.key = '@K@'"
run_case comments app "simple:SET /* a */ encrypted_column /* b */ . -- c
key = /* d */ '@K@' -- e"
run_case estring app "simple:SET encrypted_column.key = E'@E@'" "simple:SELECT decrypt(encrypt('works'))"
run_case ustring app "simple:SET encrypted_column.key = U&'@U@'" "simple:SELECT decrypt(encrypt('works'))"
run_case ustring_uescape app "simple:SET encrypted_column.key = U&'@B@' UESCAPE '!'"
run_case dollar app "simple:SET encrypted_column.key = \$\$@K@\$\$"
run_case dollar_tag app "simple:SET encrypted_column.key = \$k\$@K@\$k\$"
run_case ident_unquoted app "simple:SET encrypted_column.key = @K@"
# a key given to a mistyped name in the extension's prefix: refused, and
# the refusal's STATEMENT: line must not print it
run_case typo_plural app "simple:SET encrypted_column.keys = '@K@'"
run_case typo_dotted app "simple:SET encrypted_column.key.x = '@K@'"
run_case typo_config app "simple:SELECT set_config('encrypted_column.previous_key', '@K@', false)"
run_case sc_plain app "simple:SELECT set_config('encrypted_column.key', '@K@', false)"
run_case sc_estring app "simple:SELECT set_config('encrypted_column.key', E'@E@', false)"
run_case sc_ustring app "simple:SELECT set_config('encrypted_column.key', U&'@U@', false)"
run_case sc_dollar app "simple:SELECT set_config('encrypted_column.key', \$\$@K@\$\$, false)"
run_case sc_name_escaped app "simple:SELECT set_config(E'encrypted\\x5fcolumn.KEY', '@K@', false)"
run_case sc_name_unicode app "simple:SELECT set_config(U&'encrypted_column.k\\0065y', '@K@', false)"
run_case sc_qualified app "simple:SELECT pg_catalog.\"set_config\"('encrypted_column.key', '@K@' /* x */, true)"
run_case prev_plain app "simple:SET encrypted_column.previous_keys = '@K@'"
run_case prev_quoted app "simple:SET \"ENCRYPTED_COLUMN\" . \"PREVIOUS_KEYS\" = '@K@'"
run_case prev_estring app "simple:SET encrypted_column.previous_keys TO E'@E@'"
run_case prev_sc app "simple:SELECT set_config('encrypted_column.previous_keys', U&'@U@', false)"
run_case alter_role app "simple:ALTER ROLE app SET encrypted_column.key = '@K@'"
run_case alter_db postgres "simple:ALTER DATABASE postgres SET \"encrypted_column\".\"previous_keys\" = '@K@'"
run_case alter_function postgres "simple:CREATE FUNCTION f() RETURNS int LANGUAGE sql SET encrypted_column . key = '@K@' AS 'SELECT 1'"
run_case fail_no_equals app "simple:SET encrypted_column.key '@K@'"
run_case fail_no_equals_prev app "simple:SET \"encrypted_column\".previous_keys '@K@'"
run_case fail_unterminated app "simple:SET encrypted_column.key = '@K@"
run_case fail_unterminated_e app "simple:SET encrypted_column.previous_keys = E'@E@"
run_case fail_unterminated_sc app "simple:SELECT set_config('encrypted_column.key', '@K@"
run_case fail_unterminated_dollar app "simple:SET encrypted_column.key = \$\$@K@"
run_case fail_digits_unquoted app "simple:SET encrypted_column.key = @K@"
run_case aborted app "simple:BEGIN" "simple:SELECT 1/0" "simple:SET encrypted_column.key = '@K@'"
run_case aborted_prev app "simple:BEGIN" "simple:SELECT 1/0" "simple:SELECT set_config('encrypted_column.previous_keys', '@K@', false)"
run_case parse_set app "parse:SET encrypted_column.key = '@K@'"
run_case parse_sc app "parse:SELECT set_config('encrypted_column.previous_keys', '@K@', false)"
run_case params_sc app "params:SELECT set_config('encrypted_column.key', \$1, false)"$'\x01'"@K@"
run_case params_literal app "params:SELECT set_config('encrypted_column.key', '@K@', \$1::bool)"$'\x01'"false"
run_case prepare_execute app "simple:PREPARE p(text) AS SELECT set_config('encrypted_column.key', \$1, false)" \
	"simple:EXECUTE p('@K@')"
run_case prepare_execute_name app "simple:PREPARE q(text, text) AS SELECT set_config(\$1, \$2, false)" \
	"simple:EXECUTE q('encrypted_column.previous_keys', '@K@')"
run_case do_block app "simple:DO \$\$BEGIN PERFORM set_config('encrypted_column.key', '@K@', false); END\$\$"
run_case do_block_language app "simple:DO LANGUAGE plpgsql 'BEGIN EXECUTE ''SET encrypted_column.previous_keys = @K@''; END'"
# the raw parser stops in the encoding check (no cursor) on a later
# statement of the same message: the text never lexes
run_case bad_encoding app "simple:SET encrypted_column.key = '@K@'; SELECT E'\\xff'"
# a syntax error in a statement of a DO block: its QUERY: line
run_case do_query_line app "simple:DO \$\$BEGIN EXECUTE 'SET encrypted_column.key = ''@K@'' x'; END\$\$"
run_case do_query_line_sc app "simple:DO \$\$BEGIN EXECUTE 'SELECT set_config(''encrypted_column.previous_keys'', ''@K@'' x)'; END\$\$"
# set_config() whose value is not a constant: the key comes from elsewhere
run_case sc_values app "simple:SELECT set_config(n, v, false) FROM (VALUES ('encrypted_column.key', '@K@')) s(n, v)"
run_case sc_value_column app "simple:SELECT set_config('encrypted_column.key', v, false) FROM (VALUES ('@K@')) s(v)"
# a name that is no setting (a leading space) is refused with the value
# in the STATEMENT: line
run_case sc_name_space app "simple:SELECT set_config(' encrypted_column.key', '@K@', false)"
# set_config() spelled so that the scanner cannot read its name: the
# function the server resolved decides
run_case sc_uident app "simple:SELECT U&\"set_config\"('encrypted_column.key', '@K@', false)"
# import_key(name, key_hex): its second argument is a key, however the
# call is spelled, refused or not (no stored keys here: 55000 or 42501)
run_case import_key postgres "simple:SELECT import_key('k1', '@K@')"
run_case import_key_app app "simple:SELECT import_key('k2', '@K@')"
run_case import_key_quoted postgres "simple:SELECT public.\"import_key\"(name => 'k3', key_hex => '@K@')"
run_case import_key_params postgres "params:SELECT import_key('k4', \$1)"$'\x01'"@K@"
run_case sc_uident_escaped app "simple:SELECT U&\"\\0073et_config\"('encrypted_column.key', '@K@', false)"
run_case sc_uident_params app "params:SELECT pg_catalog.U&\"set_config\"('encrypted_column.key', \$1, false)"$'\x01'"@K@"
run_case sc_mixed_case app "simple:SELECT PG_CATALOG.Set_Config('encrypted_column.key', '@K@', false)"
# a key set by dynamic SQL in PL/pgSQL that fails: its CONTEXT line quotes
# the statement (the key is computed, never in the client's text)
run_case ctx_execute app "simple:DO \$\$DECLARE v text := encode(sha256('ctx_execute'::bytea), 'hex'); BEGIN EXECUTE format('SET encrypted_column.key = %L', v || 'x'); END\$\$"
# a bad escape inside a literal: the raw parser's error points inside the
# literal, where the text before it does not lex (the scanner must not be
# run on it inside error reporting: that replaced the error and, one level
# down, printed the key)
run_case bad_uescape app "simple:SET encrypted_column.key = U&'@K@\\zzzz'"
run_case bad_eescape app "simple:SET encrypted_column.key = E'@K@\\uzzzz'"
run_case bad_uescape_do app "simple:DO \$\$BEGIN EXECUTE 'SET encrypted_column.key = U&''@K@\\zzzz'''; END\$\$"
# empty values between the keys of a multi-statement string
run_case multi_empty app "simple:SELECT set_config('encrypted_column.key', '', false); SET encrypted_column.key = '@K@'; SELECT set_config('encrypted_column.key', '', false); SELECT 1/0"
# ... and a message of such a statement that quotes its key alone (a cast
# of the value that fails)
run_case ctx_cast app "simple:DO \$\$DECLARE v text := encode(sha256('ctx_cast'::bytea), 'hex'); BEGIN EXECUTE format('SELECT set_config(''encrypted_column.key'', %L, false), (%L::text)::int', v, v); END\$\$"
# the server's node dumps (debug_print_*, settable by anyone) print a
# Const's datum as decimal bytes
run_case debug_params app "simple:SET debug_print_parse = on" "simple:SET debug_print_rewritten = on" \
	"simple:SET debug_print_plan = on" "params:SELECT set_config('encrypted_column.key', \$1, false)@D@"$'\x01'"@K@"
run_case debug_literal app "simple:SET debug_print_parse = on" "simple:SET debug_print_plan = on" \
	"simple:SET debug_print_pretty = off" "simple:SELECT set_config('encrypted_column.key', '@K@', false)@D@"
# one message of many statements, a key set in the middle, an error at the end
MANY=$(printf 'SELECT 1;%.0s' {1..2000})
run_case multi_statement app "simple:${MANY} SET encrypted_column.key = '@K@'; ${MANY} SELECT set_config('encrypted_column.previous_keys', '@K@', false); SELECT 1/0"
run_case current_query app "simple:SELECT set_config('encrypted_column.key', '@K@', false) || current_query()"

for c in plain quoted estring ustring; do
	check "$c: the key setting still takes effect" grep -q "PGRES_TUPLES_OK  works" "$REL_TMP/case-$c.out"
done
check "alter_role: refused (42P17 or 22023)" grep -q "PGRES_FATAL_ERROR 22023" "$REL_TMP/case-alter_role.out"
check "fail_no_equals: a syntax error (42601)" grep -q "PGRES_FATAL_ERROR 42601" "$REL_TMP/case-fail_no_equals.out"
check "bad_encoding: refused by the encoding check (22021)" grep -q "PGRES_FATAL_ERROR 22021" "$REL_TMP/case-bad_encoding.out"
check "do_query_line: a syntax error (42601)" grep -q "PGRES_FATAL_ERROR 42601" "$REL_TMP/case-do_query_line.out"
check "sc_values: the key setting still takes effect" grep -q "PGRES_TUPLES_OK" "$REL_TMP/case-sc_values.out"
check "sc_name_space: refused (42602)" grep -q "PGRES_FATAL_ERROR 42602" "$REL_TMP/case-sc_name_space.out"
check "sc_uident: the key setting takes effect" grep -q "PGRES_TUPLES_OK" "$REL_TMP/case-sc_uident.out"
check "ctx_execute: the malformed key is refused (22023)" grep -q "PGRES_FATAL_ERROR 22023" "$REL_TMP/case-ctx_execute.out"
check "bad_uescape: the parser's own error (42601)" grep -q "PGRES_FATAL_ERROR 42601" "$REL_TMP/case-bad_uescape.out"
check "bad_eescape: the scanner's own error (22025)" grep -q "PGRES_FATAL_ERROR 22025" "$REL_TMP/case-bad_eescape.out"
check "bad_uescape_do: the parser's own error (42601)" grep -q "PGRES_FATAL_ERROR 42601" "$REL_TMP/case-bad_uescape_do.out"
check "multi_empty: ends in the division by zero (22012)" grep -q "PGRES_FATAL_ERROR 22012" "$REL_TMP/case-multi_empty.out"
check "ctx_cast: the cast fails (22P02)" grep -q "PGRES_FATAL_ERROR 22P02" "$REL_TMP/case-ctx_cast.out"
check "multi_statement: ends in the division by zero (22012)" grep -q "PGRES_FATAL_ERROR 22012" "$REL_TMP/case-multi_statement.out"
check "aborted: refused in the aborted transaction (25P02)" grep -q "PGRES_FATAL_ERROR 25P02" "$REL_TMP/case-aborted.out"
cat "$REL_TMP"/case-*.pgss >"$REL_TMP/pgss.txt"
check "pg_stat_statements recorded the SET statements" grep -q -i "encrypted_column" "$REL_TMP/pgss.txt"
since "$LOG" "$LOG_OFF" >"$REL_TMP/log-1.txt"
tr -d ' \t\n' <"$REL_TMP/log-1.txt" >"$REL_TMP/log-1.squashed"
check "the log holds node dumps (debug_print_plan)" grep -q ":constvalue" "$REL_TMP/log-1.txt"
check "the log holds the CONTEXT line of the dynamic statement" grep -q 'CONTEXT:  SQL statement "SET encrypted_column.key' "$REL_TMP/log-1.txt"
check "the log holds the masked statements" grep -q "statement: SET encrypted_column.key = '\*\*\*\*" "$REL_TMP/log-1.txt"
check "the log holds the masked syntax error" grep -q 'syntax error at or near "\*\*\*\*' "$REL_TMP/log-1.txt"
# pg_stat_statements replaces the constants of the statements it
# normalises with $n (SELECT set_config(...) always, and from PostgreSQL
# 16 on utility statements such as SET too), and records no statement
# that failed: its search for a case counts only when it kept the key's
# literal as written, that is masked (a run of '*') or the key itself.
PGSS_KEPT=0
for entry in "${CASES[@]}"; do
	read -r name key esc <<<"$entry"
	re=$(case_re "$key" "$esc")
	check_eq "$name: no key in the server log" 0 "$(grep -c -a -i -E -e "$re" "$REL_TMP/log-1.txt")"
	[[ $esc == d ]] && check_eq "$name: no key's bytes in the server log's node dumps" 0 \
		"$(grep -c -a -E -e "$re" "$REL_TMP/log-1.squashed")"
	n=$(grep -c -i -E -e "$re" "$REL_TMP/case-$name.pgss")
	if ((n > 0)) || grep -q -E '[*]{8,}' "$REL_TMP/case-$name.pgss"; then
		PGSS_KEPT=$((PGSS_KEPT + 1))
		check_eq "$name: no key in pg_stat_statements (it kept the literal, masked)" 0 "$n"
	else
		not_applicable "$name: no key in pg_stat_statements" "it kept no literal of the case's statements"
	fi
done
say "pg_stat_statements kept the key's literal (masked) for $PGSS_KEPT of ${#CASES[@]} cases"
key=$(key_for current_query)
FINDING_CURRENT_QUERY=$(grep -c -i -F -e "$key" "$REL_TMP/case-current_query.out")
say "finding: current_query() returned the key to its own session: $FINDING_CURRENT_QUERY"

# ---- 2. statistics and other stored expressions ----
# the SQLSTATE of a statement on the main server, 00000 on success
state() { sqlstate "$PORT" postgres -c "$1"; }
pq "$PORT" postgres <<SQL || exit 1
CREATE EXTENSION encrypted_column_migrate;
CREATE FUNCTION wrap(encrypted_text) RETURNS text LANGUAGE sql STABLE AS 'SELECT decrypt(\$1)';
CREATE FUNCTION wpoly(anyelement) RETURNS text LANGUAGE sql STABLE AS 'SELECT decrypt(\$1)';
CREATE FUNCTION wrec(record) RETURNS text LANGUAGE plpgsql STABLE AS 'BEGIN RETURN \$1::text; END';
CREATE FUNCTION wop(anyelement, int) RETURNS text LANGUAGE sql STABLE AS 'SELECT decrypt(\$1)';
CREATE OPERATOR ## (LEFTARG = anyelement, RIGHTARG = int, FUNCTION = wop);
CREATE TABLE s (id int, c encrypted_text, legacy text);
SQL
PGOPTIONS="-c encrypted_column.key=$KEY1" pq "$PORT" postgres \
	-c "INSERT INTO s SELECT g, encrypt('LEAKSTAT-' || (g % 3)), 'x' FROM generate_series(1, 300) g" || exit 1
n=0
# a migration reader returns plaintext too (it lives in encrypted_column_migrate)
fernet=("decrypt_fernet(legacy, 'k')")
# wrappers that declare polymorphic or record arguments: their actual
# arguments hold the encrypted values
for expr in "decrypt(c)" "lower(decrypt(c))" "decrypt(c, 'ctx')" "length(decrypt(c))" "wrap(c)" \
	"${fernet[@]}" "(decrypt(c) = 'x')" "key_id(c)" "wpoly(c)" "lower(wpoly(c))" "wrec(ROW(c))" \
	"(c ## 1)"; do
	n=$((n + 1))
	check_eq "CREATE STATISTICS ON ($expr) is refused" 42P17 \
		"$(state "CREATE STATISTICS st$n ON ($expr), id FROM s")"
done
check "the refusal has a hint" grep -q "HINT:" "$REL_TMP/sqlstate.err"
# (PostgreSQL itself refuses a whole row in statistics: 0A000)
check "CREATE STATISTICS ON (wrec(s)) (a whole row) is refused" \
	grep -q -E "^(42P17|0A000)$" <<<"$(state "CREATE STATISTICS st_row ON (wrec(s)), id FROM s")"
check_eq "CREATE STATISTICS on (wrec(ROW(id, legacy))) is refused (a PL/pgSQL body could decrypt)" 42P17 \
	"$(state "CREATE STATISTICS st_poly ON (wrec(ROW(id, legacy))), id FROM s")"
check_eq "CREATE STATISTICS on (lower(legacy)) is accepted (built-in functions only)" 00000 \
	"$(state "CREATE STATISTICS st_builtin ON (lower(legacy)), id FROM s")"
check_eq "CREATE STATISTICS on (c::text) is accepted (ciphertext)" 00000 \
	"$(state "CREATE STATISTICS st_text ON (c::text), id FROM s")"
check_eq "CREATE TABLE (LIKE ... INCLUDING STATISTICS) copies the accepted ones" 00000 \
	"$(state "CREATE TABLE s2 (LIKE s INCLUDING STATISTICS)")"
check_eq "index on (decrypt(c)) is refused" 42P17 "$(state "CREATE INDEX ON s ((decrypt(c)))")"
check_eq "partial index WHERE decrypt(c) is refused" 42P17 "$(state "CREATE INDEX ON s (id) WHERE decrypt(c) = 'x'")"
check_eq "generated column of decrypt(c) is refused" 42P17 \
	"$(state "ALTER TABLE s ADD COLUMN g text GENERATED ALWAYS AS (decrypt(c)) STORED")"
check_eq "partition key on decrypt(c) is refused" 42P17 \
	"$(state "CREATE TABLE p (c encrypted_text) PARTITION BY LIST ((decrypt(c)))")"
# A function that looks a value up by key reaches decrypt() through its
# body, not its arguments: a statistics object or an index on it, even on
# a table without encrypted columns, would store plaintext at the next
# keyed ANALYZE, index build or insert.  Each is tried with the key set.
# The bodies name their schema: PostgreSQL 17 and later run index builds
# and ANALYZE with search_path = pg_catalog, and would refuse unqualified
# names before the guard is asked.
pq "$PORT" postgres <<SQL || exit 1
CREATE TABLE s_ids (id int);
INSERT INTO s_ids SELECT generate_series(1, 300);
CREATE FUNCTION look_sql(int) RETURNS text LANGUAGE sql IMMUTABLE
	AS 'SELECT public.decrypt(c) FROM public.s WHERE id = \$1';
CREATE FUNCTION look_plpgsql(int) RETURNS text LANGUAGE plpgsql IMMUTABLE
	AS 'BEGIN RETURN (SELECT public.decrypt(c) FROM public.s WHERE id = \$1); END';
CREATE FUNCTION look_atomic(i int) RETURNS text IMMUTABLE
	BEGIN ATOMIC SELECT decrypt(c) FROM s WHERE id = i; END;
CREATE FUNCTION iwrap(public.encrypted_text) RETURNS text LANGUAGE sql IMMUTABLE
	AS 'SELECT public.decrypt(\$1)';
CREATE FUNCTION ilook(int) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT public.look_sql(\$1)';
SQL
kstate() { PGOPTIONS="-c encrypted_column.key=$KEY1" sqlstate "$PORT" postgres -c "$1"; }
n=0
for expr in "look_sql(id)" "look_plpgsql(id)" "look_atomic(id)" "lower(look_sql(id))" "ilook(id)"; do
	n=$((n + 1))
	check_eq "CREATE STATISTICS ON ($expr) FROM s is refused" 42P17 \
		"$(kstate "CREATE STATISTICS st_look$n ON ($expr), id FROM s")"
	check_eq "CREATE STATISTICS ON ($expr) FROM s_ids (no encrypted column) is refused" 42P17 \
		"$(kstate "CREATE STATISTICS st_lookid$n ON ($expr), id FROM s_ids")"
done
# a built-in function that runs a query (PostgreSQL itself may refuse it: 0A000)
check "CREATE STATISTICS ON (query_to_xml(...)) is refused" grep -q -E "^(42P17|0A000)$" \
	<<<"$(kstate "CREATE STATISTICS st_xml ON (query_to_xml('SELECT decrypt(c) FROM s WHERE id = ' || id, true, false, '')), id FROM s_ids")"
check_eq "index on (look_sql(id)) of a table without encrypted columns is refused" 42P17 \
	"$(kstate "CREATE INDEX s_ids_look ON s_ids ((look_sql(id)))")"
check_eq "index on (look_plpgsql(id)) is refused" 42P17 \
	"$(kstate "CREATE INDEX s_ids_look2 ON s_ids ((look_plpgsql(id)))")"
check_eq "index on an IMMUTABLE wrapper of decrypt() is refused" 42P17 \
	"$(kstate "CREATE INDEX s_iwrap ON s ((iwrap(c)))")"
check_eq "partial index WHERE look_sql(id) is refused" 42P17 \
	"$(kstate "CREATE INDEX s_ids_part ON s_ids (id) WHERE look_sql(id) = 'LEAKSTAT-1'")"
check "the index refusal names the function" grep -q "look_sql" "$REL_TMP/sqlstate.err"
check_eq "index on (lower(legacy)) is accepted (built-in functions only)" 00000 \
	"$(kstate "CREATE INDEX s_lower ON s ((lower(legacy)))")"
check_eq "index on (id % 7) is accepted" 00000 "$(kstate "CREATE INDEX s_ids_mod ON s_ids ((id % 7))")"
check_eq "index on (key_id(c)) is accepted (IMMUTABLE, reads no key)" 00000 \
	"$(kstate "CREATE INDEX s_keyid ON s ((key_id(c)))")"
PGOPTIONS="-c encrypted_column.key=$KEY1" pq "$PORT" postgres -c "ANALYZE s_ids" -c "INSERT INTO s_ids VALUES (1)" \
	-c "CHECKPOINT" || exit 1
pq "$PORT" postgres -c "SELECT e::text FROM pg_stats_ext_exprs e" \
	-c "SELECT encode(pg_read_binary_file(pg_relation_filepath(i.indexrelid)), 'escape')
		FROM pg_index i WHERE i.indrelid IN ('s'::regclass, 's_ids'::regclass)" >"$REL_TMP/lookup.txt"
check_eq "no plaintext in pg_stats_ext_exprs or the index files of s and s_ids" 0 \
	"$(grep -c LEAKSTAT "$REL_TMP/lookup.txt")"
PGOPTIONS="-c encrypted_column.key=$KEY1" pq "$PORT" postgres -c "ANALYZE s" 2>"$REL_TMP/analyze.err"
check "ANALYZE with the key succeeds" [ $? = 0 ]
pq "$PORT" postgres -c "ANALYZE s" 2>>"$REL_TMP/analyze.err"
check "ANALYZE without a key (autovacuum's case) succeeds" [ $? = 0 ]
pq "$PORT" postgres -c "SELECT d::text FROM pg_statistic_ext_data d" -c "SELECT s::text FROM pg_statistic s" >"$REL_TMP/stats.txt"
check_eq "ANALYZE stored no plaintext in pg_statistic or pg_statistic_ext_data" 0 "$(grep -c LEAKSTAT "$REL_TMP/stats.txt")"
check_eq "no statistics object with decrypt() exists" 0 \
	"$(pq "$PORT" postgres -c "SELECT count(*) FROM pg_statistic_ext WHERE stxexprs::text LIKE '%decrypt%' OR stxexprs::text LIKE '%wrap%'")"

# without preloading, the guard exists once the session has loaded the library
P2=$(cluster_up nopre $((PORT + 1)) </dev/null) || exit 1
pq "$P2" postgres -c "CREATE EXTENSION encrypted_column" \
	-c "CREATE TABLE s (id int, c encrypted_text)" >/dev/null || exit 1
check_eq "not preloaded: refused once the session used the extension" 42P17 \
	"$(sqlstate "$P2" postgres -c "SELECT current_key_id()" -c "CREATE STATISTICS st ON (decrypt(c)), id FROM s")"
FINDING_FIRST=$(sqlstate "$P2" postgres -c "CREATE STATISTICS st ON (decrypt(c)), id FROM s")
say "finding: not preloaded, CREATE STATISTICS ON (decrypt(c)) as a session's first statement: SQLSTATE $FINDING_FIRST"
cluster_stop nopre

# with pg_stat_statements loaded after encrypted_column, its copy is masked too
P3=$(cluster_up misordered $((PORT + 23)) <<EOF
shared_preload_libraries = 'encrypted_column,pg_stat_statements'
pg_stat_statements.track_utility = on
EOF
) || exit 1
pq "$P3" postgres -c "CREATE EXTENSION pg_stat_statements" -c "CREATE EXTENSION encrypted_column" >/dev/null || exit 1
key=$(key_for misordered)
# the control: a SET whose value pg_stat_statements keeps as written, or
# (PostgreSQL 16 on) replaces with $1 like the key's
"$PG_BINDIR/psql" -X -q -h "$REL_TMP" -p "$P3" -U postgres -d postgres \
	-c "SET application_name = 'PGSSCTL'" \
	-c "SET \"encrypted_column\" . key = '$key'" \
	-c "SET encrypted_column.previous_keys = E'$(e_escaped "$key")'" \
	-c "ALTER ROLE postgres SET encrypted_column.key = '$key'" >/dev/null 2>&1
pq "$P3" postgres -c "SELECT query FROM pg_stat_statements" >"$REL_TMP/pgss-misordered.txt"
check "pg_stat_statements loaded after encrypted_column recorded the SETs" grep -q -i "previous_keys" "$REL_TMP/pgss-misordered.txt"
n=$(grep -c -i -E -e "$(case_re "$key" e)" "$REL_TMP/pgss-misordered.txt")
if ((n > 0)) || grep -q "'PGSSCTL'" "$REL_TMP/pgss-misordered.txt"; then
	check_eq "pg_stat_statements loaded after encrypted_column: no key (it keeps SET values as written)" 0 "$n"
else
	not_applicable "pg_stat_statements loaded after encrypted_column: no key" \
		"this pg_stat_statements replaces SET values with \$n (control SET application_name = 'PGSSCTL' not kept)"
fi
cluster_stop misordered

# ---- 3. COPY errors, nested types, English and German ----
pq "$PORT" postgres <<SQL || exit 1
CREATE TYPE pair AS (label text, secret encrypted_text);
CREATE TYPE outer_pair AS (n int, inner_pair pair);
CREATE DOMAIN pair_d AS pair;
CREATE DOMAIN secret_d AS encrypted_text;
CREATE TABLE cp (id int, p pair);
CREATE TABLE cq (id int, p outer_pair);
CREATE TABLE cd (id int, p pair_d);
CREATE TABLE ca (id int, a encrypted_text[]);
CREATE TABLE cs (id int, s secret_d);
SQL
KEYOPT="-c encrypted_column.key=$KEY1"
good_rows() {
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres -c "SELECT
		(SELECT string_agg(id || '=' || decrypt((p).secret), ',' ORDER BY id) FROM cp) || ';' ||
		(SELECT string_agg(id || '=' || decrypt(((p).inner_pair).secret), ',' ORDER BY id) FROM cq) || ';' ||
		(SELECT string_agg(id || '=' || decrypt((p).secret), ',' ORDER BY id) FROM cd) || ';' ||
		(SELECT string_agg(id || '=' || decrypt(a[1]), ',' ORDER BY id) FROM ca) || ';' ||
		(SELECT string_agg(id || '=' || decrypt(s), ',' ORDER BY id) FROM cs)"
}
printf '1\t(a,good-p)\n' | PGOPTIONS="$KEYOPT" pq "$PORT" postgres -c "COPY cp FROM STDIN" || exit 1
printf '1\t(7,"(a,good-q)")\n' | PGOPTIONS="$KEYOPT" pq "$PORT" postgres -c "COPY cq FROM STDIN" || exit 1
printf '1\t(a,good-d)\n' | PGOPTIONS="$KEYOPT" pq "$PORT" postgres -c "COPY cd FROM STDIN" || exit 1
printf '1\t{good-a}\n' | PGOPTIONS="$KEYOPT" pq "$PORT" postgres -c "COPY ca FROM STDIN" || exit 1
printf '1\tgood-s\n' | PGOPTIONS="$KEYOPT" pq "$PORT" postgres -c "COPY cs FROM STDIN" || exit 1
before=$(good_rows)
check_eq "good rows stored" "1=good-p;1=good-q;1=good-d;1=good-a;1=good-s" "$before"
NBAD=0
copy_bad() {
	local lang=$1 table=$2 data=$3 good
	case $table in
	cq) good='2\t(7,"(a,ok)")\n' ;;
	ca) good='2\t{ok}\n' ;;
	cs) good='2\tok\n' ;;
	*) good='2\t(a,ok)\n' ;;
	esac
	NBAD=$((NBAD + 1))
	printf "$good%b" "$data" >"$REL_TMP/bad.dat"
	PGOPTIONS="$KEYOPT -c lc_messages=$lang" "$PG_BINDIR/psql" -X -q -h "$REL_TMP" -p "$PORT" -U postgres -d postgres \
		-c "\\copy $table FROM '$REL_TMP/bad.dat'" >>"$REL_TMP/copy-$lang.out" 2>&1
}
langs=(C)
[[ -n $GERMAN ]] && langs+=("$GERMAN")
[[ -z $GERMAN ]] && say "no German locale or translations here: COPY checked in English only"
for lang in "${langs[@]}"; do
	off=$(file_size "$LOG")
	: >"$REL_TMP/copy-$lang.out"
	NBAD=0
	for table in cp cd; do
		copy_bad "$lang" $table '3\t(a,LEAKNEST-extra)\tmore\n'
		copy_bad "$lang" $table 'LEAKNEST-int\t(a,b)\n'
		copy_bad "$lang" $table '3\t(a,LEAKNEST-record\n'
		copy_bad "$lang" $table '3\t(a,LEAKNEST-rec,too,many)\n'
		copy_bad "$lang" $table '3\t(a,"LEAKNEST-csvish\n'
	done
	copy_bad "$lang" cq '3\t(7,"(a,LEAKNEST-deep")\n'
	copy_bad "$lang" cq '3\t(7,"(a,LEAKNEST-deep2)",x)\n'
	copy_bad "$lang" ca '3\t{LEAKNEST-array\n'
	copy_bad "$lang" ca '3\t{LEAKNEST-arr}\textra\n'
	copy_bad "$lang" cs '3\tLEAKNEST-dom\tx\n'
	copy_bad "$lang" cs 'LEAKNEST-domid\tx\n'
	since "$LOG" "$off" >"$REL_TMP/copy-$lang.log"
	check_eq "COPY ($lang): errors reported for every bad file" "$NBAD" "$(grep -c -E "^(ERROR|FEHLER):" "$REL_TMP/copy-$lang.out")"
	check "COPY ($lang): the context still names table and line" grep -q -E "^(CONTEXT|KONTEXT):  COPY c[pdqas], (line|Zeile) 2" "$REL_TMP/copy-$lang.out"
	check_eq "COPY ($lang): no plaintext of the bad lines in client output" 0 "$(grep -c LEAKNEST "$REL_TMP/copy-$lang.out")"
	check_eq "COPY ($lang): no plaintext in the server log's errors" 0 \
		"$(grep LEAKNEST "$REL_TMP/copy-$lang.log" | grep -c -v -E "(LOG|LOG):  (statement|Anweisung)")"
	check_eq "COPY ($lang): stored rows unchanged" "$before" "$(good_rows)"
done
if [[ -n $GERMAN ]]; then
	check "COPY (German): messages really are German" grep -q "^FEHLER:" "$REL_TMP/copy-$GERMAN.out"
fi

# messages below ERROR while such a COPY runs: a trigger's WARNING, and on
# PostgreSQL 17 and later the NOTICE of ON_ERROR ignore that quotes the
# skipped field; both reach the server log (log_min_messages = notice)
pq "$PORT" postgres <<'SQL' || exit 1
CREATE TABLE cw (id int, c encrypted_text);
CREATE FUNCTION cw_warn() RETURNS trigger LANGUAGE plpgsql AS
	'BEGIN RAISE WARNING ''row seen''; RETURN NEW; END';
CREATE TRIGGER cw_warn BEFORE INSERT ON cw FOR EACH ROW EXECUTE FUNCTION cw_warn();
CREATE TABLE ci (id int, c encrypted_text);
SQL
off=$(file_size "$LOG")
printf '1\tLEAKWARN-row\n' >"$REL_TMP/warn.dat"
PGOPTIONS="$KEYOPT -c log_min_messages=notice" "$PG_BINDIR/psql" -X -q -v SHOW_CONTEXT=always \
	-h "$REL_TMP" -p "$PORT" -U postgres -d postgres -c "\\copy cw FROM '$REL_TMP/warn.dat'" >"$REL_TMP/copy-warn.out" 2>&1
check "COPY with a trigger's WARNING: the warning is reported" grep -q "WARNING:  row seen" "$REL_TMP/copy-warn.out"
check "COPY with a trigger's WARNING: the context still names table and line" \
	grep -q "COPY cw, line 1" "$REL_TMP/copy-warn.out"
check_eq "COPY with a trigger's WARNING: no plaintext in client output" 0 "$(grep -c LEAKWARN "$REL_TMP/copy-warn.out")"
SERVER_NUM=$(pq "$PORT" postgres -c "SHOW server_version_num")
if ((SERVER_NUM >= 170000)); then
	printf '1\tgood\nLEAKSKIP-id\tx\n' >"$REL_TMP/skip.dat"
	PGOPTIONS="$KEYOPT -c log_min_messages=notice" "$PG_BINDIR/psql" -X -q -v SHOW_CONTEXT=always \
		-h "$REL_TMP" -p "$PORT" -U postgres -d postgres -c "\\copy ci FROM '$REL_TMP/skip.dat' (ON_ERROR ignore, LOG_VERBOSITY verbose)" >"$REL_TMP/copy-skip.out" 2>&1
	check "COPY ON_ERROR ignore: the skipped row is reported" grep -q "NOTICE:  skipping row" "$REL_TMP/copy-skip.out"
	check_eq "COPY ON_ERROR ignore: no plaintext in client output" 0 "$(grep -c LEAKSKIP "$REL_TMP/copy-skip.out")"
else
	say "PostgreSQL $SERVER_NUM has no COPY ... ON_ERROR: its NOTICE is not checked"
fi
since "$LOG" "$off" >"$REL_TMP/copy-notice.log"
check "COPY with a trigger's WARNING: the warning is in the server log" grep -q "WARNING:  row seen" "$REL_TMP/copy-notice.log"
check "COPY with a trigger's WARNING: the log's context names table and line" grep -q "COPY cw, line 1" "$REL_TMP/copy-notice.log"
check_eq "COPY warnings and notices: no plaintext in the server log" 0 \
	"$(grep -E "LEAKWARN|LEAKSKIP" "$REL_TMP/copy-notice.log" | grep -c -v "LOG:  statement")"

# ---- 4. masking is linear and does not hold a backend ----
# Messages are masked inside error reporting, where no interrupt is
# served: work that grew with the square of the text kept a backend busy
# for minutes on a few hundred kilobytes.  Each statement below is a few
# megabytes, runs with statement_timeout = 2s and must end (its error, or
# success) within 15 s; one that has not is terminated and must be gone
# 10 s later.  The log must not hold the keys or the key-shaped runs.
big_statement() {
	local name=$1 file=$2 pid t0 done=0
	t0=$SECONDS
	PGOPTIONS="-c statement_timeout=2s" "$PG_BINDIR/psql" -X -q -h "$REL_TMP" -p "$PORT" -U app -d postgres \
		-v application_name="$name" -f "$file" >"$REL_TMP/$name.out" 2>&1 &
	pid=$!
	while ((SECONDS - t0 < 15)); do
		kill -0 "$pid" 2>/dev/null || { done=1; break; }
		sleep 0.2
	done
	check "$name: the statement ends within 15 s" [ "$done" = 1 ]
	if ((!done)); then
		pq "$PORT" postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app' AND state <> 'idle'" >/dev/null
		check "$name: the backend answers pg_terminate_backend within 10 s" wait_for 10 app_idle
		kill "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	say "$name: $((SECONDS - t0)) s"
}
# Is no statement of role app running?
app_idle() {
	[[ -z $(pq "$PORT" postgres -c "SELECT 1 FROM pg_stat_activity WHERE usename = 'app' AND state <> 'idle'") ]]
}
key=$(key_for dos_do)
{
	printf 'DO $$BEGIN PERFORM %s;\nPERFORM length(%s' "'$key'" "'"
	for ((i = 0; i < 60000; i++)); do printf '%s ' "$key"; done
	printf "');\nEND\$\$;\n"
} >"$REL_TMP/dos_do.sql"
off=$(file_size "$LOG")
big_statement dos_do "$REL_TMP/dos_do.sql"
check "dos_do: the 4 MB DO block ran" not grep -q ERROR "$REL_TMP/dos_do.out"
{
	printf "SET encrypted_column.key = x "
	head -c 3000000 /dev/zero | tr '\0' 'a'
	printf ";\n"
} >"$REL_TMP/dos_set.sql"
big_statement dos_set "$REL_TMP/dos_set.sql"
check "dos_set: a syntax error (42601)" grep -q "syntax error" "$REL_TMP/dos_set.out"
since "$LOG" "$off" >"$REL_TMP/log-4.txt"
check "the log holds the DO block's statement line" grep -q "statement: DO" "$REL_TMP/log-4.txt"
check_eq "dos_do: no key-shaped run in the server log" 0 "$(grep -c -a -i -E -e "$(key_slices_re "$key")" "$REL_TMP/log-4.txt")"
check_eq "dos_set: the unquoted value is masked in the server log" 0 "$(grep -c -a -E 'a{16}' "$REL_TMP/log-4.txt")"
check "dos_set: the client's error masks the token" grep -q 'syntax error at or near "[*]' "$REL_TMP/dos_set.out"

check "no backend crashed" no_crash "$LOG"
rel_finish
