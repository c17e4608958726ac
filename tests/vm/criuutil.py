# SPDX-License-Identifier: GPL-2.0
"""What the whole-tree CRIU tests share: a cgroup for the tree, commands that must work, waiting."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def tree_cgroup(tmp_path) -> Path:
    """A new cgroup v2 for one tree (pyctl criu freezes the tree's cgroup, which it must have alone)."""
    root = Path("/sys/fs/cgroup")
    if not (root / "cgroup.controllers").exists():
        pytest.fail("no cgroup v2 at /sys/fs/cgroup in the guest: pyctl criu freezes the tree there")
    cg = root / f"ckpt-tty-test-{os.getpid()}-{tmp_path.name}"
    cg.mkdir()
    return cg


def remove_cgroup(cg: Path, timeout: float = 10) -> None:
    """rmdir ``cg`` once the tree in it has gone.

    A task killed by criu leaves cgroup.procs before it has fully exited:
    rmdir says EBUSY until cgroup.events reads "populated 0".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cg.rmdir()
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def run(*argv, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run argv; fail the test with its output unless it exits 0."""
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def pyctl_criu(*args, cwd=None) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "pyctl", "criu", *args, cwd=cwd or os.getcwd())


def wait_for(check, what: str, timeout: float = 60, every: float = 0.1):
    """check()'s first true value, polled; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(every)
