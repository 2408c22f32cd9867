#!/usr/bin/env bash
# PgBouncer in front of a server with the library preloaded.
#
# One PostgreSQL cluster (log_statement = 'all', log_connections) and two
# PgBouncers on loopback: "strict" with the defaults, and "lenient" with
# ignore_startup_parameters = options.  Each offers the database three
# times: "tx1" (transaction mode, one server connection, so every client
# shares it), "tx3" (transaction mode, three) and "sess" (session mode,
# one).  Clients with different keys show:
#   - the recommended set-up (transaction mode, the key handed in per
#     transaction with set_config(..., true) as a bind parameter, psycopg
#     3) leaks nothing: no client sees another's key, a keyless client
#     cannot decrypt, RESET/DISCARD of one client does not touch another,
#     interleaved transactions see their own keys, and no key reaches the
#     server log, PgBouncer's log or pg_stat_activity;
#   - the Python package's per-transaction key (SQLAlchemy), the same way;
#   - the pitfalls: a key in the options startup parameter is refused
#     (PgBouncer 1.18 refuses options, 1.24 each parameter in it that it
#     does not track), never reaches the server or another client, and is
#     written in full into PgBouncer's log; ignore_startup_parameters, and
#     on 1.24 track_extra_parameters naming the key, let the client in
#     without a key, silently; a session-level key in transaction mode
#     passes to the next client, whose RESET then clears it;
#   - session mode: a session-level key stays with its client and is
#     cleared (DISCARD ALL) before the server connection serves another;
#   - stored keys under a server-side file KEK: two tenants' transactions
#     with SET LOCAL encrypted_column.key_name interleave on one server
#     connection, each value under its own key id, no secret in any log.
REL_NAME=pgbouncer
source "$(dirname "$0")/lib.sh"

PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[[ -x $PGBOUNCER ]] || rel_skip "pgbouncer is not installed (Debian package pgbouncer)"
/usr/bin/python3 -c 'import psycopg' 2>/dev/null ||
	rel_skip "psycopg 3 is not installed (Debian package python3-psycopg)"
rel_init

# A server-side key-encryption key for the stored keys (a test KEK): a
# file outside the data directory that only the server's user can read.
SKEK=4e7a1c9b2d8f3e6a5c0b7d9e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c
printf '%s\n' "$SKEK" >"$REL_TMP/kek"
chmod 0600 "$REL_TMP/kek"
((EUID == 0)) && chown postgres: "$REL_TMP/kek"

P=$(cluster_up pg 55470 <<EOF
shared_preload_libraries = 'encrypted_column'
log_line_prefix = '%m [%p] '
log_statement = 'all'
log_connections = on
log_min_error_statement = error
EOF
) || exit 1
SLOG=$REL_TMP/pg.log
pq "$P" postgres <<SQL || exit 1
CREATE EXTENSION encrypted_column;
CREATE ROLE app LOGIN;
CREATE TABLE t (id serial, owner text, c encrypted_text);
GRANT ALL ON t, t_id_seq TO app;
SQL

# Start PgBouncer $1 on a free port after $2, extra [pgbouncer] lines on stdin.
bouncer_start() {
	local name=$1 port
	port=$(free_port "$2") || return 1
	printf '"app" ""\n"postgres" ""\n' >"$REL_TMP/users.txt"
	{
		echo "[databases]"
		echo "tx1 = host=127.0.0.1 port=$P dbname=postgres pool_mode=transaction pool_size=1"
		echo "tx3 = host=127.0.0.1 port=$P dbname=postgres pool_mode=transaction pool_size=3"
		echo "sess = host=127.0.0.1 port=$P dbname=postgres pool_mode=session pool_size=1"
		echo "[pgbouncer]"
		echo "listen_addr = 127.0.0.1"
		echo "listen_port = $port"
		echo "unix_socket_dir ="
		echo "auth_type = trust"
		echo "auth_file = $REL_TMP/users.txt"
		echo "logfile = $REL_TMP/$name.log"
		echo "pidfile = $REL_TMP/$name.pid"
		cat
	} >"$REL_TMP/$name.ini"
	((EUID == 0)) && chown postgres: "$REL_TMP/users.txt" "$REL_TMP/$name.ini"
	as_pg "$PGBOUNCER" -d -q "$REL_TMP/$name.ini" || return 1
	wait_for 10 port_open "$port" || return 1
	echo "$port"
}
port_open() { ! port_free "$1"; }
BOUNCERS=()
stop_bouncers() {
	local f
	for f in "${BOUNCERS[@]}"; do
		[[ -s $f ]] && kill "$(cat "$f")" 2>/dev/null
	done
	rel_cleanup
}
trap stop_bouncers EXIT

B=$(bouncer_start strict $((P + 1)) </dev/null) || { echo "PgBouncer did not start"; exit 1; }
BOUNCERS+=("$REL_TMP/strict.pid")
L=$(bouncer_start lenient $((B + 1)) <<<"ignore_startup_parameters = options") ||
	{ echo "PgBouncer did not start"; exit 1; }
BOUNCERS+=("$REL_TMP/lenient.pid")
BLOG=$REL_TMP/strict.log
say "server on $P, PgBouncer $("$PGBOUNCER" --version | head -n 1 | awk '{print $2}') on $B (strict) and $L (ignore_startup_parameters = options)"

# psql through a PgBouncer: bq PORT DB [psql args...], as app, verbose errors.
bq() {
	local port=$1 db=$2
	shift 2
	"$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		-h 127.0.0.1 -p "$port" -U app -d "$db" "$@"
}

# ---- the recommended set-up: transaction mode, key per transaction ----
soff=$(file_size "$SLOG")
out=$REL_TMP/clients.out
EC_HOST=127.0.0.1 EC_PORT=$B EC_DB_SHARED=tx1 EC_DB_POOL=tx3 EC_KEY1=$KEY1 EC_KEY2=$KEY2 \
	timeout 120 /usr/bin/python3 "$REL_DIR/pooler/clients.py" >"$out" 2>&1
rc=$?
cat "$out"
REL_PASS=$((REL_PASS + $(grep -c '^ok ' "$out")))
REL_FAIL=$((REL_FAIL + $(grep -c '^NOT OK' "$out")))
check "the psycopg 3 clients ran to the end" [ "$rc" = 0 ]
check "they ran through PgBouncer's transaction pool" grep -q 'tx1' "$BLOG"
check "the server saw the per-transaction set_config() calls" \
	has_since "$SLOG" "$soff" 'set_config\(.encrypted_column\.key., \$1, true\)'
# the Python package's per-transaction key, through the shared connection
pyout=$REL_TMP/pytest.out
# (from python/, so that the build's encrypted_column.so in the top folder
# does not shadow the package)
(cd "$REPO_DIR/python" && PGHOST=127.0.0.1 PGPORT=$B PGUSER=postgres PGDATABASE=tx1 EC_PYTEST_POOLED=1 \
	PYTHONPATH=. PYTHONDONTWRITEBYTECODE=1 timeout 120 /usr/bin/python3 -m pytest -p no:cacheprovider -q \
	tests/test_transaction_key.py) >"$pyout" 2>&1
rc=$?
tail -n 3 "$pyout"
check "pytest of the per-transaction key through PgBouncer passed" [ "$rc" = 0 ]
check "pytest ran its tests (none skipped)" not grep -q -E "skipped|no tests ran" "$pyout"
check_eq "recommended set-up: no key in the server log (log_statement = all)" 0 \
	"$(count_in <(since "$SLOG" "$soff") "$KEYS_RE")"
check_eq "recommended set-up: no run of 64 hex digits (the pytest keys) in the server log" 0 \
	"$(since "$SLOG" "$soff" | grep -a -c -E "[0-9a-fA-F]{64}")"
check_eq "recommended set-up: no key in PgBouncer's log" 0 "$(count_in "$BLOG" "$KEYS_RE")"
check_eq "recommended set-up: no plaintext in PgBouncer's log" 0 "$(count_in "$BLOG" LEAKPOOL)"

# ---- pitfall: the key as a connection option ----
# PgBouncer 1.18 refuses any options startup parameter; 1.24 reads it and
# refuses each parameter that it does not track.  Either way the client is
# refused, the key never reaches the server nor another client, and
# PgBouncer writes it into its own log.  Decided by psql's exit status (2:
# no connection) and by searching for the key, not by the messages.
for db in tx1 sess; do
	soff=$(file_size "$SLOG")
	boff=$(file_size "$BLOG")
	err=$(PGOPTIONS="-c encrypted_column.key=$KEY3" bq "$B" "$db" -c "SELECT coalesce(current_key_id(), 'none')" 2>&1)
	rc=$?
	check_eq "options startup parameter with the key: PgBouncer refuses the client ($db)" 2 "$rc"
	say "PgBouncer's answer: $(grep -o 'FATAL: .*' <<<"$err" | head -n 1)"
	check "the client's error does not carry the key ($db)" not grep -q -i -E "$(key_slices_re "$KEY3")" <<<"$err"
	check_eq "the key did not reach the server ($db)" 0 \
		"$(count_in <(since "$SLOG" "$soff") "$(key_slices_re "$KEY3")")"
	check "PgBouncer's log holds the refused key in full ($db)" has_since "$BLOG" "$boff" "$KEY3"
	got=$(bq "$B" "$db" -c "SELECT coalesce(current_key_id(), 'none')" 2>&1)
	check_eq "the next client, on the same server connection, has no key ($db)" none "$got"
done
got=$(PGOPTIONS="-c encrypted_column.key=$KEY3" bq "$L" tx1 -c "SELECT coalesce(current_key_id(), 'none')" 2>&1)
check_eq "ignore_startup_parameters = options: the client connects without a key" none "$got"
err=$(PGOPTIONS="-c encrypted_column.key=$KEY3" bq "$L" tx1 -c "INSERT INTO t (owner, c) VALUES ('x', 'y')" 2>&1)
check "ignore_startup_parameters = options: encrypting fails with 55000" grep -q "ERROR:  55000" <<<"$err"
check_eq "ignore_startup_parameters = options: the lenient PgBouncer does not log the key" 0 \
	"$(count_in "$REL_TMP/lenient.log" "$KEYS_RE")"

# track_extra_parameters (PgBouncer 1.20 and later) naming the key: the
# options parameter is accepted, but PgBouncer hands a tracked parameter
# to the server only when the server reports it (GUC_REPORT), which the
# key never is: the client gets no key, silently, as with
# ignore_startup_parameters.
ver=$("$PGBOUNCER" --version | head -n 1 | awk '{print $2}')
if T=$(bouncer_start tracking $((L + 1)) <<<"track_extra_parameters = IntervalStyle, encrypted_column.key"); then
	BOUNCERS+=("$REL_TMP/tracking.pid")
	soff=$(file_size "$SLOG")
	got=$(PGOPTIONS="-c encrypted_column.key=$KEY3" bq "$T" tx1 -c "SELECT coalesce(current_key_id(), 'none')" 2>&1)
	check_eq "track_extra_parameters = encrypted_column.key: the client connects without a key" none "$got"
	err=$(PGOPTIONS="-c encrypted_column.key=$KEY3" bq "$T" tx1 -c "INSERT INTO t (owner, c) VALUES ('x', 'y')" 2>&1)
	check "track_extra_parameters = encrypted_column.key: encrypting fails with 55000" grep -q "ERROR:  55000" <<<"$err"
	got=$(bq "$T" tx1 -c "SELECT coalesce(current_key_id(), 'none')" 2>&1)
	check_eq "track_extra_parameters = encrypted_column.key: the next client has no key" none "$got"
	check_eq "track_extra_parameters = encrypted_column.key: the key did not reach the server" 0 \
		"$(count_in <(since "$SLOG" "$soff") "$(key_slices_re "$KEY3")")"
	check_eq "track_extra_parameters = encrypted_column.key: PgBouncer does not log the key" 0 \
		"$(count_in "$REL_TMP/tracking.log" "$(key_slices_re "$KEY3")")"
elif [[ $(printf '%s\n' 1.24 "$ver" | sort -V | head -n 1) != 1.24 ]]; then
	not_applicable "track_extra_parameters = encrypted_column.key" \
		"PgBouncer $ver does not start with track_extra_parameters (added after 1.18)"
else
	check "PgBouncer $ver starts with track_extra_parameters" false
fi

# ---- pitfall: a session-level key in transaction mode ----
# P sets the key for the session (SET, or set_config(..., false)); Q, with
# no key, gets the same server connection and decrypts a's row.
for how in "SET encrypted_column.key = '$KEY1'" "SELECT set_config('encrypted_column.key', '$KEY1', false)"; do
	label=set_config
	[[ $how == SET* ]] && label=SET
	bq "$B" tx1 -c "$how" >/dev/null || exit 1
	got=$(bq "$B" tx1 -c "SELECT decrypt(c) FROM t WHERE owner = 'a'" 2>&1)
	check_eq "transaction mode, session-level $label: another client decrypts the row" LEAKPOOL-a "$got"
	bq "$B" tx1 -c "RESET encrypted_column.key" || exit 1
	got=$(bq "$B" tx1 -c "SELECT coalesce(current_key_id(), 'none')" 2>&1)
	check_eq "transaction mode, session-level $label: another client's RESET cleared it" none "$got"
done

# ---- session mode: the key stays with its client ----
for how in "SET encrypted_column.key = '$KEY1'" "SELECT set_config('encrypted_column.key', '$KEY1', false)"; do
	label=set_config
	[[ $how == SET* ]] && label=SET
	{
		echo "$how;"
		echo "SELECT pg_backend_pid();"
		echo "SELECT decrypt(c) FROM t WHERE owner = 'a';"
	} | bq "$B" sess >"$REL_TMP/sess1.out" 2>&1
	pid1=$(tail -n 2 "$REL_TMP/sess1.out" | head -n 1)
	check_eq "session mode, session-level $label: the client decrypts its row" LEAKPOOL-a \
		"$(tail -n 1 "$REL_TMP/sess1.out")"
	got=$(bq "$B" sess -c "SELECT pg_backend_pid(), coalesce(current_key_id(), 'none')" 2>&1)
	check_eq "session mode, session-level $label: the next client gets the same server connection without the key" \
		"$pid1|none" "$got"
	err=$(bq "$B" sess -c "SELECT decrypt(c) FROM t WHERE owner = 'a'" 2>&1)
	check "session mode, session-level $label: the next client cannot decrypt (55000)" grep -q "ERROR:  55000" <<<"$err"
done
check "server_reset_query (DISCARD ALL) ran between the two clients" \
	grep -q "DISCARD ALL" "$SLOG"

# ---- stored keys: a server-side KEK, key_name per transaction ----
# Two tenants' transactions, each naming its stored key with SET LOCAL
# encrypted_column.key_name, interleave on the one server connection of
# tx1; each value is under its own tenant's key id, and neither the KEK
# nor a data key (tenant2 is KEY2, imported from a connection option)
# reaches the server log or PgBouncer's.
# (set here, as an operator would: with a source set, a keyless session
# that decrypts a raw key's value gets 42704, no stored key, where the
# checks above want 55000)
pq "$P" postgres -c "ALTER SYSTEM SET encrypted_column.kek_source = 'file:$REL_TMP/kek'" \
	-c "SELECT pg_reload_conf()" >/dev/null || exit 1
kek_set() { [[ $(pq "$P" postgres -c "SHOW encrypted_column.kek_source") == "file:$REL_TMP/kek" ]]; }
check "stored keys: kek_source set to the file and reloaded" wait_for 20 kek_set
soff=$(file_size "$SLOG")
boff=$(file_size "$BLOG")
pq "$P" postgres -c "SELECT create_key('tenant1')" >/dev/null || exit 1
PGOPTIONS="-c encrypted_column.key=$KEY2" pq "$P" postgres -c "SELECT import_key('tenant2')" >/dev/null || exit 1
pq "$P" postgres <<SQL >/dev/null || exit 1
SELECT grant_key('tenant1', 'app'), grant_key('tenant2', 'app');
CREATE TABLE st (id serial, tenant text, pid int, named text, c encrypted_text);
GRANT ALL ON st, st_id_seq TO app;
SQL
tenant_tx() {
	local t=$1 i
	for ((i = 1; i <= 20; i++)); do
		bq "$B" tx1 -c "BEGIN" -c "SET LOCAL encrypted_column.key_name = '$t'" \
			-c "INSERT INTO st (tenant, pid, named, c) VALUES ('$t', pg_backend_pid(),
				current_setting('encrypted_column.key_name'), 'STSECRET-$t-$i')" -c "COMMIT" || return 1
	done
}
tenant_tx tenant1 >"$REL_TMP/tenant1.out" 2>&1 &
w1=$!
tenant_tx tenant2 >"$REL_TMP/tenant2.out" 2>&1 &
w2=$!
wait "$w1"; r1=$?
wait "$w2"; r2=$?
check "stored keys: both tenants' transactions ran through PgBouncer" [ "$r1$r2" = 00 ]
check_eq "stored keys: every transaction stored its row" 40 "$(pq "$P" postgres -c "SELECT count(*) FROM st")"
check_eq "stored keys: both tenants used the same single server connection" "1|1|1" \
	"$(pq "$P" postgres -c "SELECT count(DISTINCT pid), count(DISTINCT pid) FILTER (WHERE tenant = 'tenant1'),
		count(DISTINCT pid) FILTER (WHERE tenant = 'tenant2') FROM st")"
switches=$(pq "$P" postgres -c "SELECT count(*) FROM (SELECT tenant <> lag(tenant) OVER (ORDER BY id) AS sw FROM st) x WHERE sw")
say "stored keys: the tenant changed $switches times between consecutive transactions"
check "stored keys: the two tenants' transactions interleaved" [ "$switches" -ge 2 ]
check_eq "stored keys: each transaction saw only its own key_name" 0 \
	"$(pq "$P" postgres -c "SELECT count(*) FROM st WHERE named <> tenant")"
check_eq "stored keys: each value is under its own tenant's key id" 0 \
	"$(pq "$P" postgres -c "SELECT count(*) FROM st JOIN stored_keys k ON k.name = st.tenant
		WHERE key_id(c) <> k.key_id")"
check_eq "stored keys: each value decrypts through PgBouncer" 0 \
	"$(bq "$B" tx1 -c "SELECT count(*) FROM st WHERE decrypt(c) NOT LIKE 'STSECRET-' || tenant || '-%'")"
check_eq "stored keys: after the transactions the server connection has no key_name" "none" \
	"$(bq "$B" tx1 -c "SELECT coalesce(nullif(current_setting('encrypted_column.key_name'), ''), 'none')")"
SKEK_RE=$(key_slices_re "$SKEK" "$KEY2")
check_eq "stored keys: no KEK nor data key in the server log" 0 "$(count_in <(since "$SLOG" "$soff") "$SKEK_RE")"
check_eq "stored keys: no KEK nor data key in PgBouncer's log" 0 "$(count_in <(since "$BLOG" "$boff") "$SKEK_RE")"
check_eq "stored keys: the KEK appears in no log at all" 0 \
	"$(cat "$SLOG" "$REL_TMP"/*.log | count_in /dev/stdin "$(key_slices_re "$SKEK")")"
check_eq "stored keys: no plaintext in PgBouncer's log" 0 "$(count_in "$BLOG" STSECRET)"

check "no backend crashed" no_crash "$SLOG"
say "figures: $(wc -l <"$SLOG") server log lines, $(wc -l <"$BLOG") PgBouncer log lines searched"
rel_finish
