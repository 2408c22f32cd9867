#!/usr/bin/env bash
# The benchmark on every supported platform, side by side.
#
#   bash bench/platforms.sh [bench.py options, default --quick]
#
# Runs bench/run.sh (which builds, starts a throwaway cluster and measures,
# the crypto floor of bench/gcm_floor.c included) on this machine and, for
# every other version in scripts/platforms, inside the Debian chroot that
# scripts/chroot.sh makes (root only).  Each platform's results.md goes to
# bench/results/platforms/PG-MAJOR.md with the platform named at its top.
# A benchmark, not a test: CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/platform.sh

args=("$@")
((${#args[@]})) || args=(--quick)
out=bench/results/platforms
mkdir -p "$out"

for v in "${EC_VERSIONS[@]}"; do
	echo "=== PostgreSQL $v (Debian ${EC_RELEASE[$v]})"
	if [[ $v == "$EC_NATIVE_PG" ]]; then
		dir=$(mktemp -d)
		bash bench/run.sh "${args[@]}" --out "$dir"
		openssl=$(openssl version)
	else
		dir=build/chroot/${EC_RELEASE[$v]}/tmp/ec-bench-out
		rm -rf "$dir"
		bash scripts/chroot.sh "$v" bash bench/run.sh "${args[@]}" --out /tmp/ec-bench-out
		openssl=$(chroot "build/chroot/${EC_RELEASE[$v]}" openssl version)
	fi
	{
		echo "# PostgreSQL $v on Debian ${EC_RELEASE[$v]}, $openssl"
		echo
		cat "$dir/results.md"
	} >"$out/$v.md"
	rm -rf "$dir"
done
ls -l "$out"
