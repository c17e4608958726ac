# SPDX-License-Identifier: GPL-2.0
"""Differential twin test: a restored pair behaves byte for byte like its original.

Hypothesis puts pair A into a random state with random termios changes,
typing, program output, reads and resizes.  Pair B is restored from A's
checkpoint.  Then the same random operations go to both, and every result
(what read() returns, how much write() took, tcgetattr, TIOCGWINSZ,
TIOCINQ...) must be identical.

CKPT_TTY_TWIN_EXAMPLES sets the number of examples (default 25).
"""

import os
import termios

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyctl

from .ttyutil import Pairs, get_termios2, observable, set_termios2, set_winsize, settle

EXAMPLES = int(os.environ.get("CKPT_TTY_TWIN_EXAMPLES", "25"))

# Keys a user types, control characters and all (ERASE, KILL, WERASE, LNEXT,
# EOF, REPRINT, INTR, STOP/START, tab, CR, 0xff which N_TTY escapes in echo).
KEYS = st.binary(min_size=1, max_size=24).map(lambda b: bytes(c % 128 if c < 250 else 0xFF for c in b)) | \
    st.sampled_from([b"\x7f", b"\x15", b"\x17", b"\x16", b"\x04", b"\x12", b"\x03", b"\x13", b"\x11", b"\t",
                     b"\r", b"\n", b"hello\n", b"\xff", b"a\x7f\x7fb"])

LFLAGS = [termios.ICANON, termios.ECHO, termios.ECHOE, termios.ECHOK, termios.ECHOCTL, termios.ECHOKE,
          termios.ECHOPRT, termios.ECHONL, termios.ISIG, termios.IEXTEN, termios.NOFLSH]
IFLAGS = [termios.ICRNL, termios.INLCR, termios.IGNCR, termios.IXON, termios.ISTRIP, termios.IUCLC]
OFLAGS = [termios.OPOST, termios.ONLCR, termios.OCRNL, termios.ONLRET, termios.XTABS]

OPS = st.one_of(
    st.tuples(st.just("type"), KEYS),
    st.tuples(st.just("write"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("lflag"), st.sampled_from(LFLAGS)),
    st.tuples(st.just("iflag"), st.sampled_from(IFLAGS)),
    st.tuples(st.just("oflag"), st.sampled_from(OFLAGS)),
    st.tuples(st.just("vmin_vtime"), st.tuples(st.integers(0, 4), st.integers(0, 2))),
    st.tuples(st.just("read_slave"), st.integers(1, 64)),
    st.tuples(st.just("read_master"), st.integers(1, 256)),
    st.tuples(st.just("resize"), st.tuples(st.integers(1, 200), st.integers(1, 400))),
)


def nonblocking_io(fn, fd, arg):
    import fcntl
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        return fn(fd, arg)
    except OSError as e:
        return f"errno {e.errno}"
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def toggle(fd, index, bit):
    t = list(get_termios2(fd))
    t[index] ^= bit
    set_termios2(fd, *t)


def apply(op, m, s):
    """Do one operation; return what userspace got from it."""
    kind, arg = op
    result = None
    if kind == "type":
        result = nonblocking_io(os.write, m, arg)
    elif kind == "write":
        result = nonblocking_io(os.write, s, arg)
    elif kind == "lflag":
        toggle(s, 3, arg)
    elif kind == "iflag":
        toggle(s, 0, arg)
    elif kind == "oflag":
        toggle(s, 1, arg)
    elif kind == "vmin_vtime":
        t = list(get_termios2(s))
        cc = bytearray(t[5])
        cc[termios.VMIN], cc[termios.VTIME] = arg
        t[5] = bytes(cc)
        set_termios2(s, *t)
    elif kind == "read_slave":
        settle()
        result = nonblocking_io(os.read, s, arg)
    elif kind == "read_master":
        settle()
        result = nonblocking_io(os.read, m, arg)
    elif kind == "resize":
        set_winsize(m, *arg)
    settle()
    return result


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(before=st.lists(OPS, max_size=12), after=st.lists(OPS, min_size=1, max_size=12))
def test_restored_pair_behaves_like_the_original(module_loaded, before, after):
    pairs = Pairs()
    try:
        a = pairs.new()
        for op in before:
            apply(op, *a)
        b = pairs.twin(a[0])
        assert observable(*b) == observable(*a)
        for step, op in enumerate(after):
            ra, rb = apply(op, *a), apply(op, *b)
            assert ra == rb, f"step {step} {op}: original {ra!r}, restored {rb!r}"
            assert observable(*b) == observable(*a), f"after step {step} {op}"
        for fd_a, fd_b in ((a[1], b[1]), (a[0], b[0])):
            assert nonblocking_io(os.read, fd_a, 65536) == nonblocking_io(os.read, fd_b, 65536)
        # The image itself round-trips, and a second checkpoint of B equals A's
        image_a, image_b = pyctl.checkpoint(a[0]), pyctl.checkpoint(b[0])
        image_b.created = image_a.created
        image_b.pairs[0].index = image_a.pairs[0].index
        assert image_b == image_a
    finally:
        pairs.close()
