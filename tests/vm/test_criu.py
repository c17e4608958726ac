# SPDX-License-Identifier: GPL-2.0
"""With CRIU: the process by criu, its terminal by pyctl, nothing lost.

A shell-like program runs on a pty whose master this test holds, like a
terminal emulator.  It printed output the terminal has not read yet, and the
user has typed half a line.  The program is dumped with `criu dump`,
declaring its terminal external; the pty is checkpointed with pyctl.  Then
pyctl restores the pty (at its original /dev/pts/N, so it is the same
external tty to criu) and `criu restore --inherit-fd` puts the program back
on it.  The same recipe without pyctl, giving criu a new pty, shows what criu
alone keeps: neither the unread output nor the half-typed line.

Runs in the matrix (Debian's kernels have CONFIG_CHECKPOINT_RESTORE); the
debug kernels are built without it and tox's debug env deselects the
`criu` marker.  README.md, "With CRIU", shows the recipe.
"""

import os
import subprocess
import sys
import time

import pytest

import pyctl
from pyctl.pty import open_pty

from .ttyutil import TIOCINQ, get_int, settle, spawn_on_tty

pytestmark = pytest.mark.criu

PROGRAM = ("import sys; sys.stdout.write('unread output\\nprompt> '); sys.stdout.flush(); "
           "print('got:', repr(sys.stdin.readline())); sys.stdout.flush()")


PROMPTED = b"unread output\r\nprompt> "  # as the terminal gets it (ONLCR)


def external_id(fd: int) -> str:
    """criu's name for a tty it is told is external: tty[st_rdev:st_dev] in hex."""
    st = os.fstat(fd)
    return f"tty[{st.st_rdev:x}:{st.st_dev:x}]"


def start_program(slave: int) -> int:
    """The program in its own session with the slave as controlling terminal and stdio."""
    return spawn_on_tty(slave, [sys.executable, "-c", PROGRAM])


def shown(master: int, timeout: float = 30, until: bytes = b"") -> bytes:
    """What the terminal shows from now on (until ``until`` appears, or output stops)."""
    out, deadline = b"", time.monotonic() + timeout
    os.set_blocking(master, False)
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                if until and until in out or not until and out:
                    break
                time.sleep(0.1)
                continue
            except OSError:
                break
            out += chunk
    finally:
        os.set_blocking(master, True)
    return out


def criu(*args: str, cwd: str, pass_fds=()) -> None:
    r = subprocess.run(["criu", *args, "-v2", "-o", f"{args[0]}.log", "-D", cwd], capture_output=True, text=True,
                       pass_fds=pass_fds)
    log = os.path.join(cwd, f"{args[0]}.log")
    assert r.returncode == 0, f"criu {args[0]}: {r.stderr}\n{open(log).read()[-3000:] if os.path.exists(log) else ''}"


def cycle(tmp_path, with_pyctl: bool) -> tuple[bytes, bytes]:
    """Dump and restore the program; with_pyctl: its terminal too.  (What the terminal shows, what it got.)"""
    dump = tmp_path / ("with-pyctl" if with_pyctl else "criu-alone")
    dump.mkdir()
    m, s = open_pty()
    ext = external_id(s)
    pid = start_program(s)
    # The program's output waits, unread, on the terminal's side; then the user types half a line.
    deadline = time.monotonic() + 60
    while get_int(m, TIOCINQ) < len(PROMPTED) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get_int(m, TIOCINQ) == len(PROMPTED)
    image = None
    os.write(m, b"hello wor")
    settle()
    if with_pyctl:
        image = pyctl.checkpoint(m).dumps()
    criu("dump", "-t", str(pid), "--external", ext, cwd=str(dump))
    os.waitpid(pid, 0)
    os.close(s)
    os.close(m)

    if with_pyctl:
        m2, s2 = pyctl.restore(pyctl.loads(image))  # the original /dev/pts/N: the same external tty for criu
    else:
        m2, s2 = open_pty()  # what a criu user does today: a new terminal
    criu("restore", "--inherit-fd", f"fd[{s2}]:{ext}", "--restore-detached", cwd=str(dump), pass_fds=[s2])
    os.close(s2)
    before = shown(m2, timeout=5)
    os.write(m2, b"ld\n")
    after = shown(m2, until=b"'\r\n")  # the end of the program's "got: '...'" line
    os.close(m2)
    return before, after


def test_criu_and_pyctl_keep_the_half_typed_line_and_unread_output(module_loaded, tmp_path):
    before, after = cycle(tmp_path, with_pyctl=True)
    assert before == PROMPTED + b"hello wor", "the unread output and the echo of the half-typed line"
    assert after.endswith(b"got: 'hello world\\n'\r\n"), after


def test_criu_alone_loses_them(module_loaded, tmp_path):
    before, after = cycle(tmp_path, with_pyctl=False)
    assert before == b""
    assert after.endswith(b"got: 'ld\\n'\r\n"), after
