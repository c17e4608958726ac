# SPDX-License-Identifier: GPL-2.0
"""pyctl show for people: stty_a() against the real stty -a on host ptys, and describe()."""

import dataclasses
import fcntl
import os
import shutil
import struct
import subprocess
import termios
import time
import tty

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyctl import show
from pyctl.image import Constants, End, Image, Pair, Termios, Winsize

IUTF8 = 0o40000  # include/uapi/asm-generic/termbits.h; Python's termios module lacks it

BAUD = {getattr(termios, f"B{n}"): n for n in (
    0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
    460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000)
    if hasattr(termios, f"B{n}")}
CBAUD, CIBAUD, IBSHIFT, CMSPAR = 0o10017, 0o2003600000, 16, 0o10000000000
NCCS = 19  # the kernel's; glibc's struct termios has 32 slots
CC = bytes([3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0])


def _gnu_stty() -> bool:
    if not shutil.which("stty"):
        return False
    r = subprocess.run(["stty", "--version"], capture_output=True, text=True)
    return "GNU coreutils" in r.stdout


needs_stty = pytest.mark.skipif(not _gnu_stty(), reason="needs GNU stty, the ground truth")


# ---- ptys and the real stty ----

@pytest.fixture
def pty():
    """A fresh pty pair: (slave fd, slave path)."""
    master, slave = os.openpty()
    yield slave, os.ttyname(slave)
    os.close(slave)
    os.close(master)


@pytest.fixture(scope="module")
def shared_pty():
    """One pty for hypothesis, which does not want function-scoped fixtures."""
    master, slave = os.openpty()
    yield slave, os.ttyname(slave)
    os.close(slave)
    os.close(master)


PTY_CFLAG = termios.CSIZE | termios.PARENB | termios.CREAD  # a pty holds cs8 cread -parenb (drivers/tty/pty.c)


def configure(fd: int, iflag=None, oflag=None, cflag=None, lflag=None, speed=None, cc=None,
              winsize=(24, 80, 0, 0)) -> None:
    """tcsetattr with the given words replaced, c_cc slots {index: value} changed, and TIOCSWINSZ."""
    a = termios.tcgetattr(fd)
    if cflag is not None:
        # glibc's tcsetattr fails with EINVAL when the pty overrode these bits: ask for what it holds
        cflag = cflag & ~PTY_CFLAG | termios.CS8 | termios.CREAD
    for k, word in enumerate((iflag, oflag, cflag, lflag)):
        if word is not None:
            a[k] = word
    if speed is not None:
        a[4], a[5] = speed  # glibc puts the last one set, the output speed, in CBAUD for both
    for index, value in (cc or {}).items():
        a[6][index] = value
    termios.tcsetattr(fd, termios.TCSANOW, a)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("4H", *winsize))


def _byte(c) -> int:
    return c if isinstance(c, int) else c[0]  # non-canonical VMIN/VTIME come back as ints


def current(fd: int) -> tuple[Termios, Winsize]:
    """The pty's termios and window size as an image would hold them (speeds as numbers)."""
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    t = Termios(iflag, oflag, cflag, lflag, BAUD[ispeed], BAUD[ospeed], 0, bytes(map(_byte, cc[:NCCS])))
    w = Winsize(*struct.unpack("4H", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8))))
    return t, w


def real_stty(path: str, columns: int = 80, **env: str) -> str:
    r = subprocess.run(["stty", "-a", "-F", path], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, COLUMNS=str(columns), **env), check=True)
    return r.stdout


def assert_like_stty(pty, columns: int = 80) -> str:
    fd, path = pty
    expected = real_stty(path, columns)
    assert show.stty_a(*current(fd), columns=columns) == expected
    return expected


# ---- stty_a against stty -a ----

def _raw(fd):
    tty.setraw(fd)


def _cbreak(fd):
    tty.setcbreak(fd)


def _cooked(fd):
    configure(fd, iflag=termios.BRKINT | termios.ICRNL | termios.IXON | termios.IMAXBEL | IUTF8,
              oflag=termios.OPOST | termios.ONLCR,
              lflag=termios.ISIG | termios.ICANON | termios.IEXTEN | termios.ECHO | termios.ECHOE | termios.ECHOK
              | termios.ECHOCTL | termios.ECHOKE)


def _all_clear(fd):
    configure(fd, iflag=0, oflag=0, lflag=0)  # as a pty master's termios: two 81-column lines at COLUMNS=80


def _all_iflags(fd):
    configure(fd, iflag=0o77777)


def _all_lflags(fd):
    configure(fd, lflag=0o377777)  # xcase, flusho, pendin (stty does not print it), extproc too


def _delays_high(fd):
    configure(fd, oflag=0o177777)  # every output flag, nl1 cr3 tab3 bs1 vt1 ff1


def _delays_mixed(fd):
    configure(fd, oflag=termios.OPOST | termios.NL1 | termios.CR2 | termios.TAB1 | termios.FF1)


def _delays_other(fd):
    configure(fd, oflag=termios.OFILL | termios.CR1 | termios.TAB2 | termios.BS1 | termios.VT1)


def _cflags_a_pty_keeps(fd):
    configure(fd, cflag=termios.CSTOPB | termios.HUPCL | termios.CLOCAL | termios.CRTSCTS | termios.PARODD | CMSPAR)


def _odd_characters(fd):
    # high bytes in M- notation, DEL, space, 0 = <undef>, and stty's own punctuation
    configure(fd, cc={termios.VINTR: 0x80, termios.VQUIT: 0xFF, termios.VERASE: 0xA0, termios.VKILL: 0x9B,
                      termios.VEOF: 0, termios.VEOL: 0x7F, termios.VEOL2: 0x20, termios.VSTART: ord(";"),
                      termios.VSTOP: ord("="), termios.VSUSP: 0xE1, termios.VREPRINT: ord("^"),
                      termios.VWERASE: ord("\\"), termios.VLNEXT: 0xFE, termios.VDISCARD: 0x1F, 7: 0x1B})


def _min_time(fd):
    configure(fd, lflag=0, cc={termios.VMIN: 0, termios.VTIME: 255})


def _min_big(fd):
    configure(fd, lflag=termios.ECHO, cc={termios.VMIN: 200, termios.VTIME: 17})


def _slow(fd):
    configure(fd, speed=(termios.B50, termios.B50))


def _speed_0(fd):
    configure(fd, speed=(termios.B0, termios.B0))


def _fast(fd):
    configure(fd, speed=(termios.B4000000, termios.B4000000))


def _kernel_speeds_differ(fd):
    # CIBAUD gives the kernel an input speed of 9600; glibc (and so stty) sees only CBAUD.
    a = termios.tcgetattr(fd)
    configure(fd, cflag=(a[2] & ~CIBAUD) | termios.B9600 << IBSHIFT, speed=(termios.B115200, termios.B115200))


def _big_window(fd):
    configure(fd, winsize=(65535, 65535, 1, 2))


def _no_window(fd):
    configure(fd, winsize=(0, 0, 640, 480))


STATES = [_raw, _cbreak, _cooked, _all_clear, _all_iflags, _all_lflags, _delays_high, _delays_mixed, _delays_other,
          _cflags_a_pty_keeps, _odd_characters, _min_time, _min_big, _slow, _speed_0, _fast,
          _kernel_speeds_differ, _big_window, _no_window]


@needs_stty
def test_fresh_pty_is_like_stty(pty):
    out = assert_like_stty(pty)
    assert out.startswith("speed 38400 baud; rows 0; columns 0; line = 0;\nintr = ^C; quit = ^\\;")


@needs_stty
@pytest.mark.parametrize("state", STATES, ids=lambda f: f.__name__.strip("_"))
def test_states_are_like_stty(pty, state):
    state(pty[0])
    assert_like_stty(pty)


@needs_stty
@pytest.mark.parametrize("columns", [1, 17, 40, 55, 79, 81, 132, 1000])
def test_other_widths_are_like_stty(pty, columns):
    _odd_characters(pty[0])
    assert_like_stty(pty, columns)


@needs_stty
def test_a_full_line_is_one_longer_than_columns(pty):
    """stty keeps an item on the line when it fits before the separating space:
    with COLUMNS=80 this state gets an 81-character c_cc line."""
    configure(pty[0], cc={termios.VINTR: ord("a"), termios.VQUIT: ord("a"), termios.VERASE: ord("a"),
                          termios.VKILL: ord("a"), termios.VEOF: 3, termios.VEOL: 0})
    out = assert_like_stty(pty)
    assert max(len(line) for line in out.splitlines()) == 81


@needs_stty
@settings(max_examples=40, deadline=None)
@given(iflag=st.integers(0, 2**32 - 1), oflag=st.integers(0, 2**32 - 1), cflag=st.integers(0, 2**32 - 1),
       lflag=st.integers(0, 2**32 - 1), speed=st.sampled_from(sorted(BAUD)),
       cc=st.lists(st.sampled_from([0, 3, 0x1C, 0x7F, 0x80, 0x9F, 0xFF]) | st.integers(0, 255),
                   min_size=17, max_size=17),
       rows=st.integers(0, 65535), cols=st.integers(0, 65535), columns=st.just(80) | st.integers(1, 200))
def test_random_states_are_like_stty(shared_pty, iflag, oflag, cflag, lflag, speed, cc, rows, cols, columns):
    configure(shared_pty[0], iflag, oflag, cflag, lflag, (speed, speed), dict(enumerate(cc)), (rows, cols, 0, 0))
    assert_like_stty(shared_pty, columns)


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <termios.h>

/* Test double for stty: report a c_cflag a pty refuses (cs7, parenb) ... */
int tcgetattr(int fd, struct termios *t)
{
	int (*real)(int, struct termios *) = (int (*)(int, struct termios *))dlsym(RTLD_NEXT, "tcgetattr");
	int r = real(fd, t);
	const char *cflag = getenv("SHIM_CFLAG");

	if (r == 0 && cflag)
		t->c_cflag = strtoul(cflag, NULL, 0);
	return r;
}

/* ... and the input speed the kernel keeps in CIBAUD, which glibc 2.36 ignores. */
speed_t cfgetispeed(const struct termios *t)
{
	speed_t in = (t->c_cflag & CIBAUD) >> 16;

	return in ? in : cfgetospeed(t);
}
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    """An LD_PRELOAD library that makes stty see termios states a pty cannot hold."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler for the stty shim")
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.c").write_text(SHIM)
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(d / "shim.so"), str(d / "shim.c"), "-ldl"], check=True)
    return str(d / "shim.so")


@needs_stty
@pytest.mark.parametrize("cflag", [
    termios.CS7 | termios.PARENB | termios.CREAD | termios.B9600,
    termios.CS5 | termios.PARENB | termios.PARODD | CMSPAR | termios.CSTOPB | termios.B1200,
    termios.CS6 | termios.HUPCL | termios.CLOCAL | termios.B2400,
    termios.CS8 | termios.B38400 | termios.B9600 << IBSHIFT,  # ispeed 9600, ospeed 38400
    termios.CS7 | termios.B300 | termios.B115200 << IBSHIFT,
    termios.CS8 | termios.B38400 | termios.B38400 << IBSHIFT,  # equal: one speed
], ids=["cs7-parenb", "cs5-parodd-cmspar", "cs6", "ispeed-9600", "ispeed-115200", "same-speeds"])
def test_cflag_states_a_pty_refuses_are_like_stty(pty, shim, cflag):
    fd, path = pty
    t, w = current(fd)
    ispeed = BAUD[(cflag & CIBAUD) >> IBSHIFT]
    t = dataclasses.replace(t, cflag=cflag, ospeed=BAUD[cflag & CBAUD], ispeed=ispeed)
    assert show.stty_a(t, w) == real_stty(path, LD_PRELOAD=shim, SHIM_CFLAG=str(cflag))


def test_speeds_stty_cannot_see_are_printed_as_numbers():
    """BOTHER speeds and a separate input speed, in stty's own format (the glibc 2.36 stty shows neither)."""
    w = Winsize(24, 80)
    assert show.stty_a(Termios(ispeed=123456, ospeed=123456, cc=CC), w).startswith("speed 123456 baud;")
    assert show.stty_a(Termios(ispeed=0, ospeed=31250, cc=CC), w).startswith("speed 31250 baud;")
    assert show.stty_a(Termios(ispeed=9600, ospeed=250000, cc=CC), w).startswith(
        "ispeed 9600 baud; ospeed 250000 baud; rows 24; columns 80; line = 0;\n")


def test_short_cc_reads_as_disabled():
    out = show.stty_a(Termios(cc=b"\x03"), Winsize())
    assert "intr = ^C; quit = <undef>;" in out and "min = 0; time = 0;" in out


# ---- describe ----

def end(**kw) -> End:
    base = dict(termios=Termios(0o2400, 0o5, 0o277, 0o105073, 38400, 38400, 0, CC),
                termios_locked=Termios(cc=bytes(19)), winsize=Winsize(24, 80, 0, 0), ntty_flags=1 << 3)
    base.update(kw)
    return End(**base)


RAW = Termios(0, 0, 0o277, 0, 38400, 38400, 0, CC)


def image(slave: End | None = None, master: End | None = None, pairs: int = 1) -> Image:
    c = Constants(4096, 19, 8, 64, 1, 44, 8904, 0)
    master = master or end(termios=RAW, ntty_flags=1 << 4 | 1 << 5)
    return Image("6.1.0-56-amd64", 1795000000, c, [Pair(k, master, slave or end()) for k in range(pairs)])


def test_describe_starts_each_end_with_stty_a():
    s = end(winsize=Winsize(50, 132, 1320, 1000))
    text = show.describe(image(s))
    slave_block = "".join("    " + line + "\n" for line in show.stty_a(s.termios, s.winsize).splitlines())
    assert "  slave (the program's side):\n" + slave_block + "    pixels: 1320 x 1000 (width x height)\n" in text
    master_block = "".join("    " + line + "\n" for line in show.stty_a(RAW, Winsize(24, 80)).splitlines())
    assert "  master (the terminal's side):\n" + master_block in text
    assert "locked termios" not in text


def test_canonical_input_by_lines_and_the_half_typed_line():
    s = end(input=b"ls -l\n\x04pwd\rhalf", line_ends=frozenset({5, 6}), canon=7)
    text = show.describe(image(s))
    assert "unread input: 15 bytes: 2 complete lines, 8 bytes of a line being typed\n" in text
    assert "      line: ls -l^J\n      line: ^D\n      partial line (typed, no line end yet): pwd^Mhalf\n" in text


def test_non_canonical_input_is_readable_bytes():
    s = end(termios=RAW, ntty_flags=1 << 4, input=b"abc\x1b[A", commit=4)
    text = show.describe(image(s))
    assert "unread input: 6 bytes, non-canonical: the first 4 readable now, the rest not yet committed" in text
    assert "      readable bytes: abc^[[A\n" in text
    assert "partial line" not in text


def test_master_input_and_flip_are_pending_output():
    m = end(termios=RAW, ntty_flags=1 << 4, input=b"prompt> ", commit=8, flip=b"more\r\n", flip_lookahead=2)
    text = show.describe(image(master=m))
    assert ("    output not yet read by the terminal:\n"
            "      in the master's input buffer: 8 bytes, non-canonical: all readable now\n"
            "        readable bytes: prompt> \n"
            "      written, not yet received by the master's line discipline "
            "(6 bytes, 2 already seen by flow-control lookahead): more^M^J\n") in text
    assert "output not yet read by the terminal: none" in show.describe(image())


def test_echo_operations_in_words():
    echo = b"a\xff\x81b\t\xff\x82\x03\xff\x82\x85\xff\x80\xff\xff\xff\x03\xff\x7f<\xff"
    text = show.describe(image(end(echo=echo, echo_commit=3)))
    assert ("pending echo (21 bytes, the first 3 committed): a<set-canon-col>b^I<erase-tab 3>"
            "<erase-tab 5 after-tab><move-back-col>\\xff<echoctl ^C><echoctl ^?>\\<<incomplete operation>\n") in text


def test_flip_bytes_not_yet_received_with_their_flags():
    s = end(flip=b"ab\x00c", flip_flags=b"\x00\x00\x01\x03")
    text = show.describe(image(s))
    assert ("typed, not yet received by the line discipline (4 bytes; flagged: break at byte 2, "
            "parity error at byte 3): ab^@c\n") in text


def test_visible_text_convention():
    """^X and \\xNN are made-visible bytes; a literal ^ or \\ is escaped so it cannot be taken for one."""
    s = end(termios=RAW, ntty_flags=1 << 4, input=b"^C\x03\\x41\xc3\xa9\x7f ~", commit=11)
    assert "readable bytes: \\^C^C\\\\x41\\xc3\\xa9^? ~\n" in show.describe(image(s))


def test_visible_is_unchanged():
    """Others import visible(): ^X for controls, ^? for DEL, \\xNN from 0x80, nothing escaped."""
    expected = "".join("^?" if b == 0x7F else "^" + chr(b + 0x40) if b < 0x20 else chr(b) if b < 0x80
                       else f"\\x{b:02x}" for b in range(256))
    assert show.visible(bytes(range(256))) == expected
    assert show.visible(bytearray(b"a\n")) == show.visible([0x61, 0x0A]) == "a^J"


def test_locked_termios_tty_and_ntty_state_in_words():
    locked = Termios(iflag=0o400 | 1 << 20, oflag=0o14000, cflag=0o60 | 0o17, lflag=0o40000, ispeed=1,
                     cc=bytes([1] + [0] * 18))
    m = end(termios=RAW, flags=1 << 1 | 1 << 6, pktstatus=0o41, ntty_flags=1 << 4 | 1 << 5)
    s = end(termios_locked=locked, flags=1 << 0 | 1 << 4 | 1 << 5, ntty_flags=1 << 0 | 1 << 2 | 1 << 3,
            column=7, canon_column=2, lookahead_count=3)
    text = show.describe(image(s, m))
    assert ("    locked termios (TIOCSLCKTRMIOS, cannot be changed): csize cflag 0o17 icrnl iflag 0o4000000 tabdly "
            "pendin intr ispeed\n") in text
    assert ("    tty: exclusive (TIOCEXCL: only root may open it again); output stopped by tcflow(TCOOFF)\n"
            "    n_tty: canonical (reads whole lines); the next byte is taken literally (after lnext); "
            "EOF pushed out a partial line; 3 bytes already seen by flow-control lookahead\n"
            "    columns: output at 7, the line being typed began at 2\n") in text
    assert ("    tty: locked (TIOCSPTLCK: the slave cannot be opened); packet mode (TIOCPKT); "
            "packet status waiting for the reader: flushread dostop\n"
            "    n_tty: non-canonical (reads bytes); raw (no input processing); "
            "real raw (input copied untouched)\n") in text


def test_describe_takes_time_in_proportion_to_the_image():
    """Sixteen times the pairs, about sixteen times the CPU time (speed itself: scripts/bench_image.py)."""
    text = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % k for k in range(200))[:4096]
    ends = frozenset(i for i, b in enumerate(text) if b == 10)
    s = end(input=text, line_ends=ends, canon=max(ends) + 1, flip=text)
    m = end(termios=RAW, ntty_flags=1 << 4, input=bytes(range(256)) * 16, commit=4096)

    def cpu(pairs):
        big = image(s, m, pairs=pairs)
        start = time.process_time()
        out = show.describe(big)
        took = time.process_time() - start
        assert out.count("\n      line: ") == pairs * len(ends)
        return took

    small = min(cpu(64) for _ in range(3))
    large = min(cpu(1024) for _ in range(3))
    assert large < 48 * max(small, 1e-3), f"64 pairs: {small:.3f} s, 1024 pairs: {large:.3f} s"


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=300),
                      st.lists(st.sampled_from([b"ab", b"typed text without controls " * 2, b"\\", b"^", b"<", b"\n", b"\t", b"\xff", b"\x7f", b"~"]),
                               max_size=40).map(b"".join)))
def test_drawing_bytes_is_one_string_per_byte(data):
    """Both ways of drawing (per value replaced, or the charmap codec) give each byte its table's string."""
    # typed text (replaced per value) and binary data (the codec) both come up
    for table in (show._VISIBLE, show._TEXT, show._ECHO_TEXT):
        assert table.draw(data) == "".join(table[b] for b in data)
