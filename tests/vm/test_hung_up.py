# SPDX-License-Identifier: GPL-2.0
"""Hung-up terminals restore as they were: the same read(), write(), ioctl
and poll() results on every fd, and what a new open of /dev/pts/N finds.

A hung-up pty end has no line discipline (tty_ldisc_hangup() kills it; a new
open brings one back).  Three ways to get there, each compared with its
restored copy side by side:
- the master closed while a program holds the slave (an ssh session that
  dropped): the slave is hung up, other_closed, and /dev/pts/N is gone;
- TIOCVHANGUP on the slave while the master stays (a session manager
  hanging up a login); what the master writes afterwards waits for the
  next open;
- TIOCVHANGUP on the master.
"""

import dataclasses
import errno
import fcntl
import os
import select
import struct
import termios

import pytest

import pyctl
from pyctl import _uapi, pairrecord
from pyctl.errors import ImageError
from pyctl.pty import pty_index

from .ttyutil import TIOCGWINSZ, reads, set_winsize, settle

TIOCVHANGUP = 0x5437
O_FLAGS = os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK


def behaviour(fd: int, write: bool = True) -> dict:
    """What a program holding ``fd`` sees: read, write, termios and winsize ioctls, poll.

    ``write`` writes a byte (for a live end, one more byte the other side gets)."""
    def outcome(call):
        try:
            return ("ok", call())
        except OSError as e:
            return ("errno", e.errno)
        except termios.error as e:  # not an OSError; args are (errno, message)
            return ("errno", e.args[0])

    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        poll = select.poll()
        poll.register(fd)
        return {
            "poll": [events for _, events in poll.poll(0)],
            "read": outcome(lambda: os.read(fd, 100)),
            "write": outcome(lambda: os.write(fd, b"x")) if write else None,
            "tcgetattr": outcome(lambda: termios.tcgetattr(fd)),
            "winsize": outcome(lambda: fcntl.ioctl(fd, TIOCGWINSZ, bytes(8))),
        }
    finally:
        os.set_blocking(fd, blocking)


def ends(image) -> tuple:
    """The two ends of the image's pair (what must survive; index and devpts instance may differ)."""
    p = image.pairs[0]
    return p.master, p.slave


def restored(pairs, image):
    m, s = pyctl.restore(pyctl.loads(image.dumps()), index="any")
    pairs.fds += [fd for fd in (m, s) if fd is not None]
    return m, s


def test_master_closed_under_a_program_holding_the_slave(pairs):
    """The slave outlives its master (ssh dropped): reads 0, writes fail with EIO, its node is gone."""
    m, s = pairs.new()
    set_winsize(s, 30, 100)
    os.write(m, b"typed\n")
    settle()
    settle()  # the slave's echo reaches the master's line discipline in a second worker run
    os.close(m)
    pairs.fds.remove(m)
    image = pyctl.checkpoint(s)  # through the hung-up slave: the only handle left
    master, slave = ends(image)
    assert slave.has("hupped") and slave.has("other_closed") and master.has("other_closed")
    assert not slave.input and not slave.ntty_flags  # no line discipline after the hangup
    assert master.input == b"typed\r\n"  # the echo the master never read
    m2, s2 = restored(pairs, image)
    assert m2 is None
    assert ends(pyctl.checkpoint(s2)) == ends(image)
    assert behaviour(s2) == behaviour(s)
    assert behaviour(s)["read"] == ("ok", b"") and behaviour(s)["write"] == ("errno", errno.EIO)
    assert [os.path.exists(f"/dev/pts/{os.minor(os.fstat(fd).st_rdev)}") for fd in (s, s2)] == [False, False]


def test_slave_hung_up_while_its_master_stays(pairs):
    """Old slave fds are dead; what the master writes after the hangup waits for the next open."""
    m, s = pairs.new()
    index = pty_index(m)
    fcntl.ioctl(s, TIOCVHANGUP)
    attrs = termios.tcgetattr(m)  # a master's mode ioctls act on its slave, hung up or not
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(m, termios.TCSANOW, attrs)
    set_winsize(m, 40, 120)
    os.write(m, b"first line\nhalf")
    settle()
    image = pyctl.checkpoint(m)
    master, slave = ends(image)
    assert slave.has("hupped") and not slave.has("other_closed") and not master.flags
    assert slave.flip == b"first line\nhalf" and not slave.input  # no ldisc took it
    m2, s2 = restored(pairs, image)
    assert ends(pyctl.checkpoint(m2)) == ends(image)
    assert behaviour(s2) == behaviour(s) and behaviour(s)["read"] == ("ok", b"")
    assert behaviour(m2, write=False) == behaviour(m, write=False)
    # A new open clears the hangup and gets what waited, line by line, with the modes set meanwhile
    # (whether before or after the next write from the master: the same on both).
    new = [os.open(f"/dev/pts/{n}", O_FLAGS) for n in (index, pty_index(m2))]
    pairs.fds += new
    assert termios.tcgetattr(new[0]) == termios.tcgetattr(new[1])
    assert [struct.unpack("4H", fcntl.ioctl(fd, TIOCGWINSZ, bytes(8)))[:2] for fd in new] == [(40, 120)] * 2
    first = [reads(fd) for fd in new]
    os.write(m, b" done\n")
    os.write(m2, b" done\n")
    got = [a + reads(fd) for a, fd in zip(first, new)]
    assert got[0] == got[1] == [b"first line\n", b"half done\n"]
    assert [pyctl.checkpoint(fd).pairs[0].slave.has("hupped") for fd in (m, m2)] == [False, False]


def test_master_hung_up(pairs):
    m, s = pairs.new()
    os.write(s, b"output nobody read\n")
    settle()
    fcntl.ioctl(m, TIOCVHANGUP)
    image = pyctl.checkpoint(s)
    master, slave = ends(image)
    assert master.has("hupped") and not slave.flags and not master.input
    m2, s2 = restored(pairs, image)
    assert ends(pyctl.checkpoint(s2)) == ends(image)
    assert behaviour(m2) == behaviour(m) and behaviour(m)["write"] == ("errno", errno.EIO)
    assert behaviour(s2, write=False) == behaviour(s, write=False)


def test_a_hung_up_pair_among_others_restores_in_one_call(pairs):
    live, hung = pairs.new(), pairs.new()
    os.write(live[0], b"kept\n")
    fcntl.ioctl(hung[1], TIOCVHANGUP)
    os.write(hung[0], b"later\n")
    settle()
    image = pyctl.checkpoint_many([live[0], hung[0]])
    got = pyctl.restore_many(pyctl.loads(image.dumps()))
    pairs.fds += [fd for pair in got for fd in pair]
    assert [p.slave.has("hupped") for p in image.pairs] == [False, True]
    assert [ends(pyctl.checkpoint(m)) for m, _ in got] == [(p.master, p.slave) for p in image.pairs]
    assert reads(got[0][1]) == [b"kept\n"]
    assert behaviour(got[1][1]) == behaviour(hung[1])


def test_hung_up_ends_are_refused_onto_a_terminal_in_use_and_with_line_state(pairs, dev):
    m, s = pairs.new()
    fcntl.ioctl(s, TIOCVHANGUP)
    image = pyctl.checkpoint(m)
    target = pairs.new()
    with pytest.raises(ImageError, match="hung up at checkpoint time"):
        pyctl.restore_onto(image, target[0])
    raw = pairrecord.pair_to_record(image.pairs[0])
    with pytest.raises(OSError) as e:  # the module refuses it too
        dev.restore(target[0], raw, _uapi.CKPT_TTY_RESTORE_ONTO)
    assert e.value.errno == errno.EINVAL
    # A hung-up end with n_tty state is no state a pty reaches: Python and the module refuse it.
    p = image.pairs[0]
    typed = dataclasses.replace(p, slave=dataclasses.replace(p.slave, input=b"x", commit=1))
    image.pairs[0] = typed
    with pytest.raises(ImageError, match="n_tty state on a hung-up end"):
        pyctl.restore(image, index="any")
    fresh = pairs.new()
    with pytest.raises(OSError) as e:
        dev.restore(fresh[0], pairrecord.pair_to_record(typed))
    assert e.value.errno == errno.EINVAL
    assert behaviour(fresh[1])["read"] == ("errno", errno.EAGAIN)  # untouched: not hung up


def test_onto_with_hang_up_makes_a_terminal_in_use_what_the_hung_up_one_was(pairs, dev):
    """CRIU's post-restore case (pyctl.criu): the tree holds a live pair criu made; the image says
    the slave had been hung up, with output unread on the master and input waiting in the flip."""
    m, s = pairs.new()
    index = pty_index(m)
    os.write(s, b"output before\n")
    settle()
    fcntl.ioctl(s, TIOCVHANGUP)
    set_winsize(m, 40, 120)
    os.write(m, b"typed after\n")
    settle()
    image = pyctl.checkpoint(m)
    master, slave = ends(image)
    assert slave.has("hupped") and master.input == b"output before\r\n" and slave.flip == b"typed after\n"
    target = pairs.new()
    os.write(target[0], b"criu wrote this back\n")  # what FORCE discards
    settle()
    # the flag alone, without ONTO, is a bad argument; a hung-up image onto without it too
    raw = pairrecord.pair_to_record(image.pairs[0])
    for flags in (_uapi.CKPT_TTY_RESTORE_HANGUP, _uapi.CKPT_TTY_RESTORE_ONTO | _uapi.CKPT_TTY_RESTORE_FORCE):
        with pytest.raises(OSError) as e:
            dev.restore(target[0], raw, flags)
        assert e.value.errno == errno.EINVAL
    assert behaviour(target[1], write=False)["read"] == ("ok", b"criu wrote this back\n")  # untouched
    os.write(target[0], b"criu wrote this back\n")
    settle()
    pyctl.restore_onto(image, target[1], force=True, hang_up=True)  # through the slave, as criu's tree holds it
    assert ends(pyctl.checkpoint(target[0])) == ends(image)
    assert behaviour(target[1]) == behaviour(s) and behaviour(s)["read"] == ("ok", b"")
    now, was = behaviour(target[0], write=False), behaviour(m, write=False)
    assert now == was and now["read"] == ("ok", b"output before\r\n")  # once, not processed again
    # what waited for the next open of the slave is there, the same as on the original
    new = [os.open(f"/dev/pts/{n}", O_FLAGS) for n in (index, pty_index(target[0]))]
    pairs.fds += new
    first = [reads(fd) for fd in new]
    os.write(m, b"more\n")
    os.write(target[0], b"more\n")
    got = [a + reads(fd) for a, fd in zip(first, new)]
    assert got[0] == got[1] == [b"typed after\n", b"more\n"]


def test_onto_with_hang_up_needs_a_live_target_and_leaves_a_live_image_alone(pairs, dev):
    m, s = pairs.new()
    fcntl.ioctl(s, TIOCVHANGUP)
    image = pyctl.checkpoint(m)
    dead = pairs.new()
    fcntl.ioctl(dead[1], TIOCVHANGUP)  # a target hung up already is not one criu made
    with pytest.raises(OSError) as e:
        pyctl.restore_onto(image, dead[0], force=True, hang_up=True)
    assert e.value.errno == errno.EBUSY
    # hang_up is a permission, not an order: a live image onto stays live
    live = pyctl.checkpoint(pairs.new()[0])
    target = pairs.new()
    pyctl.restore_onto(live, target[0], hang_up=True)
    assert not pyctl.checkpoint(target[0]).pairs[0].slave.has("hupped")
    assert behaviour(target[1])["read"] == ("errno", errno.EAGAIN)
