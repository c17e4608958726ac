# SPDX-License-Identifier: GPL-2.0
"""A shell job (``criu -j``): a program started from a shell on a terminal, moved to another terminal.

The job runs in the foreground of a shell's session on terminal 1, whose
master the test holds as a terminal emulator would.  It printed output the
emulator has not read, and half a line was typed to it.  The job alone is
dumped with ``-j``; it is restored with ``-j`` from terminal 2, whose slave
is criu's stdin: criu gives the job that terminal.  pyctl's hook then puts
terminal 1's saved state onto terminal 2: the emulator of terminal 2 shows
the output the first never read, and the job gets the rest of its line.
The same cycle with criu alone shows what it keeps.

Runs in the matrix (the debug kernels lack CHECKPOINT_RESTORE; see tox.ini).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from pyctl.pty import open_pty

from .criuutil import remove_cgroup, tree_cgroup, wait_for

pytestmark = pytest.mark.criu

JOB = r'''
import fcntl, json, os, struct, sys, termios
result = sys.argv[1]
os.write(1, b"unread output\nprompt> ")
open(result + ".ready", "w").close()
line = sys.stdin.readline()
print("got:", repr(line), flush=True)
attrs = termios.tcgetattr(0)
with open(result, "w") as f:
    json.dump({"line": line, "termios": attrs[:6],
               "winsize": list(struct.unpack("4H", fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))[:2]),
               "foreground": os.tcgetpgrp(0) == os.getpgrp()}, f)
'''

# argv: cgroup, job script, result.  A shell's part: a session on the
# terminal (stdin), the job in a process group of its own in the foreground.
SHELL = r'''
import os, sys
cgroup, job, result = sys.argv[1:]
os.setsid()
import fcntl, termios
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write("0")
    os.execv(sys.executable, [sys.executable, job, result])
os.setpgid(pid, pid)
import signal
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
os.tcsetpgrp(0, pid)
print(pid, file=sys.stderr, flush=True)
os.waitpid(pid, 0)
'''


def _shown(master: int, until: bytes, timeout: float = 30) -> bytes:
    out, end = b"", time.monotonic() + timeout
    while until not in out and time.monotonic() < end:
        if select.select([master], [], [], 0.2)[0]:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    return out


def _shown_until_quiet(master: int, quiet: float = 1.0) -> bytes:
    out = b""
    while select.select([master], [], [], quiet)[0]:
        try:
            out += os.read(master, 4096)
        except OSError:
            break
    return out


def cycle(tmp_path: Path, with_pyctl: bool) -> dict:
    cg = tree_cgroup(tmp_path)
    images, result = tmp_path / "images", tmp_path / "result"
    images.mkdir()
    (tmp_path / "job.py").write_text(JOB)
    (tmp_path / "shell.py").write_text(SHELL)
    m1, s1 = open_pty()
    fcntl.ioctl(s1, termios.TIOCSWINSZ, struct.pack("4H", 33, 101, 0, 0))
    m2, s2 = open_pty()
    shell = subprocess.Popen([sys.executable, str(tmp_path / "shell.py"), str(cg), str(tmp_path / "job.py"),
                              str(result)], stdin=s1, stdout=s1, stderr=subprocess.PIPE, text=True)
    restorer = None
    try:
        job = int(shell.stderr.readline())
        wait_for(lambda: Path(f"{result}.ready").exists(), "the job to start")
        time.sleep(0.5)  # and block in readline
        os.write(m1, b"hello wor")
        time.sleep(0.3)
        pyctl = [sys.executable, "-m", "pyctl", "criu"]
        dump = (pyctl if with_pyctl else ["criu"]) + ["dump", "-t", str(job), "-D", str(images)]
        dump += (["--", "-j"] if with_pyctl else ["-j", "-o", "dump.log"])
        r = subprocess.run(dump, cwd=images, capture_output=True, text=True)
        assert r.returncode == 0, f"{dump}: {r.stdout}{r.stderr}"
        assert shell.wait(30) == 0  # the job is gone: its shell returned
        os.close(m1)
        # terminal 2: a new session whose terminal is criu's stdin, as after a login on it
        restore = (pyctl if with_pyctl else ["criu"]) + ["restore", "-D", str(images)]
        restore += (["--", "-j"] if with_pyctl else ["-j", "-o", "restore.log", "-v3"])
        log = open(tmp_path / "restore.log", "w")
        restorer = subprocess.Popen(restore, cwd=images, stdin=s2, stdout=log, stderr=log, start_new_session=True,
                                    preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        if with_pyctl:
            shown = _shown(m2, b"hello wor", 20)
        else:
            # nothing of the half line comes back: what terminal 2 shows once
            # criu has resumed the job (not a 20 s wait for what never comes)
            criu_log = images / "restore.log"
            wait_for(lambda: criu_log.exists() and "Restore finished successfully" in criu_log.read_text(errors="replace"),
                     "criu restore to resume the job", 60)
            shown = _shown_until_quiet(m2)
        os.write(m2, b"ld\n")
        shown += _shown(m2, b"')\r\n")
        status = restorer.wait(60)
        assert status == 0, f"{restore}: exit {status}\n{(tmp_path / 'restore.log').read_text()}"
        wait_for(lambda: result.exists() and result.read_text().endswith("}"), "the job's result", 30)
        return {"shown": shown.decode("latin-1"), **json.loads(result.read_text())}
    finally:
        if restorer and restorer.poll() is None:
            restorer.kill()
            restorer.wait()
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        for fd in (m2, s1, s2):
            os.close(fd)
        remove_cgroup(cg)


def test_pyctl_criu_moves_a_shell_job_with_what_waits_in_its_terminal(module_loaded, tmp_path):
    got = cycle(tmp_path, with_pyctl=True)
    assert got["shown"] == "unread output\r\nprompt> hello world\r\ngot: 'hello world\\n'\r\n"
    assert got["line"] == "hello world\n"
    assert got["winsize"] == [33, 101]
    assert got["foreground"]


def test_criu_alone_with_a_shell_job(module_loaded, tmp_path):
    """What criu -j alone keeps, measured (README, "With CRIU")."""
    got = cycle(tmp_path, with_pyctl=False)
    print(json.dumps(got))
    assert got["line"] == "ld\n"  # the half-typed line is gone
    assert "unread output" not in got["shown"]  # and so is the output terminal 1 never showed
