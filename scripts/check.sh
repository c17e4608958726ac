#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite: host tests, then the VM tests on Debian's 6.1, 6.12 and
# 6.12 PREEMPT_RT kernels and on lockdep/KASAN/UBSAN builds of 6.1 and 6.12 with a
# longer stress run, and the image tools' benchmark (tox envs unit, bench, matrix,
# debug; CKPT_TTY_CHECK_ENVS overrides).
# Installs what it needs first (scripts/bootstrap.sh).  Skipped tests count as
# failures here (CKPT_TTY_STRICT=1).  Extra arguments go to tox.

set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$CKPT_TTY_ROOT"
export CKPT_TTY_STRICT=1
start=$SECONDS
"$CKPT_TTY_VENV/bin/tox" --workdir "$CKPT_TTY_CACHE/tox" -e "${CKPT_TTY_CHECK_ENVS:-unit,bench,matrix,debug}" "$@"
say "test suite passed in $((SECONDS - start)) s"
