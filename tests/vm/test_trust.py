# SPDX-License-Identifier: GPL-2.0
"""The kernel trusts nothing: consumed input never leaves it, waits end on a fatal
signal, and what a tty file is does not depend on any path."""

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

import pyctl
from pyctl import kmod

from .ttyutil import TIOCINQ, UFFD_SECOND_PAGE, get_int, raw_mode, reads, settle


# ---- no byte a reader has consumed leaves the kernel ----

def test_a_secret_read_in_raw_mode_is_not_in_the_checkpoint(pairs, dev):
    m, s = pairs.new()
    raw_mode(s)
    secret = b"hunter2-correct-horse-battery"
    os.write(m, secret)
    settle()
    assert os.read(s, 100) == secret
    os.write(m, b"still unread")
    settle()
    for fd in (m, s):
        data = dev.checkpoint_record(fd)
        assert b"hunter2" not in data and b"horse" not in data
        assert b"still unread" in data  # what is still to be read is saved
    assert reads(s) == [b"still unread"]


def test_a_typed_and_echoed_line_is_not_in_the_checkpoint_once_read(pairs, dev):
    # canonical with ECHO: N_TTY zeroes read bytes only without ECHO; the echo went
    # through the echo ring to the master, which read it too
    m, s = pairs.new()
    os.write(m, b"s3cret-passphrase\n")
    settle()
    assert os.read(s, 100) == b"s3cret-passphrase\n"
    assert b"s3cret" in b"".join(reads(m))
    data = dev.checkpoint_record(m)
    assert b"s3cret" not in data and b"passphrase" not in data


# ---- a checkpoint blocked behind a stuck reader can be killed ----

# A reader whose buffer crosses into a userfaultfd-registered page: n_tty_read()
# hands over 64 bytes at a time and keeps termios_rwsem (read) across the copy
# to user memory, which blocks on the missing page until the uffd is closed.
STUCK_READER = UFFD_SECOND_PAGE + textwrap.dedent("""
    import sys, threading
    fd = int(sys.argv[1])
    got = []
    reader = threading.Thread(target=lambda: got.append(libc.read(fd, ctypes.c_void_p(second - 64), 256)))
    reader.start()
    reader.join(3)
    print("stuck" if reader.is_alive() else f"not stuck: {got}", flush=True)
    sys.stdin.readline()
    os.close(uffd)  # the fault is resolved with a zero page; the read completes
    reader.join(60)
    print(f"read {got}", flush=True)
""")


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_checkpoint_waiting_for_a_stuck_reader_can_be_killed(pairs):
    m, s = pairs.new()
    raw_mode(s)
    os.write(m, bytes(range(48, 48 + 75)) * 4)  # 300 bytes
    settle()
    reader = subprocess.Popen([sys.executable, "-c", STUCK_READER, str(s)], pass_fds=[s], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert reader.stdout.readline() == "stuck\n"
        checkpointer = subprocess.Popen(
            [sys.executable, "-c", f"import pyctl; print('calling', flush=True); pyctl.checkpoint({m})"],
            pass_fds=[m], stdout=subprocess.PIPE, text=True)
        assert checkpointer.stdout.readline() == "calling\n"
        deadline = time.monotonic() + 60
        while _state(checkpointer.pid) != "D" and time.monotonic() < deadline:
            time.sleep(0.2)
        # waiting in the kernel behind the reader (a killable wait shows as D too)
        assert _state(checkpointer.pid) == "D" and checkpointer.poll() is None
        checkpointer.send_signal(signal.SIGKILL)
        checkpointer.wait(30)  # without killable waits it stays in D state until the reader goes on
        assert checkpointer.returncode == -signal.SIGKILL
        # the reader goes on and the pair is whole: 64 bytes before the stuck page, 192 after
        reader.stdin.write("release\n")
        reader.stdin.flush()
        assert reader.stdout.readline() == "read [256]\n"
        assert reader.wait(30) == 0
    finally:
        reader.kill()
    assert get_int(s, TIOCINQ) == 300 - 256
    image = pyctl.checkpoint(m)
    assert image.pairs[0].slave.input == (bytes(range(48, 48 + 75)) * 4)[256:]
    os.write(m, b"more")
    assert reads(s) == [(bytes(range(48, 48 + 75)) * 4)[256:] + b"more"]


# ---- what a tty file is does not depend on /dev/ptmx ----

def test_a_file_bind_mounted_over_dev_ptmx_at_load_is_not_a_tty(pairs, ko_path):
    kmod.unload()
    # /dev/kmsg's file has a release op of its own and private data that is no tty
    load = (f"mount --bind /dev/kmsg /dev/ptmx && {sys.executable} -c "
            f"'from pyctl import kmod; kmod.load(\"{ko_path}\")'")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", load],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert kmod.is_loaded()
    kmsg = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OSError) as e:
            pyctl.checkpoint(kmsg)
        assert e.value.errno == 25  # ENOTTY
    finally:
        os.close(kmsg)
    m, s = pairs.new()
    os.write(m, b"typed")
    settle()
    assert pyctl.checkpoint(s).pairs[0].slave.input == b"typed"


def test_an_o_path_descriptor_of_a_pty_is_not_a_tty(pairs):
    m, s = pairs.new()
    path_fd = os.open(os.ttyname(s), os.O_PATH)
    try:
        with pytest.raises(OSError) as e:
            pyctl.checkpoint(path_fd)
        assert e.value.errno == 9  # EBADF: fget() hands out no O_PATH file, so its tty is never looked at
    finally:
        os.close(path_fd)


# ---- ONTO: the target's locked termios do not stop the image's ----

TIOCGLCKTRMIOS, TIOCSLCKTRMIOS = 0x5456, 0x5457
TERMIOS = struct.Struct("=4IB19s")  # struct termios: flags, c_line, c_cc[NCCS]


def test_onto_a_terminal_with_locked_termios(pairs):
    src_m, src_s = pairs.new()
    raw_mode(src_s)
    os.write(src_m, b"raw bytes")
    settle()
    image = pyctl.checkpoint(src_m)
    m, s = pairs.new()  # the target: canonical, with ICANON and ECHO locked as they are
    fcntl.ioctl(s, TIOCSLCKTRMIOS, TERMIOS.pack(0, 0, 0, termios.ICANON | termios.ECHO, 0, bytes(19)))
    pyctl.restore_onto(image, m)
    assert termios.tcgetattr(s) == termios.tcgetattr(src_s)
    assert TERMIOS.unpack(fcntl.ioctl(s, TIOCGLCKTRMIOS, bytes(TERMIOS.size)))[3] == 0  # the image's locks
    assert reads(s) == [b"raw bytes"]
