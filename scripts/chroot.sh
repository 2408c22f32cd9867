#!/usr/bin/env bash
# Run a command on another supported platform, in a Debian chroot.
#
#   bash scripts/chroot.sh MAJOR COMMAND [ARGS...]
#
# Makes (once) build/chroot/RELEASE with debootstrap from Debian's mirror
# (EC_DEBIAN_MIRROR, default deb.debian.org), the release being the one
# scripts/platforms names for PostgreSQL MAJOR; copies this tree to /src
# inside it; mounts /proc, /dev and /dev/shm for the servers; and runs
# COMMAND in /src as root with a clean environment and no locale set.
# Everything lives below build/, which "rm -rf build" removes once no
# command runs (the mounts are undone on exit).  Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/platform.sh

major=${1:?usage: $0 MAJOR COMMAND [ARGS...]}
shift
release=${EC_RELEASE[$major]:-}
[[ -n $release ]] || { echo "chroot: PostgreSQL $major is not in scripts/platforms" >&2; exit 2; }
((EUID == 0)) || { echo "chroot: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
mirror=${EC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$PWD/build/chroot/$release

if [[ ! -f $root/.ready ]]; then
	command -v debootstrap >/dev/null || {
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
	}
	echo "chroot: making $release (PostgreSQL $major) with debootstrap"
	rm -rf "$root"
	mkdir -p "$root"
	debootstrap --variant=minbase --include=ca-certificates "$release" "$root" "$mirror" \
		>"$root.debootstrap.log" 2>&1 || {
		tail -n 20 "$root.debootstrap.log"
		exit 1
	}
	# sid's Release file may be past its Valid-Until on the mirror
	[[ $release == sid ]] &&
		echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99ec-sid"
	# no default cluster, no daemons started by package scripts
	mkdir -p "$root/etc/postgresql-common"
	echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	touch "$root/.ready"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

mounted=()
undo() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -l "${mounted[i]}" 2>/dev/null || true
	done
}
trap undo EXIT
trap 'exit 143' TERM INT HUP
mnt() {
	local target=$root$1
	shift
	mkdir -p "$target"
	mount "$@" "$target"
	mounted+=("$target")
}
mnt /proc -t proc proc
mnt /dev -t tmpfs -o mode=0755,nosuid devtmp
for d in null zero full random urandom tty; do
	touch "$root/dev/$d"
	mount --bind "/dev/$d" "$root/dev/$d"
	mounted+=("$root/dev/$d")
done
mnt /dev/shm -t tmpfs -o mode=1777,nosuid,nodev shm
mnt /dev/pts -t devpts -o newinstance,ptmxmode=0666 devpts
ln -sf pts/ptmx "$root/dev/ptmx"
ln -sf /proc/self/fd "$root/dev/fd"
ln -sf /proc/self/fd/0 "$root/dev/stdin"
ln -sf /proc/self/fd/1 "$root/dev/stdout"
ln -sf /proc/self/fd/2 "$root/dev/stderr"

# a fresh copy of the tree: tracked and untracked files, not build/
rm -rf "$root/src"
mkdir -p "$root/src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - | tar -xf - -C "$root/src"
else
	tar --exclude=./build -cf - . | tar -xf - -C "$root/src"
fi
chmod 0755 "$root/src"

chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	TERM=dumb EC_NATIVE_PG="$major" CI="${CI:-}" \
	bash -c 'cd /src && exec "$@"' chroot "$@"
