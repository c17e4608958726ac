# SPDX-License-Identifier: GPL-2.0
"""A Pair as the module's record (ABI 3) and back, in one step.

pyctl.record turns records into dicts and pyctl.abi packs any uapi
structure field by field; both are general and stay the reference.  A
restore or a checkpoint does this one conversion per pair, and through
dicts it cost more than opening the pty itself, so this module packs and
unpacks ``struct ckpt_tty_end`` with one struct.Struct call.  The layout
still comes from pyctl/_uapi.py (generated from the uapi header): the field
order written below is checked against it at import, and
tests/unit/test_pair_record.py checks the result against the reference path.
"""

from __future__ import annotations

import re
import struct

from . import _uapi
from .image import NTTY_FLAGS, TTY_FLAGS, End, Pair, Termios, Winsize

__all__ = ["NTTY_BITS", "TTY_BITS", "line_ends", "pair_from_record", "pair_to_record", "signed", "to_image_bits"]

U64 = (1 << 64) - 1
_TERMIOS_FIELDS = ("c_iflag", "c_oflag", "c_cflag", "c_lflag", "c_ispeed", "c_ospeed", "c_line", "c_cc", "pad")
# struct ckpt_tty_end, flattened in the order its values are packed below.
_END_FIELDS = (
    *(f"termios.{f}" for f in _TERMIOS_FIELDS), *(f"termios_locked.{f}" for f in _TERMIOS_FIELDS),
    "ws_row", "ws_col", "ws_xpixel", "ws_ypixel", "flags", "ldisc", "pktstatus", "ntty_flags", "column",
    "canon_column", "flip_count", "flip_lookahead", "flip_flagged", "data_size", "read_head", "commit_head",
    "canon_head", "read_tail", "line_start", "lookahead_count", "echo_head", "echo_commit", "echo_mark",
    "echo_tail", "reserved", "reserved", "reserved", "reserved",
)
_HEADER_FIELDS = ("size", "error", "fd", "index", "devpts_dev", "reserved0", "reserved")


def _flattened(name: str, prefix: str = "") -> list[str]:
    """Field names of a uapi structure in struct.Struct value order (one per value)."""
    out = []
    for field, _, _, count, ctype in _uapi.STRUCTS[name][1]:
        if ctype in _uapi.SCALAR_FORMATS:
            out += [prefix + field] * (1 if ctype == "__u8" else count)
        else:
            out += _flattened(ctype, f"{prefix}{field}.") * count
    return out


if _flattened("ckpt_tty_end") != list(_END_FIELDS) or _flattened("ckpt_tty_record") != list(_HEADER_FIELDS):
    raise ImportError("pyctl.pairrecord: struct ckpt_tty_end or ckpt_tty_record changed in the uapi header; "
                      "update the field order here")

_END = struct.Struct(_uapi.STRUCTS["ckpt_tty_end"][0])
_HEADER = struct.Struct(_uapi.STRUCTS["ckpt_tty_record"][0])
_CC_MAX = _uapi.STRUCTS["ckpt_tty_termios"][1][_TERMIOS_FIELDS.index("c_cc")][2]
_PAD = [bytes(-n & 7) for n in range(8)]

# Image flag bit i <-> the module's bit, by name (the two are separate ABIs).
TTY_BITS = tuple(getattr(_uapi, f"CKPT_TTY_END_{name.upper()}") for name in TTY_FLAGS)
NTTY_BITS = tuple(getattr(_uapi, f"CKPT_TTY_NTTY_{name.upper()}") for name in NTTY_FLAGS)


def to_kernel_bits(value: int, bits: tuple[int, ...]) -> int:
    if not 0 <= value < 1 << len(bits):
        raise ValueError(f"unknown flag bits {value:#x}")
    return sum(bit for i, bit in enumerate(bits) if value >> i & 1)


def to_image_bits(value: int, bits: tuple[int, ...]) -> int:
    return sum(1 << i for i, bit in enumerate(bits) if value & bit)


# Every image flag word's kernel word, looked up by value: a restore converts two per end.
_KERNEL_TTY = tuple(to_kernel_bits(v, TTY_BITS) for v in range(1 << len(TTY_BITS)))
_KERNEL_NTTY = tuple(to_kernel_bits(v, NTTY_BITS) for v in range(1 << len(NTTY_BITS)))


def _kernel_word(table: tuple[int, ...], value: int) -> int:
    if not 0 <= value < len(table):
        raise ValueError(f"unknown flag bits {value:#x}")
    return table[value]


def signed(distance: int) -> int:
    """Distance between two free-running size_t indices, as a signed number."""
    distance &= U64
    return distance - (1 << 64) if distance >> 63 else distance


def _line_end_bits(line_ends: frozenset[int], n: int) -> bytes:
    if not line_ends:
        return bytes((n + 7) // 8)
    bits = bytearray((n + 7) // 8)
    for i in line_ends:
        bits[i >> 3] |= 1 << (i & 7)
    return bytes(bits)


_NONZERO = re.compile(rb"[^\0]")
_BITS_OF = [tuple(i for i in range(8) if byte >> i & 1) for byte in range(256)]


def line_ends(bits: bytes) -> frozenset[int]:
    """Positions of the set bits of a little-endian bitmap (the regex skips zero bytes at C speed)."""
    return frozenset(8 * m.start() + i for m in _NONZERO.finditer(bits) for i in _BITS_OF[bits[m.start()]])


def _end_parts(e: End, parts: list) -> int:
    """Append an end's header and data parts (each followed by its padding) to parts; their size.
    The header's data_size is the bytes of the data parts appended."""
    t, lk, w = e.termios, e.termios_locked, e.winsize
    if len(t.cc) > _CC_MAX or len(lk.cc) > _CC_MAX:
        raise ValueError(f"{max(len(t.cc), len(lk.cc))} control characters, room for {_CC_MAX}")
    inp, echo, flip, flip_flags = e.input, e.echo, e.flip, e.flip_flags
    n, tail, echo_tail = len(inp), e.read_tail, e.echo_tail
    bits = _line_end_bits(e.line_ends, n)
    at = len(parts)
    parts += (inp, _PAD[n & 7], bits, _PAD[len(bits) & 7], echo, _PAD[len(echo) & 7], flip, _PAD[len(flip) & 7])
    if flip_flags is not None:
        parts += (flip_flags, _PAD[len(flip_flags) & 7])
    data_size = sum(map(len, parts[at:]))
    parts.insert(at, _END.pack(
        t.iflag, t.oflag, t.cflag, t.lflag, t.ispeed, t.ospeed, t.line, t.cc, b"",
        lk.iflag, lk.oflag, lk.cflag, lk.lflag, lk.ispeed, lk.ospeed, lk.line, lk.cc, b"",
        w.row, w.col, w.xpixel, w.ypixel,
        _kernel_word(_KERNEL_TTY, e.flags), t.line, e.pktstatus, _kernel_word(_KERNEL_NTTY, e.ntty_flags),
        e.column, e.canon_column, len(flip), e.flip_lookahead, flip_flags is not None, data_size,
        (tail + n) & U64, (tail + e.commit) & U64, (tail + e.canon) & U64, tail, (tail + e.line_start) & U64,
        e.lookahead_count, (echo_tail + len(echo)) & U64, (echo_tail + e.echo_commit) & U64,
        (echo_tail + e.echo_mark) & U64, echo_tail, 0, 0, 0, 0))
    return _END.size + data_size


def pair_to_record(pair: Pair) -> bytes:
    """The record RESTORE takes for ``pair`` (what pyctl.record.encode makes of it, faster): one join."""
    parts = [b""]
    size = _HEADER.size + _end_parts(pair.master, parts) + _end_parts(pair.slave, parts)
    parts[0] = _HEADER.pack(size, 0, 0, pair.index, 0, 0, 0)
    return b"".join(parts)


def _termios(v: tuple, at: int) -> Termios:
    return Termios(v[at], v[at + 1], v[at + 2], v[at + 3], v[at + 4], v[at + 5], v[at + 6], v[at + 7])


def _end_from_record(data: bytes | memoryview, pos: int) -> tuple[End, int]:
    if pos + _END.size > len(data):
        raise ValueError("a record too short for its ends")
    (*_, ws_row, ws_col, ws_xpixel, ws_ypixel, flags, _ldisc, pktstatus, ntty_flags, column, canon_column,
     flip_count, flip_lookahead, flip_flagged, data_size, read_head, commit_head, canon_head, read_tail, line_start,
     lookahead_count, echo_head, echo_commit, echo_mark, echo_tail, _, _, _, _) = v = _END.unpack_from(data, pos)
    pos += _END.size
    n, echo_len = (read_head - read_tail) & U64, (echo_head - echo_tail) & U64
    if n > _uapi.CKPT_TTY_RING_SIZE or echo_len > _uapi.CKPT_TTY_RING_SIZE or flip_count > _uapi.CKPT_TTY_FLIP_MAX:
        raise ValueError(f"an end holds more than the module ever writes ({n} input, "
                         f"{echo_len} echo, {flip_count} flip bytes)")
    if data_size > len(data) - pos:
        raise ValueError(f"an end's {data_size} data bytes run past the record")
    start, parts = pos, []
    for size in (n, (n + 7) // 8, echo_len, flip_count, flip_count if flip_flagged else None):
        if size is None:
            parts.append(None)
            continue
        parts.append(bytes(data[pos : pos + size]))
        pos += (size + 7) & ~7
    if pos - start != data_size:
        raise ValueError(f"an end's data_size is {data_size}, its parts take {pos - start} bytes")
    end = End(
        _termios(v, 0), _termios(v, len(_TERMIOS_FIELDS)), Winsize(ws_row, ws_col, ws_xpixel, ws_ypixel),
        to_image_bits(flags, TTY_BITS), pktstatus, to_image_bits(ntty_flags, NTTY_BITS), column, canon_column,
        read_tail, signed(commit_head - read_tail), signed(canon_head - read_tail),
        signed(line_start - read_tail), lookahead_count, echo_tail, signed(echo_commit - echo_tail),
        signed(echo_mark - echo_tail), parts[0], line_ends(parts[1]), parts[2], parts[3], parts[4],
        flip_lookahead)
    return end, pos


def pair_from_record(data: bytes | memoryview) -> Pair:
    """The Pair of a CHECKPOINT record without an error (ValueError if it is not one)."""
    if len(data) < _HEADER.size:
        raise ValueError("a record shorter than its header")
    index = _HEADER.unpack_from(data)[3]
    master, pos = _end_from_record(data, _HEADER.size)
    slave, _ = _end_from_record(data, pos)
    return Pair(index, master, slave)
