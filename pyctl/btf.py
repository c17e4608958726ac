# SPDX-License-Identifier: GPL-2.0
"""Read struct layouts from a kernel's BTF (BPF Type Format).

This module uses the standard library only: Kbuild runs it to generate the
``struct n_tty_data`` layout header while building ``ckpt_tty.ko`` (see
pyctl/ntty_layout.py), where pyelftools may not be installed.

BTF comes in three wrappings, all handled by :func:`load_btf`:

* raw BTF, as in ``/sys/kernel/btf/vmlinux`` of a running kernel;
* an ELF file with a ``.BTF`` section: a ``vmlinux`` (Debian 6.12 header
  packages ship a BTF-only one), or a ``.ko``;
* a compressed boot image ``/boot/vmlinuz-*`` whose payload is such an ELF
  (xz on Debian 6.1, zstd on Debian 6.12).

Format reference: Documentation/bpf/btf.rst in the kernel tree.
"""

from __future__ import annotations

import dataclasses
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

__all__ = [
    "BtfError",
    "Btf",
    "Member",
    "StructLayout",
    "load_btf",
    "find_kernel_btf",
]

BTF_MAGIC = 0xEB9F

# enum btf_kind (include/uapi/linux/btf.h)
KIND_INT = 1
KIND_PTR = 2
KIND_ARRAY = 3
KIND_STRUCT = 4
KIND_UNION = 5
KIND_ENUM = 6
KIND_FWD = 7
KIND_TYPEDEF = 8
KIND_VOLATILE = 9
KIND_CONST = 10
KIND_RESTRICT = 11
KIND_FUNC = 12
KIND_FUNC_PROTO = 13
KIND_VAR = 14
KIND_DATASEC = 15
KIND_FLOAT = 16
KIND_DECL_TAG = 17
KIND_TYPE_TAG = 18
KIND_ENUM64 = 19

# Bytes of kind-specific data after the 12-byte struct btf_type, as
# (fixed bytes, bytes per vlen entry).
_TRAILER = {
    KIND_INT: (4, 0),
    KIND_PTR: (0, 0),
    KIND_ARRAY: (12, 0),
    KIND_STRUCT: (0, 12),
    KIND_UNION: (0, 12),
    KIND_ENUM: (0, 8),
    KIND_FWD: (0, 0),
    KIND_TYPEDEF: (0, 0),
    KIND_VOLATILE: (0, 0),
    KIND_CONST: (0, 0),
    KIND_RESTRICT: (0, 0),
    KIND_FUNC: (0, 0),
    KIND_FUNC_PROTO: (0, 8),
    KIND_VAR: (4, 0),
    KIND_DATASEC: (0, 12),
    KIND_FLOAT: (0, 0),
    KIND_DECL_TAG: (4, 0),
    KIND_TYPE_TAG: (0, 0),
    KIND_ENUM64: (0, 12),
}

# Kinds that only qualify or rename another type.
_MODIFIERS = {KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG}


class BtfError(Exception):
    """BTF data is missing, malformed, or lacks what was asked for."""


@dataclasses.dataclass(frozen=True)
class Member:
    """One member of a BTF struct or union.

    ``bit_offset`` counts from the start of the struct; ``bit_size`` is the
    bitfield width for bitfields and ``8 * sizeof(type)`` otherwise.
    """

    name: str
    bit_offset: int
    bit_size: int
    bitfield: bool

    @property
    def offset(self) -> int:
        """Byte offset of the member (of the byte holding it, for bitfields)."""
        return self.bit_offset // 8

    @property
    def size(self) -> int:
        """Byte size of a non-bitfield member."""
        return self.bit_size // 8


@dataclasses.dataclass(frozen=True)
class StructLayout:
    """Size and members of one struct, in declaration order."""

    name: str
    size: int
    members: tuple[Member, ...]

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise BtfError(f"struct {self.name} has no member {name!r}")


@dataclasses.dataclass
class _Type:
    kind: int
    name: str
    vlen: int
    kind_flag: bool
    size_or_type: int
    data: bytes


class Btf:
    """Parsed type section of one BTF blob (type ids start at 1)."""

    def __init__(self, blob: bytes, origin: str = "<bytes>") -> None:
        self.origin = origin
        if len(blob) < 24:
            raise BtfError(f"{origin}: too short for a BTF header")
        magic = struct.unpack_from("<H", blob, 0)[0]
        if magic == BTF_MAGIC:
            end = "<"
        elif struct.unpack_from(">H", blob, 0)[0] == BTF_MAGIC:
            end = ">"
        else:
            raise BtfError(f"{origin}: no BTF magic")
        self._end = end
        _, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            end + "HBBIIIII", blob, 0
        )
        types_start = hdr_len + type_off
        strs_start = hdr_len + str_off
        if types_start + type_len > len(blob) or strs_start + str_len > len(blob):
            raise BtfError(f"{origin}: BTF sections run past the end of the data")
        self._strings = blob[strs_start : strs_start + str_len]
        self._types: list[_Type | None] = [None]  # id 0 is void
        self._parse_types(blob[types_start : types_start + type_len])

    @property
    def little_endian(self) -> bool:
        return self._end == "<"

    def _str(self, off: int) -> str:
        end = self._strings.find(b"\0", off)
        if off >= len(self._strings) or end < 0:
            raise BtfError(f"{self.origin}: string offset {off} out of range")
        return self._strings[off:end].decode("utf-8", "replace")

    def _parse_types(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            if pos + 12 > len(data):
                raise BtfError(f"{self.origin}: truncated type at byte {pos}")
            name_off, info, size_or_type = struct.unpack_from(self._end + "III", data, pos)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            if kind not in _TRAILER:
                raise BtfError(f"{self.origin}: unknown BTF kind {kind} at byte {pos}")
            fixed, per = _TRAILER[kind]
            extra = fixed + per * vlen
            body = data[pos + 12 : pos + 12 + extra]
            if len(body) != extra:
                raise BtfError(f"{self.origin}: truncated type at byte {pos}")
            self._types.append(
                _Type(kind, self._str(name_off), vlen, bool(info >> 31), size_or_type, body)
            )
            pos += 12 + extra

    def _type(self, type_id: int) -> _Type:
        if not 0 < type_id < len(self._types):
            raise BtfError(f"{self.origin}: bad type id {type_id}")
        t = self._types[type_id]
        assert t is not None
        return t

    def type_size(self, type_id: int) -> int:
        """sizeof() the type with this id, following typedefs and qualifiers."""
        for _ in range(64):
            t = self._type(type_id)
            if t.kind in _MODIFIERS:
                type_id = t.size_or_type
                continue
            if t.kind in (KIND_INT, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64, KIND_FLOAT):
                return t.size_or_type
            if t.kind == KIND_PTR:
                return self.pointer_size()
            if t.kind == KIND_ARRAY:
                elem, _index, nelems = struct.unpack(self._end + "III", t.data)
                return nelems * self.type_size(elem)
            raise BtfError(f"{self.origin}: type {type_id} (kind {t.kind}) has no size")
        raise BtfError(f"{self.origin}: type chain too long at {type_id}")

    def pointer_size(self) -> int:
        """Size of a pointer: that of 'long' (LP64 and ILP32 kernels alike)."""
        return self.int_size("long int")

    def int_size(self, name: str) -> int:
        for t in self._types[1:]:
            assert t is not None
            if t.kind == KIND_INT and t.name == name:
                return t.size_or_type
        raise BtfError(f"{self.origin}: no integer type {name!r}")

    def struct(self, name: str) -> StructLayout:
        """The layout of ``struct name`` (the first complete definition)."""
        for t in self._types[1:]:
            assert t is not None
            if t.kind == KIND_STRUCT and t.name == name:
                return self._layout(t)
        raise BtfError(f"{self.origin}: no struct {name} in this BTF")

    def _layout(self, t: _Type) -> StructLayout:
        members = []
        for i in range(t.vlen):
            name_off, type_id, offset = struct.unpack_from(self._end + "III", t.data, 12 * i)
            if t.kind_flag:
                bitfield_size = offset >> 24
                bit_offset = offset & 0xFFFFFF
            else:
                bitfield_size = 0
                bit_offset = offset
            if bitfield_size:
                bit_size = bitfield_size
            else:
                bit_size = 8 * self.type_size(type_id)
            members.append(Member(self._str(name_off), bit_offset, bit_size, bool(bitfield_size)))
        return StructLayout(t.name, t.size_or_type, tuple(members))


def _elf_section(data: bytes, wanted: str) -> bytes | None:
    """Return the contents of section ``wanted`` of an ELF image, or None."""
    if data[:4] != b"\x7fELF":
        return None
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff = struct.unpack_from(end + "Q", data, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
        fmt = end + "IIQQQQ"
    else:
        shoff = struct.unpack_from(end + "I", data, 0x20)[0]
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
        fmt = end + "IIIIII"
    if shoff == 0 or shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        return None
    headers = []
    for i in range(shnum):
        name, _type, _flags, _addr, offset, size = struct.unpack_from(fmt, data, shoff + i * shentsize)
        headers.append((name, offset, size))
    _, str_off, str_size = headers[shstrndx]
    names = data[str_off : str_off + str_size]
    for name, offset, size in headers:
        if names[name : names.find(b"\0", name)].decode("ascii", "replace") == wanted:
            if offset + size > len(data):
                return None
            return data[offset : offset + size]
    return None


_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _decompress_boot_image(data: bytes, origin: str) -> bytes:
    """Find and decompress the vmlinux ELF inside a bzImage."""
    errors = []
    start = data.find(_XZ_MAGIC)
    while start >= 0:
        try:
            out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
            if out[:4] == b"\x7fELF":
                return out
        except lzma.LZMAError as e:
            errors.append(f"xz at {start}: {e}")
        start = data.find(_XZ_MAGIC, start + 1)
    start = data.find(_ZSTD_MAGIC)
    while start >= 0:
        zstd = shutil.which("zstd")
        if zstd is None:
            raise BtfError(f"{origin}: zstd-compressed kernel, but the zstd program is missing (apt-get install zstd)")
        proc = subprocess.run([zstd, "-dcq"], input=data[start:], capture_output=True)
        # zstd reports trailing garbage after the frame; the output is still whole.
        if proc.stdout[:4] == b"\x7fELF":
            return proc.stdout
        errors.append(f"zstd at {start}: {proc.stderr.decode(errors='replace').strip()}")
        start = data.find(_ZSTD_MAGIC, start + 1)
    raise BtfError(f"{origin}: no xz or zstd compressed ELF kernel found" + (f" ({'; '.join(errors)})" if errors else ""))


def load_btf(path: str | Path) -> Btf:
    """Load BTF from raw BTF, an ELF with .BTF, or a compressed vmlinuz."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BtfError(f"cannot read {path}: {e.strerror}") from e
    origin = str(path)
    if data[:4] != b"\x7fELF" and data[:2] not in (b"\x9f\xeb", b"\xeb\x9f"):
        data = _decompress_boot_image(data, origin)
    if data[:4] == b"\x7fELF":
        section = _elf_section(data, ".BTF")
        if section is None:
            raise BtfError(f"{origin}: ELF file without a .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?)")
        data = section
    return Btf(data, origin)


def find_kernel_btf(release: str, objtree: str | Path | None = None) -> Path:
    """Find BTF for kernel ``release``; raise BtfError naming what to install.

    Looks, in order, at ``<objtree>/vmlinux`` (a kernel build tree, or Debian's
    6.12 header packages), the running kernel's ``/sys/kernel/btf/vmlinux``
    when ``release`` is running, and ``/boot/vmlinuz-<release>``.
    """
    import os

    candidates = []
    if objtree is not None:
        candidates.append(Path(objtree) / "vmlinux")
    if os.uname().release == release:
        candidates.append(Path("/sys/kernel/btf/vmlinux"))
    candidates.append(Path(f"/boot/vmlinuz-{release}"))
    for c in candidates:
        if c.is_file():
            return c
    raise BtfError(
        f"no BTF found for kernel {release} (looked at {', '.join(map(str, candidates))}): "
        f"install the kernel image package (Debian: apt-get install linux-image-{release}) "
        "or pass KBTF=/path/to/vmlinux"
    )
