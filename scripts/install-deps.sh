#!/usr/bin/env bash
# Install the Debian packages that building and testing need.
#
#   bash scripts/install-deps.sh [MAJOR] [--full]
#
# MAJOR is the PostgreSQL major to build against (default: the one this
# machine's Debian release ships, from scripts/platforms).  Without --full
# only what the build and the core suites need; with --full also what the
# other suites need (fuzzing, valgrind, Python, chroots).  Does nothing
# when all are present; otherwise needs root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/platform.sh

major=$EC_NATIVE_PG
full=0
for a in "$@"; do
	case $a in
	--full) full=1 ;;
	[0-9]*) major=$a ;;
	*) echo "usage: $0 [MAJOR] [--full]" >&2; exit 2 ;;
	esac
done
[[ -n $major ]] || { echo "install-deps: no PostgreSQL major given and none known for this release" >&2; exit 2; }

# libkrb5-dev: PostgreSQL 18's libpq/libpq-be.h (read by src/citus.c)
# includes the GSSAPI headers, which its server-dev package does not pull in;
# libp11-kit-dev: the PKCS#11 header that src/kek_pkcs11.c includes (the
# token's module is loaded at run time, never linked); softhsm2 and opensc
# (pkcs11-tool): the token that the hsm suite makes on every version
packages=(
	make gcc libssl-dev libpq-dev openssl libkrb5-dev libp11-kit-dev
	softhsm2 opensc
	"postgresql-$major" "postgresql-server-dev-$major" postgresql-common
	"postgresql-$major-pgtap" libtap-parser-sourcehandler-pgtap-perl
)
if ((full)); then
	packages+=(
		clang libclang-rt-dev llvm valgrind debootstrap locales
		python3 python3-pytest python3-sqlalchemy python3-sqlalchemy-utils
		python3-cryptography python3-psycopg2 python3-psycopg python3-alembic pgbouncer
		python3-pykmip
		python3-flask-migrate python3-flask-sqlalchemy
		libpostgresql-jdbc-java default-jdk-headless
	)
	# node-postgres comes from the npm registry at test time; a node
	# from elsewhere (NodeSource) brings its own npm
	command -v npm >/dev/null || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
((EUID == 0)) || sudo=(sudo)
echo "installing: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
	--no-install-recommends "${missing[@]}" >/dev/null
