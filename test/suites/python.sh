#!/usr/bin/env bash
# Migration readers and the SQLAlchemy type: pytest against a throwaway
# cluster of PostgreSQL $PG_MAJOR with the library preloaded, on a port
# found free (see scripts/free-port: pg_virtualenv alone can take the port
# of a server that listens on localhost only).
set -euo pipefail
cd "$(dirname "$0")/../.."
PGPORT=$(scripts/free-port)
export PGPORT
exec pg_virtualenv -t -v "${PG_MAJOR:?PG_MAJOR not set}" \
	-o shared_preload_libraries=encrypted_column bash python/run_tests.sh "$@"
