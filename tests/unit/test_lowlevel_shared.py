# SPDX-License-Identifier: GPL-2.0
"""pyctl.lowlevel.shared(): one open device per thread, closed with the thread or by release_shared()."""

import gc
import os
import sys
import threading

import pytest

from pyctl import lowlevel


def _fake_device(path):
    # any openable file stands in for /dev/ckpt_tty: only the descriptor's life matters here
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def test_one_device_per_thread_closed_when_the_thread_ends(monkeypatch, tmp_path):
    node = tmp_path / "dev"
    node.write_bytes(b"")
    monkeypatch.setattr(lowlevel, "open_device", _fake_device)
    main = lowlevel.shared(str(node))
    assert lowlevel.shared(str(node)) is main
    seen = []

    def worker():
        dev = lowlevel.shared(str(node))
        seen.append((dev is not main, dev.fd))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    (other, fd), = seen
    assert other
    assert not os.path.exists(f"/proc/self/fd/{fd}") or os.readlink(f"/proc/self/fd/{fd}") != str(node)
    lowlevel.release_shared()
    assert main.fd == -1
    again = lowlevel.shared(str(node))
    assert again is not main and again.fd >= 0
    lowlevel.release_shared()


def test_a_device_that_did_not_open_raises_its_error_and_nothing_else(tmp_path):
    # __del__ ran close() on an object whose __init__ failed: an AttributeError
    # was printed under the real error ("Exception ignored in Device.__del__")
    seen = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        with pytest.raises(FileNotFoundError, match="load the module first"):
            lowlevel.Device(str(tmp_path / "no-such-device"))
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert not seen
