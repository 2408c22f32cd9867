#!/usr/bin/env bash
# Benchmark encrypted_column against plain text and pgcrypto.
#
#   bash bench/run.sh            full run (about 11 minutes), results in bench/results/
#   bash bench/run.sh --quick    small tables, 3 repetitions, results in a temporary folder
#   bash bench/run.sh --det      only encrypted_text_det: lookups, INSERT, a rotation
#                                (bench/results/det.md; with --quick, a temporary folder)
#
# Any other option goes to bench/bench.py (see bench/bench.py --help), e.g.
# --reps 9 or --out DIR.
#
# Instructions rather than time, for a prepared encrypted_text_det lookup
# against plain text (callgrind, ratios within one run): bench/instructions.sh.
#
# Installs the few Debian packages the benchmark needs (gnuplot-nox for the
# chart, python3-psycopg2 for the driver, postgresql-contrib for pgcrypto),
# builds and installs the extension, starts a throwaway cluster that listens
# only on a Unix socket in a temporary folder, runs the driver, and drops
# the cluster.  It is a benchmark, not a test: CI does not run it.
#
# Environment: BENCH_PORT (default 55500) names the cluster's socket;
# BENCH_SHARED_BUFFERS (default 2GB) must hold every table of the run;
# BENCH_FSYNC=off turns fsync off, for every variant alike (see below).
set -euo pipefail
cd "$(dirname "$0")/.."

pgbin=$(pg_config --bindir)
port=${BENCH_PORT:-55500}
shared_buffers=${BENCH_SHARED_BUFFERS:-2GB}

sudo=()
((EUID == 0)) || sudo=(sudo)

# Benchmark-only dependencies; the test dependencies live in scripts/install-deps.sh.
bash scripts/install-deps.sh
missing=()
for p in gnuplot-nox python3-psycopg2 postgresql-contrib; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
	echo "installing: ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi

make -s
"${sudo[@]}" make -s install >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/ec-bench.XXXXXX")
as_owner=()
if ((EUID == 0)); then
	chown postgres: "$work"
	as_owner=(runuser -u postgres --)
fi
started=0
cleanup() {
	if ((started)); then
		"${as_owner[@]}" "$pgbin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The crypto layer alone, in C (AES-GCM and AES-SIV): the floor under every SQL number.
cc -O2 -Isrc -o "$work/gcm_floor" bench/gcm_floor.c src/crypto.c src/envelope.c -lcrypto

"${as_owner[@]}" "$pgbin/initdb" -D "$work/data" -U postgres -A trust -E UTF8 \
	--locale=C.UTF-8 --no-sync >"$work/initdb.log" 2>&1 ||
	{
		cat "$work/initdb.log"
		exit 1
	}

# Settings are the same for every variant.  Durability stays at the
# defaults (fsync, synchronous_commit and full_page_writes on, wal_level
# replica); BENCH_FSYNC=off takes the disk out of the INSERT timings.  The
# rest keeps background work out of the timings: shared buffers hold every
# table, checkpoints happen only when the driver asks (and the driver
# waits for their writes before it times anything), no autovacuum, no
# JIT, no parallel workers.
settings=(
	"listen_addresses = ''"
	"unix_socket_directories = '$work'"
	"port = $port"
	"shared_preload_libraries = 'encrypted_column'"
	"shared_buffers = $shared_buffers"
	"max_wal_size = 16GB"
	"min_wal_size = 4GB"
	"checkpoint_timeout = 1h"
	"autovacuum = off"
	"jit = off"
	"max_parallel_workers_per_gather = 0"
)
[[ ${BENCH_FSYNC:-on} == off ]] && settings+=("fsync = off")
printf '%s\n' "${settings[@]}" >>"$work/data/postgresql.conf"

"${as_owner[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
started=1

/usr/bin/python3 bench/bench.py --host "$work" --port "$port" \
	--floor "$work/gcm_floor" --work "$work" "$@" ||
	{
		echo "--- server log (last 50 lines)"
		tail -50 "$work/server.log"
		exit 1
	}
