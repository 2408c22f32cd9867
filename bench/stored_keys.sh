#!/usr/bin/env bash
# The cost of stored keys (0.4.0), in one run, against raw keys where there
# is one to compare with.
#
#   bash bench/stored_keys.sh [--reps N] [--out FILE]
#
# Needs the extension built and installed for the pg_config on PATH (or
# PG_CONFIG).  Starts one throwaway cluster (library preloaded, autovacuum
# off, shared buffers holding every table) whose key-encryption key comes
# from a file (file:PATH) or a command (command:cat PATH), and measures:
#   (i)   INSERT of 50,000 rows and a decrypting scan of them, with a
#         stored key (key_name) and with the same work under a raw key
#         (encrypted_column.key); median of --reps runs, ratio stored/raw;
#   (ii)  a stored key's first use in a new session (the KEK read from its
#         source, the data key unwrapped), file and command sources, and a
#         raw key's first use for comparison: the server-side time of the
#         session's first decrypt() (psql's \timing), median of 50 sessions;
#   (iii) create_key of 10,000 keys in one statement, rotate_kek over those
#         10,000 keys, and one destroy_key (median of 20);
#   (iv)  the memory of a backend that decrypted values under 1,000 tenant
#         keys against one that decrypted as many values under one key
#         (pg_backend_memory_contexts total and VmRSS).
# Prints a Markdown table and writes it to --out (default
# bench/results/stored_keys.md).  It is a benchmark, not a test: CI does
# not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=5
out=bench/results/stored_keys.md
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
REL_NAME=bench-stored-keys
source test/suites/lib.sh
rel_init

# benchmark KEKs (throwaway)
kek_file() {
	printf '%s\n' "$2" >"$REL_TMP/$1"
	chmod 0600 "$REL_TMP/$1"
	((EUID == 0)) && chown postgres: "$REL_TMP/$1"
	return 0
}
kek_file kek1 6b1f0c3e9a7d5b2f4e8c1a3d5f7b9e2c4a6d8f0b1c3e5a7d9f2b4c6e8a0d1f3b
kek_file kek2 a2c4e6f8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4

PORT=$(cluster_up bench 55540 <<EOF
shared_preload_libraries = 'encrypted_column'
encrypted_column.kek_source = 'file:$REL_TMP/kek1'
shared_buffers = 512MB
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
max_wal_size = 4GB
checkpoint_timeout = 1h
EOF
) || exit 1

# The median of the numbers on standard input.
median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# Milliseconds psql's \timing gives the last statement of the arguments.
# ms [PGOPTIONS] -c STATEMENT...
ms() {
	local opts=$1
	shift
	PGOPTIONS="-c client_min_messages=warning $opts" LC_ALL=C "$PG_BINDIR/psql" -X -q -A -t \
		-v ON_ERROR_STOP=1 -h "$REL_TMP" -p "$PORT" -U postgres -d bench -o /dev/null \
		-c '\timing on' "$@" | awk '/^Time: / { t = $2 } END { print t }'
}
set_source() {
	pq "$PORT" postgres -c "ALTER SYSTEM SET encrypted_column.kek_source = '$1'" \
		-c "SELECT pg_reload_conf()" >/dev/null
	wait_for 20 source_is "$1"
}
source_is() { [[ $(pq "$PORT" bench -c "SHOW encrypted_column.kek_source") == "$1" ]]; }

RAWKEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
RAW="-c encrypted_column.key=$RAWKEY"
STORED="-c encrypted_column.key_name=bench"
pq "$PORT" postgres -c "CREATE DATABASE bench" >/dev/null
pq "$PORT" bench <<SQL >/dev/null
CREATE EXTENSION encrypted_column;
SELECT create_key('bench');
CREATE TABLE t (id int, c encrypted_text);
CREATE TABLE one (c encrypted_text);
SQL
PGOPTIONS="$STORED" pq "$PORT" bench -c "INSERT INTO one VALUES ('first use')"
PGOPTIONS="$RAW" pq "$PORT" bench -c "CREATE TABLE one_raw AS SELECT encrypt('first use') AS c"

INS="INSERT INTO t SELECT i, 'stored-key benchmark value ' || i || ' ' || md5(i::text) FROM generate_series(1, 50000) i"
SCAN="SELECT count(decrypt(c)) FROM t"
declare -A med
for mode in raw stored; do
	opts=$RAW tbl=one_raw
	[[ $mode == stored ]] && opts=$STORED tbl=one
	ins=() scan=()
	for ((r = 0; r < reps; r++)); do
		pq "$PORT" bench -c "TRUNCATE t" -c "CHECKPOINT"
		ins+=("$(ms "$opts" -c "SELECT decrypt(c) FROM $tbl" -c "$INS")")
		scan+=("$(ms "$opts" -c "SELECT decrypt(c) FROM $tbl" -c "$SCAN")")
	done
	med[ins_$mode]=$(printf '%s\n' "${ins[@]}" | median)
	med[scan_$mode]=$(printf '%s\n' "${scan[@]}" | median)
done

# (ii) first use in a new session, 50 sessions per source
first_use() {
	local opts=$1 table=$2 i
	for ((i = 0; i < 50; i++)); do
		ms "$opts" -c "SELECT decrypt(c) FROM $table"
	done | median
}
fu_raw=$(first_use "$RAW" one_raw)
fu_file=$(first_use "" one)
set_source "command:cat $REL_TMP/kek1"
fu_cmd=$(first_use "" one)
set_source "file:$REL_TMP/kek1"
# the same sessions' second decrypt, for the floor
fu_second=$(for ((i = 0; i < 50; i++)); do
	ms "" -c "SELECT decrypt(c) FROM one" -c "SELECT decrypt(c) FROM one"
done | median)

# (iii) 10,000 keys: create, rotate_kek, destroy
create_ms=$(ms "" -c "SELECT count(create_key('tenant' || i)) FROM generate_series(1, 10000) i")
nkeys=$(pq "$PORT" bench -c "SELECT count(*) FROM stored_keys WHERE wrapped IS NOT NULL")
rotate_ms=$(ms "" -c "SELECT rotate_kek('file:$REL_TMP/kek2')")
set_source "file:$REL_TMP/kek2"
destroy_ms=$(for ((i = 1; i <= 20; i++)); do
	ms "" -c "SELECT count(*) FROM destroy_key('tenant$((i * 400))')"
done | median)
first_use_10k=$(first_use "" one)

# (iv) memory after 1,000 tenant keys against one key
{
	echo "CREATE TABLE m (n int, c encrypted_text);"
	for ((i = 1; i <= 1000; i++)); do
		# tenants 9001..10000 were not destroyed (destroyed: multiples of 400 up to 8000)
		echo "SET encrypted_column.key_name = 'tenant$((9000 + i))';"
		echo "INSERT INTO m VALUES ($i, 'tenant value $i');"
	done
	echo "SET encrypted_column.key_name = 'bench';"
	echo "CREATE TABLE m1 AS SELECT n, encrypt('tenant value ' || n) AS c FROM m;"
} >"$REL_TMP/m.sql"
pq "$PORT" bench -f "$REL_TMP/m.sql" >/dev/null
MEM="SELECT (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) || ' ' ||
	(regexp_match(pg_read_file('/proc/self/status'), 'VmRSS:\s+(\d+)'))[1]"
read -r ctx_many rss_many < <(pq "$PORT" bench -c "SELECT count(decrypt(c)) FROM m" -c "$MEM" | tail -n 1)
read -r ctx_one rss_one < <(pq "$PORT" bench -c "SELECT count(decrypt(c)) FROM m1" -c "$MEM" | tail -n 1)
read -r ctx_none rss_none < <(pq "$PORT" bench -c "$MEM" | tail -n 1)

cores=$(nproc)
{
	echo "# Stored keys (PostgreSQL $PG_MAJOR, $cores cores, one run)"
	echo
	echo "Server-side times from psql's \\timing; a throwaway cluster with the"
	echo "library preloaded and a file KEK (encrypted_column.kek_source)."
	echo
	echo "## Steady state: stored key against raw key (median of $reps runs)"
	echo
	echo "| work | raw key (ms) | stored key (ms) | ratio stored / raw |"
	echo "|---|---|---|---|"
	printf '| INSERT of 50,000 rows | %.1f | %.1f | %s |\n' "${med[ins_raw]}" "${med[ins_stored]}" \
		"$(ratio "${med[ins_stored]}" "${med[ins_raw]}")"
	printf '| decrypting scan of 50,000 rows | %.1f | %.1f | %s |\n' "${med[scan_raw]}" "${med[scan_stored]}" \
		"$(ratio "${med[scan_stored]}" "${med[scan_raw]}")"
	echo
	echo "## First use in a new session (median of 50 sessions)"
	echo
	echo "The session's first decrypt() of one value: for a stored key it reads"
	echo "the KEK from the source and unwraps the data key."
	echo
	echo "| key | first decrypt (ms) |"
	echo "|---|---|"
	printf '| raw key (encrypted_column.key) | %.3f |\n' "$fu_raw"
	printf '| stored key, file:PATH | %.3f |\n' "$fu_file"
	printf '| stored key, command:cat PATH | %.3f |\n' "$fu_cmd"
	printf '| stored key, file:PATH, 10,000 keys in the store | %.3f |\n' "$first_use_10k"
	printf '| the same session'"'"'s second decrypt (key cached) | %.3f |\n' "$fu_second"
	echo
	echo "## 10,000 keys"
	echo
	echo "| operation | time (ms) |"
	echo "|---|---|"
	printf '| create_key of 10,000 keys, one statement | %.1f |\n' "$create_ms"
	printf '| rotate_kek over %s keys (file to file) | %.1f |\n' "$nkeys" "$rotate_ms"
	printf '| destroy_key of one key (median of 20) | %.3f |\n' "$destroy_ms"
	echo
	echo "## Memory of a backend"
	echo
	echo "| backend | memory contexts (kB) | VmRSS (kB) |"
	echo "|---|---|---|"
	printf '| decrypted nothing | %d | %d |\n' "$((ctx_none / 1024))" "$rss_none"
	printf '| decrypted 1,000 values under one stored key | %d | %d |\n' "$((ctx_one / 1024))" "$rss_one"
	printf '| decrypted 1,000 values under 1,000 stored keys | %d | %d |\n' "$((ctx_many / 1024))" "$rss_many"
} | tee "$REL_TMP/table.md"
mkdir -p "$(dirname "$out")"
cp "$REL_TMP/table.md" "$out"
