#!/usr/bin/env bash
# Distributed tables with encrypted columns on a Citus cluster.
#
# A coordinator and two workers on loopback, set up as the README's
# "Scaling out with Citus" says: TLS on every node with a test CA, Citus's
# connections authenticated with a node certificate, whose name each node
# trusts for shipped ciphertexts (encrypted_column.trusted_node_cn),
# citus.propagate_set_commands = 'local', and local execution off.  The key
# goes only to the client's session on the coordinator, as a connection
# option.  Checks:
#   - every way in (literals, multi-row VALUES, encrypt()/encrypt_det(),
#     prepared parameters, COPY text and binary, INSERT ... SELECT pushed
#     down, through the coordinator and repartitioned with a constant, an
#     encrypted DEFAULT added by shard DDL) stores each value once: it
#     decrypts to what was written, and a reference table's placements are
#     byte-identical on every node;
#   - decrypt() in router and multi-shard queries, filters and aggregates,
#     also in parallel workers on the shards, inside a transaction block;
#     in autocommit the workers refuse with the key's error and its hint;
#   - rotation of a distributed table in batches, with previous_keys;
#   - encrypted_text_det as the distribution column: a lookup by plaintext
#     routes to one shard, PRIMARY KEY rejects duplicates, co-located
#     tables join on it;
#   - search on distributed tables: encrypted_text(trigram),
#     encrypted_date(range, 7) and encrypted_bigint(range, 100) columns of
#     a distributed table and typed columns of a reference table, their GIN
#     and range_ops indexes made on the coordinator without a key (on
#     every shard); rows in as literals, by COPY and by INSERT ... SELECT
#     of plaintext through the coordinator in autocommit, each with its
#     terms, a reference table's placements byte-identical; in a
#     transaction block LIKE, ILIKE, BETWEEN, < a plain value and ORDER BY
#     ... [DESC] LIMIT give the rows, in order, of the same query on
#     decrypt(col), with the index on every shard (EXPLAIN of each task);
#     a role without read_plaintext() is refused (42501) where no row
#     matches, and still inserts rows with terms; the same searches exact
#     during a rotation with previous_keys, and after the rotation on the
#     shards, with the index walk back;
#   - the laundering rule on every node: a ciphertext literal is refused
#     on the coordinator without the restore switch, and on a worker from
#     any session that did not authenticate with the node certificate
#     (none, or a certificate of another name from the same CA); with the
#     switch, a restore through the coordinator works (also refused: TLS
#     with no certificate, or with a name that extends the trusted one); an ordinary role
#     cannot launder through what the coordinator ships: a pushed-down cast
#     of a text column or a composite's I/O conversion is refused on the
#     worker, a SQL function's literal where it is inlined, and Citus's functions that send
#     SQL text to other nodes are refused to it;
#   - citus.log_remote_commands cannot print the keys; Citus's connections
#     to the workers use TLS; no key reaches any node's files (data
#     directory with catalogs and pg_dist_* tables, WAL, logs with
#     log_statement = 'all'), and no plaintext any worker's data files
#     (search columns' included);
#   - a deterministic distribution column rotated by INSERT and DELETE;
#   - pg_dump of the coordinator: ciphertext only; restored into a new
#     Citus database (tables, create_distributed_table, data, constraints)
#     it is refused without the restore switch and byte-identical with it;
#   - stored keys under one KEK file on every node (kek_source set with
#     ALTER SYSTEM and a reload): the key functions on the coordinator
#     send the changed rows and grants to every worker, byte for byte, and
#     a worker refuses them; with key_name alone, inserts routed to the
#     shards, decrypt() in router and multi-shard queries in autocommit,
#     lookups by deterministic value routed and finding both versions
#     after rotate_key; key_name reaches the worker sessions in a
#     transaction block (reencrypt() on the shards) and not in autocommit;
#     grants checked on the workers (decrypt only cannot encrypt there,
#     no grant cannot decrypt, revoke_key); destroy_key makes decrypt()
#     fail on the workers; a worker added later gets the key table from
#     rotate_kek to the same source; the KEK and the imported data key in
#     no node's files or logs;
#   - a worker added later, without the library preloaded, gets the
#     extension from Citus and serves the shards moved to it; but with
#     log_statement = 'all' it logs the first statement of each session,
#     keys included, before the library is loaded: the pitfall that makes
#     preloading on every node part of the set-up.
# Citus is not in Debian's archive: the suite runs where it has been
# installed for this PostgreSQL version, and reports itself skipped
# elsewhere.
REL_NAME=citus
source "$(dirname "$0")/lib.sh"

[[ -f $("$PG_BINDIR/pg_config" --pkglibdir)/citus.so ]] ||
	{ echo "skipped: Citus is not installed for PostgreSQL $PG_MAJOR"; exit 77; }
command -v openssl >/dev/null || { echo "skipped: openssl is not installed"; exit 77; }
rel_init

# one key-encryption key for every node, read from the same file
KEKHEX=$(openssl rand -hex 32)
[[ ${#KEKHEX} == 64 ]] || exit 1
printf '%s\n' "$KEKHEX" >"$REL_TMP/kek.hex"
chmod 0600 "$REL_TMP/kek.hex"
((EUID == 0)) && chown postgres: "$REL_TMP/kek.hex"
KEK_SOURCE="file:$REL_TMP/kek.hex"
CITUS_EXTRA_CONF="log_statement = 'all'
log_min_error_statement = error"
source "$(dirname "$0")/citus_lib.sh"
citus_cluster || exit 1
say "coordinator on $PC, workers on $PW1 and $PW2"

K1="-c encrypted_column.key=$KEY1"
# the client's session: the key as a connection option, nothing else
kq() { PGOPTIONS="$K1" pq "$PC" app "$@"; }
# one statement in a transaction block, with the options in $OPTS
kt() { PGOPTIONS="${OPTS:-$K1}" pq "$PC" app -c "BEGIN" -c "$1" -c "COMMIT"; }
# everything psql prints for a statement, errors included
said() { PGOPTIONS="${OPTS:-$K1}" "$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PC" -U postgres -d app -c "$1" 2>&1; }
# run a command, showing its output only if it fails
quiet() {
	local out
	out=$("$@" 2>&1) || { printf '%s\n' "$out"; return 1; }
}
# SQLSTATE of a statement on the coordinator, with the options in $OPTS
state_of_opts() { PGOPTIONS="${OPTS:-$K1}" state_of "$PC" "$1"; }
# SQLSTATE of the error of a statement (or of statements in one string,
# which stop at the first error) as $ROLE, or 00000: state_of PORT SQL
state_of() { sqlstate "$1" app -U "${ROLE:-postgres}" -c "$2"; }

# --- every way in ---
kq <<'EOF' >/dev/null || exit 1
CREATE TABLE users (id int PRIMARY KEY, email encrypted_text, handle encrypted_text_det);
SELECT create_distributed_table('users', 'id');
CREATE TABLE users_copy (id int PRIMARY KEY, email encrypted_text, handle encrypted_text_det);
SELECT create_distributed_table('users_copy', 'id', colocate_with => 'users');
CREATE TABLE codes (code int PRIMARY KEY, label encrypted_text);
SELECT create_reference_table('codes');
EOF
check "INSERT with a literal" kq -c "INSERT INTO users VALUES (1, 'citus-1@example.com', 'citus-1@example.com')"
check "INSERT with multi-row VALUES" kq \
	-c "INSERT INTO users VALUES (2, 'citus-2@example.com', 'citus-2@example.com'), (3, 'citus-3@example.com', 'citus-3@example.com')"
check "INSERT with encrypt() and encrypt_det()" kq \
	-c "INSERT INTO users VALUES (4, encrypt('citus-4@example.com'), encrypt_det('citus-4@example.com'))"
check "INSERT with prepared parameters" kq \
	-c "PREPARE ins(int, text) AS INSERT INTO users VALUES (\$1, \$2::encrypted_text, \$2::encrypted_text_det)" \
	-c "EXECUTE ins(5, 'citus-5@example.com')" -c "EXECUTE ins(6, 'citus-6@example.com')" \
	-c "EXECUTE ins(7, 'citus-7@example.com')" -c "EXECUTE ins(8, 'citus-8@example.com')" \
	-c "EXECUTE ins(9, 'citus-9@example.com')" -c "EXECUTE ins(10, 'citus-10@example.com')" \
	-c "EXECUTE ins(11, 'citus-11@example.com')"
printf '%s\n' "12	citus-12@example.com	citus-12@example.com" "13	citus-13@example.com	citus-13@example.com" >"$REL_TMP/rows.txt"
check "COPY FROM in text format" kq -c "\\copy users FROM '$REL_TMP/rows.txt'"
check "COPY TO in binary format" kq -c "\\copy (SELECT id + 100, email, handle FROM users WHERE id <= 13) TO '$REL_TMP/rows.bin' (FORMAT binary)"
check "COPY FROM in binary format" kq -c "\\copy users FROM '$REL_TMP/rows.bin' (FORMAT binary)"
check "INSERT ... SELECT between co-located tables (pushed down)" kq \
	-c "INSERT INTO users_copy SELECT * FROM users"
check "INSERT ... SELECT through the coordinator" kq \
	-c "INSERT INTO users SELECT id + 1000, email, handle FROM users WHERE id <= 13 ORDER BY id LIMIT 13"
check "INSERT into a reference table" kq -c "INSERT INTO codes VALUES (1, 'code-one'), (2, 'code-two')"
check "INSERT ... SELECT of a constant, repartitioned through the workers" kq \
	-c "CREATE TABLE notes (id int PRIMARY KEY, note encrypted_text)" \
	-c "SELECT create_distributed_table('notes', 'id')" \
	-c "INSERT INTO notes SELECT id * 2, 'same note' FROM users WHERE id <= 13"
check "a column added with an encrypted DEFAULT (shard DDL on the workers)" kq \
	-c "ALTER TABLE notes ADD COLUMN tag encrypted_text DEFAULT 'default tag'"
check_eq "... both decrypt on every shard" "13|same note|default tag" \
	"$(kt "SELECT count(*) || '|' || min(decrypt(note)) || '|' || min(decrypt(tag)) FROM notes")"

WANT=$(kq -c "SELECT string_agg(id || '=' || 'citus-' || (id % 100) || '@example.com', ',' ORDER BY id)
	FROM (SELECT generate_series(1, 13) UNION ALL SELECT generate_series(101, 113)
	      UNION ALL SELECT generate_series(1001, 1013)) s(id)")
[[ -n $WANT ]] || exit 1
check_eq "every row decrypts to what was written, once (both types)" "$WANT" \
	"$(kt "SELECT string_agg(id || '=' || decrypt(email), ',' ORDER BY id)
		FROM users WHERE decrypt(email) = decrypt(handle)")"
check_eq "the pushed-down copy holds the same envelopes (differing/rows)" "0/26" \
	"$(kq -c "SELECT count(*) FILTER (WHERE u.email::text <> c.email::text OR u.handle::text <> c.handle::text)
		|| '/' || count(*) FROM users u JOIN users_copy c USING (id)")"
check_eq "a reference table's three placements are byte-identical (placements/read/distinct)" "3/true/1" \
	"$(kq -c "SELECT count(*) || '/' || bool_and(success) || '/' || count(DISTINCT result)
		FROM run_command_on_placements('codes',
		\$\$SELECT md5(string_agg(label::text, ',' ORDER BY code)) FROM %s\$\$)")"

# --- decrypt() on the shards ---
check_eq "decrypt() in a router query" "citus-7@example.com" \
	"$(kt "SELECT decrypt(email) FROM users WHERE id = 7")"
check_eq "decrypt() in a multi-shard filter and aggregate" "15|13" \
	"$(kt "SELECT count(*) FILTER (WHERE decrypt(email) LIKE 'citus-1%'),
		count(DISTINCT decrypt(handle)) FROM users")"
check_eq "decrypt() of a reference table" "code-one,code-two" \
	"$(kt "SELECT string_agg(decrypt(label), ',' ORDER BY code) FROM codes")"
PARALLEL="SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0;
	SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL max_parallel_workers_per_gather = 2;
	SET LOCAL citus.explain_all_tasks = on"
PLAN=$(kq -c "BEGIN" -c "$PARALLEL" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	SELECT count(*) FROM users WHERE decrypt(email) LIKE '%@example.com'" -c "COMMIT")
check "parallel workers on the shards ran decrypt()" grep -q -E 'Workers Launched: [1-9]' <<<"$PLAN"
check_eq "... with the right result" "39" \
	"$(kq -c "BEGIN" -c "$PARALLEL" -c "SELECT count(*) FROM users WHERE decrypt(email) LIKE '%@example.com'" \
		-c "COMMIT")"
# --- the one privilege to read plaintext, checked on the nodes that decrypt ---
kq -c "CREATE ROLE ec_reader LOGIN" -c "CREATE ROLE ec_other LOGIN" \
	-c "GRANT SELECT ON users TO ec_reader, ec_other" >/dev/null || exit 1
for p in "$PW1" "$PW2"; do
	pq "$p" app -c "DO \$\$BEGIN CREATE ROLE ec_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$" \
		-c "DO \$\$BEGIN CREATE ROLE ec_other LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$" \
		>/dev/null || exit 1
done
PRIV="REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC; GRANT EXECUTE ON FUNCTION read_plaintext() TO ec_reader"
kq -c "$PRIV" -c "SELECT run_command_on_workers(\$\$$PRIV\$\$)" >/dev/null || exit 1
MULTI="BEGIN; SELECT count(*) FROM users WHERE decrypt(email) <> ''; COMMIT"
check_eq "read_plaintext() revoked on every node: a multi-shard decrypt() is refused (42501)" "42501" \
	"$(PGOPTIONS="$K1" ROLE=ec_other state_of "$PC" "$MULTI")"
check_eq "... and a router query's" "42501" \
	"$(PGOPTIONS="$K1" ROLE=ec_other state_of "$PC" "BEGIN; SELECT decrypt(email) FROM users WHERE id = 7; COMMIT")"
check_eq "... while the role granted it reads" "00000" \
	"$(PGOPTIONS="$K1" ROLE=ec_reader state_of "$PC" "$MULTI")"
PUB="GRANT EXECUTE ON FUNCTION read_plaintext() TO PUBLIC"
kq -c "$PUB" -c "SELECT run_command_on_workers(\$\$$PUB\$\$)" >/dev/null || exit 1
check_eq "in autocommit the workers have no key (55000)" "55000" \
	"$(PGOPTIONS="$K1" state_of "$PC" "SELECT count(*) FROM users WHERE decrypt(email) <> ''")"
check "... and say why" grep -q 'only inside a transaction block' \
	<<<"$(said "SELECT count(*) FROM users WHERE decrypt(email) LIKE '%@example.com'")"
check_eq "a key handed in with SET LOCAL reaches the workers too" "39" \
	"$(pq "$PC" app -c "BEGIN" -c "SET LOCAL encrypted_column.key = '$KEY1'" \
		-c "SELECT count(*) FROM users WHERE decrypt(email) LIKE '%@example.com'" -c "COMMIT")"
check_eq "... also with a quoted name in other case" "39" \
	"$(pq "$PC" app -c "BEGIN" -c "SET LOCAL \"Encrypted_Column\".\"KEY\" = '$KEY1'" \
		-c "SELECT count(*) FROM users WHERE decrypt(email) LIKE '%@example.com'" -c "COMMIT")"

# --- citus.log_remote_commands cannot print the keys ---
# everything the client is sent, NOTICEs included: no command Citus
# issued that sets a key may show, nor any part of the key
printed_nothing() {
	not grep -q -i -E "issuing.*encrypted_column|$(key_slices_re "$KEY1")" <<<"$1"
}
OUT=$(OPTS="$K1 -c citus.log_remote_commands=on" said "BEGIN; SELECT count(*) FROM users; COMMIT")
check "keys are not handed over while citus.log_remote_commands is on (42501)" grep -q 42501 <<<"$(
	OPTS="$K1 -c citus.log_remote_commands=on" state_of_opts "BEGIN; SELECT count(*) FROM users; COMMIT")"
check "... and no key was printed" printed_nothing "$OUT"
check "... nor can it be turned on once they are (set_config, 42501)" grep -q 42501 <<<"$(
	OPTS="$K1" state_of_opts "BEGIN; SELECT count(*) FROM users;
		SELECT set_config('citus.log_remote_commands', 'on', true); COMMIT")"
# (one statement per message: Citus forwards a SET LOCAL with its whole
# query string)
OUT=$(PGOPTIONS="$K1 -c citus.log_remote_commands=on" "$PG_BINDIR/psql" -X -q -A -t \
	-v VERBOSITY=verbose -v ON_ERROR_STOP=1 -h "$REL_TMP" -p "$PC" -U postgres -d app \
	-c "BEGIN" -c "SET LOCAL citus.log_remote_commands = off" -c "SELECT count(*) FROM users" \
	-c "RESET citus.log_remote_commands" -c "SELECT count(*) FROM codes" -c "COMMIT" 2>&1)
check "... nor come back on by RESET before the next statement (42501)" grep -q 'ERROR:  42501' <<<"$OUT"
check "... and no key was printed" printed_nothing "$OUT"
check "... while Citus's commands were being printed (control)" grep -q 'issuing ROLLBACK' <<<"$OUT"

# --- rotation in batches ---
K2OPTS="-c encrypted_column.key=$KEY2 -c encrypted_column.previous_keys=$KEY1"
for batch in "id < 500" "id >= 500"; do
	check "rotation batch ($batch)" env PGOPTIONS="$K2OPTS" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
		-h "$REL_TMP" -p "$PC" -U postgres -d app -c "BEGIN" \
		-c "INSERT INTO users SELECT id, reencrypt(email), reencrypt(handle) FROM users WHERE $batch
			ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, handle = EXCLUDED.handle" -c "COMMIT"
done
K2ID=$(PGOPTIONS="-c encrypted_column.key=$KEY2" pq "$PC" app -c "SELECT current_key_id()")
check_eq "every value is under the new key" "39/39" \
	"$(kq -c "SELECT count(*) FILTER (WHERE key_id(email) = '$K2ID' AND key_id(handle) = '$K2ID') || '/' || count(*) FROM users")"
check_eq "... and decrypts with the new key alone" "$WANT" \
	"$(OPTS="-c encrypted_column.key=$KEY2" kt "SELECT string_agg(id || '=' || decrypt(email), ',' ORDER BY id)
		FROM users WHERE decrypt(email) = decrypt(handle)")"

# --- the deterministic type as the distribution column ---
kq <<'EOF' >/dev/null || exit 1
CREATE TABLE accounts (email encrypted_text_det PRIMARY KEY, name encrypted_text);
SELECT create_distributed_table('accounts', 'email');
CREATE TABLE logins (email encrypted_text_det, at int);
SELECT create_distributed_table('logins', 'email', colocate_with => 'accounts');
INSERT INTO accounts SELECT 'acct-' || i || '@example.com', 'Name ' || i FROM generate_series(1, 50) i;
INSERT INTO logins SELECT 'acct-' || (i % 10 + 1) || '@example.com', i FROM generate_series(1, 40) i;
EOF
check_eq "a duplicate distribution key is refused (23505)" "23505" \
	"$(PGOPTIONS="$K1" state_of "$PC" "INSERT INTO accounts VALUES ('acct-7@example.com', 'again')")"
check "a lookup by plaintext routes to one shard" grep -q -x ' *Task Count: 1' \
	<<<"$(said "EXPLAIN (COSTS OFF) SELECT * FROM accounts WHERE email = 'acct-7@example.com'")"
check_eq "... and finds the row" "Name 7" \
	"$(kt "SELECT decrypt(name) FROM accounts WHERE email = 'acct-7@example.com'")"
check_eq "... also as a prepared parameter" "Name 9" \
	"$(kq -c "PREPARE look(text) AS SELECT decrypt(name) FROM accounts WHERE email = \$1::encrypted_text_det" \
		-c "BEGIN" -c "EXECUTE look('acct-9@example.com')" -c "COMMIT")"
check_eq "co-located tables join on it" "40|10" \
	"$(kq -c "SELECT count(*), count(DISTINCT a.email) FROM accounts a JOIN logins l USING (email)")"

# Citus routes on a constant of the distribution column's type.  An
# untyped literal is one (its input function encrypts it); a text literal
# or a text parameter is planned as the envelopes of the plaintext under
# every loaded key, one task per key at most, and found in autocommit too,
# since the workers compare envelopes and need no key.
task_count() { grep -o -E 'Task Count: [0-9]+' <<<"$1" | head -n 1 | grep -o -E '[0-9]+$'; }
LOOK="SELECT count(*) FROM accounts WHERE email"
PREP="PREPARE lk(text) AS $LOOK = \$1"
# Task Count of each form, then rows found in autocommit, with the options in $OPTS
forms() {
	local untyped typed param
	untyped=$(task_count "$(said "EXPLAIN (COSTS OFF) $LOOK = 'acct-7@example.com'")")
	typed=$(task_count "$(said "EXPLAIN (COSTS OFF) $LOOK = 'acct-7@example.com'::text")")
	param=$(task_count "$(PGOPTIONS="${OPTS:-$K1}" "$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PC" \
		-U postgres -d app -c "$PREP" -c "EXPLAIN (COSTS OFF) EXECUTE lk('acct-7@example.com')" 2>&1)")
	echo "$untyped $typed $param"
}
check_eq "Task Count with one key: untyped literal, text literal, text parameter" "1 1 1" "$(forms)"
check_eq "... the text literal finds the row in autocommit" "1" \
	"$(kq -c "$LOOK = 'acct-7@example.com'::text")"
check_eq "... the text parameter too" "1" \
	"$(kq -c "$PREP" -c "EXECUTE lk('acct-7@example.com')")"
check_eq "... varchar literal and varchar parameter too" "1|1" \
	"$(kq -c "PREPARE lkv(varchar) AS $LOOK = \$1" -c "$LOOK = 'acct-7@example.com'::varchar" \
		-c "EXECUTE lkv('acct-7@example.com')" | paste -s -d '|')"
FORMS2=$(OPTS="$K2OPTS" forms)
read -r U2 T2 P2 <<<"$FORMS2"
check_eq "with a previous key: the untyped literal still runs as one task" "1" "$U2"
check "... the text literal as one task per key at most ($T2)" test "${T2:-9}" -le 2
check "... the text parameter too ($P2)" test "${P2:-9}" -le 2
check_eq "... the untyped literal finds only rows under the current key (none yet)" "0" \
	"$(PGOPTIONS="$K2OPTS" pq "$PC" app -c "$LOOK = 'acct-7@example.com'")"
check_eq "... the text literal and parameter find the row under the previous key" "1|1" \
	"$(PGOPTIONS="$K2OPTS" pq "$PC" app -c "$PREP" -c "$LOOK = 'acct-7@example.com'::text" \
		-c "EXECUTE lk('acct-7@example.com')" | paste -s -d '|')"
# a plan made with the envelopes is made anew when a key setting changes
check_eq "a prepared text lookup follows SET of previous_keys (before, after)" "0|1" \
	"$(PGOPTIONS="-c encrypted_column.key=$KEY2" pq "$PC" app \
		-c "PREPARE fixed AS $LOOK = 'acct-7@example.com'::text" -c "EXECUTE fixed" \
		-c "SET encrypted_column.previous_keys = '$KEY1'" -c "EXECUTE fixed" | paste -s -d '|')"
check_eq "... and SET of the key (before, after)" "0|1" \
	"$(PGOPTIONS="-c encrypted_column.key=$KEY2" pq "$PC" app \
		-c "PREPARE fixed AS $LOOK = 'acct-7@example.com'::text" -c "EXECUTE fixed" \
		-c "SET encrypted_column.key = '$KEY1'" -c "EXECUTE fixed" | paste -s -d '|')"
check "... and no envelope of the lookup is folded without a key (55000 from the comparison)" \
	grep -q -x 55000 <<<"$(OPTS=" " state_of_opts "$LOOK = 'acct-7@example.com'::text")"

# rotation of a deterministic distribution column: a rotated value is a
# new distribution key, so the rotated rows are inserted and the old ones
# deleted, in one transaction, for co-located tables alike
check "a deterministic distribution column rotates by INSERT and DELETE" \
	env PGOPTIONS="$K2OPTS" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
	-h "$REL_TMP" -p "$PC" -U postgres -d app -c "BEGIN" \
	-c "INSERT INTO accounts SELECT reencrypt(email), reencrypt(name) FROM accounts
		WHERE key_id(email) <> current_key_id()" \
	-c "DELETE FROM accounts WHERE key_id(email) <> current_key_id()" \
	-c "INSERT INTO logins SELECT reencrypt(email), at FROM logins WHERE key_id(email) <> current_key_id()" \
	-c "DELETE FROM logins WHERE key_id(email) <> current_key_id()" -c "COMMIT"
check_eq "... every row under the new key (accounts, logins)" "50/50|40/40" \
	"$(kq -c "SELECT (SELECT count(*) FILTER (WHERE key_id(email) = '$K2ID' AND key_id(name) = '$K2ID')
		|| '/' || count(*) FROM accounts) || '|' || (SELECT count(*) FILTER (WHERE key_id(email) = '$K2ID')
		|| '/' || count(*) FROM logins)")"
check_eq "... found by plaintext with the new key alone, on one shard" "Name 7|1" \
	"$(OPTS="-c encrypted_column.key=$KEY2" kt "SELECT decrypt(name) || '|' || count(*) OVER ()
		FROM accounts WHERE email = 'acct-7@example.com'")"
check "... (routed)" grep -q -x ' *Task Count: 1' \
	<<<"$(OPTS="-c encrypted_column.key=$KEY2" said "EXPLAIN (COSTS OFF) SELECT * FROM accounts WHERE email = 'acct-7@example.com'")"
check_eq "... and the co-located join still pairs every row" "40|10" \
	"$(kq -c "SELECT count(*), count(DISTINCT a.email) FROM accounts a JOIN logins l USING (email)")"

# --- search on distributed tables ---
# Columns with search terms, and their indexes made on the coordinator
# with no key set: Citus makes them on every shard, which read the terms
# the values carry.
pq "$PC" app <<'EOF' >/dev/null || exit 1
CREATE TABLE finds (id int PRIMARY KEY, name encrypted_text(trigram), day encrypted_date(range, 7),
	n encrypted_bigint(range, 100));
SELECT create_distributed_table('finds', 'id');
EOF
check "a GIN index of trigram tags on a distributed table, made without a key" \
	quiet pq "$PC" app -c "CREATE INDEX finds_name ON finds USING gin (name)"
# the rows, as plaintext: 1 to 120 go in as literals, 121 to 200 by COPY,
# 201 to 240 by INSERT ... SELECT through the coordinator
GEN="SELECT g, format('%s %s srch-%s', (ARRAY['Alice', 'bob', 'Carol', 'DAVE', 'Eve', 'Frank', 'Grace',
	'Ingrid', 'Kelvin'])[g % 9 + 1], (ARRAY['Smith', 'Jones', 'smithers', 'MILLER', 'Kirk'])[g % 5 + 1], g) AS name,
	date '2020-01-01' + g * 37 % 1000 AS day, g * 7919 % 10007 - 5000 AS n FROM generate_series(1, 240) g"
FVALS=$(pq "$PC" app -c "SELECT string_agg(format('(%s, %L, %L, %L)', g, name, day, n), ', ' ORDER BY g)
	FROM ($GEN) s WHERE g <= 120")
[[ -n $FVALS ]] || exit 1
pq "$PC" app -c "\\copy (SELECT * FROM ($GEN) s WHERE g > 120 AND g <= 200) TO '$REL_TMP/finds.txt'" || exit 1
# two of the plaintexts, looked for in the workers' files at the end
FINDS_PLAIN=("$(pq "$PC" app -c "SELECT name FROM ($GEN) s WHERE g = 7")"
	"$(pq "$PC" app -c "SELECT name FROM ($GEN) s WHERE g = 150")")
[[ -n ${FINDS_PLAIN[0]} && -n ${FINDS_PLAIN[1]} ]] || exit 1
check "rows with search terms inserted as literals through the coordinator" \
	kq -c "INSERT INTO finds VALUES $FVALS, (241, NULL, NULL, NULL)"
check "... by COPY" kq -c "\\copy finds FROM '$REL_TMP/finds.txt'"
check "... and by INSERT ... SELECT of plaintext through the coordinator, in autocommit" \
	kq -c "INSERT INTO finds SELECT g, name, day, n FROM ($GEN) s WHERE g > 200"
check "range_ops indexes on the filled shards, made without a key" quiet pq "$PC" app \
	-c "CREATE INDEX finds_day ON finds (day encrypted_date_range_ops)" \
	-c "CREATE INDEX finds_n ON finds (n encrypted_bigint_range_ops)"
check_eq "... every shard has the three indexes (shards with 4 indexes/shards)" "8/8" \
	"$(pq "$PC" app -c "SELECT count(*) FILTER (WHERE result = '4') || '/' || count(*)
		FROM run_command_on_shards('finds', \$\$SELECT count(*) FROM pg_index WHERE indrelid = '%s'::regclass\$\$)")"
check_eq "every row decrypts to what was written, with its terms (rows with terms)" \
	"$(pq "$PC" app -c "SELECT md5(string_agg(concat_ws('|', g, name, day, n), ',' ORDER BY g)) FROM ($GEN) s")|240" \
	"$(kt "SELECT md5(string_agg(concat_ws('|', id, decrypt(name), decrypt(day), decrypt(n)), ',' ORDER BY id))
		|| '|' || count(*) FILTER (WHERE search_terms(name) IS NOT NULL AND range_term(day) IS NOT NULL
		AND range_term(n) IS NOT NULL) FROM finds WHERE id <= 240")"

# a reference table with typed columns: literals, and INSERT ... SELECT
KVALS=$(pq "$PC" app -c "SELECT string_agg(format('(%s, %L, %L)', g, 'kind ' || (ARRAY['red', 'Green', 'BLUE'])[g % 3 + 1]
	|| ' ' || g, date '2019-06-01' + g * 53 % 700), ', ' ORDER BY g) FROM generate_series(1, 30) g")
kq -c "CREATE TABLE kinds (code int PRIMARY KEY, label encrypted_text(trigram), since encrypted_date(range, 30))" \
	-c "SELECT create_reference_table('kinds')" -c "INSERT INTO kinds VALUES $KVALS" >/dev/null || exit 1
check "INSERT ... SELECT of plaintext into a reference table, in autocommit" kq \
	-c "INSERT INTO kinds SELECT g, 'kind ' || (ARRAY['red', 'Green', 'BLUE'])[g % 3 + 1] || ' ' || g,
		date '2019-06-01' + g * 53 % 700 FROM generate_series(31, 60) g"
check "indexes on a reference table, without a key" quiet pq "$PC" app \
	-c "CREATE INDEX kinds_label ON kinds USING gin (label)" \
	-c "CREATE INDEX kinds_since ON kinds (since encrypted_date_range_ops)"
check_eq "... whose placements are byte-identical, terms included (placements/read/distinct/rows with terms)" \
	"3/true/1/60" \
	"$(pq "$PC" app -c "SELECT count(*) || '/' || bool_and(success) || '/' || count(DISTINCT result) || '/' || min(result)
		FROM run_command_on_placements('kinds', \$\$SELECT count(*) FILTER (WHERE search_terms(label) IS NOT NULL
		AND range_term(since) IS NOT NULL) || ' ' || md5(string_agg(label::text || since::text, ',' ORDER BY code))
		FROM %s\$\$)" | sed -E 's/ [0-9a-f]{32}$//')"

# A search and the same query on decrypt(col) give the same rows, in the
# same order.  Each query is written with @col, which the search reads as
# col and the reference as decrypt(col); each side runs every query in
# one transaction block, with the options in $OPTS, the shards preferring
# their indexes.  Prints one line per query, the ids joined by commas.
search_rows() {
	local args=() q
	for q in "$@"; do args+=(-c "$q" -c '\echo @@'); done
	PGOPTIONS="${OPTS:-$K1}" pq "$PC" app -c "BEGIN" -c "SET LOCAL enable_seqscan = off" "${args[@]}" \
		-c "COMMIT" 2>&1 | awk '/^@@$/ { print line; line = ""; next } { line = line == "" ? $0 : line "," $0 }'
}
# searches_are_exact LABEL "name|query"...
searches_are_exact() {
	local label=$1 s i
	shift
	local names=() searches=() references=() want got
	for s in "$@"; do
		names+=("${s%%|*}")
		searches+=("${s#*|}")
		references+=("$(sed -E 's/@([a-z]+)/decrypt(\1)/g' <<<"${s#*|}")")
	done
	mapfile -t want < <(search_rows "${references[@]//@/}")
	mapfile -t got < <(search_rows "${searches[@]//@/}")
	for i in "${!names[@]}"; do
		if [[ ! ${want[i]:-} =~ ^[0-9]+(,[0-9]+)*$ ]]; then
			check_eq "$label: ${names[i]} (the reference found rows)" "rows" "${want[i]:-}"
		else
			check_eq "$label: ${names[i]}" "${want[i]}" "${got[i]:-}"
		fi
	done
}
SEARCHES=(
	"LIKE|SELECT id FROM finds WHERE @name LIKE 'Alice%' ORDER BY id"
	"LIKE, case-sensitive|SELECT id FROM finds WHERE @name LIKE '%smith%' ORDER BY id"
	"ILIKE|SELECT id FROM finds WHERE @name ILIKE '%SMITH%' ORDER BY id"
	"ILIKE with an i and a k|SELECT id FROM finds WHERE @name ILIKE 'kelvin k%' ORDER BY id"
	"BETWEEN two dates|SELECT id FROM finds WHERE @day BETWEEN date '2020-06-01' AND date '2020-09-30' ORDER BY id"
	"BETWEEN untyped literals (encrypted on the coordinator)|SELECT id FROM finds WHERE @day BETWEEN '2020-06-01' AND '2020-09-30' ORDER BY id"
	"< a plain date|SELECT id FROM finds WHERE @day < date '2020-02-15' ORDER BY id"
	"< a plain integer|SELECT id FROM finds WHERE @n < -4000 ORDER BY id"
	"BETWEEN integers, with ILIKE|SELECT id FROM finds WHERE @n BETWEEN -2500 AND 2500 AND @name ILIKE '%jones%' ORDER BY id"
	"ORDER BY a date LIMIT 10|SELECT id FROM finds ORDER BY @day LIMIT 10"
	"ORDER BY a date DESC LIMIT 10|SELECT id FROM finds ORDER BY @day DESC LIMIT 10"
	"ORDER BY an integer LIMIT 10|SELECT id FROM finds ORDER BY @n LIMIT 10"
	"ORDER BY an integer DESC LIMIT 10|SELECT id FROM finds ORDER BY @n DESC LIMIT 10"
	"ORDER BY with LIKE and OFFSET|SELECT id FROM finds WHERE @name LIKE '%Jones%' ORDER BY @day OFFSET 3 LIMIT 5"
	"a reference table: LIKE|SELECT code FROM kinds WHERE @label LIKE '%Green%' ORDER BY code"
	"a reference table: < a plain date|SELECT code FROM kinds WHERE @since < date '2019-09-01' ORDER BY code"
	"a reference table: ORDER BY DESC LIMIT 5|SELECT code FROM kinds ORDER BY @since DESC LIMIT 5"
)
searches_are_exact "search as exact as decrypt()" "${SEARCHES[@]}"

# the plan of every task, with the key
plan_of() {
	PGOPTIONS="${OPTS:-$K1}" pq "$PC" app -c "BEGIN" -c "SET LOCAL enable_seqscan = off" \
		-c "SET LOCAL citus.explain_all_tasks = on" -c "EXPLAIN (COSTS OFF) $1" -c "COMMIT" 2>&1
}
# lines of a plan that match $2 / its Task Count
per_task() {
	echo "$(grep -c -E "$2" <<<"$1")/$(grep -o -E 'Task Count: [0-9]+' <<<"$1" | grep -o -E '[0-9]+$')"
}
PLAN=$(plan_of "SELECT id FROM finds WHERE name LIKE '%smith%'")
check_eq "EXPLAIN: LIKE reads the GIN index on every shard (tasks)" "8/8" \
	"$(per_task "$PLAN" 'Bitmap Index Scan on finds_name_[0-9]+')"
PLAN=$(plan_of "SELECT id FROM finds WHERE day BETWEEN date '2020-06-01' AND date '2020-09-30'")
check_eq "EXPLAIN: BETWEEN reads the range index on every shard (tasks)" "8/8" \
	"$(per_task "$PLAN" 'Index Scan (using|on) finds_day_[0-9]+')"
check "... with range_bound() in the index condition" grep -q 'range_bound' <<<"$PLAN"
PLAN=$(plan_of "SELECT id FROM finds ORDER BY day LIMIT 10")
check_eq "EXPLAIN: ORDER BY ... LIMIT walks the range index on every shard (tasks)" "8/8" \
	"$(per_task "$PLAN" 'Index Scan using finds_day_[0-9]+')"
check_eq "... each shard query sorting by the terms, then by plaintext (tasks)" "8/8" \
	"$(per_task "$PLAN" 'Sort Key: day USING ~<~, \(order_value\(day\)\)$')"
check "... with the guard" grep -q 'order_guard(day)' <<<"$PLAN"
PLAN=$(plan_of "SELECT code FROM kinds WHERE label LIKE '%Green%'")
check "EXPLAIN: LIKE on a reference table reads its GIN index" grep -q -E 'Bitmap Index Scan on kinds_label_[0-9]+' <<<"$PLAN"

# a role without read_plaintext() is refused a search on the shards, even
# where no row matches; it may still write rows with terms
PRIV="REVOKE EXECUTE ON FUNCTION read_plaintext() FROM PUBLIC; GRANT EXECUTE ON FUNCTION read_plaintext() TO ec_reader"
kq -c "GRANT SELECT ON finds, kinds TO ec_reader, ec_other" -c "GRANT INSERT ON finds TO ec_other" -c "$PRIV" \
	-c "SELECT run_command_on_workers(\$\$$PRIV\$\$)" >/dev/null || exit 1
search_state() {
	sqlstate "$PC" app -U "$ROLE" -c "BEGIN" -c "SET LOCAL enable_seqscan = off" -c "$1" -c "COMMIT"
}
for q in "SELECT count(*) FROM finds WHERE name LIKE 'qqqzzz%'" \
	"SELECT count(*) FROM finds WHERE name ILIKE '%QQQZZZ%'" \
	"SELECT count(*) FROM finds WHERE day BETWEEN date '1900-01-01' AND date '1900-01-02'" \
	"SELECT count(*) FROM finds WHERE n < -9000000" \
	"SELECT id FROM finds ORDER BY day LIMIT 3" \
	"SELECT count(*) FROM kinds WHERE label LIKE 'qqqzzz%'"; do
	check_eq "without read_plaintext(), refused (42501): ${q#SELECT }" "42501" \
		"$(PGOPTIONS="$K1" ROLE=ec_other search_state "$q")"
done
check_eq "... while the role granted it searches" "00000" \
	"$(PGOPTIONS="$K1" ROLE=ec_reader search_state "SELECT count(*) FROM finds WHERE name LIKE 'qqqzzz%'")"
check_eq "... and the role without it inserts rows with terms (literals, INSERT ... SELECT)" "00000" \
	"$(PGOPTIONS="$K1" ROLE=ec_other state_of "$PC" "INSERT INTO finds VALUES (251, 'Writer One', '2021-03-03', 3);
		INSERT INTO finds SELECT g, 'Writer ' || g, date '2021-03-01' + g, g FROM generate_series(252, 253) g")"
PUB="GRANT EXECUTE ON FUNCTION read_plaintext() TO PUBLIC"
kq -c "$PUB" -c "SELECT run_command_on_workers(\$\$$PUB\$\$)" >/dev/null || exit 1
check_eq "... (rows with terms)" "3" \
	"$(kq -c "SELECT count(*) FROM finds WHERE id > 250 AND search_terms(name) IS NOT NULL
		AND range_term(day) IS NOT NULL AND range_term(n) IS NOT NULL")"

# during a rotation: rows under the new key and the old, all found
FK2="-c encrypted_column.key=$KEY2 -c encrypted_column.previous_keys=$KEY1"
check "rows under a new key, with the old one as previous_keys" env PGOPTIONS="$FK2" \
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$REL_TMP" -p "$PC" -U postgres -d app \
	-c "INSERT INTO finds VALUES (301, 'Alice Newkey srch-301', '2020-06-15', 150),
		(302, 'kelvin kirk newkey', '2020-01-02', -4990), (303, 'Zed Jones', '2022-12-31', 9999)"
OPTS="$FK2" searches_are_exact "during a rotation" "${SEARCHES[@]}"
check "the rotation on the shards (INSERT ... SELECT reencrypt() ... ON CONFLICT)" env PGOPTIONS="$FK2" \
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$REL_TMP" -p "$PC" -U postgres -d app -c "BEGIN" \
	-c "INSERT INTO finds SELECT id, reencrypt(name), reencrypt(day), reencrypt(n) FROM finds
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, day = EXCLUDED.day, n = EXCLUDED.n" -c "COMMIT"
check_eq "... every value under the new key, with its terms (rows, the NULL row apart)" "246/246" \
	"$(kq -c "SELECT count(*) FILTER (WHERE key_id(name) = '$K2ID' AND key_id(day) = '$K2ID'
		AND key_id(n) = '$K2ID' AND search_terms(name) IS NOT NULL AND range_term(day) IS NOT NULL
		AND range_term(n) IS NOT NULL) || '/' || count(*) FROM finds WHERE id <> 241")"
OPTS="-c encrypted_column.key=$KEY2" searches_are_exact "after the rotation, with the new key alone" \
	"${SEARCHES[@]:0:14}"
PLAN=$(OPTS="-c encrypted_column.key=$KEY2" plan_of "SELECT id FROM finds ORDER BY day DESC LIMIT 10")
check_eq "... ORDER BY DESC ... LIMIT walks the range index on every shard again (tasks)" "8/8" \
	"$(per_task "$PLAN" 'Index Scan Backward using finds_day_[0-9]+')"

# --- the laundering rule on every node ---
CT=$(kq -c "SELECT email::text FROM users WHERE id = 1")
CTH=$(kq -c "SELECT handle::text FROM users WHERE id = 1")
[[ $CT == ecv1:* && $CTH == ecv1:* ]] || exit 1
check_eq "a ciphertext literal is refused on the coordinator (22023)" "22023" \
	"$(PGOPTIONS="$K1" state_of "$PC" "INSERT INTO users VALUES (5000, '$CT', 'x')")"
SHARD=$(kq -c "SELECT shard_name('users'::regclass, shardid) FROM pg_dist_shard_placement
	JOIN pg_dist_shard USING (shardid) WHERE logicalrelid = 'users'::regclass AND nodeport = $PW1 LIMIT 1")
check_eq "... and on a worker, from a session without the node certificate" "22023" \
	"$(state_of "$PW1" "INSERT INTO $SHARD VALUES (5000, '$CT', 'x')")"
OTHER=$("$PG_BINDIR/psql" -X -q -A -t -v VERBOSITY=verbose \
	"host=127.0.0.1 port=$PW1 dbname=app user=postgres sslmode=verify-ca sslrootcert=$TLS/ca.crt sslcert=$TLS/other.crt sslkey=$TLS/other.key" \
	-c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" -c "INSERT INTO $SHARD VALUES (5000, '$CT', 'x')" 2>&1)
check "... and from one with another certificate of the same CA" \
	grep -q -E '^(t)$' <<<"$(head -n 1 <<<"$OTHER")"
check "... which is refused too" grep -q 'ERROR:  22023' <<<"$OTHER"
for cert in prefix none; do
	case $cert in
	prefix) conn="sslmode=verify-ca sslrootcert=$TLS/ca.crt sslcert=$TLS/prefix.crt sslkey=$TLS/prefix.key" ;;
	none) conn="sslmode=require sslcert=/nonexistent sslkey=/nonexistent" ;;
	esac
	OUT=$("$PG_BINDIR/psql" -X -q -A -t -v VERBOSITY=verbose \
		"host=127.0.0.1 port=$PW1 dbname=app user=postgres $conn" \
		-c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" -c "INSERT INTO $SHARD VALUES (5000, '$CT', 'x')" 2>&1)
	check "... and over TLS with $( [[ $cert == prefix ]] && echo "a name that extends the trusted one" || echo "no certificate")" \
		grep -q -x 't' <<<"$(head -n 1 <<<"$OUT")"
	check "... which is refused too" grep -q 'ERROR:  22023' <<<"$OUT"
done
check_eq "nothing was stored in that shard" "0" "$(pq "$PW1" app -c "SELECT count(*) FROM $SHARD WHERE id = 5000")"
check "with the restore switch, a ciphertext restores through the coordinator" \
	pq "$PC" app -c "SET encrypted_column.accept_ciphertext = on" \
	-c "INSERT INTO users VALUES (5000, '$CT', '$CTH')"
check_eq "... byte for byte" "$CT" "$(kq -c "SELECT email::text FROM users WHERE id = 5000")"

# --- no laundering through what Citus ships, by an ordinary role ---
kq <<EOF >/dev/null || exit 1
CREATE ROLE app_user LOGIN;
GRANT ALL ON users TO app_user;
CREATE TYPE wrapped AS (c encrypted_text);
CREATE TABLE stolen (id int PRIMARY KEY, t text);
SELECT create_distributed_table('stolen', 'id', colocate_with => 'users');
INSERT INTO stolen VALUES (1, '$CT'), (2, '$CT');
GRANT ALL ON stolen TO app_user;
GRANT CREATE ON SCHEMA public TO app_user;
EOF
# as app_user, with the key; the error must come from a worker
on_worker_refused() {
	local out
	out=$(PGOPTIONS="$K1" "$PG_BINDIR/psql" -X -q -A -t -v VERBOSITY=verbose -h "$REL_TMP" \
		-p "$PC" -U app_user -d app -c "$1" 2>&1)
	grep -q '^ERROR:  22023' <<<"$out" && grep -q 'while executing command on' <<<"$out"
}
check "a pushed-down cast of a text column is refused on the worker (22023)" on_worker_refused \
	"INSERT INTO users SELECT id + 6000, t::encrypted_text, t::encrypted_text_det FROM stolen"
check "... so is a pushed-down composite I/O conversion" on_worker_refused \
	"INSERT INTO users (id, email) SELECT id + 6100, (('(' || t || ')')::wrapped).c FROM stolen"
check_eq "... and a SQL function's ciphertext literal (22023)" "22023" "$(PGOPTIONS="$K1" ROLE=app_user state_of "$PC" \
	"SET check_function_bodies = off;
	 CREATE FUNCTION launder(int) RETURNS encrypted_text IMMUTABLE LANGUAGE sql
	   AS \$\$SELECT '$CT'::encrypted_text\$\$;
	 INSERT INTO users (id, email) SELECT id + 6200, launder(id) FROM stolen")"
# refused by the extension (its detail), not by a missing EXECUTE grant
guarded() {
	local out
	out=$(PGOPTIONS="$K1" "$PG_BINDIR/psql" -X -q -A -t -v VERBOSITY=verbose -h "$REL_TMP" \
		-p "$PC" -U app_user -d app -c "$1" 2>&1)
	grep -q 'Cluster nodes accept ciphertext text forms' <<<"$out"
}
check "run_command_on_shards() is refused to an ordinary role (42501)" guarded \
	"SELECT run_command_on_shards('users', \$\$INSERT INTO %s VALUES (6300, '$CT', '$CTH')\$\$)"
check "... and run_command_on_workers()" guarded "SELECT run_command_on_workers('SELECT 1')"
check "... and master_run_on_worker()" guarded \
	"SELECT master_run_on_worker(ARRAY['127.0.0.1'], ARRAY[$PW1], ARRAY['SELECT 1'], false)"
check "... and so are Citus's monitoring functions that use them (the price)" guarded \
	"SELECT count(*) FROM citus_stat_activity"
check_eq "nothing was stored" "0" "$(kq -c "SELECT count(*) FROM users WHERE id >= 6000")"
check "a superuser may still run commands on the workers" \
	quiet kq -c "SELECT run_command_on_workers('SELECT 1')"

# --- a dump of the coordinator, restored into a new Citus database ---
DUMP=$REL_TMP/app.dump
check "pg_dump of the coordinator's distributed tables" \
	quiet "$PG_BINDIR/pg_dump" -h "$REL_TMP" -p "$PC" -U postgres -d app -Fc \
	-t users -t accounts -f "$DUMP"
"$PG_BINDIR/pg_restore" -f "$REL_TMP/app.sql" "$DUMP" || exit 1
check "... holds ciphertexts (control)" grep -q "ecv1:" "$REL_TMP/app.sql"
check "... and no plaintext" not grep -q -a -F -e 'citus-7@example.com' "$REL_TMP/app.sql"
check "... and no key" not grep -q -a -i -E -e "$(key_slices_re "$KEY1" "$KEY2")" "$REL_TMP/app.sql"
for port in "$PC" "$PW1" "$PW2"; do
	pq "$port" postgres -c "CREATE DATABASE app2" >/dev/null &&
		pq "$port" app2 -c "CREATE EXTENSION citus" -c "CREATE EXTENSION encrypted_column" >/dev/null || exit 1
done
pq "$PC" app2 -c "SELECT citus_set_coordinator_host('127.0.0.1', $PC)" \
	-c "SELECT citus_add_node('127.0.0.1', $PW1)" -c "SELECT citus_add_node('127.0.0.1', $PW2)" >/dev/null || exit 1
RESTORE=("$PG_BINDIR/pg_restore" -h "$REL_TMP" -p "$PC" -U postgres -d app2 --exit-on-error)
check "the tables restore (pre-data)" quiet "${RESTORE[@]}" --section=pre-data "$DUMP"
check "... and are distributed as before" quiet pq "$PC" app2 -c "SELECT create_distributed_table('users', 'id')" \
	-c "SELECT create_distributed_table('accounts', 'email')"
OUT=$("${RESTORE[@]}" --section=data "$DUMP" 2>&1)
check "the data does not restore without the restore switch" grep -q -E 'input looks like an encrypted_text(_det)? ciphertext' <<<"$OUT"
check_eq "... and nothing is stored" "0|0" "$(pq "$PC" app2 -c "SELECT (SELECT count(*) FROM users) || '|' || (SELECT count(*) FROM accounts)")"
check "with the switch, it restores through the coordinator" \
	quiet env PGOPTIONS="-c encrypted_column.accept_ciphertext=on" "${RESTORE[@]}" --section=data "$DUMP"
check "... with its constraints" quiet "${RESTORE[@]}" --section=post-data "$DUMP"
FP="SELECT md5(string_agg(id || email::text || handle::text, ',' ORDER BY id)) FROM users"
FPA="SELECT md5(string_agg(email::text || name::text, ',' ORDER BY email::text)) FROM accounts"
check_eq "the restored ciphertexts are byte-identical" "$(pq "$PC" app -c "$FP")|$(pq "$PC" app -c "$FPA")" \
	"$(pq "$PC" app2 -c "$FP")|$(pq "$PC" app2 -c "$FPA")"
check_eq "... and decrypt on the new cluster's shards" "$WANT" \
	"$(PGOPTIONS="-c encrypted_column.key=$KEY2" pq "$PC" app2 -c "BEGIN" \
		-c "SELECT string_agg(id || '=' || decrypt(email), ',' ORDER BY id) FROM users
			WHERE decrypt(email) = decrypt(handle) AND id < 5000" -c "COMMIT")"

# --- stored keys under a server-side KEK: no secret leaves the client ---
# Every node reads the same KEK file; the client's session only names a
# key (encrypted_column.key_name), and the key functions run on the
# coordinator, which sends the changed rows to every worker.
for p in "$PC" "$PW1" "$PW2"; do
	pq "$p" app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$KEK_SOURCE'" \
		-c "SELECT pg_reload_conf()" >/dev/null || exit 1
done
# a node added later has it in postgresql.conf
CITUS_EXTRA_CONF="$CITUS_EXTRA_CONF
encrypted_column.kek_source = '$KEK_SOURCE'"
kek_loaded() { [[ $(pq "$1" app -c "SHOW encrypted_column.kek_source") == "$KEK_SOURCE" ]]; }
for p in "$PC" "$PW1" "$PW2"; do wait_for 10 kek_loaded "$p" || exit 1; done
SK="-c encrypted_column.key_name=tenant_a"
sq() { PGOPTIONS="${SOPTS:-$SK}" pq "$PC" app "$@"; }
st() { PGOPTIONS="${SOPTS:-$SK}" pq "$PC" app -c "BEGIN" -c "$1" -c "COMMIT"; }
ssaid() { PGOPTIONS="${SOPTS:-$SK}" "$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PC" -U postgres -d app -c "$1" 2>&1; }
# everything psql prints for statements as a role, errors in full
as_role() {
	local role=$1
	shift
	PGOPTIONS="${SOPTS:-$SK}" "$PG_BINDIR/psql" -X -q -A -t -v VERBOSITY=verbose -h "$REL_TMP" \
		-p "$PC" -U "$role" -d app "$@" 2>&1
}
# the key table of a node (rows and grants, roles by name)
key_rows() {
	pq "$1" app -c "SELECT md5(coalesce(string_agg(concat_ws('|', name, version, key_id, kek_id, state,
		created, destroyed, encode(wrapped, 'hex'), encode(key_check, 'hex')), ',' ORDER BY name, version), ''))
		|| '/' || (SELECT coalesce(string_agg(concat_ws('|', name, grantee::text, may_encrypt, may_decrypt),
		',' ORDER BY name, grantee::text), '') FROM stored_key_grants) FROM stored_keys"
}
# is the key table of the nodes on these ports the coordinator's?
same_on() {
	local c p
	c=$(key_rows "$PC") && [[ -n $c ]] || return 1
	for p in "$@"; do [[ $(key_rows "$p") == "$c" ]] || return 1; done
}
check "create_key on the coordinator" quiet pq "$PC" app -c "SELECT create_key('tenant_a')"
check "... its rows reach every worker, byte for byte" same_on "$PW1" "$PW2"
with_key3() { PGOPTIONS="-c encrypted_column.key=$KEY3" pq "$PC" app "$@"; }
check "import_key of a session's key" quiet with_key3 -c "SELECT import_key('tenant_b')"
check "grant_key: decrypt only, to ec_reader" quiet pq "$PC" app \
	-c "SELECT grant_key('tenant_a', 'ec_reader', 'decrypt')" -c "SELECT grant_key('tenant_b', 'ec_reader', 'decrypt')"
check "... the keys and grants reach every worker, roles by name" same_on "$PW1" "$PW2"
check_eq "... (w2: keys, grants)" "2|2" \
	"$(pq "$PW2" app -c "SELECT (SELECT count(*) FROM stored_keys) || '|' || (SELECT count(*) FROM stored_key_grants)")"
check_eq "a worker refuses the key functions (55000)" "55000" "$(state_of "$PW1" "SELECT create_key('rogue')")"
check_eq "... and nothing was stored there" "0" "$(pq "$PW1" app -c "SELECT count(*) FROM stored_keys WHERE name = 'rogue'")"
AID=$(pq "$PC" app -c "SELECT key_id FROM stored_keys WHERE name = 'tenant_a' AND version = 1")
[[ -n $AID ]] || exit 1

sq <<'EOF' >/dev/null || exit 1
CREATE TABLE vault (id int PRIMARY KEY, secret encrypted_text, email encrypted_text_det);
SELECT create_distributed_table('vault', 'id');
CREATE TABLE vault_mail (email encrypted_text_det PRIMARY KEY, id int);
SELECT create_distributed_table('vault_mail', 'email');
GRANT SELECT, INSERT ON vault, vault_mail TO ec_reader, ec_other;
EOF
VALS=$(for i in $(seq 1 20); do printf "(%d, 'secret-%d', 'v-%d@example.com')," "$i" "$i" "$i"; done)
MVALS=$(for i in $(seq 1 20); do printf "('v-%d@example.com', %d)," "$i" "$i"; done)
check "INSERT with key_name alone, in autocommit" sq -c "INSERT INTO vault VALUES ${VALS%,}" \
	-c "INSERT INTO vault_mail VALUES ${MVALS%,}"
check_eq "... routed to shards on both workers" "2" \
	"$(pq "$PC" app -c "SELECT count(DISTINCT nodeport) FROM run_command_on_placements('vault',
		'SELECT count(*) FROM %s') WHERE result::int > 0")"
check_eq "... every value under the stored key" "20/20" \
	"$(pq "$PC" app -c "SELECT count(*) FILTER (WHERE key_id(secret) = '$AID' AND key_id(email) = '$AID')
		|| '/' || count(*) FROM vault")"
WANTV=$(seq 1 20 | sed 's/.*/&=secret-&/' | paste -s -d ,)
check_eq "multi-shard decrypt() in autocommit, the workers unwrapping with their own KEK" "$WANTV" \
	"$(sq -c "SELECT string_agg(id || '=' || decrypt(secret), ',' ORDER BY id) FROM vault")"
check_eq "... in a filter on the shards" "11" \
	"$(sq -c "SELECT count(*) FROM vault WHERE decrypt(secret) LIKE 'secret-1%'")"
check_eq "... a router query's" "secret-7|v-7@example.com" \
	"$(sq -c "SELECT decrypt(secret) || '|' || decrypt(email) FROM vault WHERE id = 7")"
check_eq "... even with no key setting at all (the key id in each value finds the key)" "20" \
	"$(SOPTS=" " sq -c "SELECT count(*) FROM vault WHERE decrypt(secret) LIKE 'secret-%'")"
check "a lookup by det value is routed (untyped literal)" grep -q -x ' *Task Count: 1' \
	<<<"$(ssaid "EXPLAIN (COSTS OFF) SELECT * FROM vault_mail WHERE email = 'v-7@example.com'")"
check "... and as text" grep -q -x ' *Task Count: 1' \
	<<<"$(ssaid "EXPLAIN (COSTS OFF) SELECT * FROM vault_mail WHERE email = 'v-7@example.com'::text")"
check_eq "... and finds the row in autocommit (untyped, text)" "7|7" \
	"$(sq -c "SELECT (SELECT id FROM vault_mail WHERE email = 'v-7@example.com') || '|'
		|| (SELECT id FROM vault_mail WHERE email = 'v-7@example.com'::text)")"
check_eq "key_name reaches the worker sessions in a transaction block (reencrypt() on the shards)" "20" \
	"$(st "SELECT count(*) FROM vault WHERE key_id(reencrypt(secret)) = '$AID'")"
check_eq "... also when the client sets it with SET LOCAL" "20" \
	"$(pq "$PC" app -c "BEGIN" -c "SET LOCAL encrypted_column.key_name = 'tenant_a'" \
		-c "SELECT count(*) FROM vault WHERE key_id(reencrypt(secret)) = '$AID'" -c "COMMIT")"
OUT=$(as_role postgres -c "SELECT count(*) FROM vault WHERE key_id(reencrypt(secret)) = '$AID'")
check "... not in autocommit, where Citus carries no SET: a worker has no key to encrypt with (55000)" \
	grep -q '^ERROR:  55000' <<<"$OUT"
check "... (the error comes from a worker)" grep -q 'while executing command on' <<<"$OUT"

# rotation of a stored key
check "rotate_key on the coordinator" quiet pq "$PC" app -c "SELECT rotate_key('tenant_a')"
check "... version 2 reaches every worker" same_on "$PW1" "$PW2"
A2=$(pq "$PC" app -c "SELECT key_id FROM stored_keys WHERE name = 'tenant_a' AND version = 2")
check "a new row with an old e-mail goes under version 2" sq \
	-c "INSERT INTO vault VALUES (21, 'secret-21', 'v-7@example.com')" \
	-c "INSERT INTO vault_mail VALUES ('v-21@example.com', 21)"
check_eq "... (key ids)" "$A2|$A2" "$(sq -c "SELECT key_id(secret) || '|' || key_id(email) FROM vault WHERE id = 21")"
check_eq "a lookup by det value finds both versions, in autocommit (ids, distinct key ids)" "7,21|2" \
	"$(sq -c "SELECT string_agg(id::text, ',' ORDER BY id) || '|' || count(DISTINCT key_id(email))
		FROM vault WHERE email = 'v-7@example.com'::text")"
check_eq "... and by the distribution column, a row under each version" "7|21" \
	"$(sq -c "SELECT (SELECT id FROM vault_mail WHERE email = 'v-7@example.com'::text) || '|'
		|| (SELECT id FROM vault_mail WHERE email = 'v-21@example.com'::text)")"
check "... routed to one shard" grep -q -x ' *Task Count: 1' \
	<<<"$(ssaid "EXPLAIN (COSTS OFF) SELECT * FROM vault_mail WHERE email = 'v-21@example.com'")"
check_eq "the workers re-encrypt under version 2 in a transaction block" "21" \
	"$(st "SELECT count(*) FROM vault WHERE key_id(reencrypt(secret)) = '$A2'")"

# who may use a stored key, checked on the worker that uses it
check_eq "a role granted decrypt reads on the shards in autocommit" "21" \
	"$(as_role ec_reader -c "SELECT count(*) FROM vault WHERE decrypt(secret) LIKE 'secret-%'")"
check "... but cannot encrypt on the coordinator (42501, naming the key)" \
	grep -q 'ERROR:  42501: permission denied to encrypt with stored key "tenant_a"' \
	<<<"$(as_role ec_reader -c "INSERT INTO vault VALUES (40, 'no', 'no@example.com')")"
OUT=$(as_role ec_reader -c "BEGIN" -c "SELECT count(*) FROM vault WHERE key_id(reencrypt(secret)) <> ''" -c "COMMIT")
check "... nor on the workers (42501)" grep -q 'ERROR:  42501: permission denied to encrypt with stored key "tenant_a"' <<<"$OUT"
check "... (the refusal comes from a worker)" grep -q 'while executing command on' <<<"$OUT"
OUT=$(as_role ec_other -c "SELECT count(*) FROM vault WHERE decrypt(secret) <> ''")
check "a role with no grant cannot decrypt on the shards (42501)" \
	grep -q 'ERROR:  42501: permission denied to decrypt with stored key "tenant_a"' <<<"$OUT"
check "... (from a worker)" grep -q 'while executing command on' <<<"$OUT"
check "revoke_key on the coordinator" quiet pq "$PC" app -c "SELECT revoke_key('tenant_a', 'ec_reader', 'decrypt')"
check "... reaches every worker" same_on "$PW1" "$PW2"
check "... where the role is now refused" grep -q 'permission denied to decrypt with stored key "tenant_a"' \
	<<<"$(as_role ec_reader -c "SELECT count(*) FROM vault WHERE decrypt(secret) <> ''")"

# crypto-shredding
tenant_b() { SOPTS="-c encrypted_column.key_name=tenant_b" sq "$@"; }
check "rows under tenant_b (the imported key)" tenant_b -c "INSERT INTO vault VALUES (31, 'shred-31', 'shred-31@example.com'), (32, 'shred-32', 'shred-32@example.com')"
check_eq "... decrypt on the shards" "shred-31,shred-32" \
	"$(sq -c "SELECT string_agg(decrypt(secret), ',' ORDER BY id) FROM vault WHERE id > 30")"
check_eq "... and are what the same key given raw reads (the import rewrote nothing)" "shred-31" \
	"$(with_key3 -c "BEGIN" -c "SELECT decrypt(secret) FROM vault WHERE id = 31" -c "COMMIT")"
check "destroy_key on the coordinator" quiet pq "$PC" app -c "SELECT * FROM destroy_key('tenant_b')"
check "... reaches every worker" same_on "$PW1" "$PW2"
check_eq "... where the wrapped key is gone" "destroyed|1|destroyed|1" \
	"$(for p in "$PW1" "$PW2"; do pq "$p" app -c "SELECT state || '|' || (wrapped IS NULL)::int FROM stored_keys WHERE name = 'tenant_b'"; done | paste -s -d '|')"
OUT=$(as_role postgres -c "SELECT decrypt(secret) FROM vault WHERE id = 31")
check "decrypt() of a shredded value fails on the worker (55000, destroyed)" \
	grep -q -E '^ERROR:  55000: stored key "tenant_b" version 1 .* was destroyed' <<<"$OUT"
check "... (on the worker)" grep -q 'while executing command on' <<<"$OUT"
check_eq "... in a multi-shard query too" "55000" \
	"$(PGOPTIONS=" " state_of "$PC" "SELECT count(*) FROM vault WHERE decrypt(secret) <> ''")"
check_eq "... while the other tenant's values still decrypt" "21" \
	"$(sq -c "SELECT count(*) FROM vault WHERE id < 30 AND decrypt(secret) LIKE 'secret-%'")"
for node in w1 w2; do
	# (the log masks the value, as it masks every setting of the extension in a SET)
	check "key_name reached $node as a SET LOCAL in Citus's transaction" \
		grep -q "SET LOCAL encrypted_column.key_name TO '" "$REL_TMP/$node.log"
done

# --- TLS, and no key or plaintext in any node's files ---
check_eq "Citus's connections to the workers use TLS, with the node certificate" "t" \
	"$(kq -c "SELECT bool_and(result ~ '^0/[1-9]') FROM run_command_on_workers(
		\$\$SELECT count(*) FILTER (WHERE NOT ssl OR client_dn IS DISTINCT FROM '/CN=ec-cluster-node')
		  || '/' || count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
		  WHERE backend_type = 'client backend' AND client_port IS NOT NULL\$\$)")"

# --- a worker added later (Citus creates the extension there) ---
PW3=$(free_port $((PW2 + 1))) || exit 1
# it loads the library on first use, as a node whose settings lack it would
CITUS_NO_EXTENSION=1 CITUS_PRELOAD=citus citus_node w3 "$PW3" || exit 1
check "a worker is added" quiet pq "$PC" app -c "SELECT citus_add_node('127.0.0.1', $PW3)"
check_eq "... and Citus created the extension there" "1" \
	"$(pq "$PW3" app -c "SELECT count(*) FROM pg_extension WHERE extname = 'encrypted_column'")"
check "shards move to it" quiet pq "$PC" app -c "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')"
check "... which holds some of them" test "$(pq "$PC" app -c "SELECT count(*) FROM pg_dist_shard_placement WHERE nodeport = $PW3")" -gt 0
check_eq "every row still decrypts" "$WANT" \
	"$(OPTS="-c encrypted_column.key=$KEY2" kt "SELECT string_agg(id || '=' || decrypt(email), ',' ORDER BY id)
		FROM users WHERE decrypt(email) = decrypt(handle) AND id < 5000")"
check "... and vault's shards too" test "$(pq "$PC" app -c "SELECT count(*) FROM pg_dist_shard_placement
	JOIN pg_dist_shard USING (shardid) WHERE logicalrelid = 'vault'::regclass AND nodeport = $PW3")" -gt 0
check_eq "the added worker has no stored keys yet" "0" "$(pq "$PW3" app -c "SELECT count(*) FROM stored_keys")"
check "rotate_kek to the same source sends every key row again (none re-wrapped)" \
	grep -q -x 0 <<<"$(pq "$PC" app -c "SELECT rotate_kek('$KEK_SOURCE')")"
check "... and the added worker holds the same key table" same_on "$PW1" "$PW2" "$PW3"
check_eq "... so decrypt() in autocommit works on its shards too" "$WANTV,21=secret-21" \
	"$(sq -c "SELECT string_agg(id || '=' || decrypt(secret), ',' ORDER BY id) FROM vault WHERE id < 30")"

for port in "$PC" "$PW1" "$PW2" "$PW3"; do pq "$port" app -c "CHECKPOINT" >/dev/null; done
# the data directories (catalogs, pg_dist_* tables, WAL) of every node,
# and the logs (log_statement = 'all') of the nodes that preload the library
for node in coord w1 w2 w3; do
	where=("$REL_TMP/$node")
	[[ $node != w3 ]] && where+=("$REL_TMP/$node.log")
	for key in "$KEY1" "$KEY2"; do
		check "no key in the files of $node (${key:0:4}..., in slices)" \
			not grep -r -a -q -i -E -e "$(key_slices_re "$key")" "${where[@]}"
	done
	# the KEK and the imported data key: in no file and no log, the added worker's too
	for key in "$KEKHEX" "$KEY3"; do
		check "no $([[ $key == "$KEKHEX" ]] && echo KEK || echo "imported data key") in the files and log of $node (in slices)" \
			not grep -r -a -q -i -E -e "$(key_slices_re "$key")" "$REL_TMP/$node" "$REL_TMP/$node.log"
	done
done
for node in w1 w2 w3; do
	check "no plaintext in the data files of $node (text, and search columns)" not grep -r -a -q -F \
		-e 'citus-7@example.com' -e "${FINDS_PLAIN[0]}" -e "${FINDS_PLAIN[1]}" "$REL_TMP/$node"
done
for node in w1 w2; do
	check "the workers' logs show that keys came, masked ($node)" grep -q "SET LOCAL encrypted_column.key TO '\*\*\*\*" "$REL_TMP/$node.log"
done
# The pitfall the README warns of: a node that loads the library only on
# first use logs a session's first statement, which hands it the keys,
# before the library that masks it is loaded.
check "a node without the library preloaded writes the key to its log (why every node preloads it)" \
	grep -a -q -F -e "$KEY2" "$REL_TMP/w3.log"

rel_finish
