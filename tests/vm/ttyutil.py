# SPDX-License-Identifier: GPL-2.0
"""Ground truth of a pty as userspace sees it, for the VM tests."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import textwrap
import time

import pyctl
from pyctl.pty import open_pty

# include/uapi/asm-generic/ioctls.h and termbits.h
TCGETS2 = 0x802C542A  # _IOR('T', 0x2A, struct termios2)
TCSETS2 = 0x402C542B  # _IOW('T', 0x2B, struct termios2)
TIOCGEXCL = 0x80045440
TIOCGPTLCK = 0x80045439
TIOCGPKT = 0x80045438
TIOCPKT = 0x5420
TIOCEXCL = 0x540C
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413
TIOCINQ = 0x541B
TIOCOUTQ = 0x5411
TERMIOS2 = struct.Struct("=4IB19sII")  # struct termios2: flags, c_line, c_cc[NCCS], speeds


def get_termios2(fd: int) -> tuple:
    return TERMIOS2.unpack(fcntl.ioctl(fd, TCGETS2, bytes(TERMIOS2.size)))


def set_termios2(fd: int, iflag, oflag, cflag, lflag, line, cc: bytes, ispeed, ospeed) -> None:
    fcntl.ioctl(fd, TCSETS2, TERMIOS2.pack(iflag, oflag, cflag, lflag, line, cc, ispeed, ospeed))


def get_int(fd: int, request: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, request, b"\0" * 4))[0]


def winsize(fd: int) -> tuple:
    return struct.unpack("4H", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))


def set_winsize(fd: int, row, col, x=0, y=0) -> None:
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("4H", row, col, x, y))


def settle() -> None:
    """Let flush_to_ldisc run: pty data reaches the other side's ldisc in a worker."""
    time.sleep(0.05)


def flood(fd: int, data: bytes, piece: int) -> int:
    """Write ``piece`` bytes at a time without blocking until the pty takes no more, even after
    its flush worker has run; how much it took."""
    os.set_blocking(fd, False)
    sent = 0
    try:
        while True:
            before = sent
            try:
                while sent < len(data):
                    sent += os.write(fd, data[sent:sent + piece])
            except BlockingIOError:
                pass
            settle()
            if sent == before:
                return sent
    finally:
        os.set_blocking(fd, True)


def reads(fd: int, size: int = 65536) -> list[bytes]:
    """Every read() that returns data right now, in order: line boundaries show."""
    settle()
    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    out = []
    try:
        while True:
            try:
                chunk = os.read(fd, size)
            except BlockingIOError:
                break
            if not chunk:
                break
            out.append(chunk)
    finally:
        os.set_blocking(fd, blocking)
    return out


def spawn_on_tty(slave: int, argv: list[str]) -> int:
    """argv in its own session with ``slave`` as controlling terminal and stdio; its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    return pid


def observable(master: int, slave: int) -> dict:
    """Everything a user can ask a pair without consuming data."""
    return {
        "slave termios2": get_termios2(slave),
        "master termios2": get_termios2(master),
        "winsize": (winsize(master), winsize(slave)),
        "slave inq": get_int(slave, TIOCINQ),
        "master inq": get_int(master, TIOCINQ),
        "exclusive": (get_int(master, TIOCGEXCL), get_int(slave, TIOCGEXCL)),
        "ptlck": get_int(master, TIOCGPTLCK),
        "pkt": get_int(master, TIOCGPKT),
    }


def twin(fd: int) -> tuple[int, int]:
    """Checkpoint fd's pair, round-trip the image through bytes, restore it."""
    image = pyctl.checkpoint(fd)
    data = image.dumps()
    again = pyctl.loads(data)
    assert again.dumps() == data
    return pyctl.restore(again, index="any")


class Pairs:
    """Pty pairs closed at the end of a test."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def new(self) -> tuple[int, int]:
        m, s = open_pty()
        self.fds += [m, s]
        return m, s

    def twin(self, fd: int) -> tuple[int, int]:
        m, s = twin(fd)
        self.fds += [m, s]
        return m, s

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass


def raw_mode(fd: int, vmin: int = 1, vtime: int = 0) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)
    attrs[0] &= ~(termios.ICRNL | termios.IXON)
    attrs[6][termios.VMIN] = vmin
    attrs[6][termios.VTIME] = vtime
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


# Python for a child process: a two-page area (base, second) whose second page
# is registered with userfaultfd (uffd) for missing pages.  Whatever touches
# that page waits until uffd is closed, and then gets a zero page.
UFFD_SECOND_PAGE = textwrap.dedent("""
    import ctypes, fcntl, mmap, os, struct
    libc = ctypes.CDLL(None, use_errno=True)
    uffd = libc.syscall(323, os.O_CLOEXEC)  # SYS_userfaultfd
    assert uffd >= 0, ctypes.get_errno()
    fcntl.ioctl(uffd, 0xC018AA3F, bytearray(struct.pack("QQQ", 0xAA, 0, 0)))  # UFFDIO_API
    area = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    area[0] = 1  # the first page is there
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    second = base + mmap.PAGESIZE
    fcntl.ioctl(uffd, 0xC020AA00, bytearray(struct.pack("QQQQ", second, mmap.PAGESIZE, 1, 0)))  # REGISTER, MISSING
""")
