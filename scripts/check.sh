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
# The debug kernels, when not cached yet, build first, at full priority,
# while the host tests (unit, bench) run beside them; the VM suites start
# when both are built, the debug ones first (tox.ini, [testenv:vms]).  The
# builds are the longest chain of make check (7 to 14 minutes each alone
# on 2 cores) and need both cores: run beside two guests they got about a
# guest's share of the CPU and took 27 minutes each (a cold run of
# 2026-11-29: 68 minutes in all, the builds 54 of them).

set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$CKPT_TTY_ROOT"
export CKPT_TTY_STRICT=1
envs=${CKPT_TTY_CHECK_ENVS:-unit,bench,vms}
start=$SECONDS
host_envs=() vm_envs=()
for env in ${envs//,/ }; do
	case $env in
	vm|vms|matrix|debug) vm_envs+=("$env") ;;
	*) host_envs+=("$env") ;;
	esac
done
builder=
if [[ " ${vm_envs[*]} " == *" debug "* || " ${vm_envs[*]} " == *" vms "* ]]; then
	say "building the debug kernels beside the host tests (log: $CKPT_TTY_CACHE/debug-kernels.log)"
	"$CKPT_TTY_VENV/bin/python" -m tests.kernels install 6.1-debug 6.12-debug \
		>"$CKPT_TTY_CACHE/debug-kernels.log" 2>&1 &
	builder=$!
	trap 'kill $builder 2>/dev/null || true' EXIT
fi
rc=0
tox_envs() { "$CKPT_TTY_VENV/bin/tox" --workdir "$CKPT_TTY_CACHE/tox" -e "$(IFS=,; echo "$*")" "${tox_args[@]}"; }
tox_args=("$@")
((${#host_envs[@]} == 0)) || tox_envs "${host_envs[@]}" || rc=$?
if [ -n "$builder" ]; then
	if wait "$builder"; then
		say "debug kernels ready after $((SECONDS - start)) s"
	else
		say "the debug kernel build failed:"
		tail -20 "$CKPT_TTY_CACHE/debug-kernels.log" >&2
		[ "$rc" != 0 ] || rc=1
	fi
	trap - EXIT
fi
((${#vm_envs[@]} == 0)) || tox_envs "${vm_envs[@]}" || { r=$?; [ "$rc" != 0 ] || rc=$r; }
((rc == 0)) || { say "test suite failed (status $rc) after $((SECONDS - start)) s"; exit "$rc"; }
say "test suite passed in $((SECONDS - start)) s"
