# SPDX-License-Identifier: GPL-2.0
"""Exceptions raised by pyctl."""

from __future__ import annotations

import os

__all__ = ["PyctlError", "IncompatibleModuleError", "ImageError", "os_error"]


class PyctlError(Exception):
    """An error pyctl reports to the user as one line."""


class IncompatibleModuleError(PyctlError):
    """The module (or .ko) speaks another ABI than this pyctl."""


class ImageError(PyctlError, ValueError):
    """A malformed, corrupt or incompatible checkpoint image.

    The message names the section or field at fault.
    """


# OSError subclass (as Python picks it for an errno) -> the same with PyctlError mixed in
_OS_REFUSALS: dict[type, type] = {}


def os_error(err: int, explanation: str, filename: str | None = None) -> OSError:
    """An OS refusal, explained: the OSError subclass Python uses for ``err``
    (PermissionError for EPERM, FileNotFoundError for ENOENT, ...), with its
    errno, that is also a PyctlError.  ``str()`` gives the explanation alone.

    So ``except PermissionError`` and ``except OSError`` catch it, and the
    CLI still prints it as one line.
    """
    base = type(OSError(err, os.strerror(err)))
    cls = _OS_REFUSALS.get(base)
    if cls is None:
        cls = _OS_REFUSALS[base] = type(base.__name__, (base, PyctlError),
                                        {"__module__": __name__, "__str__": _explained})
    e = cls(err, explanation) if filename is None else cls(err, explanation, filename)
    return e


def _explained(self: OSError) -> str:
    return f"{self.filename}: {self.strerror}" if self.filename else str(self.strerror)
