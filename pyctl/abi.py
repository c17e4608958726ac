# SPDX-License-Identifier: GPL-2.0
"""Encode and decode the uapi structures of kmod/uapi/linux/ckpt_tty.h.

Structures become dicts keyed by field name, nested for struct members;
``__u8`` arrays are bytes, other arrays tuples.  Layouts come from the
generated pyctl/_uapi.py, so nothing here knows a field by heart.
"""

from __future__ import annotations

import functools
import struct

from . import _uapi

__all__ = ["decode", "encode", "sizeof", "zeroed"]


def sizeof(name: str) -> int:
    return _uapi.STRUCTS[name][2]


def _fields(name: str):
    return _uapi.STRUCTS[name][1]


@functools.lru_cache(maxsize=None)
def _reader(name: str):
    """One struct.Struct for the whole structure and a function from its values to the dict."""
    fmt = _uapi.STRUCTS[name][0]
    plan = []  # (field, how): how is 1 (one value), n > 1 (a tuple of n) or a nested structure's builder
    for field, _, _, count, ctype in _fields(name):
        if ctype in _uapi.SCALAR_FORMATS:
            plan.append((field, 1 if ctype == "__u8" or count == 1 else count))
        else:
            plan.append((field, [_reader(ctype)[1]] * count if count > 1 else _reader(ctype)[1]))

    def build(values) -> dict:
        out = {}
        for field, how in plan:
            if how == 1:
                out[field] = next(values)
            elif isinstance(how, int):
                out[field] = tuple(next(values) for _ in range(how))
            elif isinstance(how, list):
                out[field] = [b(values) for b in how]
            else:
                out[field] = how(values)
        return out

    return struct.Struct(fmt), build


def decode(name: str, data: bytes, offset: int = 0) -> dict:
    """``struct name`` at ``offset`` of ``data`` as a dict."""
    layout, build = _reader(name)
    return build(iter(layout.unpack_from(data, offset)))


def encode(name: str, values: dict, buf: bytearray | None = None, offset: int = 0) -> bytearray:
    """Write ``values`` as ``struct name``; missing fields stay zero."""
    if buf is None:
        buf = bytearray(sizeof(name))
    known = {f[0] for f in _fields(name)}
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"struct {name} has no field {sorted(unknown)[0]!r}")
    for field, foff, size, count, ctype in _fields(name):
        if field not in values:
            continue
        value, pos = values[field], offset + foff
        if ctype in _uapi.SCALAR_FORMATS:
            letter = _uapi.SCALAR_FORMATS[ctype]
            if ctype == "__u8" and count > 1:
                if len(value) > size:
                    raise ValueError(f"{name}.{field}: {len(value)} bytes, room for {size}")
                buf[pos : pos + len(value)] = value
            elif count > 1:
                struct.pack_into(f"={count}{letter}", buf, pos, *value)
            else:
                struct.pack_into(f"={letter}", buf, pos, value)
        elif count > 1:
            for i, item in enumerate(value):
                encode(ctype, item, buf, pos + i * sizeof(ctype))
        else:
            encode(ctype, value, buf, pos)
    return buf


def zeroed(name: str) -> dict:
    return decode(name, bytes(sizeof(name)))
