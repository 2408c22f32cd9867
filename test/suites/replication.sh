#!/usr/bin/env bash
# Physical and logical replication of encrypted_text columns.
#
# Three postmasters on loopback: a primary (wal_level = logical), a
# streaming standby made with pg_basebackup, and a logical subscriber with
# one database subscribed with binary = true and one in text mode.  Rows
# are written before and after the replicas exist (inserts, new values,
# reencrypt() to a new key, deletes, toasted values).  Checks:
#   - the standby and both subscribers hold ciphertexts byte-identical to
#     the primary's, and with the key they decrypt to the originals;
#   - the change stream itself (pgoutput in text and in binary mode, and
#     test_decoding) carries ciphertext and no plaintext;
#   - after checkpoints, no file of any of the three data directories
#     (heap, TOAST, WAL, replication slots) holds a plaintext, while a
#     plain text control column is found there;
#   - a text-mode subscription whose owner lacks the restore switch fails
#     loudly with the hint and stores nothing;
#   - a table keyed by an encrypted_text_det primary key (its replica
#     identity) replicates inserts, updates, deletes and a key rotation of
#     the key column itself, and each replica finds rows by plaintext;
#   - a table of search columns (encrypted_text(trigram) with a GIN index,
#     encrypted_date and encrypted_numeric (range, width) with range_ops
#     indexes) replicates inserts, new values, deletes and a rotation to
#     the new key: the subscribers' apply workers, whose sessions hold no
#     key, store the values byte for byte and maintain the indexes; then,
#     with the key, LIKE, ILIKE, comparisons and BETWEEN on the standby
#     and on both subscribers go through their indexes and return the
#     primary's rows, which are the rows of the same predicates on
#     decrypt(col).
REL_NAME=replication
source "$(dirname "$0")/lib.sh"
rel_init

ROWS=${EC_REPL_ROWS:-10000}
P1=$(cluster_up primary 55410 <<EOF
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
EOF
) || exit 1

KEYOPTS="-c encrypted_column.key=$KEY1"
KEYOPTS2="-c encrypted_column.key=$KEY2 -c encrypted_column.previous_keys=$KEY1"
PUBCONN="host=127.0.0.1 port=$P1 dbname=app user=postgres"

# Plaintext of row i in generation g; computed in queries, never stored.
plain() { echo "'REPLSECRET-' || $1 || '-g' || $2 || '-' || md5($1::text || $2::text)"; }
# The search columns of row i in generation g (name, day, amount).
search_row() {
	echo "CASE WHEN $1 % 41 = 0 THEN NULL ELSE 'REPLSECRET-name-' || $1 || '-g' || $2 || '-' || left(md5($1::text), 4)
		|| CASE WHEN $1 % 9 = 0 THEN '-Grüße' ELSE '' END END,
	date '2020-01-01' + ($1 * 37 + $2 * 11) % 1200, (($1 * 7919 + $2) % 100000) / 10.0"
}
CIPHERPRINT="SELECT coalesce(md5(string_agg(concat_ws('|', id, gen, c::text, big::text, note),
	E'\n' ORDER BY id)), 'empty') || '/' || (SELECT coalesce(md5(string_agg(
	concat_ws('|', email::text, n), E'\n' ORDER BY email::text)), 'empty') FROM det_items)
	|| '/' || (SELECT coalesce(md5(string_agg(concat_ws('|', id, gen, name::text, day::text,
	amount::text), E'\n' ORDER BY id)), 'empty') FROM search_items)
	FROM items"
# Rows of det_items found by plaintext (spelt in halves, see peek below).
DET_LOOKUP="SELECT count(*) FROM generate_series(1, $((ROWS / 2))) i
	WHERE EXISTS (SELECT 1 FROM det_items WHERE email = 'REPL' || 'SECRET-det-' || i)"
PLAINPRINT="SELECT coalesce(md5(string_agg(concat_ws('|', id, decrypt(c), decrypt(big)),
	E'\n' ORDER BY id)), 'empty') FROM items"
EXPECTPRINT="SELECT coalesce(md5(string_agg(concat_ws('|', id, $(plain id gen),
	CASE WHEN id % 10 = 0 THEN repeat($(plain id gen), 60) END), E'\n' ORDER BY id)), 'empty')
	FROM items"

# the replicated table, the same on the primary and every subscriber
ITEMS_DDL="CREATE TABLE items (
	id int PRIMARY KEY,
	gen int NOT NULL,
	note text NOT NULL,
	c encrypted_text NOT NULL,
	big encrypted_text
);
CREATE TABLE det_items (
	email encrypted_text_det PRIMARY KEY,
	n int NOT NULL
);
CREATE TABLE search_items (
	id int PRIMARY KEY,
	gen int NOT NULL,
	name encrypted_text(trigram),
	day encrypted_date(range, 7),
	amount encrypted_numeric(range, 1)
);
CREATE INDEX si_name ON search_items USING gin (name);
CREATE INDEX si_day ON search_items (day encrypted_date_range_ops);
CREATE INDEX si_amount ON search_items (amount encrypted_numeric_range_ops);"

pq "$P1" postgres -c "CREATE DATABASE app" || exit 1
PGOPTIONS="$KEYOPTS" pq "$P1" app <<SQL || exit 1
CREATE EXTENSION encrypted_column;
$ITEMS_DDL
INSERT INTO items
SELECT i, 0, 'REPLCONTROL-' || i, $(plain i 0),
	CASE WHEN i % 10 = 0 THEN repeat($(plain i 0), 60) END
FROM generate_series(1, $((ROWS / 2))) i;
INSERT INTO det_items SELECT 'REPLSECRET-det-' || i, 0 FROM generate_series(1, $((ROWS / 4))) i;
INSERT INTO search_items SELECT i, 0, $(search_row i 0) FROM generate_series(1, $((ROWS / 4))) i;
CREATE PUBLICATION pub FOR TABLE items, det_items, search_items;
-- slots to read the change stream the subscribers get
\o /dev/null
SELECT pg_create_logical_replication_slot('peek_pgoutput', 'pgoutput');
SELECT pg_create_logical_replication_slot('peek_decoding', 'test_decoding');
\o
SQL
say "primary on port $P1 loaded with $((ROWS / 2)) rows"

# ---- physical standby ----
as_pg "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$P1" -U postgres \
	-D "$REL_TMP/standby" -R -X stream -c fast >"$REL_TMP/basebackup.log" 2>&1 || {
	cat "$REL_TMP/basebackup.log"
	exit 1
}
cluster_track "$REL_TMP/standby"
P2=$(cluster_start_free standby $((P1 + 1))) || exit 1
say "standby on port $P2"

# ---- logical subscriber ----
P3=$(cluster_up subscriber $((P2 + 1)) <<<"max_logical_replication_workers = 8") || exit 1
pq "$P3" postgres <<SQL || exit 1
CREATE DATABASE sub_bin;
CREATE DATABASE sub_text;
CREATE DATABASE sub_noswitch;
-- The documented set-up: a dedicated subscription owner whose sessions,
-- and so the replication workers, accept ciphertext text forms.
CREATE ROLE ec_apply SUPERUSER LOGIN;
ALTER ROLE ec_apply IN DATABASE sub_bin SET encrypted_column.accept_ciphertext = on;
ALTER ROLE ec_apply IN DATABASE sub_text SET encrypted_column.accept_ciphertext = on;
SQL
for db in sub_bin sub_text sub_noswitch; do
	pq "$P3" "$db" <<SQL || exit 1
CREATE EXTENSION encrypted_column;
$ITEMS_DDL
SQL
done
pq "$P3" sub_bin -c "SET ROLE ec_apply" -c "CREATE SUBSCRIPTION s_bin
	CONNECTION '$PUBCONN' PUBLICATION pub WITH (binary = true)" 2>/dev/null || exit 1
pq "$P3" sub_text -c "SET ROLE ec_apply" -c "CREATE SUBSCRIPTION s_text
	CONNECTION '$PUBCONN' PUBLICATION pub WITH (binary = false)" 2>/dev/null || exit 1
pq "$P3" sub_noswitch -c "CREATE SUBSCRIPTION s_noswitch
	CONNECTION '$PUBCONN' PUBLICATION pub WITH (binary = false, disable_on_error = true)" \
	2>/dev/null || exit 1
say "subscriber on port $P3: sub_bin (binary), sub_text (text), sub_noswitch"

# ---- more writes once every replica exists ----
PGOPTIONS="$KEYOPTS" pq "$P1" app <<SQL || exit 1
INSERT INTO items
SELECT i, 0, 'REPLCONTROL-' || i, $(plain i 0),
	CASE WHEN i % 10 = 0 THEN repeat($(plain i 0), 60) END
FROM generate_series($((ROWS / 2 + 1)), $ROWS) i;
-- new values
UPDATE items SET gen = 1, c = $(plain id 1),
	big = CASE WHEN id % 10 = 0 THEN repeat($(plain id 1), 60) END
WHERE id % 3 = 0;
DELETE FROM items WHERE id % 7 = 0;
INSERT INTO det_items SELECT 'REPLSECRET-det-' || i, 0
FROM generate_series($((ROWS / 4 + 1)), $((ROWS / 2))) i;
-- rows found by their deterministic primary key
UPDATE det_items SET n = 1 WHERE email = ANY (encrypt_det_all(ARRAY(
	SELECT 'REPLSECRET-det-' || i FROM generate_series(1, $((ROWS / 2)), 5) i)));
DELETE FROM det_items WHERE email = 'REPLSECRET-det-3'::text;
-- search columns: inserts, new values, deletes
INSERT INTO search_items SELECT i, 0, $(search_row i 0)
FROM generate_series($((ROWS / 4 + 1)), $((ROWS / 2))) i;
UPDATE search_items SET gen = 1, (name, day, amount) = (SELECT $(search_row id 1)) WHERE id % 4 = 0;
DELETE FROM search_items WHERE id % 13 = 0;
SQL
# key rotation: a session with the new key re-encrypts a third of the rows,
# and about half of det_items (its primary key changes)
PGOPTIONS="$KEYOPTS2" pq "$P1" app -c \
	"UPDATE items SET c = reencrypt(c), big = reencrypt(big) WHERE id % 3 = 1" \
	-c "UPDATE det_items SET email = reencrypt(email) WHERE n = 0 AND get_byte(encrypted_text_det_send(email), 6) % 2 = 0" \
	-c "UPDATE search_items SET name = reencrypt(name), day = reencrypt(day), amount = reencrypt(amount) WHERE id % 3 = 1" \
	-c "INSERT INTO search_items SELECT i, 2, $(search_row i 2) FROM generate_series($((ROWS / 2 + 1)), $((ROWS / 2 + 200))) i" || exit 1
pq "$P1" app -c "CHECKPOINT" || exit 1

want_cipher=$(pq "$P1" app -c "$CIPHERPRINT")
want_plain=$(pq "$P1" app -c "$EXPECTPRINT")
check_eq "primary decrypts to the plaintexts written" "$want_plain" \
	"$(PGOPTIONS="$KEYOPTS2" pq "$P1" app -c "$PLAINPRINT")"
nrows=$(pq "$P1" app -c "SELECT count(*) FROM items")
det_found=$(PGOPTIONS="$KEYOPTS2" pq "$P1" app -c "$DET_LOOKUP")
check_eq "primary: det_items rows found by plaintext under both keys" "$(($ROWS / 2 - 1))" "$det_found"
check_eq "primary: det_items holds rows under both keys" "2" \
	"$(pq "$P1" app -c "SELECT count(DISTINCT key_id(email)) FROM det_items")"
rotated=$(PGOPTIONS="$KEYOPTS2" pq "$P1" app -c \
	"SELECT count(*) FROM items WHERE key_id(c) = current_key_id()")
say "primary: $nrows rows, $rotated under the rotated key"

same_cipher() { [[ $(pq "$1" "$2" -c "$CIPHERPRINT" 2>/dev/null) == "$want_cipher" ]]; }

# ---- standby ----
check "standby replays to the primary's state" wait_for 120 same_cipher "$P2" app
check_eq "standby rows decrypt to the originals" "$want_plain" \
	"$(PGOPTIONS="$KEYOPTS2" pq "$P2" app -c "$PLAINPRINT")"
check_eq "standby refuses writes (it is a standby)" "t" \
	"$(pq "$P2" app -c "SELECT pg_is_in_recovery()")"

# ---- subscribers ----
check "binary subscriber reaches the primary's ciphertexts" wait_for 180 same_cipher "$P3" sub_bin
check "text subscriber reaches the primary's ciphertexts" wait_for 180 same_cipher "$P3" sub_text
for db in sub_bin sub_text; do
	check_eq "$db rows decrypt to the originals" "$want_plain" \
		"$(PGOPTIONS="$KEYOPTS2" pq "$P3" "$db" -c "$PLAINPRINT")"
	check_eq "$db finds det_items rows by plaintext" "$det_found" \
		"$(PGOPTIONS="$KEYOPTS2" pq "$P3" "$db" -c "$DET_LOOKUP")"
done
check_eq "standby finds det_items rows by plaintext" "$det_found" \
	"$(PGOPTIONS="$KEYOPTS2" pq "$P2" app -c "$DET_LOOKUP")"
sub_disabled() {
	[[ $(pq "$P3" sub_noswitch -c "SELECT subenabled FROM pg_subscription WHERE subname = 's_noswitch'") == f ]]
}
check "subscription without the switch stops on the first row" wait_for 120 sub_disabled
check_eq "subscription without the switch stored nothing" "0" \
	"$(pq "$P3" sub_noswitch -c "SELECT count(*) FROM items")"
check "its error and hint are in the subscriber log" \
	grep -q "HINT:  To restore ciphertext from a dump, set encrypted_column.accept_ciphertext = on" \
	"$REL_TMP/subscriber.log"

# ---- searches through the replicas' indexes ----
# Each search through its index, and the same predicate on decrypt(col);
# patterns and bounds are literals, none holding the plaintext marker.
search_preds=()
for pat in '%-name-12-%' '%-name-1__-g1-%' '%-G1-%' '%grüße' '%-name-4%' '%-g2-%' '%' '_%' '%zzzz%'; do
	search_preds+=("name LIKE '$pat'" "name ILIKE '$pat'")
done
search_preds+=("day BETWEEN date '2021-01-01' AND date '2021-01-31'" "day < date '2020-01-15'"
	"day = date '2022-06-01'" "date '2023-01-01' <= day" "day BETWEEN '2020-05-01' AND '2020-05-10'"
	"amount BETWEEN 100 AND 110" "amount > 9990" "amount = 42.5" "amount <= 1")
# "searches whose rows differ from the reference|searches that found
# rows|md5 of the rows found"
SEARCH_CHECK="SET enable_seqscan = off; SET jit = off;
SELECT concat_ws('|', count(*) FILTER (WHERE a IS DISTINCT FROM b), count(*) FILTER (WHERE cardinality(a) > 0),
	md5(string_agg(a::text, ';' ORDER BY k))) FROM ("
k=0
for pred in "${search_preds[@]}"; do
	ref=$(sed -E 's/(^|[^a-z_])(name|day|amount)( |$)/\1decrypt(\2)\3/g' <<<"$pred")
	((k)) && SEARCH_CHECK+=" UNION ALL"
	SEARCH_CHECK+="
	SELECT $k AS k, (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM search_items WHERE $pred) AS a,
		(SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM search_items WHERE $ref) AS b"
	k=$((k + 1))
done
SEARCH_CHECK+=") s;"
SEARCH_PLANS="SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM search_items WHERE name LIKE '%-name-12-%';
EXPLAIN (COSTS OFF) SELECT id FROM search_items WHERE name ILIKE '%-G1-%';
EXPLAIN (COSTS OFF) SELECT id FROM search_items WHERE day BETWEEN date '2021-01-01' AND date '2021-01-31';
EXPLAIN (COSTS OFF) SELECT id FROM search_items WHERE amount BETWEEN 100 AND 110;"
plans_use_indexes() {
	local idx
	for idx in si_name si_day si_amount; do
		grep -q -E "Index Scan (using|on) $idx( |$)" <<<"$1" || return 1
	done
}
want_search=$(PGOPTIONS="$KEYOPTS2" pq "$P1" app -c "$SEARCH_CHECK" | tail -n 1)
check "primary: ${#search_preds[@]} searches through the indexes give the decrypting reference's rows" \
	[ "${want_search%%|*}" = 0 ]
check "primary: most searches find rows ($(cut -d'|' -f2 <<<"$want_search"))" \
	[ "$(cut -d'|' -f2 <<<"$want_search")" -ge $((${#search_preds[@]} / 2)) ]
check_eq "primary: search_items holds rows under both keys, and rows of the third generation" "2|t" \
	"$(pq "$P1" app -c "SELECT count(DISTINCT key_id(name)) || '|' || bool_or(gen = 2)::char FROM search_items")"
check_eq "the apply role's sessions hold no key (key, previous_keys, key_name all empty)" "||" \
	"$(pq "$P3" sub_bin -U ec_apply -c "LOAD 'encrypted_column'" -c "SELECT concat_ws('|',
		current_setting('encrypted_column.key'), current_setting('encrypted_column.previous_keys'),
		current_setting('encrypted_column.key_name'))" 2>&1)"
for target in "$P2 app standby" "$P3 sub_bin sub_bin" "$P3 sub_text sub_text"; do
	read -r port db label <<<"$target"
	check_eq "$label: the searches return the primary's rows, those of the decrypting reference" \
		"$want_search" "$(PGOPTIONS="$KEYOPTS2" pq "$port" "$db" -c "$SEARCH_CHECK" | tail -n 1)"
	check "$label: LIKE, ILIKE and BETWEEN go through its indexes" plans_use_indexes \
		"$(PGOPTIONS="$KEYOPTS2" pq "$port" "$db" -c "$SEARCH_PLANS")"
done
check_eq "the subscriber's indexes are valid" "3|3" \
	"$(for db in sub_bin sub_text; do pq "$P3" "$db" -c "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname IN ('si_name', 'si_day', 'si_amount') AND i.indisvalid"; done | paste -s -d '|')"
check_eq "the binary and text subscriptions applied everything without an error" 0 \
	"$(pq "$P3" postgres -c "SELECT coalesce(sum(apply_error_count + sync_error_count), 0)
		FROM pg_stat_subscription_stats WHERE subname IN ('s_bin', 's_text')")"

# ---- the change stream ----
# Count the messages of the pgoutput stream (binary mode $1) that hold the
# SQL string $2.  Search terms are spelt in two halves so that these
# queries, which the server may log, do not hold them.
peek() {
	pq "$P1" app -c "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('peek_pgoutput',
		NULL, NULL, 'proto_version', '1', 'publication_names', 'pub', 'binary', '$1')
		WHERE position(convert_to($2, 'UTF8') IN data) > 0"
}
for mode in false true; do
	n=$(peek "$mode" "'REPL' || 'CONTROL'")
	check "pgoutput binary=$mode: the control column is in the stream ($n messages)" [ "$n" -gt 0 ]
	check_eq "pgoutput binary=$mode: no message holds a plaintext" "0" "$(peek "$mode" "'REPL' || 'SECRET'")"
done
check_eq "pgoutput binary=false: ciphertext text forms in the stream" "t" \
	"$(pq "$P1" app -c "SELECT count(*) > 0 FROM pg_logical_slot_peek_binary_changes('peek_pgoutput',
		NULL, NULL, 'proto_version', '1', 'publication_names', 'pub', 'binary', 'false')
		WHERE position(convert_to('ecv1:', 'UTF8') IN data) > 0")"
check_eq "test_decoding: every change shows ciphertext, none a plaintext" "t|0" \
	"$(pq "$P1" app -c "SELECT count(*) FILTER (WHERE data LIKE '%ecv1:%') > 0,
		count(*) FILTER (WHERE data LIKE '%REPL' || 'SECRET%')
		FROM pg_logical_slot_peek_changes('peek_decoding', NULL, NULL)")"

# ---- the files ----
pq "$P1" app -c "CHECKPOINT" && pq "$P2" app -c "CHECKPOINT" && pq "$P3" postgres -c "CHECKPOINT" || exit 1
for c in primary standby subscriber; do
	check "$c data directory holds the control column" tree_has "$REL_TMP/$c" REPLCONTROL-
	check "$c data directory (heap, TOAST, WAL, slots) holds no plaintext" \
		not grep -r -a -q -F REPLSECRET "$REL_TMP/$c"
	check "$c data directory holds no key (no 8-character slice of one)" \
		not grep -r -a -q -i -E "$(key_slices_re "$KEY1" "$KEY2")" "$REL_TMP/$c"
done
check "no server log holds a plaintext or a key" \
	not grep -a -q -i -E "REPLSECRET|$(key_slices_re "$KEY1" "$KEY2")" "$REL_TMP"/*.log

nsearch=$(pq "$P1" app -c "SELECT count(*) FROM search_items")
say "figures: $nrows rows ($rotated rotated) and $nsearch rows with search columns replicated to 1 standby and 2 subscriptions; ${#search_preds[@]} searches on each"
rel_finish
