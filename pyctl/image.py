# SPDX-License-Identifier: GPL-2.0
"""Checkpoint images, format version 1 (images/FORMAT.md).

Grammar (little-endian; see images/FORMAT.md for the meaning)::

    image   = header section{section_count}
    header  = magic version:u16 flags:u16 section_count:u32
              body_length:u64 body_crc:u32 header_crc:u32
    section = type:u16 flags:u16 length:u32 payload[length] crc:u32
    top     = SOURCE CONSTANTS PAIR+
    PAIR    = PTY END(master) END(slave)
    END     = role:u8 pad[3] TERMIOS TERMIOS_LOCKED WINSIZE TTY NTTY INPUT ECHO FLIP

``loads()`` and ``Image.dumps()`` work like the json module's; decoding and
encoding again gives the same bytes.  Every defect raises ImageError naming
the section or field at fault.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import BinaryIO, Callable

from ._uapi import CKPT_TTY_FLIP_RESTORE_MAX as FLIP_RESTORE_MAX  # pending flip bytes per end, at most
from .errors import ImageError
from .termflags import EXTPROC, ICANON

__all__ = [
    "Constants", "DevptsInstance", "End", "Extra", "Image", "ImageError", "Pair", "Termios", "Winsize",
    "dump", "dumps", "load", "loads", "TTY_FLAGS", "NTTY_FLAGS",
]

MAGIC = b"\x89CKPTTY\n"
VERSION = 1
SKIPPABLE = 0x1
_HEADER = struct.Struct("<8sHHIQII")

# section types
SOURCE, CONSTANTS, PAIR = 1, 2, 3
PTY, END, DEVPTS = 16, 17, 18
TERMIOS, TERMIOS_LOCKED, WINSIZE, TTY, NTTY, INPUT, ECHO, FLIP = range(32, 40)
SECTION_NAMES = {
    SOURCE: "SOURCE", CONSTANTS: "CONSTANTS", PAIR: "PAIR", PTY: "PTY", END: "END", DEVPTS: "DEVPTS",
    TERMIOS: "TERMIOS", TERMIOS_LOCKED: "TERMIOS_LOCKED", WINSIZE: "WINSIZE", TTY: "TTY",
    NTTY: "NTTY", INPUT: "INPUT", ECHO: "ECHO", FLIP: "FLIP",
}

# DEVPTS came after the first images: skippable, so that readers from before it skip it.
SECTION_FLAGS = {DEVPTS: SKIPPABLE}

# TTY.flags and NTTY.ntty_flags bit names, lowest bit first
TTY_FLAGS = ("exclusive", "pty_lock", "other_closed", "hupped", "stopped", "tco_stopped", "packet")
NTTY_FLAGS = ("lnext", "erasing", "push", "icanon", "raw", "real_raw", "no_room")
_TTY_BIT = {name: 1 << i for i, name in enumerate(TTY_FLAGS)}  # has() and ntty() run on every restore
_NTTY_BIT = {name: 1 << i for i, name in enumerate(NTTY_FLAGS)}

U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
_S64_MIN, _S64_MAX = -(1 << 63), (1 << 63) - 1


@dataclasses.dataclass
class Termios:
    """``struct ktermios``: four flag words, line discipline, c_cc, speeds."""

    iflag: int = 0
    oflag: int = 0
    cflag: int = 0
    lflag: int = 0
    ispeed: int = 0
    ospeed: int = 0
    line: int = 0
    cc: bytes = b""


@dataclasses.dataclass(frozen=True)
class Extra:
    """A skippable section this version does not know, kept so that decoding
    and encoding an image from a newer writer gives the same bytes.

    ``position`` counts the known sections before it at its level."""

    position: int
    type: int
    flags: int
    payload: bytes


@dataclasses.dataclass
class Winsize:
    row: int = 0
    col: int = 0
    xpixel: int = 0
    ypixel: int = 0


@dataclasses.dataclass
class End:
    """One end of a pty pair: its tty and its N_TTY line discipline."""

    termios: Termios
    termios_locked: Termios
    winsize: Winsize
    flags: int = 0  # TTY_FLAGS bits
    pktstatus: int = 0
    ntty_flags: int = 0  # NTTY_FLAGS bits
    column: int = 0
    canon_column: int = 0
    read_tail: int = 0
    commit: int = 0
    canon: int = 0
    line_start: int = 0
    lookahead_count: int = 0
    echo_tail: int = 0
    echo_commit: int = 0
    echo_mark: int = 0
    input: bytes = b""
    line_ends: frozenset[int] = frozenset()  # offsets into input
    echo: bytes = b""
    flip: bytes = b""
    flip_flags: bytes | None = None
    flip_lookahead: int = 0
    extra: tuple[Extra, ...] = ()

    def has(self, name: str) -> bool:
        """Whether TTY flag ``name`` (see TTY_FLAGS) is set."""
        return bool(self.flags & _TTY_BIT[name])

    def ntty(self, name: str) -> bool:
        """Whether N_TTY flag ``name`` (see NTTY_FLAGS) is set."""
        return bool(self.ntty_flags & _NTTY_BIT[name])


@dataclasses.dataclass(frozen=True)
class DevptsInstance:
    """The devpts instance the pair was in, as the checkpointing process saw it.

    ``major``/``minor`` of its st_dev tell instances apart on that machine
    while mounted; ``mountpoint`` is where it was mounted (bytes, as the
    kernel gives paths), empty if nowhere in that mount namespace.
    """

    major: int
    minor: int
    mountpoint: bytes


@dataclasses.dataclass
class Pair:
    index: int
    master: End
    slave: End
    extra: tuple[Extra, ...] = ()
    devpts: DevptsInstance | None = None  # None in images from before DEVPTS

    def either_has(self, name: str) -> bool:
        """Whether TTY flag ``name`` is set on the master or the slave."""
        return self.master.has(name) or self.slave.has(name)


@dataclasses.dataclass(frozen=True)
class Constants:
    """Kernel constants the image was taken with (``struct ckpt_tty_info``); images share them."""

    n_tty_buf_size: int
    nccs: int
    ncc: int
    bits_per_long: int
    byte_order: int
    ktermios_size: int
    n_tty_data_size: int
    n_tty_data_fingerprint: int


@dataclasses.dataclass
class Image:
    release: str
    created: int
    constants: Constants
    pairs: list[Pair]
    extra: tuple[Extra, ...] = ()

    @classmethod
    def deferred(cls, release: str, created: int, constants: Constants,
                 make_pairs: Callable[..., list[Pair]], *args) -> "Image":
        """An image whose pairs are ``make_pairs(*args)``, called when ``pairs`` is first used.

        A checkpoint holds the module's records as they came; one that is
        only kept, or handed to a restore of the same kernel, need not turn
        them into Pair objects at once (that took 12 times the cost of the
        ioctl itself).  Everything else sees a plain Image.
        """
        image = cls.__new__(cls)
        image.release, image.created, image.constants, image.extra = release, created, constants, ()
        image._make_pairs = make_pairs, args
        return image

    def __getattr__(self, name: str):
        # Only reached for attributes not set: a deferred image's pairs.
        make = self.__dict__.pop("_make_pairs", None) if name == "pairs" else None
        if make is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.pairs = make[0](*make[1])
        return self.pairs

    def dumps(self) -> bytes:
        return dumps(self)

    def validate(self, pair: int | None = None) -> None:
        """Check every field against the format's rules; raise ImageError.

        With ``pair``, the image's own fields and that pair's only: what a
        restore of that one pair reads.
        """
        _validate(self, pair)


# ---- encoding ----

def _section(type_: int, payload: bytes, flags: int = 0) -> bytes:
    head = struct.pack("<HHI", type_, flags, len(payload))
    return head + payload + struct.pack("<I", zlib.crc32(head + payload))


def _join(known: list[bytes], extra: tuple[Extra, ...]) -> list[bytes]:
    """Known sections with the kept unknown ones put back where they were."""
    out = list(known)
    for inserted, x in enumerate(sorted(extra, key=lambda x: x.position)):  # stable: equal positions keep order
        out.insert(x.position + inserted, _section(x.type, x.payload, x.flags))
    return out


def _termios(t: Termios) -> bytes:
    return struct.pack("<6IBB", t.iflag, t.oflag, t.cflag, t.lflag, t.ispeed, t.ospeed, t.line, len(t.cc)) + t.cc


def _bitmap(offsets: frozenset[int], count: int) -> bytes:
    out = bytearray((count + 7) // 8)
    for i in offsets:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def _end(role: int, e: End) -> bytes:
    parts = [
        _section(TERMIOS, _termios(e.termios)),
        _section(TERMIOS_LOCKED, _termios(e.termios_locked)),
        _section(WINSIZE, struct.pack("<4H", e.winsize.row, e.winsize.col, e.winsize.xpixel, e.winsize.ypixel)),
        _section(TTY, struct.pack("<II", e.flags, e.pktstatus)),
        _section(NTTY, struct.pack("<IIIQqqqQQqq", e.ntty_flags, e.column, e.canon_column, e.read_tail, e.commit,
                                   e.canon, e.line_start, e.lookahead_count, e.echo_tail, e.echo_commit,
                                   e.echo_mark)),
        _section(INPUT, struct.pack("<I", len(e.input)) + e.input + _bitmap(e.line_ends, len(e.input))),
        _section(ECHO, e.echo),
        _section(FLIP, struct.pack("<IIB", len(e.flip), e.flip_lookahead, e.flip_flags is not None)
                 + e.flip + (e.flip_flags or b"")),
    ]
    return _section(END, struct.pack("<B3x", role) + b"".join(_join(parts, e.extra)))


def dumps(image: Image) -> bytes:
    """The image as bytes; ImageError if a field does not fit the format."""
    try:
        release = image.release.encode()
        c = image.constants
        sections = [
            _section(SOURCE, struct.pack("<QH", image.created, len(release)) + release),
            _section(CONSTANTS, struct.pack("<7IQ", c.n_tty_buf_size, c.nccs, c.ncc, c.bits_per_long,
                                            c.byte_order, c.ktermios_size, c.n_tty_data_size,
                                            c.n_tty_data_fingerprint)),
        ]
        for p in image.pairs:
            parts = [_section(PTY, struct.pack("<I", p.index))]
            if p.devpts is not None:
                d = p.devpts
                parts.append(_section(DEVPTS, struct.pack("<IIH", d.major, d.minor, len(d.mountpoint))
                                      + d.mountpoint, SKIPPABLE))
            parts += [_end(0, p.master), _end(1, p.slave)]
            sections.append(_section(PAIR, b"".join(_join(parts, p.extra))))
        sections = _join(sections, image.extra)
    except struct.error as e:
        raise ImageError(f"a field is out of range for image format {VERSION}: {e}") from None
    body = b"".join(sections)
    head = _HEADER.pack(MAGIC, VERSION, 0, len(sections), len(body), zlib.crc32(body), 0)[:28]
    return head + struct.pack("<I", zlib.crc32(head)) + body


def dump(image: Image, file: BinaryIO) -> None:
    file.write(dumps(image))


# ---- decoding ----

class _Reader:
    """Bounded reads from one payload; every shortfall is an ImageError."""

    def __init__(self, data: bytes | memoryview, where: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.where = where

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise ImageError(f"{self.where}: truncated {what} ({n} bytes wanted, {len(self.data) - self.pos} left)")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ImageError(f"{self.where}: {len(self.data) - self.pos} bytes of trailing data")

    def sections(self, expected: list[int], repeat_last: bool = False,
                 optional: frozenset[int] = frozenset()) -> list[tuple[int, _Reader]]:
        """Read sections of the expected types in order, skipping skippable unknown ones.

        Types in ``optional`` may be absent; with ``repeat_last`` the last type may repeat.
        """
        found: list[tuple[int, _Reader]] = []
        k = 0  # the next expected type
        self.extra: list[Extra] = []  # skippable sections of unknown types
        self.count = 0  # sections read, skipped ones included
        while self.pos < len(self.data):
            type_, flags, length = self.unpack("HHI", "section header")
            self.count += 1
            start = self.pos - 8
            payload = self.take(length, f"section {type_} payload")
            (crc,) = self.unpack("I", "section checksum")
            name = SECTION_NAMES.get(type_, f"section type {type_}")
            if zlib.crc32(bytes(self.data[start : start + 8 + length])) != crc:
                raise ImageError(f"{self.where}: {name}: checksum mismatch")
            if type_ not in SECTION_NAMES:
                if flags == SKIPPABLE:
                    self.extra.append(Extra(len(found), type_, flags, payload))
                    continue
                if flags & ~SKIPPABLE:
                    raise ImageError(f"{self.where}: {name}: unknown section flags {flags:#x}")
                raise ImageError(f"{self.where}: unknown section type {type_}")
            if flags != SECTION_FLAGS.get(type_, 0):
                # Each known section has exactly the flags FORMAT.md gives it; accepting others would
                # make decode-then-encode change the file.
                raise ImageError(f"{self.where}: {name}: flags {flags:#x}, must be "
                                 f"{SECTION_FLAGS.get(type_, 0):#x} for this section")
            while k < len(expected) and type_ != expected[k] and expected[k] in optional:
                k += 1
            if k < len(expected) and type_ == expected[k]:
                k += 1
            elif not (repeat_last and k == len(expected) and type_ == expected[-1]):
                wanted = SECTION_NAMES[expected[k]] if k < len(expected) else "nothing"
                raise ImageError(f"{self.where}: found {name} where {wanted} belongs")
            found.append((type_, _Reader(payload, f"{self.where}/{name}")))
        while k < len(expected) and expected[k] in optional:
            k += 1
        if k < len(expected):
            raise ImageError(f"{self.where}: missing {SECTION_NAMES[expected[k]]} section")
        return found


def _read_termios(r: _Reader) -> Termios:
    iflag, oflag, cflag, lflag, ispeed, ospeed, line, ncc = r.unpack("6IBB", "termios")
    t = Termios(iflag, oflag, cflag, lflag, ispeed, ospeed, line, r.take(ncc, "c_cc"))
    r.end()
    return t


_BYTE_BITS = [tuple(b for b in range(8) if v >> b & 1) for v in range(256)]


def _set_bits(bitmap: bytes) -> list[int]:
    """Positions of the set bits, lowest first; linear in the bitmap however many are set."""
    return [8 * i + b for i, v in enumerate(bitmap) if v for b in _BYTE_BITS[v]]


def _read_end(r: _Reader, role: int) -> End:
    got, pad = r.unpack("B3s", "role")
    if got != role:
        raise ImageError(f"{r.where}: role {got}, expected {('master', 'slave')[role]} ({role})")
    if pad != bytes(3):
        raise ImageError(f"{r.where}: padding after the role is not zero")
    secs = dict(r.sections([TERMIOS, TERMIOS_LOCKED, WINSIZE, TTY, NTTY, INPUT, ECHO, FLIP]))
    extra = tuple(r.extra)
    termios = _read_termios(secs[TERMIOS])
    locked = _read_termios(secs[TERMIOS_LOCKED])
    w = secs[WINSIZE]
    winsize = Winsize(*w.unpack("4H", "winsize"))
    w.end()
    t = secs[TTY]
    flags, pktstatus = t.unpack("II", "tty state")
    t.end()
    n = secs[NTTY]
    (ntty_flags, column, canon_column, read_tail, commit, canon, line_start, lookahead_count, echo_tail,
     echo_commit, echo_mark) = n.unpack("IIIQqqqQQqq", "n_tty state")
    n.end()
    i = secs[INPUT]
    (count,) = i.unpack("I", "input count")
    data = i.take(count, "input bytes")
    bitmap = i.take((count + 7) // 8, "line ends")
    i.end()
    if count % 8 and bitmap[-1] >> (count % 8):
        raise ImageError(f"{i.where}: line-end bits past the input")
    line_ends = frozenset(_set_bits(bitmap))
    echo = secs[ECHO].take(len(secs[ECHO].data), "echo")
    f = secs[FLIP]
    fcount, flook, flagged = f.unpack("IIB", "flip header")
    if flagged > 1:
        raise ImageError(f"{f.where}: flagged is {flagged}, must be 0 or 1")
    flip = f.take(fcount, "flip bytes")
    flip_flags = f.take(fcount, "flip flags") if flagged else None
    f.end()
    return End(termios, locked, winsize, flags, pktstatus, ntty_flags, column, canon_column, read_tail, commit,
               canon, line_start, lookahead_count, echo_tail, echo_commit, echo_mark, data, line_ends, echo, flip,
               flip_flags, flook, extra)


def loads(data: bytes) -> Image:
    """Parse and validate an image; ImageError names what is wrong."""
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise ImageError(f"header: {len(data)} bytes, too short for a ckpt-tty image")
    magic, version, flags, count, length, body_crc, header_crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ImageError("header: not a ckpt-tty image (bad magic)")
    if zlib.crc32(data[:28]) != header_crc:
        raise ImageError("header: checksum mismatch")
    if version != VERSION:
        raise ImageError(f"header: format version {version}; this pyctl reads version {VERSION}")
    if flags:
        raise ImageError(f"header: unknown flags {flags:#x}")
    body = data[_HEADER.size :]
    if length != len(body):
        raise ImageError(f"header: body length {length}, but {len(body)} bytes follow")
    if zlib.crc32(body) != body_crc:
        raise ImageError("body: checksum mismatch")
    top = _Reader(body, "image")
    secs = top.sections([SOURCE, CONSTANTS, PAIR], repeat_last=True)
    if top.count != count:
        raise ImageError(f"header: {count} sections announced, {top.count} found")
    src = secs[0][1]
    created, rlen = src.unpack("QH", "source")
    try:
        release = src.take(rlen, "release").decode()
    except UnicodeDecodeError:
        raise ImageError(f"{src.where}: kernel release is not UTF-8") from None
    src.end()
    c = secs[1][1]
    constants = Constants(*c.unpack("7IQ", "constants"))
    c.end()
    pairs = []
    for k, (_, r) in enumerate(secs[2:]):
        r.where = f"image/PAIR[{k}]"
        parts = r.sections([PTY, DEVPTS, END, END], optional=frozenset({DEVPTS}))
        (index,) = parts[0][1].unpack("I", "pty index")
        parts[0][1].end()
        devpts = None
        if parts[1][0] == DEVPTS:
            d = parts.pop(1)[1]
            major, minor, mlen = d.unpack("IIH", "devpts instance")
            devpts = DevptsInstance(major, minor, d.take(mlen, "mount point"))
            d.end()
        pairs.append(Pair(index, _read_end(parts[1][1], 0), _read_end(parts[2][1], 1), tuple(r.extra), devpts))
    image = Image(release, created, constants, pairs, tuple(top.extra))
    _validate(image)
    return image


def load(file: BinaryIO) -> Image:
    return loads(file.read())


# ---- validation ----


def canonical(e: End) -> bool:
    """N_TTY reads by lines (ICANON without EXTPROC): canon_head is live."""
    return bool(e.termios.lflag & ICANON) and not e.termios.lflag & EXTPROC


def _check(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise ImageError(f"{where}: {what}")


def _fail(where: str, what: str) -> None:
    raise ImageError(f"{where}: {what}")


_TERMIOS_FIELDS = ("iflag", "oflag", "cflag", "lflag", "ispeed", "ospeed")


def _validate_end(e: End, where: str, c: Constants, master: bool) -> None:
    # Plain ifs, fields read once: a restore validates its pair every time, and
    # building each message before knowing it is needed cost more than the checks.
    size, nccs = c.n_tty_buf_size, c.nccs
    t, lk = e.termios, e.termios_locked
    for name, tm in (("termios", t), ("termios_locked", lk)):
        if len(tm.cc) != nccs:
            _fail(f"{where}.{name}.cc", f"{len(tm.cc)} control characters, NCCS is {nccs}")
        if not (0 <= tm.iflag <= U32_MAX and 0 <= tm.oflag <= U32_MAX and 0 <= tm.cflag <= U32_MAX
                and 0 <= tm.lflag <= U32_MAX and 0 <= tm.ispeed <= U32_MAX and 0 <= tm.ospeed <= U32_MAX):
            field = next(f for f in _TERMIOS_FIELDS if not 0 <= getattr(tm, f) <= U32_MAX)
            _fail(f"{where}.{name}.{field}", "out of range")
    if t.line != 0:
        _fail(f"{where}.termios.line", f"line discipline {t.line}; only N_TTY (0)")
    flags, ntty_flags, lflag = e.flags, e.ntty_flags, t.lflag
    if not 0 <= flags < 1 << len(TTY_FLAGS):
        _fail(f"{where}.flags", f"unknown bits {flags:#x}")
    if not master and flags & (_TTY_BIT["pty_lock"] | _TTY_BIT["packet"]):
        _fail(f"{where}.flags", "pty_lock or packet on a slave")
    if flags & _TTY_BIT["tco_stopped"] and not flags & _TTY_BIT["stopped"]:
        _fail(f"{where}.flags", "tco_stopped without stopped")
    if not 0 <= e.pktstatus <= 0x7F:
        _fail(f"{where}.pktstatus", f"unknown TIOCPKT bits {e.pktstatus:#x}")
    if not 0 <= ntty_flags < 1 << len(NTTY_FLAGS):
        _fail(f"{where}.ntty_flags", f"unknown bits {ntty_flags:#x}")
    # A hung-up end has no line discipline, so no icanon bit to agree (pyctl.reachable).
    if (not ntty_flags & _NTTY_BIT["icanon"]) != (not lflag & ICANON) and not flags & _TTY_BIT["hupped"]:
        _fail(f"{where}.ntty_flags", "icanon disagrees with termios ICANON")
    n, echo_n, flip_n = len(e.input), len(e.echo), len(e.flip)
    if n > size:
        _fail(f"{where}.input", f"{n} unread bytes, more than the {size}-byte ring")
    commit, canon, line_ends = e.commit, e.canon, e.line_ends
    if not (_S64_MIN <= commit <= _S64_MAX and _S64_MIN <= canon <= _S64_MAX
            and _S64_MIN <= e.line_start <= _S64_MAX and _S64_MIN <= e.echo_commit <= _S64_MAX
            and _S64_MIN <= e.echo_mark <= _S64_MAX):
        name = next(f for f in ("commit", "canon", "line_start", "echo_commit", "echo_mark")
                    if not _S64_MIN <= getattr(e, f) <= _S64_MAX)
        _fail(f"{where}.{name}", "out of range")
    # N_TTY keeps one of canon_head and commit_head up to date; the other is stale and unused.
    if lflag & ICANON and not lflag & EXTPROC:
        if not 0 <= canon <= n:
            _fail(f"{where}.canon", f"{canon} outside the {n} unread bytes")
        if line_ends and not (min(line_ends) >= 0 and max(line_ends) < canon):
            _fail(f"{where}.line_ends", "a line end outside the complete lines")
    else:
        if not 0 <= commit <= n:
            _fail(f"{where}.commit", f"{commit} outside the {n} unread bytes")
        if line_ends and not (min(line_ends) >= 0 and max(line_ends) < n):
            _fail(f"{where}.line_ends", "a line end past the input")
    if not (0 <= e.read_tail <= U64_MAX and 0 <= e.echo_tail <= U64_MAX):
        _fail(f"{where}", "ring index out of range")
    # Any 64-bit value: N_TTY lets its count drift and even wrap (isig() inside __receive_buf;
    # kmod/INVARIANTS.md), and restore does not install it.
    if not 0 <= e.lookahead_count <= U64_MAX:
        _fail(f"{where}.lookahead_count", "not a 64-bit count")
    if echo_n > size:
        _fail(f"{where}.echo", f"{echo_n} pending echo bytes, more than the ring")
    if not 0 <= e.echo_commit <= echo_n:
        _fail(f"{where}.echo_commit", "outside the pending echo bytes")
    if flip_n > FLIP_RESTORE_MAX:
        _fail(f"{where}.flip",
              f"{flip_n} pending flip bytes, more than {FLIP_RESTORE_MAX}: a pty never holds that much "
              "(about 20 KB at most), and writers could take the restored pair past what checkpoint saves")
    if e.flip_lookahead > flip_n:
        _fail(f"{where}.flip_lookahead", "beyond the pending flip bytes")
    if e.flip_flags is not None:
        if len(e.flip_flags) != flip_n:
            _fail(f"{where}.flip_flags", "not one flag per byte")
        if e.flip_flags and max(e.flip_flags) > 4:
            _fail(f"{where}.flip_flags", "unknown TTY_* flag")
    if not (0 <= e.column <= U32_MAX and 0 <= e.canon_column <= U32_MAX):
        _fail(f"{where}.{'column' if not 0 <= e.column <= U32_MAX else 'canon_column'}", "out of range")


def _validate_extra(extra: tuple[Extra, ...], known: int, where: str) -> None:
    last = 0
    for x in extra:
        _check(x.type not in SECTION_NAMES and 0 <= x.type <= 0xFFFF, f"{where}.extra",
               f"section type {x.type} is not an unknown type")
        _check(x.flags == SKIPPABLE, f"{where}.extra", f"section type {x.type}: only skippable sections are kept")
        _check(last <= x.position <= known, f"{where}.extra", f"section type {x.type}: position {x.position} "
               f"out of order or past the {known} known sections")
        _check(len(x.payload) <= U32_MAX, f"{where}.extra", "payload too long")
        last = x.position


def _validate(image: Image, only: int | None = None) -> None:
    # Messages are built only for a failure: a restore validates its pair every time.
    c = image.constants
    if image.extra:
        _validate_extra(image.extra, 2 + len(image.pairs), "image")
    if not (c.n_tty_buf_size > 0 and c.n_tty_buf_size & (c.n_tty_buf_size - 1) == 0):
        _fail("constants.n_tty_buf_size", f"{c.n_tty_buf_size} is not a power of two")
    if not 1 <= c.nccs <= 255:
        _fail("constants.nccs", f"{c.nccs} is out of range")
    if not image.pairs:
        _fail("image", "no pty pairs")
    for k, p in enumerate(image.pairs) if only is None else [(only, image.pairs[only])]:
        _validate_end(p.master, f"pair[{k}].master", c, True)
        _validate_end(p.slave, f"pair[{k}].slave", c, False)
        if p.extra:
            _validate_extra(p.extra, 3 + (p.devpts is not None), f"pair[{k}]")
        d = p.devpts
        if d is not None and not (0 <= d.major <= U32_MAX and 0 <= d.minor <= U32_MAX and len(d.mountpoint) <= 4096):
            _fail(f"pair[{k}].devpts", "out of range")
        if p.master.extra:
            _validate_extra(p.master.extra, 8, f"pair[{k}].master")
        if p.slave.extra:
            _validate_extra(p.slave.extra, 8, f"pair[{k}].slave")
