# SPDX-License-Identifier: GPL-2.0
"""Images for people (``pyctl show``) and for machines (``pyctl show --json``)."""

from __future__ import annotations

import termios

from .image import NTTY_FLAGS, TTY_FLAGS, End, Image, Termios, canonical

__all__ = ["describe", "to_json", "visible"]

# Bits the Python termios module lacks (include/uapi/asm-generic/termbits.h)
IUTF8, EXTPROC, CMSPAR = 0o40000, 0o200000, 0o10000000000


def _bits(*names: str) -> list[tuple[str, int]]:
    return [(n, getattr(termios, n)) for n in names if hasattr(termios, n)]


IFLAG_NAMES = _bits("IGNBRK", "BRKINT", "IGNPAR", "PARMRK", "INPCK", "ISTRIP", "INLCR", "IGNCR", "ICRNL",
                    "IUCLC", "IXON", "IXANY", "IXOFF", "IMAXBEL") + [("IUTF8", IUTF8)]
OFLAG_NAMES = _bits("OPOST", "OLCUC", "ONLCR", "OCRNL", "ONOCR", "ONLRET", "OFILL", "OFDEL")
CFLAG_NAMES = _bits("CSTOPB", "CREAD", "PARENB", "PARODD", "HUPCL", "CLOCAL", "CRTSCTS") + [("CMSPAR", CMSPAR)]
LFLAG_NAMES = _bits("ISIG", "ICANON", "XCASE", "ECHO", "ECHOE", "ECHOK", "ECHONL", "NOFLSH", "TOSTOP",
                    "ECHOCTL", "ECHOPRT", "ECHOKE", "FLUSHO", "PENDIN", "IEXTEN") + [("EXTPROC", EXTPROC)]
CC_NAMES = ["VINTR", "VQUIT", "VERASE", "VKILL", "VEOF", "VTIME", "VMIN", "VSWTC", "VSTART", "VSTOP", "VSUSP",
            "VEOL", "VREPRINT", "VDISCARD", "VWERASE", "VLNEXT", "VEOL2"]  # Linux c_cc order


def visible(data: bytes) -> str:
    """Bytes with control characters made visible: ^C, ^?, \\xff."""
    out = []
    for b in data:
        if b == 0x7F:
            out.append("^?")
        elif b < 0x20:
            out.append("^" + chr(b + 0x40))
        elif b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def _flags(value: int, names: list[tuple[str, int]]) -> list[str]:
    return [n for n, bit in names if value & bit]


def _termios_words(t: Termios) -> list[str]:
    words = []
    for value, names in ((t.iflag, IFLAG_NAMES), (t.oflag, OFLAG_NAMES), (t.cflag, CFLAG_NAMES),
                         (t.lflag, LFLAG_NAMES)):
        words += [("" if value & bit else "-") + n.lower() for n, bit in names]
    words.append(f"cs{5 + (t.cflag >> 4 & 3)}")
    return words


def _cc(t: Termios) -> list[str]:
    out = []
    for i, name in enumerate(CC_NAMES):
        if i >= len(t.cc):
            break
        v = t.cc[i]
        if name in ("VTIME", "VMIN"):
            out.append(f"{name[1:].lower()} = {v}")
        else:
            out.append(f"{name[1:].lower()} = {'<undef>' if v == 0 else visible(bytes([v]))}")
    return out


def _lines(e: End) -> list[str]:
    """Unread input split at line ends, the partial line marked."""
    out, start = [], 0
    for end in sorted(e.line_ends):
        out.append(f"    line: {visible(e.input[start:end + 1])}")
        start = end + 1
    if start < len(e.input):
        label = "partial line (typed, no line end yet)" if canonical(e) else "bytes"
        out.append(f"    {label}: {visible(e.input[start:])}")
    return out


def _end(role: str, e: End) -> list[str]:
    t = e.termios
    out = [f"  {role}:"]
    out.append(f"    speed {t.ospeed} baud (in {t.ispeed}); rows {e.winsize.row}; columns {e.winsize.col}; "
               f"pixels {e.winsize.xpixel}x{e.winsize.ypixel}")
    out.append("    " + "; ".join(_cc(t)))
    out.append("    " + " ".join(_termios_words(t)))
    flags = [n for i, n in enumerate(TTY_FLAGS) if e.flags >> i & 1]
    ntty = [n for i, n in enumerate(NTTY_FLAGS) if e.ntty_flags >> i & 1]
    out.append(f"    tty: {' '.join(flags) or '-'}; pktstatus {e.pktstatus:#04x}; n_tty: {' '.join(ntty) or '-'}; "
               f"column {e.column}, canon column {e.canon_column}")
    out.append(f"    unread input: {len(e.input)} bytes")
    out += _lines(e)
    if e.echo:
        out.append(f"    pending echo: {visible(e.echo)}")
    if e.flip:
        out.append(f"    not yet received: {visible(e.flip)}")
    return out


def describe(image: Image) -> str:
    out = [f"ckpt-tty image: kernel {image.release}, {len(image.pairs)} pty pair(s)"]
    for k, p in enumerate(image.pairs):
        out.append(f"pair {k}: /dev/pts/{p.index}")
        out += _end("slave (the program's side)", p.slave)
        out += _end("master (the terminal's side; its unread input is the program's pending output)", p.master)
    return "\n".join(out) + "\n"


def _end_json(e: End) -> dict:
    def text(b: bytes) -> str:
        return b.decode("latin-1")  # lossless: one character per byte

    def termios_json(t: Termios) -> dict:
        return {"iflag": _flags(t.iflag, IFLAG_NAMES), "oflag": _flags(t.oflag, OFLAG_NAMES),
                "cflag": _flags(t.cflag, CFLAG_NAMES), "lflag": _flags(t.lflag, LFLAG_NAMES),
                "raw": [t.iflag, t.oflag, t.cflag, t.lflag], "ispeed": t.ispeed, "ospeed": t.ospeed,
                "line": t.line, "cc": dict(zip(CC_NAMES, t.cc))}

    return {
        "termios": termios_json(e.termios), "termios_locked": termios_json(e.termios_locked),
        "winsize": {"row": e.winsize.row, "col": e.winsize.col, "xpixel": e.winsize.xpixel,
                    "ypixel": e.winsize.ypixel},
        "flags": [n for i, n in enumerate(TTY_FLAGS) if e.flags >> i & 1], "pktstatus": e.pktstatus,
        "ntty_flags": [n for i, n in enumerate(NTTY_FLAGS) if e.ntty_flags >> i & 1],
        "column": e.column, "canon_column": e.canon_column, "read_tail": e.read_tail, "commit": e.commit,
        "canon": e.canon, "line_start": e.line_start, "lookahead_count": e.lookahead_count,
        "input": text(e.input), "line_ends": sorted(e.line_ends), "echo_tail": e.echo_tail,
        "echo": text(e.echo), "echo_commit": e.echo_commit, "echo_mark": e.echo_mark,
        "flip": text(e.flip), "flip_flags": None if e.flip_flags is None else list(e.flip_flags),
        "flip_lookahead": e.flip_lookahead,
    }


def to_json(image: Image) -> dict:
    """Everything in the image; byte strings as Latin-1 text (one char per byte)."""
    c = image.constants
    return {
        "format_version": 1, "release": image.release, "created": image.created,
        "constants": {k: getattr(c, k) for k in c.__dataclass_fields__},
        "pairs": [{"index": p.index, "master": _end_json(p.master), "slave": _end_json(p.slave)}
                  for p in image.pairs],
    }
