#!/usr/bin/env bash
# Run every test suite of encrypted_column on this machine.
#
# Installs missing Debian packages, builds with -Wall -Wextra -Werror,
# installs the extension, and runs the suites against throwaway clusters
# made by pg_virtualenv: pg_regress and pgTAP once with the library loaded
# on first use and once from shared_preload_libraries, then the suites in
# scripts/suites.d/ (each gets a cluster of its own).  Ends with a line
# "suites: N passed, M failed" and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

sudo=()
((EUID == 0)) || sudo=(sudo)

bash scripts/install-deps.sh || exit 1
make -s clean >/dev/null
make -s PG_CFLAGS="-Wall -Wextra -Werror" || exit 1
"${sudo[@]}" make -s install >/dev/null || exit 1

passed=0
failed=0
failures=()

# Run one named suite; count it.
suite() {
	local name=$1
	shift
	echo "=== suite: $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== suite $name: passed"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== suite $name: FAILED"
	fi
}

suite "core (loaded on first use)" \
	pg_virtualenv -v 15 bash scripts/run-core-suites.sh
suite "core (shared_preload_libraries)" \
	pg_virtualenv -v 15 -o shared_preload_libraries=encrypted_column \
	bash scripts/run-core-suites.sh

for s in scripts/suites.d/*.sh; do
	[[ -e $s ]] || continue
	suite "$(basename "$s" .sh)" bash "$s"
done

((failed == 0)) || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
((failed == 0))
