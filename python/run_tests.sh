#!/usr/bin/env bash
# Run the Python test suite (the SQLAlchemy type, the legacy readers against
# vectors from the real libraries, the worked migration) inside a running
# cluster that libpq's environment names (PGHOST, PGPORT, PGUSER, as
# pg_virtualenv sets them), with both extensions installed by "make install"
# (the readers belong to encrypted_column_migrate).
# Uses a database of its own, dropped afterwards.  Ends with pytest's
# summary line and exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=${EC_PYTEST_DATABASE:-encrypted_column_pytest}

psql=(psql -X -q -v ON_ERROR_STOP=1)
quiet="SET client_min_messages = warning"
"${psql[@]}" -d postgres -c "$quiet" -c "DROP DATABASE IF EXISTS $db" \
	-c "CREATE DATABASE $db ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
"${psql[@]}" -d "$db" -c "$quiet" -c "CREATE EXTENSION encrypted_column" \
	-c "ALTER EXTENSION encrypted_column UPDATE" \
	-c "CREATE EXTENSION encrypted_column_migrate"

export PGDATABASE=$db
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
status=0
(cd "$here" && /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs tests "$@") ||
	status=$?

"${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" || true
exit $status
