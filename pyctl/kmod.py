# SPDX-License-Identifier: GPL-2.0
"""Load and unload ckpt_tty.ko through libkmod (the kmod project's library).

A small ctypes binding: the PyPI ``kmod`` binding no longer builds.  Errors
come out as one-line PyctlError messages that say what to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path

from . import lowlevel
from .errors import PyctlError, os_error
from .kofile import read_ko

__all__ = ["MODULE_NAME", "is_loaded", "load", "unload"]

MODULE_NAME = "ckpt_tty"

# enum kmod_remove / kmod_insert (libkmod.h)
KMOD_REMOVE_NOWAIT = 0x02  # O_NONBLOCK: fail at once if the module is busy


class _Lib:
    """libkmod.so.2 with the prototypes we use."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("kmod") or "libkmod.so.2"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError as e:
            raise PyctlError(f"cannot load libkmod ({e}): apt-get install libkmod2") from None
        vp = ctypes.c_void_p
        lib.kmod_new.restype = vp
        lib.kmod_new.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.kmod_unref.argtypes = [vp]
        lib.kmod_unref.restype = vp
        lib.kmod_module_new_from_path.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp)]
        lib.kmod_module_new_from_name.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp)]
        lib.kmod_module_insert_module.argtypes = [vp, ctypes.c_uint, ctypes.c_char_p]
        lib.kmod_module_remove_module.argtypes = [vp, ctypes.c_uint]
        lib.kmod_module_get_initstate.argtypes = [vp]
        lib.kmod_module_unref.argtypes = [vp]
        lib.kmod_module_unref.restype = vp
        self.lib = lib


class _Module:
    """A kmod context and one module handle, released on exit."""

    def __init__(self, path: Path | None = None) -> None:
        self.lib = _Lib().lib
        self.ctx = self.lib.kmod_new(None, None)
        if not self.ctx:
            raise PyctlError("libkmod: kmod_new failed")
        self.mod = ctypes.c_void_p()
        if path is not None:
            ret = self.lib.kmod_module_new_from_path(self.ctx, os.fsencode(path), ctypes.byref(self.mod))
        else:
            ret = self.lib.kmod_module_new_from_name(self.ctx, MODULE_NAME.encode(), ctypes.byref(self.mod))
        if ret < 0:
            self.close()
            raise os_error(-ret, f"libkmod: cannot open module {path or MODULE_NAME}: {os.strerror(-ret)}")

    def close(self) -> None:
        if self.mod:
            self.lib.kmod_module_unref(self.mod)
            self.mod = ctypes.c_void_p()
        if self.ctx:
            self.lib.kmod_unref(self.ctx)
            self.ctx = None

    def __enter__(self) -> "_Module":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_loaded() -> bool:
    """True when ckpt_tty is live in the running kernel."""
    return Path(f"/sys/module/{MODULE_NAME}").exists()


def load(path: str | Path) -> None:
    """insmod ``path``, after checking it was built for the running kernel."""
    path = Path(path)
    ko = read_ko(path)
    running = os.uname().release
    if ko.built_for != running:
        raise PyctlError(
            f"{path} was built for kernel {ko.built_for}, but the running kernel is {running}: "
            f"rebuild it with make KDIR=/lib/modules/{running}/build"
        )
    if is_loaded():
        raise PyctlError(f"{MODULE_NAME} is already loaded: unload it first (python -m pyctl unload)")
    with _Module(path) as m:
        ret = m.lib.kmod_module_insert_module(m.mod, 0, b"")
    if ret < 0:
        err = -ret
        hints = {
            errno.EPERM: "needs root with CAP_SYS_MODULE, and a kernel that accepts modules "
            "(check /proc/sys/kernel/modules_disabled and lockdown)",
            errno.EEXIST: "a module of that name is already loaded",
            errno.ENOEXEC: f"the kernel rejected the module format (vermagic '{ko.vermagic}'; see dmesg)",
            errno.EKEYREJECTED: "module signature rejected: the kernel enforces signed modules",
            errno.ENOKEY: "module is unsigned and the kernel enforces signed modules",
        }
        raise os_error(err, f"cannot load {path}: {os.strerror(err)}: {hints.get(err, 'see dmesg')}")


def unload() -> None:
    """rmmod ckpt_tty; fails at once, not after a wait, if it is in use."""
    if not is_loaded():
        raise PyctlError(f"{MODULE_NAME} is not loaded")
    lowlevel.release_shared()  # this process's own open devices would pin it
    with _Module() as m:
        ret = m.lib.kmod_module_remove_module(m.mod, KMOD_REMOVE_NOWAIT)
    if ret < 0:
        err = -ret
        if err in (errno.EAGAIN, errno.EBUSY):
            raise os_error(err, f"cannot unload {MODULE_NAME}: in use (close every open /dev/ckpt_tty first)")
        raise os_error(err, f"cannot unload {MODULE_NAME}: {os.strerror(err)}")
