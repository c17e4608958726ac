# SPDX-License-Identifier: GPL-2.0
"""Exceptions raised by pyctl."""

__all__ = ["PyctlError", "IncompatibleModuleError", "ImageError"]


class PyctlError(Exception):
    """An error pyctl reports to the user as one line."""


class IncompatibleModuleError(PyctlError):
    """The module (or .ko) speaks another ABI than this pyctl."""


class ImageError(PyctlError, ValueError):
    """A malformed, corrupt or incompatible checkpoint image.

    The message names the section or field at fault.
    """
