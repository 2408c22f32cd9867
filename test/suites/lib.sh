# Shared helpers for the suites in this folder; source it, do not run it.
#
# Each suite makes one private temporary directory, starts its own
# PostgreSQL $PG_MAJOR postmasters in it (initdb, pg_ctl) listening on 127.0.0.1
# and on a socket in that directory, and removes everything on exit.
# Servers run as the postgres user when the suite runs as root.
#
# Check helpers count passes and failures; rel_finish prints the summary
# and gives the suite's exit status.

set -uo pipefail

REL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$REL_DIR/../.." && pwd)
PG_MAJOR=${PG_MAJOR:-$(pg_config --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}

# Fixed test keys (test data only, never used anywhere else).
KEY1=9b6d408ee91914345e415f977705543953132d61f6d478a2b2cf401a54182051
KEY2=bacba701ec436a12e7b0d41d82ca863ecdfc2abde0e96de4b187e41d6c4d5cab
KEY3=8b14effb91c061c42805993536f230faa3d2701e2f81fb821a4daa6359bb8b2d

REL_PASS=0
REL_FAIL=0
REL_NA=0
REL_NAME=${REL_NAME:-reliability}
REL_TMP=""

# Print a line with the suite name and elapsed seconds.
say() {
	printf '[%s %3ds] %s\n' "$REL_NAME" "$SECONDS" "$*"
}

# Record one check: check "description" command [args...]
check() {
	local desc=$1
	shift
	if "$@"; then
		REL_PASS=$((REL_PASS + 1))
		printf 'ok     - %s\n' "$desc"
	else
		REL_FAIL=$((REL_FAIL + 1))
		printf 'NOT OK - %s\n' "$desc"
	fi
}

# Record an equality check without printing either value.
check_eq() {
	local desc=$1 want=$2 got=$3
	if [[ $want == "$got" ]]; then
		REL_PASS=$((REL_PASS + 1))
		printf 'ok     - %s\n' "$desc"
	else
		REL_FAIL=$((REL_FAIL + 1))
		printf 'NOT OK - %s (want %s, got %s)\n' "$desc" "$want" "$got"
	fi
}

# Record a check that cannot mean anything here (its control did not
# hold), or a part of the suite that cannot run here, neither passed nor
# failed: not_applicable "description" "why".  The reason is required: a
# part left out without one counts as a failure.
not_applicable() {
	local desc=$1 why=${2:-}
	if [[ -z ${why//[[:space:]]/} ]]; then
		REL_FAIL=$((REL_FAIL + 1))
		printf 'NOT OK - %s (left out without a reason)\n' "$desc"
		return
	fi
	REL_NA=$((REL_NA + 1))
	REL_NA_LIST+=("$desc: $why")
	printf 'n/a    - %s (not applicable: %s)\n' "$desc" "$why"
}
REL_NA_LIST=()

# Skip the whole suite: print why and leave with status 77, which the test
# command counts as skipped, never as passed.  rel_skip "why"; without a
# reason it is a failure (status 1).
rel_skip() {
	local why=${1:-}
	if [[ -z ${why//[[:space:]]/} ]]; then
		echo "$REL_NAME: asked to skip without a reason; counted as failed"
		exit 1
	fi
	echo "skipped: $why"
	exit 77
}

# Print "name: N passed, M failed" (and the parts not applicable, with
# their reasons, which count neither way) and return non-zero on any
# failure or when nothing passed.
rel_finish() {
	say "done in ${SECONDS}s"
	local na="" n
	((REL_NA > 0)) && na=", $REL_NA not applicable (not counted as passed)"
	for n in "${REL_NA_LIST[@]}"; do
		echo "not applicable: $n"
	done
	echo "$REL_NAME checks: $REL_PASS passed, $REL_FAIL failed$na"
	((REL_FAIL == 0 && REL_PASS > 0))
}

# Run a command as the server's OS user (from /, which it can enter,
# wherever the checkout is).
as_pg() {
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Make the private temporary directory and install the cleanup trap.
rel_init() {
	REL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ec-rel.XXXXXX")
	chmod 0755 "$REL_TMP"
	((EUID == 0)) && chown postgres: "$REL_TMP"
	trap rel_cleanup EXIT
	trap 'exit 143' TERM INT HUP
}

# Stop every cluster this suite started and remove the temporary directory.
rel_cleanup() {
	local d
	if [[ -f $REL_TMP/.clusters ]]; then
		while read -r d; do
			[[ -f $d/postmaster.pid ]] &&
				as_pg "$PG_BINDIR/pg_ctl" -D "$d" -m immediate -w -t 30 stop >/dev/null 2>&1
		done <"$REL_TMP/.clusters"
	fi
	if [[ -n $REL_TMP && -d $REL_TMP ]]; then
		if [[ ${EC_KEEP_TMP:-0} == 1 ]]; then
			echo "kept $REL_TMP"
		else
			rm -rf "$REL_TMP"
		fi
	fi
}

# Is a TCP port on 127.0.0.1 free?
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print the first free port at or above $1 (within 200): nothing listens
# on it and no socket of this suite is named after it.  Another program may
# still take it before the server binds it: cluster_up tries again then.
free_port() {
	local p
	for ((p = $1; p < $1 + 200 && p < 65536; p++)); do
		if port_free "$p" && [[ ! -e $REL_TMP/.s.PGSQL.$p ]]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Have rel_cleanup stop the cluster in data directory $1 (recorded in a
# file, so that it holds for clusters made in a subshell too).
cluster_track() {
	echo "$1" >>"$REL_TMP/.clusters"
}

# initdb a cluster in $REL_TMP/$1 with trust authentication on loopback.
# Extra postgresql.conf lines come on standard input.
cluster_init() {
	local dir=$REL_TMP/$1
	as_pg "$PG_BINDIR/initdb" -D "$dir" -U postgres --auth=trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$REL_TMP/$1.initdb.log" 2>&1 || {
		cat "$REL_TMP/$1.initdb.log"
		return 1
	}
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$REL_TMP'"
		echo "fsync = on"
		echo "max_connections = 40"
		cat
	} | as_pg tee -a "$dir/postgresql.conf" >/dev/null
	cluster_track "$dir"
}

# Start the cluster in $REL_TMP/$1 on port $2; its log is $REL_TMP/$1.log.
cluster_start() {
	local dir=$REL_TMP/$1 port=$2
	as_pg "$PG_BINDIR/pg_ctl" -D "$dir" -l "$REL_TMP/$1.log" -w -t 120 \
		-o "-p $port" start >/dev/null || {
		tail -n 30 "$REL_TMP/$1.log"
		return 1
	}
}

# Start the cluster in $REL_TMP/$1 on the first free port from $2 and
# print the port.  When another program took the port between the look
# and the bind (the postmaster's lock on its socket or its TCP address
# failed), the next free port is tried, up to five times.
cluster_start_free() {
	local name=$1 port=$2 try off
	for try in 1 2 3 4 5; do
		port=$(free_port "$port") || { echo "no free port from $2" >&2; return 1; }
		off=0
		[[ -f $REL_TMP/$name.log ]] && off=$(file_size "$REL_TMP/$name.log")
		if as_pg "$PG_BINDIR/pg_ctl" -D "$REL_TMP/$name" -l "$REL_TMP/$name.log" -w -t 120 \
			-o "-p $port" start >/dev/null; then
			echo "$port"
			return 0
		fi
		if ! has_since "$REL_TMP/$name.log" "$off" 'could not (bind|create lock file)|Address already in use'; then
			tail -n 30 "$REL_TMP/$name.log" >&2
			return 1
		fi
		echo "port $port was taken before the server could bind it; trying another" >&2
		port=$((port + 1))
	done
	tail -n 30 "$REL_TMP/$name.log" >&2
	return 1
}

# Make and start a cluster: cluster_up NAME BASEPORT, extra postgresql.conf
# lines on standard input.  Prints its port, the first free one from
# BASEPORT; fails, saying why on standard error, when it cannot.
cluster_up() {
	cluster_init "$1" >&2 || return 1
	cluster_start_free "$1" "$2"
}

# Stop the cluster in $REL_TMP/$1 cleanly.
cluster_stop() {
	as_pg "$PG_BINDIR/pg_ctl" -D "$REL_TMP/$1" -m fast -w -t 120 stop >/dev/null
}

# psql against a port, quiet and unaligned, stopping at the first error.
# Usage: pq PORT DB [psql args...]
pq() {
	local port=$1 db=$2
	shift 2
	"$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$REL_TMP" -p "$port" -U postgres -d "$db" "$@"
}

# The SQLSTATE of the last statement that failed, 00000 when none did
# (psql's LAST_ERROR_SQLSTATE), nothing when psql could not connect; the
# error output goes to $REL_TMP/sqlstate.err.  The statements come as psql
# arguments, which may also override the user (-U).
# Usage: sqlstate PORT DB [psql args...]
sqlstate() {
	local port=$1 db=$2
	shift 2
	"$PG_BINDIR/psql" -X -q -A -t -h "$REL_TMP" -p "$port" -U postgres -d "$db" "$@" \
		-c '\echo :LAST_ERROR_SQLSTATE' 2>"$REL_TMP/sqlstate.err" | tail -n 1
}

# Does the file or directory tree contain the fixed string?  (binary-safe)
tree_has() {
	grep -r -a -q -F -e "$2" "$1" 2>/dev/null
}

# Succeed when the command finds nothing (exit status 1), as in
# check "no X" not grep -q X FILE; an error (status 2 and above, such as
# grep's for a missing file) is a failure too.
not() {
	"$@"
	(($? == 1))
}

# Does the server log $1 show no crash: no backend ended by a signal, no
# PANIC, no failed assertion, no restart after a crash?
no_crash() {
	not grep -a -q -E "terminated by signal|was terminated|PANIC|TRAP:|all server processes terminated" "$1"
}

# Slices of keys, for searches that must also find a partly masked key.
# key_slices [-w WIDTH] [-t FUNC] STRING...: each string cut into pieces
# of WIDTH characters (default 8; the last piece is the string's last
# WIDTH characters), one a line, each passed through FUNC when given (for
# a key's escaped spellings: FUNC gets a slice of the key and prints its
# escaped form).  With width 8 a key of 64 hex digits of which only the
# first or the last 8 are left unmasked is still found, and any 15
# characters of it in a row.
key_slices() {
	local w=8 fn="" s i len
	while (($#)); do
		case $1 in
		-w) w=$2; shift 2 ;;
		-t) fn=$2; shift 2 ;;
		*) break ;;
		esac
	done
	for s in "$@"; do
		len=${#s}
		((len >= w)) || continue
		for ((i = 0; i + w <= len; i += w)); do
			if [[ -n $fn ]]; then "$fn" "${s:i:w}"; echo; else echo "${s:i:w}"; fi
		done
		if ((len % w)); then
			if [[ -n $fn ]]; then "$fn" "${s:len-w:w}"; echo; else echo "${s:len-w:w}"; fi
		fi
	done
}

# An extended regex (for grep -E -i) that matches any slice of the keys:
# key_slices_re [-w WIDTH] [-t FUNC] STRING...
key_slices_re() {
	key_slices "$@" | sed -e 's/[][\\.*^$+?(){}|]/\\&/g' | paste -s -d '|'
}

# Any slice of the three test keys, for searches of logs and outputs.
KEYS_RE=$(key_slices_re "$KEY1" "$KEY2" "$KEY3")

# Reading what a file (a server log) gained after an offset:
# file_size FILE prints the offset to remember, since FILE OFF prints what
# came after it.
file_size() {
	stat -c %s "$1"
}
since() {
	tail -c +"$(($2 + 1))" "$1"
}

# Does what FILE gained since offset OFF match the extended regex?
# has_since FILE OFF REGEX (binary-safe; for check)
has_since() {
	grep -a -q -E -e "$3" < <(since "$1" "$2")
}

# How many lines of FILE match the extended regex, in any case (binary-safe;
# nothing when the file cannot be read): count_in FILE REGEX
count_in() {
	grep -a -c -i -E -e "$2" "$1" 2>/dev/null || true
}

# Wait, at most $1 seconds, until the command succeeds.
wait_for() {
	local limit=$1
	shift
	local end=$((SECONDS + limit))
	until "$@"; do
		((SECONDS >= end)) && return 1
		sleep 0.2
	done
}
