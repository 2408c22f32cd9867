#!/usr/bin/env bash
# Migration readers and the SQLAlchemy type: pytest against a throwaway
# cluster of PostgreSQL $PG_MAJOR with the library preloaded, on a port
# found free (see scripts/free-port: pg_virtualenv alone can take the port
# of a server that listens on localhost only).  The cluster has stored
# keys under a key-encryption key from a file made here, outside the data
# directory, owned by the server's user with mode 0600; the tests find it
# in EC_TEST_KEK_FILE.
set -euo pipefail
cd "$(dirname "$0")/../.."
PGPORT=$(scripts/free-port)
export PGPORT

kekdir=$(mktemp -d)
trap 'rm -rf "$kekdir"' EXIT
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$kekdir/kek.hex")
chmod 0700 "$kekdir"
chmod 0600 "$kekdir/kek.hex"
# run by root, pg_virtualenv starts the server as postgres
((EUID == 0)) && chown -R postgres: "$kekdir"
export EC_TEST_KEK_FILE=$kekdir/kek.hex

status=0
pg_virtualenv -t -v "${PG_MAJOR:?PG_MAJOR not set}" \
	-o shared_preload_libraries=encrypted_column \
	-o "encrypted_column.kek_source=file:$EC_TEST_KEK_FILE" \
	bash python/run_tests.sh "$@" || status=$?
exit $status
