#!/usr/bin/env bash
# Search beyond equality (0.5.0) against plain columns, in one run.
#
#   bash bench/search.sh [--rows N] [--reps N] [--slow-reps N]
#                        [--insert-rows N] [--out FILE] [--quick] [--build]
#
# Needs the extension built and installed for the pg_config on PATH (or
# PG_CONFIG), pg_trgm (postgresql-contrib) and postgresql-common's
# pg_virtualenv.  With --build it measures this tree instead: it builds
# the extension here and installs it into a temporary directory that
# only the benchmark's cluster reads (Debian's extension_destdir), so
# nothing is installed on the machine.  Starts one throwaway cluster
# (pg_virtualenv, on a port found free by scripts/free-port; the library
# preloaded, shared buffers holding every table, no autovacuum, JIT or
# parallel workers) and builds --rows people (default 1,000,000): a name
# made of a first and a last
# name drawn with a skew from 210 and 300 common ones (a few of them not
# ASCII), a date of birth over 80 years and an amount from 1 to 100,000
# (log-uniform).  The plain table and every encrypted table hold the same
# plaintexts, checked by decrypting.
#
#   plain      name text: a btree (text_pattern_ops) and a pg_trgm GIN index;
#              dob date and amount numeric: btrees; for LIKE's baseline, a
#              copy with the btree alone
#   encrypted  name encrypted_text(trigram) (12 bits): GIN;
#              dob encrypted_date(range, 7), amount encrypted_numeric(range, 100):
#              range_ops btrees
#   sweeps     the name with 8, 12 and 16 tag bits and without terms, the
#              date with buckets of 1, 7 and 30 days and without terms,
#              each in a table of its own (each table's INSERT timed)
#   rotation   the encrypted table with half of its rows re-encrypted
#              under a new key (UPDATE ... reencrypt(), VACUUM), searched
#              by a connection that holds both keys
#
# Then it times, server side (a PL/pgSQL loop around EXECUTE, so planning
# is included and no rows cross the wire), LIKE 'Gre%', ILIKE '%ner%', a
# one-month BETWEEN on dates and ORDER BY ... LIMIT 10 on each variant and
# the plain table, interleaved in an order that rotates between
# repetitions, medians of --reps (default 9) repetitions, each the fastest
# of 10 executions (slow queries: --slow-reps, default 3, one execution),
# so that other work on a shared machine weighs less.
# Every query's result is compared with the plain query's (the sorted ids,
# or the ids in order for ORDER BY); any difference, or a plan that does
# not use the index it should, stops the run.  EXPLAIN (ANALYZE, BUFFERS)
# gives the rows each scan read and the rows its recheck dropped (the
# false positives of the index), for those queries and over 20 prefixes,
# 20 infixes and 12 months.  It also times INSERT of --insert-rows values
# (default 100,000) into one-column tables with and without search terms
# against plain columns (--reps repetitions, each after a CHECKPOINT; the
# fastest, and the median), and reports the sizes of every index.
#
# Writes a Markdown report with the plans to --out (default
# bench/results/search.md; --quick: 100,000 rows, 3 repetitions, a
# temporary file).  A full run takes about 8 minutes on 2 cores, half of
# it building the tables.  It is a benchmark, not a test: CI does not run
# it.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

if [[ ${1:-} != --inside ]]; then
	rows=1000000 reps=9 slow_reps=3 insert_rows=100000 out=bench/results/search.md build=0
	while (($#)); do
		case $1 in
		--build) build=1; shift ;;
		--rows) rows=$2; shift 2 ;;
		--reps) reps=$2; shift 2 ;;
		--slow-reps) slow_reps=$2; shift 2 ;;
		--insert-rows) insert_rows=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		--quick) rows=100000 reps=3 slow_reps=2 insert_rows=20000
			out=${TMPDIR:-/tmp}/ec-search-quick.md; shift ;;
		*) echo "usage: $0 [--rows N] [--reps N] [--slow-reps N] [--insert-rows N] [--out FILE] [--quick] [--build]" >&2
			exit 2 ;;
		esac
	done
	sharedir=$("$PG_CONFIG" --sharedir)
	for f in encrypted_column pg_trgm; do
		[[ -f $sharedir/extension/$f.control ]] ||
			{ echo "$f is not installed for $PG_CONFIG" >&2; exit 1; }
	done
	command -v pg_virtualenv >/dev/null ||
		{ echo "pg_virtualenv (postgresql-common) is needed" >&2; exit 1; }
	mkdir -p "$(dirname "$out")"
	out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
	# the machine, as docs/performance.md describes it
	cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)
	flags=$(grep -m 1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
		grep -x -E 'aes|pclmulqdq|avx2|vaes|vpclmulqdq|avx512f' | paste -sd ' ')
	mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
	machine="$cpu ($(nproc) cores, $flags), $mem, Debian $(cat /etc/debian_version), Linux $(uname -r); $(openssl version | cut -d' ' -f1-2)"
	libdir=$("$PG_CONFIG" --pkglibdir)
	stage_opts=()
	export BENCH_LIBRARY="the installed library"
	if ((build)); then
		stage=$(mktemp -d "${TMPDIR:-/tmp}/ec-search-build.XXXXXX")
		trap 'rm -rf "$stage"' EXIT
		chmod 0755 "$stage"
		make -s PG_CONFIG="$PG_CONFIG" >/dev/null
		make -s install DESTDIR="$stage" PG_CONFIG="$PG_CONFIG" >/dev/null
		stage_opts=(-o "extension_destdir=$stage"
			-o "dynamic_library_path=$stage$libdir:$libdir")
		libdir=$stage$libdir
		tree=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
		git diff --quiet HEAD -- src extension Makefile 2>/dev/null || tree="$tree with local changes"
		BENCH_LIBRARY="built from this tree ($tree) by --build"
		export BENCH_STAGE=$stage
	fi
	# the library this run loads (others may install a new one meanwhile)
	build_id=$(readelf -n "$libdir/encrypted_column.so" 2>/dev/null | sed -n 's/.*Build ID: //p')
	export BENCH_LIBRARY="$BENCH_LIBRARY, build id ${build_id:-unknown}"
	export BENCH_ROWS=$rows BENCH_REPS=$reps BENCH_SLOW_REPS=$slow_reps \
		BENCH_INSERT_ROWS=$insert_rows BENCH_OUT=$out BENCH_MACHINE=$machine
	# the cluster: on a port found free (pg_virtualenv's own choice can be
	# the port of a server that listens on localhost only)
	PGPORT=$(scripts/free-port) pg_virtualenv -t -v "$PG_MAJOR" "${stage_opts[@]}" \
		-o shared_preload_libraries=encrypted_column \
		-o shared_buffers=2GB \
		-o maintenance_work_mem=256MB \
		-o max_wal_size=16GB \
		-o checkpoint_timeout=1h \
		-o autovacuum=off \
		-o jit=off \
		-o max_parallel_workers_per_gather=0 \
		-o max_parallel_maintenance_workers=0 \
		bash "$0" --inside
	exit
fi

# ---- inside the cluster: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE set ----
rows=$BENCH_ROWS reps=$BENCH_REPS slow_reps=$BENCH_SLOW_REPS
insert_rows=$BENCH_INSERT_ROWS out=$BENCH_OUT
work=$(mktemp -d "${TMPDIR:-/tmp}/ec-search.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date -u '+%Y-%m-%d %H:%M')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
SECONDS=0
say() { printf '[search %4ds] %s\n' "$SECONDS" "$*" >&2; }

# benchmark keys (throwaway): the current one, and the previous one of the rotation
KEY_OLD=3c5e7f9a1b2d4f6e8a0c2e4f6a8b0d2f4e6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e
KEY_NEW=d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2
ONE_KEY="SET encrypted_column.key = '$KEY_OLD';"
TWO_KEYS="SET encrypted_column.key = '$KEY_NEW'; SET encrypted_column.previous_keys = '$KEY_OLD';"
# the keys of a connection: one key, or the two of the rotation
declare -A KEYS=([one]=$ONE_KEY [two]=$TWO_KEYS)

pq() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# The median of the numbers on standard input.
median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# with --build, the backends must run the staged library, not the installed one
if [[ -n ${BENCH_STAGE:-} ]]; then
	maps=$(pq -c "LOAD 'encrypted_column'" -c "SELECT pg_read_file('/proc/' || pg_backend_pid() || '/maps')" |
		grep 'encrypted_column\.so' | head -n 1)
	[[ $maps == *"$BENCH_STAGE"* ]] ||
		{ echo "the cluster did not load the library built by --build" >&2; exit 1; }
fi

# ---- the data ----
say "building $rows rows"
pq <<'SQL'
CREATE EXTENSION encrypted_column;
CREATE EXTENSION pg_trgm;
-- the benchmark's own functions: the time of the fastest of loops
-- executions of a query (ms, planning included, rows discarded), and
-- what EXPLAIN ANALYZE says of its scans
CREATE FUNCTION bench_ms(q text, loops int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	t float8;
	best float8;
BEGIN
	FOR i IN 1 .. loops LOOP
		t0 := clock_timestamp();
		EXECUTE q;
		t := extract(epoch FROM clock_timestamp() - t0) * 1000;
		best := least(best, t);
	END LOOP;
	RETURN best;
END $$;
-- rows returned, rows the table scans read (returned by the scan, or
-- dropped by its recheck or filter), rows dropped, lossy heap blocks
CREATE FUNCTION bench_scan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	p jsonb;
	scans jsonb;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q INTO p;
	scans := jsonb_path_query_array(p, 'strict $.**? (@."Node Type" like_regex "(Seq|Index|Bitmap Heap) Scan$" && @."Node Type" != "Bitmap Index Scan")');
	RETURN concat_ws(' ', p -> 0 -> 'Plan' ->> 'Actual Rows',
		(SELECT sum((s ->> 'Actual Rows')::bigint + coalesce((s ->> 'Rows Removed by Index Recheck')::bigint, 0)
					+ coalesce((s ->> 'Rows Removed by Filter')::bigint, 0)) FROM jsonb_array_elements(scans) s),
		(SELECT sum(coalesce((s ->> 'Rows Removed by Index Recheck')::bigint, 0)
					+ coalesce((s ->> 'Rows Removed by Filter')::bigint, 0)) FROM jsonb_array_elements(scans) s),
		(SELECT coalesce(sum((s ->> 'Lossy Heap Blocks')::bigint), 0) FROM jsonb_array_elements(scans) s));
END $$;
-- the ids a query returns: sorted, or in the query's order
CREATE FUNCTION bench_digest(q text, ordered boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) || '' '' || md5(coalesce(string_agg(id::text, '','' ORDER BY %s), ''''))
					  FROM (SELECT id, row_number() OVER () AS o FROM (%s) s) s',
				   CASE WHEN ordered THEN 'o' ELSE 'id' END, q) INTO r;
	RETURN r;
END $$;
SQL

pq -v rows="$rows" <<'SQL'
SELECT setseed(0.5);
CREATE TABLE first_names (n int, v text);
INSERT INTO first_names SELECT n, v FROM unnest(ARRAY[
'James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth',
'David','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Charles','Karen',
'Christopher','Nancy','Daniel','Lisa','Matthew','Betty','Anthony','Margaret','Mark','Sandra',
'Donald','Ashley','Steven','Kimberly','Paul','Emily','Andrew','Donna','Joshua','Michelle',
'Kenneth','Dorothy','Kevin','Carol','Brian','Amanda','George','Melissa','Edward','Deborah',
'Ronald','Stephanie','Timothy','Rebecca','Jason','Sharon','Jeffrey','Laura','Ryan','Cynthia',
'Jacob','Kathleen','Gary','Amy','Nicholas','Shirley','Eric','Angela','Jonathan','Helen',
'Stephen','Anna','Larry','Brenda','Justin','Pamela','Scott','Nicole','Brandon','Emma',
'Benjamin','Samantha','Samuel','Katherine','Gregory','Christine','Frank','Debra','Alexander','Rachel',
'Raymond','Catherine','Patrick','Carolyn','Jack','Janet','Dennis','Ruth','Jerry','Maria',
'Tyler','Heather','Aaron','Diane','Jose','Virginia','Adam','Julie','Henry','Joyce',
'Nathan','Victoria','Douglas','Olivia','Zachary','Kelly','Peter','Christina','Kyle','Lauren',
'Walter','Joan','Ethan','Evelyn','Jeremy','Judith','Harold','Megan','Keith','Cheryl',
'Christian','Andrea','Roger','Hannah','Noah','Martha','Gerald','Jacqueline','Carl','Frances',
'Terry','Gloria','Sean','Ann','Austin','Teresa','Arthur','Kathryn','Lawrence','Sara',
'Jesse','Janice','Dylan','Jean','Bryan','Alice','Joe','Madison','Jordan','Doris',
'Billy','Abigail','Bruce','Julia','Albert','Judy','Willie','Grace','Gabriel','Denise',
'Logan','Amber','Alan','Marilyn','Juan','Beverly','Wayne','Danielle','Roy','Theresa',
'Ralph','Sophia','Randy','Marie','Eugene','Diana','Vincent','Brittany','Russell','Natalie',
'Elijah','Isabella','Louis','Charlotte','Bobby','Rose','Philip','Alexis','Johnny','Kayla',
'Jürgen','Zoë','François','José','Søren','Ana','Lukas','Sofia','Mateo','Léa'])
	WITH ORDINALITY u(v, n);
CREATE TABLE last_names (n int, v text);
INSERT INTO last_names SELECT n, v FROM unnest(ARRAY[
'Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Rodriguez','Martinez',
'Hernandez','Lopez','Gonzalez','Wilson','Anderson','Thomas','Taylor','Moore','Jackson','Martin',
'Lee','Perez','Thompson','White','Harris','Sanchez','Clark','Ramirez','Lewis','Robinson',
'Walker','Young','Allen','King','Wright','Scott','Torres','Nguyen','Hill','Flores',
'Green','Adams','Nelson','Baker','Hall','Rivera','Campbell','Mitchell','Carter','Roberts',
'Gomez','Phillips','Evans','Turner','Diaz','Parker','Cruz','Edwards','Collins','Reyes',
'Stewart','Morris','Morales','Murphy','Cook','Rogers','Gutierrez','Ortiz','Morgan','Cooper',
'Peterson','Bailey','Reed','Kelly','Howard','Ramos','Kim','Cox','Ward','Richardson',
'Watson','Brooks','Chavez','Wood','James','Bennett','Gray','Mendoza','Ruiz','Hughes',
'Price','Alvarez','Castillo','Sanders','Patel','Myers','Long','Ross','Foster','Jimenez',
'Powell','Jenkins','Perry','Russell','Sullivan','Bell','Coleman','Butler','Henderson','Barnes',
'Gonzales','Fisher','Vasquez','Simmons','Romero','Jordan','Patterson','Alexander','Hamilton','Graham',
'Reynolds','Griffin','Wallace','Moreno','West','Cole','Hayes','Bryant','Herrera','Gibson',
'Ellis','Tran','Medina','Aguilar','Stevens','Murray','Ford','Castro','Marshall','Owens',
'Harrison','Fernandez','McDonald','Woods','Washington','Kennedy','Wells','Vargas','Henry','Chen',
'Freeman','Webb','Tucker','Guzman','Burns','Crawford','Olson','Simpson','Porter','Hunter',
'Gordon','Mendez','Silva','Shaw','Snyder','Mason','Dixon','Munoz','Hunt','Hicks',
'Holmes','Palmer','Wagner','Black','Robertson','Boyd','Rose','Stone','Salazar','Fox',
'Warren','Mills','Meyer','Rice','Schmidt','Garza','Daniels','Ferguson','Nichols','Stephens',
'Soto','Weaver','Ryan','Gardner','Payne','Grant','Dunn','Kelley','Spencer','Hawkins',
'Arnold','Pierce','Vazquez','Hansen','Peters','Santos','Hart','Bradley','Knight','Elliott',
'Cunningham','Duncan','Armstrong','Hudson','Carroll','Lane','Riley','Andrews','Alvarado','Ray',
'Delgado','Berry','Perkins','Hoffman','Johnston','Matthews','Pena','Richards','Contreras','Willis',
'Carpenter','Lawrence','Sandoval','Guerrero','George','Chapman','Rios','Estrada','Ortega','Watkins',
'Müller','Schneider','Fischer','Weber','Becker','Schulz','Koch','Bauer','Richter','Klein',
'Wolf','Schröder','Neumann','Schwarz','Zimmermann','Braun','Krüger','Hofmann','Hartmann','Lange',
'Dubois','Lefèvre','Moreau','Laurent','Rossi','Russo','Ferrari','Esposito','Bianchi','Romano',
'Jansen','de Vries','van Dijk','Bakker','Visser','Nielsen','Jensen','Larsen','Johansson','Lindberg',
'Nowak','Kowalski','Wiśniewski','Novák','Horváth','Kovács','Popescu','Ivanov','Petrov','Yılmaz',
'Tanaka','Suzuki','Sato','Wang','Li','Zhang','Liu','Singh','Kumar','Sharma'])
	WITH ORDINALITY u(v, n);
-- first and last names drawn with a skew towards the front of each list;
-- dates of birth uniform over 1940-2019; amounts log-uniform over 1..100,000
CREATE TABLE people (id int NOT NULL, name text NOT NULL, dob date NOT NULL,
					 amount numeric(12,2) NOT NULL);
INSERT INTO people
SELECT i, f.a[1 + floor(power(random(), 1.6) * cardinality(f.a))::int] || ' ' ||
		  l.a[1 + floor(power(random(), 1.6) * cardinality(l.a))::int],
	   date '1940-01-01' + floor(random() * (date '2020-01-01' - date '1940-01-01'))::int,
	   round(exp(random() * ln(100000))::numeric, 2)
  FROM generate_series(1, :rows) i,
	   (SELECT array_agg(v ORDER BY n) a FROM first_names) f,
	   (SELECT array_agg(v ORDER BY n) a FROM last_names) l;
SQL

# The plain LIKE's baseline: the same table with the btree alone, so
# that the planner cannot pick pg_trgm's index instead from one run's
# statistics to the next.
pq -c "CREATE TABLE people_lb AS SELECT id, name, dob, amount FROM people"

# The encrypted tables, from the plain one: the same plaintexts.  Each
# INSERT ... SELECT is timed once (psql's \timing, after a CHECKPOINT):
# at full size, these are the cost of adding a column of values.
declare -A BUILD
timed() { # label keys statement: one statement, its time in BUILD[label]
	BUILD[$1]=$(pq -c "${KEYS[$2]}" -c "CHECKPOINT" -c '\timing on' -c "$3" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
}
pq <<'SQL'
CREATE TABLE people_tp (id int NOT NULL, name text NOT NULL);
CREATE TABLE people_tn (id int NOT NULL, name encrypted_text NOT NULL);
CREATE TABLE people_t8 (id int NOT NULL, name encrypted_text(trigram, 8) NOT NULL);
CREATE TABLE people_t12 (id int NOT NULL, name encrypted_text(trigram, 12) NOT NULL);
CREATE TABLE people_t16 (id int NOT NULL, name encrypted_text(trigram, 16) NOT NULL);
CREATE TABLE people_dp (id int NOT NULL, dob date NOT NULL);
CREATE TABLE people_dn (id int NOT NULL, dob encrypted_date NOT NULL);
CREATE TABLE people_w1 (id int NOT NULL, dob encrypted_date(range, 1) NOT NULL);
CREATE TABLE people_w7 (id int NOT NULL, dob encrypted_date(range, 7) NOT NULL);
CREATE TABLE people_w30 (id int NOT NULL, dob encrypted_date(range, 30) NOT NULL);
CREATE TABLE people_enc (id int NOT NULL, name encrypted_text(trigram) NOT NULL,
						 dob encrypted_date(range, 7) NOT NULL,
						 amount encrypted_numeric(range, 100) NOT NULL);
CREATE TABLE people_rot (LIKE people_enc);
SQL
for t in tp tn t8 t12 t16; do
	timed "table_$t" one "INSERT INTO people_$t SELECT id, name FROM people"
done
for t in dp dn w1 w7 w30; do
	timed "table_$t" one "INSERT INTO people_$t SELECT id, dob FROM people"
done
timed table_enc one "INSERT INTO people_enc SELECT id, name, dob, amount FROM people"
# the rotation: every row under the old key, then half of them (every
# other id) re-encrypted under the new one, as a batch of a rotation
# leaves them; the dead versions vacuumed away
timed table_rot one "INSERT INTO people_rot SELECT id, name, dob, amount FROM people"
timed table_rot_update two "UPDATE people_rot SET name = reencrypt(name), dob = reencrypt(dob), amount = reencrypt(amount) WHERE id % 2 = 0"
pq -c "VACUUM people_rot"

say "checking the plaintexts"
# every encrypted table holds the plain table's values
check_same() {
	local what=$1 plain=$2 enc=$3 a b
	a=$(pq -c "SELECT md5(string_agg(($plain)::text, '|' ORDER BY id)) FROM people")
	b=$(pq -c "$TWO_KEYS" -c "SELECT md5(string_agg(($enc)::text, '|' ORDER BY id)) FROM $what")
	[[ $a == "$b" ]] || { echo "MISMATCH: $what does not hold the plain table's values" >&2; exit 1; }
}
check_same people_enc "name || dob || amount" "decrypt(name) || decrypt(dob) || decrypt(amount)"
check_same people_rot "name || dob || amount" "decrypt(name) || decrypt(dob) || decrypt(amount)"
for t in tn t8 t12 t16; do check_same "people_$t" name "decrypt(name)"; done
for t in dn w1 w7 w30; do check_same "people_$t" dob "decrypt(dob)"; done
rot_new=$(pq -c "$TWO_KEYS" -c "SELECT count(*) FILTER (WHERE key_id(name) = current_key_id()) FROM people_rot")

# ---- indexes, each build timed once ----
say "building indexes"
index() { timed "$1" one "CREATE INDEX $1 ON $2"; }
index people_name_pattern "people (name text_pattern_ops)"
index people_lb_name "people_lb (name text_pattern_ops)"
index people_name_trgm "people USING gin (name gin_trgm_ops)"
index people_dob "people (dob)"
index people_amount "people (amount)"
index people_enc_name "people_enc USING gin (name)"
index people_enc_dob "people_enc (dob encrypted_date_range_ops)"
index people_enc_amount "people_enc (amount encrypted_numeric_range_ops)"
for t in t8 t12 t16; do index "people_${t}_name" "people_$t USING gin (name)"; done
for t in w1 w7 w30; do index "people_${t}_dob" "people_$t (dob encrypted_date_range_ops)"; done
index people_rot_name "people_rot USING gin (name)"
index people_rot_dob "people_rot (dob encrypted_date_range_ops)"
index people_rot_amount "people_rot (amount encrypted_numeric_range_ops)"
pq -c "VACUUM ANALYZE" -c "CHECKPOINT"

# ---- the queries ----
# Q[label]: the query; label = query.variant.  PLAIN[label]: the plain
# query whose rows it must return; USES[label]: a plan line it must have.
LIKE_PAT="Gre%" ILIKE_PAT="%ner%" ILIKE_IK_PAT="%ich%"
LO="1985-03-01" HI="1985-03-31"
declare -A Q PLAIN USES LOOPS ORDERED
query() { # label table-or-query [uses]
	Q[$1]=$2
	PLAIN[$1]=${1%%.*}.plain
	USES[$1]=${3:-}
	LOOPS[$1]=10
}
for v in plain enc t8 t12 t16 rot; do
	t=people_$v
	[[ $v == plain ]] && t=people
	query like.$v "SELECT id FROM $t WHERE name LIKE '$LIKE_PAT'" "${t}_name"
	query ilike.$v "SELECT id FROM $t WHERE name ILIKE '$ILIKE_PAT'" "${t}_name"
done
USES[ilike.plain]="people_name_trgm"
# LIKE's baseline is the btree alone; the table with both plain indexes
# shows what the planner picks
Q[like.plain]="SELECT id FROM people_lb WHERE name LIKE '$LIKE_PAT'" USES[like.plain]=people_lb_name
query like.plain_both "SELECT id FROM people WHERE name LIKE '$LIKE_PAT'" "people_name_"
PLAIN[like.plain_both]=like.plain
query ilike_ik.plain "SELECT id FROM people WHERE name ILIKE '$ILIKE_IK_PAT'" people_name_trgm
query ilike_ik.enc "SELECT id FROM people_enc WHERE name ILIKE '$ILIKE_IK_PAT'"
for v in plain enc w1 w7 w30 rot; do
	t=people_$v
	[[ $v == plain ]] && t=people
	query between.$v "SELECT id FROM $t WHERE dob BETWEEN date '$LO' AND date '$HI'" "${t}_dob"
	query order.$v "SELECT id FROM $t ORDER BY dob, id LIMIT 10" "Index Scan using ${t}_dob"
	query order_desc.$v "SELECT id FROM $t ORDER BY dob DESC, id DESC LIMIT 10" \
		"Index Scan Backward using ${t}_dob"
	ORDERED[order.$v]=1 ORDERED[order_desc.$v]=1
done
# the same BETWEEN with untyped literals, which the parser encrypts
query between_lit.enc "SELECT id FROM people_enc WHERE dob BETWEEN '$LO' AND '$HI'" people_enc_dob
PLAIN[between_lit.enc]=between.plain
for v in plain enc; do
	t=people_$v
	[[ $v == plain ]] && t=people
	query order_amount.$v "SELECT id FROM $t ORDER BY amount DESC, id LIMIT 10" \
		"Index Scan Backward using ${t}_amount"
	ORDERED[order_amount.$v]=1
done
for l in ilike_ik.plain ilike_ik.enc; do LOOPS[$l]=1; done

FAST=(like.plain like.plain_both like.enc like.t8 like.t12 like.t16 ilike.plain ilike.enc ilike.t8 ilike.t12 ilike.t16
	between.plain between.enc between.w1 between.w7 between.w30 between_lit.enc
	order.plain order.enc order.w1 order.w7 order.w30
	order_desc.plain order_desc.enc order_desc.w1 order_desc.w7 order_desc.w30
	order_amount.plain order_amount.enc)
SLOW=(ilike_ik.plain ilike_ik.enc)
ROT=(like.plain like.rot ilike.plain ilike.rot between.plain between.rot order.plain order.rot
	order_desc.plain order_desc.rot)

# ---- results and plans: the same rows as plain, the index in the plan ----
declare -A DIGEST SCAN
inspect() { # keys label...
	local s=$1 setup=${KEYS[$1]} l ordered
	shift
	for l in "$@"; do
		ordered=false
		[[ -n ${ORDERED[$l]:-} ]] && ordered=true
		DIGEST[$s:$l]=$(pq -c "$setup" -c "SELECT bench_digest(\$q\$${Q[$l]}\$q\$, $ordered)")
		SCAN[$s:$l]=$(pq -c "$setup" -c "SELECT bench_scan(\$q\$${Q[$l]}\$q\$)")
		pq -c "$setup" -c "EXPLAIN (ANALYZE, BUFFERS) ${Q[$l]}" >"$work/plan.$s.$l"
	done
	for l in "$@"; do
		[[ $l == *.plain ]] && continue
		[[ ${DIGEST[$s:$l]} == "${DIGEST[$s:${PLAIN[$l]}]}" ]] || {
			echo "MISMATCH: $l returned other rows than ${PLAIN[$l]} (count, md5 of the ids): ${DIGEST[$s:$l]} against ${DIGEST[$s:${PLAIN[$l]}]}" >&2
			exit 1
		}
	done
	for l in "$@"; do
		[[ -z ${USES[$l]} ]] || grep -q -F "${USES[$l]}" "$work/plan.$s.$l" || {
			echo "PLAN: $l does not use ${USES[$l]}:" >&2
			cat "$work/plan.$s.$l" >&2
			exit 1
		}
	done
}
say "checking results and plans"
inspect one "${FAST[@]}" "${SLOW[@]}"
inspect two "${ROT[@]}"

# ---- timing ----
declare -A MS
time_batch() { # keys reps label...
	local s=$1 setup=${KEYS[$1]} n_reps=$2 r i l n
	shift 2
	local labels=("$@")
	n=${#labels[@]}
	{
		echo "$setup"
		for l in "${labels[@]}"; do # warm-up, not kept
			echo "SELECT 'warm-up', bench_ms(\$q\$${Q[$l]}\$q\$, 1);"
		done
		for ((r = 0; r < n_reps; r++)); do
			for ((i = 0; i < n; i++)); do
				l=${labels[(i + r) % n]}
				echo "SELECT '$l', bench_ms(\$q\$${Q[$l]}\$q\$, ${LOOPS[$l]});"
			done
		done
	} | pq -F ' ' >"$work/times"
	for l in "${labels[@]}"; do
		MS[$s:$l]=$(awk -v l="$l" '$1 == l { print $2 }' "$work/times" | median)
	done
}
say "timing the queries with one key ($reps repetitions)"
time_batch one "$reps" "${FAST[@]}"
say "timing the slow queries ($slow_reps repetitions)"
time_batch one "$slow_reps" "${SLOW[@]}"
say "timing the queries during the rotation ($reps repetitions)"
time_batch two "$reps" "${ROT[@]}"

# ---- false positives over many patterns and months ----
# The false positives of one pattern depend on whether its tags meet the
# tags of frequent trigrams under the key: over many patterns they average
# out.  One EXPLAIN ANALYZE each; the rows must be the plain query's.
PREFIXES=(Gre Ros Dou Han Mad Pet Wal Sam Jud Ter Geo Don Ray Bet Pam Tho Amy Lau Hel Ann)
INFIXES=(ner son man ott ard ber ers ley ron ach ose and ell ama ugh den hew art ore cha)
say "false positives over ${#PREFIXES[@]} prefixes, ${#INFIXES[@]} infixes and 12 months"
fp_sweep() { # keys variant...
	local s=$1 p v m lo hi
	shift
	echo "${KEYS[$s]}"
	for p in "${PREFIXES[@]}"; do
		echo "SELECT 'like plain $p', count(*) FROM people WHERE name LIKE '$p%';"
		for v in "$@"; do
			if [[ $v != w* ]]; then
				echo "SELECT 'like $v $p', bench_scan(\$q\$SELECT id FROM people_$v WHERE name LIKE '$p%'\$q\$);"
			fi
		done
	done
	for p in "${INFIXES[@]}"; do
		echo "SELECT 'ilike plain $p', count(*) FROM people WHERE name ILIKE '%$p%';"
		for v in "$@"; do
			if [[ $v != w* ]]; then
				echo "SELECT 'ilike $v $p', bench_scan(\$q\$SELECT id FROM people_$v WHERE name ILIKE '%$p%'\$q\$);"
			fi
		done
	done
	for ((m = 1; m <= 12; m++)); do
		lo=$(printf '1985-%02d-01' "$m")
		hi=$(date -u -d "$lo +1 month -1 day" +%F)
		echo "SELECT 'between plain $lo', count(*) FROM people WHERE dob BETWEEN date '$lo' AND date '$hi';"
		for v in "$@"; do
			if [[ $v == w* ]]; then
				echo "SELECT 'between $v $lo', bench_scan(\$q\$SELECT id FROM people_$v WHERE dob BETWEEN date '$lo' AND date '$hi'\$q\$);"
			fi
		done
	done
}
{ fp_sweep one t8 t12 t16 w1 w7 w30; fp_sweep two rot | sed 's/^SELECT .\(like\|ilike\) plain/&@rot/'; } |
	pq -F ' ' >"$work/fp"
# each pattern's rows against the plain query's
awk '$2 ~ /^plain/ { plain[$1, $2 == "plain@rot", $3] = $4; next }
	{ if ($4 != plain[$1, $2 == "rot", $3]) { print "MISMATCH: " $0 " against plain " plain[$1, $2 == "rot", $3]; bad = 1 } }
	END { exit bad }' "$work/fp" >&2 || exit 1
# kind variant: patterns, rows, read, dropped, FP rate overall, patterns
# with any false positive, the largest FP rate of one pattern
fp_summary() {
	awk -v k="$1" -v v="$2" '$1 == k && $2 == v { n++; rows += $4; read += $5; drop += $6
			if ($6 > 0) any++
			r = $5 > 0 ? $6 / $5 : 0; if (r > worst) worst = r }
		END { printf "%d | %d | %d | %d | %.1f%% | %d | %.1f%%\n", n, rows, read, drop, read ? 100 * drop / read : 0, any, 100 * worst }' "$work/fp"
}

# ---- INSERT: values with and without search terms, against plain ----
say "timing INSERT of $insert_rows values ($reps repetitions)"
INS=(text:text enc:encrypted_text tri:"encrypted_text(trigram)"
	date:date edate:encrypted_date rdate:"encrypted_date(range, 7)"
	num:numeric enum:encrypted_numeric rnum:"encrypted_numeric(range, 100)")
declare -A INS_COL=([text]=name [enc]=name [tri]=name [date]=dob [edate]=dob [rdate]=dob
	[num]=amount [enum]=amount [rnum]=amount)
{
	echo "CREATE TABLE ins_src AS SELECT id, name, dob, amount FROM people WHERE id <= $insert_rows;"
	for v in "${INS[@]}"; do echo "CREATE TABLE ins_${v%%:*} (v ${v#*:});"; done
	echo "VACUUM ANALYZE ins_src;"
} | pq
: >"$work/ins"
for ((r = 0; r <= reps; r++)); do # repetition 0 is a warm-up
	{
		echo "$ONE_KEY"
		for ((i = 0; i < ${#INS[@]}; i++)); do
			v=${INS[(i + r) % ${#INS[@]}]%%:*}
			echo "TRUNCATE ins_$v;"
			echo "CHECKPOINT;"
			echo "\\echo insert: $v"
			echo "\\timing on"
			echo "INSERT INTO ins_$v SELECT ${INS_COL[$v]} FROM ins_src;"
			echo "\\timing off"
		done
	} | pq | awk -v r="$r" '/^insert: / { v = $2 } /^Time: / { print r, v, $2 }' >>"$work/ins"
done
# each variant's fastest repetition (another process can only add time),
# and its median
declare -A INS_MS INS_MED
for v in "${INS[@]}"; do
	v=${v%%:*}
	INS_MS[$v]=$(awk -v v="$v" '$1 > 0 && $2 == v { print $3 }' "$work/ins" | sort -g | head -n 1)
	INS_MED[$v]=$(awk -v v="$v" '$1 > 0 && $2 == v { print $3 }' "$work/ins" | median)
done
# the ratio of two overheads over plain: from the fastest repetitions,
# and from the medians
overhead_ratio() { # with without plain
	awk -v a="${INS_MS[$1]}" -v b="${INS_MS[$2]}" -v p="${INS_MS[$3]}" \
		-v am="${INS_MED[$1]}" -v bm="${INS_MED[$2]}" -v pm="${INS_MED[$3]}" \
		'BEGIN { printf "%.2fx (medians: %.2fx)", (a - p) / (b - p), (am - pm) / (bm - pm) }'
}
ns_over() { awk -v a="${INS_MS[$1]}" -v p="${INS_MS[$2]}" -v n="$insert_rows" 'BEGIN { printf "%.0f", (a - p) * 1e6 / n }'; }

# ---- the report ----
say "writing $out"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
version=$(pq -c "SELECT version()")
extversion=$(pq -c "SELECT extversion FROM pg_extension WHERE extname = 'encrypted_column'")
trgmversion=$(pq -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'")
distinct_names=$(pq -c "SELECT count(DISTINCT name) FROM people")
# SCAN[keys:label] is "rows read dropped lossy-blocks"
scan_field() { # keys label field (1 rows, 2 read, 3 dropped, 4 lossy)
	awk -v f="$3" '{ print $f }' <<<"${SCAN[$1:$2]}"
}
fp_rate() { # keys label: dropped / read
	awk -v d="$(scan_field "$1" "$2" 3)" -v r="$(scan_field "$1" "$2" 2)" \
		'BEGIN { if (r > 0) printf "%.1f%%", 100 * d / r; else print "-" }'
}
lossy() { # keys label: a note when the bitmap went lossy
	local n
	n=$(scan_field "$1" "$2" 4)
	((n == 0)) || printf ', %s lossy heap blocks' "$n"
}
fmt_ms() {
	awk -v v="$1" 'BEGIN { if (v < 10) printf "%.3f", v; else if (v < 1000) printf "%.1f", v; else printf "%.0f", v }'
}
met() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t) ? "met" : "**missed**" }'; }
ratio() { div "${MS[$1:$2]}" "${MS[$1:${PLAIN[$2]}]}"; }
# ms (ratio) of a label against its plain query
ms_ratio() { printf '%s (%sx)' "$(fmt_ms "${MS[$1:$2]}")" "$(ratio "$1" "$2")"; }
row() { # keys label description
	local s=$1 l=$2 p=${PLAIN[$2]}
	printf '| %s | %s | %s | %sx | %s | %s | %s | %s |' "$3" "$(fmt_ms "${MS[$s:$p]}")" \
		"$(fmt_ms "${MS[$s:$l]}")" "$(ratio "$s" "$l")" "$(scan_field "$s" "$l" 1)" \
		"$(scan_field "$s" "$l" 2)" "$(scan_field "$s" "$l" 3) ($(fp_rate "$s" "$l"))$(lossy "$s" "$l")" \
		"$(scan_field "$s" "$p" 2)"
}
size() { pq -c "SELECT pg_relation_size('$1')"; }
mb() { awk -v b="$(size "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }
per_row() { awk -v b="$(size "$1")" -v n="$rows" 'BEGIN { printf "%.0f", b / n }'; }
# INSERT ... SELECT of the whole table: ns per value over the plain column's
build_ns() { awk -v a="${BUILD[table_$1]}" -v p="${BUILD[table_$2]}" -v n="$rows" 'BEGIN { printf "%.0f", (a - p) * 1e6 / n }'; }
build_ratio() { # with without plain: overhead / overhead
	awk -v a="${BUILD[table_$1]}" -v b="${BUILD[table_$2]}" -v p="${BUILD[table_$3]}" \
		'BEGIN { printf "%.2fx", (a - p) / (b - p) }'
}
plan_block() { # keys label title
	echo
	echo "$3:"
	echo
	echo '```'
	cat "$work/plan.$1.$2"
	echo '```'
}
{
	echo "# Search (0.5.0): encrypted columns with search terms against plain columns"
	echo
	echo "\`bash bench/search.sh\`, $started UTC; PostgreSQL $PG_MAJOR, encrypted_column $extversion ($BENCH_LIBRARY), pg_trgm $trgmversion; load average $load_before before, $load_after after; $rows rows; medians of $reps repetitions (slow queries: $slow_reps), each repetition the fastest of 10 executions (slow queries: 1), all variants interleaved in an order that rotates between repetitions, so every ratio comes from one run."
	echo
	echo "Machine: $BENCH_MACHINE; $version."
	echo
	echo "Times are server side, planning included, no rows sent to a client (a"
	echo "PL/pgSQL loop around \`EXECUTE\`). Every encrypted query returned exactly the"
	echo "plain query's rows (the ids, compared sorted, or in order for ORDER BY)."
	echo "*read* is the rows the table scan read: those the query kept plus those its"
	echo "recheck dropped (EXPLAIN ANALYZE \"Rows Removed by Index Recheck\" and"
	echo "\"Rows Removed by Filter\"); every row read from an encrypted table is"
	echo "decrypted (the ORDER BY sort decrypts both sides of every comparison). The"
	echo "FP rate is dropped / read. No bitmap went lossy unless noted."
	echo
	echo "Data: a name \`First Last\` from 210 first and 300 last names (a few with"
	echo "non-ASCII letters) drawn with a skew, $distinct_names distinct names;"
	echo "a date of birth uniform over 1940-2019; an amount log-uniform over 1-100,000."
	echo "Plain: \`name text\` with a btree (\`text_pattern_ops\`) and a pg_trgm GIN"
	echo "index, btrees on \`dob date\` and \`amount numeric\`; LIKE's baseline is a copy"
	echo "of the table with the btree alone (with both, the planner's pick varies"
	echo "between runs: see below)."
	echo "Encrypted (\`people_enc\`): \`encrypted_text(trigram)\` (12 bits) with its GIN"
	echo "index, \`encrypted_date(range, 7)\` and \`encrypted_numeric(range, 100)\` with"
	echo "range_ops btrees. The sweeps use tables of \`id\` and the one column."
	echo "\`work_mem\` 4MB (the default), \`shared_buffers\` 2GB (every table in memory),"
	echo "no parallel workers, no JIT."
	echo
	echo "## The four queries, one key loaded (target: within 10x of plain)"
	echo
	echo "| query | plain (ms) | encrypted (ms) | ratio | rows | read | dropped by recheck (FP rate) | plain read | target |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for x in "like.enc|\`name LIKE '$LIKE_PAT'\`" "ilike.enc|\`name ILIKE '$ILIKE_PAT'\`" \
		"between.enc|\`dob BETWEEN date '$LO' AND date '$HI'\`" \
		"order.enc|\`ORDER BY dob, id LIMIT 10\`"; do
		l=${x%%|*}
		echo "$(row one "$l" "${x#*|}") $(met "$(ratio one "$l")" 10) |"
	done
	echo
	echo "Other forms of the same searches:"
	echo
	echo "| query | plain (ms) | encrypted (ms) | ratio | rows | read | dropped by recheck (FP rate) | plain read |"
	echo "|---|---|---|---|---|---|---|---|"
	chosen="pg_trgm's GIN index"
	grep -q people_name_pattern "$work/plan.one.like.plain_both" && chosen="the btree"
	printf '| `name LIKE '"'%s'"'`, the plain table with both indexes (the planner chose %s) | %s | %s | %sx | %s | %s | %s | %s |\n' \
		"$LIKE_PAT" "$chosen" "$(fmt_ms "${MS[one:like.plain_both]}")" "$(fmt_ms "${MS[one:like.enc]}")" \
		"$(div "${MS[one:like.enc]}" "${MS[one:like.plain_both]}")" "$(scan_field one like.enc 1)" \
		"$(scan_field one like.enc 2)" "$(scan_field one like.enc 3) ($(fp_rate one like.enc))" \
		"$(scan_field one like.plain_both 2)"
	row one ilike_ik.enc "\`name ILIKE '$ILIKE_IK_PAT'\` (its trigrams hold an i)"; echo
	row one between_lit.enc "\`dob BETWEEN '$LO' AND '$HI'\`: untyped literals, which the parser encrypts"; echo
	row one order_desc.enc "\`ORDER BY dob DESC, id DESC LIMIT 10\`"; echo
	row one order_amount.enc "\`ORDER BY amount DESC, id LIMIT 10\` (\`encrypted_numeric(range, 100)\`)"; echo
	echo
	echo "## Trigram tag bits"
	echo
	echo "\`encrypted_text(trigram, bits)\`, each in a table of \`id\` and the name."
	echo
	echo "| bits | GIN index (MB) | table (B/row) | \`LIKE '$LIKE_PAT'\` ms (ratio) | read | dropped (FP rate) | \`ILIKE '$ILIKE_PAT'\` ms (ratio) | read | dropped (FP rate) |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for b in 8 12 16; do
		printf '| %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s (%s) |\n' "$b" "$(mb "people_t${b}_name")" \
			"$(per_row "people_t$b")" "$(ms_ratio one "like.t$b")" \
			"$(scan_field one "like.t$b" 2)" "$(scan_field one "like.t$b" 3)" "$(fp_rate one "like.t$b")" \
			"$(ms_ratio one "ilike.t$b")" \
			"$(scan_field one "ilike.t$b" 2)" "$(scan_field one "ilike.t$b" 3)" "$(fp_rate one "ilike.t$b")"
	done
	printf '| no terms (`encrypted_text`) | | %s | | | | | | |\n' "$(per_row people_tn)"
	printf '| plain `text`, pg_trgm GIN (LIKE: the btree, %s MB) | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
		"$(mb people_name_pattern)" "$(mb people_name_trgm)" "$(per_row people_tp)" \
		"$(fmt_ms "${MS[one:like.plain]}")" "$(scan_field one like.plain 2)" "$(scan_field one like.plain 3)" \
		"$(fmt_ms "${MS[one:ilike.plain]}")" "$(scan_field one ilike.plain 2)" "$(scan_field one ilike.plain 3)"
	echo
	echo "The false positives of one pattern depend on whether, under the key, its"
	echo "tags meet the tags of frequent trigrams; over ${#PREFIXES[@]} prefixes (\`LIKE '$(printf '%s%%, ' "${PREFIXES[@]:0:4}")...'\`)"
	echo "and ${#INFIXES[@]} infixes (\`ILIKE '$(printf '%%%s%%, ' "${INFIXES[@]:0:4}")...'\`), one EXPLAIN ANALYZE each, every"
	echo "result the plain query's rows:"
	echo
	echo "| bits | search | patterns | rows | read | dropped | FP rate | patterns with a false positive | worst pattern's FP rate |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for v in t8 t12 t16 rot; do
		for k in like ilike; do
			b=${v#t}
			[[ $v == rot ]] && b="12, two keys (rotation)"
			echo "| $b | $k | $(fp_summary "$k" "$v") |"
		done
	done
	echo
	echo "## Bucket width"
	echo
	echo "\`encrypted_date(range, days)\`, each in a table of \`id\` and the date."
	echo
	echo "| days | index (MB) | \`BETWEEN\` one month ms (ratio) | read | dropped (FP rate) | \`ORDER BY dob, id LIMIT 10\` ms (ratio) | rows the sort read | \`ORDER BY dob DESC, id DESC LIMIT 10\` ms (ratio) | rows the sort read |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for d in 1 7 30; do
		printf '| %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s |\n' "$d" "$(mb "people_w${d}_dob")" \
			"$(ms_ratio one "between.w$d")" "$(scan_field one "between.w$d" 2)" \
			"$(scan_field one "between.w$d" 3)" "$(fp_rate one "between.w$d")" \
			"$(ms_ratio one "order.w$d")" "$(scan_field one "order.w$d" 2)" \
			"$(ms_ratio one "order_desc.w$d")" "$(scan_field one "order_desc.w$d" 2)"
	done
	printf '| plain `date`, btree | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(mb people_dob)" \
		"$(fmt_ms "${MS[one:between.plain]}")" "$(scan_field one between.plain 2)" \
		"$(scan_field one between.plain 3)" "$(fmt_ms "${MS[one:order.plain]}")" \
		"$(scan_field one order.plain 2)" "$(fmt_ms "${MS[one:order_desc.plain]}")" \
		"$(scan_field one order_desc.plain 2)"
	echo
	echo "Every month of 1985 (\`BETWEEN date '1985-01-01' AND date '1985-01-31'\` and so on),"
	echo "one EXPLAIN ANALYZE each, every result the plain query's rows:"
	echo
	echo "| days | months | rows | read | dropped | FP rate | months with a false positive | worst month's FP rate |"
	echo "|---|---|---|---|---|---|---|---|"
	for d in 1 7 30; do
		echo "| $d | $(fp_summary between "w$d") |"
	done
	echo
	echo "## During a rotation"
	echo
	echo "\`people_rot\` is \`people_enc\` after every other row was re-encrypted under a"
	echo "new key (\`UPDATE ... reencrypt()\`, then \`VACUUM\`: $rot_new of $rows rows under the"
	echo "new key, the rest under the old); the connection has the new key in"
	echo "\`encrypted_column.key\` and the old one in \`encrypted_column.previous_keys\`."
	echo "Median of $reps repetitions, each the fastest of 10 executions."
	echo
	echo "| query | plain (ms) | encrypted (ms) | ratio | rows | read | dropped by recheck (FP rate) | plain read |"
	echo "|---|---|---|---|---|---|---|---|"
	row two like.rot "\`name LIKE '$LIKE_PAT'\`"; echo
	row two ilike.rot "\`name ILIKE '$ILIKE_PAT'\`"; echo
	row two between.rot "\`dob BETWEEN date '$LO' AND date '$HI'\`"; echo
	row two order.rot "\`ORDER BY dob, id LIMIT 10\`"; echo
	row two order_desc.rot "\`ORDER BY dob DESC, id DESC LIMIT 10\`"; echo
	echo
	echo "## INSERT: values with search terms against values without"
	echo
	echo "INSERT ... SELECT of $insert_rows values from a plain table into a one-column"
	echo "table without indexes, after a CHECKPOINT (psql's \`\\timing\`, commit"
	echo "included), $reps repetitions, the variants in a rotating order; each"
	echo "variant's fastest repetition, since other work on the machine can only add"
	echo "time (the ratio from the medians in parentheses)."
	echo
	echo "| column | ms | ns per value over plain | overhead / the same type's without terms |"
	echo "|---|---|---|---|"
	printf '| `text` | %s | | |\n' "$(fmt_ms "${INS_MS[text]}")"
	printf '| `encrypted_text` | %s | %s | |\n' "$(fmt_ms "${INS_MS[enc]}")" "$(ns_over enc text)"
	tri=$(overhead_ratio tri enc text)
	printf '| `encrypted_text(trigram)` (12 bits) | %s | %s | %s (target at most 3x: %s) |\n' \
		"$(fmt_ms "${INS_MS[tri]}")" "$(ns_over tri text)" "$tri" "$(met "${tri%%x*}" 3)"
	printf '| `date` | %s | | |\n' "$(fmt_ms "${INS_MS[date]}")"
	printf '| `encrypted_date` | %s | %s | |\n' "$(fmt_ms "${INS_MS[edate]}")" "$(ns_over edate date)"
	printf '| `encrypted_date(range, 7)` | %s | %s | %s |\n' "$(fmt_ms "${INS_MS[rdate]}")" \
		"$(ns_over rdate date)" "$(overhead_ratio rdate edate date)"
	printf '| `numeric` | %s | | |\n' "$(fmt_ms "${INS_MS[num]}")"
	printf '| `encrypted_numeric` | %s | %s | |\n' "$(fmt_ms "${INS_MS[enum]}")" "$(ns_over enum num)"
	printf '| `encrypted_numeric(range, 100)` | %s | %s | %s |\n' "$(fmt_ms "${INS_MS[rnum]}")" \
		"$(ns_over rnum num)" "$(overhead_ratio rnum enum num)"
	echo
	echo "The tables of the sweeps, built once each at full size (INSERT ... SELECT"
	echo "of $rows rows of \`id\` and the column, after a CHECKPOINT; one run):"
	echo
	echo "| table | ms | ns per value over plain | overhead / the same type's without terms |"
	echo "|---|---|---|---|"
	printf '| `text` | %s | | |\n' "$(fmt_ms "${BUILD[table_tp]}")"
	printf '| `encrypted_text` | %s | %s | |\n' "$(fmt_ms "${BUILD[table_tn]}")" "$(build_ns tn tp)"
	for b in 8 12 16; do
		printf '| `encrypted_text(trigram, %s)` | %s | %s | %s |\n' "$b" "$(fmt_ms "${BUILD[table_t$b]}")" \
			"$(build_ns "t$b" tp)" "$(build_ratio "t$b" tn tp)"
	done
	printf '| `date` | %s | | |\n' "$(fmt_ms "${BUILD[table_dp]}")"
	printf '| `encrypted_date` | %s | %s | |\n' "$(fmt_ms "${BUILD[table_dn]}")" "$(build_ns dn dp)"
	for d in 1 7 30; do
		printf '| `encrypted_date(range, %s)` | %s | %s | %s |\n' "$d" "$(fmt_ms "${BUILD[table_w$d]}")" \
			"$(build_ns "w$d" dp)" "$(build_ratio "w$d" dn dp)"
	done
	printf '| `people_enc` (the three encrypted columns with terms) | %s | | |\n' "$(fmt_ms "${BUILD[table_enc]}")"
	printf '| the rotation: `UPDATE ... reencrypt()` of half of `people_rot` (%s rows, three columns) | %s | | |\n' \
		"$rot_new" "$(fmt_ms "${BUILD[table_rot_update]}")"
	echo
	echo "## Sizes and index builds"
	echo
	echo "| relation | size (MB) | build (ms, one run) |"
	echo "|---|---|---|"
	for t in people people_enc; do
		printf '| table `%s` | %s | |\n' "$t" "$(mb "$t")"
	done
	for i in people_name_pattern people_name_trgm people_enc_name people_t8_name people_t12_name \
		people_t16_name people_dob people_enc_dob people_w1_dob people_w7_dob people_w30_dob \
		people_amount people_enc_amount; do
		printf '| index `%s` | %s | %s |\n' "$i" "$(mb "$i")" "$(fmt_ms "${BUILD[$i]}")"
	done
	echo
	echo "## Plans"
	echo
	echo "EXPLAIN (ANALYZE, BUFFERS), one run each, each on a new connection (so the"
	echo "planning time includes the backend's first catalog reads, and the first"
	echo "decryption its key setup; the timings above include neither)."
	plan_block one like.plain "LIKE, plain (the btree alone)"
	plan_block one like.plain_both "LIKE, plain (both indexes, the planner's choice)"
	plan_block one like.enc "LIKE, encrypted"
	plan_block one ilike.plain "ILIKE, plain"
	plan_block one ilike.enc "ILIKE, encrypted"
	plan_block one ilike_ik.enc "ILIKE of a pattern whose trigrams hold an i, encrypted"
	plan_block one between.plain "BETWEEN, plain"
	plan_block one between.enc "BETWEEN, encrypted"
	plan_block one between_lit.enc "BETWEEN with untyped literals, encrypted"
	plan_block one order.plain "ORDER BY ... LIMIT 10, plain"
	plan_block one order.enc "ORDER BY ... LIMIT 10, encrypted"
	plan_block one order_desc.enc "ORDER BY ... DESC LIMIT 10, encrypted"
	plan_block two ilike.rot "ILIKE during the rotation"
	plan_block two between.rot "BETWEEN during the rotation"
	plan_block two order.rot "ORDER BY ... LIMIT 10 during the rotation"
} >"$work/report.md"
cp "$work/report.md" "$out"
say "done"
cat "$out"
