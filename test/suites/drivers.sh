#!/usr/bin/env bash
# Each driver's recipe against a real server with the library preloaded.
#
# One test file per driver in test/suites/drivers/: psycopg 3, psycopg2,
# node-postgres (npm package pg, installed into a temporary directory)
# and PgJDBC (Debian's postgresql.jar, compiled with javac).  Each hands
# the key in as a connection option and by set_config() with a bind
# parameter, inserts by parameter, reads through decrypt(), looks a value
# up, and checks the failure cases with their SQLSTATEs: SET with a bind
# parameter, a text-typed parameter to decrypt(), a ciphertext passed
# back as a text parameter.  Prints one line per check.  A driver that
# cannot be installed here is skipped with its reason; the suite is
# skipped when no driver could run.
REL_NAME=drivers
source "$(dirname "$0")/lib.sh"
rel_init

P=$(cluster_up pg 55480 <<EOF
shared_preload_libraries = 'encrypted_column'
log_line_prefix = '%m [%p] '
log_min_error_statement = error
EOF
) || exit 1
pq "$P" postgres <<SQL || exit 1
CREATE EXTENSION encrypted_column;
CREATE ROLE app LOGIN;
CREATE TABLE t (id serial, who text, c encrypted_text);
GRANT ALL ON t, t_id_seq TO app;
SQL
export EC_HOST=127.0.0.1 EC_PORT=$P EC_DB=postgres EC_KEY=$KEY1
D=$REL_DIR/drivers
ran=0
skipped=()

# Run one driver's test: run_driver NAME command...; counts its lines.
run_driver() {
	local name=$1 out=$REL_TMP/$1.out rc
	shift
	say "driver $name"
	timeout 180 "$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	REL_PASS=$((REL_PASS + $(grep -c '^ok ' "$out")))
	REL_FAIL=$((REL_FAIL + $(grep -c '^NOT OK' "$out")))
	check "$name: the test ran to the end" [ "$rc" = 0 ]
	ran=$((ran + 1))
}

if /usr/bin/python3 -c 'import psycopg' 2>/dev/null; then
	run_driver psycopg3 /usr/bin/python3 "$D/psycopg3_recipe.py"
else
	skipped+=("psycopg 3: not installed (Debian package python3-psycopg)")
fi
if /usr/bin/python3 -c 'import psycopg2' 2>/dev/null; then
	run_driver psycopg2 /usr/bin/python3 "$D/psycopg2_recipe.py"
else
	skipped+=("psycopg2: not installed (Debian package python3-psycopg2)")
fi

# node-postgres from the npm registry, into a directory of its own
if command -v node >/dev/null && command -v npm >/dev/null; then
	mkdir -p "$REL_TMP/node"
	cp "$D/node_pg_recipe.js" "$REL_TMP/node/"
	if (cd "$REL_TMP/node" && timeout 120 npm install --no-audit --no-fund --silent pg@8 >npm.log 2>&1); then
		run_driver node-postgres node "$REL_TMP/node/node_pg_recipe.js"
	else
		skipped+=("node-postgres: npm install pg failed ($(tail -n 1 "$REL_TMP/node/npm.log"))")
	fi
else
	skipped+=("node-postgres: node and npm are not installed")
fi

JAR=/usr/share/java/postgresql.jar
if [[ -r $JAR ]] && command -v javac >/dev/null; then
	mkdir -p "$REL_TMP/java"
	if javac -d "$REL_TMP/java" -cp "$JAR" "$D/PgJdbcRecipe.java" >"$REL_TMP/javac.log" 2>&1; then
		run_driver pgjdbc java -cp "$REL_TMP/java:$JAR" PgJdbcRecipe
	else
		cat "$REL_TMP/javac.log"
		check "PgJdbcRecipe.java compiles" false
	fi
else
	skipped+=("PgJDBC: needs $JAR (Debian package libpostgresql-jdbc-java) and javac (default-jdk-headless)")
fi

for s in "${skipped[@]}"; do echo "skipped driver: $s"; done
if ((ran == 0)); then
	echo "skipped: no driver could run"
	exit 77
fi
check "no backend crashed" no_crash "$REL_TMP/pg.log"
check_eq "no key in the server log (no 8-character slice of it)" 0 \
	"$(grep -a -c -i -E "$(key_slices_re "$KEY1")" "$REL_TMP/pg.log")"
say "figures: $ran drivers ran, ${#skipped[@]} skipped"
rel_finish
