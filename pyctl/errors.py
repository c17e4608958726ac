# SPDX-License-Identifier: GPL-2.0
"""Exceptions raised by pyctl."""

__all__ = ["PyctlError", "IncompatibleModuleError"]


class PyctlError(Exception):
    """An error pyctl reports to the user as one line."""


class IncompatibleModuleError(PyctlError):
    """The module (or .ko) speaks another ABI than this pyctl."""
