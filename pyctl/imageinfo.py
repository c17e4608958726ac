# SPDX-License-Identifier: GPL-2.0
"""``pyctl info FILE``: what an image file says about itself.

Unlike ``loads()``, which stops at the first defect, this reports the header
and every top-level section with its checksum status, so a damaged file
still shows what it is and where it is damaged.
"""

from __future__ import annotations

import struct
import time
import zlib

from .errors import ImageError
from .image import _HEADER, MAGIC, SECTION_NAMES, VERSION, Image, loads
from .show import devpts_text

__all__ = ["describe_file"]


def _sections(body: bytes) -> list[tuple[str, int, str]]:
    """(name, payload length, checksum status) of each top-level section, as far as they can be framed."""
    out, pos = [], 0
    while pos < len(body):
        if len(body) - pos < 8:
            out.append(("(truncated section header)", len(body) - pos, "-"))
            break
        type_, flags, length = struct.unpack_from("<HHI", body, pos)
        name = SECTION_NAMES.get(type_, f"type {type_}{' (skippable)' if flags & 1 else ''}")
        if length + 12 > len(body) - pos:
            out.append((name, length, f"truncated: {len(body) - pos - 8} of {length + 4} bytes present"))
            break
        (crc,) = struct.unpack_from("<I", body, pos + 8 + length)
        ok = zlib.crc32(body[pos:pos + 8 + length]) == crc
        out.append((name, length, "ok" if ok else "MISMATCH"))
        pos += 12 + length
    return out


def describe_file(data: bytes) -> tuple[list[tuple[str, str]], Image | None]:
    """Rows of (key, value) for people, and the image if it is valid."""
    rows = [("file size", f"{len(data)} bytes")]
    if len(data) < _HEADER.size or data[:8] != MAGIC:
        rows.append(("format", "not a ckpt-tty image (bad magic or shorter than the 32-byte header)"))
        return rows, None
    _, version, flags, count, length, body_crc, header_crc = _HEADER.unpack_from(data)
    body = data[_HEADER.size:]
    rows += [
        ("format version", f"{version}" + ("" if version == VERSION else f" (this pyctl reads {VERSION})")),
        ("header flags", f"{flags:#x}"),
        ("header checksum", "ok" if zlib.crc32(data[:28]) == header_crc else "MISMATCH"),
        ("body", f"{len(body)} bytes" + ("" if length == len(body) else f" (header says {length})")),
        ("body checksum", "ok" if zlib.crc32(body) == body_crc else "MISMATCH"),
    ]
    sections = _sections(body)
    rows.append(("sections", f"{len(sections)}" + ("" if count == len(sections) else f" (header says {count})")))
    for name, size, status in sections:
        rows.append((f"  {name}", f"{size} bytes, checksum {status}"))
    try:
        image = loads(data)
    except ImageError as e:
        rows.append(("valid", f"no: {e}"))
        return rows, None
    c = image.constants
    rows += [
        ("valid", "yes"),
        ("source kernel", image.release),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(image.created)) if image.created < 1 << 40
         else str(image.created)),
        ("constants", f"N_TTY_BUF_SIZE {c.n_tty_buf_size}, NCCS {c.nccs}, NCC {c.ncc}, BITS_PER_LONG "
                      f"{c.bits_per_long}, {'little' if c.byte_order == 1 else 'big'} endian, "
                      f"ktermios {c.ktermios_size}, n_tty_data {c.n_tty_data_size} "
                      f"(layout {c.n_tty_data_fingerprint:016x})"),
        ("pty pairs", f"{len(image.pairs)}: " + ", ".join(f"/dev/pts/{p.index} ({devpts_text(p)})"
                                                          for p in image.pairs)),
        ("unread bytes", ", ".join(f"/dev/pts/{p.index}: input {len(p.slave.input) + len(p.slave.flip)}, "
                                   f"output {len(p.master.input) + len(p.master.flip)}" for p in image.pairs)),
    ]
    kept = len(image.extra) + sum(len(p.extra) + len(p.master.extra) + len(p.slave.extra) for p in image.pairs)
    if kept:
        rows.append(("unknown sections", f"{kept} skippable, kept as they are"))
    return rows, image
