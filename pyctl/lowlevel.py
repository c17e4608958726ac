# SPDX-License-Identifier: GPL-2.0
"""The module's ioctls, one call each, on its own structures.

For tests, fuzzers and tools that need the kernel's view: records (ABI 3,
pyctl.record) as bytes or dicts, with no image around them and no checks of
pyctl's own.  pyctl.checkpoint() and pyctl.restore() are built on these.

    with Device() as dev:
        pair = dev.checkpoint(fd)             # dict; dev.checkpoint_record(fd) for the record's bytes
        dev.restore(other_fd, pair)           # EINVAL, EBUSY, ... as an OSError (pyctl.errors.os_error)
        recs = dev.checkpoint_records(fds)    # many pairs in one call
        errs = dev.restore_records([(fd, rec), ...])

pyctl.checkpoint() and pyctl.restore() use shared(): one open device per
thread, kept open between calls (opening it costs as much as a checkpoint).
An open device pins the module: release_shared() closes them, and
pyctl.kmod.unload() calls it first.
"""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import os
import struct
import threading
import weakref

from . import _uapi, abi, record
from .errors import PyctlError, os_error
from .info import DEVICE_PATH, ModuleInfo, get_info, open_device

__all__ = ["Device", "release_shared", "shared"]

ITEM_SIZE = abi.sizeof("ckpt_tty_restore_item")
CHECKPOINT_ARG = struct.Struct(_uapi.STRUCTS["ckpt_tty_checkpoint_arg"][0])
_ARG_FIELDS = [f[0] for f in _uapi.STRUCTS["ckpt_tty_checkpoint_arg"][1]]
_BUF_USED, _DONE = _ARG_FIELDS.index("buf_used"), _ARG_FIELDS.index("done")
# A batch's buffer grows to this when records fill it (a record alone may need more)
BATCH_BUF_MAX = 1 << 20
# buf_used alone, read where the kernel writes it (checkpoint_record())
BUF_USED = struct.Struct("=Q")
BUF_USED_OFFSET = next(f[1] for f in _uapi.STRUCTS["ckpt_tty_checkpoint_arg"][1] if f[0] == "buf_used")
# RESTORE's structures, packed by position in restore_records(): the order is checked here.
RESTORE_ITEM = struct.Struct(_uapi.STRUCTS["ckpt_tty_restore_item"][0])
RESTORE_ARG = struct.Struct(_uapi.STRUCTS["ckpt_tty_restore_arg"][0])
if ([f[0] for f in _uapi.STRUCTS["ckpt_tty_restore_item"][1]] != ["fd", "error", "offset"] or
        [f[0] for f in _uapi.STRUCTS["ckpt_tty_restore_arg"][1]] !=
        ["items", "count", "flags", "buf", "buf_size", "done", "reserved0", "reserved"]):
    raise ImportError("pyctl.lowlevel: struct ckpt_tty_restore_item or _arg changed in the uapi header")

# ModuleInfo of the loaded module, keyed by its device node's identity
_INFO: dict[tuple[int, int, int], ModuleInfo] = {}

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
        self.fd = -1  # what close() (and __del__) find if the open below fails
        self.fd = open_device(path)
        self._info: ModuleInfo | None = None
        self._one_fd = array.array("i", [-1])  # checkpoint_record()'s fd, at a fixed address
        self._grow(16384)  # grows when a record needs more
        # restore()'s item table and argument, at fixed addresses
        self._rtable = bytearray(ITEM_SIZE)
        self._rtable_holder = (ctypes.c_char * ITEM_SIZE).from_buffer(self._rtable)
        self._rtable_address = ctypes.addressof(self._rtable_holder)
        self._rarg = bytearray(RESTORE_ARG.size)
        self._grow_restore(16384)

    def _grow(self, size: int) -> None:
        self._buf = bytearray(size)
        self._buf_holder = (ctypes.c_char * size).from_buffer(self._buf)  # pins the bytearray's memory
        self._buf_address = ctypes.addressof(self._buf_holder)
        self._view = memoryview(self._buf)
        # checkpoint_record()'s argument, packed once per buffer: the kernel
        # reads fds, count, flags, buf, buf_size and the reserved fields,
        # and writes only buf_used and done.
        self._one_arg = bytearray(CHECKPOINT_ARG.pack(self._one_fd.buffer_info()[0], 1, 0, self._buf_address,
                                                      size, 0, 0, 0, 0, 0))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:  # a thread's shared device goes when the thread does
        self.close()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def info(self) -> ModuleInfo:
        """GET_INFO, asked once per loaded module: a reload makes a new device node."""
        if self._info is not None:  # an open device pins the module it came from
            return self._info
        st = os.fstat(self.fd)
        key = (st.st_dev, st.st_ino, st.st_rdev)
        info = _INFO.get(key)
        if info is None:
            info = get_info(self.fd, self.path)
            _INFO.clear()
            _INFO[key] = info
        self._info = info
        return info

    def _ioctl(self, request: int, arg: bytearray, what: str, errors: dict[int, str] | None = None) -> None:
        try:
            fcntl.ioctl(self.fd, request, arg, True)
        except OSError as e:
            explain = {**EXPLAIN, **(errors or {})}
            raise os_error(e.errno, f"{what}: {explain.get(e.errno, os.strerror(e.errno))}") from None

    # ---- checkpoint ----

    def checkpoint_records(self, fds: list[int]) -> list[memoryview]:
        """CHECKPOINT of every fd in one call: one record each, in order (a failed fd's carries its error).

        The records are views of this Device's buffer, valid until its next call.
        """
        if not 1 <= len(fds) <= _uapi.CKPT_TTY_BATCH_MAX:
            raise ValueError(f"{len(fds)} fds: one to {_uapi.CKPT_TTY_BATCH_MAX} per call")
        fd_array = array.array("i", fds)
        fds_address = fd_array.buffer_info()[0]
        out: list[memoryview] = []
        start = 0
        while start < len(fds):
            arg = bytearray(CHECKPOINT_ARG.size)
            CHECKPOINT_ARG.pack_into(arg, 0, fds_address + start * fd_array.itemsize, len(fds) - start, 0,
                                     self._buf_address, len(self._buf), 0, 0, 0, 0, 0)
            try:
                fcntl.ioctl(self.fd, _uapi.CKPT_TTY_IOC_CHECKPOINT, arg, True)
                err = 0
            except OSError as e:
                err = e.errno
            result = CHECKPOINT_ARG.unpack_from(arg)
            used, done = result[_BUF_USED], result[_DONE]
            if err == errno.ENOSPC:  # the next record needs a bigger buffer
                self._grow(max(used, 2 * len(self._buf)))
                continue
            if err and (len(fds) - start > 1 or not done):
                raise os_error(err, f"checkpoint: {EXPLAIN.get(err, os.strerror(err))}")
            if not done:
                raise PyctlError("checkpoint: the module wrote no record and gave no error")
            out += record.split(bytes(self._view[:used]), used)
            start += done
            if start < len(fds) and len(self._buf) < BATCH_BUF_MAX:  # full: fewer, larger calls for the rest
                self._grow(2 * len(self._buf))
        return out

    def checkpoint_record(self, fd: int) -> bytes:
        """The record of the pair ``fd`` belongs to: CHECKPOINT of one fd, and
        nothing else (pyctl.checkpoint()'s path).  A refusal raises its OSError."""
        self._one_fd[0] = fd
        while True:
            try:
                fcntl.ioctl(self.fd, _uapi.CKPT_TTY_IOC_CHECKPOINT, self._one_arg, True)
                break
            except OSError as e:
                err = e.errno
            if err != errno.ENOSPC:
                raise os_error(err, f"checkpoint of fd {fd}: {EXPLAIN.get(err, os.strerror(err))}")
            if len(self._buf) >= _uapi.CKPT_TTY_RECORD_MAX:
                raise PyctlError(f"checkpoint of fd {fd}: the module wants more than {len(self._buf)} bytes")
            (need,) = BUF_USED.unpack_from(self._one_arg, BUF_USED_OFFSET)
            self._grow(min(max(need, 2 * len(self._buf)), _uapi.CKPT_TTY_RECORD_MAX))
            self._one_fd[0] = fd
        (used,) = BUF_USED.unpack_from(self._one_arg, BUF_USED_OFFSET)
        return bytes(self._view[:used])

    def checkpoint(self, fd: int) -> dict:
        """The record of the pair ``fd`` belongs to, as a dict (pyctl.record)."""
        return record.decode(self.checkpoint_record(fd))

    # ---- restore ----

    def restore_records(self, items: list[tuple[int, bytes | bytearray]], flags: int = 0, what: str = "restore",
                        errors: dict[int, str] | None = None) -> list[int]:
        """RESTORE of every (fd, record) in one call; the errno of each (0: restored).

        Every record is checked before any pair is touched: when one is
        refused, nothing is restored and the OSError names the pair.  After
        that, a pair that cannot take its record (EBUSY, ENOMEM) has its
        errno in the list and the others are restored.
        """
        if not 1 <= len(items) <= _uapi.CKPT_TTY_BATCH_MAX:
            raise ValueError(f"{len(items)} pairs: one to {_uapi.CKPT_TTY_BATCH_MAX} per call")
        buf, table = bytearray(), bytearray(ITEM_SIZE * len(items))
        for k, (fd, rec) in enumerate(items):
            RESTORE_ITEM.pack_into(table, k * ITEM_SIZE, fd, 0, len(buf))
            buf += rec
            buf += bytes(-len(buf) % 8)
        if not buf:
            buf = bytearray(8)
        table_holder = (ctypes.c_char * len(table)).from_buffer(table)
        buf_holder = (ctypes.c_char * len(buf)).from_buffer(buf)
        arg = bytearray(RESTORE_ARG.pack(ctypes.addressof(table_holder), len(items), flags,
                                         ctypes.addressof(buf_holder), len(buf), 0, 0, 0, 0))
        try:
            fcntl.ioctl(self.fd, _uapi.CKPT_TTY_IOC_RESTORE, arg, True)
            err = 0
        except OSError as e:
            err = e.errno
        finally:
            del table_holder, buf_holder
        each = [-RESTORE_ITEM.unpack_from(table, i * ITEM_SIZE)[1] for i in range(len(items))]
        if err and (len(items) > 1 or not each[0]):
            explain = {**EXPLAIN, **(errors or {})}
            first = next((i for i, e in enumerate(each) if e), None)
            which = "" if first is None or len(items) == 1 else f" (pair {first})"
            raise os_error(err, f"{what}{which}: {explain.get(err, os.strerror(err))}")
        return each

    def restore(self, fd: int, pair: dict | bytes | bytearray | memoryview, flags: int = 0, what: str = "restore",
                errors: dict[int, str] | None = None) -> None:
        """RESTORE (``flags``: CKPT_TTY_RESTORE_*) of one record into the pair ``fd`` belongs to.

        pyctl.restore()'s path: the record is copied into a buffer this
        Device keeps, with an argument packed in place (restore_records()
        builds both per call).
        """
        rec = pair if isinstance(pair, (bytes, bytearray, memoryview)) else record.encode(pair)
        n = len(rec)
        size = max(8, (n + 7) & ~7)  # the kernel reads records at 8-byte offsets
        if size > len(self._rbuf):
            self._grow_restore(size)
        self._rbuf[:n] = rec
        self._rbuf[n:size] = bytes(size - n)
        RESTORE_ITEM.pack_into(self._rtable, 0, fd, 0, 0)
        RESTORE_ARG.pack_into(self._rarg, 0, self._rtable_address, 1, flags, self._rbuf_address, size, 0, 0, 0, 0)
        try:
            fcntl.ioctl(self.fd, _uapi.CKPT_TTY_IOC_RESTORE, self._rarg, True)
            err = -RESTORE_ITEM.unpack_from(self._rtable)[1]
        except OSError as e:
            err = e.errno
        if err:
            explain = {**EXPLAIN, **(errors or {})}
            raise os_error(err, f"{what}: {explain.get(err, os.strerror(err))}")

    def _grow_restore(self, size: int) -> None:
        self._rbuf = bytearray(size)
        self._rbuf_holder = (ctypes.c_char * size).from_buffer(self._rbuf)  # pins the bytearray's memory
        self._rbuf_address = ctypes.addressof(self._rbuf_holder)


# ---- one device per thread, kept open ----

_local = threading.local()
_opened: "weakref.WeakSet[Device]" = weakref.WeakSet()  # every live thread's, for release_shared()
_opened_lock = threading.Lock()


def shared(path: str = DEVICE_PATH) -> Device:
    """This thread's open device at ``path``, opened on first use and then kept."""
    dev = getattr(_local, "device", None)
    if dev is None or dev.fd < 0 or dev.path != path:
        dev = Device(path)
        _local.device = dev
        with _opened_lock:
            _opened.add(dev)
    return dev


def release_shared() -> None:
    """Close every thread's shared device (so the module can be unloaded); the next call opens again."""
    with _opened_lock:
        for dev in list(_opened):
            dev.close()
