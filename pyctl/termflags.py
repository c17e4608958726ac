# SPDX-License-Identifier: GPL-2.0
"""Named termios bits from pyctl.termbits (generated from the kernel's headers).

Python's termios module lacks some that N_TTY state depends on (EXTPROC,
IUTF8, CMSPAR, BOTHER); everything that needs one takes it from here.
"""

from __future__ import annotations

from . import termbits

__all__ = ["flag"]


def flag(table: list, name: str) -> tuple[int, int]:
    """(mask of its field, value) of a termios flag named in pyctl.termbits."""
    for mask, values in table:
        for value, n in values.items():
            if n == name:
                return mask, value
    raise KeyError(name)


ICANON, EXTPROC = (flag(termbits.LFLAG, n)[1] for n in ("ICANON", "EXTPROC"))
IUTF8 = flag(termbits.IFLAG, "IUTF8")[1]
CSIZE, CS8 = flag(termbits.CFLAG, "CS8")
CREAD, PARENB, ADDRB, CMSPAR = (flag(termbits.CFLAG, n)[1] for n in ("CREAD", "PARENB", "ADDRB", "CMSPAR"))
CBAUD, BOTHER = flag(termbits.CFLAG, "BOTHER")
IBSHIFT = 16  # termbits.h: the input speed's CBAUD field, shifted
CIBAUD = CBAUD << IBSHIFT
