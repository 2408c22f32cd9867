#!/usr/bin/env bash
# The restore switch as a privilege, and cached plans after a key change
# over the extended protocol.  Runs on one cluster twice: with the
# library loaded on first use, then in shared_preload_libraries.
#   - encrypted_column.accept_ciphertext cannot be turned on by an
#     ordinary role: not by SET or set_config(), before or after the
#     library is loaded, not by ALTER ROLE self SET, not by connection
#     options, not by a function's SET clause; a stolen ciphertext stays
#     refused on the insert path;
#   - a role granted SET ON PARAMETER (granted before the library was
#     ever loaded) can turn it on with SET (before and after the library
#     loads), connection options and ALTER ROLE self SET, and restore;
#   - a statement prepared over the extended protocol (pgbench -M
#     prepared) stores under the key current at each execution, and fails
#     once there is no key.
REL_NAME=guards
source "$(dirname "$0")/lib.sh"
rel_init

PORT=$(cluster_up main 55600 </dev/null) || exit 1
say "cluster on port $PORT"

SWITCH="-c encrypted_column.accept_ciphertext=on"
NOT_SET="encrypted_column.key is not set"
LOOKS_LIKE="input looks like an encrypted_text ciphertext"

# psql as a given role: qa ROLE [psql args...]; output and errors together.
qa() {
	local role=$1
	shift
	"$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PORT" -U "$role" -d app "$@" 2>&1
}

# Does psql output $1 hold no error?
not_error() {
	! grep -q "ERROR\|FATAL" <<<"$1"
}

# The roles and the grant, made in a session that never loads the library.
pq "$PORT" postgres <<SQL || exit 1
CREATE DATABASE app;
CREATE ROLE ec_app LOGIN;
CREATE ROLE ec_restore LOGIN;
GRANT SET ON PARAMETER encrypted_column.accept_ciphertext TO ec_restore;
SQL
check "the grant was made before the library was loaded" \
	test "$(pq "$PORT" postgres -c "SELECT count(*) FROM pg_settings WHERE name LIKE 'encrypted_column.%'")" = 0
PGOPTIONS="-c encrypted_column.key=$KEY1" pq "$PORT" app <<SQL || exit 1
CREATE EXTENSION encrypted_column;
CREATE TABLE stolen (c encrypted_text);
CREATE TABLE pc_ext (n serial, c encrypted_text);
CREATE TABLE pc_keys (n int, k text);
INSERT INTO pc_keys VALUES (0, '$KEY1'), (1, '$KEY2'), (2, '');
GRANT INSERT, SELECT, DELETE ON stolen TO ec_app, ec_restore;
GRANT CREATE ON SCHEMA public TO ec_app;
SQL
CT=$(PGOPTIONS="-c encrypted_column.key=$KEY1" pq "$PORT" app -c "SELECT encrypt('GUARDSECRET')::text")
ID1=$(PGOPTIONS="-c encrypted_column.key=$KEY1" pq "$PORT" app -c "SELECT current_key_id()")
ID2=$(PGOPTIONS="-c encrypted_column.key=$KEY2" pq "$PORT" app -c "SELECT current_key_id()")
INSERT="INSERT INTO stolen VALUES ('$CT')"
LOAD="SELECT current_key_id() IS NULL AS loaded"

# The checks of one load mode ($1: "first use" or "preloaded").
run_mode() {
	local mode=$1 out
	pq "$PORT" app -c "TRUNCATE stolen" -c "ALTER ROLE ec_app RESET ALL" \
		-c "ALTER ROLE ec_restore RESET ALL" || return 1

	# ---- an ordinary role ----
	out=$(qa ec_app -c "$LOAD" -c "SET encrypted_column.accept_ciphertext = on")
	check "$mode: ordinary role: SET is refused" grep -q 'permission denied to set parameter "encrypted_column.accept_ciphertext"' <<<"$out"
	out=$(qa ec_app -c "$LOAD" -c "SELECT set_config('encrypted_column.accept_ciphertext', 'on', false)")
	check "$mode: ordinary role: set_config() is refused" grep -q "permission denied to set parameter" <<<"$out"
	out=$(qa ec_app -c "SET encrypted_column.accept_ciphertext = on" -c "$INSERT" -c "SHOW encrypted_column.accept_ciphertext")
	check "$mode: ordinary role: SET before first use does not open the door" grep -q "$LOOKS_LIKE" <<<"$out"
	check "$mode: ordinary role: ... and the switch reads off" grep -qx "off" <<<"$out"
	out=$(qa ec_app -c "SET encrypted_column.accept_ciphertext = on" -c "SET encrypted_column.key = '$KEY2'" -c "$INSERT")
	check "$mode: ordinary role: placeholder, then a key, then insert: refused" grep -q "$LOOKS_LIKE" <<<"$out"
	out=$(qa ec_app -c "ALTER ROLE ec_app SET encrypted_column.accept_ciphertext = on")
	check "$mode: ordinary role: ALTER ROLE self SET (library not loaded) is refused" grep -q "permission denied" <<<"$out"
	out=$(qa ec_app -c "$LOAD" -c "ALTER ROLE ec_app IN DATABASE app SET encrypted_column.accept_ciphertext = on")
	check "$mode: ordinary role: ALTER ROLE self IN DATABASE SET (loaded) is refused" grep -q "permission denied" <<<"$out"
	out=$(PGOPTIONS="$SWITCH" qa ec_app -c "$INSERT" -c "SHOW encrypted_column.accept_ciphertext")
	check "$mode: ordinary role: connection options do not open the door" grep -q "$LOOKS_LIKE\|permission denied" <<<"$out"
	check "$mode: ordinary role: ... and nothing was stored" \
		test "$(pq "$PORT" app -c "SELECT count(*) FROM stolen")" = 0
	out=$(qa ec_app -c "CREATE FUNCTION launder(v text) RETURNS void LANGUAGE sql
		SET encrypted_column.accept_ciphertext = on AS 'INSERT INTO stolen VALUES (v::encrypted_text)'")
	check "$mode: ordinary role: a function SET clause (library not loaded) is refused" grep -q "permission denied" <<<"$out"
	out=$(qa ec_app -c "$LOAD" -c "CREATE FUNCTION launder(v text) RETURNS void LANGUAGE sql
		SET encrypted_column.accept_ciphertext = on AS 'INSERT INTO stolen VALUES (v::encrypted_text)'")
	check "$mode: ordinary role: a function SET clause (loaded) is refused" grep -q "permission denied" <<<"$out"
	check "$mode: ordinary role: no row stored by any attempt" \
		test "$(pq "$PORT" app -c "SELECT count(*) FROM stolen")" = 0

	# ---- the granted restore role ----
	out=$(qa ec_restore -c "$LOAD" -c "SET encrypted_column.accept_ciphertext = on" -c "$INSERT")
	check "$mode: granted role: SET after load, insert" not_error "$out"
	out=$(qa ec_restore -c "SET encrypted_column.accept_ciphertext = on" -c "$INSERT" -c "SHOW encrypted_column.accept_ciphertext")
	check "$mode: granted role: SET before first use keeps the switch on" grep -qx "on" <<<"$out"
	out=$(PGOPTIONS="$SWITCH" qa ec_restore -c "$INSERT" -c "SHOW encrypted_column.accept_ciphertext")
	check "$mode: granted role: connection options" grep -qx "on" <<<"$out"
	out=$(qa ec_restore -c "ALTER ROLE ec_restore SET encrypted_column.accept_ciphertext = on")
	check "$mode: granted role: ALTER ROLE self SET (library not loaded) is allowed" not_error "$out"
	out=$(qa ec_restore -c "$INSERT" -c "SHOW encrypted_column.accept_ciphertext")
	check "$mode: granted role: ... and applies to its new sessions" grep -qx "on" <<<"$out"
	pq "$PORT" app -c "ALTER ROLE ec_restore RESET ALL" || return 1
	out=$(qa ec_restore -c "$LOAD" -c "ALTER ROLE ec_restore IN DATABASE app SET encrypted_column.accept_ciphertext = on")
	check "$mode: granted role: ALTER ROLE self IN DATABASE SET is allowed" not_error "$out"
	out=$(qa ec_restore -c "$INSERT" -c "SHOW encrypted_column.accept_ciphertext")
	check "$mode: granted role: ... and applies to its new sessions" grep -qx "on" <<<"$out"
	check "$mode: granted role: five ciphertexts stored as they were" \
		test "$(pq "$PORT" app -c "SELECT count(*) FROM stolen WHERE c::text = '$CT'")" = 5
	check "$mode: restored values decrypt" \
		test "$(PGOPTIONS="-c encrypted_column.key=$KEY1" pq "$PORT" app -c "SELECT string_agg(DISTINCT decrypt(c), ',') FROM stolen")" = GUARDSECRET

	# ---- a statement prepared over the extended protocol ----
	pq "$PORT" app -c "TRUNCATE pc_ext" || return 1
	cat >"$REL_TMP/pc.sql" <<'SQL'
SELECT set_config('encrypted_column.key', k, false) FROM pc_keys WHERE n = (SELECT count(*) FROM pc_ext);
INSERT INTO pc_ext (c) VALUES ('PCSECRET');
SQL
	out=$("$PG_BINDIR/pgbench" -n -M prepared -t 3 -f "$REL_TMP/pc.sql" \
		-h "$REL_TMP" -p "$PORT" -U postgres app 2>&1)
	check "$mode: extended protocol: first two executions stored under each key" \
		test "$(pq "$PORT" app -c "SELECT string_agg(key_id(c), ' ' ORDER BY n) FROM pc_ext")" = "$ID1 $ID2"
	check "$mode: extended protocol: with no key the prepared statement fails" grep -q "$NOT_SET" <<<"$out"
}

run_mode "first use"
pq "$PORT" postgres -c "ALTER SYSTEM SET shared_preload_libraries = encrypted_column" || exit 1
cluster_stop main && cluster_start main "$PORT" || exit 1
run_mode "preloaded"
rel_finish
