#!/usr/bin/env bash
# Dumps and restores of encrypted_text columns.
#
# A source database holds encrypted_text values (short, empty, multibyte,
# toasted, NULL, context-bound, under a previous key) and DDL that caches
# encrypted constants (a column DEFAULT, a view, a CHECK, a BEGIN ATOMIC
# SQL function).  It is dumped in plain, column-inserts, custom and
# directory formats (the last two also uncompressed).  Checks:
#   - no dump holds a plaintext or a key, not even an 8-character slice
#     of one (a plain text column is the positive control that the
#     search finds what is there);
#   - with PGOPTIONS='-c encrypted_column.accept_ciphertext=on' each dump
#     restores into a fresh database, without a key, to byte-identical
#     ciphertexts that decrypt to the originals, and the cached constants
#     still work;
#   - without the switch every restore fails loudly with the hint and no
#     row is stored, with or without a key in the session (never a silent
#     second encryption);
#   - the switch is a privilege: a non-superuser restore role granted
#     SET ON PARAMETER restores the data; an ordinary role given the same
#     PGOPTIONS stores nothing;
#   - a SQL function with a string body keeps its text verbatim (the
#     documented exception);
#   - encrypted_text_det values (unique, context-bound, half under a
#     previous key) restore byte for byte with their unique index, and a
#     lookup by plaintext finds rows under either key through the index;
#   - search columns (encrypted_text(trigram) and (trigram, 16), half under
#     a previous key, with GIN indexes; encrypted_date, _numeric, _bigint
#     and _timestamptz (range, width) with range_ops indexes) and typed
#     columns without terms (encrypted_jsonb, encrypted_bytea) restore
#     byte for byte in a session without any key, every index is built
#     and valid, and then, with the key, LIKE and ILIKE patterns,
#     comparisons and BETWEEN return exactly the rows of the same
#     predicate on decrypt(col), ORDER BY ... LIMIT returns the decrypted
#     order, and the plans use the indexes.
REL_NAME=dump-restore
source "$(dirname "$0")/lib.sh"
rel_init

ROWS=${EC_DUMP_ROWS:-5000}
PORT=$(cluster_up src 55400 </dev/null) || exit 1
say "cluster on port $PORT, $ROWS rows"

KEYOPTS="-c encrypted_column.key=$KEY1 -c encrypted_column.previous_keys=$KEY2"
SWITCH="-c encrypted_column.accept_ciphertext=on"

# The expected plaintexts, computed in the query, never stored as DDL.
EXPECTED="SELECT i AS id,
	CASE WHEN i % 17 = 0 THEN NULL
	     WHEN i % 50 = 0 THEN ''
	     WHEN i % 97 = 0 THEN 'DUMPSECRET-' || i || '-' || repeat(md5(i::text), 200)
	     WHEN i % 13 = 0 THEN 'DUMPSECRET-' || i || '-grüße-日本-' || md5(i::text)
	     ELSE 'DUMPSECRET-' || i || '-' || md5(i::text) END AS p,
	'DUMPSECRET-ctx-' || i AS p_ctx,
	'DUMPSECRET-old-' || i AS p_old
FROM generate_series(1, $ROWS) i"

# A fingerprint of everything decrypt() returns in a database.
FINGERPRINT="SELECT md5(string_agg(concat_ws('|', id, coalesce(decrypt(c), '<null>'),
	decrypt(c_ctx, id::text), decrypt(c_old), note), E'\n' ORDER BY id)) FROM secrets"
# The same, computed from the expected plaintexts.
EXPECTED_FINGERPRINT="SELECT md5(string_agg(concat_ws('|', id, coalesce(p, '<null>'),
	p_ctx, p_old, 'CONTROLNOTE-' || id), E'\n' ORDER BY id)) FROM ($EXPECTED) e"
# A fingerprint of the stored ciphertexts.
CIPHERPRINT="SELECT md5(string_agg(concat_ws('|', id, c::text, c_ctx::text, c_old::text),
	E'\n' ORDER BY id)) FROM secrets"
# The deterministic table: its ciphertexts, and lookups by plaintext.
DET_CIPHERPRINT="SELECT md5(string_agg(concat_ws('|', id, email::text, email_ctx::text),
	E'\n' ORDER BY id)) FROM det_users"
DET_LOOKUP="SET enable_seqscan = off;
SELECT concat_ws('|',
	(SELECT id FROM det_users WHERE email = 'DUMPSECRET-det-7@example.com'::text),
	(SELECT id FROM det_users WHERE email = 'DUMPSECRET-det-8@example.com'::text),
	(SELECT id FROM det_users WHERE email_ctx = ANY (encrypt_det_all('DUMPSECRET-det-9', 'det_users.email_ctx'))),
	(SELECT count(*) FROM pg_indexes WHERE tablename = 'det_users'));"
DET_WANT="7|8|9|2"
# Decrypts the constants cached in DDL, and inserts with the DEFAULT.
DDL_CHECK="INSERT INTO with_default(id) VALUES (1);
SELECT concat_ws('|', (SELECT decrypt(c) FROM with_default WHERE id = 1),
	(SELECT decrypt(c) FROM v_const), decrypt(f_atomic()),
	(SELECT count(*) FROM v_secrets));"
DDL_WANT="DDLSECRET-default|DDLSECRET-view|DDLSECRET-atomic|$ROWS"

pq "$PORT" postgres -c "CREATE DATABASE src" || exit 1
PGOPTIONS="$KEYOPTS" pq "$PORT" src <<SQL || exit 1
CREATE EXTENSION encrypted_column;
CREATE TABLE secrets (
	id int PRIMARY KEY,
	note text NOT NULL,
	c encrypted_text,
	c_ctx encrypted_text NOT NULL,
	c_old encrypted_text NOT NULL
);
-- rows under a previous key first
SET encrypted_column.key = '$KEY2';
INSERT INTO secrets (id, note, c, c_ctx, c_old)
SELECT id, 'CONTROLNOTE-' || id, p, encrypt(p_ctx, id::text), p_old FROM ($EXPECTED) e;
RESET encrypted_column.key;
UPDATE secrets SET c = reencrypt(c), c_ctx = reencrypt(c_ctx, id::text);

-- DDL that caches encrypted constants
CREATE TABLE with_default (id int, c encrypted_text DEFAULT 'DDLSECRET-default');
CREATE VIEW v_const AS SELECT 'DDLSECRET-view'::encrypted_text AS c;
ALTER TABLE secrets ADD CONSTRAINT c_old_present
	CHECK (coalesce(c_old, 'DDLSECRET-check') IS NOT NULL);
CREATE FUNCTION f_atomic() RETURNS encrypted_text LANGUAGE sql
BEGIN ATOMIC SELECT 'DDLSECRET-atomic'::encrypted_text; END;
CREATE VIEW v_secrets AS SELECT id, c FROM secrets WHERE c_old IS NOT NULL;

-- deterministic values, half of them still under the previous key
CREATE TABLE det_users (
	id int PRIMARY KEY,
	email encrypted_text_det NOT NULL UNIQUE,
	email_ctx encrypted_text_det NOT NULL
);
SET encrypted_column.key = '$KEY2';
INSERT INTO det_users SELECT i, 'DUMPSECRET-det-' || i || '@example.com',
	encrypt_det('DUMPSECRET-det-' || i, 'det_users.email_ctx') FROM generate_series(1, $ROWS) i;
RESET encrypted_column.key;
UPDATE det_users SET email = reencrypt(email),
	email_ctx = reencrypt(email_ctx, 'det_users.email_ctx') WHERE id % 2 = 0;
SQL
say "source database loaded"

# ---- search columns and typed values ----
# Names and e-mail addresses with trigram tags (half under the previous
# key), four range columns (all under the current key, so that ORDER BY
# ... LIMIT walks the index) and two typed columns without terms; the
# plaintexts of the text, jsonb and bytea columns carry the marker that
# the dump search looks for.
PGOPTIONS="$KEYOPTS" pq "$PORT" src <<SQL || exit 1
CREATE TABLE search_people (
	id int PRIMARY KEY,
	name encrypted_text(trigram),
	email encrypted_text(trigram, 16)
);
SET encrypted_column.key = '$KEY2';
INSERT INTO search_people
SELECT i, CASE WHEN i % 29 = 0 THEN NULL
	WHEN i % 31 = 0 THEN ''
	WHEN i % 11 = 0 THEN 'DUMPSECRET-name-' || i || '-Grüße-日本'
	ELSE 'DUMPSECRET-name-' || i || '-' || left(md5(i::text), 6) END,
	'DUMPSECRET-mail-' || i || '@Example.com'
FROM generate_series(1, $ROWS) i;
RESET encrypted_column.key;
UPDATE search_people SET name = reencrypt(name), email = reencrypt(email) WHERE id % 2 = 0;
CREATE INDEX sp_name_trgm ON search_people USING gin (name);
CREATE INDEX sp_email_trgm ON search_people USING gin (email);

CREATE TABLE search_events (
	id int PRIMARY KEY,
	day encrypted_date(range, 7),
	amount encrypted_numeric(range, 0.5),
	n encrypted_bigint(range, 100),
	at encrypted_timestamptz(range, 3600),
	doc encrypted_jsonb,
	blob encrypted_bytea
);
INSERT INTO search_events
SELECT i, CASE WHEN i % 23 = 0 THEN NULL ELSE date '2020-01-01' + (i * 37) % 1500 END,
	((i * 7919) % 100000) / 100.0, (i * 104729) % 20011 - 10000,
	timestamptz '2020-01-01 00:00+00' + (i * 3803 % 100000) * interval '17 minutes',
	jsonb_build_object('secret', 'DUMPSECRET-json-' || i, 'i', i),
	convert_to('DUMPSECRET-bytes-' || i, 'UTF8')
FROM generate_series(1, $ROWS) i;
INSERT INTO search_events VALUES ($ROWS + 1, 'infinity', 'NaN', 9223372036854775807, 'infinity', 'null', ''),
	($ROWS + 2, '-infinity', -1e30, -9223372036854775808, '-infinity', '[]', '\\x00');
CREATE INDEX se_day_range ON search_events (day encrypted_date_range_ops);
CREATE INDEX se_amount_range ON search_events (amount encrypted_numeric_range_ops);
CREATE INDEX se_n_range ON search_events (n encrypted_bigint_range_ops);
CREATE INDEX se_at_range ON search_events (at encrypted_timestamptz_range_ops);
ANALYZE search_people, search_events;
SQL
say "search columns loaded"

# The ciphertexts (their terms inside) of the search tables.
SEARCH_CIPHERPRINT="SELECT md5(string_agg(concat_ws('|', id, name::text, email::text), E'\n' ORDER BY id))
	|| '/' || (SELECT md5(string_agg(concat_ws('|', id, day::text, amount::text, n::text, at::text,
	doc::text, blob::text), E'\n' ORDER BY id)) FROM search_events) FROM search_people"
# The typed values decrypted, against what was written.
TYPED_PRINT="SELECT md5(string_agg(concat_ws('|', id, decrypt(day), decrypt(amount), decrypt(n),
	decrypt(at), decrypt(doc), encode(decrypt(blob), 'hex')), E'\n' ORDER BY id)) FROM search_events"
# The search indexes there and valid (6 expected).
SEARCH_INDEXES="SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	WHERE c.relname IN ('sp_name_trgm', 'sp_email_trgm', 'se_day_range', 'se_amount_range',
		'se_n_range', 'se_at_range') AND i.indisvalid AND i.indisready"
# Each search through the index against the same predicate on the
# decrypted values (decrypt() of every row, once, into temporary tables):
# "rows that differ|searches that found rows|searches".  Patterns and
# bounds are literals, as an application would send them.
search_pairs=()
for pat in 'DUMPSECRET-name-1%' 'DUMPSECRET-name-1__-%' '%-name-42-%' '%Grüße%' '%日本' \
	'%-name-4999-%' '' '%' '_' 'DUMPSECRET-name-7-%' '%zzzz%' '%name-1%-%' '%\_%' '%Ü%'; do
	for op in LIKE ILIKE; do
		search_pairs+=("name $op '$pat'")
	done
	search_pairs+=("name NOT LIKE '$pat'")
done
for pat in '%-mail-12@%' 'DUMPSECRET-MAIL-12@%' '%@example.com' '%@Example.com' 'DUMPSECRET-mail-4%'; do
	for op in LIKE ILIKE; do
		search_pairs+=("email $op '$pat'")
	done
done
for pred in "day BETWEEN date '2021-01-01' AND date '2021-01-31'" "day < date '2020-01-20'" \
	"day >= date '2023-12-01'" "day = date '2021-06-15'" "date '2022-03-01' > day" \
	"day BETWEEN '2020-06-01' AND '2020-06-30'" "day > date '-infinity'" \
	"amount BETWEEN 10 AND 10.5" "amount > 995" "amount <= 0.5" "amount = 42.42" \
	"n BETWEEN -10000 AND -9950" "n = 0" "n > 9990" "n < -9223372036854775807" \
	"at BETWEEN timestamptz '2020-02-01 00:00+00' AND timestamptz '2020-02-02 00:00+00'" \
	"at < timestamptz '2020-01-02 00:00+00'" "at >= timestamptz '2021-12-01 00:00+00'"; do
	search_pairs+=("$pred")
done
SEARCH_CHECK="SET enable_seqscan = off; SET jit = off;
CREATE TEMP TABLE ref_people AS SELECT id, decrypt(name) AS name, decrypt(email) AS email FROM search_people;
CREATE TEMP TABLE ref_events AS SELECT id, decrypt(day) AS day, decrypt(amount) AS amount,
	decrypt(n) AS n, decrypt(at) AS at FROM search_events;
SELECT concat_ws('|', count(*) FILTER (WHERE a IS DISTINCT FROM b),
	count(*) FILTER (WHERE cardinality(b) > 0), count(*)) FROM ("
first=1
for pred in "${search_pairs[@]}"; do
	table=search_events ref=ref_events
	[[ $pred == name* || $pred == email* ]] && table=search_people ref=ref_people
	((first)) || SEARCH_CHECK+=" UNION ALL"
	first=0
	SEARCH_CHECK+="
	SELECT (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM $table WHERE $pred) AS a,
		(SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM $ref WHERE $pred) AS b"
done
SEARCH_CHECK+=") s;"
NSEARCHES=${#search_pairs[@]}
# The plans: each kind of search through its index.
SEARCH_PLANS="SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM search_people WHERE name LIKE 'DUMPSECRET-name-1%';
EXPLAIN (COSTS OFF) SELECT id FROM search_people WHERE email ILIKE '%-MAIL-12@%';
EXPLAIN (COSTS OFF) SELECT id FROM search_events WHERE day BETWEEN date '2021-01-01' AND date '2021-01-31';
EXPLAIN (COSTS OFF) SELECT id FROM search_events WHERE amount > 995;
EXPLAIN (COSTS OFF) SELECT id FROM search_events WHERE n = 0;
EXPLAIN (COSTS OFF) SELECT id FROM search_events WHERE at < timestamptz '2020-01-02 00:00+00';
EXPLAIN (COSTS OFF) SELECT id FROM search_events ORDER BY day LIMIT 10;"
plans_use_indexes() {
	local plans=$1 idx
	for idx in sp_name_trgm sp_email_trgm se_day_range se_amount_range se_n_range se_at_range; do
		grep -q -E "Index Scan (using|on) $idx( |$)" <<<"$plans" || return 1
	done
	# ORDER BY day LIMIT: the index in order under one key
	grep -q -E "Index Scan using se_day_range on search_events" <<<"$(sed -n '/Limit/,$p' <<<"$plans")"
}
# ORDER BY col [DESC] LIMIT n, in a session with one key: the decrypted
# values in the order given, against ORDER BY decrypt(col).  Prints the
# number of (column, direction) pairs whose orders differ.
ORDER_CHECK="SET enable_seqscan = off; SET jit = off;
SELECT count(*) FROM (VALUES"
first=1
for col in day amount n at; do
	for dir in ASC DESC 'ASC NULLS FIRST' 'DESC NULLS LAST'; do
		((first)) || ORDER_CHECK+=","
		first=0
		ORDER_CHECK+="
	((SELECT string_agg(coalesce(decrypt($col)::text, 'null'), ',' ORDER BY o) FROM
		(SELECT $col, row_number() OVER () o FROM (SELECT $col FROM search_events ORDER BY $col $dir LIMIT 30) s) s),
	 (SELECT string_agg(coalesce(decrypt($col)::text, 'null'), ',' ORDER BY o) FROM
		(SELECT $col, row_number() OVER () o FROM (SELECT $col FROM search_events ORDER BY decrypt($col) $dir LIMIT 30) s) s))"
	done
done
ORDER_CHECK+=") v(a, b) WHERE a IS DISTINCT FROM b;"
KEYONE="-c encrypted_column.key=$KEY1"

src_search_cp=$(pq "$PORT" src -c "$SEARCH_CIPHERPRINT")
src_typed=$(PGOPTIONS="$KEYOPTS" pq "$PORT" src -c "$TYPED_PRINT")
exp_typed=$(pq "$PORT" src -c "SELECT md5(string_agg(concat_ws('|', id,
	CASE WHEN i % 23 = 0 THEN NULL ELSE date '2020-01-01' + (i * 37) % 1500 END,
	((i * 7919) % 100000) / 100.0, (i * 104729) % 20011 - 10000,
	timestamptz '2020-01-01 00:00+00' + (i * 3803 % 100000) * interval '17 minutes',
	jsonb_build_object('secret', 'DUMPSECRET-json-' || i, 'i', i),
	encode(convert_to('DUMPSECRET-bytes-' || i, 'UTF8'), 'hex')), E'\n' ORDER BY id))
	FROM (SELECT i, i AS id FROM generate_series(1, $ROWS) i) g")
check_eq "source: typed values decrypt to what was written" "$exp_typed" \
	"$(PGOPTIONS="$KEYOPTS" pq "$PORT" src -c "$TYPED_PRINT WHERE id <= $ROWS")"
src_search=$(PGOPTIONS="$KEYOPTS" pq "$PORT" src -c "$SEARCH_CHECK" | tail -n 1)
check "source: $NSEARCHES searches through the indexes find the decrypting reference's rows ($src_search)" \
	[ "${src_search%%|*}" = 0 ]
check "source: most searches find rows" [ "$(cut -d'|' -f2 <<<"$src_search")" -ge $((NSEARCHES / 2)) ]
check "source: the searches use the indexes" plans_use_indexes \
	"$(PGOPTIONS="$KEYONE" pq "$PORT" src -c "$SEARCH_PLANS")"
check_eq "source: ORDER BY ... LIMIT gives the decrypted order" 0 \
	"$(PGOPTIONS="$KEYONE" pq "$PORT" src -c "$ORDER_CHECK" | tail -n 1)"

src_fp=$(PGOPTIONS="$KEYOPTS" pq "$PORT" src -c "$FINGERPRINT")
exp_fp=$(pq "$PORT" src -c "$EXPECTED_FINGERPRINT")
src_cp=$(pq "$PORT" src -c "$CIPHERPRINT")
check_eq "source rows decrypt to the plaintexts written" "$exp_fp" "$src_fp"
check_eq "source: old-key rows are under the previous key" "0" \
	"$(pq "$PORT" src -c "SELECT count(*) FROM secrets WHERE key_id(c_old) = key_id(c)")"
src_det=$(pq "$PORT" src -c "$DET_CIPHERPRINT")
check_eq "source: deterministic lookups under both keys" "$DET_WANT" \
	"$(PGOPTIONS="$KEYOPTS" pq "$PORT" src -c "$DET_LOOKUP" | tail -n 1)"

# ---- dumps: taken without any key in the session ----
D=$REL_TMP/dumps
mkdir -p "$D" && chmod 0777 "$D"
dump() { "$PG_BINDIR/pg_dump" -h "$REL_TMP" -p "$PORT" -U postgres "$@"; }
dump -Fp -f "$D/plain.sql" src &&
	dump -Fp --column-inserts -f "$D/inserts.sql" src &&
	dump -Fc -f "$D/custom.dump" src &&
	dump -Fc -Z0 -f "$D/custom-z0.dump" src &&
	dump -Fd -j 2 -f "$D/dir" src &&
	dump -Fd -Z0 -f "$D/dir-z0" src || {
	echo "pg_dump failed"
	exit 1
}
"$PG_BINDIR/pg_restore" -f "$D/custom-as-sql.sql" "$D/custom.dump" || exit 1
"$PG_BINDIR/pg_restore" -f "$D/dir-as-sql.sql" "$D/dir" || exit 1
say "dumps taken: plain, column-inserts, custom, custom -Z0, directory, directory -Z0"

# Each dump must hold the plain text control column and ciphertexts, and
# no plaintext and no 8-character slice of a key.  Compressed dumps are
# searched as pg_restore prints them, and the directory format also as
# -Z0 files (dir-z0), whose table data a search can read.
for f in plain.sql inserts.sql custom-as-sql.sql custom-z0.dump dir-as-sql.sql dir-z0; do
	check "$f: holds the plain text control column" tree_has "$D/$f" CONTROLNOTE-1
	check "$f: holds ciphertext text forms" tree_has "$D/$f" "ecv1:"
	for needle in DUMPSECRET DDLSECRET-default DDLSECRET-view DDLSECRET-check DDLSECRET-atomic; do
		check "$f: no '$needle'" not tree_has "$D/$f" "$needle"
	done
	check "$f: no key (no 8-character slice of key 1 or 2)" \
		not grep -r -a -q -i -E "$(key_slices_re "$KEY1" "$KEY2")" "$D/$f"
done

# ---- restores with the switch, without a key ----
restored=0
restore_ok() {
	local db=$1
	shift
	pq "$PORT" postgres -c "CREATE DATABASE $db" || return 1
	PGOPTIONS="$SWITCH" "$@" >"$REL_TMP/$db.out" 2>&1 || {
		tail -n 20 "$REL_TMP/$db.out"
		return 1
	}
}
verify_restored() {
	local db=$1
	check "$db: restored without errors" [ "$(grep -c 'ERROR' "$REL_TMP/$db.out")" = 0 ]
	check_eq "$db: ciphertexts identical to the source" "$src_cp" \
		"$(pq "$PORT" "$db" -c "$CIPHERPRINT")"
	check_eq "$db: rows decrypt to the originals" "$exp_fp" \
		"$(PGOPTIONS="$KEYOPTS" pq "$PORT" "$db" -c "$FINGERPRINT")"
	check_eq "$db: cached DDL constants decrypt" "$DDL_WANT" \
		"$(PGOPTIONS="$KEYOPTS" pq "$PORT" "$db" -c "$DDL_CHECK")"
	check_eq "$db: deterministic ciphertexts identical to the source" "$src_det" \
		"$(pq "$PORT" "$db" -c "$DET_CIPHERPRINT")"
	check_eq "$db: deterministic lookups and unique index after restore" "$DET_WANT" \
		"$(PGOPTIONS="$KEYOPTS" pq "$PORT" "$db" -c "$DET_LOOKUP" | tail -n 1)"
	check_eq "$db: search and typed ciphertexts (and their terms) identical to the source" \
		"$src_search_cp" "$(pq "$PORT" "$db" -c "$SEARCH_CIPHERPRINT")"
	check_eq "$db: the six search indexes built without a key, valid" 6 \
		"$(pq "$PORT" "$db" -c "$SEARCH_INDEXES")"
	check_eq "$db: typed values decrypt to the originals" "$src_typed" \
		"$(PGOPTIONS="$KEYOPTS" pq "$PORT" "$db" -c "$TYPED_PRINT")"
	pq "$PORT" "$db" -c "ANALYZE search_people, search_events" || return 1
	check_eq "$db: $NSEARCHES LIKE, ILIKE, comparison and BETWEEN searches give the decrypting reference's rows" \
		"$src_search" "$(PGOPTIONS="$KEYOPTS" pq "$PORT" "$db" -c "$SEARCH_CHECK" | tail -n 1)"
	check "$db: the searches and ORDER BY ... LIMIT use the indexes" plans_use_indexes \
		"$(PGOPTIONS="$KEYONE" pq "$PORT" "$db" -c "$SEARCH_PLANS")"
	check_eq "$db: ORDER BY ... LIMIT gives the decrypted order" 0 \
		"$(PGOPTIONS="$KEYONE" pq "$PORT" "$db" -c "$ORDER_CHECK" | tail -n 1)"
	restored=$((restored + $(pq "$PORT" "$db" -c "SELECT count(*) FROM secrets")))
}
PSQL_RESTORE=("$PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 -h "$REL_TMP" -p "$PORT" -U postgres)
PGR=("$PG_BINDIR/pg_restore" -h "$REL_TMP" -p "$PORT" -U postgres --exit-on-error)

restore_ok r_plain "${PSQL_RESTORE[@]}" -d r_plain -f "$D/plain.sql" &&
	verify_restored r_plain
restore_ok r_inserts "${PSQL_RESTORE[@]}" -d r_inserts -f "$D/inserts.sql" &&
	verify_restored r_inserts
restore_ok r_custom "${PGR[@]}" -j 2 -d r_custom "$D/custom.dump" &&
	verify_restored r_custom
restore_ok r_dir "${PGR[@]}" -d r_dir "$D/dir" &&
	verify_restored r_dir
say "restored $restored rows with the switch"

# ---- the switch is a privilege: a granted restore role, and one without ----
pq "$PORT" postgres <<SQL || exit 1
CREATE ROLE ec_restorer LOGIN;
CREATE ROLE ec_nogrant LOGIN;
GRANT SET ON PARAMETER encrypted_column.accept_ciphertext TO ec_restorer;
CREATE DATABASE r_role;
SQL
# the schema (and the extension) by a superuser, the data by the role
PGOPTIONS="$SWITCH" "${PGR[@]}" --schema-only -d r_role "$D/custom.dump" >"$REL_TMP/r_role_schema.out" 2>&1 ||
	cat "$REL_TMP/r_role_schema.out"
pq "$PORT" r_role -c "GRANT INSERT, SELECT ON ALL TABLES IN SCHEMA public TO ec_restorer, ec_nogrant" || exit 1
PGOPTIONS="$SWITCH" "$PG_BINDIR/pg_restore" -h "$REL_TMP" -p "$PORT" -U ec_nogrant --exit-on-error \
	--data-only -t secrets -d r_role "$D/custom.dump" >"$REL_TMP/r_role_nogrant.out" 2>&1
check "role without the grant: data restore fails" [ $? != 0 ]
check_eq "role without the grant: no row stored" "0" "$(pq "$PORT" r_role -c "SELECT count(*) FROM secrets")"
PGOPTIONS="$SWITCH" "$PG_BINDIR/pg_restore" -h "$REL_TMP" -p "$PORT" -U ec_restorer --exit-on-error \
	--data-only -t secrets -d r_role "$D/custom.dump" >"$REL_TMP/r_role.out" 2>&1
check "granted restore role: data restore succeeds" [ $? = 0 ]
check_eq "granted restore role: ciphertexts identical to the source" "$src_cp" \
	"$(pq "$PORT" r_role -c "$CIPHERPRINT")"

# ---- restores without the switch: must fail loudly, store nothing ----
fails_loudly() {
	local db=$1 opts=$2 status
	shift 2
	pq "$PORT" postgres -c "CREATE DATABASE $db" || return 1
	PGOPTIONS="$opts" "$@" >"$REL_TMP/$db.out" 2>&1
	status=$?
	check "$db: exits non-zero" [ "$status" != 0 ]
	check "$db: says the input looks like ciphertext" \
		grep -q "input looks like an encrypted_text ciphertext" "$REL_TMP/$db.out"
	check "$db: gives the accept_ciphertext hint" \
		grep -q "set encrypted_column.accept_ciphertext = on" "$REL_TMP/$db.out"
	check_eq "$db: no row stored" "0" "$(secret_rows "$db")"
}
# Rows in secrets and the search tables, 0 for a table not created.
secret_rows() {
	local t n=0
	for t in secrets search_people search_events; do
		if [[ $(pq "$PORT" "$1" -c "SELECT to_regclass('$t') IS NOT NULL") == t ]]; then
			n=$((n + $(pq "$PORT" "$1" -c "SELECT count(*) FROM $t")))
		fi
	done
	echo "$n"
}
fails_loudly n_plain "" "${PSQL_RESTORE[@]}" -d n_plain -f "$D/plain.sql"
fails_loudly n_plain_key "$KEYOPTS" "${PSQL_RESTORE[@]}" -d n_plain_key -f "$D/plain.sql"
fails_loudly n_custom "$KEYOPTS" "${PGR[@]}" -d n_custom "$D/custom.dump"
# psql without ON_ERROR_STOP carries on past errors: still nothing stored
pq "$PORT" postgres -c "CREATE DATABASE n_lenient" || exit 1
PGOPTIONS="$KEYOPTS" "$PG_BINDIR/psql" -X -h "$REL_TMP" -p "$PORT" -U postgres \
	-d n_lenient -f "$D/plain.sql" >"$REL_TMP/n_lenient.out" 2>&1
check "lenient psql restore prints the error" \
	grep -q "input looks like an encrypted_text ciphertext" "$REL_TMP/n_lenient.out"
check_eq "lenient psql restore: no row stored, none encrypted twice" "0" \
	"$(secret_rows n_lenient)"
# pg_restore without --exit-on-error: reports the errors and exits non-zero
pq "$PORT" postgres -c "CREATE DATABASE n_lenient2" || exit 1
PGOPTIONS="$KEYOPTS" "$PG_BINDIR/pg_restore" -h "$REL_TMP" -p "$PORT" -U postgres \
	-d n_lenient2 "$D/custom.dump" >"$REL_TMP/n_lenient2.out" 2>&1
check "lenient pg_restore exits non-zero" [ $? != 0 ]
check "lenient pg_restore counts the ignored errors" \
	grep -q "errors ignored on restore" "$REL_TMP/n_lenient2.out"
check_eq "lenient pg_restore: no row stored" "0" \
	"$(secret_rows n_lenient2)"
# the usual slip: schema restored with the switch, data without it
pq "$PORT" postgres -c "CREATE DATABASE n_data" || exit 1
PGOPTIONS="$SWITCH" "${PGR[@]}" --schema-only -d n_data "$D/custom.dump" >"$REL_TMP/n_schema.out" 2>&1
check "schema-only restore with the switch succeeds" [ $? = 0 ]
fails_loudly_data() {
	PGOPTIONS="$KEYOPTS" "${PGR[@]}" --data-only -d n_data "$D/custom.dump" >"$REL_TMP/n_data.out" 2>&1
	check "data-only restore without the switch exits non-zero" [ $? != 0 ]
	check "data-only restore names the ciphertext and the hint" \
		grep -q "set encrypted_column.accept_ciphertext = on" "$REL_TMP/n_data.out"
	check_eq "data-only restore without the switch: tables empty" "0" \
		"$(secret_rows n_data)"
}
fails_loudly_data
check "no restore output holds a plaintext or a key" \
	not grep -a -q -i -E -e "DUMPSECRET|DDLSECRET|$(key_slices_re "$KEY1" "$KEY2")" "$REL_TMP"/*.out

# ---- the documented exception: string-bodied SQL functions ----
pq "$PORT" postgres -c "CREATE DATABASE ddl_string" || exit 1
PGOPTIONS="$KEYOPTS" pq "$PORT" ddl_string <<'SQL' || exit 1
CREATE EXTENSION encrypted_column;
CREATE FUNCTION f_string() RETURNS encrypted_text LANGUAGE sql
AS $$ SELECT 'DDLSTRING-body'::encrypted_text $$;
CREATE TABLE d (c encrypted_text DEFAULT encrypt('DDLSTRING-call'));
SQL
dump -Fp -f "$D/ddl_string.sql" ddl_string || exit 1
check "string function body is kept verbatim (documented)" \
	tree_has "$D/ddl_string.sql" DDLSTRING-body
check "encrypt() call in a DEFAULT is kept verbatim (documented)" \
	tree_has "$D/ddl_string.sql" DDLSTRING-call

say "figures: $ROWS rows x 3 encrypted columns per database, $ROWS with 2 trigram columns, $((ROWS + 2)) with 4 range and 2 typed columns, 6 dumps searched, $restored rows restored, $NSEARCHES index searches per restore"
rel_finish
