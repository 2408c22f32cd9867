#!/usr/bin/env bash
# Stored data keys under a server-side key-encryption key (0.4.0), against
# real servers: what the pg_regress test (sql/stored_keys.sql, session KEK)
# cannot show.
#
# One cluster "a" (library preloaded, log_statement = 'all', wal_level =
# logical) whose encrypted_column.kek_source is changed with ALTER SYSTEM
# and pg_reload_conf(), as an operator would.  Checks:
#   (a) file:PATH: a KEK file 0600 owned by the server's user encrypts in
#       one session and decrypts in another; the same file 0644 is refused
#       (F0000, the message names the file) and the backend lives on and
#       decrypts once the mode is mended; a file inside the data directory
#       is refused; a file that does not hold 64 hex digits is refused
#       (F0000) and no byte of it reaches the message or the server log;
#   (b) command:CMD: "cat FILE" works; a command exiting 1 gives 58000; a
#       command printing garbage gives F0000; what commands print never
#       reaches the log;
#   (c) rotate_kek from one file to another as superuser, then kek_source
#       switched and reloaded: new sessions decrypt; the old file after
#       rotation gives 55000 ("could not unwrap") before any row is written;
#   (d) pg_dump of a database with stored keys and encrypted rows: restored
#       into a new database of the same cluster it reads everything; into
#       a cluster with another KEK it fails with 55000 at first use (and
#       reads everything once that cluster gets the same KEK); the dump
#       holds neither an imported data key nor a KEK;
#   (e) destroy_key, VACUUM FULL stored_keys and CHECKPOINT: the wrapped
#       bytes (read before, as superuser) are no longer in the table's
#       files, and decrypt gives 55000;
#   (f) logical replication of stored_keys, stored_key_grants and a user
#       table to a subscriber with the same KEK file: the subscriber
#       decrypts, and a key destroyed on the publisher is destroyed there;
#   (g) search columns (encrypted_text(trigram) with a GIN index,
#       encrypted_date and encrypted_numeric (range, width) with range_ops
#       indexes) written under a stored key's first version, then
#       rotate_key and more rows under the second: LIKE, ILIKE,
#       comparisons and BETWEEN through the indexes find the rows under
#       both versions, exactly those of the same predicate on
#       decrypt(col); ORDER BY ... LIMIT gives the decrypted order, walking
#       the range index while one version is live and sorting every row
#       once two are; after reencrypt() every row is under the second
#       version and still found.
# No KEK and no data key known to the test appears in any server log.
REL_NAME=stored_keys
source "$(dirname "$0")/lib.sh"
rel_init

# Fixed test KEKs (test data only).
KEK_A=5f1c0e2a9d7b44e1a0c3b6d8e2f4a6c8b0d2e4f6a8c0b2d4e6f8a0c2b4d6e8f0
KEK_B=c3a5e7092b4d6f8a1c3e5a7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f
KEK_C=0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e
KEKS_RE=$(key_slices_re "$KEK_A" "$KEK_B" "$KEK_C")
ALL_RE="$KEYS_RE|$KEKS_RE"

# The KEK files live outside every data directory, in a folder only the
# server's user can enter.
KD=$REL_TMP/keks
mkdir -p "$KD"
# kek_file NAME HEX [MODE]: write a KEK file owned by the server's user
kek_file() {
	printf '%s\n' "$2" >"$KD/$1"
	chmod "${3:-0600}" "$KD/$1"
	((EUID == 0)) && chown postgres: "$KD/$1"
	return 0
}
kek_file a "$KEK_A"
kek_file b "$KEK_B"
kek_file c "$KEK_C"
# commands: print a KEK file; print the KEK then fail; print garbage
printf '#!/bin/sh\necho %s\nexit 1\n' "$KEK_A" >"$KD/fails.sh"
printf '#!/bin/sh\necho CMDGARBAGE-not-a-kek\n' >"$KD/garbage.sh"
chmod 0700 "$KD/fails.sh" "$KD/garbage.sh"
# the recipe of docs/keys.md: the KEK kept encrypted under a passphrase
# file, and the command that decrypts it with the openssl CLI
printf '%s\n' "passphrase-$RANDOM-$RANDOM" >"$KD/kek.pass"
printf '%s\n' "$KEK_A" | openssl enc -aes-256-cbc -pbkdf2 -iter 200000 -salt \
	-pass "file:$KD/kek.pass" -out "$KD/kek.enc"
chmod 0600 "$KD/kek.pass" "$KD/kek.enc"
printf '#!/bin/sh\nexec openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass file:%s -in %s\n' \
	"$KD/kek.pass" "$KD/kek.enc" >"$KD/ec-kek"
chmod 0700 "$KD/ec-kek"
chmod 0700 "$KD"
((EUID == 0)) && chown -R postgres: "$KD"

CONF="shared_preload_libraries = 'encrypted_column'
log_line_prefix = '%m [%p] '
log_statement = 'all'
log_min_error_statement = error
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10"
PA=$(cluster_up a 55600 <<EOF
$CONF
encrypted_column.kek_source = 'file:$KD/a'
EOF
) || exit 1
ALOG=$REL_TMP/a.log
say "cluster a on port $PA"

# set_source PORT VALUE: ALTER SYSTEM SET kek_source and reload; waits
# until new sessions see the value.
set_source() {
	pq "$1" postgres -c "ALTER SYSTEM SET encrypted_column.kek_source = '$2'" \
		-c "SELECT pg_reload_conf()" >/dev/null || return 1
	wait_for 20 source_is "$1" "$2"
}
source_is() {
	[[ $(pq "$1" postgres -c "SHOW encrypted_column.kek_source" 2>/dev/null) == "$2" ]]
}
# the SQLSTATE of a first use of the stored keys in a new session
first_use() {
	sqlstate "$1" "${2:-app}" -c "SELECT count(decrypt(v)) FROM people"
}

pq "$PA" postgres -c "CREATE DATABASE app" || exit 1
pq "$PA" app <<SQL >/dev/null || exit 1
CREATE EXTENSION encrypted_column;
CREATE TABLE people (id int PRIMARY KEY, tenant text NOT NULL,
	v encrypted_text NOT NULL, e encrypted_text_det UNIQUE);
SELECT create_key('tenant1');
SELECT create_key('tenant2');
SQL
T1=$(pq "$PA" app -c "SELECT key_id FROM stored_keys WHERE name = 'tenant1'")
T2=$(pq "$PA" app -c "SELECT key_id FROM stored_keys WHERE name = 'tenant2'")
# KEY3 is imported from a connection option, out of every statement text
PGOPTIONS="-c encrypted_column.key=$KEY3" pq "$PA" app -c "SELECT import_key('imported')" >/dev/null || exit 1
TI=$(pq "$PA" app -c "SELECT key_id FROM stored_keys WHERE name = 'imported'")

# ---- (a) file source ----
say "(a) file source"
pq "$PA" app <<SQL >/dev/null || exit 1
BEGIN;
SET LOCAL encrypted_column.key_name = 'tenant1';
INSERT INTO people SELECT i, 'tenant1', 'SKSECRET-1-' || i, 'sk1-' || i || '@example.com'
FROM generate_series(1, 20) i;
COMMIT;
BEGIN;
SET LOCAL encrypted_column.key_name = 'tenant2';
INSERT INTO people SELECT i, 'tenant2', 'SKSECRET-2-' || i, 'sk2-' || i || '@example.com'
FROM generate_series(21, 40) i;
COMMIT;
SET encrypted_column.key_name = 'imported';
INSERT INTO people SELECT i, 'imported', 'SKSECRET-3-' || i, 'sk3-' || i || '@example.com'
FROM generate_series(41, 60) i;
SQL
PLAINPRINT="SELECT md5(string_agg(concat_ws('|', id, tenant, decrypt(v), decrypt(e)), ',' ORDER BY id)) FROM people WHERE id < 200"
EXPECTPRINT="SELECT md5(string_agg(concat_ws('|', id, tenant, 'SKSECRET-' || g || '-' || id,
	'sk' || g || '-' || id || '@example.com'), ',' ORDER BY id))
	FROM people, LATERAL (SELECT CASE tenant WHEN 'tenant1' THEN 1 WHEN 'tenant2' THEN 2 ELSE 3 END AS g) x
	WHERE id < 200"
WANT=$(pq "$PA" app -c "$EXPECTPRINT")
check_eq "file 0600: another session decrypts every row" "$WANT" "$(pq "$PA" app -c "$PLAINPRINT")"
check_eq "each row is under its own stored key's id" "20|20|20" \
	"$(pq "$PA" app -c "SELECT count(*) FILTER (WHERE key_id(v) = '$T1' AND key_id(e) = '$T1'),
		count(*) FILTER (WHERE key_id(v) = '$T2'), count(*) FILTER (WHERE key_id(v) = '$TI') FROM people")"
check_eq "a lookup by plaintext under key_name finds the row in a new session" 22 \
	"$(pq "$PA" app -c "SET encrypted_column.key_name = 'tenant2'" \
		-c "SELECT id FROM people WHERE e = 'sk2-22@example.com'::text")"

chmod 0644 "$KD/a"
off=$(file_size "$ALOG")
got=$("$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PA" -U postgres -d app \
	-c "SELECT count(decrypt(v)) FROM people" -c "SELECT 'alive-' || count(*) FROM people" \
	-c '\echo :LAST_ERROR_SQLSTATE' -c "\\! chmod 0600 $KD/a" \
	-c "SELECT 'mended-' || count(decrypt(v)) FROM people" 2>"$REL_TMP/a644.err")
check "file 0644: refused with F0000" grep -q '^F0000$' <<<"$got"
check "file 0644: the message names the file" grep -q -F "\"$KD/a\"" "$REL_TMP/a644.err"
check "file 0644: the backend lives on" grep -q '^alive-60$' <<<"$got"
check "file 0644: the same backend decrypts once the mode is 0600 again" grep -q '^mended-60$' <<<"$got"
chmod 0600 "$KD/a"

# a file inside the data directory, with the right owner and mode
cp -p "$KD/a" "$REL_TMP/a/kek"
check "a file inside the data directory: kek_source takes it" set_source "$PA" "file:$REL_TMP/a/kek"
check_eq "a file inside the data directory is refused (F0000)" F0000 "$(first_use "$PA")"
check "the message says it is inside the data directory" grep -q "inside the data directory" "$REL_TMP/sqlstate.err"
rm -f "$REL_TMP/a/kek"

# files that do not hold a KEK: 63 hex digits of KEK_A, and text
kek_file short "${KEK_A:0:63}"
printf 'FILEGARBAGE-%s-zz\n' "${KEK_B:0:40}" >"$KD/garbage"
chmod 0600 "$KD/garbage"
((EUID == 0)) && chown postgres: "$KD/garbage"
for f in short garbage; do
	off=$(file_size "$ALOG")
	set_source "$PA" "file:$KD/$f" || exit 1
	check_eq "a file with bad content ($f) is refused (F0000)" F0000 "$(first_use "$PA")"
	check "the message names the file ($f)" grep -q -F "\"$KD/$f\"" "$REL_TMP/sqlstate.err"
	check_eq "no byte run of the content in the message ($f)" 0 \
		"$(count_in "$REL_TMP/sqlstate.err" "$KEKS_RE|FILEGARBAGE")"
	check_eq "no byte run of the content in the server log ($f)" 0 \
		"$(count_in <(since "$ALOG" "$off") "$KEKS_RE|FILEGARBAGE")"
done

# ---- (b) command source ----
say "(b) command source"
check "command:cat FILE: kek_source takes it" set_source "$PA" "command:cat $KD/a"
check_eq "command:cat FILE: a new session decrypts every row" "$WANT" "$(pq "$PA" app -c "$PLAINPRINT")"
check "command: the documented openssl recipe: kek_source takes it" set_source "$PA" "command:$KD/ec-kek"
check_eq "command: the openssl recipe decrypts every row" "$WANT" "$(pq "$PA" app -c "$PLAINPRINT")"
off=$(file_size "$ALOG")
set_source "$PA" "command:$KD/fails.sh" || exit 1
check_eq "a command exiting 1 is refused (58000)" 58000 "$(first_use "$PA")"
check_eq "a failing command's output is not in the message" 0 "$(count_in "$REL_TMP/sqlstate.err" "$KEKS_RE")"
set_source "$PA" "command:$KD/garbage.sh" || exit 1
check_eq "a command printing garbage is refused (F0000)" F0000 "$(first_use "$PA")"
check_eq "the garbage is not in the message" 0 "$(count_in "$REL_TMP/sqlstate.err" "CMDGARBAGE")"
check_eq "no command's output in the server log" 0 \
	"$(count_in <(since "$ALOG" "$off") "$KEKS_RE|CMDGARBAGE")"
set_source "$PA" "file:$KD/a" || exit 1

# ---- (c) rotate_kek from file a to file b ----
say "(c) rotate_kek"
nkeys=$(pq "$PA" app -c "SELECT count(*) FROM stored_keys WHERE wrapped IS NOT NULL")
kek_a_id=$(pq "$PA" app -c "SELECT DISTINCT kek_id FROM stored_keys WHERE wrapped IS NOT NULL")
check_eq "rotate_kek('file:...') as superuser re-wraps every stored key" "$nkeys" \
	"$(pq "$PA" app -c "SELECT rotate_kek('file:$KD/b')")"
check_eq "every stored key now has one new kek id" 1 \
	"$(pq "$PA" app -c "SELECT count(DISTINCT kek_id) FROM stored_keys WHERE wrapped IS NOT NULL AND kek_id <> '$kek_a_id'")"
check_eq "before the switch, new sessions cannot unwrap (55000)" 55000 "$(first_use "$PA")"
check "kek_source switched to the new file and reloaded" set_source "$PA" "file:$KD/b"
check_eq "new sessions decrypt every row under the new KEK" "$WANT" "$(pq "$PA" app -c "$PLAINPRINT")"
set_source "$PA" "file:$KD/a" || exit 1
rows=$(pq "$PA" app -c "SELECT count(*) FROM people")
st=$(sqlstate "$PA" app -c "SET encrypted_column.key_name = 'tenant1'" \
	-c "INSERT INTO people VALUES (100, 'tenant1', 'SKSECRET-late', 'late@example.com')")
check_eq "the old file after rotation: an INSERT is refused (55000)" 55000 "$st"
check "the message says it could not unwrap" grep -q "could not unwrap" "$REL_TMP/sqlstate.err"
check_eq "no row was written" "$rows" "$(pq "$PA" app -c "SELECT count(*) FROM people")"
check_eq "the old file after rotation: decrypting is refused (55000)" 55000 "$(first_use "$PA")"
set_source "$PA" "file:$KD/b" || exit 1

# a key administrator who is not a superuser may not move the keys away
# from the server-side KEK to one of its own, nor to another file
pq "$PA" app -c "CREATE ROLE sk_keyadmin" \
	-c "GRANT EXECUTE ON FUNCTION rotate_kek(text) TO sk_keyadmin" >/dev/null
kids=$(pq "$PA" app -c "SELECT string_agg(kek_id || ':' || encode(wrapped, 'hex'), ',' ORDER BY key_id) FROM stored_keys")
st=$(sqlstate "$PA" app -c "SET ROLE sk_keyadmin" \
	-c "SET encrypted_column.new_kek = '$(printf '3%.0s' {1..64})'" -c "SELECT rotate_kek('session')")
check_eq "a non-superuser cannot rotate from a server-side KEK to a session KEK (42501)" 42501 "$st"
st=$(sqlstate "$PA" app -c "SET ROLE sk_keyadmin" -c "SELECT rotate_kek('file:$KD/a')")
check_eq "a non-superuser cannot rotate to a server-side source (42501)" 42501 "$st"
check_eq "the stored keys are as they were" "$kids" \
	"$(pq "$PA" app -c "SELECT string_agg(kek_id || ':' || encode(wrapped, 'hex'), ',' ORDER BY key_id) FROM stored_keys")"
pq "$PA" app -c "REVOKE EXECUTE ON FUNCTION rotate_kek(text) FROM sk_keyadmin" \
	-c "DROP ROLE sk_keyadmin" >/dev/null

# ---- changes committed by another session count from their commit ----
say "(c2) a change committed during a transaction"
pq "$PA" app >/dev/null <<'SQL' || exit 1
CREATE ROLE sk_reader;
CREATE ROLE sk_reader2;
GRANT SELECT ON people TO sk_reader, sk_reader2;
SELECT grant_key('tenant1', 'sk_reader', 'decrypt');
SELECT create_key('doomed2');
SELECT grant_key('doomed2', 'sk_reader', 'decrypt');
SELECT grant_key('doomed2', 'sk_reader2', 'decrypt');
SET encrypted_column.key_name = 'doomed2';
INSERT INTO people VALUES (300, 'doomed2', 'SKSECRET-doomed2', 'doomed2@example.com');
SQL
other="$PG_BINDIR/psql -X -q -A -t -h $REL_TMP -p $PA -U postgres -d app"
out=$(pq "$PA" app 2>&1 <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL ROLE sk_reader;
SELECT 'before:' || count(decrypt(v)) FROM people WHERE tenant = 'tenant1';
RESET ROLE;
\! $other -c "SELECT revoke_key('tenant1', 'sk_reader', 'decrypt')" >/dev/null
SET LOCAL ROLE sk_reader;
SELECT 'after:' || count(decrypt(v)) FROM people WHERE tenant = 'tenant1';
ROLLBACK;
SQL
)
check "REPEATABLE READ: the role decrypts before the revoke" grep -q "^before:[1-9]" <<<"$out"
check "a revoke committed during the transaction counts at once (42501)" \
	grep -q "permission denied to decrypt with stored key" <<<"$out"
out=$(pq "$PA" app 2>&1 <<SQL
BEGIN;
SET LOCAL ROLE sk_reader;
SELECT 'before:' || decrypt(v) FROM people WHERE id = 300;
RESET ROLE;
\! $other -c "SELECT count(*) FROM destroy_key('doomed2')" >/dev/null
SET LOCAL ROLE sk_reader2;
SELECT 'after:' || decrypt(v) FROM people WHERE id = 300;
ROLLBACK;
SQL
)
check "the key decrypts before it is destroyed" grep -q "^before:SKSECRET-doomed2" <<<"$out"
check "a key destroyed during the transaction is refused, as destroyed" \
	grep -q "was destroyed" <<<"$out"
check_eq "the backend lives on" 1 "$(pq "$PA" app -c "SELECT 1")"
check_eq "no crash in the server log" 0 "$(count_in "$ALOG" "terminated by signal|server process .* was terminated")"
pq "$PA" app >/dev/null <<'SQL'
DELETE FROM people WHERE id = 300;
SELECT revoke_key('doomed2', 'sk_reader');
SELECT revoke_key('doomed2', 'sk_reader2');
SELECT revoke_key('tenant1', 'sk_reader');
REVOKE SELECT ON people FROM sk_reader, sk_reader2;
DROP ROLE sk_reader, sk_reader2;
SQL

# ---- (d) dump and restore ----
say "(d) dump and restore"
DUMP=$REL_TMP/app.sql
"$PG_BINDIR/pg_dump" -h "$REL_TMP" -p "$PA" -U postgres -d app -f "$DUMP" ||
	{ check "pg_dump of a database with stored keys" false; }
check "the dump holds the wrapped keys (stored_keys data)" grep -q -E "^COPY public\.stored_keys " "$DUMP"
check_eq "the dump holds no byte run of the imported data key" 0 "$(count_in "$DUMP" "$(key_slices_re "$KEY3")")"
check_eq "the dump holds no byte run of a KEK" 0 "$(count_in "$DUMP" "$KEKS_RE")"
check_eq "the dump holds no plaintext" 0 "$(count_in "$DUMP" "SKSECRET")"
pq "$PA" postgres -c "CREATE DATABASE restored" || exit 1
PGOPTIONS="-c encrypted_column.accept_ciphertext=on" pq "$PA" restored -f "$DUMP" >"$REL_TMP/restore.out" 2>&1
check "the dump restores into a new database of the same cluster" [ $? = 0 ]
check_eq "the restored database reads everything with the same KEK" "$WANT" \
	"$(pq "$PA" restored -c "$PLAINPRINT")"
check_eq "the restored database finds a row by plaintext" 42 \
	"$(pq "$PA" restored -c "SET encrypted_column.key_name = 'imported'" \
		-c "SELECT id FROM people WHERE e = 'sk3-42@example.com'::text")"

PB=$(cluster_up b $((PA + 1)) <<EOF
$CONF
encrypted_column.kek_source = 'file:$KD/c'
EOF
) || exit 1
BLOG=$REL_TMP/b.log
pq "$PB" postgres -c "CREATE DATABASE restored" || exit 1
PGOPTIONS="-c encrypted_column.accept_ciphertext=on" pq "$PB" restored -f "$DUMP" >"$REL_TMP/restore_b.out" 2>&1
check "the dump restores into a cluster with another KEK" [ $? = 0 ]
check_eq "another KEK: the first decrypt is refused (55000)" 55000 "$(first_use "$PB" restored)"
check "another KEK: the message says it could not unwrap" grep -q "could not unwrap" "$REL_TMP/sqlstate.err"
st=$(sqlstate "$PB" restored -c "SET encrypted_column.key_name = 'tenant2'" \
	-c "INSERT INTO people VALUES (101, 'tenant2', 'SKSECRET-b', 'b@example.com')")
check_eq "another KEK: an INSERT is refused (55000)" 55000 "$st"
check_eq "another KEK: no row was written" 60 "$(pq "$PB" restored -c "SELECT count(*) FROM people")"
check "that cluster given the same KEK file" set_source "$PB" "file:$KD/b"
check_eq "then it reads everything" "$WANT" "$(pq "$PB" restored -c "$PLAINPRINT")"

# ---- (e) destroy_key and the erasure procedure ----
say "(e) destroy_key"
pq "$PA" app <<SQL >/dev/null || exit 1
SELECT create_key('doomed');
SET encrypted_column.key_name = 'doomed';
INSERT INTO people VALUES (200, 'doomed', 'SKSECRET-doomed', 'doomed@example.com');
CHECKPOINT;
SQL
wrapped=$(pq "$PA" app -c "SELECT encode(wrapped, 'hex') FROM stored_keys WHERE name = 'doomed'")
datadir=$REL_TMP/a
# hex of the files of stored_keys (main fork), in one line
table_hex() {
	local rel
	rel=$(pq "$PA" app -c "SELECT pg_relation_filepath('stored_keys')")
	cat "$datadir/$rel" "$datadir/$rel".[0-9]* 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
}
oldrel=$(pq "$PA" app -c "SELECT pg_relation_filepath('stored_keys')")
check "control: the wrapped key is in the table's file before destroy_key" grep -q -F "$wrapped" <(table_hex)
check_eq "destroy_key reports one version, and what remains" "1|t" \
	"$(pq "$PA" app -c "SELECT count(*), bool_and(remains IS NOT NULL) FROM destroy_key('doomed')")"
pq "$PA" app -c "VACUUM FULL stored_keys" -c "CHECKPOINT" || exit 1
check "after VACUUM FULL and CHECKPOINT the wrapped key is not in the table's file" \
	not grep -q -F "$wrapped" <(table_hex)
check "the file before VACUUM FULL is emptied or gone" \
	not grep -q -F "$wrapped" <(od -An -v -tx1 "$datadir/$oldrel" 2>/dev/null | tr -d ' \n'; echo)
check_eq "a value under the destroyed key cannot be decrypted (55000)" 55000 \
	"$(sqlstate "$PA" app -c "SELECT decrypt(v) FROM people WHERE id = 200")"
check_eq "key_usage still counts the value, under the destroyed key" "1|destroyed" \
	"$(pq "$PA" app -c "SELECT \"values\", key_state FROM key_usage('people') WHERE column_name = 'v' AND key_name = 'doomed'")"

# ---- (f) logical replication of the key tables ----
say "(f) logical replication"
PC=$(cluster_up c $((PB + 1)) <<EOF
$CONF
encrypted_column.kek_source = 'file:$KD/b'
EOF
) || exit 1
pq "$PA" app -c "CREATE PUBLICATION keys_pub FOR TABLE stored_keys, stored_key_grants, people" >/dev/null || exit 1
pq "$PC" postgres -c "CREATE DATABASE app" || exit 1
pq "$PC" app <<SQL >/dev/null || exit 1
CREATE EXTENSION encrypted_column;
CREATE TABLE people (id int PRIMARY KEY, tenant text NOT NULL,
	v encrypted_text NOT NULL, e encrypted_text_det UNIQUE);
-- the documented subscription owner: the initial copy is in text form
CREATE ROLE ec_apply SUPERUSER LOGIN;
ALTER ROLE ec_apply IN DATABASE app SET encrypted_column.accept_ciphertext = on;
SET ROLE ec_apply;
CREATE SUBSCRIPTION keys_sub CONNECTION 'host=127.0.0.1 port=$PA dbname=app user=postgres'
	PUBLICATION keys_pub WITH (binary = true);
SQL
synced() {
	[[ $(pq "$PC" app -c "SELECT (SELECT count(*) FROM people) || '/' || (SELECT count(*) FROM stored_keys)" 2>/dev/null) == \
		"$(pq "$PA" app -c "SELECT (SELECT count(*) FROM people) || '/' || (SELECT count(*) FROM stored_keys)")" ]]
}
if check "the subscriber copies stored_keys and people" wait_for ${EC_SYNC_WAIT:-60} synced; then
	check_eq "the subscriber decrypts with the same KEK file" "$WANT" \
		"$(pq "$PC" app -c "$PLAINPRINT" 2>&1 | tail -n 1)"
	pq "$PA" app -c "SELECT count(*) FROM destroy_key('tenant2')" >/dev/null
	gone() { [[ $(pq "$PC" app -c "SELECT state FROM stored_keys WHERE name = 'tenant2'") == destroyed ]]; }
	check "destroy_key on the publisher reaches the subscriber (streamed change)" wait_for 60 gone ||
		grep -a -E "ERROR" "$REL_TMP/c.log" | sort -u -k4 | tail -n 3
	check_eq "the subscriber refuses a value under the destroyed key (55000)" 55000 \
		"$(sqlstate "$PC" app -c "SELECT decrypt(v) FROM people WHERE id = 21")"
	check_eq "the subscriber still decrypts another tenant" SKSECRET-1-1 \
		"$(pq "$PC" app -c "SELECT decrypt(v) FROM people WHERE id = 1")"
else
	grep -a -E "ERROR|FATAL" "$REL_TMP/c.log" | tail -n 5
fi
pq "$PC" app -c "DROP SUBSCRIPTION keys_sub" >/dev/null

# ---- (g) search columns under a stored key and rotate_key ----
say "(g) search columns under a stored key, rotate_key"
pq "$PA" postgres -c "CREATE DATABASE search" >/dev/null || exit 1
pq "$PA" search >/dev/null <<'SQL' || exit 1
CREATE EXTENSION encrypted_column;
SELECT create_key('searchkey');
CREATE TABLE s (id int PRIMARY KEY, name encrypted_text(trigram), day encrypted_date(range, 7),
	amount encrypted_numeric(range, 10));
CREATE INDEX s_name ON s USING gin (name);
CREATE INDEX s_day ON s (day encrypted_date_range_ops);
CREATE INDEX s_amount ON s (amount encrypted_numeric_range_ops);
SQL
# rows ids FROM..TO under the session's current version of searchkey
search_rows() {
	pq "$PA" search -c "SET encrypted_column.key_name = 'searchkey'" -c "INSERT INTO s
		SELECT i, CASE WHEN i % 37 = 0 THEN NULL ELSE 'SKSEARCH-' || i || '-' || left(md5(i::text), 5)
			|| CASE WHEN i % 7 = 0 THEN '-Ωmega' ELSE '' END END,
			date '2020-01-01' + (i * 37) % 900, ((i * 7919) % 100000) / 100.0
		FROM generate_series($1, $2) i" >/dev/null
}
search_rows 1 1000 || exit 1
# Each search through the index against the same predicate on decrypt(col):
# "rows that differ|searches that found rows|searches"
sk_preds=()
for pat in 'SKSEARCH-1%' 'SKSEARCH-1__-%' '%-42-%' '%ΩMEGA' '%Ωmega' '%-9%' 'sksearch-15%' '%zzzz%' '%'; do
	sk_preds+=("name LIKE '$pat'" "name ILIKE '$pat'")
done
sk_preds+=("day BETWEEN date '2021-01-01' AND date '2021-01-31'" "day < date '2020-01-10'"
	"day = date '2021-07-04'" "date '2022-05-01' <= day" "amount BETWEEN 100 AND 120"
	"amount > 990" "amount = 79.19" "amount BETWEEN '5' AND '6.5'")
SK_CHECK="SET enable_seqscan = off; SET jit = off;
SELECT concat_ws('|', count(*) FILTER (WHERE a IS DISTINCT FROM b),
	count(*) FILTER (WHERE cardinality(b) > 0), count(*)) FROM ("
first=1
for pred in "${sk_preds[@]}"; do
	ref=$(sed -E 's/(^|[^a-z_])(name|day|amount)( |$)/\1decrypt(\2)\3/g' <<<"$pred")
	((first)) || SK_CHECK+=" UNION ALL"
	first=0
	SK_CHECK+="
	SELECT (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM s WHERE $pred) AS a,
		(SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM s WHERE $ref) AS b"
done
SK_CHECK+=") x;"
# ORDER BY col [DESC] LIMIT 25 against ORDER BY decrypt(col): pairs that differ
SK_ORDER="SET enable_seqscan = off; SET jit = off;
SELECT count(*) FROM (VALUES"
first=1
for col in day amount; do
	for dir in ASC DESC 'DESC NULLS LAST'; do
		((first)) || SK_ORDER+=","
		first=0
		SK_ORDER+="
	((SELECT string_agg(coalesce(decrypt($col)::text, 'null'), ',' ORDER BY o) FROM
		(SELECT $col, row_number() OVER () o FROM (SELECT $col FROM s ORDER BY $col $dir LIMIT 25) x) x),
	 (SELECT string_agg(coalesce(decrypt($col)::text, 'null'), ',' ORDER BY o) FROM
		(SELECT $col, row_number() OVER () o FROM (SELECT $col FROM s ORDER BY decrypt($col) $dir LIMIT 25) x) x))"
	done
done
SK_ORDER+=") v(a, b) WHERE a IS DISTINCT FROM b;"
SK_PLANS="SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE name LIKE 'SKSEARCH-1%';
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE day BETWEEN date '2021-01-01' AND date '2021-01-31';
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE amount > 990;"
SK_ORDER_PLAN="SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY day LIMIT 10;"
# psql in the search database with key_name searchkey: sk [psql args...]
sk() { pq "$PA" search -c "SET encrypted_column.key_name = 'searchkey'" "$@"; }
sk_plans_use_indexes() {
	grep -q -E "Index Scan on s_name( |$)" <<<"$1" &&
		grep -q -E "Index Scan (using|on) s_day( |$)" <<<"$1" &&
		grep -q -E "Index Scan (using|on) s_amount( |$)" <<<"$1"
}
v1=$(pq "$PA" search -c "SELECT key_id FROM stored_keys WHERE name = 'searchkey' AND version = 1")
one=$(sk -c "$SK_CHECK" | tail -n 1)
check "version 1: ${#sk_preds[@]} searches through the indexes give the decrypting reference's rows ($one)" \
	[ "${one%%|*}" = 0 ]
check "version 1: the searches use the indexes" sk_plans_use_indexes "$(sk -c "$SK_PLANS")"
check "version 1 alone: ORDER BY day LIMIT walks the range index" \
	grep -q "Index Scan using s_day on s" <<<"$(sk -c "$SK_ORDER_PLAN")"
check_eq "version 1 alone: ORDER BY ... LIMIT gives the decrypted order" 0 "$(sk -c "$SK_ORDER" | tail -n 1)"

check_eq "rotate_key makes version 2" 2 \
	"$(pq "$PA" search -c "SELECT length(rotate_key('searchkey')) > 0" -c "SELECT max(version) FROM stored_keys WHERE name = 'searchkey'" | tail -n 1)"
v2=$(pq "$PA" search -c "SELECT key_id FROM stored_keys WHERE name = 'searchkey' AND version = 2")
search_rows 1001 2000 || exit 1
check_eq "rows under both versions (1000 each, NULLs aside)" "973|973" \
	"$(pq "$PA" search -c "SELECT count(*) FILTER (WHERE key_id(name) = '$v1') || '|' || count(*) FILTER (WHERE key_id(name) = '$v2') FROM s")"
two=$(sk -c "$SK_CHECK" | tail -n 1)
check "versions 1 and 2: the searches give the decrypting reference's rows ($two)" [ "${two%%|*}" = 0 ]
check "versions 1 and 2: most searches find rows" [ "$(cut -d'|' -f2 <<<"$two")" -ge $((${#sk_preds[@]} / 2)) ]
check_eq "versions 1 and 2: LIKE, ILIKE and BETWEEN through the indexes find rows under each version" "2|2|2|2" \
	"$(sk -c "SET enable_seqscan = off" -c "SET jit = off" -c "SELECT concat_ws('|',
		(SELECT count(DISTINCT key_id(name)) FROM s WHERE name LIKE 'SKSEARCH-1%'),
		(SELECT count(DISTINCT key_id(name)) FROM s WHERE name ILIKE '%ωMEGA'),
		(SELECT count(DISTINCT key_id(day)) FROM s WHERE day BETWEEN date '2021-01-01' AND date '2021-03-31'),
		(SELECT count(DISTINCT key_id(amount)) FROM s WHERE amount BETWEEN 100 AND 300))" | tail -n 1)"
check "versions 1 and 2: the searches use the indexes" sk_plans_use_indexes "$(sk -c "$SK_PLANS")"
check_eq "versions 1 and 2: ORDER BY ... LIMIT gives the decrypted order" 0 \
	"$(sk -c "$SK_ORDER" | tail -n 1)"
plan=$(sk -c "$SK_ORDER_PLAN")
check "versions 1 and 2: ORDER BY day LIMIT walks the range index once per key version" \
	grep -q "Index Scan using s_day on s" <<<"$plan"
check "... (one walk for each of the key slots)" grep -q "generate_series key_slots" <<<"$plan"
# a session without key_name holds no key, and a search decrypts
check_eq "without key_name a search is refused (55000)" 55000 \
	"$(sqlstate "$PA" search -c "SELECT count(*) FROM s WHERE name LIKE 'SKSEARCH-1%'")"

# everything moved to version 2: still found, same results
pq "$PA" search -c "SET encrypted_column.key_name = 'searchkey'" \
	-c "UPDATE s SET name = reencrypt(name), day = reencrypt(day), amount = reencrypt(amount)
		WHERE key_id(name) <> current_key_id() OR key_id(day) <> current_key_id()" >/dev/null || exit 1
check_eq "after reencrypt() every value is under version 2" "0" \
	"$(sk -c "SELECT count(*) FROM s WHERE key_id(day) <> '$v2' OR key_id(amount) <> '$v2' OR key_id(name) <> '$v2'")"
check_eq "after reencrypt(): the searches give the same rows as before" "$two" "$(sk -c "$SK_CHECK" | tail -n 1)"
check_eq "after reencrypt(): ORDER BY ... LIMIT gives the decrypted order" 0 "$(sk -c "$SK_ORDER" | tail -n 1)"

# ---- logs ----
for c in a b c; do
	check_eq "no byte run of a KEK or of the imported data key in the log of cluster $c" 0 \
		"$(count_in "$REL_TMP/$c.log" "$ALL_RE")"
	check "no backend crashed in cluster $c" no_crash "$REL_TMP/$c.log"
done
rel_finish
