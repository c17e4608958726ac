# SPDX-License-Identifier: GPL-2.0
"""dkms.conf works: dkms builds the module, in private trees (no system change)."""

import re
import shutil
import subprocess

import pytest

from pyctl.kofile import read_ko
from tests.kernels import MODULE_SOURCES, ROOT


def test_dkms_builds_the_module(kernel, tmp_path):
    if shutil.which("dkms") is None:
        pytest.skip("dkms is not installed (scripts/bootstrap.sh installs it)")
    version = re.search(r'PACKAGE_VERSION="([^"]+)"', (ROOT / "dkms.conf").read_text()).group(1)
    src = tmp_path / "src" / f"ckpt-tty-{version}"
    src.mkdir(parents=True)
    for name in (*MODULE_SOURCES, "dkms.conf"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    (tmp_path / "tree").mkdir()
    trees = ["--dkmstree", str(tmp_path / "tree"), "--sourcetree", str(tmp_path / "src")]
    for action in (["add"], ["build", "-k", kernel.release]):
        r = subprocess.run(["dkms", *trees, *action, f"ckpt-tty/{version}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    (ko,) = (tmp_path / "tree").rglob("ckpt_tty.ko")
    assert read_ko(ko).info.kernel_release == kernel.release
