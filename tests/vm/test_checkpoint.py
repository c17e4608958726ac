# SPDX-License-Identifier: GPL-2.0
"""Checkpoint a live pair, restore it into a new one, and compare what userspace sees.

Each test puts a pair into some state, restores its checkpoint into a second
pair, then does the same things to both and requires the same results from
every read(), ioctl and tcgetattr: the original is the ground truth.
"""

import errno
import os
import select
import struct
import termios
import threading
import time

import pytest

import pyctl
from pyctl.termflags import BOTHER, CBAUD, CIBAUD, CMSPAR, EXTPROC, IBSHIFT, IUTF8  # not in Python's termios

from .ttyutil import (TIOCEXCL, TIOCINQ, TIOCPKT, flood, get_int, get_termios2, observable, raw_mode, reads, set_termios2,
                      set_winsize, settle)


def same(a, b, *ops):
    """Run each op on both pairs; every result must be equal."""
    for op in ops:
        ra, rb = op(*a), op(*b)
        assert ra == rb, f"{op.__name__ if hasattr(op, '__name__') else op}: original {ra!r}, restored {rb!r}"


def slave_reads(m, s):
    return reads(s)


def master_reads(m, s):
    """The terminal side's output as a byte stream: a master is never canonical,
    so how read() splits it depends on when the flush worker ran, not on state."""
    return b"".join(reads(m))


def master_packets(m, s):
    """In packet mode every read() is one packet: the boundaries are the data."""
    return reads(m)


def state(m, s):
    return observable(m, s)


def typed(data):
    def op(m, s):
        os.write(m, data)
        settle()
    op.__name__ = f"type {data!r}"
    return op


def written(data):
    def op(m, s):
        os.write(s, data)
        settle()
    op.__name__ = f"program writes {data!r}"
    return op


def test_unread_lines_keep_their_boundaries(pairs):
    a = pairs.new()
    typed(b"first\nsecond\n\nthird\n")(*a)
    b = pairs.twin(a[0])
    same(a, b, state, master_reads)
    expected = [b"first\n", b"second\n", b"\n", b"third\n"]
    assert reads(b[1]) == expected
    assert reads(a[1]) == expected


@pytest.mark.parametrize("before_wrap", [1, 5, 64])
def test_lines_across_the_ring_wrap_keep_their_boundaries(pairs, before_wrap):
    # the module copies the line-end bits in two runs, up to the ring's end
    # and from its start: put lines on both sides of that seam
    a = pairs.new()
    line = b"x" * 63 + b"\n"
    consumed = 4096 - before_wrap - 3
    for _ in range(consumed // 64):
        typed(line)(*a)
        assert reads(a[1]) == [line]
    rest = consumed % 64
    if rest:
        typed(b"y" * (rest - 1) + b"\n")(*a)
        assert len(b"".join(reads(a[1]))) == rest
    reads(a[0])  # the echo
    lines = [b"ab\n", b"c" * before_wrap + b"\n", b"\n", b"de\n"]
    typed(b"".join(lines) + b"half")(*a)
    reads(a[0])
    image = pyctl.checkpoint(a[1])
    ends = sorted(image.pairs[0].slave.line_ends)
    assert ends == [2, 3 + before_wrap, 4 + before_wrap, 7 + before_wrap], ends
    b = pairs.twin(a[0])
    same(a, b, state)
    assert reads(b[1]) == lines and reads(a[1]) == lines
    same(a, b, typed(b"!\n"), slave_reads)


def test_lines_read_back_exactly(pairs):
    a = pairs.new()
    typed(b"one\ntwo\n")(*a)
    b = pairs.twin(a[1])  # from the slave's fd this time
    assert reads(b[1]) == [b"one\n", b"two\n"]
    assert reads(a[1]) == [b"one\n", b"two\n"]


def test_half_typed_line_completed_and_edited_after_restore(pairs):
    a = pairs.new()
    typed(b"echo hello wor")(*a)
    reads(a[0])  # the echo, consumed by the terminal side already
    b = pairs.twin(a[0])
    assert reads(b[1]) == [] and reads(a[1]) == []  # no line yet
    same(a, b, typed(b"\x7f\x7fld\n"), slave_reads, master_reads, state)
    assert reads(b[1]) == []


def test_half_line_is_what_the_reader_gets(pairs):
    a = pairs.new()
    typed(b"echo hello wor")(*a)
    b = pairs.twin(a[0])
    os.write(b[0], b"ld\n")
    assert reads(b[1]) == [b"echo hello world\n"]


@pytest.mark.parametrize("keys", [
    b"\x15new line\n",  # VKILL
    b"\x17\x17X\n",  # VWERASE twice
    b"\x16\x03\n",  # VLNEXT then ^C: a literal
    b"\x04",  # VEOF pushes the partial line
    b"\x12\n",  # VREPRINT
    b"\t\x7f\x7fz\n",  # tab erase
])
def test_editing_keys_act_on_the_restored_line(pairs, keys):
    a = pairs.new()
    typed(b"some partial words")(*a)
    b = pairs.twin(a[0])
    same(a, b, master_reads, typed(keys), slave_reads, master_reads, state)


def test_lnext_pending_at_checkpoint(pairs):
    a = pairs.new()
    typed(b"abc\x16")(*a)  # the next key is literal
    b = pairs.twin(a[0])
    image = pyctl.checkpoint(a[0])
    assert image.pairs[0].slave.ntty("lnext")
    same(a, b, master_reads, typed(b"\x7f\n"), slave_reads, master_reads)


def test_program_output_not_yet_read_by_the_terminal(pairs):
    a = pairs.new()
    written(b"output line 1\nline 2 without newline")(*a)
    b = pairs.twin(a[1])
    same(a, b, master_reads, state)


def test_full_buffer_and_pending_flip_data_in_order(pairs):
    a = pairs.new()
    raw_mode(a[1])
    data = bytes(range(256)) * 28  # 7168 bytes: 4095 fill the ring, the rest waits in flip buffers
    sent = flood(a[0], data, len(data))
    image = pyctl.checkpoint(a[0])
    e = image.pairs[0].slave
    assert len(e.input) == 4095 and len(e.flip) == sent - 4095 > 0, (len(e.input), len(e.flip), sent)
    # A full ldisc makes flush_to_ldisc look ahead for flow-control characters.
    assert e.flip_lookahead == len(e.flip) and e.lookahead_count == e.flip_lookahead
    b = pairs.twin(a[0])
    got_a, got_b = b"".join(reads(a[1])), b"".join(reads(b[1]))
    assert got_a == data[:sent]
    assert got_b == got_a


def test_extproc_overflow_keeps_the_byte_n_tty_took_back(pairs):
    """ICANON|EXTPROC (a telnetd or rlogind in linemode) with no line read yet: once the ring is
    full every further byte lands in its last slot, and the loop's last turn takes read_head back
    by one after it published commit_head, so the reader still gets that byte (TIOCINQ says
    4095, read() returns 4096).  The checkpoint saves it as input, the restored reader gets the
    same 4096 bytes, and the restored state checkpoints and restores again (the restore fuzzer
    found this state refused: seed 1795954506, case 340)."""
    a = pairs.new()
    attrs = termios.tcgetattr(a[1])
    attrs[3] = (attrs[3] | termios.ICANON | EXTPROC) & ~termios.ECHO  # not in Python's termios
    termios.tcsetattr(a[1], termios.TCSANOW, attrs)
    data = bytes((i * 13 + i // 256) % 256 for i in range(5000))
    os.write(a[0], data)
    settle()
    assert get_int(a[1], TIOCINQ) == 4095  # n_tty's own count: the byte it took back is not in it
    image = pyctl.checkpoint(a[0])
    e = image.pairs[0].slave
    assert (len(e.input), len(e.flip)) == (4096, 0)
    assert e.input == data[:4095] + data[-1:]  # the last slot holds the last byte received
    b = pairs.twin(a[0])
    c = pairs.twin(b[0])  # a state the kernel restored checkpoints and restores again
    got = [b"".join(reads(p[1])) for p in (a, b, c)]
    assert got[0] == data[:4095] + data[-1:], (len(got[0]), got[0][-3:])
    assert got[1] == got[0] and got[2] == got[0]


def _drain(fd: int, size: int) -> bytes:
    """``size`` bytes from fd, however the flush worker splits them; then nothing more."""
    out = b""
    while len(out) < size and select.select([fd], [], [], 10)[0]:
        out += os.read(fd, size - len(out))
    assert not select.select([fd], [], [], 0.2)[0], "more than expected"
    return out


@pytest.mark.parametrize("writer", ["master", "slave"])
def test_the_most_a_raw_writer_leaves_pending(pairs, writer):
    """A raw writer (no OPOST, so no write_room check) fills the other side's ring and then its flip
    buffers past the pty's 8192-byte limit, which counts two bytes of plain data as one and lets
    small buffers come back from the free list unchecked: about 20 KB in 256-byte writes.  All of
    it is saved and comes back in order."""
    m, s = pairs.new()
    raw_mode(s)
    attrs = termios.tcgetattr(s)
    attrs[1] &= ~termios.OPOST  # as cfmakeraw: the slave's writes skip the write_room check too
    termios.tcsetattr(s, termios.TCSANOW, attrs)
    src, dst = (m, s) if writer == "master" else (s, m)
    data = bytes((i * 7 + i // 251) % 256 for i in range(1 << 16))
    sent = flood(src, data, 256)
    image = pyctl.checkpoint(m)
    e = image.pairs[0].slave if writer == "master" else image.pairs[0].master
    assert len(e.input) + len(e.flip) == sent, (len(e.input), len(e.flip), sent)
    assert len(e.flip) > 16384, len(e.flip)  # ABI 1 refused these with EOVERFLOW
    b = pairs.twin(m)
    restored_dst = b[1] if writer == "master" else b[0]
    assert _drain(restored_dst, sent) == data[:sent]
    assert _drain(dst, sent) == data[:sent]


def test_every_control_character_high_flags_and_speeds(pairs):
    a = pairs.new()
    cc = bytes(range(1, 20))
    iflag, oflag, cflag, lflag, *_ = get_termios2(a[1])
    # BOTHER in CBAUD, and in CIBAUD (<< IBSHIFT) for a separate input speed
    cflag = (cflag & ~CBAUD & ~CIBAUD) | BOTHER | BOTHER << IBSHIFT | CMSPAR
    set_termios2(a[1], iflag | IUTF8, oflag, cflag, lflag | EXTPROC, 0, cc, 123457, 98765)
    b = pairs.twin(a[0])
    assert get_termios2(b[1]) == get_termios2(a[1])
    t = get_termios2(b[1])
    assert t[5] == cc, (t[5], cc)
    assert t[6:] == (123457, 98765) and t[3] & EXTPROC and t[2] & CMSPAR
    same(a, b, state)


def test_winsize_both_ends(pairs):
    a = pairs.new()
    set_winsize(a[0], 51, 193, 1930, 1020)
    b = pairs.twin(a[1])
    same(a, b, state)
    assert observable(*b)["winsize"] == ((51, 193, 1930, 1020),) * 2


def test_packet_mode_and_pending_status(pairs):
    a = pairs.new()
    import fcntl
    fcntl.ioctl(a[0], TIOCPKT, struct.pack("i", 1))
    termios.tcflush(a[1], termios.TCIFLUSH)  # TIOCPKT_FLUSHREAD for the master's reader
    written(b"data")(*a)
    b = pairs.twin(a[0])
    image = pyctl.checkpoint(b[0])
    assert image.pairs[0].master.has("packet") and image.pairs[0].slave.pktstatus
    same(a, b, state, master_packets, master_packets)


def test_exclusive_and_pty_lock(pairs):
    a = pairs.new()
    import fcntl
    fcntl.ioctl(a[1], TIOCEXCL)
    fcntl.ioctl(a[0], 0x40045431, struct.pack("i", 1))  # TIOCSPTLCK
    b = pairs.twin(a[0])
    assert observable(*b)["exclusive"] == (0, 1) and observable(*b)["ptlck"] == 1
    same(a, b, state)


def test_stopped_output(pairs):
    a = pairs.new()
    termios.tcflow(a[1], termios.TCOOFF)
    b = pairs.twin(a[0])
    image = pyctl.checkpoint(b[0])
    assert image.pairs[0].slave.has("stopped") and image.pairs[0].slave.has("tco_stopped")
    termios.tcflow(a[1], termios.TCOON)
    termios.tcflow(b[1], termios.TCOON)
    same(a, b, written(b"after\n"), master_reads)


@pytest.mark.parametrize("vmin, vtime", [(3, 0), (0, 0), (1, 5)])
def test_raw_and_cbreak_with_vmin_vtime(pairs, vmin, vtime):
    a = pairs.new()
    raw_mode(a[1], vmin, vtime)
    typed(b"xy")(*a)
    b = pairs.twin(a[0])
    same(a, b, state, typed(b"z"), slave_reads)


def test_blocking_vmin_read_completes_after_restore(pairs):
    a = pairs.new()
    raw_mode(a[1], 3, 0)
    typed(b"ab")(*a)
    b = pairs.twin(a[0])
    os.write(b[0], b"c")
    ready, _, _ = select.select([b[1]], [], [], 5)
    assert ready and os.read(b[1], 10) == b"abc"


def test_checkpoint_while_a_reader_blocks_in_read(pairs):
    """A sleeping reader holds atomic_read_lock; the checkpoint must not need it."""
    a = pairs.new()
    typed(b"partial")(*a)
    got = []
    reader = threading.Thread(target=lambda: got.append(os.read(a[1], 100)))
    reader.start()
    settle()
    image = pyctl.checkpoint(a[0])  # would hang if it waited for the reader
    assert image.pairs[0].slave.input == b"partial"
    os.write(a[0], b" line\n")
    reader.join(5)
    assert got == [b"partial line\n"]


def test_checkpoint_changes_nothing(pairs):
    a = pairs.new()
    typed(b"abc\ndef")(*a)
    written(b"out")(*a)
    before = observable(*a)
    first = pyctl.checkpoint(a[0])
    second = pyctl.checkpoint(a[1])
    assert observable(*a) == before
    first.created = second.created
    assert first == second
    assert reads(a[1]) == [b"abc\n"] and reads(a[0]) == [b"abc\r\ndefout"]


def fill_from_program(m, s):
    """The program writes until the terminal side can take no more.

    The master's ldisc takes data in a worker, so keep going until a write
    fails at once after the worker had time to run.
    """
    os.set_blocking(s, False)
    try:
        for _ in range(50):
            wrote = 0
            while True:
                try:
                    wrote += os.write(s, b"o" * 4096)
                except BlockingIOError:
                    break
            if not wrote:
                return
            time.sleep(0.2)
    finally:
        os.set_blocking(s, True)
    raise AssertionError("the terminal side never filled up")


def test_echo_pending_when_the_terminal_side_is_full(pairs):
    """Echoes wait in the echo ring while the master's buffers are full."""
    a = pairs.new()
    fill_from_program(*a)
    typed(b"typed while output waits")(*a)
    image = pyctl.checkpoint(a[0])
    assert image.pairs[0].slave.echo, "no pending echo: the test did not fill the master"
    b = pairs.twin(a[0])
    same(a, b, state, master_reads, typed(b"\n"), master_reads, slave_reads)


def test_program_side_closed_leaves_output_then_eio(pairs):
    """The program wrote and exited: the terminal still has its output to show, then EIO."""
    m, s = pairs.new()
    os.write(s, b"last words\n")
    settle()
    os.close(s)
    pairs.fds.remove(s)
    image = pyctl.checkpoint(m)
    assert image.pairs[0].master.has("other_closed")
    m2, s2 = pyctl.restore(pyctl.loads(image.dumps()), index="any")
    pairs.fds.append(m2)
    assert s2 is None
    for fd in (m, m2):
        assert os.read(fd, 100) == b"last words\r\n"
        with pytest.raises(OSError) as e:
            os.read(fd, 100)
        assert e.value.errno == errno.EIO


def test_the_record_names_the_devpts_instance_and_restore_ignores_it(pairs):
    from pyctl import _uapi, lowlevel

    m, s = pairs.new()
    node = os.stat(os.ttyname(s))
    with lowlevel.Device() as dev:
        assert dev.info().features & _uapi.CKPT_TTY_FEATURE_DEVPTS_DEV
        for fd in (m, s):
            assert dev.checkpoint(fd)["devpts_dev"] == node.st_dev  # what stat() says, from either end
        state = dev.checkpoint(m)
        state["devpts_dev"] = 0xDEAD  # informational: the target fd picks the instance
        target = pairs.new()
        dev.restore(target[0], state)
    assert observable(*target) == observable(m, s)
    assert pyctl.checkpoint(m).pairs[0].devpts.mountpoint == b"/dev/pts"


def test_checkpoint_many_keeps_the_order_and_names_a_refused_fd(pairs):
    ends = []
    for k in range(5):
        m, s = pairs.new()
        os.write(m, f"pair {k}\n".encode() * (k + 1))
        ends.append(s)
    settle()
    image = pyctl.checkpoint_many(ends)
    assert [p.slave.input for p in image.pairs] == [f"pair {k}\n".encode() * (k + 1) for k in range(5)]
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as e:
            pyctl.checkpoint_many([ends[0], ends[1], r, ends[2]])
        assert e.value.errno == errno.ENOTTY and f"fd {r}" in str(e.value)
    finally:
        os.close(r)
        os.close(w)
    # the refusal changed nothing: the same records again
    again = pyctl.checkpoint_many(ends)
    assert [p.slave.input for p in again.pairs] == [p.slave.input for p in image.pairs]
