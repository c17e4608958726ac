# SPDX-License-Identifier: GPL-2.0
"""The module's handshake: ``struct ckpt_tty_info`` and GET_INFO.

The same structure comes from the running module (CKPT_TTY_IOC_GET_INFO on
/dev/ckpt_tty) and from the ``.ckpt_tty_info`` section of ckpt_tty.ko.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import struct

from . import _uapi
from .errors import IncompatibleModuleError, os_error

__all__ = ["DEVICE_PATH", "ModuleInfo", "get_info", "open_device"]

DEVICE_PATH = "/dev/ckpt_tty"

_FORMAT, _FIELDS, INFO_SIZE = _uapi.STRUCTS["ckpt_tty_info"]
assert struct.calcsize(_FORMAT) == INFO_SIZE

FEATURE_NAMES = {
    _uapi.CKPT_TTY_FEATURE_GET_INFO: "get_info",
    _uapi.CKPT_TTY_FEATURE_CHECKPOINT: "checkpoint",
    _uapi.CKPT_TTY_FEATURE_RESTORE: "restore",
    _uapi.CKPT_TTY_FEATURE_RESTORE_ONTO: "restore_onto",
    _uapi.CKPT_TTY_FEATURE_RECORDS: "records",
    _uapi.CKPT_TTY_FEATURE_DEVPTS_DEV: "devpts_dev",
    _uapi.CKPT_TTY_FEATURE_HUNG_UP: "hung_up",
    _uapi.CKPT_TTY_FEATURE_ONTO_HANGUP: "onto_hangup",
}


@dataclasses.dataclass(frozen=True)
class ModuleInfo:
    """Mirror of ``struct ckpt_tty_info`` (kmod/uapi/linux/ckpt_tty.h)."""

    magic: int
    abi_version: int
    info_size: int
    byte_order: int
    features: int
    n_tty_buf_size: int
    nccs: int
    ncc: int
    bits_per_long: int
    ktermios_size: int
    n_tty_data_size: int
    n_tty_data_fingerprint: int
    kernel_release: str
    reserved: tuple[int, ...]

    @classmethod
    def unpack(cls, data: bytes, origin: str) -> "ModuleInfo":
        """Decode and check the header fields; raise on anything foreign.

        ``origin`` names where the bytes came from, for error messages.
        """
        if len(data) < 12:
            raise IncompatibleModuleError(f"{origin}: {len(data)} bytes of module info, expected {INFO_SIZE}")
        magic, abi, size = struct.unpack_from("=III", data)
        if magic != _uapi.CKPT_TTY_INFO_MAGIC:
            raise IncompatibleModuleError(f"{origin}: not ckpt_tty module info (magic {magic:#x})")
        if abi != _uapi.CKPT_TTY_ABI_VERSION or size != INFO_SIZE or len(data) != INFO_SIZE:
            raise IncompatibleModuleError(
                f"{origin}: module speaks ABI {abi} with a {size}-byte info structure; "
                f"this pyctl speaks ABI {_uapi.CKPT_TTY_ABI_VERSION} ({INFO_SIZE} bytes): "
                "use a pyctl and a ckpt_tty.ko from the same release"
            )
        values = list(struct.unpack(_FORMAT, data))
        names = [f[0] for f in _FIELDS]
        fields = {}
        for name, count in ((f[0], f[3]) for f in _FIELDS):
            if name == "kernel_release":
                fields[name] = values.pop(0).split(b"\0", 1)[0].decode("ascii", "replace")
            elif count > 1:
                fields[name] = tuple(values[:count])
                del values[:count]
            else:
                fields[name] = values.pop(0)
        assert list(fields) == names
        return cls(**fields)

    @property
    def feature_names(self) -> list[str]:
        names = [n for bit, n in FEATURE_NAMES.items() if self.features & bit]
        unknown = self.features & ~sum(FEATURE_NAMES)
        if unknown:
            names.append(f"unknown({unknown:#x})")
        return names

    def constants(self) -> dict[str, object]:
        """The kernel constants a checkpoint image depends on."""
        order = {_uapi.CKPT_TTY_LITTLE_ENDIAN: "little", _uapi.CKPT_TTY_BIG_ENDIAN: "big"}
        return {
            "N_TTY_BUF_SIZE": self.n_tty_buf_size,
            "NCCS": self.nccs,
            "NCC": self.ncc,
            "BITS_PER_LONG": self.bits_per_long,
            "byte order": order.get(self.byte_order, f"unknown ({self.byte_order})"),
            "sizeof(struct ktermios)": self.ktermios_size,
            "sizeof(struct n_tty_data)": self.n_tty_data_size,
            "n_tty_data layout": f"{self.n_tty_data_fingerprint:016x}",
        }

    def describe(self) -> list[tuple[str, str]]:
        rows = [
            ("ABI version", str(self.abi_version)),
            ("features", ", ".join(self.feature_names) or "none"),
            ("kernel release", self.kernel_release),
        ]
        rows += [(k, str(v)) for k, v in self.constants().items()]
        return rows


def open_device(path: str = DEVICE_PATH) -> int:
    """Open the module's device; explain the usual failures in one line."""
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise os_error(e.errno, f"{path} does not exist: load the module first "
                                "(insmod ckpt_tty.ko, or python -m pyctl load)") from None
    except PermissionError as e:
        raise os_error(e.errno, f"{os.strerror(e.errno)}: needs root with CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN",
                       path) from None


def get_info(fd: int | None = None, path: str = DEVICE_PATH) -> ModuleInfo:
    """GET_INFO from the running module (opening ``path`` if no fd)."""
    own = fd is None
    if own:
        fd = open_device(path)
    try:
        buf = bytearray(INFO_SIZE)
        try:
            fcntl.ioctl(fd, _uapi.CKPT_TTY_IOC_GET_INFO, buf, True)
        except OSError as e:
            if e.errno == errno.ENOTTY:
                raise IncompatibleModuleError(
                    f"{path} does not know GET_INFO of ABI {_uapi.CKPT_TTY_ABI_VERSION}: "
                    "the loaded module is from another release"
                ) from None
            raise
        return ModuleInfo.unpack(bytes(buf), path)
    finally:
        if own:
            os.close(fd)
