# SPDX-License-Identifier: GPL-2.0
"""Fixtures for tests that run inside the test VM (python -m tests.vm)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

IN_VM = os.environ.get("CKPT_TTY_VM") == "1"
VM_HINT = "needs the test VM with ckpt_tty.ko loaded: python -m tests.vm -- pytest tests/vm"


def pytest_collection_modifyitems(config, items):
    if IN_VM:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=VM_HINT))


# Every image this run's checkpoints produce, for test_zz_image_round_trip.py.
PRODUCED: list[bytes] = []
PRODUCED_LIMIT = 20000  # the stress test alone makes a few thousand


@pytest.fixture(scope="session", autouse=True)
def collect_images():
    """Keep the bytes of every image pyctl.checkpoint() makes in this process."""
    if not IN_VM:
        yield
        return
    import pyctl
    from pyctl import ckpt

    # pyctl.checkpoint goes through ckpt.checkpoint_many; the package exports it too.
    original = ckpt.checkpoint_many

    def recording(*args, **kwargs):
        image = original(*args, **kwargs)
        if len(PRODUCED) < PRODUCED_LIMIT:
            PRODUCED.append(image.dumps())
        return image

    ckpt.checkpoint_many = pyctl.checkpoint_many = recording
    yield
    ckpt.checkpoint_many = pyctl.checkpoint_many = original


@pytest.fixture(scope="session")
def ko_path():
    return Path(os.environ["CKPT_TTY_KO"])


@pytest.fixture
def module_loaded(ko_path):
    """The module is loaded when the test starts and again when it ends."""
    from pyctl import kmod

    if not kmod.is_loaded():
        kmod.load(ko_path)
    yield
    if not kmod.is_loaded():
        kmod.load(ko_path)


@pytest.fixture
def dev(module_loaded):
    """/dev/ckpt_tty as pyctl.lowlevel.Device: the ioctls on the kernel's own structures."""
    from pyctl.lowlevel import Device

    with Device() as d:
        yield d


@pytest.fixture
def pairs(module_loaded):
    """Pty pairs for the test (tests/vm/ttyutil.py Pairs), closed when it ends."""
    from .ttyutil import Pairs

    p = Pairs()
    yield p
    p.close()


def run_python(code, *setpriv_args):
    """Run ``code`` in a fresh interpreter, under setpriv when given options."""
    prefix = ["setpriv", *setpriv_args] if setpriv_args else []
    return subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True)


def kernel_header_constant(name):
    """Value of ``#define name N`` in the headers the module was built against."""
    release = os.uname().release
    roots = [Path(f"/lib/modules/{release}/build"), Path(f"/lib/modules/{release}/source")]
    files = ["include/linux/tty.h", "include/uapi/asm-generic/termbits.h", "include/uapi/asm-generic/termios.h",
             "arch/x86/include/uapi/asm/termbits.h"]
    pattern = re.compile(rf"^#define\s+{name}\s+(\d+)\s*$", re.M)
    for root in roots:
        for f in files:
            p = root / f
            if p.is_file():
                m = pattern.search(p.read_text(errors="replace"))
                if m:
                    return int(m.group(1))
    raise LookupError(f"#define {name} not found under {roots}")
