# SPDX-License-Identifier: GPL-2.0
"""Create UNIX98 pty pairs to restore into."""

from __future__ import annotations

import fcntl
import os
import struct

__all__ = ["open_pty", "pty_index"]

# include/uapi/asm-generic/ioctls.h
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int)
TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int)
TIOCGPTPEER = 0x5441  # _IO('T', 0x41), Linux 4.13


def pty_index(master: int) -> int:
    """N of /dev/pts/N for a master fd."""
    return struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]


def open_pty(ptmx: str = "/dev/ptmx") -> tuple[int, int]:
    """A new pair from ``ptmx`` (which picks the devpts instance): (master, slave).

    The slave comes from TIOCGPTPEER, so it belongs to the same devpts
    instance whatever is mounted where.  Neither becomes a controlling tty.
    """
    flags = os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC
    master = os.open(ptmx, flags)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, TIOCGPTPEER, flags)
    except BaseException:
        os.close(master)
        raise
    return master, slave
