# SPDX-License-Identifier: GPL-2.0
"""The restore fuzzer (tests/vm/fuzz_restore.py) for a bounded time.

CKPT_TTY_FUZZ_SECONDS sets the budget (tox.ini gives the debug kernels more);
the run fails on a refused re-restore, a case that blocks, a kernel splat,
lockup or hung task (those end the VM), or if nothing was ever accepted.
"""

import os
import re
import subprocess
import sys

SECONDS = float(os.environ.get("CKPT_TTY_FUZZ_SECONDS", "20"))


def test_restore_fuzzer(module_loaded):
    r = subprocess.run([sys.executable, "-m", "tests.vm.fuzz_restore", "--seconds", str(SECONDS)],
                       capture_output=True, text=True, timeout=SECONDS + 600)
    print(r.stdout, r.stderr, sep="\n")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    m = re.search(r"fuzz: executions (\d+), accepted (\d+), refused: (.*); kernel splats (\d+)", r.stdout)
    assert m, r.stdout
    executions, accepted, splats = int(m[1]), int(m[2]), int(m[4])
    assert splats == 0 and accepted > 0 and executions > accepted
    assert "EINVAL" in m[3]  # the mutations do reach the kernel's checks
