#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Generate pyctl/_uapi.py from kmod/uapi/linux/ckpt_tty.h.

The uapi header is the one source of the ABI constants; Python never types
them a second time.  The generator understands the subset of C the header
promises to keep to: integer and string #defines (decimal, hex, shifts of
ULL literals), structs of __u8/__u16/__u32/__u64 scalars and arrays, and
_IO/_IOR/_IOW/_IOWR numbers.  Anything else in a #define or struct is an
error, so the header cannot drift away from what Python sees.

    scripts/gen_uapi_py.py            rewrite pyctl/_uapi.py
    scripts/gen_uapi_py.py --check    exit 1 if pyctl/_uapi.py is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "kmod/uapi/linux/ckpt_tty.h"
OUTPUT = ROOT / "pyctl/_uapi.py"

# (struct format letter, size) of the fixed-width uapi types
SCALARS = {"__u8": ("B", 1), "__u16": ("H", 2), "__u32": ("I", 4), "__s32": ("i", 4), "__u64": ("Q", 8)}

# include/uapi/asm-generic/ioctl.h (x86, arm64 and most others)
IOC_NONE, IOC_WRITE, IOC_READ = 0, 1, 2
IOC_DIRS = {"_IO": IOC_NONE, "_IOR": IOC_READ, "_IOW": IOC_WRITE, "_IOWR": IOC_READ | IOC_WRITE}


def ioc(direction: int, type_: int, nr: int, size: int) -> int:
    """_IOC() of include/uapi/asm-generic/ioctl.h."""
    if size >= 1 << 14:
        raise ValueError(f"ioctl argument of {size} bytes does not fit _IOC_SIZEBITS")
    return (direction << 30) | (size << 16) | (type_ << 8) | nr


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


class Header:
    def __init__(self, text: str) -> None:
        self.constants: dict[str, int | str] = {}
        self.structs: dict[str, list[tuple[str, str, int]]] = {}  # name -> (field, type, count)
        self.ioctls: dict[str, tuple[int, str]] = {}  # name -> (number, struct)
        self._parse(strip_comments(text))

    def value(self, expr: str) -> int:
        """Evaluate an integer expression of the allowed shapes."""
        expr = expr.strip()
        while expr.startswith("(") and expr.endswith(")"):
            expr = expr[1:-1].strip()
        if expr in self.constants and isinstance(self.constants[expr], int):
            return self.constants[expr]  # type: ignore[return-value]
        m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)[uUlL]*", expr)
        if m:
            return int(m.group(1), 0)
        m = re.fullmatch(r"(.+?)\s*<<\s*(.+)", expr)
        if m:
            return self.value(m.group(1)) << self.value(m.group(2))
        raise ValueError(f"unsupported expression in uapi header: {expr!r}")

    def sizeof(self, struct_name: str) -> int:
        return self.layout(struct_name)[1]

    def alignment(self, ctype: str) -> int:
        if ctype in SCALARS:
            return SCALARS[ctype][1]
        return max(self.alignment(t) for _, t, _ in self.structs[ctype])

    def type_size(self, ctype: str) -> int:
        return SCALARS[ctype][1] if ctype in SCALARS else self.sizeof(ctype)

    def layout(self, struct_name: str) -> tuple[list[tuple[str, int, int]], int]:
        """[(field, offset, size)], total size, with C's natural alignment."""
        offset, align_max, fields = 0, 1, []
        for field, ctype, count in self.structs[struct_name]:
            align = self.alignment(ctype)
            offset = (offset + align - 1) // align * align
            fields.append((field, offset, self.type_size(ctype) * count))
            offset += self.type_size(ctype) * count
            align_max = max(align_max, align)
        return fields, (offset + align_max - 1) // align_max * align_max

    def format(self, struct_name: str) -> str:
        """struct module format (no byte-order prefix) with padding as 'x'."""
        fmt, pos = "", 0
        layout, size = self.layout(struct_name)
        for (field, ctype, count), (_, offset, fsize) in zip(self.structs[struct_name], layout):
            if offset > pos:
                fmt += f"{offset - pos}x"
            if ctype not in SCALARS:
                fmt += self.format(ctype) * count
            elif ctype == "__u8" and count > 1:
                fmt += f"{count}s"
            else:
                letter = SCALARS[ctype][0]
                fmt += f"{count}{letter}" if count > 1 else letter
            pos = offset + fsize
        if size > pos:
            fmt += f"{size - pos}x"
        return fmt

    def _parse(self, text: str) -> None:
        """Walk #defines and struct definitions in document order."""
        item = re.compile(
            r"^[ \t]*#define[ \t]+(?P<name>\w+)[ \t]+(?P<body>.+?)[ \t]*$"
            r"|struct\s+(?P<struct>\w+)\s*\{(?P<members>.*?)\}\s*;",
            flags=re.M | re.S,
        )
        for m in item.finditer(text):
            if m.group("struct"):
                self._parse_struct(m.group("struct"), m.group("members"))
            elif not m.group("name").startswith("_UAPI_"):
                self._parse_define(m.group("name"), m.group("body"))

    def _parse_struct(self, name: str, members: str) -> None:
        fields = []
        for decl in members.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            d = re.fullmatch(r"(__u8|__u16|__u32|__s32|__u64|struct\s+\w+)\s+(\w+)\s*(?:\[\s*(\w+)\s*\])?", decl)
            if not d:
                raise ValueError(f"unsupported member in struct {name}: {decl!r}")
            ctype = d.group(1).split()[-1]
            if d.group(1).startswith("struct") and ctype not in self.structs:
                raise ValueError(f"struct {name} uses struct {ctype} before defining it")
            count = self.value(d.group(3)) if d.group(3) else 1
            fields.append((d.group(2), ctype, count))
        self.structs[name] = fields

    def _parse_define(self, name: str, body: str) -> None:
        string = re.fullmatch(r'"([^"\\]*)"', body)
        ioctl = re.fullmatch(r"(_IOWR|_IOR|_IOW|_IO)\s*\(\s*(\w+)\s*,\s*(\w+)\s*(?:,\s*struct\s+(\w+)\s*)?\)", body)
        if string:
            self.constants[name] = string.group(1)
        elif ioctl:
            macro, type_, nr, struct_name = ioctl.groups()
            size = self.sizeof(struct_name) if struct_name else 0
            number = ioc(IOC_DIRS[macro], self.value(type_), self.value(nr), size)
            self.ioctls[name] = (number, struct_name or "")
        else:
            self.constants[name] = self.value(body)


def render(header: Header) -> str:
    out = [
        "# SPDX-License-Identifier: GPL-2.0",
        "# Generated by scripts/gen_uapi_py.py from kmod/uapi/linux/ckpt_tty.h. Do not edit:",
        "# change the header and run the script (a unit test checks this file is current).",
        '"""ABI of /dev/ckpt_tty: constants, struct layouts and ioctl numbers."""',
        "",
    ]
    for name, value in header.constants.items():
        if isinstance(value, str):
            out.append(f"{name} = {value!r}")
        else:
            out.append(f"{name} = {value:#x}" if value > 0xFF else f"{name} = {value}")
    out.append("")
    out.append("# uapi scalar type -> struct module format letter")
    out.append(f"SCALAR_FORMATS = {{{', '.join(f'{k!r}: {v[0]!r}' for k, v in SCALARS.items())}}}")
    out.append("")
    out.append("# struct name -> (struct module format, ((field, offset, size, count, type), ...), size);")
    out.append("# a field of struct type spans that struct's format, repeated count times")
    out.append("STRUCTS = {")
    for sname, fields in header.structs.items():
        layout, size = header.layout(sname)
        rows = [f"({field!r}, {offset}, {fsize}, {count}, {ctype!r})"
                for (field, ctype, count), (_, offset, fsize) in zip(fields, layout)]
        out.append(f"    {sname!r}: ({'=' + header.format(sname)!r}, (")
        out.extend(f"        {row}," for row in rows)
        out.append(f"    ), {size}),")
    out.append("}")
    out.append("")
    for name, (number, sname) in header.ioctls.items():
        suffix = f"  # struct {sname}" if sname else ""
        out.append(f"{name} = {number:#010x}{suffix}")
    out.append("")
    return "\n".join(out)


def generate() -> str:
    return render(Header(HEADER.read_text()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that pyctl/_uapi.py is current")
    args = parser.parse_args()
    text = generate()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run scripts/gen_uapi_py.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
