#!/usr/bin/env bash
# Benchmark encrypted columns on a Citus cluster against plain text on the
# same cluster, in the same run.
#
#   bash bench/citus.sh            1,000,000 rows, 3 repetitions (a few minutes)
#   BENCH_ROWS=100000 bash bench/citus.sh
#
# Starts the test suite's cluster (a coordinator and two workers on
# loopback, TLS with a test CA, see test/suites/citus_lib.sh), then, for
# tables distributed by an int id with a plain text, an encrypted_text and
# an encrypted_text_det column:
#   - INSERT ... SELECT of BENCH_ROWS rows through the coordinator, which
#     encrypts them and copies them to the shards;
#   - a multi-shard aggregate that filters on the column (decrypt() on the
#     shards, in a transaction block, or the plain column);
# and, for tables distributed by the column itself, pgbench lookups by a
# literal for 10 seconds (4 clients), each routed to one shard; for the
# deterministic column also by a literal typed text.
# Needs Citus installed for the server's PostgreSQL (it is not in Debian's
# archive).  Results: bench/results/citus.md.  Not run by CI.
set -uo pipefail
REL_NAME=bench-citus
source "$(dirname "$0")/../test/suites/lib.sh"
[[ -f $("$PG_BINDIR/pg_config" --pkglibdir)/citus.so ]] ||
	{ echo "Citus is not installed for PostgreSQL $PG_MAJOR"; exit 1; }
rel_init
CITUS_EXTRA_CONF="shared_buffers = '1GB'"
source "$REPO_DIR/test/suites/citus_lib.sh"
citus_cluster || exit 1

ROWS=${BENCH_ROWS:-1000000}
REPS=${BENCH_REPS:-3}
OUT=$REPO_DIR/bench/results/citus.md
export PGOPTIONS="-c encrypted_column.key=$KEY1"

# median of the numbers on standard input
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# seconds one psql run takes
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	pq "$PC" app "$@" >/dev/null || exit 1
	t1=$(date +%s.%N)
	printf '%.3f\n' "$(echo "$t1 - $t0" | bc -l)"
}

for kind in text encrypted_text encrypted_text_det; do
	pq "$PC" app -c "CREATE TABLE t_$kind (id int PRIMARY KEY, email $kind)" \
		-c "SELECT create_distributed_table('t_$kind', 'id')" >/dev/null || exit 1
done

declare -A INS AGG
for kind in text encrypted_text encrypted_text_det; do
	filter="email LIKE '%7@example.com'"
	[[ $kind != text ]] && filter="decrypt(email) LIKE '%7@example.com'"
	for ((r = 0; r < REPS; r++)); do
		pq "$PC" app -c "TRUNCATE t_$kind" >/dev/null
		timed -c "INSERT INTO t_$kind SELECT g, 'user' || g || '@example.com' FROM generate_series(1, $ROWS) g"
	done | median >"$REL_TMP/ins"
	INS[$kind]=$(cat "$REL_TMP/ins")
	check_eq "t_$kind holds $ROWS rows" "$ROWS" "$(pq "$PC" app -c "SELECT count(*) FROM t_$kind")"
	for ((r = 0; r < REPS; r++)); do
		timed -c "BEGIN" -c "SELECT count(*) FROM t_$kind WHERE $filter" -c "COMMIT"
	done | median >"$REL_TMP/agg"
	AGG[$kind]=$(cat "$REL_TMP/agg")
	say "$kind: INSERT ${INS[$kind]} s, aggregate ${AGG[$kind]} s"
done

# routed lookups: tables distributed by the column
declare -A TPS
for kind in text encrypted_text_det; do
	pq "$PC" app -c "CREATE TABLE l_$kind (email $kind PRIMARY KEY, id int)" \
		-c "SELECT create_distributed_table('l_$kind', 'email')" \
		-c "INSERT INTO l_$kind SELECT 'user' || g || '@example.com', g FROM generate_series(1, $ROWS) g" \
		>/dev/null || exit 1
	printf '%s\n' "\\set i random(1, $ROWS)" \
		"SELECT id FROM l_$kind WHERE email = 'user:i@example.com';" >"$REL_TMP/look_$kind.sql"
	check_eq "a lookup on l_$kind routes to one shard" "1" \
		"$(pq "$PC" app -c "EXPLAIN (COSTS OFF) SELECT id FROM l_$kind WHERE email = 'user7@example.com'" |
			sed -n -E 's/^ *Task Count: ([0-9]+)$/\1/p')"
	TPS[$kind]=$("$PG_BINDIR/pgbench" -n -T 10 -c 4 -j 2 -f "$REL_TMP/look_$kind.sql" \
		-h "$REL_TMP" -p "$PC" -U postgres app 2>/dev/null |
		sed -n -E 's/^tps = ([0-9]+)\..*/\1/p')
	say "$kind: routed lookups ${TPS[$kind]} tps"
done
# the same lookups by a text literal, which the coordinator plans as the
# envelope under the key (one shard, as the untyped literal)
printf '%s\n' "\\set i random(1, $ROWS)" \
	"SELECT id FROM l_encrypted_text_det WHERE email = 'user:i@example.com'::text;" >"$REL_TMP/look_text_literal.sql"
check_eq "a lookup by a text literal routes to one shard" "1" \
	"$(pq "$PC" app -c "EXPLAIN (COSTS OFF) SELECT id FROM l_encrypted_text_det WHERE email = 'user7@example.com'::text" |
		sed -n -E 's/^ *Task Count: ([0-9]+)$/\1/p')"
TPS[det_text]=$("$PG_BINDIR/pgbench" -n -T 10 -c 4 -j 2 -f "$REL_TMP/look_text_literal.sql" \
	-h "$REL_TMP" -p "$PC" -U postgres app 2>/dev/null |
	sed -n -E 's/^tps = ([0-9]+)\..*/\1/p')
say "encrypted_text_det by a text literal: routed lookups ${TPS[det_text]} tps"

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
{
	echo "# Citus: encrypted columns against plain text"
	echo
	echo "$(date -u +%Y-%m-%d), PostgreSQL $PG_MAJOR, Citus $(pq "$PC" app -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'"),"
	echo "a coordinator and two workers on one $(nproc)-core machine (loopback, TLS),"
	echo "$ROWS rows, median of $REPS runs; \`bash bench/citus.sh\`."
	echo
	echo "| measure | text | encrypted_text | encrypted_text_det | ratio (encrypted_text / text) | ratio (det / text) |"
	echo "|---|---|---|---|---|---|"
	echo "| INSERT ... SELECT of $ROWS rows, s | ${INS[text]} | ${INS[encrypted_text]} | ${INS[encrypted_text_det]} | $(ratio "${INS[encrypted_text]}" "${INS[text]}") | $(ratio "${INS[encrypted_text_det]}" "${INS[text]}") |"
	echo "| multi-shard aggregate filtering on the column, s | ${AGG[text]} | ${AGG[encrypted_text]} | ${AGG[encrypted_text_det]} | $(ratio "${AGG[encrypted_text]}" "${AGG[text]}") | $(ratio "${AGG[encrypted_text_det]}" "${AGG[text]}") |"
	echo "| routed lookup by the distribution column, tps (4 clients) | ${TPS[text]} | | ${TPS[encrypted_text_det]} | | $(ratio "${TPS[encrypted_text_det]}" "${TPS[text]}") |"
	echo "| ... by a \`::text\` literal, tps (4 clients) | ${TPS[text]} | | ${TPS[det_text]} | | $(ratio "${TPS[det_text]}" "${TPS[text]}") |"
} >"$OUT"
cat "$OUT"
rel_finish
