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
# back as a text parameter; lookups on a deterministic column under a
# rotation.  Prints one line per check.  A driver that cannot be
# installed here is skipped with its reason, and the suite then reports
# skipped (77) rather than passed, even when the other drivers passed;
# any failure still fails it.
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
CREATE TABLE td (id serial, who text, c encrypted_text_det UNIQUE);
GRANT ALL ON t, t_id_seq, td, td_id_seq TO app;
SQL
# EC_KEY2: the previous key of the rotation checks
export EC_HOST=127.0.0.1 EC_PORT=$P EC_DB=postgres EC_KEY=$KEY1 EC_KEY2=$KEY2
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

# node-postgres from the npm registry, into a directory of its own; or,
# on a machine that cannot reach the registry, from EC_NODE_MODULES, a
# node_modules directory that holds pg 8
if [[ -n ${EC_NODE_MODULES:-} ]] && command -v node >/dev/null; then
	mkdir -p "$REL_TMP/node"
	cp "$D/node_pg_recipe.js" "$REL_TMP/node/"
	cp -r "$EC_NODE_MODULES" "$REL_TMP/node/node_modules"
	run_driver node-postgres node "$REL_TMP/node/node_pg_recipe.js"
elif command -v node >/dev/null && command -v npm >/dev/null; then
	mkdir -p "$REL_TMP/node"
	cp "$D/node_pg_recipe.js" "$REL_TMP/node/"
	if (cd "$REL_TMP/node" && timeout 120 npm install --no-audit --no-fund --loglevel=error pg@8 >npm.log 2>&1); then
		run_driver node-postgres node "$REL_TMP/node/node_pg_recipe.js"
	else
		rc=$?
		why=$(grep -v '^[[:space:]]*$' "$REL_TMP/node/npm.log" | tail -n 3 | tr '\n' ' ')
		((rc == 124)) && why="no answer within 120 s. $why"
		skipped+=("node-postgres: npm install pg@8 failed with exit status $rc: ${why:-npm printed nothing}")
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
	"$(grep -a -c -i -E "$(key_slices_re "$KEY1" "$KEY2")" "$REL_TMP/pg.log")"
# psycopg2 quotes parameters into the statement on the client: a failed
# statement's STATEMENT: line carries the plaintext.  psycopg 3 and
# node-postgres bind on the server, and the log shows only $1.
if [[ -f $REL_TMP/psycopg2.out ]]; then
	check "psycopg2: a failed INSERT's plaintext is on the log's STATEMENT: line" \
		grep -a -q "STATEMENT: .*p2-statement-line-plaintext" "$REL_TMP/pg.log"
fi
for marker in p3-statement-line-plaintext node-statement-line-plaintext; do
	check_eq "$marker: not in the server log (bound on the server)" 0 \
		"$(grep -a -c "$marker" "$REL_TMP/pg.log")"
done
say "figures: $ran drivers ran, ${#skipped[@]} skipped"
REL_NA=${#skipped[@]}
if ! rel_finish; then
	exit 1
fi
if ((${#skipped[@]} > 0)); then
	echo "skipped: ${#skipped[@]} of the drivers could not run (reasons above), so the suite is not counted as passed"
	exit 77
fi
