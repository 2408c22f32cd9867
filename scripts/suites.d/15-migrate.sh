#!/usr/bin/env bash
# encrypted_column_migrate: its pg_regress tests (the readers against the
# fixed vectors, their errors, parallel workers, the upgrade from 0.2.0),
# once with the core library loaded on first use and once preloaded, each
# in a throwaway cluster of PostgreSQL $PG_MAJOR (default 15).  Expects both
# extensions installed ("make install").  Exit status 0 when both runs
# pass; prints the regression diffs of a failed run.
set -uo pipefail
cd "$(dirname "$0")/../.."
major=${PG_MAJOR:-15}

# One run of "make installcheck-migrate" in a fresh cluster.
run() {
	pg_virtualenv -v "$major" "$@" bash -c '
		make -s installcheck-migrate && exit 0
		[[ -f migrate/regression.diffs ]] && cat migrate/regression.diffs
		exit 1'
}

status=0
run || status=1
run -o shared_preload_libraries=encrypted_column || status=1
exit $status
