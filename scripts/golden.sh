#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Regenerate the golden images in images/golden/<kernel>/: boot each kernel of
# the matrix in the test VM and run tests/vm/golden.py there, which puts fresh
# ptys into each scenario's state, checkpoints them and records what the
# original pair then showed.  Kernels: arguments, default 6.1 6.12 6.12-rt.
# Commit the result; tests/unit/test_golden.py and tests/vm/test_golden.py use it.

set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$CKPT_TTY_ROOT"
[ $# -gt 0 ] || set -- 6.1 6.12 6.12-rt
mkdir -p images/golden
for kernel in "$@"; do
	say "golden images on $kernel"
	"$CKPT_TTY_VENV/bin/python" -m tests.vm --kernel "$kernel" --rwdir images/golden -- \
		python -m tests.vm.golden "images/golden/$kernel"
done
