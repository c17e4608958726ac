# SPDX-License-Identifier: GPL-2.0
"""A process holding 100 pty pairs, dumped and restored with ``pyctl criu``: the batch path at scale.

Each pair has output written to its slave that its master has not read,
and half a line typed to its master that its slave (canonical) has not
read; pair k's texts carry k.  After the restore the process reads every
master, completes every line and reads every slave.

Runs in the matrix (the debug kernels lack CHECKPOINT_RESTORE; see tox.ini).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .criuutil import pyctl_criu, remove_cgroup, run, tree_cgroup, wait_for

pytestmark = pytest.mark.criu

PAIRS = 100

HOLDER = r'''
import json, os, pty, select, signal, sys
n, result, cgroup = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
    f.write("0")
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
pairs = [pty.openpty() for _ in range(n)]
for k, (m, s) in enumerate(pairs):
    os.write(s, f"output {k}\n".encode())
    os.write(m, f"typed {k}".encode())
open(result + ".ready", "w").close()
signal.sigwait({signal.SIGUSR1})
def drain(fds):
    # what each fd holds, read until none has had anything for a second (one
    # quiet second for all of them, not one per fd: 100 s of waiting)
    out = dict.fromkeys(fds, b"")
    while ready := select.select(fds, [], [], 1.0)[0]:
        for fd in ready:
            out[fd] += os.read(fd, 4096)
    return [out[fd].decode() for fd in fds]
shown = drain([m for m, _ in pairs])
for m, _ in pairs:
    os.write(m, b" done\n")
lines = drain([s for _, s in pairs])
with open(result, "w") as f:
    json.dump({"shown": shown, "lines": lines}, f)
'''


def cycle(tmp_path: Path, with_pyctl: bool) -> dict:
    cg = tree_cgroup(tmp_path)
    images, result = tmp_path / "images", tmp_path / "result"
    images.mkdir()
    (tmp_path / "holder.py").write_text(HOLDER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "holder.py"), str(PAIRS), str(result), str(cg)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: Path(f"{result}.ready").exists(), "the holder to open its pairs")
        start = time.monotonic()
        if with_pyctl:
            pyctl_criu("dump", "-t", proc.pid, "-D", images)
        else:
            run("criu", "dump", "-t", proc.pid, "-D", images, cwd=images)
        dumped = time.monotonic() - start
        proc.wait()  # dump killed it: reap it, or its zombie keeps the pid restore needs
        start = time.monotonic()
        if with_pyctl:
            pyctl_criu("restore", "-D", images, "--", "--restore-detached")
        else:
            run("criu", "restore", "-D", images, "--restore-detached", cwd=images)
        restored = time.monotonic() - start
        os.kill(proc.pid, signal.SIGUSR1)  # criu gave it its pid back
        wait_for(lambda: result.exists() and result.read_text().endswith("}"), "the holder's result", 120)
        return {"dump_s": dumped, "restore_s": restored, **json.loads(result.read_text())}
    finally:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.wait()
        remove_cgroup(cg)


def test_pyctl_criu_keeps_100_terminals_of_one_process(module_loaded, tmp_path):
    got = cycle(tmp_path, with_pyctl=True)
    print(f"pyctl criu: dump {got['dump_s']:.2f} s, restore {got['restore_s']:.2f} s for {PAIRS} pairs")
    assert got["shown"] == [f"output {k}\r\ntyped {k}" for k in range(PAIRS)]  # the output, then the echo
    assert got["lines"] == [f"typed {k} done\n" for k in range(PAIRS)]


def test_criu_alone_with_100_terminals(module_loaded, tmp_path):
    """What CRIU alone keeps of the same process, measured (README, "With CRIU")."""
    got = cycle(tmp_path, with_pyctl=False)
    print(f"criu alone: dump {got['dump_s']:.2f} s, restore {got['restore_s']:.2f} s for {PAIRS} pairs")
    print(json.dumps({"shown": got["shown"][:2], "lines": got["lines"][:2]}))
    assert got["lines"] == [" done\n"] * PAIRS  # every typed half line is gone

