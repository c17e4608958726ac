#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Speed of checkpoint and restore against anchors measured in the same run
# (issue 13): boot each kernel of the matrix in the test VM and run
# tests/vm/bench_speed.py there.  Prints figures and ratios with the goals,
# asserts nothing; writes build/bench/speed-<kernel>.svg.  Kernels: arguments,
# default 6.1 6.12 6.12-rt.  BENCH_ARGS passes options (e.g. --pairs 1,64).

set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$CKPT_TTY_ROOT"
[ $# -gt 0 ] || set -- 6.1 6.12 6.12-rt
mkdir -p build/bench
for kernel in "$@"; do
	say "speed benchmark on $kernel"
	# shellcheck disable=SC2086
	"$CKPT_TTY_VENV/bin/python" -m tests.vm --kernel "$kernel" --rwdir build/bench -- \
		python -m tests.vm.bench_speed --svg "build/bench/speed-$kernel.svg" ${BENCH_ARGS:-}
done
