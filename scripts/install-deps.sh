#!/usr/bin/env bash
# Install the Debian 12 packages that building, the demo and the tests need.
# Does nothing when they are all present; otherwise needs root or sudo.
set -euo pipefail

packages=(
	make gcc clang libclang-rt-14-dev llvm
	libssl-dev libpq-dev valgrind
	postgresql-15 postgresql-server-dev-15 postgresql-contrib
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	python3 python3-pytest python3-sqlalchemy python3-sqlalchemy-utils
	python3-cryptography python3-psycopg2 python3-pip
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
((EUID == 0)) || sudo=(sudo)
echo "installing: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
