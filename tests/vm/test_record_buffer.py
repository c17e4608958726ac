# SPDX-License-Identifier: GPL-2.0
"""The record buffers kept between calls, on both sides of the ioctl.

An open /dev/ckpt_tty keeps the kernel buffer of its last call (up to
CKPT_TTY_BUF_KEEP_MAX), and pyctl.lowlevel.Device keeps its own: a record
must not depend on what a buffer held before, and threads sharing one open
device must never share a buffer.
"""

import os
import threading

from pyctl import record
from pyctl.lowlevel import Device

from .ttyutil import flood, raw_mode, settle


def test_a_record_does_not_depend_on_what_the_buffers_held_before(pairs, dev):
    big_m, big_s = pairs.new()
    raw_mode(big_s)
    raw_mode(big_m)
    chunk = bytes(range(256)) * 16
    flood(big_m, chunk * 16, len(chunk))  # the slave's ring and flip buffers full
    flood(big_s, chunk * 16, len(chunk))  # and the master's
    small_m, small_s = pairs.new()
    os.write(small_m, b"half a line")
    settle()
    big = dev.checkpoint_record(big_s)
    assert len(big) > 16384  # past Device's first buffer: it grew (ENOSPC, then again)
    after_big = dev.checkpoint_record(small_s)  # both buffers last held the big record
    with Device() as fresh:
        assert fresh.checkpoint_record(small_s) == after_big
        assert fresh.checkpoint_record(big_s) == big
    assert record.decode(after_big)["slave"]["input"] == b"half a line"
    assert dev.checkpoint_record(big_s) == big  # and back: the kept buffer grows again


def test_threads_sharing_one_open_device_get_each_their_own_pair(pairs, dev):
    n, rounds = 4, 150
    ends = []
    for k in range(n):
        m, s = pairs.new()
        os.write(m, f"pair {k} ".encode() * (50 * (k + 1)))  # a different size each
        ends.append(s)
    settle()
    devices = [Device() for _ in range(n)]
    for d in devices:
        os.dup2(dev.fd, d.fd)  # one open file: the kernel's kept buffer is shared between the calls
    wrong: list[str] = []

    def work(k: int) -> None:
        want = f"pair {k} ".encode() * (50 * (k + 1))
        for _ in range(rounds):
            got = record.decode(devices[k].checkpoint_record(ends[k]))["slave"]["input"]
            if got != want:
                wrong.append(f"thread {k}: {len(got)} bytes {got[:20]!r}...")
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for d in devices:
        d.close()
    assert not wrong, wrong
    assert not any(t.is_alive() for t in threads)
