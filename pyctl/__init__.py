# SPDX-License-Identifier: GPL-2.0
"""pyctl: drive ckpt_tty.ko, the checkpoint/restore module for Linux terminals.

    image = pyctl.checkpoint(fd)             # both ends of fd's pty pair
    image = pyctl.checkpoint_many(fds)       # a pair per fd, in one call
    pairs = pyctl.restore_many(image)        # every pair into new ptys, in one call
    data = image.dumps()                     # bytes, images/FORMAT.md
    master, slave = pyctl.restore(pyctl.loads(data))

Importing pyctl needs the standard library only; reading ``.ko`` files needs
pyelftools.
"""

from .ckpt import checkpoint, checkpoint_many, restore, restore_many, restore_onto
from .errors import ImageError, IncompatibleModuleError, PyctlError
from .image import Image, dump, dumps, load, loads
from .info import DEVICE_PATH, ModuleInfo, get_info

__all__ = [
    "DEVICE_PATH", "Image", "ImageError", "IncompatibleModuleError", "ModuleInfo", "PyctlError",
    "checkpoint", "checkpoint_many", "dump", "dumps", "get_info", "load", "loads", "restore", "restore_many",
    "restore_onto",
]
__version__ = "0.1.0"
