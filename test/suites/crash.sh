#!/usr/bin/env bash
# Crash safety under load.
#
# Each round starts 8 pgbench clients (crash/workload.pgbench: insert,
# update with new values, reencrypt() to a new key, a contended counter,
# reads checked inside the transaction, rolled-back ghosts).  pgbench logs
# every transaction whose COMMIT it saw acknowledged.  Once the round has
# committed enough rows, the postmaster and all its children get SIGKILL at
# once, like a power cut that spares the disk.  After a restart (crash
# recovery) crash/verify.sql checks, per client, that every acknowledged
# transaction is there in full and nothing else is (only the one in flight
# at the kill may have committed without its acknowledgement), that every
# value decrypts to what was written under the expected key, and that no
# rolled-back row exists; pg_amcheck then checks every heap, TOAST table
# and B-tree index.
REL_NAME=crash
source "$(dirname "$0")/lib.sh"
rel_init

ROUNDS=${EC_CRASH_ROUNDS:-3}
CLIENTS=8
KILL_AFTER_ROWS=${EC_CRASH_ROWS:-5000}	# per round, committed ledger rows
ROUND_CAP=${EC_CRASH_ROUND_SECONDS:-25}	# kill by then in any case
STOCK=20000	# stock rows per client and round

PORT=$(cluster_up crash 55420 <<EOF
max_wal_size = '64MB'
checkpoint_timeout = '30s'
synchronous_commit = on
full_page_writes = on
EOF
) || exit 1
say "cluster on port $PORT, $ROUNDS rounds of $CLIENTS clients"

OLDOPTS="-c encrypted_column.key=$KEY1"
NEWOPTS="-c encrypted_column.key=$KEY2 -c encrypted_column.previous_keys=$KEY1"
pq "$PORT" postgres -c "CREATE DATABASE crash" || exit 1
PGOPTIONS="$OLDOPTS" pq "$PORT" crash -f "$REL_DIR/crash/schema.sql" >/dev/null || exit 1
key_old=$(PGOPTIONS="$OLDOPTS" pq "$PORT" crash -c "SELECT current_key_id()")
key_new=$(PGOPTIONS="$NEWOPTS" pq "$PORT" crash -c "SELECT current_key_id()")

total_acked=0
total_committed=0
total_rows=0
total_kills=0

# Read acknowledged transactions per client from this round's pgbench logs.
load_acked() {
	local epoch=$1
	cat "$REL_TMP"/txlog-"$epoch".* 2>/dev/null |
		awk -v e="$epoch" -v n="$CLIENTS" '
			$3 ~ /^[0-9]+$/ { a[$1]++ }
			END { for (c = 0; c < n; c++) printf "%d\t%d\t%d\n", e, c, a[c] + 0 }' |
		pq "$PORT" crash -c "COPY acked FROM STDIN"
}

ledger_rows() {
	pq "$PORT" crash -c "SELECT count(*) FROM ledger WHERE epoch = $1" 2>/dev/null || echo 0
}

for ((epoch = 1; epoch <= ROUNDS; epoch++)); do
	PGOPTIONS="$OLDOPTS" pq "$PORT" crash -c "INSERT INTO stock
		SELECT $epoch, c, s, encrypt(payload($epoch, c, s, -1))
		FROM generate_series(0, $((CLIENTS - 1))) c, generate_series(1, $STOCK) s" || exit 1
	pq "$PORT" crash -c "CHECKPOINT" || exit 1

	PGOPTIONS="$NEWOPTS" "$PG_BINDIR/pgbench" -h "$REL_TMP" -p "$PORT" -U postgres -n \
		-c "$CLIENTS" -j 2 -T $((ROUND_CAP * 4)) -M prepared \
		-D epoch="$epoch" -D seq=0 \
		-l --log-prefix="$REL_TMP/txlog-$epoch" \
		-f "$REL_DIR/crash/workload.pgbench" crash \
		>"$REL_TMP/pgbench-$epoch.out" 2>&1 &
	bench=$!

	# let it run until enough has committed, then kill everything at once
	start=$SECONDS
	while kill -0 "$bench" 2>/dev/null && ((SECONDS - start < ROUND_CAP)); do
		(($(ledger_rows "$epoch") >= KILL_AFTER_ROWS)) && break
		sleep 0.5
	done
	check "round $epoch: pgbench still running at the kill" kill -0 "$bench"
	pm=$(head -n 1 "$REL_TMP/crash/postmaster.pid")
	children=$(pgrep -P "$pm" | tr '\n' ' ')
	# shellcheck disable=SC2086
	kill -KILL "$pm" $children
	total_kills=$((total_kills + 1))
	wait "$bench"
	bench_status=$?
	check "round $epoch: pgbench ended by the crash (status $bench_status)" [ "$bench_status" != 0 ]
	check "round $epoch: no in-transaction read found a wrong value" \
		not grep -q "division by zero" "$REL_TMP/pgbench-$epoch.out"

	wait_for 60 bash -c '! pgrep -P "$1" >/dev/null && ! kill -0 "$1" 2>/dev/null' _ "$pm" ||
		{ echo "old server processes did not go away"; exit 1; }
	as_pg rm -f "$REL_TMP/crash/postmaster.pid"
	cluster_start crash "$PORT" || exit 1
	check "round $epoch: restart ran crash recovery" \
		grep -q "database system was interrupted\|automatic recovery in progress" "$REL_TMP/crash.log"

	load_acked "$epoch" || exit 1
	out=$(PGOPTIONS="$NEWOPTS" pq "$PORT" crash -F ' ' -v key_old="$key_old" -v key_new="$key_new" \
		-f "$REL_DIR/crash/verify.sql") || exit 1
	read -r lost phantom gaps bad_ledger bad_stock bad_hot bad_ghost acked committed rows rotated <<<"$out"
	check_eq "round $epoch: no acknowledged transaction lost" 0 "$lost"
	check_eq "round $epoch: at most the in-flight transaction beyond the acknowledged" 0 "$phantom"
	check_eq "round $epoch: every client's transactions form an unbroken sequence" 0 "$gaps"
	check_eq "round $epoch: ledger values and generations as committed" 0 "$bad_ledger"
	check_eq "round $epoch: re-encrypted rows under the new key, the rest under the old" 0 "$bad_stock"
	check_eq "round $epoch: contended counters match their encrypted copies and the commits" 0 "$bad_hot"
	check_eq "round $epoch: no rolled-back row visible" 0 "$bad_ghost"
	check "round $epoch: work was done before the kill ($acked acknowledged)" [ "$acked" -gt 0 ]

	"$PG_BINDIR/pg_amcheck" -h "$REL_TMP" -p "$PORT" -U postgres -d crash \
		--heapallindexed --parent-check --rootdescend --progress \
		>"$REL_TMP/amcheck-$epoch.out" 2>&1
	check "round $epoch: pg_amcheck finds no corruption in heaps, TOAST and indexes" [ $? = 0 ]
	check "round $epoch: pg_amcheck reports nothing" \
		not grep -q -i "corrupt\|error" "$REL_TMP/amcheck-$epoch.out"

	say "round $epoch: so far $acked acknowledged, $committed committed, $rows rows verified, $rotated re-encrypted"
	total_acked=$acked
	total_committed=$committed
	total_rows=$rows
done

check "no output or log holds a key (no 8-character slice of one)" \
	not grep -a -q -i -E "$(key_slices_re "$KEY1" "$KEY2")" "$REL_TMP"/*.log "$REL_TMP"/*.out
say "figures: $total_kills SIGKILLs under $CLIENTS clients, $total_acked transactions acknowledged, $total_committed committed and verified, $total_rows rows verified after the last crash"
rel_finish
