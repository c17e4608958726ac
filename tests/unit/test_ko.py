# SPDX-License-Identifier: GPL-2.0
"""ckpt_tty.ko read offline, module-info decoding and load-time checks."""

import dataclasses
import struct

import pytest

from pyctl import _uapi, kmod, ntty_layout
from pyctl.btf import load_btf
from pyctl.errors import IncompatibleModuleError, PyctlError
from pyctl.info import INFO_SIZE, ModuleInfo
from pyctl.kofile import read_ko


def test_embedded_info_matches_the_kernel_built_for(built_ko, kernel):
    ko = read_ko(built_ko)
    layout = ntty_layout.ntty_layout(load_btf(kernel.image))
    ktermios = load_btf(kernel.image).struct("ktermios")
    info = ko.info
    assert ko.built_for == kernel.release == info.kernel_release
    assert (info.abi_version, info.info_size, info.byte_order) == (_uapi.CKPT_TTY_ABI_VERSION, INFO_SIZE,
                                                                   _uapi.CKPT_TTY_LITTLE_ENDIAN)
    assert (info.n_tty_buf_size, info.nccs, info.ncc, info.bits_per_long) == (4096, 19, 8, 64)
    assert info.ktermios_size == ktermios.size == 44
    assert ktermios.member("c_cc").size == info.nccs
    assert info.n_tty_data_size == layout.size
    assert info.n_tty_data_fingerprint == ntty_layout.fingerprint(layout)
    assert info.reserved == (0,) * 8
    assert ko.modinfo["license"] == "GPL"
    assert ko.modinfo.get("srcversion")


def test_info_section_needs_no_relocations(built_ko):
    from elftools.elf.elffile import ELFFile

    with open(built_ko, "rb") as f:
        elf = ELFFile(f)
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == _uapi.CKPT_TTY_INFO_SECTION)
        for sec in elf.iter_sections():
            if sec.header.sh_type in ("SHT_RELA", "SHT_REL"):
                assert sec.header.sh_info != index, f"{sec.name} relocates the info section"


def _packed(**changes):
    base = dict(magic=_uapi.CKPT_TTY_INFO_MAGIC, abi_version=_uapi.CKPT_TTY_ABI_VERSION, info_size=INFO_SIZE,
                byte_order=1, features=1, n_tty_buf_size=4096, nccs=19, ncc=8, bits_per_long=64,
                ktermios_size=44, n_tty_data_size=8904, n_tty_data_fingerprint=0x1234,
                kernel_release=b"6.1.0-test", reserved=[0] * 8)
    base.update(changes)
    fmt = _uapi.STRUCTS["ckpt_tty_info"][0]
    values = [v for k, v in base.items() if k != "reserved"] + base["reserved"]
    return struct.pack(fmt, *values)


def test_unpack_round_trip():
    info = ModuleInfo.unpack(_packed(), "test")
    assert info.kernel_release == "6.1.0-test" and info.feature_names == ["get_info"]
    assert dataclasses.replace(info, features=1 | 1 << 40).feature_names == ["get_info", "unknown(0x10000000000)"]


@pytest.mark.parametrize("changes, message", [
    (dict(magic=0xdeadbeef), "not ckpt_tty module info"),
    (dict(abi_version=99), "module speaks ABI 99"),
    (dict(info_size=INFO_SIZE + 8), f"{INFO_SIZE + 8}-byte info structure"),
])
def test_unpack_rejects_foreign_info(changes, message):
    with pytest.raises(IncompatibleModuleError, match=message):
        ModuleInfo.unpack(_packed(**changes), "test")


def test_unpack_rejects_short_data():
    with pytest.raises(IncompatibleModuleError, match="4 bytes of module info"):
        ModuleInfo.unpack(b"\0" * 4, "test")


def test_read_ko_rejects_other_files(tmp_path):
    junk = tmp_path / "junk.ko"
    junk.write_bytes(b"hello")
    with pytest.raises(PyctlError, match="not an ELF file"):
        read_ko(junk)
    with pytest.raises(PyctlError, match="No such file"):
        read_ko(tmp_path / "missing.ko")


def test_load_refuses_a_module_for_another_kernel(built_ko, kernel, monkeypatch):
    real = kmod.os.uname()
    fake = type(real)((real.sysname, real.nodename, "9.9.9-other", real.version, real.machine))
    monkeypatch.setattr(kmod.os, "uname", lambda: fake)
    with pytest.raises(PyctlError) as e:
        kmod.load(built_ko)
    assert f"built for kernel {kernel.release}" in str(e.value)
    assert "running kernel is 9.9.9-other" in str(e.value)
