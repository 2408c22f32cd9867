#!/usr/bin/env bash
# Leak audit: where do keys and plaintexts end up?
#
# The server runs with log_statement = 'all', log_min_error_statement =
# error, log_connections, pg_stat_statements (utility statements tracked)
# and auto_explain (every statement, ANALYZE, VERBOSE, nested).  Workloads:
#   1. the recommended way: key in the connection options, values as bind
#      parameters (pgbench -M extended and -M prepared), as a non-superuser
#      role; pg_stat_activity is sampled while it runs;
#   2. the same after the documented settings for the application's role
#      (log_parameter_max_length = 0, plan_cache_mode = force_generic_plan);
#   3. the ways the README advises against: SET and set_config() with the
#      key, ALTER ROLE ... SET of the key, plaintext literals, a DO block;
#   4. error paths: wrong key, tampered value, COPY with bad rows, and a
#      documented leak: a cast of a decrypt() result that fails quotes it;
#   S. typed values and search columns (encrypted_text(trigram) with a GIN
#      index; encrypted_date, _numeric, _bigint, _timestamptz (range,
#      width) with range_ops indexes; encrypted_jsonb and encrypted_bytea):
#      the recommended workload (values, LIKE and ILIKE patterns and
#      bounds as bind parameters, ORDER BY ... LIMIT through the index)
#      as a role without and with the documented settings, bad typed COPY
#      rows, then ANALYZE with a key: pg_statistic and pg_stats hold no
#      plaintext (a plain text column of the same table is the control
#      that they would show one).
# Every channel (each kind of server log line, pg_stat_statements,
# pg_stat_activity, client error output) is searched for the keys and the
# plaintexts.  The checks hold the README's findings table to the truth:
# keys never show up except where it says so, workload 2 leaks nothing,
# workload 1 leaks only through the channels the table names, error
# output never holds plaintext.
REL_NAME=leak-audit
source "$(dirname "$0")/lib.sh"
rel_init

PORT=$(cluster_up audit 55440 <<EOF
shared_preload_libraries = 'pg_stat_statements,auto_explain,encrypted_column'
log_line_prefix = '%m [%p] '
log_statement = 'all'
log_min_error_statement = error
log_connections = on
log_disconnections = on
auto_explain.log_min_duration = 0
auto_explain.log_analyze = on
auto_explain.log_verbose = on
auto_explain.log_nested_statements = on
pg_stat_statements.track = all
pg_stat_statements.track_utility = on
EOF
) || exit 1
LOG=$REL_TMP/audit.log
say "cluster on port $PORT with log_statement = all, auto_explain, pg_stat_statements"

pq "$PORT" postgres <<SQL || exit 1
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION encrypted_column;
CREATE ROLE app LOGIN;
CREATE TABLE t (id int, c encrypted_text);
CREATE TABLE tc (id int, c encrypted_text);
GRANT ALL ON t, tc TO app;
SQL

APP=(-U app)
KEYOPT="-c encrypted_column.key=$KEY1"
KEY2_RE=$(key_slices_re "$KEY2")

# Channels of the log lines since an offset that match a regex: "count channel".
log_channels() { since "$LOG" "$1" | awk -v needles="$2" -f "$REL_DIR/leak/classify.awk" | sort | uniq -c; }
# Server-side views, fetched whole and searched here (the queries hold no needle).
pgss_dump() { pq "$PORT" postgres -c "SELECT query FROM pg_stat_statements" >"$1"; }
# activity_sample FILE [ROLE]: the statements of ROLE's sessions (app)
activity_sample() { pq "$PORT" postgres -c "SELECT query FROM pg_stat_activity WHERE usename = '${2:-app}'" >>"$1"; }

# Run a recommended workload once as a role; sample pg_stat_activity
# meanwhile.  KIND is text (table t, workload.pgbench) or det (table td,
# workload_det.pgbench, e-mail addresses): workload KIND ROLE PREFIX MODE
# TXNS ID ACTIVITY
workload() {
	local kind=$1 role=$2 prefix=$3 mode=$4 txns=$5 id=$6 activity=$7 script=workload.pgbench at=""
	local extra=()
	[[ $kind == det ]] && script=workload_det.pgbench at=@example.org
	# the typed values and bounds of the phase: S_DAY1, S_DAY2, S_AMOUNT, S_N
	[[ $kind == search ]] && script=workload_search.pgbench extra=(-D pat="$prefix-al%"
		-D d1="$S_DAY1" -D d2="$S_DAY2" -D a1="$S_AMOUNT" -D n1="$S_N")
	PGOPTIONS="$KEYOPT" "$PG_BINDIR/pgbench" -h "$REL_TMP" -p "$PORT" -U "$role" -n \
		-M "$mode" -t "$txns" -c 1 -D id="$id" -D p1="$prefix-alpha$at" -D p2="$prefix-beta$at" \
		-D p3="$prefix-gamma$at" "${extra[@]}" -f "$REL_DIR/leak/$script" postgres \
		>"$REL_TMP/pgbench-$prefix-$mode.out" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		activity_sample "$activity" "$role"
		sleep 0.05
	done
	wait "$pid"
}

declare -A FINDINGS

# Record the channels of one phase for the findings table.
record() {
	local phase=$1 off=$2 re=$3 pgss=$4 activity=$5 line
	while read -r n ch; do
		[[ -n $n ]] && FINDINGS["$phase|server log: $ch"]=$n
	done < <(log_channels "$off" "$re")
	FINDINGS["$phase|pg_stat_statements"]=$(count_in "$pgss" "$re")
	FINDINGS["$phase|pg_stat_activity"]=$(count_in "$activity" "$re")
}

# A phase of the recommended workload (1, 2, D1, D2): run it in extended
# and in prepared mode (ids ID and ID + 10) and dump pg_stat_statements.
# Sets off (the log's size before), act and pgss (the phase's files).
# run_phase LABEL KIND ROLE PREFIX ID
run_phase() {
	local label=$1 kind=$2 role=$3 prefix=$4 id=$5
	off=$(file_size "$LOG")
	act=$REL_TMP/activity-${label,,}.txt
	pgss=$REL_TMP/pgss-${label,,}.txt
	: >"$act"
	workload "$kind" "$role" "$prefix" extended 3 "$id" "$act" &&
		workload "$kind" "$role" "$prefix" prepared 8 $((id + 10)) "$act"
	check "$label: the workload ran" [ $? = 0 ]
	pgss_dump "$pgss"
}

# Checks of a phase run with the audit settings as they are (1, D1): no
# key anywhere, the plaintexts only in the log lines the README names.
# checks_as_is LABEL PREFIX TABLE FINDING [NEEDLES]: NEEDLES (an extended
# regex, the prefix by default) is what counts as a plaintext.
checks_as_is() {
	local label=$1 table=$3 unexpected prefix=${5:-$2}
	check_eq "$label: no key in the server log" 0 "$(count_in <(since "$LOG" "$off") "$KEYS_RE")"
	check_eq "$label: no key in pg_stat_statements" 0 "$(count_in "$pgss" "$KEYS_RE")"
	check_eq "$label: no key in pg_stat_activity" 0 "$(count_in "$act" "$KEYS_RE")"
	check_eq "$label: no plaintext in pg_stat_statements" 0 "$(count_in "$pgss" "$prefix")"
	check_eq "$label: no plaintext in pg_stat_activity ($(wc -l <"$act") samples)" 0 "$(count_in "$act" "$prefix")"
	check "$label: activity samples saw the workload's statements" grep -q "INSERT INTO $table " "$act"
	unexpected=$(log_channels "$off" "$prefix" | grep -v -E "log_statement bind parameters|auto_explain plan" || true)
	check "$label: plaintext only in bind-parameter log lines and auto_explain plans" [ -z "$unexpected" ]
	[[ -n $unexpected ]] && echo "$unexpected"
	record "$4" "$off" "$prefix" "$pgss" "$act"
}

# Checks of a phase run as the role with the documented settings (2, D2):
# no plaintext and no key anywhere.
# checks_role_settings LABEL PREFIX FINDING [NEEDLES] (as checks_as_is)
checks_role_settings() {
	local label=$1 prefix=${4:-$2} off2
	off2=$(file_size "$LOG")
	check_eq "$label: no plaintext in any server log line" 0 "$(since "$LOG" "$off" | head -c "$((off2 - off))" | grep -c -i -E "$prefix")"
	check_eq "$label: no plaintext in pg_stat_statements" 0 "$(count_in "$pgss" "$prefix")"
	check_eq "$label: no plaintext in pg_stat_activity" 0 "$(count_in "$act" "$prefix")"
	check_eq "$label: no key anywhere" 0 "$(($(count_in <(since "$LOG" "$off") "$KEYS_RE") + \
		$(count_in "$pgss" "$KEYS_RE") + $(count_in "$act" "$KEYS_RE")))"
	record "$3" "$off" "$prefix" "$pgss" "$act"
}

# The error paths (4, D3), as app.  tamper TABLE COLUMN TYPE ID changes a
# character of a stored ciphertext; bad_decrypts TABLE COLUMN ID1 ID2
# decrypts row ID1 with the key and row ID2 with another.
tamper() {
	PGOPTIONS="-c encrypted_column.accept_ciphertext=on" pq "$PORT" postgres -c \
		"UPDATE $1 SET $2 = overlay($2::text placing CASE WHEN substr($2::text, 20, 1) = 'A' THEN 'B' ELSE 'A' END
			from 20 for 1)::$3 WHERE id = $4"
}
bad_decrypts() {
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt($2) FROM $1 WHERE id = $3"
	PGOPTIONS="-c encrypted_column.key=$KEY3" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt($2) FROM $1 WHERE id = $4"
}
# copy_bad INTO OUT DATA [OPTIONS]: \copy INTO (a table and its columns)
# from a file of DATA (printf's escapes), errors appended to OUT
copy_bad() {
	printf "$3" >"$REL_TMP/bad.dat"
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "\\copy $1 FROM '$REL_TMP/bad.dat' ${4:-}" >>"$2" 2>&1
}
# The bad COPY files, with plaintexts PREFIX-... and ids from ID on:
# copy_bad_files INTO OUT PREFIX ID
copy_bad_files() {
	local into=$1 out=$2 p=$3 i=$4
	copy_bad "$into" "$out" "$i\t$p-extra\tmore\n"
	copy_bad "$into" "$out" "$((i + 1))\t$p-ok\n$p-first\t1\n"
	copy_bad "$into" "$out" "$((i + 2)),\"$p-csv\n" "(FORMAT csv)"
	copy_bad "$into" "$out" "$((i + 3))\t$p-ok\n$((i + 4))\tecv1:$p-prefixed\n"
	copy_bad "$into" "$out" "$((i + 5))\t$p-ok\n$((i + 6))\n"
	copy_bad "$into" "$out" "$((i + 7))\t$p-\377\n"
}
# Checks of an error phase: the errors reported, and neither plaintext
# (NEEDLES) nor key in the client's error output or the log's errors.
# error_checks LABEL OUT TYPE TABLE NEEDLES FINDING
error_checks() {
	local label=$1 out=$2 type=$3 table=$4 needles=$5 e
	check "$label: tampered value: the generic decrypt error" grep -q "could not decrypt $type value" "$out"
	check "$label: wrong key: the key id error" grep -q "no loaded key has key id" "$out"
	for e in "extra data after last expected column" "invalid input syntax for type integer" \
		"unterminated CSV quoted field" "input looks like an $type ciphertext" \
		"missing data for column" "invalid byte sequence"; do
		check "$label: COPY error reported: $e" grep -q "$e" "$out"
	done
	check "$label: COPY errors still name the line" grep -q "CONTEXT:  COPY $table, line 2" "$out"
	check_eq "$label: no plaintext in client error output" 0 "$(grep -c -E "$needles" "$out")"
	check_eq "$label: no plaintext in the server log's errors" 0 \
		"$(since "$LOG" "$off" | grep -E "$needles" | grep -c -v -E "LOG:  (statement|duration)|^\s")"
	check_eq "$label: no key in the server log or client output" 0 \
		"$(($(count_in <(since "$LOG" "$off") "$KEYS_RE") + $(count_in "$out" "$KEYS_RE")))"
	record "$6" "$off" "$needles" /dev/null /dev/null
}

# ---- 1. the recommended way, audit settings as they are ----
run_phase 1 text app LEAKONE 10
checks_as_is 1 LEAKONE t "1 recommended"

# ---- 2. the documented settings for the application's role ----
pq "$PORT" postgres -c "ALTER ROLE app SET log_parameter_max_length = 0" \
	-c "ALTER ROLE app SET plan_cache_mode = force_generic_plan" || exit 1
# From PostgreSQL 16 on auto_explain prints bind parameters in its plans
# ("Query Parameters:") unless told not to; set it where the server has it.
if [[ $(pq "$PORT" postgres -c "SELECT count(*) FROM pg_settings WHERE name = 'auto_explain.log_parameter_max_length'") == 1 ]]; then
	pq "$PORT" postgres -c "ALTER ROLE app SET auto_explain.log_parameter_max_length = 0" || exit 1
	say "auto_explain.log_parameter_max_length = 0 for the role too"
fi
run_phase 2 text app LEAKTWO 30
check_eq "2: decrypt() still returns the values" "LEAKTWO-alpha" \
	"$(PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt(c) FROM t WHERE id = 30 LIMIT 1")"
checks_role_settings 2 LEAKTWO "2 recommended + role settings"

# ---- 3. what the README advises against ----
off=$(file_size "$LOG")
act=$REL_TMP/activity-3.txt
: >"$act"
# a session that SETs the key, then sits idle while pg_stat_activity is read
coproc IDLE { "$PG_BINDIR/psql" -X -q -h "$REL_TMP" -p "$PORT" -U app -d postgres 2>&1; }
# the control for pg_stat_statements below: a SET whose value it keeps as
# written (PostgreSQL 15) or replaces with $1 like the key's (16 on)
echo "SET application_name = 'PGSSCTL';" >&"${IDLE[1]}"
echo "SET encrypted_column.key = '$KEY2';" >&"${IDLE[1]}"
echo '\echo ready' >&"${IDLE[1]}"
read -r -t 30 ready <&"${IDLE[0]}"
activity_sample "$act"
check_eq "3: SET of the key is masked in pg_stat_activity" 0 "$(count_in "$act" "$KEY2_RE")"
check "3: pg_stat_activity shows the masked SET" grep -q "encrypted_column.key = '\*\*\*\*" "$act"
echo "SELECT set_config('encrypted_column.key', '$KEY2', false);" >&"${IDLE[1]}"
echo '\echo ready' >&"${IDLE[1]}"
read -r -t 30 ready <&"${IDLE[0]}"
read -r -t 30 ready <&"${IDLE[0]}"
: >"$REL_TMP/activity-3b.txt"
activity_sample "$REL_TMP/activity-3b.txt"
FINDINGS["3 advised against|pg_stat_activity: set_config() with a literal key"]=$(count_in "$REL_TMP/activity-3b.txt" "$KEY2_RE")
echo '\q' >&"${IDLE[1]}"
wait "$IDLE_PID" 2>/dev/null
# the key as a bind parameter of set_config(), as a superuser (parameters logged)
printf 'SELECT set_config(:name, :key, false);\n' >"$REL_TMP/setconfig.pgbench"
"$PG_BINDIR/pgbench" -h "$REL_TMP" -p "$PORT" -U postgres -n -M extended -t 1 \
	-D name=encrypted_column.key -D key="$KEY2" -f "$REL_TMP/setconfig.pgbench" postgres \
	>"$REL_TMP/pgbench-setconfig.out" 2>&1
check "3: set_config() with the key as a bind parameter ran" [ $? = 0 ]
# storing the key in the catalog is refused
pq "$PORT" postgres -c "ALTER ROLE app SET encrypted_column.key = '$KEY3'" >"$REL_TMP/alter-role.out" 2>&1
check "3: ALTER ROLE ... SET encrypted_column.key is refused" \
	grep -q "encrypted_column.key cannot be stored in the catalog" "$REL_TMP/alter-role.out"
pq "$PORT" postgres -c "CREATE FUNCTION f() RETURNS int LANGUAGE sql
	SET encrypted_column.previous_keys = '$KEY3' AS 'SELECT 1'" >>"$REL_TMP/alter-role.out" 2>&1
check "3: CREATE FUNCTION ... SET encrypted_column.previous_keys is refused" \
	grep -q "encrypted_column.previous_keys cannot be stored in the catalog" "$REL_TMP/alter-role.out"
check_eq "3: no key in pg_db_role_setting or pg_proc" 0 "$(pq "$PORT" postgres -c \
	"SELECT count(*) FROM (SELECT 1 FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE c ILIKE 'encrypted_column.%'
		UNION ALL SELECT 1 FROM pg_proc p, unnest(p.proconfig) c WHERE c ILIKE 'encrypted_column.%') x")"
check "3: refusal messages do not echo the key" not grep -q -i -E "$(key_slices_re "$KEY3")" "$REL_TMP/alter-role.out"
# plaintext literals and a DO block
PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" \
	-c "INSERT INTO t VALUES (100, 'LEAKLIT-insert')" \
	-c "SELECT count(*) FROM t WHERE decrypt(c) = 'LEAKLIT-where'" \
	-c "DO \$\$ BEGIN PERFORM encrypt('LEAKLIT-do'); END \$\$" >/dev/null || exit 1
pgss_dump "$REL_TMP/pgss-3.txt"
check_eq "3: no key in the server log (SET, set_config, ALTER ROLE)" 0 \
	"$(count_in <(since "$LOG" "$off") "$KEYS_RE")"
check "3: the log shows the statements with the key masked" \
	has_since "$LOG" "$off" "statement: SET encrypted_column\.key = '\*\*\*\*"
# pg_stat_statements of 16 and later replaces the value of a SET with $1:
# its search means something only where the control's value is kept
n=$(count_in "$REL_TMP/pgss-3.txt" "$KEYS_RE")
if ((n > 0)) || grep -q "'PGSSCTL'" "$REL_TMP/pgss-3.txt"; then
	check_eq "3: no key in pg_stat_statements (it keeps SET values as written)" 0 "$n"
else
	not_applicable "3: no key in pg_stat_statements" \
		"this pg_stat_statements replaces SET values with \$n (control SET application_name = 'PGSSCTL' not kept)"
fi
check_eq "3: DML literals normalised away in pg_stat_statements" 0 \
	"$(count_in "$REL_TMP/pgss-3.txt" "LEAKLIT-(insert|where)")"
record "3 advised against" "$off" LEAKLIT "$REL_TMP/pgss-3.txt" "$act"

# ---- 4. error paths ----
off=$(file_size "$LOG")
printf '200\tLEAKERR-tamper\n201\tLEAKERR-wrongkey\n' |
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "COPY t FROM STDIN" || exit 1
tamper t c encrypted_text 200 || exit 1
errout=$REL_TMP/errors.out
{
	bad_decrypts t c 200 201
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt(c, 'ctx') FROM t WHERE id = 201"
} >"$errout" 2>&1
copy_bad_files "t (id, c)" "$errout" LEAKCOPY 300
error_checks 4 "$errout" encrypted_text t "LEAKERR|LEAKCOPY" "4 error paths"

# a documented leak: PostgreSQL's own error on a decrypt() result quotes it
off=$(file_size "$LOG")
printf '210\tLEAKCAST-not-a-date\n' |
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "COPY t FROM STDIN" || exit 1
PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt(c)::date FROM t WHERE id = 210" \
	>"$REL_TMP/cast.out" 2>&1
check "4: decrypt(c)::date fails" grep -q 'invalid input syntax for type date' "$REL_TMP/cast.out"
check "4: documented leak: the client's error quotes the plaintext" grep -q 'LEAKCAST-not-a-date' "$REL_TMP/cast.out"
check "4: documented leak: the server log's ERROR line quotes the plaintext" \
	has_since "$LOG" "$off" 'ERROR:  invalid input syntax for type date: "LEAKCAST-not-a-date"'
unexpected=$(log_channels "$off" LEAKCAST | grep -v "error message" || true)
check "4: that plaintext is in no other log line" [ -z "$unexpected" ]
record "4 error on a decrypt() result" "$off" LEAKCAST /dev/null /dev/null

check "no backend crashed" no_crash "$LOG"
check "no warning about the library order in the audited server" \
	not grep -q "loaded before pg_stat_statements" "$LOG"

# ==== encrypted_text_det: the same channels, the deterministic type ====
# A table with a det column and a unique index; the recommended workload
# (bind parameters, the text-typed lookup) as a role without the
# documented settings (D1) and as the role with them (D2); then its error
# paths (D3): unique violations, a wrong key, a tampered value, bad COPY
# rows.  Keys must appear nowhere; plaintexts only where the README's
# leak table says.
pq "$PORT" postgres <<SQL || exit 1
CREATE ROLE appd LOGIN;
CREATE TABLE td (id int, email encrypted_text_det);
CREATE UNIQUE INDEX td_email ON td (email);
GRANT ALL ON td TO app, appd;
SQL

# D1: bind parameters, audit settings as they are
run_phase D1 det appd LEAKDONE 500
check_eq "D1: the unique index kept one row per plaintext through 11 runs" 2 \
	"$(pq "$PORT" postgres -c "SELECT count(*) FROM td WHERE id BETWEEN 500 AND 519")"
checks_as_is D1 LEAKDONE td "D1 det, recommended"
# custom plans of the text-typed lookup name the plaintext in the index condition
check "D1: a custom plan shows encrypt_det_all() of the plaintext (the custom-plan leak)" \
	has_since "$LOG" "$off" "encrypt_det_all\('LEAKDONE-alpha@example\.org'::text\)"

# D2: the same as the role with the documented settings
run_phase D2 det app LEAKDTWO 520
checks_role_settings D2 LEAKDTWO "D2 det, recommended + role settings"

# D3: error paths of the deterministic type
off=$(file_size "$LOG")
printf '600\tLEAKDERR-tamper\n601\tLEAKDERR-wrongkey\n602\tLEAKDERR-dup\n' |
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "COPY td FROM STDIN" || exit 1
tamper td email encrypted_text_det 600 || exit 1
derr=$REL_TMP/errors-det.out
{
	bad_decrypts td email 600 601
	# unique violations: a COPY row and an INSERT with a bind parameter
	printf '603\tLEAKDERR-dup\n' | PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "COPY td FROM STDIN"
	printf 'INSERT INTO td (id, email) VALUES (604, :p1);\n' >"$REL_TMP/dup.pgbench"
	PGOPTIONS="$KEYOPT" "$PG_BINDIR/pgbench" -h "$REL_TMP" -p "$PORT" -U app -n -M extended -t 1 \
		-D p1=LEAKDERR-dup -f "$REL_TMP/dup.pgbench" postgres
} >"$derr" 2>&1
check_eq "D3: both unique violations reported" 2 "$(grep -c 'duplicate key value violates unique constraint "td_email"' "$derr")"
check "D3: the unique violation's DETAIL shows the ciphertext" grep -q 'Key (email)=(ecv1:' "$derr"
copy_bad_files "td (id, email)" "$derr" LEAKDCOPY 700
copy_bad "td (id, email)" "$derr" '708\tLEAKDCOPY-twice\n709\tLEAKDCOPY-twice\n'
e='duplicate key value violates unique constraint "td_email"'
check "D3: COPY error reported: $e" grep -q "$e" "$derr"
error_checks D3 "$derr" encrypted_text_det td "LEAKDERR|LEAKDCOPY" "D3 det error paths"
check_eq "D3: no bad row was stored" 0 \
	"$(pq "$PORT" postgres -c "SELECT count(*) FROM td WHERE id >= 603")"
# lookups by literals (not part of the findings): the rows are there, and a
# wrong key finds nothing without raising an error
check_eq "D2: the text-typed lookup finds the row" 520 \
	"$(PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "SELECT id FROM td WHERE email = 'LEAKDTWO-alpha@example.org'::text")"
check_eq "D3: wrong key: a lookup finds nothing and raises nothing" 0 \
	"$(PGOPTIONS="-c encrypted_column.key=$KEY3" pq "$PORT" postgres -U app -c "SELECT count(*) FROM td WHERE email = 'LEAKDERR-wrongkey'::text" 2>&1)"
check_eq "D3: the right key finds it" 601 \
	"$(PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "SELECT id FROM td WHERE email = 'LEAKDERR-wrongkey'::text")"
check "D: no backend crashed" no_crash "$LOG"
# ==== end of encrypted_text_det ====

# ==== typed values and search columns ====
# A table with a search column of each kind and its index, two typed
# columns without terms, and a plain text column as the control.  The
# recommended workload (bind parameters: values, LIKE and ILIKE patterns,
# bounds) as a role without the documented settings (S1) and as the role
# with them (S2); bad typed rows by COPY (S3); then ANALYZE with a key and
# a search of pg_statistic and pg_stats.  What counts as a plaintext: the
# marker of the phase (in names, jsonb, bytea and the LIKE patterns), its
# bytes in hex (bytea as PostgreSQL prints it) and the phase's date,
# numeric and bigint values.
pq "$PORT" postgres <<SQL || exit 1
CREATE ROLE apps LOGIN;
CREATE TABLE ts (id int, note text, name encrypted_text(trigram), day encrypted_date(range, 7),
	amount encrypted_numeric(range, 1), n encrypted_bigint(range, 100),
	at encrypted_timestamptz(range, 3600), doc encrypted_jsonb, blob encrypted_bytea);
CREATE INDEX ts_name ON ts USING gin (name);
CREATE INDEX ts_day ON ts (day encrypted_date_range_ops);
CREATE INDEX ts_amount ON ts (amount encrypted_numeric_range_ops);
CREATE INDEX ts_n ON ts (n encrypted_bigint_range_ops);
CREATE INDEX ts_at ON ts (at encrypted_timestamptz_range_ops);
GRANT ALL ON ts TO app, apps;
SQL
hex_of() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# search_needles PREFIX DAY NUMERIC BIGINT
search_needles() {
	printf '%s|%s|%s|%s|%s' "$1" "$(hex_of "$1")" "$2" "${3//./\\.}" "$4"
}

# S1: the recommended way, audit settings as they are
S_DAY1=2147-03-29 S_DAY2=2147-04-30 S_AMOUNT=918273.645 S_N=8675309123
S1_RE=$(search_needles LEAKSONE "$S_DAY1|$S_DAY2" "$S_AMOUNT" "$S_N")
run_phase S1 search apps LEAKSONE 800
checks_as_is S1 LEAKSONE ts "S1 typed and search, recommended" "$S1_RE"
# (after the checks of the phase: this statement holds its literals)
check_eq "S1: the index searches found the rows (LIKE, ILIKE, BETWEEN, comparisons)" "LEAKSONE-alpha|t|t|t|t" \
	"$(PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U apps -c "SET enable_seqscan = off" -c "SET jit = off" -c "SELECT
		(SELECT decrypt(name) FROM ts WHERE name LIKE 'LEAKSONE-al%' LIMIT 1),
		(SELECT count(*) = 11 FROM ts WHERE name ILIKE 'leaksone-AL%'),
		(SELECT count(*) = 11 FROM ts WHERE day BETWEEN date '$S_DAY1' AND date '$S_DAY2'),
		(SELECT count(*) = 11 FROM ts WHERE amount >= $S_AMOUNT AND n = $S_N),
		(SELECT bool_and(decrypt(doc) ->> 'k' = 'LEAKSONE-beta') FROM ts WHERE id IN (800, 810))" | tail -n 1)"

# S2: the same as the role with the documented settings
S_DAY1=2151-11-07 S_DAY2=2151-12-24 S_AMOUNT=736251.918 S_N=5550123987
S2_RE=$(search_needles LEAKSTWO "$S_DAY1|$S_DAY2" "$S_AMOUNT" "$S_N")
run_phase S2 search app LEAKSTWO 820
checks_role_settings S2 LEAKSTWO "S2 typed and search, recommended + role settings" "$S2_RE"
check_eq "S2: the prepared LIKE search found the rows" 11 \
	"$(PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "SELECT count(*) FROM ts WHERE name LIKE 'LEAKSTWO-al%'")"

# S3: bad typed values by COPY: each error reported, no value in any message
off=$(file_size "$LOG")
serr=$REL_TMP/errors-search.out
: >"$serr"
copy_bad "ts (id, day)" "$serr" '900\t2160-01-01\n901\tLEAKSERR-not-a-date\n'
copy_bad "ts (id, n)" "$serr" '902\tLEAKSERR-12x\n'
copy_bad "ts (id, amount)" "$serr" '903\tLEAKSERR-1.5.5\n'
copy_bad "ts (id, at)" "$serr" '904\tLEAKSERR-noon\n'
copy_bad "ts (id, doc)" "$serr" '905\t{"LEAKSERR": open\n'
copy_bad "ts (id, blob)" "$serr" '906\t\\\\xLEAKSERR\n'
copy_bad "ts (id, name, day)" "$serr" '907\tLEAKSERR-name\t2160-02-30\n'
for t in date bigint numeric timestamptz jsonb bytea; do
	check "S3: COPY error reported for encrypted_$t" grep -q "invalid input for type encrypted_$t" "$serr"
done
check "S3: COPY errors still name the line" grep -q "CONTEXT:  COPY ts, line 2" "$serr"
check_eq "S3: no plaintext in client error output" 0 "$(grep -c -E "LEAKSERR|2160-0" "$serr")"
check_eq "S3: no plaintext in any server log line" 0 "$(count_in <(since "$LOG" "$off") "LEAKSERR|2160-0")"
check_eq "S3: no bad row was stored" 0 "$(pq "$PORT" postgres -c "SELECT count(*) FROM ts WHERE id >= 900")"
record "S3 typed COPY errors" "$off" "LEAKSERR|2160-0" /dev/null /dev/null

# ANALYZE with a key in the session, then every statistic of the table
PGOPTIONS="$KEYOPT" pq "$PORT" postgres -c "ANALYZE ts" || exit 1
stats=$REL_TMP/stats-search.txt
pq "$PORT" postgres -c "SELECT s::text FROM pg_stats s WHERE tablename = 'ts'" \
	-c "SELECT s::text FROM pg_statistic s WHERE starelid = 'ts'::regclass" >"$stats" || exit 1
check "ANALYZE: pg_stats shows the plain control column's values (the search would see them)" \
	grep -q "LEAKSCTL-8" "$stats"
check_eq "ANALYZE: every typed and search column has its statistics row" 7 \
	"$(pq "$PORT" postgres -c "SELECT count(*) FROM pg_stats WHERE tablename = 'ts' AND attname NOT IN ('id', 'note')")"
check_eq "ANALYZE: no plaintext of S1 or S2 in pg_stats or pg_statistic" 0 \
	"$(count_in "$stats" "$S1_RE|$S2_RE")"
check_eq "ANALYZE: no key in pg_stats or pg_statistic" 0 "$(count_in "$stats" "$KEYS_RE")"
FINDINGS["S after ANALYZE|pg_stats and pg_statistic"]=$(count_in "$stats" "$S1_RE|$S2_RE")
check "S: no backend crashed" no_crash "$LOG"
# ==== end of typed values and search columns ====

# ---- either library order: the redact suite checks pg_stat_statements ----
P2=$(cluster_up misordered $((PORT + 1)) <<<"shared_preload_libraries = 'encrypted_column,pg_stat_statements'") || exit 1
check "the library order needs no warning (masking is in place, before pg_stat_statements stores)" \
	not grep -q "loaded before pg_stat_statements" "$REL_TMP/misordered.log"

# ---- the findings table ----
echo "findings: phase | channel | lines holding a secret"
for k in "${!FINDINGS[@]}"; do
	echo "  ${k%%|*} | ${k#*|} | ${FINDINGS[$k]}"
done | sort
say "figures: $(wc -l <"$LOG") server log lines, $(wc -l <"$REL_TMP/activity-1.txt") + $(wc -l <"$REL_TMP/activity-2.txt") pg_stat_activity samples searched"
rel_finish
