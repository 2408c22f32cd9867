#!/usr/bin/env bash
# Migration readers and the SQLAlchemy type: pytest against a throwaway
# cluster of PostgreSQL $PG_MAJOR with the library preloaded, on a free
# port (pg_virtualenv alone takes the first port its own clusters leave,
# whatever else listens on the machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
port=
for ((p = 55600 + $$ % 200; p < 55900; p++)); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
[[ -n $port ]] || { echo "python: no free port in 55600-55899" >&2; exit 1; }
PGPORT=$port exec pg_virtualenv -t -v "${PG_MAJOR:?PG_MAJOR not set}" \
	-o shared_preload_libraries=encrypted_column bash python/run_tests.sh "$@"
