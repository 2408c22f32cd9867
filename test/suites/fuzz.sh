#!/usr/bin/env bash
# libFuzzer on the envelope and text-form parsers, on the KMIP
# response reader, on the PKCS#11 URI parser and on the trigrams of values
# and LIKE patterns.
#
# Builds fuzz/fuzz_envelope (clang -fsanitize=fuzzer,address,undefined,
# linked with the extension's own src/envelope.c; every algorithm, term
# blocks included) and runs it from the checked-in seed corpus fuzz/corpus
# for EC_FUZZ_RUNS executions (default 5,000,000), stopping after
# EC_FUZZ_SECONDS (default 180) in any case.
# New inputs go to a scratch corpus in the temporary directory.  Passes if
# the fuzzer finds no crash, sanitizer report or broken parser contract
# and ran at least 1,000,000 inputs.
#
# Then fuzz/fuzz_kmip (linked with src/kmip_ttlv.c, which reads what a
# KMIP server sends) from fuzz/corpus-kmip for EC_FUZZ_KMIP_RUNS
# executions (default 2,000,000), stopping after EC_FUZZ_KMIP_SECONDS
# (default 90); it must find nothing and run at least 500,000 inputs.
#
# Then fuzz/fuzz_pkcs11_uri (linked with src/pkcs11_uri.c) from
# fuzz/corpus_pkcs11_uri for EC_FUZZ_URI_RUNS executions (default
# 1,000,000), stopping after EC_FUZZ_URI_SECONDS (default 90); it must
# find nothing and run at least 500,000 inputs.
#
# Last fuzz/fuzz_trigram (linked with src/trigram.c: the trigrams of values
# and LIKE patterns, and encrypted_numeric's width) from
# fuzz/corpus_trigram for EC_FUZZ_TRIGRAM_RUNS executions (default
# 1,000,000), stopping after EC_FUZZ_TRIGRAM_SECONDS (default 120); it must
# find no crash, sanitizer report or broken contract (among them: every
# trigram of a pattern that a value matches is a trigram of the value) and
# run at least 150,000 inputs (each checks one value, six patterns, one
# width and four value-and-pattern pairs).
REL_NAME=fuzz
source "$(dirname "$0")/lib.sh"
rel_init

RUNS=${EC_FUZZ_RUNS:-5000000}
SECONDS_CAP=${EC_FUZZ_SECONDS:-180}
FUZZ_DIR=$REPO_DIR/fuzz

make -s -C "$FUZZ_DIR" BUILD="$REL_TMP/build" >"$REL_TMP/build.log" 2>&1 || {
	cat "$REL_TMP/build.log"
	exit 1
}
seeds=$(find "$FUZZ_DIR/corpus" -type f | wc -l)
say "harness built; $seeds seed inputs; up to $RUNS runs or ${SECONDS_CAP}s"

mkdir -p "$REL_TMP/scratch"
(cd "$REL_TMP" && "$REL_TMP/build/fuzz_envelope" -runs="$RUNS" -max_total_time="$SECONDS_CAP" \
	-max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-dict="$FUZZ_DIR/envelope.dict" "$REL_TMP/scratch" "$FUZZ_DIR/corpus" \
	>"$REL_TMP/fuzz.log" 2>&1)
status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$REL_TMP/fuzz.log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$REL_TMP/fuzz.log")
units=$(find "$REL_TMP/scratch" -type f | wc -l)
check "the fuzzer found no crash, sanitizer report or broken contract" [ "$status" = 0 ]
if [[ $status != 0 ]]; then
	grep -E -A 30 "ERROR: |contract broken|runtime error|deadly signal" "$REL_TMP/fuzz.log" | head -n 60
	for f in "$REL_TMP"/crash-* "$REL_TMP"/leak-* "$REL_TMP"/timeout-* "$REL_TMP"/oom-*; do
		[[ -e $f ]] && echo "reproducer: $(basename "$f") $(od -An -tx1 -v "$f" | tr -d ' \n' | head -c 400)"
	done
fi
check "at least 1,000,000 inputs ran (${execs:-0})" [ "${execs:-0}" -ge 1000000 ]
say "figures: ${execs:-0} executions (${rate:-0}/s), $seeds seeds, $units corpus inputs at the end"

# the KMIP Get response reader
KRUNS=${EC_FUZZ_KMIP_RUNS:-2000000}
KSECONDS=${EC_FUZZ_KMIP_SECONDS:-90}
kseeds=$(find "$FUZZ_DIR/corpus-kmip" -type f | wc -l)
say "KMIP harness: $kseeds seed inputs; up to $KRUNS runs or ${KSECONDS}s"
mkdir -p "$REL_TMP/scratch-kmip" "$REL_TMP/kmip"
(cd "$REL_TMP/kmip" && "$REL_TMP/build/fuzz_kmip" -runs="$KRUNS" -max_total_time="$KSECONDS" \
	-max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-dict="$FUZZ_DIR/kmip.dict" "$REL_TMP/scratch-kmip" "$FUZZ_DIR/corpus-kmip" \
	>"$REL_TMP/fuzz-kmip.log" 2>&1)
status=$?
kexecs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$REL_TMP/fuzz-kmip.log")
krate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$REL_TMP/fuzz-kmip.log")
kunits=$(find "$REL_TMP/scratch-kmip" -type f | wc -l)
check "the KMIP fuzzer found no crash, sanitizer report or broken contract" [ "$status" = 0 ]
if [[ $status != 0 ]]; then
	grep -E -A 30 "ERROR: |contract broken|runtime error|deadly signal" "$REL_TMP/fuzz-kmip.log" | head -n 60
	for f in "$REL_TMP"/kmip/crash-* "$REL_TMP"/kmip/leak-* "$REL_TMP"/kmip/timeout-* "$REL_TMP"/kmip/oom-*; do
		[[ -e $f ]] && echo "reproducer: $(basename "$f") $(od -An -tx1 -v "$f" | tr -d ' \n' | head -c 400)"
	done
fi
check "at least 500,000 KMIP inputs ran (${kexecs:-0})" [ "${kexecs:-0}" -ge 500000 ]
say "figures: ${kexecs:-0} KMIP executions (${krate:-0}/s), $kseeds seeds, $kunits corpus inputs at the end"

# the PKCS#11 URI parser
URI_RUNS=${EC_FUZZ_URI_RUNS:-1000000}
URI_CAP=${EC_FUZZ_URI_SECONDS:-90}
useeds=$(find "$FUZZ_DIR/corpus_pkcs11_uri" -type f | wc -l)
say "PKCS#11 URI harness: $useeds seed inputs; up to $URI_RUNS runs or ${URI_CAP}s"
mkdir -p "$REL_TMP/scratch-uri"
(cd "$REL_TMP" && "$REL_TMP/build/fuzz_pkcs11_uri" -runs="$URI_RUNS" -max_total_time="$URI_CAP" \
	-max_len=1024 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-dict="$FUZZ_DIR/pkcs11_uri.dict" "$REL_TMP/scratch-uri" "$FUZZ_DIR/corpus_pkcs11_uri" \
	>"$REL_TMP/fuzz-uri.log" 2>&1)
status=$?
uexecs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$REL_TMP/fuzz-uri.log")
urate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$REL_TMP/fuzz-uri.log")
check "the URI fuzzer found no crash, sanitizer report or broken contract" [ "$status" = 0 ]
if [[ $status != 0 ]]; then
	grep -E -A 30 "ERROR: |contract broken|runtime error|deadly signal" "$REL_TMP/fuzz-uri.log" | head -n 60
	for f in "$REL_TMP"/crash-* "$REL_TMP"/leak-* "$REL_TMP"/timeout-* "$REL_TMP"/oom-*; do
		[[ -e $f ]] && echo "reproducer: $(basename "$f") $(od -An -tx1 -v "$f" | tr -d ' \n' | head -c 400)"
	done
fi
check "at least 500,000 URI inputs ran (${uexecs:-0})" [ "${uexecs:-0}" -ge 500000 ]
say "figures: ${uexecs:-0} URI executions (${urate:-0}/s), $useeds seeds"

# the trigrams of values and LIKE patterns, and the numeric width
TRI_RUNS=${EC_FUZZ_TRIGRAM_RUNS:-1000000}
TRI_CAP=${EC_FUZZ_TRIGRAM_SECONDS:-120}
tseeds=$(find "$FUZZ_DIR/corpus_trigram" -type f | wc -l)
say "trigram harness: $tseeds seed inputs; up to $TRI_RUNS runs or ${TRI_CAP}s"
mkdir -p "$REL_TMP/scratch-trigram" "$REL_TMP/trigram"
(cd "$REL_TMP/trigram" && "$REL_TMP/build/fuzz_trigram" -runs="$TRI_RUNS" -max_total_time="$TRI_CAP" \
	-max_len=128 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-dict="$FUZZ_DIR/trigram.dict" "$REL_TMP/scratch-trigram" "$FUZZ_DIR/corpus_trigram" \
	>"$REL_TMP/fuzz-trigram.log" 2>&1)
status=$?
texecs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$REL_TMP/fuzz-trigram.log")
trate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$REL_TMP/fuzz-trigram.log")
tunits=$(find "$REL_TMP/scratch-trigram" -type f | wc -l)
check "the trigram fuzzer found no crash, sanitizer report or broken contract" [ "$status" = 0 ]
if [[ $status != 0 ]]; then
	grep -E -A 30 "ERROR: |contract broken|runtime error|deadly signal" "$REL_TMP/fuzz-trigram.log" | head -n 60
	for f in "$REL_TMP"/trigram/crash-* "$REL_TMP"/trigram/leak-* "$REL_TMP"/trigram/timeout-* "$REL_TMP"/trigram/oom-*; do
		[[ -e $f ]] && echo "reproducer: $(basename "$f") $(od -An -tx1 -v "$f" | tr -d ' \n' | head -c 400)"
	done
fi
check "at least 150,000 trigram inputs ran (${texecs:-0})" [ "${texecs:-0}" -ge 150000 ]
say "figures: ${texecs:-0} trigram executions (${trate:-0}/s), $tseeds seeds, $tunits corpus inputs at the end"
rel_finish
