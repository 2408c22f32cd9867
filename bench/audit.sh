#!/usr/bin/env bash
# The cost of counting stored-key use (key_audit), as a ratio against the
# same scan on a server that does not preload the library, which counts
# nothing, measured in the same run.
#
#   bash bench/audit.sh [--reps N] [--rows N] [--out FILE]
#
# Needs the extension built and installed for the pg_config on PATH (or
# PG_CONFIG).  Starts two throwaway clusters side by side, one with the
# library in shared_preload_libraries and one without, both with a
# session KEK; in each, one stored key encrypts --rows values (default
# 100,000).  Each repetition times, with psql's \timing, a scan that
# decrypts every value on both clusters in turn (the order alternating),
# each after a first scan in the same session; prints a Markdown table (median seconds of --reps runs, and the
# ratio preloaded / not preloaded) and writes it to --out (default
# bench/results/audit.md).  It also checks that the preloaded cluster
# counted every value.  It is a benchmark, not a test: CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=9
rows=100000
out=bench/results/audit.md
while (($#)); do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--rows) rows=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: $0 [--reps N] [--rows N] [--out FILE]" >&2; exit 2 ;;
	esac
done
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)
PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
export PG_BINDIR PG_MAJOR
REL_NAME=bench-audit
source test/suites/lib.sh
rel_init

# a KEK for the benchmark only
KEK=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
SETTINGS="encrypted_column.kek_source = 'session'
shared_buffers = 256MB
max_parallel_workers_per_gather = 0
autovacuum = off"

ON=$(cluster_up on 55530 <<<"$SETTINGS
shared_preload_libraries = 'encrypted_column'") || exit 1
OFF=$(cluster_up off $((ON + 1)) <<<"$SETTINGS") || exit 1

for port in "$ON" "$OFF"; do
	pq "$port" postgres -c "SET encrypted_column.kek = '$KEK'" \
		-c "CREATE EXTENSION encrypted_column" \
		-c "SELECT create_key('bench')" \
		-c "SET encrypted_column.key_name = 'bench'" \
		-c "CREATE TABLE t (v encrypted_text)" \
		-c "INSERT INTO t SELECT 'value ' || i FROM generate_series(1, $rows) i" \
		-c "VACUUM ANALYZE t" >/dev/null
done

# The median of the numbers on standard input.
median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

SCAN="SELECT count(decrypt(v)) FROM t"
# Seconds of one decrypting scan on the cluster on port $1, as psql's
# \timing reports it, after a first scan in the same session (which loads
# the library where it is not preloaded and unwraps the key), so that
# neither is timed.
run_once() {
	"$PG_BINDIR/psql" -X -q -h "$REL_TMP" -p "$1" -U postgres -d postgres \
		-c "SET encrypted_column.kek = '$KEK'" -c "$SCAN" -c '\timing on' -c "$SCAN" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{ print $1 / 1000 }'
}

run_once "$ON" >/dev/null
run_once "$OFF" >/dev/null
pq "$ON" postgres -c "SELECT key_audit_reset()" >/dev/null
: >"$REL_TMP/on.txt"
: >"$REL_TMP/off.txt"
for ((i = 0; i < reps; i++)); do
	if ((i % 2)); then
		run_once "$OFF" >>"$REL_TMP/off.txt"
		run_once "$ON" >>"$REL_TMP/on.txt"
	else
		run_once "$ON" >>"$REL_TMP/on.txt"
		run_once "$OFF" >>"$REL_TMP/off.txt"
	fi
done
counted=$(pq "$ON" postgres -c "SELECT sum(decrypts) FROM key_audit")
[[ $counted == $((2 * reps * rows)) ]] ||
	{ echo "the preloaded cluster counted $counted decryptions, not $((2 * reps * rows))" >&2; exit 1; }
off=$(median <"$REL_TMP/off.txt")
on=$(median <"$REL_TMP/on.txt")
{
	echo "# Cost of counting stored-key use (PostgreSQL $PG_MAJOR, median of $reps runs)"
	echo
	echo "Seconds for one scan that decrypts $rows values under one stored key"
	echo "(psql's \\timing, the second scan of a session), on a cluster that does"
	echo "not preload the library (nothing counted) and on one that does (every"
	echo "value counted: $counted in all); ratio = preloaded / not."
	echo
	echo "| scan | not preloaded (s) | preloaded (s) | ratio |"
	echo "|---|---|---|---|"
	printf '| decrypt %s values | %.3f | %.3f | %.3f |\n' "$rows" "$off" "$on" \
		"$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')"
} | tee "$REL_TMP/table.md"
mkdir -p "$(dirname "$out")"
cp "$REL_TMP/table.md" "$out"
