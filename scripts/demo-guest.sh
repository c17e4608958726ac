#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo's guest half: runs inside the test VM (see scripts/demo.sh), where
# $CKPT_TTY_KO is the module built for the running kernel.

set -euo pipefail
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() {
	printf '\n%s# %s%s\n$ %s\n' "$bold" "$1" "$plain" "${*:2}"
	"${@:2}"
}

step "the guest runs Debian's kernel" uname -r
step "load the module" insmod "$CKPT_TTY_KO"
step "its device is root-only" ls -l /dev/ckpt_tty
step "pyctl asks the module for its ABI and the kernel constants images depend on" python -m pyctl info
step "the same facts, read from the .ko without loading it" python -m pyctl info --ko "$CKPT_TTY_KO"
"$(dirname "$0")/demo_half_line.py"
step "unload it" rmmod ckpt_tty
echo
