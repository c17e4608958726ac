# SPDX-License-Identifier: GPL-2.0
"""Image format v1 on the host: round trips, corruption, validation, conversion."""

import copy
import dataclasses
import io
import struct
import zlib

import pytest

import pyctl
from pyctl import ckpt, image as img, record
from pyctl.image import Constants, End, Image, ImageError, Pair, Termios, Winsize
from pyctl.info import ModuleInfo

CC = bytes([3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0])
SLAVE_TERMIOS = Termios(0o2400, 0o5, 0o277, 0o105073, 38400, 38400, 0, CC)
MASTER_TERMIOS = Termios(0, 0, 0o277, 0, 38400, 38400, 0, CC)


def end(**kw) -> End:
    base = dict(termios=SLAVE_TERMIOS, termios_locked=Termios(cc=bytes(19)), winsize=Winsize(24, 80, 0, 0),
                ntty_flags=1 << 3)
    base.update(kw)
    return End(**base)


def sample(**slave) -> Image:
    fields = dict(read_tail=10, input=b"one\ntwo\nhalf", line_ends=frozenset({3, 7}), canon=8, commit=0,
                  column=4, echo_tail=77, echo=b"\xff\x81ab", echo_commit=2, echo_mark=-3,
                  flip=b"xyz", flip_lookahead=1, lookahead_count=1, line_start=-5)
    fields.update(slave)
    slave_end = end(**fields)
    master_end = end(termios=MASTER_TERMIOS, ntty_flags=1 << 4 | 1 << 5, input=b"one\r\n", commit=5, canon=-9,
                     flags=1 << 6, read_tail=2**64 - 2)
    c = Constants(4096, 19, 8, 64, 1, 44, 8904, 0x405306E3B86B734B)
    # deep copy: callers mutate termios in place, and the Termios constants above are shared
    return copy.deepcopy(Image("6.1.0-56-amd64", 1795000000, c, [Pair(3, master_end, slave_end)]))


def test_round_trip_is_byte_identical():
    data = sample().dumps()
    again = pyctl.loads(data)
    assert again == sample()
    assert again.dumps() == data
    buf = io.BytesIO()
    img.dump(again, buf)
    assert img.load(io.BytesIO(buf.getvalue())) == again


def test_multiple_pairs_and_flagged_flip():
    image = sample(flip_flags=b"\0\1\0")
    image.pairs.append(dataclasses.replace(image.pairs[0], index=9))
    assert pyctl.loads(image.dumps()) == image


def test_every_flipped_byte_is_caught():
    data = sample().dumps()
    for i in range(0, len(data), 7):
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(ImageError):
            pyctl.loads(bytes(bad))


def test_every_truncation_is_caught():
    data = sample().dumps()
    for n in range(0, len(data), 5):
        with pytest.raises(ImageError):
            pyctl.loads(data[:n])


def test_errors_name_the_part_at_fault():
    data = sample().dumps()
    with pytest.raises(ImageError, match="bad magic"):
        pyctl.loads(b"NOTANIMG" + data[8:])
    with pytest.raises(ImageError, match="body: checksum mismatch"):
        pyctl.loads(data[:-1] + bytes([data[-1] ^ 1]))
    future = bytearray(data)
    future[8:10] = struct.pack("<H", 2)
    future[28:32] = struct.pack("<I", zlib.crc32(bytes(future[:28])))
    with pytest.raises(ImageError, match="format version 2; this pyctl reads version 1"):
        pyctl.loads(bytes(future))


def resealed(body: bytes, count: int) -> bytes:
    head = struct.pack("<8sHHIQI", img.MAGIC, 1, 0, count, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def test_unknown_sections_skippable_or_not():
    data = sample().dumps()
    body = data[32:]
    extra_skippable = img._section(500, b"future data", img.SKIPPABLE)
    future = resealed(body + extra_skippable, 4)
    read = pyctl.loads(future)
    assert read.extra == (img.Extra(3, 500, img.SKIPPABLE, b"future data"),)
    assert dataclasses.replace(read, extra=()) == sample()
    assert read.dumps() == future, "a newer writer's sections survive decode and encode"
    with pytest.raises(ImageError, match="unknown section type 500"):
        pyctl.loads(resealed(body + img._section(500, b"future data"), 4))
    with pytest.raises(ImageError, match="unknown section flags 0x3"):
        pyctl.loads(resealed(body + img._section(500, b"future data", 3), 4))


def test_unknown_sections_kept_at_every_level():
    image = sample()
    image.extra = (img.Extra(0, 600, 1, b"first"), img.Extra(3, 601, 1, b""))
    image.pairs[0].extra = (img.Extra(1, 602, 1, b"after PTY"),)
    image.pairs[0].slave.extra = (img.Extra(8, 603, 1, b"after FLIP"), img.Extra(8, 604, 1, b"x"))
    data = image.dumps()
    assert pyctl.loads(data) == image and pyctl.loads(data).dumps() == data
    image.pairs[0].slave.extra = (img.Extra(9, 603, 1, b""),)
    with pytest.raises(ImageError, match="position 9"):
        image.validate()
    image.pairs[0].slave.extra = (img.Extra(1, img.TTY, 1, b""),)
    with pytest.raises(ImageError, match="not an unknown type"):
        image.validate()


def test_non_canonical_encodings_are_refused():
    """Whatever loads() accepts, dumps() writes back unchanged: no ignored bits."""
    image = sample()
    known_flagged = img._section(img.SOURCE, img.dumps(image)[32 + 8:][:struct.unpack_from("<I", image.dumps(), 36)[0]],
                                 img.SKIPPABLE)
    rest = image.dumps()[32:]
    rest = rest[8 + struct.unpack_from("<I", rest, 4)[0] + 4:]
    with pytest.raises(ImageError, match="SOURCE: flags 0x1, must be 0"):
        pyctl.loads(resealed(known_flagged + rest, 3))
    data = bytearray(image.dumps())
    role = data.index(struct.pack("<HHI", img.END, 0, 0)[:4]) + 8  # the master END's role byte
    data[role + 1] = 7
    end_len = struct.unpack_from("<I", data, role - 4)[0]
    data[role + end_len:role + end_len + 4] = struct.pack("<I", zlib.crc32(bytes(data[role - 8:role + end_len])))
    pair_start = 32 + len(img._section(img.SOURCE, b"x" * 24)) + len(img._section(img.CONSTANTS, b"x" * 36))
    pair_len = struct.unpack_from("<I", data, pair_start + 4)[0]
    data[pair_start + 8 + pair_len:pair_start + 12 + pair_len] = struct.pack(
        "<I", zlib.crc32(bytes(data[pair_start:pair_start + 8 + pair_len])))
    with pytest.raises(ImageError, match="padding after the role is not zero"):
        pyctl.loads(resealed(bytes(data[32:]), 3))


def test_sections_in_the_wrong_order():
    data = sample().dumps()
    body = data[32:]
    source_len = 8 + struct.unpack_from("<I", body, 4)[0] + 4
    source, rest = body[:source_len], body[source_len:]
    constants_len = 8 + struct.unpack_from("<I", rest, 4)[0] + 4
    constants, pairs = rest[:constants_len], rest[constants_len:]
    with pytest.raises(ImageError, match="found CONSTANTS where SOURCE belongs"):
        pyctl.loads(resealed(constants + source + pairs, 3))
    with pytest.raises(ImageError, match="missing PAIR section"):
        pyctl.loads(resealed(source + constants, 2))


@pytest.mark.parametrize("change, message", [
    (dict(canon=13), "slave.canon: 13 outside the 12 unread bytes"),
    (dict(line_ends=frozenset({3, 9})), "slave.line_ends: a line end outside the complete lines"),
    (dict(input=b"x" * 4097, canon=0, line_ends=frozenset()), "slave.input: 4097 unread bytes"),
    (dict(flags=1 << 1), "slave.flags: pty_lock or packet on a slave"),
    (dict(flags=1 << 5), "tco_stopped without stopped"),
    (dict(flags=1 << 9), "slave.flags: unknown bits"),
    (dict(ntty_flags=0), "icanon disagrees with termios ICANON"),
    (dict(echo_commit=9), "slave.echo_commit: outside the pending echo bytes"),
    (dict(flip_lookahead=4), "slave.flip_lookahead"),
    (dict(flip=b"z" * 61441, flip_lookahead=0), "slave.flip: 61441 pending flip bytes, more than 61440"),
    (dict(pktstatus=0x80), "slave.pktstatus"),
    (dict(termios=dataclasses.replace(SLAVE_TERMIOS, line=2)), "only N_TTY"),
    (dict(termios=dataclasses.replace(SLAVE_TERMIOS, cc=CC[:8])), "8 control characters, NCCS is 19"),
])
def test_validation_names_the_field(change, message):
    image = sample()
    image.pairs[0].slave = dataclasses.replace(image.pairs[0].slave, **change)
    with pytest.raises(ImageError, match=message.replace("(", r"\(")):
        image.validate()
    # and a file carrying it is refused the same way
    with pytest.raises(ImageError, match=message.replace("(", r"\(")):
        pyctl.loads(img.dumps(image))


@pytest.mark.parametrize("change, message", [
    (dict(flags=-1), "slave.flags: unknown bits"),
    (dict(ntty_flags=-8), "slave.ntty_flags: unknown bits"),
    (dict(pktstatus=-1), "slave.pktstatus"),
])
def test_negative_bit_fields_are_refused_by_validation(change, message):
    """Values no file can carry, from a caller's own End: refused before any encoding or restore."""
    image = sample()
    image.pairs[0].slave = dataclasses.replace(image.pairs[0].slave, **change)
    with pytest.raises(ImageError, match=message):
        image.validate()


@pytest.mark.parametrize("count", [0, 1 << 20, (1 << 20) + 1, (1 << 64) - 2873])
def test_any_lookahead_count_validates_and_round_trips(count):
    """N_TTY's lookahead_count drifts and wraps on its own (a stress run checkpointed
    2**64 - 2873); restore does not install it, so every 64-bit value is a valid image."""
    image = sample(lookahead_count=count)
    image.validate()
    assert pyctl.loads(img.dumps(image)).pairs[0].slave.lookahead_count == count


def test_stale_offsets_are_kept_where_n_tty_leaves_them():
    """canon in non-canonical mode and commit in canonical mode may be anything."""
    image = sample(commit=-100)
    image.pairs[0].master.canon = -2**40
    assert pyctl.loads(image.dumps()) == image


def test_out_of_range_field_is_an_image_error():
    image = sample()
    image.pairs[0].slave.column = 2**40
    with pytest.raises(ImageError):
        image.dumps()


INFO = ModuleInfo(0, 1, 192, 1, 7, 4096, 19, 8, 64, 44, 8904, 0x405306E3B86B734B, "6.1.0-56-amd64", (0,) * 8)


def test_kernel_conversion_round_trip():
    """Image -> record (ABI 3) -> Image, large ring positions included."""
    image = sample()
    image.pairs[0].slave.read_tail = 4096 * 1000 - 5
    image.pairs[0].slave.echo_tail = 2**64 - 2
    raw = ckpt.image_to_kernel(image.pairs[0])
    pair = record.decode(raw)
    assert pair["size"] == len(raw) and len(raw) % 8 == 0 and pair["index"] == image.pairs[0].index
    back = ckpt.kernel_to_image(pair, INFO, created=image.created)
    assert back.pairs == image.pairs
    slave = pair["slave"]
    assert slave["input"] == b"one\ntwo\nhalf" and slave["line_ends"] == bytes([0x88, 0x00])
    assert slave["read_head"] - slave["read_tail"] == 12
    assert record.encode(pair) == raw


def test_record_layout_pads_each_part_and_counts_it():
    image = sample()
    raw = ckpt.image_to_kernel(image.pairs[0])
    m, s = record.decode(raw)["master"], record.decode(raw)["slave"]
    for e in (m, s):
        assert e["data_size"] == record.end_data_size(len(e["input"]), len(e["echo"]), e["flip_count"],
                                                      e["flip_flags"] is not None)
    assert len(raw) == record.HEADER_SIZE + 2 * record.END_SIZE + m["data_size"] + s["data_size"]
    two = bytes(raw) + bytes(raw)
    assert [bytes(r) for r in record.split(two, len(two))] == [bytes(raw), bytes(raw)]
    with pytest.raises(ValueError):
        record.split(two, len(two) - 8)


def test_flag_bits_are_mapped_by_name():
    image = sample()
    image.pairs[0].master.flags = 1 << img.TTY_FLAGS.index("packet")
    pair = record.decode(ckpt.image_to_kernel(image.pairs[0]))
    from pyctl import _uapi
    assert pair["master"]["flags"] == _uapi.CKPT_TTY_END_PACKET
    assert pair["slave"]["ntty_flags"] == _uapi.CKPT_TTY_NTTY_ICANON


def test_show_describes_lines_and_partial_line():
    from pyctl import show

    text = show.describe(sample())
    assert "line: one^J" in text and "line: two^J" in text
    assert "partial line (typed, no line end yet): half" in text
    assert "pending echo (4 bytes, the first 2 committed): <set-canon-col>ab" in text  # 0xff 0x81: an N_TTY op


def test_a_deferred_image_builds_its_pairs_once_on_first_use():
    image = sample()
    calls = []

    def make_pairs():
        calls.append(1)
        return copy.deepcopy(image.pairs)

    deferred = Image.deferred(image.release, image.created, image.constants, make_pairs)
    assert calls == [] and deferred.release == image.release  # kept, not decoded
    assert deferred == image and calls == [1]
    assert deferred.dumps() == image.dumps() and pyctl.loads(deferred.dumps()) == image
    deferred.pairs[0].index = 7  # a plain list from then on
    assert deferred.pairs[0].index == 7 and calls == [1]
    with pytest.raises(AttributeError, match="no attribute 'paris'"):
        deferred.paris
