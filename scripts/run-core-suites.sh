#!/usr/bin/env bash
# Inside a running cluster (PGHOST, PGPORT, PGUSER set by pg_virtualenv):
# the pg_regress suite, then the pgTAP suite.  Prints the regression diffs
# when pg_regress fails.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
if ! make -s installcheck-regress; then
	[[ -f regression.diffs ]] && cat regression.diffs
	status=1
fi
make -s prove || status=1
exit $status
