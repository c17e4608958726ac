# SPDX-License-Identifier: GPL-2.0
"""The restored terminal is the command's controlling terminal, and job control works on it.

A user types half a command, the terminal is checkpointed and the shell
killed; `pyctl restore -- bash -i` brings the terminal back under a new
interactive bash, which finds the half-typed command, runs it in the
foreground, and Ctrl-Z, jobs, fg and Ctrl-C behave as on any terminal.
pyctl itself runs on an outer pty, as it would in a terminal emulator.
"""

import contextlib
import os
import select
import subprocess
import sys
import time

import pyctl
from pyctl.pty import open_pty

from .ttyutil import settle

# Run on the restored terminal: its name, whether the shell's job is its foreground group, and whether
# the terminal's session (TIOCGSID, 0x5429) is the shell's.
FG_CHECK = ("python3 -c 'import fcntl, os, struct; "
            "sid = struct.unpack(\"i\", fcntl.ioctl(0, 0x5429, bytes(4)))[0]; "
            "print(\"ctty\", os.ttyname(0), \"fg\", os.tcgetpgrp(0) == os.getpgrp(), \"sid\", sid == os.getsid(0))'")


class Screen:
    """The outer terminal: what pyctl relays from the restored one."""

    def __init__(self, master, proc):
        self.master = master
        self.proc = proc  # pyctl, whose stderr explains an early end
        self.text = b""

    def wait_for(self, marker: bytes, timeout: float = 60) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.text:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0.0, left))
            if not ready:
                raise AssertionError(f"no {marker!r} on the screen after {timeout} s; it shows {self.text!r}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                self.proc.wait(10)
                raise AssertionError(f"terminal closed before {marker!r}; it showed {self.text!r}; "
                                     f"pyctl said {self.proc.stderr.read()!r}")
            self.text += chunk
        head, _, self.text = self.text.partition(marker)
        return head + marker

    def type(self, data: bytes) -> None:
        os.write(self.master, data)


def checkpointed(tmp_path, typed=b""):
    """An image file of a fresh pair with ``typed`` at its prompt; the pair is closed again."""
    m, s = open_pty()
    os.write(m, typed)
    settle()
    image = tmp_path / "tty.img"
    image.write_bytes(pyctl.checkpoint(m).dumps())
    os.close(m)
    os.close(s)
    return image


@contextlib.contextmanager
def restored_bash(tmp_path, image, outer, *options):
    """`pyctl restore IMAGE -- bash -i` with the outer pty ``outer`` as its terminal: the Screen."""
    outer_m, outer_s = outer
    env = dict(os.environ, PS1="$ ", TERM="dumb", HOME=str(tmp_path), INPUTRC="/dev/null")
    proc = subprocess.Popen([sys.executable, "-m", "pyctl", "restore", str(image), *options, "--",
                             "bash", "--norc", "--noprofile", "-i"],
                            stdin=outer_s, stdout=outer_s, stderr=subprocess.PIPE, env=env, start_new_session=True)
    os.close(outer_s)
    try:
        yield Screen(outer_m, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(outer_m)


def test_job_control_on_the_restored_terminal(module_loaded, tmp_path):
    outer = open_pty()  # first, so that the checkpointed pair's index is free again for restore
    image = checkpointed(tmp_path, b"sleep 1000")  # typed at a shell prompt, no Enter yet
    with restored_bash(tmp_path, image, outer) as screen:
        screen.wait_for(b"$ ")
        # bash's line editor got the half-typed command as input: Enter runs it, in the foreground.
        screen.type(b"\r")
        screen.wait_for(b"sleep 1000")
        time.sleep(1)
        screen.type(b"\x1a")  # Ctrl-Z: SIGTSTP to the foreground process group, i.e. sleep
        stopped = screen.wait_for(b"$ ")
        assert b"Stopped" in stopped and b"sleep 1000" in stopped, stopped
        screen.type(b"jobs\r")
        assert b"[1]+  Stopped                 sleep 1000" in screen.wait_for(b"$ ")
        screen.type(b"fg\r")
        screen.wait_for(b"sleep 1000")
        time.sleep(1)
        screen.type(b"\x03")  # Ctrl-C: SIGINT to sleep, in the foreground again
        screen.wait_for(b"$ ")
        screen.type(b"jobs; echo jobs-done\r")
        assert b"Stopped" not in screen.wait_for(b"jobs-done\r\n")
        screen.type(FG_CHECK.encode() + b"\r")
        line = screen.wait_for(b"sid True")
        assert b"fg True" in line and b"ctty /dev/pts/" in line, line
        screen.type(b"exit\r")
        assert screen.proc.wait(60) == 0, screen.proc.stderr.read()
        assert b"pyctl: restored" in screen.proc.stderr.read()


def test_quit_reaches_the_restored_foreground(module_loaded, tmp_path):
    """Ctrl-\\ kills the foreground command with SIGQUIT: the session's foreground group is set."""
    image = checkpointed(tmp_path)
    with restored_bash(tmp_path, image, open_pty(), "--any-index") as screen:
        screen.wait_for(b"$ ")
        screen.type(b"sleep 1000\r")
        screen.wait_for(b"sleep 1000")
        time.sleep(1)
        screen.type(b"\x1c")
        assert b"Quit" in screen.wait_for(b"$ ")
        screen.type(b"exit 0\r")
        assert screen.proc.wait(60) == 0
