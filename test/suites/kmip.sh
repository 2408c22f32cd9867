#!/usr/bin/env bash
# Stored data keys under a key-encryption key (KEK) from a real KMIP
# server: Debian's PyKMIP, started here over mutual TLS.
#   - a test CA, a server certificate (for 127.0.0.1, ::1 and localhost)
#     and a client certificate, made with openssl; a second CA and a
#     client certificate it signed, which the KMIP server must refuse;
#   - PyKMIP's server on a port from scripts/free-port, with client
#     authentication and its own database; a PyKMIP client makes two
#     AES-256 keys, an AES-128 key, a Camellia-256 key and a Secret Data
#     object;
#   - a PostgreSQL cluster whose encrypted_column.kek_source is the first
#     key's kmip:// URL: create_key() stores a data key wrapped under the
#     KEK the server holds (its kek id is the one computed from the key the
#     PyKMIP client reads), values of both types round-trip, and a new
#     session fetches the KEK again;
#   - rotate_kek() to the second key's URL re-wraps every data key in one
#     statement without touching a user row (ctid and xmin unchanged);
#     after the reload new sessions read the old rows; the first key's URL
#     is then a wrong KEK, refused with 55000 before a row is written;
#   - the server stopped, a server that never answers (10 s limit, and a
#     statement_timeout that cancels the wait), wrong CA, wrong client
#     certificate, wrong server name, unknown key id, a 128-bit key, a
#     Camellia key, an object that is not a key, a client key file others
#     can read and malformed URLs: each a clear error with its SQLSTATE,
#     and the backend lives on;
#   - no key byte in the server log or in any error the client saw.
# Prints the time of a backend's first use of a stored key (the KEK
# fetched over TLS, the data key unwrapped) against a later use.
REL_NAME=kmip
source "$(dirname "$0")/lib.sh"
rel_init

command -v pykmip-server >/dev/null && /usr/bin/python3 -c 'import kmip' 2>/dev/null ||
	rel_skip "PyKMIP is not installed (Debian package python3-pykmip)"

PKI=$REL_TMP/pki
mkdir -p "$PKI" "$PKI/policies"
KMIP_PID=""

# Stop the KMIP server and the silent listener, then what rel_init set up.
kmip_cleanup() {
	[[ -n $KMIP_PID ]] && stop_kmip
	[[ -n ${SILENT_PID:-} ]] && kill "$SILENT_PID" 2>/dev/null
	rel_cleanup
}
trap kmip_cleanup EXIT

# ---- certificates ----
cat >"$PKI/ext.cnf" <<'EOF'
[server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
[client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EOF
# make_ca NAME; make_cert CA NAME server|client
make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
		-keyout "$PKI/$1.key" -out "$PKI/$1.pem" 2>/dev/null
}
make_cert() {
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" \
		-keyout "$PKI/$2.key" -out "$PKI/$2.csr" 2>/dev/null &&
		openssl x509 -req -in "$PKI/$2.csr" -CA "$PKI/$1.pem" -CAkey "$PKI/$1.key" \
			-CAcreateserial -days 2 -extfile "$PKI/ext.cnf" -extensions "$3" \
			-out "$PKI/$2.pem" 2>/dev/null
}
make_ca ec-test-ca && make_ca ec-other-ca &&
	make_cert ec-test-ca kmip-server server &&
	make_cert ec-test-ca ec-postgres client &&
	make_cert ec-other-ca ec-stranger client || {
	echo "could not make the test certificates"
	exit 1
}
# the server's user must read them; a client key only it may read
((EUID == 0)) && chown -R postgres: "$PKI"
chmod 0755 "$PKI"
chmod 0644 "$PKI"/*.pem
chmod 0600 "$PKI"/*.key
cp "$PKI/ec-postgres.key" "$PKI/open.key"
chmod 0644 "$PKI/open.key"
check "certificates made (two CAs, a server, two clients)" test -s "$PKI/ec-stranger.pem"

# ---- the KMIP server ----
KPORT=$("$REPO_DIR/scripts/free-port") || exit 1
cat >"$PKI/server.conf" <<EOF
[server]
hostname = 127.0.0.1
port = $KPORT
certificate_path = $PKI/kmip-server.pem
key_path = $PKI/kmip-server.key
ca_path = $PKI/ec-test-ca.pem
auth_suite = TLS1.2
policy_path = $PKI/policies
enable_tls_client_auth = True
logging_level = INFO
database_path = $PKI/pykmip.db
EOF
# start_kmip: in the background, in a process group of its own (PyKMIP
# forks a policy monitor and a process per connection); waits until it
# listens.  stop_kmip ends the whole group.
start_kmip() {
	setsid pykmip-server -f "$PKI/server.conf" -l "$REL_TMP/pykmip.log" >>"$REL_TMP/pykmip.out" 2>&1 &
	KMIP_PID=$!
	wait_for 30 not port_free "$KPORT"
}
stop_kmip() {
	kill -- -"$KMIP_PID" 2>/dev/null
	wait "$KMIP_PID" 2>/dev/null
	KMIP_PID=""
}
start_kmip
check "PyKMIP server listens on 127.0.0.1:$KPORT" not port_free "$KPORT" || {
	tail -n 20 "$REL_TMP/pykmip.out" "$REL_TMP/pykmip.log"
	exit 1
}

# kc COMMAND [ARGS...]: the PyKMIP client, with the PostgreSQL client cert
kc() {
	/usr/bin/python3 "$REL_DIR/kmip/kmip_client.py" 127.0.0.1 "$KPORT" "$PKI/ec-postgres.pem" \
		"$PKI/ec-postgres.key" "$PKI/ec-test-ca.pem" "$@" 2>>"$REL_TMP/kmip_client.err"
}
ID1=$(kc create AES 256)
ID2=$(kc create AES 256)
ID128=$(kc create AES 128)
IDCAM=$(kc create CAMELLIA 256)
IDSECRET=$(kc secret)
check "PyKMIP made two AES-256 keys, an AES-128 key, a Camellia key and Secret Data" \
	test -n "$ID1" -a -n "$ID2" -a -n "$ID128" -a -n "$IDCAM" -a -n "$IDSECRET"
[[ -n $ID1 && -n $ID2 ]] || { cat "$REL_TMP/kmip_client.err"; exit 1; }
KEKID1=$(kc kekid "$ID1")
KEKID2=$(kc kekid "$ID2")
KEKS_RE=$(key_slices_re "$(kc hex "$ID1")" "$(kc hex "$ID2")" "$(kc hex "$ID128")" "$(kc hex "$IDCAM")")

# url ID [extra attributes]: the kmip:// URL of a key with the good files
url() {
	echo "kmip://127.0.0.1:$KPORT/$1?cert=$PKI/ec-postgres.pem&key=$PKI/ec-postgres.key&ca=$PKI/ec-test-ca.pem${2:-}"
}

# ---- PostgreSQL ----
PORT=$(cluster_up main "$("$REPO_DIR/scripts/free-port")" <<EOF
shared_preload_libraries = 'encrypted_column'
encrypted_column.kek_source = '$(url "$ID1")'
log_min_messages = info
EOF
) || exit 1
say "KMIP server on $KPORT, PostgreSQL on $PORT"
pq "$PORT" postgres -c "CREATE DATABASE app" || exit 1
pq "$PORT" app -c "CREATE EXTENSION encrypted_column" || exit 1
if [[ $(pq "$PORT" app -c "SELECT count(*) FROM pg_proc WHERE proname IN ('create_key', 'rotate_kek')") != 2 ]]; then
	rel_skip "this build has no stored keys (create_key, rotate_kek); the kmip:// source needs them"
fi

# gets: how many Get operations the KMIP server has done so far
gets() {
	count_in "$REL_TMP/pykmip.log" "Processing operation: Get"
}

# set_source URL: ALTER SYSTEM and reload, waiting until new sessions see it
set_source() {
	local v=${1//\'/\'\'}
	pq "$PORT" postgres -c "ALTER SYSTEM SET encrypted_column.kek_source = '$v'" -c "SELECT pg_reload_conf()" >/dev/null &&
		wait_for 10 test "$(pq "$PORT" app -c 'SHOW encrypted_column.kek_source')" = "$1"
}

# try SQL...: run the statements in one session, then SELECT 'alive';
# prints the SQLSTATE of the last error (00000 for none) and "alive" when
# the session answered afterwards; the error text goes to $REL_TMP/try.err
try() {
	local args=() s
	for s in "$@"; do args+=(-c "$s"); done
	"$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PORT" -U postgres -d app "${args[@]}" \
		-c '\echo :LAST_ERROR_SQLSTATE' -c "SELECT 'alive'" 2>"$REL_TMP/try.err" |
		tail -n 2 | paste -s -d ' '
	cat "$REL_TMP/try.err" >>"$REL_TMP/all-errors.txt"
}

# ---- round trip under the first KMIP key ----
g0=$(gets)
DKID=$(pq "$PORT" app -c "SELECT create_key('tenant1')")
check "create_key under the kmip:// source returns a key id" test -n "$DKID"
check "the server was asked for the KEK (a KMIP Get)" test "$(gets)" -gt "$g0"
check_eq "the stored key's kek id is that of the KMIP server's first key" \
	"$KEKID1" "$(pq "$PORT" app -c "SELECT kek_id FROM stored_keys WHERE name = 'tenant1'")"
pq "$PORT" app <<'SQL' >/dev/null
CREATE TABLE t (id int PRIMARY KEY, a encrypted_text, d encrypted_text_det);
SET encrypted_column.key_name = 'tenant1';
INSERT INTO t SELECT i, 'alpha ' || i, 'beta ' || i FROM generate_series(1, 50) i;
SQL
check_eq "50 rows written with key_name set" 50 "$(pq "$PORT" app -c "SELECT count(*) FROM t")"
check_eq "the values carry the stored key's id" "$DKID" \
	"$(pq "$PORT" app -c "SELECT DISTINCT key_id(a) FROM t")"
g0=$(gets)
check_eq "a new session decrypts both types (encrypted_text)" "alpha 7" \
	"$(pq "$PORT" app -c "SELECT decrypt(a) FROM t WHERE id = 7")"
check_eq "a new session finds a row by encrypted_text_det" 7 \
	"$(pq "$PORT" app -c "SET encrypted_column.key_name = 'tenant1'" -c "SELECT id FROM t WHERE d = 'beta 7'")"
check "each new session fetched the KEK from the server again" test "$(gets)" -ge $((g0 + 2))

# first use against a later use in one session, in milliseconds
timing=$("$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$PORT" -U postgres -d app \
	-c '\timing on' -c "SELECT decrypt(a) FROM t WHERE id = 1" \
	-c "SELECT decrypt(a) FROM t WHERE id = 2" 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | paste -s -d ' ')
read -r FIRST_MS LATER_MS <<<"$timing"
check "first use timed (${FIRST_MS:-?} ms, later use ${LATER_MS:-?} ms)" test -n "${LATER_MS:-}"

# ---- rotate_kek to the second key ----
pq "$PORT" app -c "SELECT create_key('tenant2')" >/dev/null
before=$(pq "$PORT" app -c "SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY id) FROM t")
nkeys=$(pq "$PORT" app -c "SELECT count(*) FROM stored_keys WHERE destroyed IS NULL")
n=$(pq "$PORT" app -c "SELECT rotate_kek('$(url "$ID2")')")
check_eq "rotate_kek re-wraps every stored key and says how many" "$nkeys" "$n"
check_eq "every stored key now has the second KMIP key's kek id" "$KEKID2" \
	"$(pq "$PORT" app -c "SELECT string_agg(DISTINCT kek_id, ',') FROM stored_keys WHERE destroyed IS NULL")"
check_eq "no user row was touched (ctid and xmin unchanged)" "$before" \
	"$(pq "$PORT" app -c "SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY id) FROM t")"
set_source "$(url "$ID2")"
check "kek_source set to the second key by ALTER SYSTEM and reload" \
	test "$(pq "$PORT" app -c 'SHOW encrypted_column.kek_source')" = "$(url "$ID2")"
check_eq "a new session decrypts the old rows under the new KEK" "alpha 9" \
	"$(pq "$PORT" app -c "SELECT decrypt(a) FROM t WHERE id = 9")"

# ---- the first key is now a wrong KEK ----
set_source "$(url "$ID1")"
r=$(try "SET encrypted_column.key_name = 'tenant1'" "INSERT INTO t VALUES (100, 'gamma', 'delta')")
check_eq "the old KEK after rotation: 55000 at first use, backend alive" "55000 alive" "$r"
check_eq "no row was written under the wrong KEK" 50 "$(pq "$PORT" app -c "SELECT count(*) FROM t")"
set_source "$(url "$ID2")"

# expect DESCRIPTION SQLSTATE URL [regex the error must match]: with the
# source set to URL, a new session's first use fails with SQLSTATE, and
# the session lives on
expect() {
	local desc=$1 want=$2 u=$3 re=${4:-.} r
	set_source "$u" || { check "$desc (source set)" false; return; }
	r=$(try "SELECT decrypt(a) FROM t WHERE id = 3")
	check_eq "$desc: $want, backend alive" "$want alive" "$r"
	[[ $re == . ]] || check "$desc: the error says so" grep -q -E "$re" "$REL_TMP/try.err"
}

expect "unknown key id" 58000 "$(url 999999)" "Item Not Found"
expect "a 128-bit AES key" 58000 "$(url "$ID128")" "not a 256-bit key"
expect "a Camellia key" 58000 "$(url "$IDCAM")" "not an AES key"
expect "Secret Data, not a key" 58000 "$(url "$IDSECRET")" "not a symmetric key"
expect "wrong CA for the server" 58000 \
	"kmip://127.0.0.1:$KPORT/$ID2?cert=$PKI/ec-postgres.pem&key=$PKI/ec-postgres.key&ca=$PKI/ec-other-ca.pem" \
	"certificate was not accepted"
expect "a client certificate the server does not trust" 58000 \
	"kmip://127.0.0.1:$KPORT/$ID2?cert=$PKI/ec-stranger.pem&key=$PKI/ec-stranger.key&ca=$PKI/ec-test-ca.pem" \
	"TLS failed|closed the connection"
expect "a server name the certificate does not hold" 58000 "$(url "$ID2" "&servername=kms.example")" \
	"hostname mismatch"
expect "IPv6 address, nothing listening there" 58000 \
	"kmip://[::1]:$KPORT/$ID2?cert=$PKI/ec-postgres.pem&key=$PKI/ec-postgres.key&ca=$PKI/ec-test-ca.pem" \
	"could not connect"
expect "a client key file others can read" F0000 \
	"kmip://127.0.0.1:$KPORT/$ID2?cert=$PKI/ec-postgres.pem&key=$PKI/open.key&ca=$PKI/ec-test-ca.pem" \
	"group or world access"
expect "malformed: unknown attribute" F0000 "$(url "$ID2" "&pin=1")" 'unknown attribute "pin"'
expect "malformed: attribute twice" F0000 "$(url "$ID2" "&ca=$PKI/ec-test-ca.pem")" '"ca" appears twice'
expect "malformed: no ca" F0000 \
	"kmip://127.0.0.1:$KPORT/$ID2?cert=$PKI/ec-postgres.pem&key=$PKI/ec-postgres.key" '"ca"'
expect "malformed: bad port" F0000 \
	"kmip://127.0.0.1:99999/$ID2?cert=$PKI/ec-postgres.pem&key=$PKI/ec-postgres.key&ca=$PKI/ec-test-ca.pem" "port"
expect "malformed: bad percent escape" F0000 "$(url "%zz")" "percent-escape"
expect "malformed: relative path" F0000 \
	"kmip://127.0.0.1:$KPORT/$ID2?cert=ec-postgres.pem&key=$PKI/ec-postgres.key&ca=$PKI/ec-test-ca.pem" "absolute"
expect "percent-encoded key id is decoded" 00000 \
	"kmip://127.0.0.1:$KPORT/%$(printf '%02x' "'${ID2:0:1}")${ID2:1}?cert=$PKI/ec-postgres.pem&key=$PKI/ec-postgres.key&ca=$PKI/ec-test-ca.pem"

# ---- a server that accepts and never answers ----
SPORT=$("$REPO_DIR/scripts/free-port")
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$SPORT" &
SILENT_PID=$!
wait_for 10 not port_free "$SPORT"
start=$SECONDS
expect "a server that never answers" 58000 \
	"kmip://127.0.0.1:$SPORT/$ID2?cert=$PKI/ec-postgres.pem&key=$PKI/ec-postgres.key&ca=$PKI/ec-test-ca.pem" \
	"no answer within 10 seconds"
check "it gave up within the 10 s limit ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 14
start=$SECONDS
r=$(try "SET statement_timeout = '1s'" "SELECT decrypt(a) FROM t WHERE id = 3")
check_eq "a statement_timeout cancels the wait: 57014, backend alive" "57014 alive" "$r"
check "the cancel came within 4 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 4
kill "$SILENT_PID" 2>/dev/null
SILENT_PID=""

# ---- the KMIP server stopped ----
set_source "$(url "$ID2")"
stop_kmip
wait_for 10 port_free "$KPORT"
start=$SECONDS
r=$(try "SELECT decrypt(a) FROM t WHERE id = 3")
check_eq "the KMIP server stopped: 58000, backend alive" "58000 alive" "$r"
check "the error says it could not connect" grep -q "could not connect" "$REL_TMP/try.err"
check "it came within the 10 s limit ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 12
start_kmip
check_eq "the server back: a new session decrypts again" "alpha 3" \
	"$(pq "$PORT" app -c "SELECT decrypt(a) FROM t WHERE id = 3")"

# ---- nothing secret where it may not be ----
LOG=$REL_TMP/main.log
check "no crash in the server log" no_crash "$LOG"
check "no KEK in the server log" not grep -a -q -i -E "$KEKS_RE" "$LOG"
check "no KEK in any error the client saw" not grep -a -q -i -E "$KEKS_RE" "$REL_TMP/all-errors.txt"
check "no plaintext in the server log" not grep -a -q "alpha 7" "$LOG"

say "figures: first use of a stored key through kmip:// ${FIRST_MS:-?} ms (a later use ${LATER_MS:-?} ms); KMIP Gets served: $(gets)"
rel_finish
