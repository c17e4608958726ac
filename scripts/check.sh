#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite: host tests, the image tools' benchmark, then the VM
# tests on Debian's 6.1, 6.12 and 6.12 PREEMPT_RT kernels and on
# lockdep/KASAN/UBSAN builds of 6.1 and 6.12 with a longer stress run, two
# guests at a time (tox envs unit, bench, vms; CKPT_TTY_CHECK_ENVS overrides,
# e.g. unit,matrix).
# Installs what it needs first (scripts/bootstrap.sh).  Skipped tests count as
# failures here (CKPT_TTY_STRICT=1).  Extra arguments go to tox.
#
# The debug kernels, when not cached yet, build in the background from the
# start while the host tests and the matrix run; tests/vm/jobs.py starts the
# guests whose kernels are ready first, and a debug kernel's job waits for its
# build (tests/kernels.py locks it).  nice 19 yields only inside our session:
# each guest runs in a session of its own (tests/vm/__main__.py), so with
# the scheduler's autogroups (Debian's default) the build gets about a
# guest's share of the CPU, which lets it finish before the guests waiting
# for it would idle.

set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$CKPT_TTY_ROOT"
export CKPT_TTY_STRICT=1
envs=${CKPT_TTY_CHECK_ENVS:-unit,bench,vms}
start=$SECONDS
builder=
if [[ ,$envs, == *,debug,* || ,$envs, == *,vms,* ]]; then
	say "building the debug kernels in the background (log: $CKPT_TTY_CACHE/debug-kernels.log)"
	nice -n 19 "$CKPT_TTY_VENV/bin/python" -m tests.kernels install 6.1-debug 6.12-debug \
		>"$CKPT_TTY_CACHE/debug-kernels.log" 2>&1 &
	builder=$!
	trap 'kill $builder 2>/dev/null || true' EXIT
fi
rc=0
"$CKPT_TTY_VENV/bin/tox" --workdir "$CKPT_TTY_CACHE/tox" -e "$envs" "$@" || rc=$?
if [ -n "$builder" ] && ! wait "$builder"; then
	say "the background debug kernel build failed:"
	tail -20 "$CKPT_TTY_CACHE/debug-kernels.log" >&2
	[ "$rc" != 0 ] || rc=1
fi
((rc == 0)) || { say "test suite failed (status $rc) after $((SECONDS - start)) s"; exit "$rc"; }
say "test suite passed in $((SECONDS - start)) s"
