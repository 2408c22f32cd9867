#!/usr/bin/env bash
# scripts/chroot.sh mends a chroot that an earlier run left broken.
#
# On a copy of the chroot of PostgreSQL $PG_MAJOR's Debian release (made
# first when there is none), in this suite's temporary directory
# (EC_CHROOT_DIR), so that the real one is never harmed:
#   - a package operation stopped half way ("dpkg was interrupted": a
#     journal entry in /var/lib/dpkg/updates and a half-configured
#     package, as a full disk or a killed apt-get leaves them): apt-get
#     refuses to work, and the next run of scripts/chroot.sh finishes it
#     (dpkg --configure -a, apt-get -f install) before the command runs;
#   - mounts a killed run left behind are undone, and the run's own
#     mounts are gone when it ends;
#   - a debootstrap that failed (an unreachable mirror) fails the run,
#     leaves no chroot marked ready, and the next run makes it again.
# Needs root or password-less sudo; skipped inside a chroot.
REL_NAME=chroot
source "$(dirname "$0")/lib.sh"
source "$REPO_DIR/scripts/platform.sh"

# (scripts/chroot.sh names the release it runs a command in)
[[ -z ${EC_IN_CHROOT:-} ]] ||
	rel_skip "runs inside the $EC_IN_CHROOT chroot; chroots in a chroot are not what the test command makes"
sudo=()
if ((EUID != 0)); then
	sudo -n true 2>/dev/null || rel_skip "needs root or password-less sudo (chroot, mount)"
	sudo=(sudo -n)
fi
release=${EC_RELEASE[$PG_MAJOR]:-}
[[ -n $release ]] || rel_skip "PostgreSQL $PG_MAJOR is not in scripts/platforms"
rel_init
real=$REPO_DIR/build/chroot/$release
base=$REL_TMP/chroots
mkdir -p "$base"
chroot_sh() {
	EC_CHROOT_DIR=$base bash "$REPO_DIR/scripts/chroot.sh" "$PG_MAJOR" "$@"
}

# ---- a working chroot to break: a copy of the real one ----
if [[ ! -f $real/.ready ]]; then
	say "no chroot for $release yet: making it (debootstrap)"
	bash "$REPO_DIR/scripts/chroot.sh" "$PG_MAJOR" true || exit 1
fi
"${sudo[@]}" flock "$real.lock" cp -a --one-file-system "$real" "$base/$release" || exit 1
"${sudo[@]}" rm -rf "$base/$release/src"
cleanup_copy() {
	"${sudo[@]}" awk -v r="$base/" 'index($2 "/", r) == 1 { print $2 }' /proc/self/mounts |
		sort -r | while read -r m; do "${sudo[@]}" umount -l "$m"; done
	"${sudo[@]}" rm -rf --one-file-system "$base"
	rel_cleanup
}
trap cleanup_copy EXIT
say "copy of the $release chroot in $base"
out=$REL_TMP/run.out
check "the copy works" chroot_sh sh -c 'apt-get check -qq && test -z "$(dpkg --audit)"'

# ---- dpkg interrupted ----
# ca-certificates (in every chroot: debootstrap --include) is marked
# half-configured, and dpkg's journal holds that change unwritten, as when
# dpkg is killed between the two.
pkg=ca-certificates
st=$base/$release/var/lib/dpkg/status
"${sudo[@]}" sed -i "/^Package: $pkg\$/,/^\$/s/^Status: install ok installed\$/Status: install ok half-configured/" "$st"
"${sudo[@]}" sh -c "sed -n '/^Package: $pkg\$/,/^\$/p' '$st' >'$base/$release/var/lib/dpkg/updates/0000'"
check "broken: the package is half-configured" grep -q "Status: install ok half-configured" "$st"
"${sudo[@]}" chroot "$base/$release" apt-get check >"$REL_TMP/apt.out" 2>&1
check "broken: apt-get refuses to work (dpkg was interrupted)" \
	grep -q "dpkg was interrupted" "$REL_TMP/apt.out"
# a killed run's mount, still there
"${sudo[@]}" mount -t tmpfs stale "$base/$release/mnt"
chroot_sh sh -c 'apt-get check -qq && dpkg --audit && dpkg-query -W -f="\${db:Status-Abbrev}\n" '"$pkg" >"$out" 2>&1
rc=$?
cat "$out"
check "the next run succeeds" [ "$rc" = 0 ]
check "it said it repaired the chroot" grep -q "chroot: $release repaired" "$out"
check "inside, apt-get works and dpkg --audit is empty" [ "$(tail -n 1 "$out")" = "ii " ]
check "dpkg's journal is empty" not compgen -G "$base/$release/var/lib/dpkg/updates/[0-9]*"
check_eq "no mount left below the chroot (the stale one included)" 0 \
	"$(awk -v r="$base/" 'index($2 "/", r) == 1' /proc/self/mounts | wc -l)"
chroot_sh true >"$out" 2>&1
check "a second run finds nothing to repair" not grep -q "repair" "$out"

# ---- a failed debootstrap ----
"${sudo[@]}" rm -f "$base/$release/.ready"
EC_DEBIAN_MIRROR=http://127.0.0.1:9/debian chroot_sh true >"$out" 2>&1
rc=$?
tail -n 2 "$out"
check "a debootstrap that fails fails the run" [ "$rc" != 0 ]
check "it said so, and that the next run makes the chroot again" grep -q "debootstrap failed" "$out"
check "the chroot is not marked ready" [ ! -e "$base/$release/.ready" ]

rel_finish
