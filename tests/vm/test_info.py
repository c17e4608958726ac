# SPDX-License-Identifier: GPL-2.0
"""GET_INFO against ground truth: kernel headers, the running kernel's BTF."""

import json
import os
import subprocess
import sys

import pytest

from pyctl import _uapi, get_info, ntty_layout
from pyctl.btf import load_btf
from pyctl.kofile import read_ko

from .conftest import kernel_header_constant

RUNNING_BTF = "/sys/kernel/btf/vmlinux"


def test_constants_equal_the_kernel_headers(module_loaded):
    info = get_info()
    assert info.n_tty_buf_size == kernel_header_constant("N_TTY_BUF_SIZE")
    assert info.nccs == kernel_header_constant("NCCS")
    assert info.ncc == kernel_header_constant("NCC")


@pytest.mark.userspace
def test_layout_equals_the_running_kernels_btf(module_loaded):
    """The build took BTF from /boot/vmlinuz; the running kernel's own must agree."""
    info = get_info()
    btf = load_btf(RUNNING_BTF)
    layout = ntty_layout.ntty_layout(btf)
    assert info.n_tty_data_size == layout.size
    assert info.n_tty_data_fingerprint == ntty_layout.fingerprint(layout)
    assert info.ktermios_size == btf.struct("ktermios").size
    assert info.bits_per_long == 8 * btf.int_size("long int")


def test_runtime_facts(module_loaded):
    info = get_info()
    assert info.kernel_release == os.uname().release
    assert info.byte_order == {"little": _uapi.CKPT_TTY_LITTLE_ENDIAN, "big": _uapi.CKPT_TTY_BIG_ENDIAN}[sys.byteorder]
    assert info.abi_version == _uapi.CKPT_TTY_ABI_VERSION
    assert info.feature_names == ["get_info", "checkpoint", "restore", "restore_onto", "records", "devpts_dev", "hung_up",
                                  "onto_hangup"]
    assert info.reserved == (0,) * 8


def test_ko_file_says_what_the_module_says(module_loaded, ko_path):
    assert read_ko(ko_path).info == get_info()


def test_cli_info(module_loaded):
    r = subprocess.run([sys.executable, "-m", "pyctl", "info", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["kernel_release"] == os.uname().release
    assert data["constants"]["n_tty_data layout"] == f"{get_info().n_tty_data_fingerprint:016x}"
