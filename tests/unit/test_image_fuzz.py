# SPDX-License-Identifier: GPL-2.0
"""Image format v1 parser, fuzzed: pyctl.loads() is total.

Whatever bytes it is given, loads() either raises ImageError or returns an
Image whose dumps() gives back exactly those bytes; it never raises anything
else, never hangs and never allocates what a length field merely claims.
Hypothesis feeds it random valid images (built from the dataclasses, checked
to round-trip), arbitrary bytes, and valid images mutated both crudely (bit
flips, truncation, bytes inserted; the checksums catch these) and carefully:
a field, a flag, a length or the order of sections changed and every CRC
recomputed, so that the change reaches the parser's field checks.

The helpers here encode sections from images/FORMAT.md themselves rather
than with pyctl.image's private functions, so a bug in those is not copied
into the expected bytes.

CKPT_TTY_FUZZ_EXAMPLES sets the number of examples of every test (the
defaults keep the file under a minute on a busy machine).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import os
import signal
import struct
import time
import tracemalloc
import zlib
from typing import List, Optional

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import pyctl
from pyctl import image as img
from pyctl.image import FLIP_RESTORE_MAX, Constants, End, Image, ImageError, Pair, Termios, Winsize
from pyctl.termflags import EXTPROC, ICANON

# ---- images/FORMAT.md, restated ----

MAGIC = b"\x89CKPTTY\n"
SKIPPABLE = 0x1
SOURCE, CONSTANTS, PAIR = 1, 2, 3
PTY, END, DEVPTS = 16, 17, 18
TERMIOS, TERMIOS_LOCKED, WINSIZE, TTY, NTTY, INPUT, ECHO, FLIP = range(32, 40)
KNOWN = (SOURCE, CONSTANTS, PAIR, PTY, END, DEVPTS, TERMIOS, TERMIOS_LOCKED, WINSIZE, TTY, NTTY, INPUT, ECHO, FLIP)
TTY_PTY_LOCK, TTY_STOPPED, TTY_TCO_STOPPED, TTY_PACKET = 1 << 1, 1 << 4, 1 << 5, 1 << 6
NTTY_ICANON = 1 << 3

# (offset, size) of each fixed-position field of a payload; for END, of its role and pad.
FIELDS = {
    SOURCE: [(0, 8), (8, 2)],
    CONSTANTS: [(4 * i, 4) for i in range(7)] + [(28, 8)],
    PTY: [(0, 4)],
    END: [(0, 1), (1, 1), (2, 1), (3, 1)],
    TERMIOS: [(4 * i, 4) for i in range(6)] + [(24, 1), (25, 1)],
    TERMIOS_LOCKED: [(4 * i, 4) for i in range(6)] + [(24, 1), (25, 1)],
    WINSIZE: [(2 * i, 2) for i in range(4)],
    TTY: [(0, 4), (4, 4)],
    NTTY: [(0, 4), (4, 4), (8, 4)] + [(12 + 8 * i, 8) for i in range(8)],
    INPUT: [(0, 4)],
    ECHO: [],
    FLIP: [(0, 4), (4, 4), (8, 1)],
}
# Fields that say how many bytes follow: release_len, INPUT.count, FLIP.count.
COUNT_FIELDS = [(SOURCE, 8, 2), (INPUT, 0, 4), (FLIP, 0, 4)]

# ---- settings: modest by default, more with CKPT_TTY_FUZZ_EXAMPLES ----

_EXAMPLES = os.environ.get("CKPT_TTY_FUZZ_EXAMPLES")
DEADLINE = datetime.timedelta(seconds=3)  # per example; parsing a few KB takes about a millisecond
HARD_LIMIT = 10.0  # seconds one loads() may run before SIGALRM ends it as a hang


def fuzz(default: int):
    return settings(max_examples=int(_EXAMPLES) if _EXAMPLES else default, deadline=DEADLINE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class Hang(AssertionError):
    pass


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "loads()"):
    """Interrupt the block with Hang after ``seconds`` (a hypothesis deadline only fails an example that returns)."""
    def alarm(signum, frame):
        raise Hang(f"{what} still running after {seconds} s")

    try:
        old = signal.signal(signal.SIGALRM, alarm)
    except ValueError:  # not the main thread: no alarm, the deadline still applies
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def first_difference(a: bytes, b: bytes) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"first difference at byte {n} of {len(a)} (dumps) / {len(b)} (input): " \
           f"{a[n:n + 16].hex()} vs {b[n:n + 16].hex()}"


def refused_or_identical(data: bytes) -> Optional[Image]:
    """The totality property: ImageError, or an Image that encodes back to ``data`` byte for byte."""
    data = bytes(data)
    try:
        with time_limit(HARD_LIMIT):
            image = pyctl.loads(data)
    except ImageError as e:
        note(f"refused: {e}")
        return None
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001 - the point of the test
        raise AssertionError(f"loads() raised {type(e).__name__} instead of ImageError: {e!r}") from e
    again = image.dumps()
    assert again == data, "accepted, but dumps() differs: " + first_difference(again, data)
    return image


def refused(data: bytes) -> ImageError:
    try:
        with time_limit(HARD_LIMIT):
            pyctl.loads(bytes(data))
    except ImageError as e:
        return e
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"loads() raised {type(e).__name__} instead of ImageError: {e!r}") from e
    raise AssertionError("loads() accepted an image it must refuse")


# ---- sections as a tree, resealed with valid checksums ----

@dataclasses.dataclass
class Node:
    """One section.  ``payload`` is a leaf's payload, or what precedes a container's sections
    (END's role and pad; nothing for PAIR).  ``length`` overrides the length field (a lie)."""

    type: int
    flags: int
    payload: bytes = b""
    children: Optional[List[Node]] = None
    length: Optional[int] = None

    def encode(self) -> bytes:
        payload = self.payload
        if self.children is not None:
            payload += b"".join(c.encode() for c in self.children)
        head = struct.pack("<HHI", self.type, self.flags, len(payload) if self.length is None else self.length)
        return head + payload + struct.pack("<I", zlib.crc32(head + payload))


def split(payload: bytes) -> List[Node]:
    """The sections of a well-formed payload, PAIR and END opened up."""
    out, pos = [], 0
    while pos < len(payload):
        type_, flags, length = struct.unpack_from("<HHI", payload, pos)
        body = payload[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if type_ == PAIR:
            out.append(Node(type_, flags, b"", split(body)))
        elif type_ == END:
            out.append(Node(type_, flags, body[:4], split(body[4:])))
        else:
            out.append(Node(type_, flags, body))
    return out


def seal(sections: List[Node], count: Optional[int] = None, version: int = 1, flags: int = 0,
         body_length: Optional[int] = None, magic: bytes = MAGIC) -> bytes:
    """A header with correct checksums over ``sections`` (count and length as given, or true)."""
    body = b"".join(s.encode() for s in sections)
    head = struct.pack("<8sHHIQI", magic, version, flags, len(sections) if count is None else count,
                       len(body) if body_length is None else body_length, zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def tree(data: bytes) -> List[Node]:
    return split(data[32:])


def levels(sections: List[Node]) -> List[List[Node]]:
    """Every list of sibling sections: the top level, each PAIR's and each END's."""
    out = [sections]
    for s in sections:
        if s.children is not None:
            out += levels(s.children)
    return out


def nodes(sections: List[Node]) -> List[Node]:
    return [s for level in levels(sections) for s in level]


def put(payload: bytes, offset: int, size: int, value: int) -> bytes:
    return payload[:offset] + (value & (1 << 8 * size) - 1).to_bytes(size, "little") + payload[offset + size :]


# ---- random valid images ----

U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
UNKNOWN_TYPE = st.integers(0, 0xFFFF).filter(lambda t: t not in KNOWN)
LFLAG = st.one_of(U32, st.sampled_from([0, ICANON, ICANON | EXTPROC, EXTPROC, 0o105073, 0o105073 | EXTPROC]))


def termios(draw, nccs: int, lflag: int, line: int) -> Termios:
    return Termios(draw(U32), draw(U32), draw(U32), lflag, draw(U32), draw(U32), line,
                   draw(st.binary(min_size=nccs, max_size=nccs)))


def offsets_below(draw, limit: int, data: bytes) -> frozenset:
    """Line ends before ``limit``: none, the newlines, every byte, or a random mask."""
    if limit <= 0:
        return frozenset()
    kind = draw(st.sampled_from(["none", "newlines", "all", "random"]))
    if kind == "newlines":
        return frozenset(i for i in range(limit) if data[i] in (0, 10))
    if kind == "all":
        return frozenset(range(limit))
    if kind == "random":
        mask = draw(st.integers(0, (1 << limit) - 1))
        return frozenset(i for i in range(limit) if mask >> i & 1)
    return frozenset()


def extras(draw, known: int) -> tuple:
    """Kept unknown skippable sections, if this pyctl keeps them (Image.extra and friends)."""
    extra_cls = getattr(img, "Extra", None)
    if extra_cls is None or not draw(st.integers(0, 3)) == 0:
        return ()
    items = draw(st.lists(st.tuples(st.integers(0, known), UNKNOWN_TYPE, st.binary(max_size=24)), max_size=3))
    return tuple(extra_cls(pos, type_, SKIPPABLE, payload) for pos, type_, payload in sorted(items, key=lambda x: x[0]))


def with_extra(draw, obj, known: int):
    if any(f.name == "extra" for f in dataclasses.fields(obj)):
        x = extras(draw, known)
        if x:
            obj = dataclasses.replace(obj, extra=x)
    return obj


@st.composite
def ends(draw, c: Constants, master: bool, max_input: int = 300) -> End:
    lflag = draw(LFLAG)
    icanon = bool(lflag & ICANON)
    canon_mode = icanon and not lflag & EXTPROC
    flags = draw(st.integers(0, 127))
    if not master:
        flags &= ~(TTY_PTY_LOCK | TTY_PACKET)
    if flags & TTY_TCO_STOPPED:
        flags |= TTY_STOPPED
    data = draw(st.binary(max_size=min(c.n_tty_buf_size, max_input)))
    n = len(data)
    if canon_mode:  # canon is live, commit stale
        canon, commit = draw(st.integers(0, n)), draw(I64)
    else:
        canon, commit = draw(I64), draw(st.integers(0, n))
    echo = draw(st.binary(max_size=min(c.n_tty_buf_size, 64)))
    flip = draw(st.binary(max_size=min(FLIP_RESTORE_MAX, max_input)))
    flagged = draw(st.booleans())
    e = End(
        termios=termios(draw, c.nccs, lflag, 0),
        termios_locked=termios(draw, c.nccs, draw(U32), draw(st.integers(0, 255))),
        winsize=Winsize(draw(U16), draw(U16), draw(U16), draw(U16)),
        flags=flags,
        pktstatus=draw(st.integers(0, 0x7F)),
        ntty_flags=draw(st.integers(0, 127)) & ~NTTY_ICANON | (NTTY_ICANON if icanon else 0),
        column=draw(U32),
        canon_column=draw(U32),
        read_tail=draw(U64),
        commit=commit,
        canon=canon,
        line_start=draw(I64),
        lookahead_count=draw(st.integers(0, 1 << 20)),
        echo_tail=draw(U64),
        echo_commit=draw(st.integers(0, len(echo))),
        echo_mark=draw(I64),
        input=data,
        line_ends=offsets_below(draw, canon if canon_mode else n, data),
        echo=echo,
        flip=flip,
        flip_flags=bytes(draw(st.lists(st.integers(0, 4), min_size=len(flip), max_size=len(flip))))
        if flagged else None,
        flip_lookahead=draw(st.integers(0, len(flip))),
    )
    return with_extra(draw, e, 8)


@st.composite
def images(draw, max_pairs: int = 4, max_input: int = 300) -> Image:
    c = Constants(
        n_tty_buf_size=draw(st.one_of(st.just(4096), st.integers(0, 31).map(lambda k: 1 << k))),
        nccs=draw(st.one_of(st.just(19), st.integers(1, 255))),
        ncc=draw(U32), bits_per_long=draw(U32), byte_order=draw(U32), ktermios_size=draw(U32),
        n_tty_data_size=draw(U32), n_tty_data_fingerprint=draw(U64),
    )
    pairs = []
    for _ in range(draw(st.integers(1, max_pairs))):
        p = Pair(draw(U32), draw(ends(c, True, max_input)), draw(ends(c, False, max_input)))
        pairs.append(with_extra(draw, p, 3))
    image = Image(draw(st.text(st.characters(codec="utf-8"), max_size=40)), draw(U64), c, pairs)
    return with_extra(draw, image, 2 + len(pairs))


# Mutation tests start from smaller images: the interesting part is the change, not the bulk.
SMALL_IMAGES = images(max_pairs=2, max_input=40)


# ---- 1. valid images round-trip ----

@fuzz(150)
@given(images())
def test_valid_images_round_trip(image):
    image.validate()  # the strategy builds only valid images
    data = image.dumps()
    with time_limit(HARD_LIMIT):
        again = pyctl.loads(data)
    assert again == image
    assert again.dumps() == data
    # and the resealing helper the mutation tests use rebuilds it exactly
    assert seal(tree(data)) == data


# ---- 2. arbitrary bytes ----

@fuzz(300)
@given(st.one_of(
    st.binary(max_size=512),
    st.binary(max_size=512).map(lambda b: MAGIC + b),
    st.binary(max_size=512).map(lambda b: MAGIC + b"\x01\x00\x00\x00" + b),
))
def test_arbitrary_bytes_are_refused_or_round_trip(data):
    refused_or_identical(data)


@st.composite
def random_sections(draw, depth: int = 0) -> Node:
    """Sections with valid checksums but arbitrary types, flags and payloads, nested as PAIR and END nest."""
    type_ = draw(st.one_of(st.sampled_from(KNOWN), UNKNOWN_TYPE))
    flags = draw(st.one_of(st.sampled_from([0, 0, 0, SKIPPABLE, 2, 3]), U16))
    if type_ in (PAIR, END) and depth < 2 and draw(st.booleans()):
        prefix = draw(st.one_of(st.just(b"\0\0\0\0"), st.just(b"\1\0\0\0"), st.binary(max_size=6))) \
            if type_ == END else b""
        children = draw(st.lists(random_sections(depth + 1), max_size=9))
        return Node(type_, flags, prefix, children)
    return Node(type_, flags, draw(st.binary(max_size=80)))


@fuzz(200)
@given(st.lists(random_sections(), max_size=6), st.one_of(st.none(), U32))
def test_arbitrary_sections_with_valid_checksums_are_refused_or_round_trip(sections, count):
    refused_or_identical(seal(sections, count=count))


# ---- 3. mutations of valid images ----

@fuzz(100)
@given(SMALL_IMAGES, st.data())
def test_bit_flips_are_refused(image, data):
    """CRC-32 catches every single-bit error, so each one is refused."""
    good = image.dumps()
    pos = data.draw(st.integers(0, len(good) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    bad = bytearray(good)
    bad[pos] ^= 1 << bit
    refused(bad)


@fuzz(100)
@given(SMALL_IMAGES, st.data())
def test_truncations_are_refused(image, data):
    good = image.dumps()
    refused(good[: data.draw(st.integers(0, len(good) - 1), label="length")])


def top_spans(data: bytes) -> List[tuple]:
    spans, pos = [], 32
    while pos < len(data):
        length = struct.unpack_from("<I", data, pos + 4)[0]
        spans.append((pos, pos + 12 + length))
        pos += 12 + length
    return spans


@fuzz(150)
@given(SMALL_IMAGES, st.data())
def test_raw_byte_mutations_are_refused_or_round_trip(image, data):
    """Bytes inserted, overwritten or deleted, sections duplicated or swapped; no checksum fixed up."""
    buf = bytearray(image.dumps())
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(["insert", "overwrite", "delete", "duplicate", "swap", "append"]), label="op")
        pos = data.draw(st.integers(0, len(buf)), label="pos")
        if op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif op == "overwrite":
            chunk = data.draw(st.binary(min_size=1, max_size=16))
            buf[pos : pos + len(chunk)] = chunk
        elif op == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 16))]
        elif op == "append":
            buf += data.draw(st.binary(min_size=1, max_size=32))
        else:
            try:
                spans = top_spans(bytes(buf))
            except struct.error:
                continue
            if not spans:
                continue
            a, b = (data.draw(st.sampled_from(spans)) for _ in range(2))
            if op == "duplicate":
                buf[a[1] : a[1]] = buf[a[0] : a[1]]
            elif a != b:
                (a, b) = sorted((a, b))
                if a[1] <= b[0]:
                    buf[a[0] : b[1]] = buf[b[0] : b[1]] + buf[a[1] : b[0]] + buf[a[0] : a[1]]
    refused_or_identical(bytes(buf))


def interesting(size: int):
    top = (1 << 8 * size) - 1
    return st.one_of(
        st.sampled_from([0, 1, 2, 3, 4, 5, 8, 19, 255, 256, 4096, 4097, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1,
                         2**63 - 1, 2**63, 2**64 - 1]).map(lambda v: v & top),
        st.integers(0, top),
    )


def mutate(data, top: List[Node], header: dict) -> None:
    """One checksum-preserving change somewhere in the tree (or the header's fields)."""
    op = data.draw(st.sampled_from(["field", "field", "field", "bytes", "flags", "type", "duplicate", "delete",
                                    "move", "insert_unknown", "insert_known", "length", "header"]), label="op")
    everything = nodes(top)
    if op == "header":
        key = data.draw(st.sampled_from(["count", "version", "flags", "body_length", "magic"]), label="header")
        if key == "count":
            header["count"] = data.draw(interesting(4) | st.integers(0, 12))
        elif key == "body_length":
            header["body_length"] = data.draw(interesting(8))
        elif key == "magic":
            header["magic"] = data.draw(st.binary(min_size=8, max_size=8))
        else:
            header[key] = data.draw(interesting(2))
        return
    if op in ("duplicate", "delete", "move", "insert_unknown", "insert_known"):
        level = data.draw(st.sampled_from(levels(top)), label="level")
        pos = data.draw(st.integers(0, len(level)), label="position")
        if op == "insert_unknown":
            # flags exactly SKIPPABLE would be a legal extension: test_unknown_skippable_... covers that
            flags = data.draw(st.sampled_from([0, 2, 3, 0x8000, 0x8001, 0xFFFF]) | U16.filter(lambda f: f != 1))
            level.insert(pos, Node(data.draw(UNKNOWN_TYPE), flags, data.draw(st.binary(max_size=24))))
        elif op == "insert_known":
            level.insert(pos, Node(data.draw(st.sampled_from(KNOWN)), 0, data.draw(st.binary(max_size=80))))
        elif level:
            k = data.draw(st.integers(0, len(level) - 1), label="which")
            if op == "duplicate":
                level.insert(pos, copy.deepcopy(level[k]))
            elif op == "delete":
                del level[k]
            else:
                moved = level.pop(k)
                level.insert(min(pos, len(level)), moved)
        return
    node = data.draw(st.sampled_from(everything), label="section")
    if op == "field":
        fields = FIELDS.get(node.type, [])
        if not fields:
            return
        offset, size = data.draw(st.sampled_from(fields), label="field")
        if offset + size <= len(node.payload):
            node.payload = put(node.payload, offset, size, data.draw(interesting(size), label="value"))
    elif op == "bytes":
        how = data.draw(st.sampled_from(["overwrite", "insert", "truncate", "append", "replace"]))
        pos = data.draw(st.integers(0, len(node.payload)))
        chunk = data.draw(st.binary(min_size=1, max_size=8))
        if how == "overwrite":
            node.payload = node.payload[:pos] + chunk + node.payload[pos + len(chunk) :]
        elif how == "insert":
            node.payload = node.payload[:pos] + chunk + node.payload[pos:]
        elif how == "truncate":
            node.payload = node.payload[:pos]
        elif how == "append":
            node.payload += chunk
        else:
            node.payload = data.draw(st.binary(max_size=64))
    elif op == "flags":
        node.flags = data.draw(st.sampled_from([SKIPPABLE, 2, 3, 0x8000, 0xFFFF]) | U16, label="flags")
    elif op == "type":
        node.type = data.draw(st.sampled_from(KNOWN) | UNKNOWN_TYPE, label="type")
    elif op == "length":
        node.length = data.draw(interesting(4), label="length")


def no_legal_extensions(top: List[Node]) -> None:
    """Mark unknown sections mandatory, so the general mutation test never builds a legal future image."""
    for n in nodes(top):
        if n.type not in KNOWN and n.flags == SKIPPABLE:
            n.flags = 0


@fuzz(400)
@given(SMALL_IMAGES, st.data())
def test_resealed_mutations_are_refused_or_round_trip(image, data):
    """A field, flag, type, length or section order changed, then every checksum recomputed."""
    top, header = tree(image.dumps()), {}
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mutate(data, top, header)
    no_legal_extensions(top)
    refused_or_identical(seal(top, **header))


@fuzz(300)
@given(SMALL_IMAGES, st.data())
def test_resealed_field_changes_are_refused_or_round_trip(image, data):
    """Just one fixed-position field (counts, offsets, flags, role, pad...) set to an edge value, resealed."""
    top = tree(image.dumps())
    candidates = [n for n in nodes(top) if FIELDS.get(n.type)]
    node = data.draw(st.sampled_from(candidates), label="section")
    offset, size = data.draw(st.sampled_from(FIELDS[node.type]), label="field")
    node.payload = put(node.payload, offset, size, data.draw(interesting(size), label="value"))
    refused_or_identical(seal(top))


def with_unknown_sections(data, top: List[Node], flags: int) -> List[tuple]:
    placed = []
    for _ in range(data.draw(st.integers(1, 4), label="how many")):
        level_no = data.draw(st.integers(0, len(levels(top)) - 1), label="level")
        level = levels(top)[level_no]
        pos = data.draw(st.integers(0, len(level)), label="position")
        type_ = data.draw(UNKNOWN_TYPE, label="type")
        level.insert(pos, Node(type_, flags, data.draw(st.binary(max_size=32), label="payload")))
        placed.append((level_no, pos, type_))
    note(f"inserted (level, position, type): {placed}")
    return placed


def without_extras(obj):
    """The image with any kept unknown sections dropped (Image/Pair/End.extra), for comparison."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: without_extras(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if "extra" in changes:
            changes["extra"] = ()
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, list):
        return [without_extras(x) for x in obj]
    return obj


def test_known_section_types_are_the_parsers():
    """This file spells the section types out from FORMAT.md; "unknown" must mean unknown to pyctl."""
    assert sorted(KNOWN) == sorted(img.SECTION_NAMES)


@fuzz(150)
@given(SMALL_IMAGES.map(without_extras), st.data())
def test_unknown_skippable_sections_are_kept_byte_identical(image, data):
    """A newer writer's skippable sections, at any level and position: a version 1 reader accepts the
    image (FORMAT.md), reads the known part unchanged, and dumps() writes the unknown sections back."""
    top = tree(image.dumps())
    with_unknown_sections(data, top, SKIPPABLE)
    future = seal(top)
    try:
        with time_limit(HARD_LIMIT):
            read = pyctl.loads(future)
    except ImageError as e:
        raise AssertionError(f"a version 1 image with skippable unknown sections was refused: {e}") from e
    assert without_extras(read) == image
    again = read.dumps()
    assert again == future, "unknown skippable sections were not written back: " + first_difference(again, future)


@fuzz(100)
@given(SMALL_IMAGES.map(without_extras), st.data(), st.sampled_from([0, 2, 3, 0x8000, 0x8001, 0xFFFF]))
def test_unknown_mandatory_sections_are_refused(image, data, flags):
    """Unknown sections without SKIPPABLE, or with other flag bits, make an image unreadable."""
    top = tree(image.dumps())
    with_unknown_sections(data, top, flags)
    refused(seal(top))


# ---- 4. lengths that claim gigabytes ----

HUGE32 = st.one_of(st.sampled_from([2**32 - 1, 2**32 - 2, 2**31, 2**31 - 1, 2**30]), st.integers(2**24, 2**32 - 1))


def loads_peak(data: bytes) -> tuple:
    """loads() under tracemalloc: (ImageError or None, peak bytes allocated, seconds)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        error = None
        try:
            with time_limit(HARD_LIMIT):
                pyctl.loads(data)
        except ImageError as e:
            error = e
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return error, peak, elapsed


@fuzz(150)
@given(SMALL_IMAGES, st.data())
def test_oversized_lengths_are_refused_without_allocating(image, data):
    top, header = tree(image.dumps()), {}
    where = data.draw(st.sampled_from(["section length", "count field", "body_length", "section_count"]))
    if where == "section length":
        node = data.draw(st.sampled_from(nodes(top)), label="section")
        node.length = data.draw(HUGE32, label="length")
    elif where == "count field":
        type_, offset, size = data.draw(st.sampled_from(COUNT_FIELDS), label="field")
        node = data.draw(st.sampled_from([n for n in nodes(top) if n.type == type_]), label="section")
        node.payload = put(node.payload, offset, size, 0xFFFF if size == 2 else data.draw(HUGE32, label="count"))
    elif where == "body_length":
        header["body_length"] = data.draw(st.integers(2**30, 2**64 - 1), label="body_length")
    else:
        header["count"] = data.draw(HUGE32, label="section_count")
    bad = seal(top, **header)
    error, peak, elapsed = loads_peak(bad)
    note(f"{where}: peak {peak} bytes, {elapsed:.3f} s, {error}")
    assert error is not None, f"an image whose {where} claims gigabytes was accepted"
    assert peak < 4 * len(bad) + (1 << 20), f"loads() allocated {peak} bytes for a {len(bad)}-byte image"
    assert elapsed < 1.0, f"loads() took {elapsed:.2f} s to refuse a {len(bad)}-byte image"


# ---- 5. time: a large but honest input parses in linear time ----

LARGE_INPUT = 1 << 19  # 512 KiB unread, each byte a line end: a 590 KB image
LINEAR_LIMIT = 3.0  # seconds; linear decoding takes well under one even on a loaded machine


def large_image(n: int) -> Image:
    cc = bytes(19)
    e = End(Termios(cc=cc), Termios(cc=cc), Winsize(), input=b"\n" * n, line_ends=frozenset(range(n)), commit=n)
    m = End(Termios(cc=cc), Termios(cc=cc), Winsize())
    return Image("6.1.0", 0, Constants(1 << 20, 19, 8, 64, 1, 44, 8904, 0), [Pair(0, m, e)])


@pytest.mark.parametrize("dense", [False, True], ids=["no-line-ends", "every-byte-a-line-end"])
def test_large_input_parses_in_linear_time(dense):
    image = large_image(LARGE_INPUT)
    if not dense:
        image.pairs[0].slave.line_ends = frozenset()
    data = image.dumps()
    start = time.perf_counter()
    with time_limit(LINEAR_LIMIT, f"loads() of a {len(data)}-byte image"):
        again = pyctl.loads(data)
    elapsed = time.perf_counter() - start
    assert again == image
    assert elapsed < LINEAR_LIMIT
