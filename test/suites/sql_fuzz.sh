#!/usr/bin/env bash
# SQL-level fuzzing through a real server.
#
# Builds sqlfuzz/sqlfuzz.c against libpq and runs it against a fresh
# cluster, half the cases on encrypted_text and half on encrypted_text_det:
# random and mutated envelopes through binary parameters (recv) and COPY
# (FORMAT binary), an envelope of one type unchanged as the other (always
# refused), mutated text forms with the restore switch on, plaintexts and
# ciphertexts with it off, random key GUC values (by set_config() and SET),
# random contexts, and deterministic lookups by plaintext and by mutated
# parameters, during a rotation too, with predicted counts.  A tenth of the
# cases search a table with an encrypted_text(trigram) column (GIN index)
# and an encrypted_date(range, 7) column (range_ops index): LIKE, ILIKE and
# their negations with patterns cut from stored plaintexts or mutated
# (escapes, ESCAPE clauses, a trailing escape, bytes that are not UTF-8),
# comparisons, BETWEEN and ORDER BY ... LIMIT with random bounds, each
# through the index and on decrypt(col), which must agree; and mutated
# envelopes into those columns, which must not decrypt unless genuine.
# Each input must give a result or a clean ERROR with an expected
# SQLSTATE, never a forgery, never a plaintext or key in an error;
# afterwards the server log must show no backend ended by a signal and no
# key.
#
# EC_FUZZ_SEED reproduces a run; EC_SQLFUZZ_CASES sets its size.
REL_NAME=sql-fuzz
source "$(dirname "$0")/lib.sh"
rel_init

CASES=${EC_SQLFUZZ_CASES:-60000}
SEED=${EC_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}

cc=${CC:-cc}
"$cc" -O2 -Wall -Wextra -Werror -I"$(pg_config --includedir)" \
	-o "$REL_TMP/sqlfuzz" "$REL_DIR/sqlfuzz/sqlfuzz.c" \
	-L"$(pg_config --libdir)" -lpq || exit 1

PORT=$(cluster_up fuzz 55430 <<<"log_min_messages = warning") || exit 1
say "cluster on port $PORT; seed $SEED (EC_FUZZ_SEED=$SEED reproduces), $CASES cases"

"$REL_TMP/sqlfuzz" "host=$REL_TMP port=$PORT user=postgres dbname=postgres" \
	"$SEED" "$CASES" "$KEY1" "$KEY2" "$REL_TMP/secrets.txt" >"$REL_TMP/sqlfuzz.out" 2>&1
status=$?
grep -v '^sqlfuzz:' "$REL_TMP/sqlfuzz.out" | head -n 40
summary=$(grep '^sqlfuzz:' "$REL_TMP/sqlfuzz.out")
echo "$summary"
check "every input gave a result or a clean, expected ERROR (seed $SEED)" [ "$status" = 0 ]
check "the server is still up" pq "$PORT" postgres -o /dev/null -c "SELECT 1"

log=$REL_TMP/fuzz.log
check "no backend was terminated by a signal, no PANIC or failed assertion, no restart" no_crash "$log"
# Every key the run set (the fixed ones among them), cut into slices, so
# that a partly masked key is found too.
key_slices "$KEY1" "$KEY2" >"$REL_TMP/slices.txt"
check "no fixed test key in the server log (no 8-character slice of one)" \
	not grep -a -q -i -F -f "$REL_TMP/slices.txt" "$log"
nsecrets=$(sort -u "$REL_TMP/secrets.txt" | wc -l)
check "the run recorded the keys it set ($nsecrets)" [ "$nsecrets" -gt 0 ]
mapfile -t secrets < <(sort -u "$REL_TMP/secrets.txt")
key_slices -w 16 "${secrets[@]}" >"$REL_TMP/secret-slices.txt"
check "none of the $nsecrets random keys set in the run is in the server log (no 16-character slice of one)" \
	not grep -a -q -i -F -f "$REL_TMP/secret-slices.txt" "$log"
check "no plaintext marker in the server log" not grep -a -q FZPLAIN "$log"
# On a finding, show which log lines hold a key, with every hex run cut.
cat "$REL_TMP/slices.txt" "$REL_TMP/secret-slices.txt" >"$REL_TMP/all-slices.txt"
if grep -a -q -i -F -f "$REL_TMP/all-slices.txt" "$log"; then
	grep -a -i -F -f "$REL_TMP/all-slices.txt" "$log" | head -n 5 |
		sed -E 's/[0-9A-Fa-f]{8,}/<hex>/g' | cut -c1-300
fi
errors=$(grep -c "ERROR:" "$log")
say "figures: $summary; $errors errors in the server log, none from a crash"
rel_finish
