# SPDX-License-Identifier: GPL-2.0
"""Stress: checkpoints and restores in a tight loop while everything else happens.

On many pairs at once: readers blocked in read(), writers flooding both
directions, termios changes, resizes, packet-mode toggles, flushes, hangups
and closes.  Meanwhile checkpointer threads checkpoint whatever pair they
find and restore some of the images into fresh pairs.

Asserted: every checkpoint succeeds with an image that validates and
round-trips, or fails with one of the errors the ABI documents for a pair
that goes away under it; every restore of such an image succeeds; on the
"stream" pairs, whose termios stay raw, not a byte is lost, duplicated or
reordered in either direction; no thread stops making progress; and the
kernel log has no warning or splat (tests/vm/__main__.py checks it again).

CKPT_TTY_STRESS_SECONDS sets the duration (default 20; CI's debug-kernel run
sets more).
"""

import errno
import fcntl
import os
import random
import select
import struct
import termios
import threading
import time
import tty

import pyctl
from pyctl.pty import TIOCGPTPEER, open_pty
from tests.vm.__main__ import _read_kmsg, find_splats

from .ttyutil import TIOCPKT, set_winsize

SECONDS = float(os.environ.get("CKPT_TTY_STRESS_SECONDS", "20"))
STREAM_PAIRS, CHAOS_PAIRS, CHECKPOINTERS = 3, 5, 2
# What the ABI documents for a pair that is hung up, closed or changing under the call.
RACE_ERRNOS = {errno.EBADF, errno.ENOTTY, errno.EIO, errno.EBUSY}
TIOCVHANGUP = 0x5437


_PATTERN = bytes(range(251)) * 20


def pattern(offset, n):
    """The known byte stream of the stream pairs: position mod 251 (n <= 4096)."""
    start = offset % 251
    return _PATTERN[start : start + n]


def guarded(stats, fn):
    """Run fn(*args); an exception is a failure of the test, not a stray traceback."""
    def run(*args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001
            stats.fail(f"{fn.__name__}{args[3:]}: {e!r}")
    return run


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []
        self.progress = {}

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, message):
        with self.lock:
            self.failures.append(message)

    def beat(self, name):
        self.progress[name] = time.monotonic()


class Registry:
    """The fds of live pairs, for the checkpointers to pick from."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fds = []
        self.chaos = []  # fds of chaos pairs: restore --onto may replace their state

    def add(self, *fds, chaos=False):
        with self.lock:
            self.fds.extend(fds)
            if chaos:
                self.chaos.extend(fds)

    def remove(self, *fds):
        with self.lock:
            for fd in fds:
                for where in (self.fds, self.chaos):
                    if fd in where:
                        where.remove(fd)

    def pick(self, chaos=False):
        with self.lock:
            fds = self.chaos if chaos else self.fds
            return random.choice(fds) if fds else None


def stream_pair(stop, stats, registry, name):
    """Raw pair; known streams both ways; every byte checked in order."""
    m, s = open_pty()
    tty.setraw(s)  # no input or output processing: bytes arrive as sent
    registry.add(m, s)
    sent = {"in": 0, "out": 0}
    got = {"in": 0, "out": 0}
    writers_done = threading.Event()

    def writer(fd, key, _, __):
        while not stop.is_set():
            n = os.write(fd, pattern(sent[key], random.randint(1, 1000)))
            sent[key] += n
            stats.add("stream bytes written", n)
            stats.beat(f"{name} {key} writer")

    def reader(fd, key, _, __):
        while True:
            if writers_done.is_set() and got[key] == sent[key]:
                return
            if not select.select([fd], [], [], 0.5)[0]:
                continue  # look at the stop condition again
            data = os.read(fd, 4096)
            if data != pattern(got[key], len(data)):
                stats.fail(f"{name} {key}: stream broken at byte {got[key]}")
                return
            got[key] += len(data)
            stats.add("stream bytes verified", len(data))
            stats.beat(f"{name} {key} reader")

    threads = [threading.Thread(target=guarded(stats, f), args=(fd, key, None, name), daemon=True)
               for f, fd, key in ((writer, m, "in"), (writer, s, "out"), (reader, s, "in"), (reader, m, "out"))]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads[:2]:  # writers finish while the readers drain
        t.join(30)
    writers_done.set()
    for t in threads:
        t.join(30)
        if t.is_alive():
            stats.fail(f"{name}: a stream thread hangs (sent {sent}, got {got})")
    if got != sent:
        stats.fail(f"{name}: sent {sent} but got {got}")
    registry.remove(m, s)
    os.close(m)
    os.close(s)


def chaos_pair(stop, stats, registry, name):
    """Random everything on one pair, replaced after each hangup."""
    while not stop.is_set():
        m, s = open_pty()
        # its own open file of the slave, so it blocks while m and s are non-blocking
        reader_fd = fcntl.ioctl(m, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        registry.add(m, s, chaos=True)
        reader = threading.Thread(target=blocked_reader, args=(reader_fd, stats), daemon=True)
        reader.start()
        for fd in (m, s):
            os.set_blocking(fd, False)
        while not stop.is_set():
            stats.beat(name)
            op = random.randrange(10)
            try:
                if op == 0:
                    os.write(m, random.randbytes(random.randint(1, 200)) + b"\n")
                elif op == 1:
                    os.write(s, random.randbytes(random.randint(1, 500)))
                elif op == 2:
                    os.read(m, 4096)
                elif op == 3:
                    attrs = termios.tcgetattr(s)
                    attrs[3] ^= random.choice([termios.ICANON, termios.ECHO, termios.ISIG, termios.IEXTEN])
                    attrs[6][termios.VMIN], attrs[6][termios.VTIME] = random.randint(0, 3), random.randint(0, 2)
                    termios.tcsetattr(s, random.choice([termios.TCSANOW, termios.TCSAFLUSH]), attrs)
                elif op == 4:
                    set_winsize(m, random.randint(1, 100), random.randint(1, 300))
                elif op == 5:
                    fcntl.ioctl(m, TIOCPKT, struct.pack("i", random.randint(0, 1)))
                elif op == 6:
                    termios.tcflush(random.choice([m, s]), random.choice([termios.TCIFLUSH, termios.TCOFLUSH,
                                                                         termios.TCIOFLUSH]))
                elif op == 7:
                    termios.tcflow(s, random.choice([termios.TCOOFF, termios.TCOON, termios.TCOON]))
                elif op == 8 and random.random() < 0.05:
                    fcntl.ioctl(s, TIOCVHANGUP)
                    stats.add("hangups")
                    break
                elif op == 9 and random.random() < 0.05:
                    stats.add("closes")
                    break
                stats.add("chaos operations")
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EIO):
                    stats.fail(f"{name}: operation {op}: {e}")
        registry.remove(m, s)
        os.close(m)  # hangs up the slave: the blocked reader wakes with EOF or EIO
        os.close(s)
        reader.join(30)
        if reader.is_alive():
            stats.fail(f"{name}: a reader stays blocked after its pair closed")
        os.close(reader_fd)


def blocked_reader(fd, stats):
    while True:
        try:
            if not os.read(fd, 4096):
                return
        except OSError:
            return
        stats.add("blocked reads returned")


def checkpointer(stop, stats, registry, name):
    n = 0
    while not stop.is_set():
        stats.beat(name)
        fd = registry.pick()
        if fd is None:
            continue
        try:
            image = pyctl.checkpoint(fd)
        except OSError as e:
            if e.errno in RACE_ERRNOS:
                stats.add(f"checkpoints refused ({errno.errorcode[e.errno]})")
            else:
                stats.fail(f"checkpoint of fd {fd}: {e}")
            continue
        try:
            image.validate()
            assert pyctl.loads(image.dumps()) == image
        except Exception as e:  # noqa: BLE001 - any defect of an image is a failure
            stats.fail(f"checkpoint of fd {fd} gave a bad image: {e!r}")
            continue
        stats.add("checkpoints")
        n += 1
        if n % 4:
            continue
        p = image.pairs[0]
        try:
            master, slave = pyctl.restore(image, index="any")
        except Exception as e:  # noqa: BLE001
            stats.fail(f"restore of a checkpoint of fd {fd}: {e!r}")
            continue
        stats.add("restores")
        if p.either_has("hupped"):
            stats.add("restores of hung-up ends")
        for end in (master, slave):
            if end is not None:
                os.close(end)
        if n % 8 or p.either_has("hupped"):
            continue  # restore --onto does not hang up a terminal in use
        # Onto a chaos pair in full use (readers, writers, termios changes, hangups): FORCE replaces
        # whatever it holds.  Never onto a stream pair, whose bytes are counted.
        target = registry.pick(chaos=True)
        if target is None:
            continue
        try:
            pyctl.restore_onto(image, target, force=True)
        except OSError as e:
            if e.errno in RACE_ERRNOS:
                stats.add(f"restores onto refused ({errno.errorcode[e.errno]})")
            else:
                stats.fail(f"restore onto fd {target}: {e}")
            continue
        stats.add("restores onto a pair in use")


def test_checkpoints_under_stress(module_loaded, capsys):
    stats, registry, stop = Stats(), Registry(), threading.Event()
    kmsg_before = len(_read_kmsg())
    def thread(fn, name):
        return threading.Thread(target=guarded(stats, fn), args=(stop, stats, registry, name), name=name,
                                daemon=True)

    workers = [thread(stream_pair, f"stream{i}") for i in range(STREAM_PAIRS)]
    workers += [thread(chaos_pair, f"chaos{i}") for i in range(CHAOS_PAIRS)]
    checkers = [thread(checkpointer, f"checkpointer{i}") for i in range(CHECKPOINTERS)]
    start = time.monotonic()
    for t in workers + checkers:
        t.start()
    while time.monotonic() - start < SECONDS and not stats.failures:
        time.sleep(1)
        now = time.monotonic()
        stuck = [k for k, t in stats.progress.items() if now - t > 30 and "reader" not in k]
        if stuck:
            stats.fail(f"no progress for 30 s: {', '.join(sorted(stuck))}")
    stop.set()
    for t in checkers + workers:
        t.join(60)
        if t.is_alive():
            stats.fail(f"{t.name} did not stop")
    elapsed = time.monotonic() - start
    splats = find_splats(_read_kmsg()[kmsg_before:])
    figures = ", ".join(f"{k}: {v}" for k, v in sorted(stats.counts.items()))
    with capsys.disabled():  # the figures belong in the run's log, passed or not
        print(f"\nstress: {STREAM_PAIRS + CHAOS_PAIRS} pairs at a time, {elapsed:.0f} s, {figures}, "
              f"splats: {len(splats)}", flush=True)
    assert not stats.failures, stats.failures[:10]
    assert not splats, splats
    assert stats.counts.get("checkpoints", 0) > 0 and stats.counts.get("restores", 0) > 0
    assert stats.counts.get("stream bytes verified", 0) > 0
