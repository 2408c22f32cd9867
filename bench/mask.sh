#!/usr/bin/env bash
# The cost of masking keys in statement text, as a ratio against the same
# statement with the library not loaded, measured in the same run.
#
#   bash bench/mask.sh [--reps N] [--out FILE]
#
# Needs the extension built and installed for the pg_config on PATH (or
# PG_CONFIG).  Starts one throwaway cluster with log_statement = 'all'
# (the log hook masks every statement it logs) and times, with psql, each
# statement twice per repetition: in a session that loads encrypted_column
# (session_preload_libraries) and in one that does not.  Statements:
#   - a DO block whose body holds a string of 64-digit hex runs (each one
#     a range the masking must handle), at 256 kB, 1 MB and 4 MB;
#   - one message of 2,000 and of 20,000 INSERTs (a multi-statement
#     string: every statement is analysed and run on its own).
# Prints a Markdown table (median seconds of --reps runs, and the ratio
# loaded / not loaded) and writes it to --out (default
# bench/results/mask.md).  Linear masking shows as a ratio that stays flat
# as the size grows.  It is a benchmark, not a test: CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=5
out=bench/results/mask.md
while (($#)); do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: $0 [--reps N] [--out FILE]" >&2; exit 2 ;;
	esac
done
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)
PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
export PG_BINDIR PG_MAJOR
REL_NAME=bench-mask
source test/suites/lib.sh
rel_init

PORT=$(cluster_up mask 55520 <<EOF
log_statement = 'all'
log_line_prefix = '%m [%p] '
EOF
) || exit 1
pq "$PORT" postgres -c "CREATE EXTENSION encrypted_column" -c "CREATE TABLE ins (n int)" >/dev/null

# The median of the numbers on standard input.
median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Seconds psql takes to run file $2, with the library loaded ($1 = yes) or not.
run_once() {
	local opts="-c client_min_messages=warning" t0 t1
	[[ $1 == yes ]] && opts="$opts -c session_preload_libraries=encrypted_column"
	t0=$(date +%s.%N)
	PGOPTIONS="$opts" "$PG_BINDIR/psql" -X -q -h "$REL_TMP" -p "$PORT" -U postgres -d postgres \
		-f "$2" >/dev/null 2>&1
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

# One table row: label, statement file.
measure() {
	local label=$1 file=$2 off on i
	off=$(for ((i = 0; i < reps; i++)); do run_once no "$file"; done | median)
	on=$(for ((i = 0; i < reps; i++)); do run_once yes "$file"; done | median)
	printf '| %s | %.3f | %.3f | %.2f |\n' "$label" "$off" "$on" "$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')"
}

key=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
do_block() {
	local runs=$(($1 / 65)) i
	printf 'DO $$BEGIN PERFORM length(%s' "'"
	for ((i = 0; i < runs; i++)); do printf '%s ' "$key"; done
	printf "');\\nEND\\$\\$;\\n"
}
inserts() {
	local i
	# one line: psql sends it as one message
	for ((i = 0; i < $1; i++)); do printf 'INSERT INTO ins VALUES (%d); ' "$i"; done
	printf 'TRUNCATE ins;\n'
}

{
	echo "# Masking cost (PostgreSQL $PG_MAJOR, median of $reps runs, log_statement = all)"
	echo
	echo "Seconds per statement as psql sees it, in a session without the"
	echo "library and in one that loads it; ratio = loaded / not loaded."
	echo
	echo "| statement | not loaded (s) | loaded (s) | ratio |"
	echo "|---|---|---|---|"
	for size in 262144 1048576 4194304; do
		do_block "$size" >"$REL_TMP/do.sql"
		measure "DO block, $((size / 1024)) kB of hex runs" "$REL_TMP/do.sql"
	done
	for n in 2000 20000; do
		inserts "$n" >"$REL_TMP/ins.sql"
		measure "$n INSERTs in one message" "$REL_TMP/ins.sql"
	done
} | tee "$REL_TMP/table.md"
mkdir -p "$(dirname "$out")"
cp "$REL_TMP/table.md" "$out"
