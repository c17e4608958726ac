# SPDX-License-Identifier: GPL-2.0
"""A pty flooded as fast as a writer can go keeps flowing while it is checkpointed.

The writer fills the slave's read buffer and queues more in the flip
buffers, so the flip work runs back to back and often stops for the
checkpoint's exclusive access with bytes still queued beyond the first
buffer.  The module must restart that work when it lets go: before it did,
a writer waiting for room and a reader waiting for data waited for each
other for ever (the benchmark's flood phase hung that way).

Asserted: every byte arrives once, in order, and the flow never stalls for
STALL seconds, while checkpoints run back to back on the master and on the
slave.  The flood lasts SECONDS, and longer until it has moved MIN_BYTES
under MIN_CHECKPOINTS checkpoints: a debug kernel beside a build moved
only 520 KB in 8 s, and the test is about liveness, not speed.
"""

import os
import select
import threading
import time

from pyctl.lowlevel import Device
from pyctl.pty import open_pty

from .ttyutil import raw_mode

SECONDS = float(os.environ.get("CKPT_TTY_FLOOD_SECONDS", "8"))
STALL = 10.0  # no byte moved for this long: the pty is wedged
MIN_BYTES, MIN_CHECKPOINTS = 1 << 20, 100  # enough work for the test to prove something
LIMIT = 300.0  # that work not done by then: the pty crawls
PATTERN = bytes(range(251))  # a prime length: a lost or doubled chunk shows


def _expected(offset: int, size: int) -> bytes:
    start = offset % len(PATTERN)
    reps = (start + size) // len(PATTERN) + 1
    return (PATTERN * reps)[start:start + size]


def test_a_flooded_raw_pty_keeps_flowing_while_checkpointed():
    master, slave = open_pty()
    raw_mode(slave)
    os.set_blocking(master, False)
    stop = threading.Event()
    received = [0]
    checkpoints = [0]
    errors: list[str] = []

    def reader():
        while not stop.is_set() or received[0] < sent:
            ready, _, _ = select.select([slave], [], [], 0.2)
            if not ready:
                if stop.is_set() and received[0] >= sent:
                    return
                continue
            data = os.read(slave, 65536)
            if data != _expected(received[0], len(data)):
                errors.append(f"bytes {received[0]}..{received[0] + len(data)} are not what was written")
                return
            received[0] += len(data)

    def checkpointer(fd):
        with Device() as dev:
            while not stop.is_set():
                dev.checkpoint_records([fd])
                checkpoints[0] += 1

    sent = 1 << 62  # until the writer knows its total, the reader reads on
    threads = [threading.Thread(target=reader, daemon=True),
               threading.Thread(target=checkpointer, args=(master,), daemon=True),
               threading.Thread(target=checkpointer, args=(slave,), daemon=True)]
    for t in threads:
        t.start()
    written = 0
    last_progress = time.monotonic()
    start = last_progress
    try:
        while not errors and (time.monotonic() < start + SECONDS or written <= MIN_BYTES
                              or checkpoints[0] <= MIN_CHECKPOINTS):
            _, ready, _ = select.select([], [master], [], 0.5)
            now = time.monotonic()
            assert now - start < LIMIT, (f"only {written} bytes and {checkpoints[0]} checkpoints in {LIMIT:.0f} s: "
                                         "the pty crawls")
            if not ready:
                assert now - last_progress < STALL, (
                    f"the pty stalled: no room for {STALL:.0f} s with {written - received[0]} bytes "
                    f"written and not read, after {checkpoints[0]} checkpoints")
                continue
            n = os.write(master, _expected(written, 4096))
            written += n
            last_progress = now
        sent = written
        deadline = time.monotonic() + STALL
        while received[0] < sent and not errors and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(STALL)
        os.close(master)
        os.close(slave)
    assert not errors, errors
    assert received[0] == sent, (f"{sent - received[0]} of {sent} bytes never reached the reader "
                                 f"({checkpoints[0]} checkpoints)")
    assert checkpoints[0] > MIN_CHECKPOINTS and sent > MIN_BYTES, (sent, checkpoints[0])
