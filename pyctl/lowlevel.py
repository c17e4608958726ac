# SPDX-License-Identifier: GPL-2.0
"""The module's ioctls, one call each, on its own structures.

For tests, fuzzers and tools that need the kernel's view: ``struct
ckpt_tty_pair`` as pyctl.abi decodes it (a dict of fields), with no image
around it and no checks of pyctl's own.  pyctl.checkpoint() and
pyctl.restore() are built on these.

    with Device() as dev:
        pair = dev.checkpoint(fd)             # dict; dev.checkpoint_bytes(fd) for the raw bytes
        dev.restore(other_fd, pair)           # EINVAL, EBUSY, ... as an OSError (pyctl.errors.os_error)
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os

from . import _uapi, abi
from .errors import os_error
from .info import DEVICE_PATH, ModuleInfo, get_info, open_device

__all__ = ["Device", "PAIR_SIZE"]

PAIR_SIZE = abi.sizeof("ckpt_tty_pair")

# What each errno of CHECKPOINT and RESTORE means (kmod/uapi/linux/ckpt_tty.h).
EXPLAIN = {
    errno.EBADF: "not an open file descriptor",
    errno.ENOTTY: "not a terminal",
    errno.EOPNOTSUPP: "not a UNIX98 pty, or its line discipline is not N_TTY",
    errno.EIO: "the terminal was hung up",
    errno.EBUSY: "the pair is busy (changing line discipline, hanging up) or, for restore, not fresh",
    errno.EOVERFLOW: "more pending input than the module can save",
    errno.EINVAL: "the module refused the state as invalid",
    errno.EINTR: "interrupted while waiting for the terminal",
}


class Device:
    """An open /dev/ckpt_tty."""

    def __init__(self, path: str = DEVICE_PATH) -> None:
        self.path = path
        self.fd = open_device(path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def info(self) -> ModuleInfo:
        return get_info(self.fd, self.path)

    def pair_ioctl(self, request: int, fd: int, buf: bytearray, what: str, flags: int = 0,
                   errors: dict[int, str] | None = None) -> None:
        """CHECKPOINT or RESTORE with ``buf`` as the pair; an OSError explained by ``errors``."""
        holder = (ctypes.c_char * len(buf)).from_buffer(buf)
        arg = abi.encode("ckpt_tty_pair_arg", {"fd": fd, "flags": flags, "pair": ctypes.addressof(holder),
                                               "pair_size": len(buf)})
        explain = {**EXPLAIN, **(errors or {})}
        try:
            fcntl.ioctl(self.fd, request, bytes(arg))
        except OSError as e:
            raise os_error(e.errno, f"{what}: {explain.get(e.errno, os.strerror(e.errno))}") from None
        finally:
            del holder

    def checkpoint_bytes(self, fd: int) -> bytes:
        """struct ckpt_tty_pair of the pair ``fd`` belongs to, as the kernel wrote it."""
        buf = bytearray(PAIR_SIZE)
        self.pair_ioctl(_uapi.CKPT_TTY_IOC_CHECKPOINT, fd, buf, f"checkpoint of fd {fd}")
        return bytes(buf)

    def checkpoint(self, fd: int) -> dict:
        return abi.decode("ckpt_tty_pair", bytearray(self.checkpoint_bytes(fd)))

    def restore(self, fd: int, pair: dict | bytes, flags: int = 0, what: str = "restore",
                errors: dict[int, str] | None = None) -> None:
        """RESTORE (``flags``: CKPT_TTY_RESTORE_*) of ``pair`` into the pair ``fd`` belongs to."""
        buf = bytearray(pair) if isinstance(pair, (bytes, bytearray)) else abi.encode("ckpt_tty_pair", pair)
        self.pair_ioctl(_uapi.CKPT_TTY_IOC_RESTORE, fd, buf, what, flags, errors)
