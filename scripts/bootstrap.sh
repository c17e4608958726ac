#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what ckpt-tty needs on Debian 12, idempotently:
#   - Debian packages (QEMU, kmod, build tools),
#   - a virtualenv with pyctl and its test tools, cached outside the checkout
#     in $CKPT_TTY_CACHE (default ~/.cache/ckpt-tty), keyed by pyproject.toml,
#   - the default test kernel (Debian's 6.1) with its headers.
# Source it (". scripts/bootstrap.sh") to get $CKPT_TTY_VENV; run it to print it.

set -euo pipefail

CKPT_TTY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# CI may run us with a stripped environment
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
CKPT_TTY_CACHE=${CKPT_TTY_CACHE:-$HOME/.cache/ckpt-tty}
export CKPT_TTY_CACHE
mkdir -p "$CKPT_TTY_CACHE"

say() { printf '[ckpt-tty] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# One package a line in scripts/debian-packages.txt (tests/unit/test_host_packages.py checks it is complete).
mapfile -t APT_PACKAGES < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$CKPT_TTY_ROOT/scripts/debian-packages.txt")

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
	[ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
	say "installing Debian packages: ${missing[*]}"
	apt-get -o DPkg::Lock::Timeout=1200 update -q >/dev/null || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=1200 install -y -q --no-install-recommends "${missing[@]}" \
		>"$CKPT_TTY_CACHE/apt.log" 2>&1 || { tail -20 "$CKPT_TTY_CACHE/apt.log" >&2; die "apt-get install failed"; }
fi

# Debian's interpreter, whatever else is first on PATH (pyenv, /usr/local): it is
# the one a fresh machine has, and bcc's Python bindings exist only for it.
PYTHON=${PYTHON:-/usr/bin/python3}
key=$(cat "$CKPT_TTY_ROOT/pyproject.toml" "$CKPT_TTY_ROOT/scripts/bootstrap.sh" | sha256sum | cut -c1-12)
CKPT_TTY_VENV=$CKPT_TTY_CACHE/venv-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-$key
export CKPT_TTY_VENV
pip_quiet() {  # pip, its chatter kept in a log that is shown when it fails
	"$CKPT_TTY_VENV/bin/pip" -q --disable-pip-version-check "$@" >"$CKPT_TTY_CACHE/pip.log" 2>&1 \
		|| { tail -30 "$CKPT_TTY_CACHE/pip.log" >&2; return 1; }
}
if [ ! -e "$CKPT_TTY_VENV/.complete" ]; then
	say "creating virtualenv $CKPT_TTY_VENV (pyelftools, pytest, hypothesis, virtme-ng, tox)"
	rm -rf "$CKPT_TTY_VENV"
	"$PYTHON" -m venv "$CKPT_TTY_VENV"
	pip_quiet install "setuptools>=64" wheel "$CKPT_TTY_ROOT[test]" tox || die "pip install failed"
	touch "$CKPT_TTY_VENV/.complete"
fi
# pyctl from this checkout (the venv may have served another clone before)
pip_quiet install --no-deps --no-build-isolation -e "$CKPT_TTY_ROOT" || die "pip install -e $CKPT_TTY_ROOT failed"

(cd "$CKPT_TTY_ROOT" && "$CKPT_TTY_VENV/bin/python" -m tests.kernels install "${CKPT_TTY_KERNEL:-6.1}" >/dev/null) \
	|| die "cannot install the test kernel"

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "$CKPT_TTY_VENV"
fi
