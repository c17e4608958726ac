# SPDX-License-Identifier: GPL-2.0
"""Fixtures for host tests: the default test kernel and a module built for it."""

import pytest

from tests import kernels


@pytest.fixture(scope="session")
def kernel():
    """The default test kernel, which scripts/bootstrap.sh installs."""
    try:
        k = kernels.resolve(kernels.DEFAULT_KERNEL)
    except kernels.KernelError as e:
        pytest.skip(f"cannot resolve kernel {kernels.DEFAULT_KERNEL}: {e}")
    if not k.installed():
        pytest.skip(f"kernel {k.release} not installed: run python -m tests.kernels install {kernels.DEFAULT_KERNEL}")
    return k


@pytest.fixture(scope="session")
def built_ko(kernel):
    """ckpt_tty.ko built for the default kernel (a few seconds)."""
    return kernels.build_module(kernel)
