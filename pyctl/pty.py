# SPDX-License-Identifier: GPL-2.0
"""Create UNIX98 pty pairs to restore into: in a chosen devpts instance, at a chosen index."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import resource
import select
import struct
import threading

from .errors import PyctlError, os_error

__all__ = ["Devpts", "IndexTaken", "devpts_of", "open_pty", "open_pty_at", "ptmx_of", "pty_index", "room_for_fds"]

# include/uapi/asm-generic/ioctls.h
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int)
TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int)
TIOCGPTPEER = 0x5441  # _IO('T', 0x41), Linux 4.13

OPEN_FLAGS = os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC


class IndexTaken(PyctlError):
    """The wanted /dev/pts/N is in use in that devpts instance."""


@dataclasses.dataclass(frozen=True)
class Devpts:
    """A devpts instance (every devpts mount is one since Linux 4.7) as this process sees it."""

    dev: int  # st_dev of its files: tells instances apart
    mountpoint: str  # where this process sees it mounted, "" if nowhere


def pty_index(master: int) -> int:
    """N of /dev/pts/N for a master fd."""
    return struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]


def _parse_devpts(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        fields = line.split()
        sep = fields.index("-")
        if fields[sep + 1] == "devpts":
            out.append((fields[2], fields[4].encode().decode("unicode_escape")))  # \040 for spaces
    return out


class _MountTable:
    """Devpts mounts of /proc/self/mountinfo, read again only when the mount table changed.

    proc(5): the file is pollable, and a mount or unmount in the namespace
    raises POLLPRI on an open descriptor until it is read again.  The cache
    is this process's (a fork, or a move to another mount namespace, reads
    afresh); a lock serializes the threads that share it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[int, int] | None = None
        self.fd = -1
        self.poller = select.poll()
        self.mounts: list[tuple[str, str]] = []

    def _reload(self, key: tuple[int, int]) -> None:
        if self.fd >= 0:
            self.poller.unregister(self.fd)
            os.close(self.fd)
            self.fd = -1
        fd = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        self.mounts = _parse_devpts(b"".join(chunks).decode(errors="surrogateescape"))
        self.fd, self.key = fd, key
        self.poller.register(fd, select.POLLPRI | select.POLLERR)

    def devpts(self) -> list[tuple[str, str]]:
        with self.lock:
            return self._devpts()

    def _devpts(self) -> list[tuple[str, str]]:
        try:
            key = (os.getpid(), os.stat("/proc/self/ns/mnt").st_ino)
            if key != self.key or self.poller.poll(0):
                self._reload(key)
        except OSError:
            self.key, self.mounts = None, []
        return self.mounts


_MOUNTS = _MountTable()
# A child forked while another thread held the lock would never get it
os.register_at_fork(after_in_child=lambda: setattr(_MOUNTS, "lock", threading.Lock()))


def _devpts_mounts() -> list[tuple[str, str]]:
    """(major:minor, mount point) of every devpts mount in our mount namespace (/proc/self/mountinfo)."""
    return _MOUNTS.devpts()


def mountpoint_of(dev: int) -> str:
    """Where devpts instance ``dev`` is mounted in our mount namespace, "" if nowhere."""
    want = f"{os.major(dev)}:{os.minor(dev)}"
    return next((mnt for d, mnt in _devpts_mounts() if d == want), "")


# A ptmx node, /dev/ptmx or a devpts instance's own: TTYAUX_MAJOR, minor 2
# (Documentation/admin-guide/devices.txt).
PTMX_DEVICE = (5, 2)


def is_ptmx(st: os.stat_result) -> bool:
    return (os.major(st.st_rdev), os.minor(st.st_rdev)) == PTMX_DEVICE


def devpts_of(fd: int) -> Devpts:
    """The devpts instance of either end of a pair.

    A slave fd is a devpts file.  A master fd is /dev/ptmx or some
    devpts's ptmx node, so ask for its peer with TIOCGPTPEER and O_PATH:
    that names the slave's inode without opening the tty (no side effect on
    a locked pty or a pair whose slave side was closed).
    """
    st = os.fstat(fd)
    if is_ptmx(st):
        peer = fcntl.ioctl(fd, TIOCGPTPEER, os.O_PATH | os.O_CLOEXEC)
        try:
            st = os.fstat(peer)
        finally:
            os.close(peer)
    return Devpts(st.st_dev, mountpoint_of(st.st_dev))


def ptmx_of(devpts: str) -> str:
    """The ptmx node of the devpts instance mounted at ``devpts``."""
    where = os.path.realpath(devpts)
    if where not in (mnt for _, mnt in _devpts_mounts()):
        raise PyctlError(f"{devpts} is not a devpts mount point (for a new instance: mount -t devpts "
                         f"-o newinstance,ptmxmode=0666 devpts {devpts})")
    path = os.path.join(where, "ptmx")
    try:
        st = os.stat(path)
    except OSError as e:
        raise os_error(e.errno, e.strerror, path) from None
    if not is_ptmx(st):
        raise PyctlError(f"{path} is not a ptmx device node")
    return path


def _finish(master: int) -> tuple[int, int]:
    """Unlock the new pair and open its slave through the master (same instance, whatever is mounted where)."""
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, TIOCGPTPEER, OPEN_FLAGS)
    except BaseException:
        os.close(master)
        raise
    return master, slave


def open_pty(ptmx: str = "/dev/ptmx") -> tuple[int, int]:
    """A new pair from ``ptmx`` (which picks the devpts instance): (master, slave).

    Neither end becomes a controlling tty, and neither is inherited by exec.
    """
    if ptmx == "/dev/ptmx":
        # glibc's openpty() (2.36, strace in the test VM) makes the calls
        # _finish() makes (TIOCSPTLCK, TIOCGPTPEER with O_NOCTTY; a master
        # never becomes a controlling tty), in one call from Python, which
        # under TCG costs a quarter less; os.openpty() makes both fds
        # non-inheritable, as OPEN_FLAGS does.
        return os.openpty()
    return _finish(os.open(ptmx, OPEN_FLAGS))


def room_for_fds(fds: int) -> None:
    """Raise our soft fd limit toward the hard one when holding ``fds`` more descriptors needs it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = fds + 64
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want,
                                                     hard))


def open_pty_at(index: int, ptmx: str = "/dev/ptmx") -> tuple[int, int]:
    """A new pair that is /dev/pts/``index`` of ``ptmx``'s devpts instance.

    devpts hands out the lowest free index, so ptmx is opened until it gives
    ``index``, holding the lower ones meanwhile and closing them after: at
    most ``index`` + 1 opens.  IndexTaken when something else holds it.
    """
    room_for_fds(index + 1)
    held: list[int] = []
    try:
        while True:
            try:
                master = os.open(ptmx, OPEN_FLAGS)
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOSPC):
                    raise os_error(e.errno, f"{ptmx}: cannot reach /dev/pts/{index}: {e.strerror} after holding "
                                            f"{len(held)} lower indexes") from None
                raise
            got = pty_index(master)
            if got == index:
                return _finish(master)
            if got > index:
                os.close(master)
                raise IndexTaken(f"/dev/pts/{index} is in use in the devpts instance of {ptmx}; "
                                 "restore with --any-index to take another")
            held.append(master)
    finally:
        for fd in held:
            os.close(fd)
