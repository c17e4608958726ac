# SPDX-License-Identifier: GPL-2.0
"""Records: one pty pair as the module writes and reads it (ABI 3).

A record is ``struct ckpt_tty_record``, then the master's ``struct
ckpt_tty_end`` and its data, then the slave's (kmod/uapi/linux/ckpt_tty.h
says which parts an end's data holds and in what order).  Here a record is a
dict: the header's fields, and "master" and "slave" dicts with the end
header's fields plus its parts as bytes ("flip_flags" is None without flags).

``encode`` derives ``data_size`` and ``size`` from the parts; with
``keep_sizes`` it writes the dict's own, so tests and fuzzers can also write
records whose sizes lie.
"""

from __future__ import annotations

import struct

from . import _uapi, abi

__all__ = ["END_SIZE", "HEADER_SIZE", "PARTS", "decode", "encode", "end_data_size", "split"]

U64 = (1 << 64) - 1
HEADER_SIZE = abi.sizeof("ckpt_tty_record")
END_SIZE = abi.sizeof("ckpt_tty_end")
PARTS = ("input", "line_ends", "echo", "flip_data", "flip_flags")
_SIZE = struct.Struct("=I")


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def end_data_size(input_len: int, echo_len: int, flip_count: int, flip_flagged: bool) -> int:
    """Bytes of an end's data, padding included (ckpt_tty_end_data_size() in the module)."""
    return (_pad8(input_len) + _pad8((input_len + 7) // 8) + _pad8(echo_len) + _pad8(flip_count)
            + (_pad8(flip_count) if flip_flagged else 0))


def _decode_end(data: bytes | memoryview, pos: int) -> tuple[dict, int]:
    e = abi.decode("ckpt_tty_end", data, pos)
    pos += END_SIZE
    input_len = (e["read_head"] - e["read_tail"]) & U64
    echo_len = (e["echo_head"] - e["echo_tail"]) & U64
    count = e["flip_count"]
    if input_len > _uapi.CKPT_TTY_RING_SIZE or echo_len > _uapi.CKPT_TTY_RING_SIZE or \
            count > _uapi.CKPT_TTY_FLIP_MAX:
        raise ValueError(f"an end holds more than the module ever writes ({input_len} input, "
                         f"{echo_len} echo, {count} flip bytes)")
    if e["data_size"] > len(data) - pos:
        raise ValueError(f"an end's {e['data_size']} data bytes run past the record")
    lengths = (input_len, (input_len + 7) // 8, echo_len, count, count if e["flip_flagged"] else None)
    for name, n in zip(PARTS, lengths):
        if n is None:
            e[name] = None
            continue
        e[name] = bytes(data[pos : pos + n])
        pos += _pad8(n)
    return e, pos


def decode(data: bytes | bytearray | memoryview, offset: int = 0) -> dict:
    """The record at ``offset``; one that carries an error has no ends.  ValueError if it is not one."""
    r = abi.decode("ckpt_tty_record", data, offset)
    if r["error"]:
        return r
    r["master"], pos = _decode_end(data, offset + HEADER_SIZE)
    r["slave"], _ = _decode_end(data, pos)
    return r


def _encode_end(e: dict, keep_sizes: bool) -> bytes:
    parts = [e.get(name) or b"" for name in PARTS]
    header = {k: v for k, v in e.items() if k not in PARTS}
    if not keep_sizes or "data_size" not in header:
        input_len = len(parts[0])
        header["data_size"] = end_data_size(input_len, len(parts[2]), len(parts[3]), e.get("flip_flags") is not None)
    body = b"".join(p + bytes(_pad8(len(p)) - len(p)) for p in parts)
    return bytes(abi.encode("ckpt_tty_end", header)) + body


def encode(r: dict, keep_sizes: bool = False) -> bytearray:
    """A record's bytes (see the module docstring for ``keep_sizes``)."""
    ends = b"" if r.get("error") else _encode_end(r["master"], keep_sizes) + _encode_end(r["slave"], keep_sizes)
    header = {k: v for k, v in r.items() if k not in ("master", "slave")}
    if not keep_sizes or "size" not in header:
        header["size"] = HEADER_SIZE + len(ends)
    return abi.encode("ckpt_tty_record", header) + ends


def split(buf: bytes | bytearray | memoryview, used: int) -> list[memoryview]:
    """The records in the first ``used`` bytes of a CHECKPOINT buffer."""
    view = memoryview(buf)[:used]
    out, pos = [], 0
    while pos < used:
        (size,) = _SIZE.unpack_from(view, pos)
        if size < HEADER_SIZE or size % 8 or pos + size > used:
            raise ValueError(f"record at {pos}: size {size} does not fit {used} bytes")
        out.append(view[pos : pos + size])
        pos += size
    return out


assert END_SIZE == 256 and HEADER_SIZE == 32 and _uapi.CKPT_TTY_RECORD_MAX == HEADER_SIZE + 2 * (
    END_SIZE + 2 * _uapi.CKPT_TTY_RING_SIZE + _uapi.CKPT_TTY_RING_FLAG_BYTES + 2 * _uapi.CKPT_TTY_FLIP_MAX)
