#!/usr/bin/env bash
# Build encrypted_column and run its test suites on every supported
# PostgreSQL version.
#
#   bash scripts/test.sh [--pg MAJOR]... [--suite NAME]...
#
# Without --pg: every version in scripts/platforms.  The version this
# machine's Debian release ships runs every suite; each other version runs
# the suites marked "all" below inside a Debian chroot that
# scripts/chroot.sh makes with debootstrap (run as another user than
# root, it asks sudo, as the package installs do).  --suite limits
# the run to the named suites.  For each version the command installs the
# packages it needs, builds with -Wall -Wextra -Werror, installs the
# extension and runs the suites; each suite is one file in test/suites/
# and gets the version in PG_MAJOR.  A suite exits 0 (passed), 77
# (skipped: it cannot run here, and says why) or anything else (failed).
# Prints one summary line per version and ends with
# "suites: N passed, M failed, K skipped"; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/platform.sh

# The suites, in the order they run.
#   name          versions  time limit (s)  what it tests
SUITES=(
	"unit         all   120  crypto layer outside PostgreSQL (nonce pool, fork; size limit)"
	"core         all   900  pg_regress and pgTAP, loaded on first use and preloaded"
	"leak_audit   all   300  keys and plaintexts in logs, statistics, activity"
	"guards       all   300  restore switch as a privilege; prepared plans after a key change"
	"redact       all   300  key masking by the scanner, statistics guard, COPY errors in German"
	"audit        all   300  who used which stored key: exact counts per role and key, parallel and rolled back, reset, overflow, privileges, not preloaded"
	"dump_restore host  300  pg_dump and pg_restore in every format"
	"replication  host  300  physical and logical replication"
	"crash        host  300  SIGKILL of the postmaster under load"
	"fuzz         host  660  libFuzzer on the envelope and text-form parsers (term blocks too), the KMIP reader, the PKCS#11 URI parser and the trigrams of values and LIKE patterns"
	"sql_fuzz     host  300  random SQL, parameters and COPY against a server"
	"python       host  600  migration readers and the SQLAlchemy type"
	"pgbouncer    host  300  PgBouncer in session and transaction mode, two keys"
	"stored_keys  all   300  stored keys under file and command KEKs: refusals, rotate_kek, dump, erasure, logical replication"
	"drivers      host  600  psycopg 3, psycopg2, node-postgres and PgJDBC recipes"
	"kmip         host  300  kmip:// key-encryption keys from a PyKMIP server over mutual TLS"
	"hsm          all   300  stored keys under a KEK in a SoftHSM2 token: wrap, unwrap, rotate_kek, bad sources"
	"citus        all   300  Citus coordinator and three workers (skipped where Citus is not installed)"
	"chroot       host  600  scripts/chroot.sh mends a chroot that an interrupted run left broken"
	"deb          all  1200  Debian package: build, contents, install, pg_regress, removal"
)

versions=()
only=()
while (($#)); do
	case $1 in
	--pg) versions+=("${2:?--pg needs a version}"); shift 2 ;;
	--suite) only+=("${2:?--suite needs a name}"); shift 2 ;;
	-h | --help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--pg MAJOR]... [--suite NAME]..." >&2; exit 2 ;;
	esac
done
((${#versions[@]})) || versions=("${EC_VERSIONS[@]}")
for v in "${versions[@]}"; do
	[[ -n ${EC_RELEASE[$v]:-} ]] || { echo "PostgreSQL $v is not supported (scripts/platforms)" >&2; exit 2; }
done

sudo=()
((EUID == 0)) || sudo=(sudo)

# Is suite $1 (scope $2) to run on version $3?
wanted() {
	local name=$1 scope=$2 v=$3 o
	if ((${#only[@]})); then
		for o in "${only[@]}"; do [[ $o == "$name" ]] && return 0; done
		return 1
	fi
	[[ $scope == all || $v == "$EC_NATIVE_PG" ]]
}

# Build, install and run the wanted suites on this machine's version $1;
# prints "PostgreSQL V: ..." and the closing line of the run.
run_here() {
	local v=$1 passed=0 failed=0 skipped=0 failures=() skips=() line name scope limit rc why
	local suite_out
	suite_out=$(mktemp)
	local pg_config=/usr/lib/postgresql/$v/bin/pg_config
	local full=
	for line in "${SUITES[@]}"; do
		read -r name scope limit _ <<<"$line"
		wanted "$name" "$scope" "$v" && [[ $scope == host ]] && full=--full
	done
	bash scripts/install-deps.sh "$v" $full || return 1
	echo "=== PostgreSQL $v: build with -Wall -Wextra -Werror"
	make -s clean PG_CONFIG="$pg_config" >/dev/null
	make -s PG_CONFIG="$pg_config" PG_CFLAGS="-Wall -Wextra -Werror" || {
		echo "PostgreSQL $v: build failed"
		return 1
	}
	"${sudo[@]}" make -s install PG_CONFIG="$pg_config" >/dev/null || return 1
	for line in "${SUITES[@]}"; do
		read -r name scope limit _ <<<"$line"
		wanted "$name" "$scope" "$v" || continue
		echo "=== PostgreSQL $v: suite $name"
		PG_MAJOR=$v PG_CONFIG=$pg_config timeout -k 10 "$limit" bash "test/suites/$name.sh" 2>&1 |
			tee "$suite_out"
		rc=${PIPESTATUS[0]}
		# a skip counts only with its reason: the suite's last line that
		# says "skipped", with more on it than that word
		if ((rc == 77)); then
			why=$(grep -a -i 'skipped' "$suite_out" | tail -n 1)
			if [[ -z $(sed -E 's/skipped//Ig; s/[^[:alnum:]]//g' <<<"$why") ]]; then
				echo "=== PostgreSQL $v: suite $name skipped without saying why: counted as failed"
				rc=1
			fi
		fi
		case $rc in
		0) passed=$((passed + 1)); echo "=== PostgreSQL $v: suite $name passed" ;;
		77) skipped=$((skipped + 1)); skips+=("$name")
			echo "=== PostgreSQL $v: suite $name skipped ($why)" ;;
		*) failed=$((failed + 1)); failures+=("$name")
			echo "=== PostgreSQL $v: suite $name FAILED (exit $rc)" ;;
		esac
	done
	rm -f "$suite_out"
	echo "PostgreSQL $v: $passed passed, $failed failed, $skipped skipped${failures:+ (failed: ${failures[*]})}${skips:+ (skipped: ${skips[*]})}"
	((failed == 0))
}

if ((${#versions[@]} == 1)) && [[ ${versions[0]} == "$EC_NATIVE_PG" ]]; then
	out=$(mktemp)
	run_here "$EC_NATIVE_PG" | tee "$out"
	rc=${PIPESTATUS[0]}
	summary=$(grep -E "^PostgreSQL $EC_NATIVE_PG: [0-9]+ passed" "$out" | tail -n 1)
	rm -f "$out"
	[[ -n $summary ]] || {
		summary="PostgreSQL $EC_NATIVE_PG: 0 passed, 1 failed, 0 skipped (did not build)"
		echo "$summary"
	}
	read -r p f s <<<"$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"$summary")"
	((rc == 0)) || ((f > 0)) || f=1
	echo "suites: $p passed, $f failed, $s skipped"
	exit $((f > 0))
fi

# Several versions, or one that is not this machine's: one run each, the
# others in their chroots; the per-version lines are repeated at the end.
summaries=()
tp=0 tf=0 ts=0
for v in "${versions[@]}"; do
	args=()
	for o in "${only[@]}"; do args+=(--suite "$o"); done
	# another version runs the suites marked "all", unless told which
	if ((${#only[@]} == 0)) && [[ $v != "$EC_NATIVE_PG" ]]; then
		for line in "${SUITES[@]}"; do
			read -r name scope _ <<<"$line"
			[[ $scope == all ]] && args+=(--suite "$name")
		done
	fi
	out=$(mktemp)
	if [[ $v == "$EC_NATIVE_PG" ]]; then
		bash scripts/test.sh --pg "$v" "${args[@]}"
	else
		echo "=== PostgreSQL $v: in a Debian ${EC_RELEASE[$v]} chroot"
		bash scripts/chroot.sh "$v" bash scripts/test.sh --pg "$v" "${args[@]}"
	fi 2>&1 | tee "$out"
	line=$(grep -E "^PostgreSQL $v: [0-9]+ passed" "$out" | tail -n 1)
	rm -f "$out"
	[[ -n $line ]] || line="PostgreSQL $v: 0 passed, 1 failed, 0 skipped (did not run)"
	summaries+=("$line")
	read -r p f s <<<"$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"$line")"
	tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
done
echo
printf '%s\n' "${summaries[@]}"
echo "suites: $tp passed, $tf failed, $ts skipped"
((tf == 0))
