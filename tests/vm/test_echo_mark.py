# SPDX-License-Identifier: GPL-2.0
"""echo_mark: the one echo index n_tty lets fall behind, and what restore does with it.

n_tty sets echo_mark = echo_head in commit_echoes() after every echo it adds,
with one exception: the LNEXT character in canonical mode with ECHO and
without ECHOCTL ends an ECHOPRT erase (finish_erasing() echoes '/') and
returns without commit_echoes() (n_tty_receive_char_canon() in 6.1 and 6.12).
flush_echoes() at the end of the receive then processes up to echo_head, so
echo_tail passes echo_mark by one, and the next process_echoes() (any write
to the tty) copies echo_mark into echo_commit and walks the whole echo ring,
printing about 4 KiB of old echo bytes.  The kernel refuses a restore with
echo_mark != echo_head; pyctl.restore settles that one state to echo_mark =
echo_head (pyctl.reachable.settle), which is what n_tty meant it to be.
"""

import errno
import os
import termios

import pytest

import pyctl
from pyctl import reachable

from .ttyutil import reads, settle

ECHOPRT = 0o2000


def _erase_then_lnext(m: int, s: int) -> None:
    attrs = termios.tcgetattr(s)
    attrs[3] = (attrs[3] | termios.ICANON | termios.ECHO | ECHOPRT | termios.IEXTEN) & ~termios.ECHOCTL
    termios.tcsetattr(s, termios.TCSANOW, attrs)
    # two letters: erasing the last one of a line ends the erase at once
    for chunk in (b"ab", attrs[6][termios.VERASE], attrs[6][termios.VLNEXT]):
        os.write(m, chunk)
        settle()
    assert b"".join(reads(m)) == b"ab\\b/"


def test_stock_n_tty_leaves_echo_mark_behind_and_restore_settles_it(pairs):
    m, s = pairs.new()
    _erase_then_lnext(m, s)
    image = pyctl.checkpoint(s)
    slave = image.pairs[0].slave
    # ground truth of the anomaly in the image: nothing pending, echo_mark one behind
    assert (slave.echo, slave.echo_commit, slave.echo_mark) == (b"", 0, -1)
    assert slave.ntty("lnext")
    assert reachable.pair_problems(image.pairs[0], "p") != []
    assert reachable.pair_problems(reachable.settle(image.pairs[0]), "p") == []

    m2, s2 = pyctl.restore(image, index="any")
    pairs.fds += [m2, s2]
    # the original: one byte written, the master gets it and the stale echo ring
    os.write(s, b"!")
    original = b"".join(reads(m))
    assert len(original) > 4000, original[:80]
    # the restored pair: the byte and nothing else; the pending LNEXT still applies
    os.write(s2, b"!")
    assert reads(m2) == [b"!"]
    os.write(m2, b"\x03x\n")  # ^C taken literally after LNEXT, not as SIGINT
    assert reads(s2) == [b"a\x03x\n"]


def test_the_kernel_refuses_echo_mark_behind_head(pairs, dev):
    m, s = pairs.new()
    _erase_then_lnext(m, s)
    raw = dev.checkpoint(s)
    target = pairs.new()
    with pytest.raises(OSError) as refused:  # the kernel takes echo_mark == echo_head only
        dev.restore(target[0], raw)
    assert refused.value.errno == errno.EINVAL
    raw["slave"]["echo_mark"] = raw["slave"]["echo_head"]
    dev.restore(target[0], raw)
    os.write(target[1], b"!")
    settle()
    assert reads(target[0]) == [b"!"]
