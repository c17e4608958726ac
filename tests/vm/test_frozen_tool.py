# SPDX-License-Identifier: GPL-2.0
"""tools/ckpt-tty-frozen (bcc) counts exactly the frozen windows the module had.

Runs on the matrix's Debian kernels (bcc compiles its BPF program against
/lib/modules/RELEASE/build, which the debug kernels' trees do not provide).
"""

import os
import subprocess
import sys
import time
from pathlib import Path


import pyctl

from .bench_speed import parse_histograms

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ckpt-tty-frozen"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-bpfcc is for it, not for the venv


def _tracefs() -> None:
    if not os.path.exists("/sys/kernel/tracing/events"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)


def test_counts_match_what_was_done(pairs):
    _tracefs()
    tool = subprocess.Popen([SYSTEM_PYTHON, str(TOOL), "8", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = tool.stdout.readline()
        assert first.startswith("Tracing"), first + tool.stderr.read()
        m, s = pairs.new()
        os.write(m, b"typed\n")
        time.sleep(0.05)
        images = [pyctl.checkpoint(s) for _ in range(5)]
        for image in images[:3]:
            pairs.fds += list(pyctl.restore(image, index="any"))
        out, err = tool.communicate(timeout=120)
    finally:
        tool.kill()
    print(out, err, sep="\n")
    assert tool.returncode == 0, err
    assert "checkpoint: 5 frozen windows" in out
    assert "restore (check): 3 frozen windows" in out
    assert "restore (install): 3 frozen windows" in out
    assert "usecs" in out and "distribution" in out
    hists = parse_histograms(out)  # and the histograms hold exactly those windows
    assert {name: sum(c for _, _, c in rows) for name, rows in hists.items()} == \
        {"checkpoint": 5, "restore (check)": 3, "restore (install)": 3}, out


def test_help_has_examples():
    r = subprocess.run([sys.executable, str(TOOL), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "examples:" in r.stdout and "ckpt-tty-frozen 1 10" in r.stdout
