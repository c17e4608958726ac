# SPDX-License-Identifier: GPL-2.0
"""Who may open /dev/ckpt_tty, and what unknown requests get."""

import errno
import fcntl
import os
import stat

import pytest

from pyctl import DEVICE_PATH, _uapi
from pyctl.info import INFO_SIZE

from .conftest import run_python

OPEN = f"import os; os.close(os.open({DEVICE_PATH!r}, os.O_RDWR)); print('opened')"
NO_CAPS = ("--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all")


def test_device_node_is_root_only(module_loaded):
    st = os.stat(DEVICE_PATH)
    assert stat.S_ISCHR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_root_with_all_caps_opens(module_loaded):
    r = run_python(OPEN)
    assert r.returncode == 0 and "opened" in r.stdout, r.stderr


def test_root_without_capabilities_gets_eperm(module_loaded):
    r = run_python("import re; print(re.search(r'CapEff:\\s*(\\w+)', open('/proc/self/status').read())[1]);" + OPEN,
                   *NO_CAPS)
    assert r.stdout.startswith("0000000000000000"), r.stdout
    assert r.returncode != 0 and "PermissionError: [Errno 1]" in r.stderr, r.stderr


@pytest.mark.parametrize("cap", ["checkpoint_restore", "sys_admin"])
def test_either_capability_alone_is_enough(module_loaded, cap):
    r = run_python(OPEN, f"--inh-caps=-all,+{cap}", f"--bounding-set=-all,+{cap}")
    assert r.returncode == 0 and "opened" in r.stdout, r.stderr


def test_unprivileged_user_gets_eperm_even_with_an_open_mode(module_loaded):
    """Widen the file mode so only the module's own check stands in the way."""
    os.chmod(DEVICE_PATH, 0o666)
    try:
        r = run_python(OPEN, "--reuid=65534", "--regid=65534", "--clear-groups")
    finally:
        os.chmod(DEVICE_PATH, 0o600)
    assert r.returncode != 0 and "PermissionError: [Errno 1]" in r.stderr, r.stderr


def test_unprivileged_user_is_kept_out_by_the_mode(module_loaded):
    r = run_python(OPEN, "--reuid=65534", "--regid=65534", "--clear-groups")
    assert r.returncode != 0 and "PermissionError: [Errno 13]" in r.stderr, r.stderr


IOC_READ = 2


@pytest.mark.parametrize("request_number", [
    0,
    0x5401,  # TCGETS: a tty request on a non-tty
    (_uapi.CKPT_TTY_IOC_TYPE << 8) | 0x7F,  # _IO(type, 0x7f): unassigned number
    (IOC_READ << 30) | ((INFO_SIZE - 8) << 16) | (_uapi.CKPT_TTY_IOC_TYPE << 8),  # GET_INFO with a wrong size
])
def test_unknown_ioctl_gets_enotty(module_loaded, request_number):
    fd = os.open(DEVICE_PATH, os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            fcntl.ioctl(fd, request_number, bytearray(INFO_SIZE), True)
        assert e.value.errno == errno.ENOTTY
    finally:
        os.close(fd)


def test_get_info_to_a_bad_address_gets_efault(module_loaded):
    fd = os.open(DEVICE_PATH, os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            fcntl.ioctl(fd, _uapi.CKPT_TTY_IOC_GET_INFO, 16)  # user address 16: unmapped
        assert e.value.errno == errno.EFAULT
    finally:
        os.close(fd)
