#!/usr/bin/env bash
# Memory check: the regression and pgTAP suites against a server running
# under valgrind (memcheck), with the extension preloaded, followed by a
# short SQL fuzzing run.  Not part of CI (it takes several minutes); run it
# after changes to the C code:
#
#     bash test/suites/valgrind.sh
#
# Every valgrind error whose stack passes through encrypted_column.so is
# printed and makes the run fail; errors elsewhere in the server (it is not
# built for valgrind) are counted and listed in the summary only.
REL_NAME=valgrind
source "$(dirname "$0")/lib.sh"
rel_init

command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
PORT=$(free_port 55450) || exit 1
cluster_init vg <<EOF || exit 1
shared_preload_libraries = 'encrypted_column'
max_parallel_workers_per_gather = 2
EOF
# OpenSSL's AES-NI and PCLMULQDQ code for GCM leaves results that
# memcheck cannot follow (it reports the tag as uninitialised even in a
# program of ten lines); its portable C code is checked instead.
export OPENSSL_ia32cap="~0x200000200000000"
VG=$REL_TMP/vglogs
mkdir -p "$VG" && chmod 0777 "$VG"
as_pg valgrind --quiet --trace-children=yes --track-origins=yes --leak-check=no \
	--num-callers=40 --error-limit=no --read-var-info=yes \
	--suppressions="$REL_DIR/valgrind.supp" --log-file="$VG/vg.%p.log" \
	"$PG_BINDIR/postgres" -D "$REL_TMP/vg" -p "$PORT" >"$REL_TMP/vg.log" 2>&1 &
wait_for 300 "$PG_BINDIR/pg_isready" -q -h "$REL_TMP" -p "$PORT" || {
	tail -n 30 "$REL_TMP/vg.log"
	exit 1
}
say "server under valgrind on port $PORT"

export PGHOST=$REL_TMP PGPORT=$PORT PGUSER=postgres
(cd "$REPO_DIR" && make -s installcheck REGRESS_OPTS="--inputdir=. --encoding=UTF8 --no-locale --outputdir=$REL_TMP/regress") \
	>"$REL_TMP/regress.out" 2>&1
say "pg_regress: $(grep -E "tests (passed|failed)|of [0-9]+ tests" "$REL_TMP/regress.out" | tr -d '\n')"
(cd "$REPO_DIR" && make -s prove) >"$REL_TMP/prove.out" 2>&1
say "pgTAP: $(grep -E "^Result" "$REL_TMP/prove.out")"

cc -O2 -I"$(pg_config --includedir)" -o "$REL_TMP/sqlfuzz" "$REL_DIR/sqlfuzz/sqlfuzz.c" \
	-L"$(pg_config --libdir)" -lpq || exit 1
"$REL_TMP/sqlfuzz" "host=$REL_TMP port=$PORT user=postgres dbname=postgres" 42 \
	"${EC_VALGRIND_FUZZ_CASES:-3000}" "$KEY1" "$KEY2" >"$REL_TMP/sqlfuzz.out" 2>&1
say "$(grep '^sqlfuzz:' "$REL_TMP/sqlfuzz.out")"

as_pg "$PG_BINDIR/pg_ctl" -D "$REL_TMP/vg" -m fast -w -t 300 stop >/dev/null

ERR_RE='^==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination overlap)'
ours=0
others=0
for f in "$VG"/vg.*.log; do
	[[ -s $f ]] || continue
	n=$(grep -c -E "$ERR_RE" "$f")
	if grep -q "encrypted_column" "$f"; then
		ours=$((ours + n))
		echo "---- $(basename "$f")"
		cat "$f"
	else
		others=$((others + n))
	fi
done
check_eq "valgrind errors with encrypted_column on the stack" 0 "$ours"
say "figures: $(ls "$VG" | wc -l) processes traced, $ours errors in encrypted_column, $others elsewhere in the server"
rel_finish
