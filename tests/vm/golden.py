# SPDX-License-Identifier: GPL-2.0
"""Golden images: pty states checkpointed on each kernel of the matrix, kept in images/golden/.

Each scenario puts a fresh pair into one state and checkpoints it.  Then it
observes the original pair the way a user would, to the end: tcgetattr,
TIOCGWINSZ, TIOCINQ and the other ioctls, then a scenario-specific
completion typed into the master, then every read() on both sides with its
boundaries.  Image and observations are saved side by side; the VM test
(tests/vm/test_golden.py) restores each image, on every kernel, makes the
same observations on the restored pair and requires the same answers.

Regenerate (overwrites images/golden/<kernel>/):

    make golden            # or, for one kernel:
    python -m tests.vm --kernel 6.12 --rwdir images/golden -- python -m tests.vm.golden images/golden/6.12
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import termios
from pathlib import Path

import pyctl
from pyctl.termflags import BOTHER, CIBAUD, EXTPROC, IUTF8  # not in Python's termios

from .ttyutil import (TIOCEXCL, TIOCPKT, Pairs, get_termios2, observable, raw_mode, reads, set_termios2,
                      set_winsize, settle)

TIOCSLCKTRMIOS, TIOCGLCKTRMIOS = 0x5457, 0x5456  # include/uapi/asm-generic/ioctls.h
GOLDEN = Path(__file__).resolve().parents[2] / "images" / "golden"


def _cooked(m: int, s: int) -> None:
    pass  # a new pty's slave is cooked: ICANON, ECHO, ISIG, IEXTEN, ICRNL, OPOST|ONLCR


def half_line(m: int, s: int) -> bytes:
    """A complete line and a half-typed one, echo not yet read by the terminal."""
    os.write(m, b"first line\nhello wor")
    return b"ld\n"


def output_unread(m: int, s: int) -> bytes:
    """Program output the terminal has not read, and a prompt without newline."""
    os.write(s, b"result: 42\nprompt> ")
    return b""


def edited_line(m: int, s: int) -> bytes:
    """Erase, word erase, kill and tab: pending echo holds N_TTY's erase opcodes."""
    attrs = termios.tcgetattr(s)
    attrs[3] |= termios.ECHOE | termios.ECHOK | termios.ECHOCTL | termios.ECHOKE
    termios.tcsetattr(s, termios.TCSANOW, attrs)
    os.write(m, b"abc\tdef\x7f\x7f\x17one two\x17three\x15again\tx\x7f")
    return b" done\n"


def lnext_pending(m: int, s: int) -> bytes:
    """^V typed last: the next byte is literal, even ^C."""
    os.write(m, b"literal \x16")
    return b"\x03 end\n"


def raw_vmin(m: int, s: int) -> bytes:
    """Non-canonical with VMIN 3, VTIME 5: two bytes waiting for the third."""
    raw_mode(s, vmin=3, vtime=5)
    os.write(m, b"\x1b[")
    return b"A"


def eof_pushed(m: int, s: int) -> bytes:
    """^D in the middle of a line pushes it without a newline; then an empty ^D line."""
    os.write(m, b"no newline\x04\x04next")
    return b"\n"


def packet_flushed(m: int, s: int) -> bytes:
    """Packet mode on the master with a FLUSHREAD status pending, then data."""
    fcntl.ioctl(m, TIOCPKT, (1).to_bytes(4, "little"))
    os.write(m, b"dropped")
    settle()
    termios.tcflush(s, termios.TCIFLUSH)
    os.write(s, b"after flush")
    return b""


def modes_and_sizes(m: int, s: int) -> bytes:
    """Unusual termios, BOTHER speeds, pixels, TIOCEXCL, a locked pty and locked termios."""
    iflag, oflag, cflag, lflag, line, cc, _, _ = get_termios2(s)
    cc = bytearray(cc)
    cc[termios.VINTR], cc[termios.VEOL], cc[termios.VEOL2] = 0x07, ord("!"), 0xE9
    set_termios2(s, iflag | IUTF8 | termios.IMAXBEL, oflag & ~termios.ONLCR | termios.OCRNL,
                 # BOTHER in CIBAUD too, or the kernel takes the output speed for input
                 (cflag & ~(termios.CBAUD | CIBAUD | termios.CSIZE)) | BOTHER | BOTHER << 16 | termios.CS7
                 | termios.PARENB,
                 lflag | EXTPROC, line, bytes(cc), 123457, 98765)
    set_winsize(m, 50, 132, 1320, 1000)
    fcntl.ioctl(s, TIOCEXCL)
    fcntl.ioctl(s, TIOCSLCKTRMIOS, _kernel_termios(0, 0, termios.CSIZE, termios.ICANON))
    os.write(m, b"eol!after eol\xe9tail")
    return b"\n"


def _kernel_termios(iflag: int, oflag: int, cflag: int, lflag: int) -> bytes:
    """struct termios (include/uapi/asm-generic/termbits.h) for TIOCSLCKTRMIOS."""
    import struct

    return struct.pack("=4IB19s", iflag, oflag, cflag, lflag, 0, bytes(19))


def ring_full(m: int, s: int) -> bytes:
    """Raw slave, 6000 bytes sent: the ring holds 4095, the rest waits in the flip buffer."""
    raw_mode(s)
    attrs = termios.tcgetattr(s)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(s, termios.TCSANOW, attrs)
    data = bytes((i * 7 + i // 251) % 256 for i in range(6000))
    os.set_blocking(m, False)
    sent = 0
    while sent < len(data):
        try:
            sent += os.write(m, data[sent:])
        except BlockingIOError:
            break
    os.set_blocking(m, True)
    settle()
    return b""


def output_flooded(m: int, s: int) -> bytes:
    """The program wrote until the terminal's side was full (ring and flip buffer); a line typed then is
    echoed behind all of it."""
    os.set_blocking(s, False)
    try:
        while True:
            os.write(s, b"o" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(s, True)
    settle()
    os.write(m, b"typed\n")
    return b""


SCENARIOS = {f.__name__.replace("_", "-"): f for f in (
    half_line, output_unread, edited_line, lnext_pending, raw_vmin, eof_pushed, packet_flushed, modes_and_sizes,
    ring_full, output_flooded)}


def _text(data: bytes) -> str:
    return data.decode("latin-1")


def observe(m: int, s: int, completion: bytes) -> dict:
    """What a user sees of the pair from now on; consumes it.

    The master is never canonical, so how its output splits into read()s
    depends on when the flush worker ran; it is compared as one stream
    unless packet mode makes every read() one packet.
    """
    settle()
    state = observable(m, s)
    for name, fd in (("master", m), ("slave", s)):
        state[f"{name} locked termios"] = fcntl.ioctl(fd, TIOCGLCKTRMIOS, bytes(36))
    state = json.loads(json.dumps(state, default=_text))  # tuples become lists, bytes text
    packet = state["pkt"]
    if completion:
        os.write(m, completion)
    slave = [_text(b) for b in reads(s)]
    master = reads(m)
    return {"state": state, "completion": _text(completion), "slave reads": slave,
            "master output": [_text(b) for b in master] if packet else _text(b"".join(master))}


def make(name: str, pairs: Pairs) -> tuple[bytes, dict]:
    m, s = pairs.new()
    completion = SCENARIOS[name](m, s)
    settle()
    data = pyctl.checkpoint(m).dumps()
    return data, observe(m, s, completion)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write golden images of every scenario (run in the test VM).")
    parser.add_argument("out", type=Path, help="directory, e.g. images/golden/6.12")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in [*args.out.glob("*.img"), *args.out.glob("*.json")]:
        old.unlink()
    pairs = Pairs()
    try:
        for name in SCENARIOS:
            data, seen = make(name, pairs)
            (args.out / f"{name}.img").write_bytes(data)
            (args.out / f"{name}.json").write_text(json.dumps(seen, indent=1, sort_keys=True) + "\n")
            print(f"{args.out / name}.img: {len(data)} bytes")
    finally:
        pairs.close()
    (args.out / "KERNEL").write_text(os.uname().release + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
