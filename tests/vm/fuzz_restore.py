# SPDX-License-Identifier: GPL-2.0
"""Restore fuzzer: mutated real checkpoints straight to CKPT_TTY_IOC_RESTORE.

    python -m tests.vm.fuzz_restore [--seconds S] [--seed N] [--first-case K]

Inside the test VM with the module loaded (tests/vm/test_fuzz_restore.py
runs it; `python -m tests.vm --kernel 6.1-debug -- python -m
tests.vm.fuzz_restore --seconds 1800` for a long run).  Each case takes a
seed state (a real checkpoint of a pair in one of many conditions), applies
one to four field-aware mutations (ring positions near every boundary and
wrap, flags, counts, ring and echo-op contents, termios bits, record and
part sizes) or draws a random record, mostly with its parts then made as
long as its indices say (so the rules, not the size checks, judge it), and restores it into a new pair or, with ONTO|FORCE, onto
a pair in use.  Every accepted state is then exercised: reads and writes both
ways, echo, flow-control and editing characters, termios changes, flushes,
a checkpoint that must restore again (the kernel takes back every state it
reaches from one it accepted; pending flip data past what restore loads is
refused alone), a hangup and close.

Case K draws from random.Random(f"{seed}:{K}"): a failing case is replayed
with --seed and --first-case.  A kernel hang ends the VM (softlockup_panic
and hung_task_panic in tests/vm/__main__.py); a case that blocks here for
longer than WATCHDOG_SECONDS ends this program with status 3.
"""

from __future__ import annotations

import argparse
import collections
import copy
import errno
import fcntl
import os
import random
import sys
import termios
import threading
import time

from pyctl import _uapi, abi, record
from pyctl.termflags import EXTPROC  # not in Python's termios
from pyctl.lowlevel import Device
from pyctl.pty import open_pty

RING = _uapi.CKPT_TTY_RING_SIZE
U64 = (1 << 64) - 1
WATCHDOG_SECONDS = 30

INDEX_FIELDS = ("read_head", "commit_head", "canon_head", "read_tail", "line_start", "lookahead_count",
                "echo_head", "echo_commit", "echo_mark", "echo_tail")
FLAG_FIELDS = ("flags", "ntty_flags", "pktstatus", "flip_flagged", "ldisc", "column", "canon_column")
TERMIOS_WORDS = ("c_iflag", "c_oflag", "c_cflag", "c_lflag")
# bits that change what N_TTY does with the rings: ICANON, ECHO*, ISIG, IEXTEN, EXTPROC; IXON, IXANY,
# ISTRIP, IUCLC, PARMRK, ICRNL; OPOST, ONLCR; CS8, CREAD, PARENB
INTERESTING_BITS = {"c_lflag": (0o2, 0o10, 0o20, 0o40, 0o100, 0o1000, 0o1, 0o100000, 0o200000, 0o4000),
                    "c_iflag": (0o2000, 0o4000, 0o40, 0o1000, 0o10, 0o400, 0o20000),
                    "c_oflag": (0o1, 0o4),
                    "c_cflag": (0o60, 0o200, 0o400, 0o4000000000)}
CONTROL_BYTES = b"\x03\x04\x08\x0a\x0d\x11\x13\x15\x16\x17\x12\x1a\x7f\xff\t\x80\x81\x82"


# ---- seed states: real checkpoints of pairs in many conditions ----

def _settle() -> None:
    time.sleep(0.02)


def _attrs(fd, lflag_on=0, lflag_off=0, iflag_on=0, iflag_off=0, cc=None):
    a = termios.tcgetattr(fd)
    a[0] = (a[0] | iflag_on) & ~iflag_off
    a[3] = (a[3] | lflag_on) & ~lflag_off
    for k, v in (cc or {}).items():
        a[6][k] = v
    termios.tcsetattr(fd, termios.TCSANOW, a)


SCENARIOS = {
    "fresh": lambda m, s: None,
    "lines and a partial line": lambda m, s: os.write(m, b"one\ntwo\nhalf li"),
    "edited line": lambda m, s: os.write(m, b"abc\tdef\x7f\x7f\x17xyz"),
    "lnext pending": lambda m, s: os.write(m, b"abc\x16"),
    "raw with data": lambda m, s: (_attrs(s, lflag_off=termios.ICANON | termios.ECHO), os.write(m, b"raw\x00\xff" * 50)),
    "output unread": lambda m, s: os.write(s, b"program output\n" * 40),
    "echo pending": lambda m, s: (_fill(s), os.write(m, b"typed while full\x7f\t\x03")),
    "extproc canonical": lambda m, s: (_attrs(s, lflag_on=EXTPROC), os.write(m, b"ext\nproc"),
                                       _settle(), os.read(s, 3)),
    "stopped by ^S": lambda m, s: (_attrs(s, iflag_on=termios.IXON), os.write(m, b"\x13"), _settle(),
                                   _write(s, b"held")),
    "packet mode": lambda m, s: (fcntl.ioctl(m, 0x5420, b"\x01\0\0\0"), termios.tcflush(s, termios.TCIFLUSH)),
    "ring full": lambda m, s: (_attrs(s, lflag_off=termios.ICANON | termios.ECHO), _fill(m)),
}


def _write(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except (BlockingIOError, OSError):
        pass


def _fill(fd: int) -> None:
    try:
        while os.write(fd, b"x" * 512):
            pass
    except BlockingIOError:
        pass


def seed_states(dev: Device, current: dict) -> list[tuple[str, dict]]:
    seeds = []
    for name, setup in SCENARIOS.items():
        current.update(case=f"seed {name!r}", since=time.monotonic(), what="setting up a seed state")
        m, s = open_pty()
        os.set_blocking(m, False)  # a full or stopped terminal answers EAGAIN, never blocks us
        os.set_blocking(s, False)
        try:
            setup(m, s)
            _settle()
            seeds.append((name, dev.checkpoint(m)))
        finally:
            os.close(m)
            os.close(s)
    return seeds


# ---- mutations ----

def _near(rng: random.Random, base: int) -> int:
    delta = rng.choice((0, 1, -1, 2, -2, 3, RING - 1, RING, RING + 1, -RING, 256, 288, 1 << 32, 1 << 40,
                        1 << 62, 1 << 63, -(1 << 40), rng.randrange(-RING, RING)))
    return (base + delta) & U64


def mutate_index(rng, pair, end):
    e = pair[end]
    name = rng.choice(INDEX_FIELDS)
    anchor = e[rng.choice(INDEX_FIELDS)] if rng.random() < 0.7 else rng.choice((0, 1 << 62, U64, rng.getrandbits(64)))
    e[name] = _near(rng, anchor)
    return f"{end}.{name}={e[name]:#x}"


def mutate_flags(rng, pair, end):
    e = pair[end]
    name = rng.choice(FLAG_FIELDS)
    e[name] ^= 1 << rng.randrange(32 if name in ("column", "canon_column", "flags") else 8)
    return f"{end}.{name}^={e[name]:#x}"


def mutate_termios(rng, pair, end):
    t = pair[end][rng.choice(("termios", "termios", "termios_locked"))]
    word = rng.choice(TERMIOS_WORDS)
    bit = rng.choice(INTERESTING_BITS[word]) if rng.random() < 0.8 else 1 << rng.randrange(32)
    t[word] ^= bit
    if rng.random() < 0.3:
        cc = bytearray(t["c_cc"])
        cc[rng.randrange(len(cc))] = rng.choice(CONTROL_BYTES + bytes([0, 1, 255]))
        t["c_cc"] = bytes(cc)
    return f"{end}.termios.{word}^={bit:#o}"


def mutate_ring(rng, pair, end):
    e = pair[end]
    name = rng.choice(("input", "echo", "line_ends"))
    buf = bytearray(e[name])
    if not buf:
        return f"{end}.{name} (empty)"
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(buf)) if rng.random() < 0.5 else rng.choice((0, len(buf) - 1))
        buf[pos] = rng.choice(CONTROL_BYTES) if rng.random() < 0.6 else rng.getrandbits(8)
    e[name] = bytes(buf)
    return f"{end}.{name}"


def mutate_flip(rng, pair, end):
    e = pair[end]
    choice = rng.randrange(4)
    if choice == 0:
        n = rng.choice((0, 1, 255, 256, 4096, _uapi.CKPT_TTY_FLIP_RESTORE_MAX, _uapi.CKPT_TTY_FLIP_RESTORE_MAX + 1,
                        _uapi.CKPT_TTY_FLIP_MAX, _uapi.CKPT_TTY_FLIP_MAX + 1))
        e["flip_count"] = n
        data = bytearray(b"z" * min(n, _uapi.CKPT_TTY_FLIP_MAX))
        data[:min(n, 64)] = bytes(rng.choice(CONTROL_BYTES) for _ in range(min(n, 64)))
        e["flip_data"] = bytes(data)
    elif choice == 1:
        e["flip_lookahead"] = rng.choice((0, 1, e["flip_count"], e["flip_count"] + 1))
        e["lookahead_count"] = e["flip_lookahead"] if rng.random() < 0.7 else rng.getrandbits(20)
    elif choice == 2:
        e["flip_flagged"] = 1
        e["flip_flags"] = bytes(rng.randrange(6) for _ in range(min(e["flip_count"], _uapi.CKPT_TTY_FLIP_MAX)))
    elif e["flip_data"]:
        data = bytearray(e["flip_data"])
        data[rng.randrange(len(data))] = rng.getrandbits(8)
        e["flip_data"] = bytes(data)
    return f"{end}.flip#{choice}"


def mutate_misc(rng, pair, end):
    e = pair[end]
    name = rng.choice(("ws_row", "ws_col", "pad", "reserved", "data_size", "record.size", "record.error",
                       "record.reserved", "record.index"))
    if name == "pad":
        e["termios"]["pad"] = bytes([1, 0, 0, 0])
    elif name == "reserved":
        e["reserved"] = (0,) * 3 + (1,)
    elif name == "data_size":  # the parts stay; the header lies about them
        e["data_size"] = rng.choice((0, 8, 4096, rng.getrandbits(32)))
        pair["sizes_as_given"] = True
    elif name == "record.size":
        pair["size"] = rng.choice((0, 8, 32, 33, _uapi.CKPT_TTY_RECORD_MAX + 8, rng.getrandbits(32)))
        pair["sizes_as_given"] = True
    elif name == "record.error":
        pair["error"] = rng.choice((-1, -22, 1))
    elif name == "record.reserved":
        pair["reserved"] = 1
    elif name == "record.index":
        pair["index"] = rng.getrandbits(32)
    else:
        e[name] = rng.getrandbits(16)
    return f"{end}.{name}"


def encode(pair: dict) -> bytearray:
    """The record's bytes, with the sizes a mutation made up if it made some."""
    fields = {k: v for k, v in pair.items() if k != "sizes_as_given"}
    return record.encode(fields, keep_sizes=pair.get("sizes_as_given", False))


def fit_parts(pair: dict) -> None:
    """Make each end's parts as long as its indices say, where they can be: the
    rules then see the state, not a size mismatch (which a few cases keep)."""
    for end in ("master", "slave"):
        e = pair[end]
        n = (e["read_head"] - e["read_tail"]) & U64
        if n <= RING:
            e["input"] = (e["input"] + b"x" * n)[:n]
            bits = bytearray((e["line_ends"] + bytes(n))[: (n + 7) // 8])
            if n % 8:
                bits[-1] &= (1 << (n % 8)) - 1
            e["line_ends"] = bytes(bits)
        n = (e["echo_head"] - e["echo_tail"]) & U64
        if n <= RING:
            e["echo"] = (e["echo"] + b"e" * n)[:n]
        n = e["flip_count"]
        if n <= _uapi.CKPT_TTY_FLIP_MAX:
            e["flip_data"] = (e["flip_data"] + b"z" * n)[:n]
            if e["flip_flagged"]:
                e["flip_flags"] = ((e["flip_flags"] or b"") + bytes(n))[:n]
        e["flip_flags"] = e["flip_flags"] if e["flip_flagged"] else None


MUTATORS = (mutate_index, mutate_index, mutate_index, mutate_flags, mutate_termios, mutate_termios,
            mutate_ring, mutate_flip, mutate_misc)


def empty_record() -> dict:
    """A record with both ends zero and no data."""
    pair = {"index": 0}
    for end in ("master", "slave"):
        pair[end] = abi.zeroed("ckpt_tty_end")
        pair[end].update(input=b"", line_ends=b"", echo=b"", flip_data=b"", flip_flags=None)
    return pair


def random_structure(rng: random.Random) -> dict:
    pair = empty_record()
    for end in ("master", "slave"):
        for _ in range(rng.randint(1, 12)):
            rng.choice(MUTATORS)(rng, pair, end)
    return pair


# ---- exercising an accepted state ----

def _drain(fd: int, limit: int = 64) -> int:
    got = 0
    for _ in range(limit):
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        got += len(chunk)
    return got


def exercise(rng: random.Random, dev: Device, m: int, s: int, log: list[str]) -> None:
    """Use the pair as programs would; every call is non-blocking and must return."""
    for fd in (m, s):
        os.set_blocking(fd, False)
    corner = _in_a_corner(s)
    for step in range(rng.randint(4, 12)):
        op = rng.randrange(9)
        log.append(f"op{op}")
        corner = corner or _in_a_corner(s)
        if op == 0:
            _drain(m), _drain(s)
        elif op == 1:
            _write(m, bytes(rng.choice(CONTROL_BYTES + b"abc \n") for _ in range(rng.randint(1, 40))))
        elif op == 2:
            _write(s, bytes(rng.choice(CONTROL_BYTES + b"out \n") for _ in range(rng.randint(1, 200))))
        elif op == 3:
            a = termios.tcgetattr(s)
            a[3] ^= rng.choice((termios.ICANON, termios.ECHO, EXTPROC, termios.ISIG, termios.ECHOCTL))
            a[0] ^= rng.choice((0, termios.IXON, termios.ISTRIP, termios.IXANY))
            termios.tcsetattr(s, termios.TCSANOW, a)
            corner = corner or _in_a_corner(s)
        elif op == 4:
            termios.tcflush(rng.choice((m, s)), rng.choice((termios.TCIFLUSH, termios.TCOFLUSH, termios.TCIOFLUSH)))
        elif op == 5:
            termios.tcflow(s, rng.choice((termios.TCOOFF, termios.TCOON, termios.TCIOFF, termios.TCION)))
        elif op == 6:
            for fd, req in ((s, 0x541B), (m, 0x541B), (s, 0x5411)):  # TIOCINQ, TIOCOUTQ
                fcntl.ioctl(fd, req, b"\0" * 4)
        elif op == 7:
            _settle()
        else:
            # the kernel takes back what it reached from a state it accepted
            try:
                raw = dev.checkpoint(m)
            except OSError as e:
                if e.errno == errno.EOVERFLOW and corner:
                    log.append("corner")  # n_tty left its ring on its own (kmod/INVARIANTS.md): no checkpoint
                    return
                raise AssertionError(f"checkpoint of a state reached from an accepted one failed: {e}; "
                                     f"termios {termios.tcgetattr(s)[:4]}") from None
            clipped = _flip_clipped(raw)
            if clipped is not raw:
                # Restore loads at most CKPT_TTY_FLIP_RESTORE_MAX per end, and a raw writer fills the free
                # room of the last buffer past it (kmod/uapi/linux/ckpt_tty.h): that checkpoint is refused,
                # and all else in it must restore.
                log.append("flip past the restore limit")
                _refused_for_flip_alone(dev, raw)
            m2, s2 = open_pty()
            try:
                dev.restore(m2, _settled(dev, clipped))
            except OSError as e:
                raise AssertionError(f"a state reached from an accepted one was refused: {e}: "
                                     f"{'; '.join(_rules_broken(dev, raw)) or 'pyctl finds nothing'}") from None
            finally:
                os.close(m2)
                os.close(s2)
    _drain(m), _drain(s)
    if rng.random() < 0.3:
        fcntl.ioctl(s, 0x5437)  # TIOCVHANGUP


def _flip_clipped(pair: dict) -> dict:
    """``pair`` with each end's pending flip data cut to what restore loads (itself when no end has more)."""
    limit = _uapi.CKPT_TTY_FLIP_RESTORE_MAX
    if all(pair[end]["flip_count"] <= limit for end in ("master", "slave")):
        return pair
    pair = copy.deepcopy(pair)
    for end in ("master", "slave"):
        e = pair[end]
        if e["flip_count"] > limit:
            e.update(flip_count=limit, flip_lookahead=min(e["flip_lookahead"], limit),
                     flip_data=e["flip_data"][:limit],
                     flip_flags=None if e["flip_flags"] is None else e["flip_flags"][:limit])
    return pair


def _refused_for_flip_alone(dev: Device, pair: dict) -> None:
    """The unclipped record is refused with EINVAL, and changes nothing in the pair it was meant for."""
    m2, s2 = open_pty()
    try:
        before = dev.checkpoint(m2)
        try:
            dev.restore(m2, _settled(dev, pair))
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise AssertionError(f"more flip data than restore loads: {e}, not EINVAL") from None
        else:
            raise AssertionError("restore took more flip data than CKPT_TTY_FLIP_RESTORE_MAX")
        if dev.checkpoint(m2) != before:
            raise AssertionError("a refused restore changed the pair")
    finally:
        os.close(m2)
        os.close(s2)


def _in_a_corner(s: int) -> bool:
    """Termios under which n_tty leaves its ring on its own (kmod/INVARIANTS.md): ICANON|PARMRK
    (each 0xff stored twice in overflow mode: more than the ring) and ICANON|EXTPROC (KILL with
    ISTRIP or IUCLC, or a receive that filled the ring, puts read_head behind read_tail).  A
    checkpoint there fails with EOVERFLOW."""
    iflag, _, _, lflag = termios.tcgetattr(s)[:4]
    return bool(lflag & termios.ICANON and (iflag & termios.PARMRK or lflag & EXTPROC))


def _settled(dev: Device, pair: dict) -> dict | bytes:
    """The checkpoint as pyctl.restore sends it: n_tty's one echo_mark lag settled."""
    from pyctl import reachable
    from pyctl.ckpt import image_to_kernel, kernel_to_image

    info = dev.info()
    p = kernel_to_image(pair, info).pairs[0]
    settled = reachable.settle(p)
    return pair if settled is p else image_to_kernel(settled)


def _rules_broken(dev: Device, pair: dict) -> list[str]:
    """What pyctl.reachable (the kernel's rules, in Python) says of a refused state."""
    from pyctl import reachable
    from pyctl.ckpt import kernel_to_image

    image = kernel_to_image(pair, dev.info())
    return reachable.pair_problems(reachable.settle(image.pairs[0]), "pair")


def _onto_target(rng: random.Random) -> tuple[int, int]:
    m, s = open_pty()
    os.set_blocking(m, False)
    _write(m, b"in use\nhalf" if rng.random() < 0.5 else b"")
    _write(s, b"output" * rng.randint(0, 300))
    return m, s


# ---- the run ----

class Stats:
    def __init__(self) -> None:
        self.cases = self.accepted = 0
        self.refused: collections.Counter = collections.Counter()

    def line(self) -> str:
        refused = ", ".join(f"{errno.errorcode.get(k, k)} {v}" for k, v in sorted(self.refused.items()))
        return f"executions {self.cases}, accepted {self.accepted}, refused: {refused or 'none'}"


def kernel_splats() -> int:
    from tests.vm.__main__ import _read_kmsg, find_splats

    return len(find_splats(_read_kmsg()))


def run(seconds: float, seed: int, first: int = 0, out=sys.stdout) -> Stats:
    stats = Stats()
    current = {"case": None, "since": time.monotonic()}

    def watchdog():
        while True:
            time.sleep(1)
            case = current["case"]
            if case is not None and time.monotonic() - current["since"] > WATCHDOG_SECONDS:
                print(f"fuzz: case {case} blocked for {WATCHDOG_SECONDS} s: {current.get('what')}", file=out,
                      flush=True)
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    with Device() as dev:
        seeds = seed_states(dev, current)
        print(f"fuzz: seed {seed}, {len(seeds)} seed states, {seconds:.0f} s", file=out, flush=True)
        end = time.monotonic() + seconds
        k = first
        while time.monotonic() < end:
            rng = random.Random(f"{seed}:{k}")
            if rng.random() < 0.05:
                name, pair, what = "random", random_structure(rng), ["random structure"]
            else:
                name, base = rng.choice(seeds)
                pair = copy.deepcopy(base)
                what = [rng.choice(MUTATORS)(rng, pair, rng.choice(("master", "slave")))
                        for _ in range(rng.randint(1, 4))]
            if rng.random() < 0.9:
                fit_parts(pair)
            onto = rng.random() < 0.3
            current.update(case=k, since=time.monotonic(), what=f"{name}: {', '.join(what)}, onto={onto}")
            m, s = _onto_target(rng) if onto else open_pty()
            try:
                flags = _uapi.CKPT_TTY_RESTORE_ONTO | _uapi.CKPT_TTY_RESTORE_FORCE if onto else 0
                if onto and rng.random() < 0.5:  # as pyctl criu's hook: hung-up ends of the record hang up
                    flags |= _uapi.CKPT_TTY_RESTORE_HANGUP
                try:
                    dev.restore(m, encode(pair), flags)
                except OSError as e:
                    stats.refused[e.errno] += 1
                else:
                    stats.accepted += 1
                    log: list[str] = []
                    try:
                        exercise(rng, dev, m, s, log)
                    except AssertionError as e:
                        print(f"fuzz: case {k} ({current['what']}; {' '.join(log)}): {e}", file=out, flush=True)
                        raise
                    if log[-1:] == ["corner"]:
                        print(f"fuzz: case {k} ({current['what']}; {' '.join(log)}): EOVERFLOW, no checkpoint "
                              "after termios under which n_tty leaves its ring on its own", file=out, flush=True)
            finally:
                os.close(m)
                os.close(s)
            stats.cases += 1
            k += 1
            if stats.cases % 500 == 0:
                print(f"fuzz: case {k}: {stats.line()}", file=out, flush=True)
        current["case"] = None
    print(f"fuzz: {stats.line()}; kernel splats {kernel_splats()}", file=out, flush=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--first-case", type=int, default=0)
    args = parser.parse_args(argv)
    stats = run(args.seconds, args.seed, args.first_case)
    return 1 if kernel_splats() or not stats.accepted else 0


if __name__ == "__main__":
    sys.exit(main())
