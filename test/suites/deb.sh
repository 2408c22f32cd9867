#!/usr/bin/env bash
# Suite "deb": the Debian package, built, inspected, installed and tested.
#
# For the PostgreSQL major version in PG_MAJOR (default: the one pg_config
# reports) this suite
#   1. installs what building the package needs, if missing (apt-get);
#   2. copies the tracked files of the tree into a home directory of mode
#      0700 (as root's is; the working tree is not touched) and runs there
#      the README's command, literally: "pg_buildext updatecontrol &&
#      dpkg-buildpackage -us -uc -b", regression tests included, for the
#      versions the system supports;
#   3. checks the package: its control fields, that it holds exactly the
#      files "make install" installs, a shared library that PostgreSQL can
#      load, an install script for every extension's default version, and
#      that the build did not turn warnings into errors (-Werror);
#   4. installs it, starts a throwaway cluster (pg_virtualenv) and runs
#      the pg_regress suite of the tree's sql/ against the installed files,
#      then the package's own test (debian/tests/installcheck);
#   5. removes the package, so the system is left as it was found.
#
# The package installs into the same directories as "make install".  Once
# the package is removed the extension's files are gone from the system, so
# at the end this suite runs "make install" from the tree again, for the
# suites that run after it.  Hold the install lock around it, as around any
# "make install".
#
# Needs root or password-less sudo (apt-get, dpkg); skipped otherwise.
# Prints one ok / NOT OK line per check and "deb checks: N passed, M failed";
# exit status 0 passed, 77 skipped, anything else failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

sudo=()
if ((EUID != 0)); then
	if sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	else
		echo "deb: needs root or password-less sudo, skipped"
		exit 77
	fi
fi

if [[ -z ${PG_MAJOR:-} ]]; then
	if ! command -v pg_config >/dev/null; then
		echo "deb: PG_MAJOR is not set and there is no pg_config, skipped"
		exit 77
	fi
	PG_MAJOR=$(pg_config --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
fi
pg_config=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
pkg=postgresql-$PG_MAJOR-encrypted-column

passed=0
failed=0

# Record one check: check "description" command [args...]
check() {
	local desc=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok - $desc"
	else
		failed=$((failed + 1))
		echo "NOT OK - $desc"
		return 1
	fi
}

# Print the summary line and leave with the suite's status.
finish() {
	echo "deb checks: $passed passed, $failed failed"
	((failed == 0 && passed > 0))
	exit $?
}

# Names of the Debian packages installed now, one a line, sorted.
installed_packages() {
	dpkg-query -W -f='${db:Status-Status} ${Package}\n' | sed -n 's/^installed //p' | sort
}

tmp=$(mktemp -d -t ec-deb.XXXXXX)
chmod 755 "$tmp"
ours=""
# On any exit: a package this suite installed and did not remove yet (the
# suite was stopped half way) is removed, and make install run again.
cleanup() {
	if [[ -n $ours ]]; then
		echo "deb: removing $pkg and running make install from the tree again"
		"${sudo[@]}" dpkg -r "$pkg" >/dev/null 2>&1
		"${sudo[@]}" make -s -C "$root" install PG_CONFIG="$pg_config" >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -q '^installed'; then
	echo "deb: $pkg is already installed; remove it (dpkg -r $pkg) before running this suite"
	failed=1
	finish
fi

# 1. Build dependencies.  The package's own list (debian/control.in) is
# checked again by dpkg-checkbuilddeps below.
needed=(build-essential make gcc dpkg-dev debhelper fakeroot libssl-dev libkrb5-dev
	postgresql-common postgresql-server-dev-all
	"postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR")
missing=()
for p in "${needed[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
before=$(installed_packages)
if ((${#missing[@]} > 0)); then
	echo "deb: installing ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >"$tmp/apt.log" 2>&1 ||
		cat "$tmp/apt.log"
fi
added=$(comm -13 <(echo "$before") <(installed_packages) | tr '\n' ' ')
echo "deb: apt packages installed by this suite: ${added:-none}"
check "build dependencies present" test -x "$pg_config" -a -x /usr/bin/dh || finish

# 2. A clean copy: the tracked files as they are in the working tree, or the
# whole tree when this is not a git checkout, in a home directory that only
# its owner may enter (the servers of the build's tests run as postgres).
home=$tmp/home
mkdir -m 0700 "$home"
src=$home/encrypted_column
mkdir -p "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$root" ls-files -z | while IFS= read -r -d '' f; do
		[[ -e $f ]] && printf '%s\0' "$f"
	done | xargs -0 cp --parents -t "$src"
else
	cp -a "$root/." "$src"
	rm -f "$src/debian/control"
fi

# A fresh machine has no copy of the extension in PostgreSQL's own
# directories, and the build's tests must not lean on one (the test
# command's "make install" put one there): it goes for the build and comes
# back at the end, or on any exit before.
ours=1
"${sudo[@]}" env -u CFLAGS -u COPT make -s -C "$root" uninstall PG_CONFIG="$pg_config" >"$tmp/uninstall.log" 2>&1
check "no copy of the extension in PostgreSQL's directories before the build" \
	test ! -e "$("$pg_config" --sharedir)/extension/encrypted_column.control" -a \
	! -e "$("$pg_config" --pkglibdir)/encrypted_column.so" || cat "$tmp/uninstall.log"

# The README's command as a user types it: the build's own regression
# tests run (no nocheck), for the versions the system supports, with HOME
# the 0700 directory.  Only the compiler settings of this test command's
# environment are left out.
build_env=(env -u CFLAGS -u COPT -u PG_CFLAGS -u PG_CPPFLAGS -u PROFILE
	-u DEB_BUILD_OPTIONS -u PG_SUPPORTED_VERSIONS -u PGPORT -u PGHOST HOME="$home")
(cd "$src" && "${build_env[@]}" sh -c "pg_buildext updatecontrol && dpkg-checkbuilddeps") >"$tmp/control.log" 2>&1
check "build dependencies of debian/control.in satisfied (the README's list)" test $? -eq 0 ||
	cat "$tmp/control.log"
start=$SECONDS
(cd "$src" && timeout 900 "${build_env[@]}" sh -c \
	'pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b') >"$tmp/build.log" 2>&1
status=$?
check "pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b, in a 0700 home ($((SECONDS - start)) s)" \
	test $status -eq 0
if ((status != 0)); then
	tail -60 "$tmp/build.log"
	finish
fi
nreg=$(grep -cE '^(ok|not ok) |^test .* \.\.\. ' "$tmp/build.log")
check "the build ran its regression tests against a throwaway cluster ($nreg tests)" \
	test "$nreg" -gt 0 -a "$(grep -c 'installcheck' "$tmp/build.log")" -gt 0

# 3. The package.
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$src/encrypted_column.control")
arch=$(dpkg --print-architecture)
debs=("$home"/"${pkg}"_*_"$arch".deb)
deb=${debs[0]}
check "one package file, $(basename "$deb")" test ${#debs[@]} -eq 1 -a -f "$deb"
[[ -f $deb ]] || finish
echo "deb: $(basename "$deb"), $(stat -c %s "$deb") bytes"

field() {
	dpkg-deb -f "$deb" "$1"
}
check "Package is $pkg" test "$(field Package)" = "$pkg"
check "upstream version is the control file's default_version ($version)" \
	test "$(field Version | sed 's/-[^-]*$//')" = "$version"
check "Architecture is $arch" test "$(field Architecture)" = "$arch"
check "Depends on postgresql-$PG_MAJOR and the C library" \
	bash -c '[[ "$1" =~ (^|, )postgresql-'"$PG_MAJOR"'( |,|$) && "$1" =~ libc6 ]]' _ "$(field Depends)"
check "Depends on OpenSSL's library" bash -c '[[ "$1" =~ libssl ]]' _ "$(field Depends)"

dpkg-deb -x "$deb" "$tmp/pkgroot"
libdir=usr/lib/postgresql/$PG_MAJOR/lib
extdir=usr/share/postgresql/$PG_MAJOR/extension

# Reference: what "make install" of the same copy installs.
(cd "$src" && "${build_env[@]}" make -s PG_CONFIG="$pg_config" &&
	"${build_env[@]}" make -s install PG_CONFIG="$pg_config" DESTDIR="$tmp/ref" &&
	make -s clean PG_CONFIG="$pg_config") >"$tmp/ref.log" 2>&1 || cat "$tmp/ref.log"
listing() {
	(cd "$1" && find usr/lib/postgresql usr/share/postgresql -type f 2>/dev/null | sort)
}
listing "$tmp/ref" >"$tmp/ref.list"
listing "$tmp/pkgroot" >"$tmp/pkg.list"
check "package holds exactly the files of make install ($(wc -l <"$tmp/ref.list") files)" \
	bash -c '[[ -s $1 ]] && diff -u "$1" "$2"' _ "$tmp/ref.list" "$tmp/pkg.list"

check "encrypted_column.so is a shared library with the PostgreSQL magic block" \
	bash -c 'readelf -h "$1" | grep -q "Type: *DYN" && nm -D --defined-only "$1" | grep -qw Pg_magic_func' \
	_ "$tmp/pkgroot/$libdir/encrypted_column.so"
check "encrypted_column.so links OpenSSL's libcrypto" \
	bash -c 'readelf -d "$1" | grep -q "NEEDED.*libcrypto"' _ "$tmp/pkgroot/$libdir/encrypted_column.so"

# Every extension in the package: its default version has an install
# script, and its library (module_pathname) is in the package.
controls=("$tmp/pkgroot/$extdir"/*.control)
check "package holds encrypted_column.control" test -f "$tmp/pkgroot/$extdir/encrypted_column.control"
for c in "${controls[@]}"; do
	[[ -f $c ]] || continue
	name=$(basename "$c" .control)
	v=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$c")
	check "$name: install script for default version $v" test -s "$tmp/pkgroot/$extdir/$name--$v.sql"
	lib=$(sed -n "s/^module_pathname *= *'\$libdir\/\(.*\)'/\1/p" "$c")
	if [[ -n $lib ]]; then
		check "$name: library $lib.so in the package" test -f "$tmp/pkgroot/$libdir/$lib.so"
	fi
done
check "documentation and copyright in /usr/share/doc/$pkg" \
	test -f "$tmp/pkgroot/usr/share/doc/$pkg/copyright" -a -f "$tmp/pkgroot/usr/share/doc/$pkg/README.md.gz"

# Warnings stay warnings: no compiler line has a bare -Werror (the
# -Werror=... forms that PostgreSQL and dpkg-buildflags add are fine).
ncc=$(grep -cE '^([^ ]*-)?(gcc|cc|clang)[^ ]* .* -c ' "$tmp/build.log")
check "the build compiled C ($ncc compiler lines)" test "$ncc" -gt 0
check "no -Werror in the package's build flags" \
	bash -c '! grep -E "^([^ ]*-)?(gcc|cc|clang)[^ ]* .* -c " "$1" | grep -qE "(^| )-Werror( |$)"' _ "$tmp/build.log"

# 4. Install, and run the regression suite against the installed package.
ours=1
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
	"$deb" >"$tmp/install.log" 2>&1
check "apt-get install of the package" test $? -eq 0 || cat "$tmp/install.log"
check "encrypted_column.so on the system belongs to $pkg" \
	bash -c 'dpkg -S "$1" 2>/dev/null | grep -q "^$2:"' _ "/$libdir/encrypted_column.so" "$pkg"
files=$(dpkg -L "$pkg" 2>/dev/null | grep -E "^/usr/(lib|share)/postgresql/")
nfiles=0
for f in $files; do
	[[ -f $f ]] && nfiles=$((nfiles + 1))
done
check "dpkg -L lists the package's files, all on the system ($nfiles files)" \
	test "$nfiles" -gt 0 -a "$nfiles" -eq "$(wc -l < "$tmp/pkg.list")"

# The tests in REGRESS of the top-level Makefile, through PGXS's own
# pg_regress command line, in a private output directory.
cat >"$tmp/regress.mk" <<'EOF'
.PHONY: deb-regress
deb-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) --outputdir=$(DEB_OUT) $(REGRESS)
EOF
mkdir -p "$tmp/out"
chmod 777 "$tmp/out"
port=$("$root/scripts/free-port")
(cd / && PGPORT=$port timeout 900 pg_virtualenv -v "$PG_MAJOR" \
	make -s -C "$src" -f Makefile -f "$tmp/regress.mk" deb-regress \
	PG_CONFIG="$pg_config" DEB_OUT="$tmp/out") >"$tmp/regress.log" 2>&1
status=$?
ntests=$(grep -cE '^(ok|not ok) ' "$tmp/regress.log")
((ntests > 0)) || ntests=$(grep -cE '^test .* \.\.\. ' "$tmp/regress.log")
check "pg_regress against the installed package ($ntests tests)" test $status -eq 0 -a "$ntests" -gt 0
if ((status != 0)); then
	grep -E '^(test|ok|not ok) ' "$tmp/regress.log"
	[[ -f $tmp/out/regression.diffs ]] && head -100 "$tmp/out/regression.diffs"
fi

# The package's own autopkgtest (debian/tests/installcheck): pg_buildext
# installcheck, for every installed version of the package.
if [[ -x $src/debian/tests/installcheck ]]; then
	(cd "$src" && timeout 900 debian/tests/installcheck) >"$tmp/autopkgtest.log" 2>&1
	check "autopkgtest debian/tests/installcheck" test $? -eq 0 || tail -40 "$tmp/autopkgtest.log"
fi

# 5. Remove it again.
"${sudo[@]}" dpkg -r "$pkg" >"$tmp/remove.log" 2>&1
check "dpkg -r $pkg" test $? -eq 0 || cat "$tmp/remove.log"
check "$pkg no longer installed" \
	bash -c '! dpkg-query -W -f="\${db:Status-Status}" "$1" 2>/dev/null | grep -q "^installed"' _ "$pkg"
left=0
for f in $files; do
	[[ -f $f ]] && left=$((left + 1))
done
check "none of its $nfiles files left on the system" test "$nfiles" -gt 0 -a "$left" -eq 0
ours=""

echo "deb: the package is removed, and with it the extension's files; running make install from the tree again"
("${sudo[@]}" env -u CFLAGS -u COPT make -s -C "$root" install PG_CONFIG="$pg_config") >"$tmp/reinstall.log" 2>&1
check "make install from the tree" test $? -eq 0 || tail -20 "$tmp/reinstall.log"

finish
