#!/usr/bin/env bash
# Demo: install what is missing, build and install the extension, start a
# throwaway cluster of this machine's PostgreSQL with the library
# preloaded, and show encryption at work.  The cluster is dropped at the
# end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/platform.sh
[[ -n $EC_NATIVE_PG ]] || { echo "demo: this Debian release is not in scripts/platforms" >&2; exit 2; }
pg_config=/usr/lib/postgresql/$EC_NATIVE_PG/bin/pg_config

sudo=()
((EUID == 0)) || sudo=(sudo)

bash scripts/install-deps.sh "$EC_NATIVE_PG"
make -s PG_CONFIG="$pg_config"
"${sudo[@]}" make -s install PG_CONFIG="$pg_config" >/dev/null
# on a port found free (see scripts/free-port)
PGPORT=$(scripts/free-port)
export PGPORT
exec pg_virtualenv -t -v "$EC_NATIVE_PG" -o shared_preload_libraries=encrypted_column \
	bash scripts/demo-session.sh
