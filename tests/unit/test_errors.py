# SPDX-License-Identifier: GPL-2.0
"""pyctl's errors: an OS refusal is the OSError subclass of its errno, and a PyctlError."""

import errno
import subprocess
import sys

import pytest

from pyctl.errors import PyctlError, os_error
from pyctl.info import open_device


@pytest.mark.parametrize("err, cls", [(errno.EPERM, PermissionError), (errno.EACCES, PermissionError),
                                      (errno.ENOENT, FileNotFoundError), (errno.EBUSY, OSError),
                                      (errno.EAGAIN, BlockingIOError)])
def test_os_error_is_the_subclass_python_uses(err, cls):
    e = os_error(err, "what happened, and what to do", "/some/path")
    assert isinstance(e, cls) and isinstance(e, PyctlError)
    assert e.errno == err and e.filename == "/some/path"
    assert str(e) == "/some/path: what happened, and what to do"
    assert str(os_error(err, "no file named")) == "no file named"
    assert type(os_error(err, "again")) is type(e)  # one class per OSError subclass


def test_missing_device_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        open_device(str(tmp_path / "ckpt_tty"))
    assert e.value.errno == errno.ENOENT and "load the module first" in str(e.value)


def test_cli_prints_an_os_refusal_as_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pyctl", "info", "--ko", str(tmp_path / "none.ko")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == f"pyctl: {tmp_path / 'none.ko'}: No such file or directory\n", r.stderr
