# SPDX-License-Identifier: GPL-2.0
"""Encode and decode the uapi structures of kmod/uapi/linux/ckpt_tty.h.

Structures become dicts keyed by field name, nested for struct members;
``__u8`` arrays are bytes, other arrays tuples.  Layouts come from the
generated pyctl/_uapi.py, so nothing here knows a field by heart.
"""

from __future__ import annotations

import functools
import operator
import struct

from . import _uapi

__all__ = ["decode", "encode", "sizeof", "zeroed"]


def sizeof(name: str) -> int:
    return _uapi.STRUCTS[name][2]


def _fields(name: str):
    return _uapi.STRUCTS[name][1]


@functools.lru_cache(maxsize=None)
def _reader(name: str):
    """The structure's struct.Struct, the number of values it unpacks to, and
    build(values, at) -> the dict of the structure whose values start at ``at``.

    One-value fields (scalars, __u8 arrays as bytes) are taken in one
    itemgetter call; only arrays and nested structures need more.
    """
    simple_names, simple_at, rest = [], [], []  # rest: (field, at, count, nested builder or None, its width)
    at = 0
    for field, _, _, count, ctype in _fields(name):
        if ctype in _uapi.SCALAR_FORMATS:
            if ctype == "__u8" or count == 1:
                simple_names.append(field)
                simple_at.append(at)
                at += 1
            else:
                rest.append((field, at, count, None, 1))
                at += count
        else:
            _, width, nested = _reader(ctype)
            rest.append((field, at, count, nested, width))
            at += width * count
    total = at
    getter = operator.itemgetter(*simple_at) if len(simple_at) > 1 else None
    only = simple_at[0] if len(simple_at) == 1 else None

    def build(values: tuple, base: int = 0) -> dict:
        if getter is not None:
            out = dict(zip(simple_names, getter(values[base : base + total])))
        else:
            out = {} if only is None else {simple_names[0]: values[base + only]}
        for field, at, count, nested, width in rest:
            if nested is None:
                out[field] = values[base + at : base + at + count]
            elif count == 1:
                out[field] = nested(values, base + at)
            else:
                out[field] = [nested(values, base + at + i * width) for i in range(count)]
        return out

    return struct.Struct(_uapi.STRUCTS[name][0]), total, build


def decode(name: str, data: bytes, offset: int = 0) -> dict:
    """``struct name`` at ``offset`` of ``data`` as a dict."""
    layout, _, build = _reader(name)
    return build(layout.unpack_from(data, offset))


@functools.lru_cache(maxsize=None)
def _writer(name: str):
    """The structure's struct.Struct and a function appending a dict's values in its order (zero if missing)."""
    plan = []  # (field, kind, count, size, nested flattener or None)
    for field, _, size, count, ctype in _fields(name):
        if ctype in _uapi.SCALAR_FORMATS:
            plan.append((field, "bytes" if ctype == "__u8" and count > 1 else "scalar", count, size, None))
        else:
            plan.append((field, "struct", count, size, _writer(ctype)[1]))
    known = frozenset(f for f, *_ in plan)

    def flatten(values: dict, out: list, where: str = name) -> None:
        if not known.issuperset(values):
            raise KeyError(f"struct {where} has no field {sorted(set(values) - known)[0]!r}")
        for field, kind, count, size, nested in plan:
            value = values.get(field)
            if kind == "bytes":
                value = b"" if value is None else value
                if len(value) > size:
                    raise ValueError(f"{where}.{field}: {len(value)} bytes, room for {size}")
                out.append(bytes(value))
            elif kind == "scalar":
                if count == 1:
                    out.append(0 if value is None else value)
                else:
                    out.extend((0,) * count if value is None else value)
            elif count == 1:
                nested({} if value is None else value, out)
            else:
                for item in ({},) * count if value is None else value:
                    nested(item, out)

    return struct.Struct(_uapi.STRUCTS[name][0]), flatten


def encode(name: str, values: dict) -> bytearray:
    """``values`` as ``struct name``; missing fields are zero.  KeyError for a field it does not have."""
    layout, flatten = _writer(name)
    flat: list = []
    flatten(values, flat)
    buf = bytearray(layout.size)
    layout.pack_into(buf, 0, *flat)
    return buf


def zeroed(name: str) -> dict:
    return decode(name, bytes(sizeof(name)))
