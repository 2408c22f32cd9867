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
# Everything lives below build/, which "sudo rm -rf build" removes once no
# command runs (the mounts are undone on exit).  EC_CHROOT_DIR names
# another folder for the chroots.
#
# debootstrap, chroot and mount need root: run by another user, the
# script runs itself again through sudo.
#
# A chroot that an earlier run left broken is mended before use: mounts
# left behind are undone; a package manager that was interrupted
# ("dpkg was interrupted") is finished with "dpkg --configure -a" and
# "apt-get -f install"; a chroot that debootstrap did not finish, or that
# cannot be mended, is made again.  Runs on one chroot take turns (a lock
# next to it).
set -euo pipefail
cd "$(dirname "$0")/.."

if ((EUID != 0)); then
	command -v sudo >/dev/null ||
		{ echo "chroot: needs root (debootstrap, chroot, mount), and sudo is not installed" >&2; exit 2; }
	exec sudo -- env EC_DEBIAN_MIRROR="${EC_DEBIAN_MIRROR:-}" EC_CHROOT_DIR="${EC_CHROOT_DIR:-}" \
		CI="${CI:-}" bash "$PWD/scripts/chroot.sh" "$@"
fi

source scripts/platform.sh

major=${1:?usage: $0 MAJOR COMMAND [ARGS...]}
shift
release=${EC_RELEASE[$major]:-}
[[ -n $release ]] || { echo "chroot: PostgreSQL $major is not in scripts/platforms" >&2; exit 2; }
mirror=${EC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=${EC_CHROOT_DIR:-$PWD/build/chroot}
mkdir -p "$base"
base=$(cd "$base" && pwd)
root=$base/$release

# one run at a time per chroot
exec 9>"$root.lock"
flock 9

# Undo every mount below the chroot, deepest first (also those that a
# killed run left behind).
unmount_all() {
	local m
	awk -v r="$root/" 'index($2 "/", r) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
}

# Make the chroot from nothing.
make_chroot() {
	command -v debootstrap >/dev/null || {
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
	}
	echo "chroot: making $release (PostgreSQL $major) with debootstrap"
	unmount_all
	rm -rf --one-file-system "$root"
	mkdir -p "$root"
	debootstrap --variant=minbase --include=ca-certificates "$release" "$root" "$mirror" \
		>"$root.debootstrap.log" 2>&1 || {
		tail -n 20 "$root.debootstrap.log"
		echo "chroot: debootstrap failed; the next run makes $release again" >&2
		return 1
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
}

mounted=()
undo() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -l "${mounted[i]}" 2>/dev/null || true
	done
	mounted=()
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
mount_all() {
	local d
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
}

# A command inside the chroot, with a clean environment.
in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
}

# Did a package operation stop half way?  dpkg keeps a journal in
# updates/ until it has written the status file, and dpkg --audit lists
# packages left unpacked, half configured or half installed.
dpkg_broken() {
	compgen -G "$root/var/lib/dpkg/updates/[0-9]*" >/dev/null && return 0
	[[ -n $(in_root dpkg --audit 2>&1) ]]
}

# Finish what an interrupted run left; fails when the chroot stays broken.
repair() {
	echo "chroot: $release was left half way by an interrupted run; repairing (dpkg --configure -a, apt-get -f install)"
	in_root dpkg --configure -a >"$root.repair.log" 2>&1
	in_root apt-get -f install -y -qq >>"$root.repair.log" 2>&1
	if dpkg_broken; then
		tail -n 20 "$root.repair.log"
		return 1
	fi
	echo "chroot: $release repaired"
}

unmount_all
if [[ ! -f $root/.ready ]] || ! chroot "$root" /bin/true 2>/dev/null; then
	make_chroot || exit 1
fi
mount_all
if dpkg_broken && ! repair; then
	echo "chroot: $release cannot be repaired; making it again"
	undo
	make_chroot || exit 1
	mount_all
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

# a fresh copy of the tree: tracked and untracked files, not build/
rm -rf "$root/src"
mkdir -p "$root/src"
# (run through sudo, git would refuse a checkout that another user owns)
git=(git -c safe.directory='*')
if "${git[@]}" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	"${git[@]}" ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - | tar -xf - -C "$root/src"
else
	tar --exclude=./build -cf - . | tar -xf - -C "$root/src"
fi
chmod 0755 "$root/src"

chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	TERM=dumb EC_NATIVE_PG="$major" EC_IN_CHROOT="$release" CI="${CI:-}" \
	bash -c 'cd /src && exec "$@"' chroot "$@"
