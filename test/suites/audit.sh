#!/usr/bin/env bash
# Who used which stored key: the key_audit view, on one cluster started
# three times.
#   - preloaded, with a session KEK: two stored keys, two roles granted
#     them; each role encrypts and decrypts known numbers of values, also
#     in a parallel query whose workers do all the decrypting and in a
#     transaction that is rolled back (a use is a use); the view shows the
#     exact counts per (role, key), with the key's name and version; a raw
#     key is not counted; key_audit_reset() starts a new period;
#   - the view and the reset are refused (42501) to a role without the
#     privilege; a member of pg_read_all_stats reads the view but cannot
#     reset;
#   - with encrypted_column.audit_max_entries = 2: the uses of a third
#     (role, key) pair go to the database's overflow entry (role NULL, key
#     id 00000000);
#   - not preloaded: the view has no rows and says why in a NOTICE, and
#     nothing is counted.
REL_NAME=audit
source "$(dirname "$0")/lib.sh"
rel_init

# A session KEK for the tests only.
KEK=5f1d2a9c3b7e4d6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5

PORT=$(cluster_up main "$(cd "$REPO_DIR" && scripts/free-port)" <<CONF
shared_preload_libraries = 'encrypted_column'
encrypted_column.kek_source = 'session'
max_worker_processes = 8
max_parallel_workers = 4
CONF
) || exit 1
say "cluster on port $PORT"

# psql as a role, in database app, with the session KEK set first:
# as ROLE [psql args...]; output and errors together.
as() {
	local role=$1
	shift
	"$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$REL_TMP" -p "$PORT" \
		-U "$role" -d app -c "SET encrypted_column.kek = '$KEK'" "$@" 2>&1
}

# The counts of this database, one line per (role, key): role|key name|
# version|encrypts|decrypts.
COUNTS="SELECT coalesce(role::text, '-') || '|' || coalesce(key_name, '-') || '|' ||
		coalesce(key_version::text, '-') || '|' || encrypts || '|' || decrypts
	FROM encrypted_column.key_audit WHERE database = current_database()
	ORDER BY role, key_name"

pq "$PORT" postgres <<SQL || exit 1
CREATE DATABASE app;
CREATE ROLE r1 LOGIN;
CREATE ROLE r2 LOGIN;
CREATE ROLE nobody LOGIN;
CREATE ROLE watcher LOGIN IN ROLE pg_read_all_stats;
SQL
as postgres -f - >/dev/null <<SQL || exit 1
CREATE SCHEMA encrypted_column;
CREATE EXTENSION encrypted_column SCHEMA encrypted_column;
SELECT encrypted_column.create_key('tenant_a');
SELECT encrypted_column.create_key('tenant_b');
SELECT encrypted_column.grant_key('tenant_a', 'r1', 'all');
SELECT encrypted_column.grant_key('tenant_b', 'r1', 'all');
SELECT encrypted_column.grant_key('tenant_a', 'r2', 'all');
CREATE TABLE ta (v encrypted_column.encrypted_text);
CREATE TABLE tb (v encrypted_column.encrypted_text);
CREATE TABLE par (v encrypted_column.encrypted_text);
GRANT USAGE ON SCHEMA encrypted_column TO PUBLIC;
GRANT SELECT, INSERT ON ta, tb, par TO r1, r2;
SQL
ID_A=$(as postgres -c "SELECT key_id FROM encrypted_column.stored_keys WHERE name = 'tenant_a'" | tail -n 1)

check_eq "the view starts empty after a reset" "0" \
	"$(pq "$PORT" app -c "SELECT encrypted_column.key_audit_reset() IS NOT NULL" \
		-c "SELECT count(*) FROM encrypted_column.key_audit" | tail -n 1)"

# r1: 10 values under tenant_a, 7 under tenant_b, 2000 under tenant_b for
# the parallel scan; reads back tenant_a's 10, and the 2000 in a parallel
# plan whose leader takes no part.
out=$(as r1 -c "SET encrypted_column.key_name = 'tenant_a'" \
	-c "INSERT INTO ta SELECT 'a' || i FROM generate_series(1, 10) i" \
	-c "SET encrypted_column.key_name = 'tenant_b'" \
	-c "INSERT INTO tb SELECT 'b' || i FROM generate_series(1, 7) i" \
	-c "INSERT INTO par SELECT 'p' || i FROM generate_series(1, 2000) i" \
	-c "SELECT count(encrypted_column.decrypt(v)) FROM ta")
check "r1 wrote and read" not grep -q ERROR <<<"$out"
pq "$PORT" app -c "ANALYZE par" || exit 1
PARALLEL=(-c "SET max_parallel_workers_per_gather = 2" -c "SET parallel_setup_cost = 0"
	-c "SET parallel_tuple_cost = 0" -c "SET min_parallel_table_scan_size = 0"
	-c "SET parallel_leader_participation = off")
QUERY="SELECT count(*) FROM par WHERE encrypted_column.decrypt(v) LIKE 'p%'"
out=$(as r1 "${PARALLEL[@]}" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $QUERY")
check "the decrypting scan ran in parallel workers" grep -q "Workers Launched: [1-9]" <<<"$out"
# (EXPLAIN ANALYZE decrypted the 2000 values once; the query does it again)
out=$(as r1 "${PARALLEL[@]}" -c "$QUERY")
check_eq "the parallel query saw every value" "2000" "$(tail -n 1 <<<"$out")"

# r2: 5 values under tenant_a, then 3 more in a transaction rolled back;
# reads 4 of tenant_a's values, the last 2 in a rolled-back transaction.
out=$(as r2 -c "SET encrypted_column.key_name = 'tenant_a'" \
	-c "INSERT INTO ta SELECT 'c' || i FROM generate_series(1, 5) i" \
	-c "BEGIN" -c "INSERT INTO ta SELECT 'd' || i FROM generate_series(1, 3) i" -c "ROLLBACK" \
	-c "SELECT count(encrypted_column.decrypt(v)) FROM (SELECT v FROM ta LIMIT 2) s" \
	-c "BEGIN" -c "SELECT count(encrypted_column.decrypt(v)) FROM (SELECT v FROM ta LIMIT 2) s" \
	-c "ROLLBACK")
check "r2 wrote and read" not grep -q ERROR <<<"$out"

# a raw key is not counted
out=$(as r1 -c "SET encrypted_column.key = '$KEY1'" \
	-c "SELECT count(encrypted_column.decrypt(encrypted_column.encrypt('raw' || i))) FROM generate_series(1, 9) i")
check "r1 used a raw key" grep -qx 9 <<<"$out"

WANT="r1|tenant_a|1|10|10
r1|tenant_b|1|2007|4000
r2|tenant_a|1|8|4"
check_eq "exact counts per role and stored key" "$WANT" "$(pq "$PORT" app -c "$COUNTS" | tr '\n' '#' | sed 's/#$//' | tr '#' '\n')"
check_eq "the key id of tenant_a's row" "$ID_A" \
	"$(pq "$PORT" app -c "SELECT key_id FROM encrypted_column.key_audit WHERE key_name = 'tenant_a' AND role = 'r1'")"
check_eq "first and last use are set, within the period" "t" \
	"$(pq "$PORT" app -c "SELECT bool_and(since <= first_use AND first_use <= last_use AND last_use <= now()) FROM encrypted_column.key_audit")"

# the documented question: who used tenant_a's key this month
ANSWER=$(pq "$PORT" app -c "SELECT role, encrypts + decrypts FROM encrypted_column.key_audit
	WHERE key_name = 'tenant_a' AND database = current_database()
	  AND last_use >= date_trunc('month', now()) ORDER BY role")
check_eq "who used tenant_a's key this month" "r1|20 r2|12" "$(tr '\n' ' ' <<<"$ANSWER" | sed 's/ $//')"

# ---- privileges ----
check_eq "a role without the privilege cannot read the view" "42501" \
	"$(sqlstate "$PORT" app -U nobody -c "SELECT * FROM encrypted_column.key_audit")"
check_eq "... nor call key_audit()" "42501" \
	"$(sqlstate "$PORT" app -U nobody -c "SELECT * FROM encrypted_column.key_audit()")"
check_eq "... nor reset" "42501" \
	"$(sqlstate "$PORT" app -U nobody -c "SELECT encrypted_column.key_audit_reset()")"
check_eq "a member of pg_read_all_stats reads the view, key names included" "3|3" \
	"$("$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PORT" -U watcher -d app \
		-c "SELECT count(*), count(key_name) FROM encrypted_column.key_audit WHERE database = current_database()" 2>&1)"
check_eq "... but cannot reset" "42501" \
	"$(sqlstate "$PORT" app -U watcher -c "SELECT encrypted_column.key_audit_reset()")"

# ---- reset ----
BEFORE=$(pq "$PORT" app -c "SELECT max(since) FROM encrypted_column.key_audit")
check_eq "reset empties the view" "0" \
	"$(pq "$PORT" app -c "SELECT encrypted_column.key_audit_reset() > '$BEFORE'" \
		-c "SELECT count(*) FROM encrypted_column.key_audit" | tail -n 1)"
as r2 -c "SELECT count(encrypted_column.decrypt(v)) FROM (SELECT v FROM ta LIMIT 3) s" >/dev/null
# a new version of tenant_b encrypts from now on: a row of its own
as postgres -c "SELECT encrypted_column.rotate_key('tenant_b')" >/dev/null
as r1 -c "SET encrypted_column.key_name = 'tenant_b'" \
	-c "INSERT INTO tb SELECT 'f' || i FROM generate_series(1, 2) i" >/dev/null
WANT="r1|tenant_b|2|2|0
r2|tenant_a|1|0|3"
check_eq "counting starts again after a reset, per key version" "$WANT" "$(pq "$PORT" app -c "$COUNTS")"
check_eq "since is the reset" "t" \
	"$(pq "$PORT" app -c "SELECT bool_and(since > '$BEFORE') FROM encrypted_column.key_audit")"

# ---- overflow: two entries, three (role, key) pairs ----
echo "encrypted_column.audit_max_entries = 2" | as_pg tee -a "$REL_TMP/main/postgresql.conf" >/dev/null
cluster_stop main || exit 1
PORT=$(cluster_start_free main "$PORT") || exit 1
check_eq "a restart starts an empty period" "0" \
	"$(pq "$PORT" app -c "SELECT count(*) FROM encrypted_column.key_audit")"
as r1 -c "SELECT count(encrypted_column.decrypt(v)) FROM ta" >/dev/null
as r1 -c "SELECT count(encrypted_column.decrypt(v)) FROM tb WHERE encrypted_column.key_id(v) =
	(SELECT key_id FROM encrypted_column.stored_keys WHERE name = 'tenant_b' AND version = 1)" >/dev/null
as r2 -c "SELECT count(encrypted_column.decrypt(v)) FROM (SELECT v FROM ta LIMIT 6) s" >/dev/null
as r2 -c "SET encrypted_column.key_name = 'tenant_a'" -c "INSERT INTO ta VALUES ('e1')" >/dev/null
WANT="r1|tenant_a|1|0|15
r1|tenant_b|1|0|7
-|-|-|1|6"
check_eq "the third pair is counted in the overflow entry" "$WANT" \
	"$(pq "$PORT" app -c "$COUNTS")"
check_eq "the overflow entry's key id" "00000000" \
	"$(pq "$PORT" app -c "SELECT key_id FROM encrypted_column.key_audit WHERE role IS NULL")"

# ---- not preloaded ----
echo "shared_preload_libraries = ''" | as_pg tee -a "$REL_TMP/main/postgresql.conf" >/dev/null
cluster_stop main || exit 1
PORT=$(cluster_start_free main "$PORT") || exit 1
as r1 -c "SELECT count(encrypted_column.decrypt(v)) FROM ta" >/dev/null
out=$("$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PORT" -U postgres -d app \
	-c "SELECT count(*) FROM encrypted_column.key_audit" 2>&1)
check "not preloaded: the view has no rows" grep -qx 0 <<<"$out"
check "... and a NOTICE says the library must be preloaded" \
	grep -q "NOTICE:.*not preloaded" <<<"$out"
check_eq "... once per query" "1" "$(grep -c NOTICE <<<"$out")"
out=$("$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PORT" -U postgres -d app \
	-c "SELECT encrypted_column.key_audit_reset() IS NULL" 2>&1)
check "... and the reset returns NULL with the NOTICE" grep -qx t <<<"$out"

check "no crash in the server log" no_crash "$REL_TMP/main.log"
rel_finish
