# SPDX-License-Identifier: GPL-2.0
"""``pyctl diff A B``: what differs between two images, field by field.

Both images are compared in the pretty JSON spelling (pyctl/imagejson.py),
so a difference is named by its JSON path and shown with names: flag words
as the flags that were added and removed, c_cc by slot, input by line.
"""

from __future__ import annotations

from typing import Any

from .image import Image
from .imagejson import to_json

__all__ = ["diff"]

FLAG_KEYS = {"iflag", "oflag", "cflag", "lflag", "flags", "pktstatus", "ntty_flags"}
SKIP = {"format", "version", "pretty"}


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and not (path.endswith(".input") and "lines" in value):
        for k, v in value.items():
            if not path and k in SKIP:
                continue
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = value


def _show(value: Any) -> str:
    if isinstance(value, dict):  # pretty input: complete lines and the partial one
        lines = [repr(line) for line in value["lines"]]
        return f"lines [{', '.join(lines)}], partial {value['partial']!r}"
    return repr(value)


def _flag_change(a: str, b: str) -> str:
    old, new = set(a.split("|")) - {""}, set(b.split("|")) - {""}
    parts = [f"+{n}" for n in b.split("|") if n in new - old] + [f"-{n}" for n in a.split("|") if n in old - new]
    return " ".join(parts)


def diff(a: Image, b: Image) -> list[str]:
    """One line per differing field; empty when the images hold the same state."""
    fa, fb = {}, {}
    _flatten(to_json(a, pretty=True), "", fa)
    _flatten(to_json(b, pretty=True), "", fb)
    out = []
    for path in list(fa) + [p for p in fb if p not in fa]:
        if path not in fb:
            out.append(f"{path}: only in the first image: {_show(fa[path])}")
        elif path not in fa:
            out.append(f"{path}: only in the second image: {_show(fb[path])}")
        elif fa[path] != fb[path]:
            key = path.rsplit(".", 1)[-1]
            if key in FLAG_KEYS and isinstance(fa[path], str) and isinstance(fb[path], str):
                out.append(f"{path}: {_flag_change(fa[path], fb[path])}")
            else:
                out.append(f"{path}: {_show(fa[path])} -> {_show(fb[path])}")
    return out
