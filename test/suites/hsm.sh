#!/usr/bin/env bash
# Stored data keys under a key-encryption key in a PKCS#11 token: a real
# SoftHSM2 token made in the temporary directory (its own SOFTHSM2_CONF,
# seen by the server through its environment), two sensitive,
# non-extractable AES-256 keys kek1 and kek2 and one imported key of known
# value, the PIN in a file of mode 0600 owned by the server's user.
#   - the token refuses to hand out kek1's value;
#   - with encrypted_column.kek_source naming kek1: create_key, rows in
#     encrypted_text and encrypted_text_det columns, read back, read by
#     new sessions (unwrapped through the token), the same kek id from a
#     second backend;
#   - rotate_kek to kek2 re-wraps every stored key (count, kek id and
#     wrapped bytes change, no user row changes), then kek_source is
#     switched and reloaded, and new sessions read the old rows; a source
#     that still names kek1 is refused (55000) before a row is written;
#   - the bytes are RFC 5649 as OpenSSL makes them: rotated under the
#     imported key, an imported data key's wrapping and the kek id equal
#     what OpenSSL's EVP_aes_256_wrap_pad gives (test/suites/hsm/wrap_pad.c);
#   - a wrong PIN, a missing token, a missing key, a bad module path and
#     a malformed URI each fail with a SQLSTATE and a clear message, with
#     the PIN in no message and not in the server log, and the backend
#     goes on;
#   - 200 sessions in a row, each unwrapping on first use: no failure, no
#     crash;
#   - figures: the first use of a stored key in a new session through
#     the token, in milliseconds.
REL_NAME=hsm
source "$(dirname "$0")/lib.sh"
rel_init

for tool in softhsm2-util pkcs11-tool openssl perl gcc; do
	command -v "$tool" >/dev/null ||
		rel_skip "$tool is not installed (scripts/install-deps.sh installs softhsm2, opensc and openssl)"
done
MODULE=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
	[[ -f $m ]] && { MODULE=$m; break; }
done
[[ -n $MODULE ]] || rel_skip "SoftHSM2's PKCS#11 module libsofthsm2.so is not installed"

# OpenSSL's EVP_aes_256_wrap_pad, the reference for the token's bytes
WRAP_PAD=$REL_TMP/wrap_pad
gcc -Wall -Wextra -Werror -o "$WRAP_PAD" "$REL_DIR/hsm/wrap_pad.c" -lcrypto || exit 1

# The token lives in the temporary directory, owned by the server's user.
export SOFTHSM2_CONF=$REL_TMP/softhsm2.conf
mkdir -p "$REL_TMP/tokens"
cat >"$SOFTHSM2_CONF" <<EOF
directories.tokendir = $REL_TMP/tokens
objectstore.backend = file
log.level = ERROR
EOF
((EUID == 0)) && chown -R postgres: "$REL_TMP/tokens" "$SOFTHSM2_CONF"
PIN=$(od -An -N6 -tu2 /dev/urandom | tr -d ' \n' | head -c 12)
SO_PIN=$(od -An -N6 -tu2 /dev/urandom | tr -d ' \n' | head -c 12)
WRONG_PIN=$(od -An -N6 -tu2 /dev/urandom | tr -d ' \n' | head -c 12)
TOKEN=ec-test

# pkcs11-tool on the test token as the server's user, logged in.
p11() {
	as_pg pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --pin "$PIN" "$@"
}

# Lower-case hex of a file.
hex_of() {
	od -An -tx1 -v "$1" | tr -d ' \n'
}

as_pg softhsm2-util --init-token --free --label "$TOKEN" --so-pin "$SO_PIN" --pin "$PIN" \
	>"$REL_TMP/token.log" 2>&1 || { cat "$REL_TMP/token.log"; exit 1; }
p11 --keygen --key-type AES:32 --label kek1 --id 01 --sensitive >>"$REL_TMP/token.log" 2>&1 &&
	p11 --keygen --key-type AES:32 --label kek2 --id 02 --sensitive >>"$REL_TMP/token.log" 2>&1 || {
	cat "$REL_TMP/token.log"
	exit 1
}
# a second token, for a PIN refused while the first token is logged in
# (PKCS#11 shares a token's login among a process's sessions, so a wrong
# PIN for the token the current source has open cannot be seen)
as_pg softhsm2-util --init-token --free --label "ec-other" --so-pin "$SO_PIN" --pin "$PIN" \
	>>"$REL_TMP/token.log" 2>&1 &&
	as_pg pkcs11-tool --module "$MODULE" --token-label "ec-other" --login --pin "$PIN" \
		--keygen --key-type AES:32 --label kek3 --sensitive >>"$REL_TMP/token.log" 2>&1 || {
	cat "$REL_TMP/token.log"
	exit 1
}
# a key of known value, to compare the token's wrapping with OpenSSL's
head -c 32 /dev/urandom >"$REL_TMP/known.key"
KNOWN_KEK=$(hex_of "$REL_TMP/known.key")
((EUID == 0)) && chown postgres: "$REL_TMP/known.key"
p11 --write-object "$REL_TMP/known.key" --type secrkey --key-type AES:32 --label known --id 03 \
	>>"$REL_TMP/token.log" 2>&1 || { cat "$REL_TMP/token.log"; exit 1; }
rm -f "$REL_TMP/known.key"
say "token $TOKEN made with kek1, kek2 and an imported key; token ec-other with kek3"

check "the token does not hand out kek1's value (CKA_VALUE is sensitive)" \
	not p11 --read-object --type secrkey --label kek1 -o "$REL_TMP/kek1.out" 2>/dev/null
check "nothing of kek1 was written out" test ! -s "$REL_TMP/kek1.out"
# Does the token list kek1 as sensitive and never extractable?
kek1_locked() {
	p11 --list-objects --type secrkey 2>/dev/null | grep -A4 "label: *kek1" |
		grep -q "sensitive, always sensitive, never extractable"
}
check "kek1 is sensitive and never extractable" kek1_locked

printf '%s\n' "$PIN" >"$REL_TMP/pin"
printf '%s\n' "$WRONG_PIN" >"$REL_TMP/wrong-pin"
chmod 0600 "$REL_TMP/pin" "$REL_TMP/wrong-pin"
((EUID == 0)) && chown postgres: "$REL_TMP/pin" "$REL_TMP/wrong-pin"

# The URI of a key in the test token.
uri() {
	echo "pkcs11:token=$TOKEN;object=$1;type=secret-key?module-path=$MODULE&pin-source=${2:-$REL_TMP/pin}"
}
U1=$(uri kek1)
U2=$(uri kek2)
UK=$(uri known)

# The server sees SOFTHSM2_CONF through its environment (pg_ctl passes its
# own on; with pg_ctlcluster it is the cluster's "environment" file).
PORT=$(cluster_up hsm 55700 <<EOF
shared_preload_libraries = 'encrypted_column'
encrypted_column.kek_source = '$U1'
log_min_messages = info
EOF
) || exit 1
LOG=$REL_TMP/hsm.log
say "cluster on port $PORT, kek_source = kek1 in the token"

pq "$PORT" postgres -c "CREATE DATABASE app" || exit 1
pq "$PORT" app -c "CREATE EXTENSION encrypted_column" || exit 1
if [[ $(pq "$PORT" app -c "SELECT count(*) FROM pg_proc WHERE proname IN ('create_key', 'rotate_kek')") != 2 ]]; then
	rel_skip "this build has no stored keys (create_key, rotate_kek): the stored-key core is not merged"
fi

# psql on the app database, errors and output together, no stop on error.
qa() {
	"$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PORT" -U postgres -d app "$@" 2>&1
}

# ---- stored keys under kek1 ----
K1=$(pq "$PORT" app -c "SELECT create_key('tenant1')")
check "create_key returns a key id" test -n "$K1"
DATA_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
K2=$(pq "$PORT" app -c "SELECT import_key('imported', '$DATA_KEY')")
check "import_key returns a key id" test -n "$K2"
pq "$PORT" app <<'SQL' || exit 1
CREATE TABLE people (id int PRIMARY KEY, name encrypted_text, email encrypted_text_det);
SET encrypted_column.key_name = 'tenant1';
INSERT INTO people VALUES (1, 'Alice Example', 'alice@example.org'), (2, 'Bob Example', 'bob@example.org');
SET encrypted_column.key_name = 'imported';
INSERT INTO people VALUES (3, 'Carol Example', 'carol@example.org');
SQL
check_eq "the rows read back in the writing session" "Alice Example" \
	"$(pq "$PORT" app -c "SET encrypted_column.key_name = 'tenant1'" -c "SELECT decrypt(name) FROM people WHERE id = 1")"
check_eq "a new session decrypts every row through the token" \
	"Alice Example|Bob Example|Carol Example" \
	"$(pq "$PORT" app -c "SELECT string_agg(decrypt(name), '|' ORDER BY id) FROM people")"
check_eq "a new session finds a deterministic value by equality" "2" \
	"$(pq "$PORT" app -c "SET encrypted_column.key_name = 'tenant1'" -c "SELECT id FROM people WHERE email = 'bob@example.org'")"
KEK_IDS=$(pq "$PORT" app -c "SELECT string_agg(DISTINCT kek_id, ',') FROM stored_keys")
check "every stored key has the same kek id from two backends" \
	grep -q -E '^[0-9a-f]{8}$' <<<"$KEK_IDS"
check "no stored key is kept unwrapped" \
	test "$(pq "$PORT" app -c "SELECT count(*) FROM stored_keys WHERE length(wrapped) <> 40")" = 0

# ---- first use through the token, in milliseconds ----
# psql's \timing of the first decrypt in a new session, less the second
first_use_ms=()
for i in 1 2 3 4 5; do
	out=$(qa -c "SET encrypted_column.key_name = 'tenant1'" -c '\timing on' \
		-c "SELECT decrypt(name) FROM people WHERE id = 1" \
		-c "SELECT decrypt(name) FROM people WHERE id = 1")
	mapfile -t t < <(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out")
	((${#t[@]} == 2)) && first_use_ms+=("$(awk -v a="${t[0]}" -v b="${t[1]}" 'BEGIN { printf "%.2f", a - b }')")
done
check "the first use was timed in 5 new sessions" test "${#first_use_ms[@]}" = 5
say "figures: first use of a stored key through SoftHSM2, ms (5 new sessions): ${first_use_ms[*]}"

# ---- rotation to kek2 ----
before_rows=$(pq "$PORT" app -c "SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY id) FROM people")
before_wrapped=$(pq "$PORT" app -c "SELECT string_agg(encode(wrapped, 'hex'), ',' ORDER BY key_id, version) FROM stored_keys")
n_keys=$(pq "$PORT" app -c "SELECT count(*) FROM stored_keys WHERE wrapped IS NOT NULL")
# one session: kek1 open, rotate_kek opens kek2 on the same module, then
# the source is switched under it, so it closes kek1 and opens kek2 again
out=$(qa <<SQL
SELECT decrypt(name) FROM people WHERE id = 1;
SELECT rotate_kek('$U2');
\\! "$PG_BINDIR/psql" -X -q -h "$REL_TMP" -p "$PORT" -U postgres -d app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$U2'" -c "SELECT pg_reload_conf()" >/dev/null
SELECT pg_sleep(1);
SELECT string_agg(decrypt(name), '|' ORDER BY id) FROM people;
SQL
)
check_eq "rotate_kek re-wraps every stored key; the session reads on after the switch to kek2" \
	"Alice Example|$n_keys||Alice Example|Bob Example|Carol Example" "$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
after_wrapped=$(pq "$PORT" app -c "SELECT string_agg(encode(wrapped, 'hex'), ',' ORDER BY key_id, version) FROM stored_keys")
KEK2_IDS=$(pq "$PORT" app -c "SELECT string_agg(DISTINCT kek_id, ',') FROM stored_keys")
check "after rotate_kek every wrapped key differs" test "$before_wrapped" != "$after_wrapped"
check "after rotate_kek the kek id is one other id" \
	bash -c '[[ $1 =~ ^[0-9a-f]{8}$ && $1 != "$2" ]]' _ "$KEK2_IDS" "$KEK_IDS"
check_eq "rotate_kek changed no user row (ctid and xmin)" "$before_rows" \
	"$(pq "$PORT" app -c "SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY id) FROM people")"

pq "$PORT" app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$U2'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
check_eq "after the switch to kek2 new sessions decrypt the old rows" \
	"Alice Example|Bob Example|Carol Example" \
	"$(pq "$PORT" app -c "SELECT string_agg(decrypt(name), '|' ORDER BY id) FROM people")"

# ---- a source that still names kek1: refused before a row is written ----
pq "$PORT" app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$U1'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
rows=$(pq "$PORT" app -c "SELECT count(*) FROM people")
check_eq "with kek1 after the rotation an insert fails with 55000" "55000" \
	"$(sqlstate "$PORT" app -c "SET encrypted_column.key_name = 'tenant1'" \
		-c "INSERT INTO people VALUES (10, 'Wrong Kek', 'wrong@example.org')")"
check_eq "no row was written under the wrong KEK" "$rows" "$(pq "$PORT" app -c "SELECT count(*) FROM people")"
check_eq "with kek1 after the rotation a read fails with 55000" "55000" \
	"$(sqlstate "$PORT" app -c "SELECT decrypt(name) FROM people WHERE id = 1")"
pq "$PORT" app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$U2'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1

# ---- the bytes are OpenSSL's RFC 5649: rotate under the known key ----
check_eq "rotate_kek to the imported key of known value" "$n_keys" \
	"$(pq "$PORT" app -c "SELECT rotate_kek('$UK')")"
want=$("$WRAP_PAD" "$KNOWN_KEK" "$DATA_KEY")
check_eq "the token's wrapping of a data key equals OpenSSL's EVP_aes_256_wrap_pad" "$want" \
	"$(pq "$PORT" app -c "SELECT encode(wrapped, 'hex') FROM stored_keys WHERE name = 'imported'")"
zeros=$("$WRAP_PAD" "$KNOWN_KEK" "$(printf '0%.0s' {1..64})" | perl -e 'print pack "H*", <STDIN> =~ s/\s//gr' |
	openssl dgst -sha256 -binary | od -An -N4 -tx1 | tr -d ' \n')
check_eq "the kek id is the first 4 bytes of SHA-256 of the wrapping of 32 zero bytes" "$zeros" \
	"$(pq "$PORT" app -c "SELECT string_agg(DISTINCT kek_id, ',') FROM stored_keys")"
# set_source URI: kek_source for new sessions, through ALTER SYSTEM and a reload
set_source() {
	pq "$PORT" app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
}
set_source "$UK"
check_eq "rotate_kek back to kek2, from the imported key" "$n_keys" "$(pq "$PORT" app -c "SELECT rotate_kek('$U2')")"
set_source "$U2"

# ---- bad sources: a clear error with a SQLSTATE, no PIN, the backend goes on ----
# bad_source DESC WANT-SQLSTATE MESSAGE-REGEX SOURCE: rotate_kek to it fails
# and the session goes on; as kek_source, the first use fails likewise.
bad_source() {
	local desc=$1 want=$2 re=$3 src=$4 out off
	off=$(file_size "$LOG")
	out=$(qa -c "SELECT rotate_kek('$src')" -c "SELECT 'still here'")
	check "rotate_kek to $desc: $want, \"$re\", and the backend goes on" \
		bash -c '[[ $1 == *"ERROR:"* && $1 == *"still here"* ]] && grep -q -E -e "$2" <<<"$1"' _ "$out" "$re"
	check_eq "rotate_kek to $desc: SQLSTATE" "$want" "$(sqlstate "$PORT" app -c "SELECT rotate_kek('$src')")"
	check "rotate_kek to $desc: no PIN in the message" not grep -q -F -e "$PIN" -e "$WRONG_PIN" <<<"$out"
	pq "$PORT" app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$src'" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
	sleep 1
	out=$(qa -c "SELECT decrypt(name) FROM people WHERE id = 1" -c "SELECT 'still here'")
	check "kek_source = $desc: the first use fails with \"$re\" and the backend goes on" \
		bash -c '[[ $1 == *"ERROR:"* && $1 == *"still here"* ]] && grep -q -E -e "$2" <<<"$1"' _ "$out" "$re"
	check_eq "kek_source = $desc: SQLSTATE of the first use" "$want" \
		"$(sqlstate "$PORT" app -c "SELECT decrypt(name) FROM people WHERE id = 1")"
	pq "$PORT" app -c "ALTER SYSTEM SET encrypted_column.kek_source = '$U2'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	check "$desc: no crash in the server log" no_crash <(since "$LOG" "$off")
}
bad_source "a wrong PIN" F0000 "refused the PIN" \
	"pkcs11:token=ec-other;object=kek3?module-path=$MODULE&pin-source=$REL_TMP/wrong-pin"
bad_source "a missing token" F0000 "no PKCS#11 token matches" \
	"pkcs11:token=no-such-token;object=kek2?module-path=$MODULE&pin-source=$REL_TMP/pin"
bad_source "a missing key" F0000 "holds no secret key" "$(uri no-such-key)"
bad_source "a bad module path" F0000 "could not load PKCS#11 module" \
	"pkcs11:token=$TOKEN;object=kek2?module-path=$REL_TMP/no-such-module.so&pin-source=$REL_TMP/pin"
bad_source "a malformed URI" F0000 'invalid PKCS#11 URI.*"object".*percent escape' \
	"pkcs11:token=$TOKEN;object=kek%2?module-path=$MODULE&pin-source=$REL_TMP/pin"
install -m 0644 "$REL_TMP/pin" "$REL_TMP/pin-public"
((EUID == 0)) && chown postgres: "$REL_TMP/pin-public"
bad_source "a PIN file others can read" F0000 "group or world access" "$(uri kek2 "$REL_TMP/pin-public")"
check "the PIN is nowhere in the server log" not grep -a -q -F -e "$PIN" "$LOG"
check "the wrong PIN is nowhere in the server log" not grep -a -q -F -e "$WRONG_PIN" "$LOG"
check_eq "after the bad sources every row still decrypts" "Alice Example|Bob Example|Carol Example" \
	"$(pq "$PORT" app -c "SELECT string_agg(decrypt(name), '|' ORDER BY id) FROM people")"

# ---- 200 sessions in a row, each opening the token on first use ----
off=$(file_size "$LOG")
ok=0
for ((i = 0; i < 200; i++)); do
	[[ $(pq "$PORT" app -c "SELECT decrypt(name) FROM people WHERE id = 2" 2>/dev/null) == "Bob Example" ]] &&
		ok=$((ok + 1))
done
check_eq "200 new sessions each unwrapped through the token" 200 "$ok"
check "no crash in 200 sessions" no_crash <(since "$LOG" "$off")
check "the server log has no crash" no_crash "$LOG"
rel_finish
