# SPDX-License-Identifier: GPL-2.0
"""restore --onto: apply an image to a terminal a process already holds.

A restored process inherits some terminal (CRIU's --inherit-fd, a terminal
emulator's pty); the image's termios, window size, modes and the saved
unread input and half-typed line go onto that terminal, under the program
reading it.  Ground truth is what that program reads and what tcgetattr,
TIOCGWINSZ and TIOCINQ say afterwards.
"""

import errno
import os
import subprocess
import sys
import termios
import time

import pytest

import pyctl
from pyctl import _uapi, ckpt
from pyctl.pty import open_pty

from .ttyutil import TIOCINQ, get_int, get_termios2, reads, set_winsize, settle, winsize

# Reads two lines from its terminal and reports them, and every SIGWINCH with the size it then sees.
READER = r"""
import fcntl, os, signal, struct, sys, termios
def winch(*_):
    rows, cols = struct.unpack("4H", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    os.write(1, f"winch {rows}x{cols}\n".encode())
signal.signal(signal.SIGWINCH, winch)
os.write(1, b"ready\n")
for _ in range(2):
    line = sys.stdin.buffer.readline()
    os.write(1, b"got " + repr(line).encode() + b"\n")
"""


def source_image(pairs):
    """A pair with one complete line and a half-typed one, ^H as erase, 40x100; the pair is closed."""
    m, s = open_pty()
    attrs = termios.tcgetattr(s)
    attrs[6][termios.VERASE] = 8
    attrs[3] &= ~termios.ECHO  # the terminal emulator's output is not what this test is about
    termios.tcsetattr(s, termios.TCSANOW, attrs)
    set_winsize(m, 40, 100)
    os.write(m, b"first\nhello wox\x08r")  # the ^H erases the x: erase uses the image's c_cc
    settle()
    image = pyctl.checkpoint(m)
    expected = get_termios2(s), winsize(s)
    os.close(m)
    os.close(s)
    return image, expected


class Program:
    """A program reading its terminal, in its own session with the slave as controlling tty."""

    def __init__(self, slave):
        self.proc = subprocess.Popen([sys.executable, "-c", READER], stdin=slave, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=lambda: __import__("fcntl").ioctl(0, termios.TIOCSCTTY, 0))
        assert self.proc.stdout.readline() == b"ready\n"
        time.sleep(0.3)  # let it block in read()

    def line(self) -> bytes:
        return self.proc.stdout.readline()

    def finish(self):
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        return out


def test_onto_a_terminal_a_program_is_reading(pairs):
    image, (want_termios, want_winsize) = source_image(pairs)
    m, s = pairs.new()
    program = Program(s)
    pyctl.restore_onto(image, m)
    assert program.line() == b"winch 40x100\n"  # the foreground group heard of the new size
    assert program.line() == b"got b'first\\n'\n"  # the blocked read() took the restored line
    assert get_termios2(s) == want_termios and winsize(s) == want_winsize
    os.write(m, b"ld\n")
    assert program.finish() == b"got b'hello world\\n'\n"


def test_onto_refuses_a_terminal_holding_data_and_changes_nothing(pairs):
    image, _ = source_image(pairs)
    m, s = pairs.new()
    os.write(m, b"typed by the user")  # a half line of the target's own
    settle()
    before = get_termios2(s), winsize(s), get_int(s, TIOCINQ)
    with pytest.raises(OSError) as e:
        pyctl.restore_onto(image, m)
    assert e.value.errno == errno.EBUSY and "--force discards them" in str(e.value)
    assert (get_termios2(s), winsize(s), get_int(s, TIOCINQ)) == before
    os.write(m, b"\n")
    assert reads(s) == [b"typed by the user\n"]


def test_onto_refuses_unread_output(pairs):
    image, _ = source_image(pairs)
    m, s = pairs.new()
    os.write(s, b"program output the terminal has not read")
    settle()
    with pytest.raises(OSError) as e:
        pyctl.restore_onto(image, s)
    assert e.value.errno == errno.EBUSY
    assert b"".join(reads(m)) == b"program output the terminal has not read"


def test_onto_force_replaces_what_the_target_held(pairs):
    image, (want_termios, want_winsize) = source_image(pairs)
    m, s = pairs.new()
    os.write(m, b"junk\nmore jun")
    os.write(s, b"old output")
    settle()
    pyctl.restore_onto(image, s, force=True)
    assert get_termios2(s) == want_termios and winsize(s) == want_winsize
    assert b"".join(reads(m)) == b"", "the target's unread output was discarded"
    os.write(m, b"ld\n")
    assert reads(s) == [b"first\n", b"hello world\n"]


def test_onto_then_checkpoint_is_the_image(pairs):
    image, _ = source_image(pairs)
    m, s = pairs.new()
    os.write(m, b"used once\n")
    settle()
    assert reads(s) == [b"used once\n"]  # used, but holding nothing ...
    assert b"".join(reads(m)) == b"used once\r\n"  # ... once the terminal has read the echo too
    pyctl.restore_onto(image, m)
    again = pyctl.checkpoint(m)
    mine, theirs = again.pairs[0], image.pairs[0]
    assert mine.slave == theirs.slave and mine.master.termios == theirs.master.termios


def test_cli_onto_path_and_fd(pairs, tmp_path):
    image, (want_termios, _) = source_image(pairs)
    path = tmp_path / "tty.img"
    path.write_bytes(image.dumps())
    m, s = pairs.new()
    r = subprocess.run([sys.executable, "-m", "pyctl", "restore", str(path), "--onto", os.ttyname(s)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "onto /dev/pts/" in r.stderr, r.stderr
    assert get_termios2(s) == want_termios
    r = subprocess.run([sys.executable, "-m", "pyctl", "restore", str(path), "--onto", str(s)],
                       capture_output=True, text=True, pass_fds=[s])
    assert r.returncode == 1 and "holds unread input" in r.stderr and r.stderr.count("\n") == 1
    r = subprocess.run([sys.executable, "-m", "pyctl", "restore", str(path), "--onto", str(s), "--force"],
                       capture_output=True, text=True, pass_fds=[s])
    assert r.returncode == 0, r.stderr
    os.write(m, b"ld\n")
    assert reads(s) == [b"first\n", b"hello world\n"]
    r = subprocess.run([sys.executable, "-m", "pyctl", "restore", str(path), "--force", "--", "true"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "--force goes with --onto" in r.stderr


@pytest.mark.parametrize("flags", [
    _uapi.CKPT_TTY_RESTORE_FORCE,  # FORCE without ONTO
    1 << 2,  # unknown
])
def test_kernel_refuses_bad_flags(pairs, dev, flags):
    image, _ = source_image(pairs)
    m, s = pairs.new()
    with pytest.raises(OSError) as e:
        dev.restore(m, ckpt.image_to_kernel(image.pairs[0]), flags)
    assert e.value.errno == errno.EINVAL
    assert get_int(s, TIOCINQ) == 0 and winsize(s) == (0, 0, 0, 0)
