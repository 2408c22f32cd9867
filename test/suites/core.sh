#!/usr/bin/env bash
# Core suites: pg_regress ("make installcheck") and pgTAP ("make prove")
# against two throwaway clusters of PostgreSQL $PG_MAJOR made by
# pg_virtualenv, one where the library is loaded on first use and one
# with it in shared_preload_libraries.  Prints the regression diffs when
# pg_regress fails.  pgTAP runs in a UTF-8 database of its own.
set -uo pipefail
cd "$(dirname "$0")/../.."
major=${PG_MAJOR:?PG_MAJOR not set}
pg_config=${PG_CONFIG:-/usr/lib/postgresql/$major/bin/pg_config}

# Inside a cluster: both suites; the regression diffs on failure.
if [[ ${1:-} == --inside ]]; then
	status=0
	rm -f regression.diffs migrate/regression.diffs
	if ! make -s installcheck PG_CONFIG="$pg_config"; then
		cat regression.diffs migrate/regression.diffs 2>/dev/null
		status=1
	fi
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ec_tap" \
		-c "CREATE DATABASE ec_tap ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" || exit 1
	PGDATABASE=ec_tap make -s prove PG_CONFIG="$pg_config" || status=1
	# every regression file also passes alone, in a database of its own
	if [[ ${2:-} == --each ]]; then
		pg_regress=$("$pg_config" --pkglibdir)/pgxs/src/test/regress/pg_regress
		out=$(mktemp -d)
		alone=0
		for t in $(make -s -f Makefile print-regress PG_CONFIG="$pg_config"); do
			"$pg_regress" --inputdir=. --bindir="$("$pg_config" --bindir)" \
				--encoding=UTF8 --no-locale --outputdir="$out" --dbname=ec_alone \
				"$t" >/dev/null 2>&1 && alone=$((alone + 1)) || {
				echo "regression file $t fails when run alone:"
				cat "$out/regression.diffs"
				status=1
			}
		done
		echo "$alone regression files pass when run alone"
		rm -rf "$out"
	fi
	exit $status
fi

# each cluster on a port found free: pg_virtualenv's own choice can be the
# port of a server that listens on localhost only
status=0
echo "--- library loaded on first use"
PGPORT=$(scripts/free-port) pg_virtualenv -t -v "$major" bash "$0" --inside --each || status=1
echo "--- library in shared_preload_libraries"
PGPORT=$(scripts/free-port) pg_virtualenv -t -v "$major" -o shared_preload_libraries=encrypted_column \
	bash "$0" --inside || status=1
exit $status
