#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the offline image tools on a large image; prints figures, asserts nothing.

The target (issue 6): `show` and `decode` of an image holding 1024 pty pairs
with full buffers take under a second.  Each end here holds a full N_TTY ring
of typed lines (4096 bytes), 2048 bytes of pending echo and 8192 bytes of
flip data, so the image is about 30 MB.  Every figure is measured in this
run, side by side with a baseline on the same data (copying the image's bytes
through zlib.crc32 and base64, the least any reader must do), so that a slow
or busy machine shows in both.

    python scripts/bench_image.py [--pairs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyctl import imagejson, loads, show  # noqa: E402
from pyctl.image import Constants, End, Image, Pair, Termios, Winsize  # noqa: E402

CC = bytes([3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0])
COOKED = Termios(0o2400, 0o5, 0o277, 0o105073, 38400, 38400, 0, CC)
RAW = Termios(0, 0, 0o277, 0, 38400, 38400, 0, CC)


def lines(size: int, seed: int) -> tuple[bytes, frozenset[int]]:
    """``size`` bytes of typed lines (the last one partial) and its line ends."""
    out, ends = bytearray(), []
    k = seed
    while len(out) < size:
        k = (k * 1103515245 + 12345) & 0x7FFFFFFF
        line = f"$ make -j{k % 16} check  # run {k}\t{'x' * (k % 40)}\n".encode()
        out += line
        ends.append(len(out) - 1)
    return bytes(out[:size]), frozenset(e for e in ends if e < size)


def big_image(pairs: int) -> Image:
    out = []
    for i in range(pairs):
        data, ends = lines(4096, i)
        slave = End(COOKED, Termios(cc=bytes(19)), Winsize(50, 132, 0, 0), ntty_flags=1 << 3, input=data,
                    line_ends=ends, canon=max(ends) + 1, echo=data[:2048], echo_commit=1024,
                    flip=data[:8192] * 2, flip_lookahead=0)
        master = End(RAW, Termios(cc=bytes(19)), Winsize(50, 132, 0, 0), ntty_flags=3 << 4, input=data.replace(
            b"\n", b"\r"), commit=4096, flip=data * 2)
        out.append(Pair(i, master, slave))
    return Image("6.12.117+deb12-amd64", 1795000000, Constants(4096, 19, 8, 64, 1, 44, 8904, 0x405306E3B86B734B),
                 out)


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs (default: %(default)s)")
    args = parser.parse_args()

    image = big_image(args.pairs)
    data = image.dumps()
    print(f"image: {args.pairs} pairs, {len(data) / 1e6:.1f} MB")
    base, _ = timed(lambda: base64.b64encode(data) and zlib.crc32(data), args.repeat)
    rows = [("baseline: crc32 + base64 of the file", base)]
    load_t, parsed = timed(lambda: loads(data), args.repeat)
    assert parsed == image
    rows.append(("parse (loads)", load_t))
    rows.append(("show (loads + describe)", load_t + timed(lambda: show.describe(parsed), args.repeat)[0]))
    for pretty in (False, True):
        t, text = timed(lambda: json.dumps(imagejson.to_json(parsed, pretty)), args.repeat)
        rows.append((f"decode{' --pretty' if pretty else ''} (loads + JSON)", load_t + t))
        t, back = timed(lambda: imagejson.from_json(json.loads(text)).dumps(), args.repeat)
        assert back == data
        rows.append((f"encode{' of --pretty' if pretty else ''} (JSON -> image)", t))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.img"
        path.write_bytes(data)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        for cmd in (["show"], ["decode"], ["decode", "--pretty"]):
            t, _ = timed(lambda: subprocess.run([sys.executable, "-m", "pyctl", *cmd, str(path)], env=env,
                                                stdout=subprocess.DEVNULL, check=True), args.repeat)
            rows.append((f"python -m pyctl {' '.join(cmd)} (whole command)", t))

    tracemalloc.start()
    json.dumps(imagejson.to_json(loads(data), True))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  seconds  x baseline  of the 1 s budget")
    for name, t in rows:
        print(f"{name:<{width}}  {t:7.3f}  {t / base:10.1f}  {t:6.0%}")
    print(f"peak Python memory of decode --pretty: {peak / 1e6:.0f} MB ({peak / len(data):.1f} x the file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
