# SPDX-License-Identifier: GPL-2.0
"""Load, use, unload, load again, through pyctl's libkmod binding."""

import os

import pytest

from pyctl import DEVICE_PATH, get_info, kmod
from pyctl.errors import PyctlError


def test_load_use_unload_repeatedly(module_loaded, ko_path):
    first = get_info()
    for _ in range(3):
        kmod.unload()
        assert not kmod.is_loaded()
        assert not os.path.exists(DEVICE_PATH)
        kmod.load(ko_path)
        assert kmod.is_loaded()
        assert get_info() == first


def test_second_load_is_refused_clearly(module_loaded, ko_path):
    with pytest.raises(PyctlError, match="already loaded"):
        kmod.load(ko_path)


def test_unload_while_open_is_refused_then_works(module_loaded):
    fd = os.open(DEVICE_PATH, os.O_RDWR)
    try:
        with pytest.raises(PyctlError, match="in use"):
            kmod.unload()
        assert kmod.is_loaded()
        get_info(fd)
    finally:
        os.close(fd)
    kmod.unload()
    assert not kmod.is_loaded()


def test_unload_when_not_loaded_is_refused_clearly(module_loaded):
    kmod.unload()
    with pytest.raises(PyctlError, match="not loaded"):
        kmod.unload()
