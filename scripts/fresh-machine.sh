#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prove the README's two commands on a clean Debian 12 system: build a Debian 12
# root with debootstrap, copy a fresh clone of this repository's main branch
# into it, and run `make demo` and then `make check` inside it as root,
# printing the wall time of each.
#
#   scripts/fresh-machine.sh                 cold: a new root, nothing cached
#   scripts/fresh-machine.sh --warm          again in the root of the last run, caches kept,
#                                            its clone brought up to date with main
#   scripts/fresh-machine.sh --demo-only     make demo only
#   CKPT_TTY_CHECK_ENVS=unit,vm scripts/fresh-machine.sh   less of make check
#
# The root is debootstrap's default variant: Priority required and important,
# what a Debian 12 installation has before anyone adds a package (minbase
# lacks important packages such as iproute2 that every real machine has).
# Into it go only what the README asks for before its first command
# (PREREQUISITES, installed with apt), and what a user behind a
# TLS-inspecting proxy has already configured: the host's CA certificates,
# apt sources and Acquire settings, pip configuration and DNS.  Local package
# folders a pip configuration may name are not carried in: pip says it
# ignores them and goes to the index, as on a new machine.  The pristine
# root is cached as a tarball under $CKPT_TTY_CACHE/fresh-machine.
# Needs root, debootstrap (installed if missing) and about 15 GB of disk.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE=${CKPT_TTY_CACHE:-$HOME/.cache/ckpt-tty}/fresh-machine
SUITE=bookworm
MIRROR=${CKPT_TTY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the README lists before `make demo` (tests/unit/test_fresh_machine.py keeps them equal).
PREREQUISITES=(make git)

say() { printf '[fresh-machine] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

warm=0 demo_only=0
for arg; do
	case $arg in
	--warm) warm=1 ;;
	--demo-only) demo_only=1 ;;
	-h|--help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $arg (see --help)" ;;
	esac
done
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and mounts need it)"

mkdir -p "$CACHE"
base=$CACHE/debian12-default.tar
target=$CACHE/root

if [ ! -e "$base" ]; then
	if ! command -v debootstrap >/dev/null; then
		say "installing debootstrap"
		apt-get install -y -q debootstrap >/dev/null
	fi
	say "debootstrap $SUITE (default variant: Priority required + important) from $MIRROR"
	rm -rf "$CACHE/base.tmp"
	start=$SECONDS
	debootstrap --arch=amd64 "$SUITE" "$CACHE/base.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
		|| { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
	tar -C "$CACHE/base.tmp" -cf "$base.tmp" . && mv "$base.tmp" "$base"
	rm -rf "$CACHE/base.tmp"
	say "debootstrap took $((SECONDS - start)) s; pristine root cached in $base"
fi

mounts=()
cleanup() {
	local m
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		m=${mounts[i]}
		umount -R "$m" 2>/dev/null || umount -lR "$m" 2>/dev/null || true
	done
}
trap cleanup EXIT
mnt() {  # mnt TARGET MOUNT-ARGS...
	mkdir -p "$1"
	mount "${@:2}" "$1"
	mounts+=("$1")
}

if ((!warm)) || [ ! -d "$target/root/ckpt-tty" ]; then
	say "new root in $target"
	rm -rf "$target"
	mkdir -p "$target"
	tar -C "$target" -xf "$base"

	# What a user behind a TLS-inspecting proxy has set up before anything else.
	cp -a /usr/local/share/ca-certificates/. "$target/usr/local/share/ca-certificates/" 2>/dev/null || true
	mkdir -p "$target/etc/ssl/certs"
	cp /etc/ssl/certs/ca-certificates.crt "$target/etc/ssl/certs/ca-certificates.crt"
	cp /etc/resolv.conf "$target/etc/resolv.conf"
	rm -f "$target/etc/apt/sources.list"
	cp /etc/apt/sources.list "$target/etc/apt/" 2>/dev/null || true
	find /etc/apt/sources.list.d -maxdepth 1 \( -name '*.list' -o -name '*.sources' \) \
		-exec cp {} "$target/etc/apt/sources.list.d/" \;
	grep -lR 'Acquire::' /etc/apt/apt.conf.d 2>/dev/null | xargs -r cp -t "$target/etc/apt/apt.conf.d/"
	for f in /etc/pip.conf /etc/xdg/pip /root/.config/pip /root/.pip; do
		if [ -e "$f" ]; then
			mkdir -p "$target$(dirname "$f")"
			cp -a "$f" "$target$f"
		fi
	done

	say "fresh clone of main into /root/ckpt-tty"
	git clone -q --no-local --branch main "$ROOT" "$target/root/ckpt-tty"
else
	# a user's second run: their checkout brought up to date, their caches kept
	say "updating /root/ckpt-tty to main"
	git -C "$target/root/ckpt-tty" fetch -q "$ROOT" main
	git -C "$target/root/ckpt-tty" reset -q --hard FETCH_HEAD
fi

# The root a mount of its own, as a machine's / is (tests/vm/__main__.py
# needs that to give QEMU a private mount namespace), and private: nothing
# mounted in it shows up outside.
mnt "$target" --bind "$target"
mount --make-private "$target"
mnt "$target/proc" -t proc proc
mnt "$target/sys" --rbind /sys
mount --make-rslave "$target/sys"
mnt "$target/dev" --rbind /dev
mount --make-rslave "$target/dev"
mnt "$target/tmp" -t tmpfs tmpfs
mnt "$target/run" -t tmpfs tmpfs
in_root() {  # a login shell's environment: nothing of ours leaks in
	chroot "$target" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		${CKPT_TTY_CHECK_ENVS:+CKPT_TTY_CHECK_ENVS=$CKPT_TTY_CHECK_ENVS} \
		/bin/bash -c "$1"
}

if ((!warm)); then
	say "README prerequisites: apt-get install ${PREREQUISITES[*]}"
	in_root "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${PREREQUISITES[*]} >/dev/null"
fi

label=$([ "$warm" = 1 ] && echo warm || echo cold)
start=$SECONDS
in_root "cd /root/ckpt-tty && make demo" || die "make demo failed ($label) after $((SECONDS - start)) s"
demo_s=$((SECONDS - start))
say "make demo ($label) passed in $demo_s s"
((demo_only)) && exit 0
start=$SECONDS
in_root "cd /root/ckpt-tty && make check" || die "make check failed ($label) after $((SECONDS - start)) s"
check_s=$((SECONDS - start))
say "make demo ($label): $demo_s s; make check ($label): $check_s s"
