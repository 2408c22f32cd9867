#!/usr/bin/env bash
# Instructions per prepared lookup: encrypted_text_det against plain text,
# counted by callgrind in the same run.
#
#   bash bench/instructions.sh [--out FILE]
#
# Starts a throwaway cluster under valgrind's callgrind, which counts every
# instruction of each backend.  A table of ROWS rows holds each e-mail
# address twice, in an encrypted_text_det column (half of the rows written
# under a previous key) and in a plain text column, both with a UNIQUE
# index.  bench/lookup_client.c
# prepares "SELECT id FROM ec_lookup WHERE <column> = $1" with $1 text and
# runs it in one session; each variant runs in two sessions, of WARM and of
# WARM + COUNT lookups, and the difference divided by COUNT is the cost of
# one whole lookup (protocol, Bind, planning if the plan cache plans again,
# Execute) once the session is warm, without connection set-up and the
# first plans.  Variants: plain and det, each with encrypted_column.key
# alone and with a previous key (the det lookup then probes the index once
# per key).  The result is the ratio det / plain of each pair; the target
# is 1.5 or less.  Prints a Markdown table, also written to FILE with
# --out.  A benchmark, not a test: CI does not run it.  Needs root or sudo
# for the packages (valgrind) and make install, like bench/run.sh; takes a
# few minutes.  Environment: BENCH_ROWS (20000), BENCH_WARM (20),
# BENCH_COUNT (200), PG_CONFIG.
set -euo pipefail
cd "$(dirname "$0")/.."

out=
while (($#)); do
	case $1 in
	--out) out=${2:?--out needs a file}; shift 2 ;;
	*) echo "usage: $0 [--out FILE]" >&2; exit 2 ;;
	esac
done
ROWS=${BENCH_ROWS:-20000}
WARM=${BENCH_WARM:-20}
COUNT=${BENCH_COUNT:-200}
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c

pg_config=${PG_CONFIG:-pg_config}
pgbin=$("$pg_config" --bindir)
sudo=()
((EUID == 0)) || sudo=(sudo)
missing=()
for p in valgrind libpq-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi
make -s PG_CONFIG="$pg_config"
"${sudo[@]}" make -s install PG_CONFIG="$pg_config" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/ec-instr.XXXXXX")
as_owner=()
if ((EUID == 0)); then
	chown postgres: "$work"
	as_owner=(runuser -u postgres --)
fi
pgpid=
cleanup() {
	# the postmaster's own pid ($pgpid may be runuser's): a fast shutdown
	if [[ -n $pgpid ]]; then
		kill -INT "$(head -n 1 "$work/data/postmaster.pid" 2>/dev/null)" 2>/dev/null
		wait "$pgpid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

cc -O2 -I"$("$pg_config" --includedir)" -o "$work/lookup_client" bench/lookup_client.c \
	-L"$("$pg_config" --libdir)" -lpq
"${as_owner[@]}" "$pgbin/initdb" -D "$work/data" -U postgres -A trust -E UTF8 \
	--locale=C.UTF-8 --no-sync >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; exit 1; }
# the socket's port: free, whatever else runs here
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((50000 + RANDOM % 10000)))
cat >>"$work/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
shared_preload_libraries = 'encrypted_column'
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
CONF
# Every process of the cluster runs under callgrind (a backend is a fork of
# the postmaster) and writes its own counts at exit.  (Counting only inside
# exec_bind_message and exec_execute_message does not work: an optimised
# server build inlines them.)
"${as_owner[@]}" valgrind --tool=callgrind --trace-children=yes \
	--callgrind-out-file="$work/cg.%p" --log-file="$work/valgrind.%p.log" \
	"$pgbin/postgres" -D "$work/data" >"$work/server.log" 2>&1 &
pgpid=$!
for _ in $(seq 300); do
	"$pgbin/pg_isready" -q -h "$work" -p "$port" && break
	sleep 1
done
psql=("$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres -d postgres)
"${psql[@]}" >/dev/null <<SQL
CREATE EXTENSION encrypted_column;
CREATE TABLE ec_lookup (id int PRIMARY KEY, email encrypted_text_det UNIQUE, plain text UNIQUE);
SET encrypted_column.key = '$K2';
INSERT INTO ec_lookup SELECT g, encrypt_det('u' || g || '@example.com'), 'u' || g || '@example.com'
	FROM generate_series(1, $ROWS / 2) g;
SET encrypted_column.key = '$K1';
INSERT INTO ec_lookup SELECT g, encrypt_det('u' || g || '@example.com'), 'u' || g || '@example.com'
	FROM generate_series($ROWS / 2 + 1, $ROWS) g;
VACUUM ANALYZE ec_lookup;
SQL

# Instructions counted in the backend of one client run: column $1,
# lookups $2, settings $3, rows $4..$5.
instructions() {
	local pid file
	pid=$(PGOPTIONS="$3" "$work/lookup_client" "host=$work port=$port user=postgres dbname=postgres" \
		"$1" "$2" "$4" "$5") || exit 1
	file=$work/cg.$pid
	for _ in $(seq 120); do
		[[ -s $file ]] && ! kill -0 "$pid" 2>/dev/null && break
		sleep 0.5
	done
	awk '/^(summary|totals):/ { print $2; exit }' "$file" | grep -E '^[1-9][0-9]*$' || {
		echo "no instruction count in $file" >&2
		exit 1
	}
}

# Instructions of one warm lookup: column $1, settings $2, rows $3..$4.
per_lookup() {
	local short long
	short=$(instructions "$1" "$WARM" "$2" "$3" "$4") || exit 1
	long=$(instructions "$1" $((WARM + COUNT)) "$2" "$3" "$4") || exit 1
	echo $(((long - short) / COUNT))
}

# with the current key alone the rows of the previous key are out of
# reach: both columns look up the current key's half
one_key="-c encrypted_column.key=$K1"
two_keys="-c encrypted_column.key=$K1 -c encrypted_column.previous_keys=$K2"
plain1=$(per_lookup plain "$one_key" $((ROWS / 2 + 1)) "$ROWS")
det1=$(per_lookup email "$one_key" $((ROWS / 2 + 1)) "$ROWS")
plain2=$(per_lookup plain "$two_keys" 1 "$ROWS")
det2=$(per_lookup email "$two_keys" 1 "$ROWS")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
report=$(
	echo "Instructions per prepared lookup (Bind and Execute with their protocol messages, callgrind), PostgreSQL $("$pg_config" --version | awk '{print $2}'), $ROWS rows, $COUNT lookups after $WARM"
	echo
	echo "| keys loaded | plain text | encrypted_text_det | det / plain |"
	echo "|---|---:|---:|---:|"
	echo "| current key | $plain1 | $det1 | $(ratio "$det1" "$plain1") |"
	echo "| current and one previous key | $plain2 | $det2 | $(ratio "$det2" "$plain2") |"
	echo
	echo "Target: det / plain at most 1.5 in both rows."
)
echo "$report"
[[ -z $out ]] || echo "$report" >"$out"
