# SPDX-License-Identifier: GPL-2.0
"""Images for people (``pyctl show``) and for machines (``pyctl show --json``).

``describe()`` writes each end's termios the way ``stty -a`` (GNU coreutils
9.1) prints it -- see ``stty_a()`` -- and then the end's state in words.

Byte strings (unread input, pending echo, bytes not yet received) are written
one byte at a time:

- printable ASCII as itself;
- a control character as ``^`` and a letter: ``^C``, ``^J``; ``^?`` is DEL;
- a byte from 0x80 up as ``\\xNN``;
- a literal backslash as ``\\\\`` and a literal caret as ``\\^``, so every
  ``^`` and ``\\`` in the text starts one of the forms above;
- in pending echo only, ``<...>`` is one of N_TTY's echo operations
  (``<erase-tab 3>``, ``<set-canon-col>``, ...) and a literal ``<`` is ``\\<``.
"""

from __future__ import annotations

import codecs
import functools
import re
import time

from . import termbits
from .image import NTTY_FLAGS, TTY_FLAGS, End, Image, Pair, Termios, Winsize, canonical

__all__ = ["describe", "describe_parts", "stty_a", "visible"]

# ---- byte strings made visible ----

class _Table:
    """One string per byte value: ^X for controls, \\xNN from 0x80, else the character."""

    # With many bytes to change, one pass of the charmap codec beats one
    # str.replace pass per byte value present.
    REPLACE_LIMIT = 12

    def __init__(self, special: dict[int, str]) -> None:
        out = []
        for b in range(256):
            if b in special:
                out.append(special[b])
            elif b == 0x7F:
                out.append("^?")
            elif b < 0x20:
                out.append("^" + chr(b + 0x40))
            elif b < 0x7F:
                out.append(chr(b))
            else:
                out.append(f"\\x{b:02x}")
        self.strings = tuple(out)
        self.kept = bytes(b for b in range(256) if out[b] == chr(b))
        # Replacements are made one byte value after another: the backslash
        # first, then the other printable escapes, then what brings in new
        # backslashes and carets, so that nothing is escaped twice.
        order = sorted((b for b in range(256) if out[b] != chr(b)), key=lambda b: (b != 0x5C, b < 0x20 or b > 0x7E))
        self.rank = {b: k for k, b in enumerate(order)}

    def __getitem__(self, b: int) -> str:
        return self.strings[b]

    def draw(self, data: bytes) -> str:
        # describe() may show megabytes, so both ways below run in C.  Typed
        # text changes in few byte values (newline, tab): latin-1 (one
        # character per byte) and a str.replace per value present is fastest.
        changed = data.translate(None, self.kept)
        present = set(changed) if len(changed) * 8 <= len(data) else None
        if present is None or len(present) > self.REPLACE_LIMIT:
            return codecs.charmap_decode(data, "strict", self.strings)[0]
        text = data.decode("latin-1")
        for b in sorted(present, key=self.rank.__getitem__):
            text = text.replace(chr(b), self.strings[b])
        return text


_VISIBLE = _Table({})
_TEXT = _Table({ord("\\"): "\\\\", ord("^"): "\\^"})
_ECHO_TEXT = _Table({ord("\\"): "\\\\", ord("^"): "\\^", ord("<"): "\\<"})


def visible(data: bytes) -> str:
    """Bytes with control characters made visible: ^C, ^?, \\xff."""
    return _VISIBLE.draw(bytes(data))


def _text(data: bytes) -> str:
    """``data`` in describe()'s convention (module docstring)."""
    return _TEXT.draw(data)


# ---- stty -a ----

def _kernel_names() -> tuple[dict[str, int], dict[str, int]]:
    """Every termbits name's value and the mask of the field it belongs to:
    an image's words are the kernel's, so the kernel's values, not the C library's."""
    value, mask = {}, {}
    for word in (termbits.IFLAG, termbits.OFLAG, termbits.CFLAG, termbits.LFLAG):
        for m, names in word:
            for v, name in names.items():
                value[name], mask[name] = v, m
    return value, mask


_VALUE, _MASK = _kernel_names()
VTIME, VMIN = termbits.CC["VTIME"], termbits.CC["VMIN"]

# What stty -a prints after c_cc, a line per word in stty's order: "-name"
# when a bit is clear; "field=a/b/c" is a multi-bit field of which the name
# matching its value is printed.
_STTY_ORDER = (
    ("cflag", "parenb parodd cmspar csize=cs5/cs6/cs7/cs8 hupcl cstopb cread clocal crtscts"),
    ("iflag", "ignbrk brkint ignpar parmrk inpck istrip inlcr igncr icrnl ixon ixoff iuclc ixany imaxbel iutf8"),
    ("oflag", "opost olcuc ocrnl onlcr onocr onlret ofill ofdel nldly=nl0/nl1 crdly=cr0/cr1/cr2/cr3 "
              "tabdly=tab0/tab1/tab2/tab3 bsdly=bs0/bs1 vtdly=vt0/vt1 ffdly=ff0/ff1"),
    ("lflag", "isig icanon iexten echo echoe echok echonl noflsh xcase tostop echoprt echoctl echoke flusho extproc"),
)


def _entry(word: str) -> tuple:
    """(name, bit) for a flag; ((names...), mask, field name) for a field."""
    if "=" not in word:
        return word, _VALUE[word.upper()]
    field, names = word.split("=")
    names = tuple(names.split("/"))
    return names, _MASK[names[0].upper()], field


_STTY_MODES = tuple((attr, tuple(map(_entry, order.split()))) for attr, order in _STTY_ORDER)

# stty's c_cc names in its order, with the Linux c_cc index; min and time come last, together.
_STTY_CC = tuple((name, termbits.CC[kernel]) for name, kernel in (
    ("intr", "VINTR"), ("quit", "VQUIT"), ("erase", "VERASE"), ("kill", "VKILL"), ("eof", "VEOF"), ("eol", "VEOL"),
    ("eol2", "VEOL2"), ("swtch", "VSWTC"), ("start", "VSTART"), ("stop", "VSTOP"), ("susp", "VSUSP"),
    ("rprnt", "VREPRINT"), ("werase", "VWERASE"), ("lnext", "VLNEXT"), ("discard", "VDISCARD")))


def _stty_char(b: int) -> str:
    """A c_cc value as stty shows it: <undef> for 0 (disabled), ^X, ^?, M- for the high half."""
    if b == 0:
        return "<undef>"
    if b >= 0x80:
        return "M-" + _VISIBLE[b - 0x80]
    return _VISIBLE[b]


_STTY_CHARS = [_stty_char(b) for b in range(256)]


class _Filler:
    """stty's line filling: items separated by one space; an item starts a new
    line unless it fits in the columns left *before* that space, so a full
    line is ``columns + 1`` characters long -- as stty's are."""

    def __init__(self, columns: int) -> None:
        self.columns, self.col, self.out = columns, 0, []

    def item(self, text: str) -> None:
        if self.col > 0:
            if self.columns - self.col < len(text):
                self.newline()
            else:
                self.out.append(" ")
                self.col += 1
        self.out.append(text)
        self.col += len(text)

    def newline(self) -> None:
        self.out.append("\n")
        self.col = 0


def _speed(ispeed: int, ospeed: int) -> str:
    # An input speed of 0 means "as the output speed", as for stty.  The
    # numbers are the kernel's.  Through glibc 2.36 stty sees neither a
    # separate input speed (kept in CIBAUD) nor a BOTHER speed: it would print
    # "speed <ospeed> baud;" and "speed 0 baud;".  For those two cases this is
    # stty's format for what the kernel holds, not this stty's output.
    if ispeed in (0, ospeed):
        return f"speed {ospeed} baud;"
    return f"ispeed {ispeed} baud; ospeed {ospeed} baud;"


def _mode_items(value: int, entries: tuple) -> list[str]:
    out = []
    for entry in entries:
        if isinstance(entry[0], str):
            out.append(entry[0] if value & entry[1] else "-" + entry[0])
        else:
            names, mask = entry[0], entry[1]
            out.append(names[(value & mask) // (mask & -mask)])
    return out


def stty_a(t: Termios, w: Winsize, columns: int = 80) -> str:
    """What ``stty -a`` prints for termios ``t`` and window size ``w`` with
    ``columns`` screen columns (COLUMNS): the same bytes, final newline included."""
    return _stty_a((t.iflag, t.oflag, t.cflag, t.lflag, t.ispeed, t.ospeed, t.line, bytes(t.cc)),
                   (w.row, w.col), columns)


@functools.lru_cache(maxsize=256)  # the ends of an image mostly share a few termios
def _stty_a(t: tuple, rows_cols: tuple[int, int], columns: int) -> str:
    iflag, oflag, cflag, lflag, ispeed, ospeed, line, cc = t
    words = {"iflag": iflag, "oflag": oflag, "cflag": cflag, "lflag": lflag}
    f = _Filler(columns)
    f.item(_speed(ispeed, ospeed))
    f.item("rows %d; columns %d;" % rows_cols)
    f.item(f"line = {line};")
    f.newline()
    cc = cc.ljust(len(termbits.CC), b"\0")  # a short c_cc reads as disabled
    for name, index in _STTY_CC:
        f.item(f"{name} = {_STTY_CHARS[cc[index]]};")
    f.item(f"min = {cc[VMIN]}; time = {cc[VTIME]};")
    f.newline()
    for attr, entries in _STTY_MODES:
        for text in _mode_items(words[attr], entries):
            f.item(text)
        f.newline()
    return "".join(f.out)


# ---- the rest of an end's state in words ----

_TTY_WORDS = {
    "exclusive": "exclusive (TIOCEXCL: only root may open it again)",
    "pty_lock": "locked (TIOCSPTLCK: the slave cannot be opened)",
    "other_closed": "the other side is closed",
    "hupped": "hung up",
    "stopped": "output stopped (stop character or tcflow TCOOFF)",
    "tco_stopped": "output stopped by tcflow(TCOOFF)",
    "packet": "packet mode (TIOCPKT)",
}
_NTTY_WORDS = {
    "lnext": "the next byte is taken literally (after lnext)",
    "erasing": "inside an echoprt erase (a \\ was echoed)",
    "push": "EOF pushed out a partial line",
    "raw": "raw (no input processing)",
    "real_raw": "real raw (input copied untouched)",
    "no_room": "input buffer full (the writer is throttled)",
}
_PKT_NAMES = tuple(n.removeprefix("TIOCPKT_").lower() for n, _ in sorted(termbits.TIOCPKT.items(), key=lambda i: i[1]))


def _set_names(value: int, names: tuple[str, ...]) -> list[str]:
    """The names of value's set bits, bit i named names[i]."""
    return [n for i, n in enumerate(names) if value >> i & 1]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _tty_line(e: End) -> str:
    names = _set_names(e.flags, TTY_FLAGS)
    if "tco_stopped" in names and "stopped" in names:
        names.remove("stopped")  # tco_stopped says it more precisely
    words = [_TTY_WORDS[n] for n in names]
    if e.pktstatus:
        words.append("packet status waiting for the reader: " + " ".join(_set_names(e.pktstatus, _PKT_NAMES)))
    return "tty: " + ("; ".join(words) or "nothing special")


def _ntty_lines(e: End) -> list[str]:
    mode = "canonical (reads whole lines)" if canonical(e) else "non-canonical (reads bytes)"
    words = [mode] + [_NTTY_WORDS[n] for n in _set_names(e.ntty_flags, NTTY_FLAGS) if n in _NTTY_WORDS]
    if e.lookahead_count:
        words.append(f"{_count(e.lookahead_count, 'byte')} already seen by flow-control lookahead")
    return ["n_tty: " + "; ".join(words),
            f"columns: output at {e.column}, the line being typed began at {e.canon_column}"]


_WORDS = {"iflag": termbits.IFLAG, "oflag": termbits.OFLAG, "cflag": termbits.CFLAG, "lflag": termbits.LFLAG}


def _locked_names(t: Termios) -> list[str]:
    """Names of the locked (TIOCSLCKTRMIOS) flags, fields and characters."""
    out = []
    for attr, entries in _STTY_MODES:
        value, known = getattr(t, attr), 0
        for entry in entries:
            known |= entry[1]
            if value & entry[1]:
                out.append(entry[0] if isinstance(entry[0], str) else entry[2])
        for mask, names in _WORDS[attr]:  # what stty leaves out: pendin, addrb, the speed fields
            if value & mask & ~known:
                single = len(names) == 1  # a flag bit, named; a field (the speeds) in octal
                out.append(names[mask].lower() if single else f"{attr} {value & mask:#o}")
                known |= mask
        if value & ~known:
            out.append(f"{attr} {value & ~known:#o}")  # bits the kernel has no name for
    cc = bytes(t.cc)
    out += [name for name, index in _STTY_CC + (("min", VMIN), ("time", VTIME))
            if index < len(cc) and cc[index]]
    out += [name for name in ("ispeed", "ospeed", "line") if getattr(t, name)]
    return out


def _locked_line(t: Termios) -> list[str]:
    if not (t.iflag or t.oflag or t.cflag or t.lflag or t.ispeed or t.ospeed or t.line or any(t.cc)):
        return []  # the usual case: nothing locked
    names = _locked_names(t)
    return [f"locked termios (TIOCSLCKTRMIOS, cannot be changed): {' '.join(names)}"] if names else []


# ---- unread input, echo, flip ----

_LINE = "line: "
_PARTIAL = "partial line (typed, no line end yet): "
_READABLE = "readable bytes: "


@functools.lru_cache(maxsize=8)
def _line_table(label: str) -> list[str]:
    """Code point b: byte b made visible; 256 + b: the same, ending a line, then the next line's label."""
    return list(_TEXT.strings) + [text + "\n" + label for text in _TEXT.strings]


def _lines(e: End, indent: str) -> list[str]:
    """The unread input, a line per line end, then the bytes after the last one."""
    data, label, out = e.input, indent + _LINE, []
    complete = max(e.line_ends) + 1 if e.line_ends else 0
    if complete:
        # Pair each byte with a line-end mark (bytes to UTF-16 code units 0..511)
        # so one str.translate draws bytes and line breaks alike: C speed,
        # however short the lines (a Python loop per line took seconds).
        marks = bytearray(complete)
        for i in e.line_ends:
            marks[i] = 1
        units = bytearray(2 * complete)
        units[0::2], units[1::2] = data[:complete], marks
        drawn = units.decode("utf-16-le").translate(_line_table(label))
        out.append(label + drawn[: -len(label) - 1])  # no label after the last line
    if complete < len(data):
        out.append(indent + (_PARTIAL if canonical(e) else _READABLE) + _text(data[complete:]))
    return out


def _input_summary(e: End) -> str:
    n = len(e.input)
    if not n:
        return "none"
    if canonical(e):
        typed = n - (max(e.line_ends) + 1 if e.line_ends else 0)
        return (f"{_count(n, 'byte')}: {_count(len(e.line_ends), 'complete line')}, "
                f"{_count(typed, 'byte')} of a line being typed")
    if e.commit < n:
        return f"{_count(n, 'byte')}, non-canonical: the first {e.commit} readable now, the rest not yet committed"
    return f"{_count(n, 'byte')}, non-canonical: all readable now"


_ECHO_OP = re.compile(rb"(\xff(?:\x82.?|.?))", re.S)  # N_TTY: 0xff starts an operation; erase-tab has a count
_ECHO_OPS = {0x80: "<move-back-col>", 0x81: "<set-canon-col>", 0xFF: "\\xff"}  # 0xff 0xff: a literal 0xff


def _echo_op(op: bytes) -> str:
    if len(op) == 1:
        return "<incomplete operation>"
    code = op[1]
    if code == 0x82:
        if len(op) < 3:
            return "<erase-tab ?>"
        # count: columns used (mod 8) since the line's start, or since a previous tab if bit 7 is set
        return f"<erase-tab {op[2] & 7}{' after-tab' if op[2] & 0x80 else ''}>"
    if code in _ECHO_OPS:
        return _ECHO_OPS[code]
    # Any other byte is a control character N_TTY echoes as ^ and a letter (ECHOCTL).
    return f"<echoctl ^{_VISIBLE[code ^ 0x40]}>"


def _echo_text(data: bytes) -> str:
    return _ECHO_TEXT.draw(data)


def _echo(data: bytes) -> str:
    pieces = _ECHO_OP.split(data)  # literal text and operations alternate
    return "".join(_echo_op(p) if k % 2 else _echo_text(p) for k, p in enumerate(pieces))


_FLIP_ERRORS = {1: "break", 2: "frame error", 3: "parity error", 4: "overrun"}  # TTY_* flag bytes
_NONZERO = re.compile(rb"[^\x00]")


def _flip_errors(flags: bytes | None) -> str:
    if not flags:
        return ""
    marks = [f"{_FLIP_ERRORS.get(m[0][0], m[0][0])} at byte {m.start()}" for m in _NONZERO.finditer(flags)]
    return f"; flagged: {', '.join(marks)}" if marks else ""


def _flip_line(e: End, label: str) -> list[str]:
    if not e.flip:
        return []
    seen = f", {e.flip_lookahead} already seen by flow-control lookahead" if e.flip_lookahead else ""
    return [f"{label} ({_count(len(e.flip), 'byte')}{seen}{_flip_errors(e.flip_flags)}): {_text(e.flip)}"]


def _echo_line(e: End) -> list[str]:
    if not e.echo:
        return []
    committed = "" if e.echo_commit == len(e.echo) else f", the first {e.echo_commit} committed"
    return [f"pending echo ({_count(len(e.echo), 'byte')}{committed}): {_echo(e.echo)}"]


# ---- describe ----

_IN = "    "  # an end's lines


def _state_lines(e: End) -> list[str]:
    """stty -a, then what stty does not show: locks, pixels, tty and n_tty state."""
    w = e.winsize
    return (stty_a(e.termios, w).splitlines() + _locked_line(e.termios_locked)
            + [f"pixels: {w.xpixel} x {w.ypixel} (width x height)", _tty_line(e)] + _ntty_lines(e))


def _slave(e: End) -> list[str]:
    out = _state_lines(e) + [f"unread input: {_input_summary(e)}"]
    out = [_IN + s for s in out] + _lines(e, _IN + "  ")
    more = _echo_line(e) + _flip_line(e, "typed, not yet received by the line discipline")
    return out + [_IN + s for s in more]


def _master(e: End) -> list[str]:
    out = [_IN + s for s in _state_lines(e)]
    if not (e.input or e.flip):
        out.append(_IN + "output not yet read by the terminal: none")
    else:
        out.append(_IN + "output not yet read by the terminal:")
        if e.input:
            out.append(_IN + f"  in the master's input buffer: {_input_summary(e)}")
            out += _lines(e, _IN + "    ")
        out += [_IN + "  " + s for s in _flip_line(e, "written, not yet received by the master's line discipline")]
    return out + [_IN + s for s in _echo_line(e)]


def devpts_text(p: Pair) -> str:
    """Where the pair's devpts instance was, in words (images from before DEVPTS do not say)."""
    d = p.devpts
    if d is None:
        return "devpts instance not recorded"
    where = f"mounted at {d.mountpoint.decode(errors='backslashreplace')}" if d.mountpoint else "not mounted there"
    return f"devpts instance {d.major}:{d.minor}, {where}"


def _pair(k: int, p: Pair) -> list[str]:
    return ([f"pair {k}: /dev/pts/{p.index} ({devpts_text(p)})", "  slave (the program's side):"]
            + _slave(p.slave) + ["  master (the terminal's side):"] + _master(p.master))


def _created(seconds: int) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return f"{seconds} s after the epoch"


def describe_parts(image: Image):
    """describe() a piece at a time (the heading, then a pair per piece), to print as it goes."""
    yield (f"ckpt-tty image: kernel {image.release}, created {_created(image.created)}, "
           f"{len(image.pairs)} pty pair(s)\n")
    for k, p in enumerate(image.pairs):
        yield "\n".join(_pair(k, p)) + "\n"


def describe(image: Image) -> str:
    """The image for people: per pair and end, stty -a and the rest in words."""
    return "".join(describe_parts(image))
