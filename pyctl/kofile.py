# SPDX-License-Identifier: GPL-2.0
"""Read ckpt_tty.ko offline: its embedded module info and .modinfo."""

from __future__ import annotations

from pathlib import Path

from . import _uapi
from .errors import PyctlError, os_error
from .info import ModuleInfo

__all__ = ["KoFile", "read_ko"]


class KoFile:
    """What a ``.ko`` says about itself without being loaded."""

    def __init__(self, path: Path, info: ModuleInfo, modinfo: dict[str, str]) -> None:
        self.path = path
        self.info = info
        self.modinfo = modinfo

    @property
    def vermagic(self) -> str:
        return self.modinfo.get("vermagic", "")

    @property
    def built_for(self) -> str:
        """The kernel release named by vermagic (its first word)."""
        return self.vermagic.split(" ", 1)[0]


def read_ko(path: str | Path) -> KoFile:
    """Parse ``path`` with pyelftools; PyctlError if it is not our module."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    path = Path(path)
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            section = elf.get_section_by_name(_uapi.CKPT_TTY_INFO_SECTION)
            modinfo_section = elf.get_section_by_name(".modinfo")
            if section is None:
                raise PyctlError(f"{path}: no {_uapi.CKPT_TTY_INFO_SECTION} section: not a ckpt_tty module")
            info_bytes = section.data()
            modinfo_bytes = modinfo_section.data() if modinfo_section is not None else b""
    except OSError as e:
        raise os_error(e.errno, e.strerror, str(path)) from None
    except ELFError as e:
        raise PyctlError(f"{path}: not an ELF file ({e})") from None
    modinfo = {}
    for entry in modinfo_bytes.split(b"\0"):
        key, sep, value = entry.decode("utf-8", "replace").partition("=")
        if sep:
            modinfo.setdefault(key, value)
    return KoFile(path, ModuleInfo.unpack(info_bytes, str(path)), modinfo)
