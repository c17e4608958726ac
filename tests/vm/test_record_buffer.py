# SPDX-License-Identifier: GPL-2.0
"""The record buffers, on both sides of the ioctl.

An open /dev/ckpt_tty keeps the kernel buffer of its last call (up to
CKPT_TTY_BUF_KEEP_MAX), and pyctl.lowlevel.Device keeps its own: a record
must not depend on what a buffer held before, and threads sharing one open
device must never share a buffer.

CHECKPOINT writes each record straight into the caller's buffer while the
pair is locked, with page faults disabled; a page that is not there costs a
retry after the pair is unlocked, never a fault with the pair frozen.
"""

import array
import ctypes
import errno
import fcntl
import mmap
import os
import subprocess
import sys
import termios
import textwrap
import threading

import pytest

from pyctl import _uapi, abi, record
from pyctl.lowlevel import Device

from .ttyutil import UFFD_SECOND_PAGE, flood, raw_mode, settle


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


# ---- the caller's buffer ----

def _checkpoint_into(dev_fd: int, fd: int, address: int, size: int) -> tuple[int, int]:
    """CHECKPOINT of fd into size bytes at address: (buf_used, done); an OSError as it comes."""
    fds = array.array("i", [fd])
    arg = abi.encode("ckpt_tty_checkpoint_arg", {"fds": fds.buffer_info()[0], "count": 1, "buf": address,
                                                 "buf_size": size})
    fcntl.ioctl(dev_fd, _uapi.CKPT_TTY_IOC_CHECKPOINT, arg, True)
    out = abi.decode("ckpt_tty_checkpoint_arg", bytes(arg))
    return out["buf_used"], out["done"]


def _flooded_pair(pairs):
    m, s = pairs.new()
    raw_mode(s)
    raw_mode(m)
    chunk = bytes(range(256)) * 16
    flood(m, chunk * 16, len(chunk))  # the slave's ring and flip buffers full: a record of many pages
    os.write(s, b"output the master has not read")
    settle()
    return m, s


def test_a_record_into_pages_never_touched_is_the_same_record(pairs, dev):
    m, s = _flooded_pair(pairs)
    want = dev.checkpoint_record(s)
    area = mmap.mmap(-1, 32 * mmap.PAGESIZE)  # anonymous: no page is there until written
    address = ctypes.addressof(ctypes.c_char.from_buffer(area))
    used, done = _checkpoint_into(dev.fd, s, address + 100 * 8, len(area) - 100 * 8)
    assert (used, done) == (len(want), 1) and len(want) > 3 * mmap.PAGESIZE
    assert area[800:800 + used] == want
    assert area[:800] == bytes(800)  # nothing before the buffer's start


def test_a_read_only_buffer_is_efault_and_the_pair_goes_on(pairs, dev):
    m, s = _flooded_pair(pairs)
    before = dev.checkpoint_record(s)
    # a mapping nobody may write (Python's mmap objects do not give the address of a read-only one)
    size = 32 * mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert address not in (None, ctypes.c_void_p(-1).value)
    try:
        with pytest.raises(OSError) as e:
            _checkpoint_into(dev.fd, s, address, size)
        assert e.value.errno == errno.EFAULT
    finally:
        libc.munmap(ctypes.c_void_p(address), ctypes.c_size_t(size))
    assert dev.checkpoint_record(s) == before
    assert os.read(m, 100) == b"output the master has not read"


# Checkpoints pair fd (argv[1]) into a buffer whose second page is registered
# with userfaultfd: the record's write meets the missing page, and faulting it
# in waits until the uffd is closed.
FAULTING_CHECKPOINTER = UFFD_SECOND_PAGE + textwrap.dedent("""
    import array, sys, threading
    from pyctl import _uapi, abi, record
    from pyctl.lowlevel import Device
    fd = int(sys.argv[1])
    fds = array.array("i", [fd])
    start = second - 256  # the record's header fits before the page, its ends do not
    arg = bytearray(abi.encode("ckpt_tty_checkpoint_arg", {"fds": fds.buffer_info()[0], "count": 1, "buf": start,
                                                           "buf_size": 256 + mmap.PAGESIZE}))
    dev = Device()
    result = []
    def call():
        try:
            fcntl.ioctl(dev.fd, _uapi.CKPT_TTY_IOC_CHECKPOINT, arg, True)
            result.append(abi.decode("ckpt_tty_checkpoint_arg", bytes(arg))["buf_used"])
        except OSError as e:
            result.append(e)
    caller = threading.Thread(target=call)
    caller.start()
    caller.join(3)
    print("stuck" if caller.is_alive() else f"not stuck: {result}", flush=True)
    sys.stdin.readline()
    os.close(uffd)  # the fault is resolved with a zero page; the checkpoint is taken again
    caller.join(60)
    used = result[0]
    print(record.decode(bytes(area[start - base : start - base + used]))["slave"]["input"].decode(), flush=True)
""")


def test_a_record_page_that_faults_slowly_does_not_freeze_the_pair(pairs, dev):
    m, s = pairs.new()
    raw_mode(s)
    os.write(m, b"abc")
    settle()
    checkpointer = subprocess.Popen([sys.executable, "-c", FAULTING_CHECKPOINTER, str(s)], pass_fds=[s], text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert checkpointer.stdout.readline() == "stuck\n"
        # The pair is not locked while the checkpointer's page faults in: every
        # use of it goes on, and so does a checkpoint from here.
        done = []

        def use_the_pair():
            attrs = termios.tcgetattr(s)
            termios.tcsetattr(s, termios.TCSANOW, attrs)
            os.write(m, b"def")
            settle()
            done.append(record.decode(dev.checkpoint_record(m))["slave"]["input"])

        user = threading.Thread(target=use_the_pair, daemon=True)
        user.start()
        user.join(30)
        assert done == [b"abcdef"]
        checkpointer.stdin.write("release\n")
        checkpointer.stdin.flush()
        # the record is the pair as it is after the fault: taken again, whole
        assert checkpointer.stdout.readline() == "abcdef\n"
        assert checkpointer.wait(30) == 0
    finally:
        checkpointer.kill()
    assert os.read(s, 100) == b"abcdef"
