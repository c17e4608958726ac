# SPDX-License-Identifier: GPL-2.0
"""Pty allocation on the host (no module needed): chosen index, devpts instances, the peer of a master."""

import os

import pytest

from pyctl.errors import PyctlError
from pyctl.pty import IndexTaken, devpts_of, open_pty, open_pty_at, ptmx_of, pty_index


@pytest.fixture
def fds():
    opened = []
    yield opened
    for fd in opened:
        os.close(fd)


def own_fds():
    return sorted(os.listdir("/proc/self/fd"))


def test_open_pty_at_a_free_index_holds_nothing_after(fds):
    m, s = open_pty()
    fds += [m, s]
    want = pty_index(m) + 7
    before = own_fds()
    m2, s2 = open_pty_at(want)
    fds += [m2, s2]
    assert pty_index(m2) == want and os.ttyname(s2) == f"/dev/pts/{want}"
    assert sorted(own_fds()) == sorted(before + [str(m2), str(s2)])


def test_open_pty_at_a_taken_index(fds):
    m, s = open_pty()
    fds += [m, s]
    before = own_fds()
    with pytest.raises(IndexTaken, match=rf"/dev/pts/{pty_index(m)} is in use in the devpts instance of /dev/ptmx"):
        open_pty_at(pty_index(m))
    assert own_fds() == before


def test_devpts_of_either_end(fds):
    m, s = open_pty()
    fds += [m, s]
    assert devpts_of(m) == devpts_of(s)
    assert devpts_of(s).dev == os.stat("/dev/pts").st_dev and devpts_of(s).mountpoint == "/dev/pts"


def test_devpts_of_a_locked_master_opens_nothing(fds):
    """The O_PATH peer lookup works where opening the slave would fail (a locked pty)."""
    import fcntl
    import struct

    from pyctl.pty import TIOCSPTLCK

    m = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    fds.append(m)
    fcntl.ioctl(m, TIOCSPTLCK, struct.pack("i", 1))
    with pytest.raises(OSError):
        os.open(f"/dev/pts/{pty_index(m)}", os.O_RDWR | os.O_NOCTTY)
    assert devpts_of(m).mountpoint == "/dev/pts"


def test_ptmx_of():
    assert ptmx_of("/dev/pts") == "/dev/pts/ptmx"
    assert ptmx_of("/dev/pts/") == "/dev/pts/ptmx"
    with pytest.raises(PyctlError, match="/tmp is not a devpts mount point"):
        ptmx_of("/tmp")
