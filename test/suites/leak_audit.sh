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
#      documented leak: a cast of a decrypt() result that fails quotes it.
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
activity_sample() { pq "$PORT" postgres -c "SELECT query FROM pg_stat_activity WHERE usename = 'app'" >>"$1"; }

# Run the recommended workload once; sample pg_stat_activity meanwhile.
workload() {
	local prefix=$1 mode=$2 txns=$3 id=$4 activity=$5
	PGOPTIONS="$KEYOPT" "$PG_BINDIR/pgbench" -h "$REL_TMP" -p "$PORT" "${APP[@]}" -n \
		-M "$mode" -t "$txns" -c 1 -D id="$id" -D p1="$prefix-alpha" -D p2="$prefix-beta" \
		-D p3="$prefix-gamma" -f "$REL_DIR/leak/workload.pgbench" postgres \
		>"$REL_TMP/pgbench-$prefix-$mode.out" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		activity_sample "$activity"
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

# ---- 1. the recommended way, audit settings as they are ----
off=$(file_size "$LOG")
act=$REL_TMP/activity-1.txt
: >"$act"
workload LEAKONE extended 3 10 "$act" && workload LEAKONE prepared 8 20 "$act"
check "workload 1 ran" [ $? = 0 ]
pgss_dump "$REL_TMP/pgss-1.txt"
check_eq "1: no key in the server log" 0 "$(count_in <(since "$LOG" "$off") "$KEYS_RE")"
check_eq "1: no key in pg_stat_statements" 0 "$(count_in "$REL_TMP/pgss-1.txt" "$KEYS_RE")"
check_eq "1: no key in pg_stat_activity" 0 "$(count_in "$act" "$KEYS_RE")"
check_eq "1: no plaintext in pg_stat_statements" 0 "$(count_in "$REL_TMP/pgss-1.txt" LEAKONE)"
check_eq "1: no plaintext in pg_stat_activity ($(wc -l <"$act") samples)" 0 "$(count_in "$act" LEAKONE)"
check "1: activity samples saw the workload's statements" grep -q 'INSERT INTO t' "$act"
unexpected=$(log_channels "$off" LEAKONE | grep -v -E "log_statement bind parameters|auto_explain plan" || true)
check "1: plaintext only in bind-parameter log lines and auto_explain plans" [ -z "$unexpected" ]
[[ -n $unexpected ]] && echo "$unexpected"
record "1 recommended" "$off" LEAKONE "$REL_TMP/pgss-1.txt" "$act"

# ---- 2. the documented settings for the application's role ----
pq "$PORT" postgres -c "ALTER ROLE app SET log_parameter_max_length = 0" \
	-c "ALTER ROLE app SET plan_cache_mode = force_generic_plan" || exit 1
# From PostgreSQL 16 on auto_explain prints bind parameters in its plans
# ("Query Parameters:") unless told not to; set it where the server has it.
if [[ $(pq "$PORT" postgres -c "SELECT count(*) FROM pg_settings WHERE name = 'auto_explain.log_parameter_max_length'") == 1 ]]; then
	pq "$PORT" postgres -c "ALTER ROLE app SET auto_explain.log_parameter_max_length = 0" || exit 1
	say "auto_explain.log_parameter_max_length = 0 for the role too"
fi
off=$(file_size "$LOG")
act=$REL_TMP/activity-2.txt
: >"$act"
workload LEAKTWO extended 3 30 "$act" && workload LEAKTWO prepared 8 40 "$act"
check "workload 2 ran" [ $? = 0 ]
pgss_dump "$REL_TMP/pgss-2.txt"
check_eq "2: decrypt() still returns the values" "LEAKTWO-alpha" \
	"$(PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt(c) FROM t WHERE id = 30 LIMIT 1")"
off2=$(file_size "$LOG")
check_eq "2: no plaintext in any server log line" 0 "$(since "$LOG" "$off" | head -c "$((off2 - off))" | grep -c LEAKTWO)"
check_eq "2: no plaintext in pg_stat_statements" 0 "$(count_in "$REL_TMP/pgss-2.txt" LEAKTWO)"
check_eq "2: no plaintext in pg_stat_activity" 0 "$(count_in "$act" LEAKTWO)"
check_eq "2: no key anywhere" 0 "$(($(count_in <(since "$LOG" "$off") "$KEYS_RE") + \
	$(count_in "$REL_TMP/pgss-2.txt" "$KEYS_RE") + $(count_in "$act" "$KEYS_RE")))"
record "2 recommended + role settings" "$off" LEAKTWO "$REL_TMP/pgss-2.txt" "$act"

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
PGOPTIONS="-c encrypted_column.accept_ciphertext=on" pq "$PORT" postgres -c \
	"UPDATE t SET c = overlay(c::text placing CASE WHEN substr(c::text, 20, 1) = 'A' THEN 'B' ELSE 'A' END
		from 20 for 1)::encrypted_text WHERE id = 200" || exit 1
errout=$REL_TMP/errors.out
{
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt(c) FROM t WHERE id = 200"
	PGOPTIONS="-c encrypted_column.key=$KEY3" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt(c) FROM t WHERE id = 201"
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "SELECT decrypt(c, 'ctx') FROM t WHERE id = 201"
} >"$errout" 2>&1
check "4: tampered value: the generic decrypt error" grep -q "could not decrypt encrypted_text value" "$errout"
check "4: wrong key: the key id error" grep -q "no loaded key has key id" "$errout"
copy_bad() {
	printf "$1" >"$REL_TMP/bad.dat"
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres "${APP[@]}" -c "\\copy t (id, c) FROM '$REL_TMP/bad.dat' $2" >>"$errout" 2>&1
}
copy_bad '300\tLEAKCOPY-extra\tmore\n' ""
copy_bad '301\tLEAKCOPY-ok\nLEAKCOPY-first\t1\n' ""
copy_bad '302,"LEAKCOPY-csv\n' "(FORMAT csv)"
copy_bad '303\tLEAKCOPY-ok\n304\tecv1:LEAKCOPY-prefixed\n' ""
copy_bad '305\tLEAKCOPY-ok\n306\n' ""
copy_bad '307\tLEAKCOPY-\377\n' ""
for e in "extra data after last expected column" "invalid input syntax for type integer" \
	"unterminated CSV quoted field" "input looks like an encrypted_text ciphertext" \
	"missing data for column" "invalid byte sequence"; do
	check "4: COPY error reported: $e" grep -q "$e" "$errout"
done
check "4: COPY errors still name the line" grep -q "CONTEXT:  COPY t, line 2" "$errout"
check_eq "4: no plaintext in client error output" 0 "$(grep -c -E "LEAKERR|LEAKCOPY" "$errout")"
check_eq "4: no plaintext in the server log's errors" 0 \
	"$(since "$LOG" "$off" | grep -E "LEAKERR|LEAKCOPY" | grep -c -v -E "LOG:  (statement|duration)|^\s")"
record "4 error paths" "$off" "LEAKERR|LEAKCOPY" /dev/null /dev/null
check_eq "4: no key in the server log or client output" 0 \
	"$(($(count_in <(since "$LOG" "$off") "$KEYS_RE") + $(count_in "$errout" "$KEYS_RE")))"

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

# Run the deterministic workload as a role; sample pg_stat_activity meanwhile.
det_workload() {
	local prefix=$1 mode=$2 txns=$3 id=$4 activity=$5 role=$6
	PGOPTIONS="$KEYOPT" "$PG_BINDIR/pgbench" -h "$REL_TMP" -p "$PORT" -U "$role" -n \
		-M "$mode" -t "$txns" -c 1 -D id="$id" -D p1="$prefix-alpha@example.org" \
		-D p2="$prefix-beta@example.org" -D p3="$prefix-gamma@example.org" \
		-f "$REL_DIR/leak/workload_det.pgbench" postgres >"$REL_TMP/pgbench-$prefix-$mode.out" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		pq "$PORT" postgres -c "SELECT query FROM pg_stat_activity WHERE usename = '$role'" >>"$activity"
		sleep 0.05
	done
	wait "$pid"
}

# D1: bind parameters, audit settings as they are
off=$(file_size "$LOG")
act=$REL_TMP/activity-d1.txt
: >"$act"
det_workload LEAKDONE extended 3 500 "$act" appd && det_workload LEAKDONE prepared 8 510 "$act" appd
check "D1: deterministic workload ran" [ $? = 0 ]
check_eq "D1: the unique index kept one row per plaintext through 11 runs" 2 \
	"$(pq "$PORT" postgres -c "SELECT count(*) FROM td WHERE id BETWEEN 500 AND 519")"
pgss_dump "$REL_TMP/pgss-d1.txt"
check_eq "D1: no key in the server log" 0 "$(count_in <(since "$LOG" "$off") "$KEYS_RE")"
check_eq "D1: no key in pg_stat_statements" 0 "$(count_in "$REL_TMP/pgss-d1.txt" "$KEYS_RE")"
check_eq "D1: no key in pg_stat_activity" 0 "$(count_in "$act" "$KEYS_RE")"
check_eq "D1: no plaintext in pg_stat_statements" 0 "$(count_in "$REL_TMP/pgss-d1.txt" LEAKDONE)"
check_eq "D1: no plaintext in pg_stat_activity ($(wc -l <"$act") samples)" 0 "$(count_in "$act" LEAKDONE)"
check "D1: activity samples saw the workload's statements" grep -q 'INSERT INTO td' "$act"
unexpected=$(log_channels "$off" LEAKDONE | grep -v -E "log_statement bind parameters|auto_explain plan" || true)
check "D1: plaintext only in bind-parameter log lines and auto_explain plans" [ -z "$unexpected" ]
[[ -n $unexpected ]] && echo "$unexpected"
# custom plans of the text-typed lookup name the plaintext in the index condition
check "D1: a custom plan shows encrypt_det_all() of the plaintext (the custom-plan leak)" \
	has_since "$LOG" "$off" "encrypt_det_all\('LEAKDONE-alpha@example\.org'::text\)"
record "D1 det, recommended" "$off" LEAKDONE "$REL_TMP/pgss-d1.txt" "$act"

# D2: the same as the role with the documented settings
off=$(file_size "$LOG")
act=$REL_TMP/activity-d2.txt
: >"$act"
det_workload LEAKDTWO extended 3 520 "$act" app && det_workload LEAKDTWO prepared 8 530 "$act" app
check "D2: deterministic workload ran" [ $? = 0 ]
off2=$(file_size "$LOG")
pgss_dump "$REL_TMP/pgss-d2.txt"
check_eq "D2: no plaintext in any server log line" 0 "$(since "$LOG" "$off" | head -c "$((off2 - off))" | grep -c LEAKDTWO)"
check_eq "D2: no plaintext in pg_stat_statements" 0 "$(count_in "$REL_TMP/pgss-d2.txt" LEAKDTWO)"
check_eq "D2: no plaintext in pg_stat_activity" 0 "$(count_in "$act" LEAKDTWO)"
check_eq "D2: no key anywhere" 0 "$(($(count_in <(since "$LOG" "$off") "$KEYS_RE") + \
	$(count_in "$REL_TMP/pgss-d2.txt" "$KEYS_RE") + $(count_in "$act" "$KEYS_RE")))"
record "D2 det, recommended + role settings" "$off" LEAKDTWO "$REL_TMP/pgss-d2.txt" "$act"

# D3: error paths of the deterministic type
off=$(file_size "$LOG")
printf '600\tLEAKDERR-tamper\n601\tLEAKDERR-wrongkey\n602\tLEAKDERR-dup\n' |
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "COPY td FROM STDIN" || exit 1
PGOPTIONS="-c encrypted_column.accept_ciphertext=on" pq "$PORT" postgres -c \
	"UPDATE td SET email = overlay(email::text placing CASE WHEN substr(email::text, 20, 1) = 'A' THEN 'B' ELSE 'A' END
		from 20 for 1)::encrypted_text_det WHERE id = 600" || exit 1
derr=$REL_TMP/errors-det.out
{
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "SELECT decrypt(email) FROM td WHERE id = 600"
	PGOPTIONS="-c encrypted_column.key=$KEY3" pq "$PORT" postgres -U app -c "SELECT decrypt(email) FROM td WHERE id = 601"
	# unique violations: a COPY row and an INSERT with a bind parameter
	printf '603\tLEAKDERR-dup\n' | PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "COPY td FROM STDIN"
	printf 'INSERT INTO td (id, email) VALUES (604, :p1);\n' >"$REL_TMP/dup.pgbench"
	PGOPTIONS="$KEYOPT" "$PG_BINDIR/pgbench" -h "$REL_TMP" -p "$PORT" -U app -n -M extended -t 1 \
		-D p1=LEAKDERR-dup -f "$REL_TMP/dup.pgbench" postgres
} >"$derr" 2>&1
check "D3: tampered value: the generic decrypt error" grep -q "could not decrypt encrypted_text_det value" "$derr"
check "D3: wrong key: the key id error" grep -q "no loaded key has key id" "$derr"
check_eq "D3: both unique violations reported" 2 "$(grep -c 'duplicate key value violates unique constraint "td_email"' "$derr")"
check "D3: the unique violation's DETAIL shows the ciphertext" grep -q 'Key (email)=(ecv1:' "$derr"
det_copy_bad() {
	printf "$1" >"$REL_TMP/bad-det.dat"
	PGOPTIONS="$KEYOPT" pq "$PORT" postgres -U app -c "\\copy td (id, email) FROM '$REL_TMP/bad-det.dat' $2" >>"$derr" 2>&1
}
det_copy_bad '700\tLEAKDCOPY-extra\tmore\n' ""
det_copy_bad '701\tLEAKDCOPY-ok\nLEAKDCOPY-first\t1\n' ""
det_copy_bad '702,"LEAKDCOPY-csv\n' "(FORMAT csv)"
det_copy_bad '703\tLEAKDCOPY-ok\n704\tecv1:LEAKDCOPY-prefixed\n' ""
det_copy_bad '705\tLEAKDCOPY-ok\n706\n' ""
det_copy_bad '707\tLEAKDCOPY-\377\n' ""
det_copy_bad '708\tLEAKDCOPY-twice\n709\tLEAKDCOPY-twice\n' ""
for e in "extra data after last expected column" "invalid input syntax for type integer" \
	"unterminated CSV quoted field" "input looks like an encrypted_text_det ciphertext" \
	"missing data for column" "invalid byte sequence" \
	'duplicate key value violates unique constraint "td_email"'; do
	check "D3: COPY error reported: $e" bash -c 'grep "$1" "$2" | grep -q .' _ "$e" "$derr"
done
check "D3: COPY errors still name the line" grep -q "CONTEXT:  COPY td, line 2" "$derr"
check_eq "D3: no plaintext in client error output" 0 "$(grep -c -E "LEAKDERR|LEAKDCOPY" "$derr")"
check_eq "D3: no plaintext in the server log's errors" 0 \
	"$(since "$LOG" "$off" | grep -E "LEAKDERR|LEAKDCOPY" | grep -c -v -E "LOG:  (statement|duration)|^\s")"
check_eq "D3: no key in the server log or client output" 0 \
	"$(($(count_in <(since "$LOG" "$off") "$KEYS_RE") + $(count_in "$derr" "$KEYS_RE")))"
check_eq "D3: no bad row was stored" 0 \
	"$(pq "$PORT" postgres -c "SELECT count(*) FROM td WHERE id >= 603")"
record "D3 det error paths" "$off" "LEAKDERR|LEAKDCOPY" /dev/null /dev/null
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
