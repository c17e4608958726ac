# SPDX-License-Identifier: GPL-2.0
"""BTF reading and the n_tty_data layout generator."""

import dataclasses
import struct

import pytest

from pyctl import btf as btfmod
from pyctl import ntty_layout
from pyctl.btf import Btf, BtfError, load_btf


class BtfBuilder:
    """Encode a little BTF blob by hand (Documentation/bpf/btf.rst)."""

    def __init__(self):
        self.strings = b"\0"
        self.types = b""
        self.next_id = 1

    def _name(self, name):
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def _add(self, name, kind, vlen, size_or_type, extra=b"", kind_flag=0):
        info = (kind_flag << 31) | (kind << 24) | vlen
        self.types += struct.pack("<III", self._name(name) if name else 0, info, size_or_type) + extra
        self.next_id += 1
        return self.next_id - 1

    def int(self, name, size):
        return self._add(name, btfmod.KIND_INT, 0, size, struct.pack("<I", size * 8))

    def typedef(self, name, target):
        return self._add(name, btfmod.KIND_TYPEDEF, 0, target)

    def array(self, elem, index, n):
        return self._add("", btfmod.KIND_ARRAY, 0, 0, struct.pack("<III", elem, index, n))

    def struct(self, name, size, members, kind_flag=0):
        extra = b"".join(struct.pack("<III", self._name(m), t, off) for m, t, off in members)
        return self._add(name, btfmod.KIND_STRUCT, len(members), size, extra, kind_flag)

    def blob(self):
        hdr = struct.pack("<HBBIIIII", btfmod.BTF_MAGIC, 1, 0, 24, 0, len(self.types), len(self.types),
                          len(self.strings))
        return hdr + self.types + self.strings


def sample_btf():
    b = BtfBuilder()
    long_t = b.int("long int", 8)
    uchar = b.int("unsigned char", 1)
    size_t = b.typedef("size_t", long_t)
    buf = b.array(uchar, long_t, 16)
    # struct s { size_t head; unsigned char a:1, b:3; unsigned char buf[16]; }  (bitfield encoding)
    b.struct("s", 32, [("head", size_t, 0), ("a", uchar, (1 << 24) | 64), ("b", uchar, (3 << 24) | 65),
                       ("buf", buf, 72)], kind_flag=1)
    return b.blob()


def test_parses_members_bitfields_typedefs_and_arrays():
    s = Btf(sample_btf()).struct("s")
    assert s.size == 32
    assert [dataclasses.astuple(m) for m in s.members] == [
        ("head", 0, 64, False), ("a", 64, 1, True), ("b", 65, 3, True), ("buf", 72, 128, False)]
    assert s.member("buf").offset == 9 and s.member("buf").size == 16


@pytest.mark.parametrize("cut", [0, 10, 24, 30, 50])
def test_truncated_btf_is_an_error(cut):
    with pytest.raises(BtfError):
        Btf(sample_btf()[:cut]).struct("s")


def test_bad_magic_and_missing_struct():
    with pytest.raises(BtfError, match="no BTF magic"):
        Btf(b"\0" * 64)
    with pytest.raises(BtfError, match="no struct nope"):
        Btf(sample_btf()).struct("nope")


def test_load_btf_explains_a_file_without_btf(tmp_path):
    p = tmp_path / "junk"
    p.write_bytes(b"not a kernel at all" * 10)
    with pytest.raises(BtfError, match="no xz or zstd compressed ELF kernel"):
        load_btf(p)


def test_find_kernel_btf_names_what_to_install():
    with pytest.raises(BtfError, match="apt-get install linux-image-0.0.0-none"):
        btfmod.find_kernel_btf("0.0.0-none", objtree="/nonexistent")


def test_missing_required_member_is_named():
    b = BtfBuilder()
    long_t = b.int("long int", 8)
    b.struct("n_tty_data", 8, [("read_head", long_t, 0)])
    with pytest.raises(BtfError, match="lacks commit_head"):
        ntty_layout.ntty_layout(Btf(b.blob()))


def test_fingerprint_changes_with_any_offset():
    s = Btf(sample_btf()).struct("s")
    moved = dataclasses.replace(s, members=s.members[:-1] + (dataclasses.replace(s.members[-1], bit_offset=80),))
    resized = dataclasses.replace(s, size=40)
    fps = {ntty_layout.fingerprint(x) for x in (s, moved, resized)}
    assert len(fps) == 3


# The real thing: Debian's 6.1 kernel, the numbers measured in
# shared/notes/kernel-tty-facts.md.
def test_debian_kernel_n_tty_data(kernel):
    layout = ntty_layout.ntty_layout(load_btf(kernel.image))
    assert layout.size == 8904
    assert {m: layout.member(m).offset for m in ("read_buf", "read_flags", "echo_buf", "read_tail")} == \
        {"read_buf": 94, "read_flags": 4192, "echo_buf": 4704, "read_tail": 8800}
    assert [layout.member(m).bit_size for m in ("lnext", "erasing", "raw", "real_raw", "icanon", "push")] == [1] * 6


def test_header_generation_script(kernel, tmp_path):
    out = tmp_path / "ntty_layout.h"
    assert ntty_layout.main(["--release", kernel.release, "-o", str(out)]) == 0
    text = out.read_text()
    assert "#define CKPT_NTTY_DATA_SIZE 8904" in text
    assert "#define CKPT_NTTY_READ_TAIL_OFFSET 8800" in text
    assert "#define CKPT_NTTY_LNEXT_BITS 1" in text
