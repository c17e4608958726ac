# SPDX-License-Identifier: GPL-2.0
"""pyctl: drive ckpt_tty.ko, the checkpoint/restore module for Linux terminals.

Importing pyctl needs the standard library only; reading ``.ko`` files needs
pyelftools.
"""

from .errors import IncompatibleModuleError, PyctlError
from .info import DEVICE_PATH, ModuleInfo, get_info

__all__ = ["DEVICE_PATH", "IncompatibleModuleError", "ModuleInfo", "PyctlError", "get_info"]
__version__ = "0.1.0"
