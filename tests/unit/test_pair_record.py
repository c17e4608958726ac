# SPDX-License-Identifier: GPL-2.0
"""pyctl.pairrecord (the fast Pair <-> record path) against the general one.

The general path is pyctl.record (record bytes <-> dicts, through pyctl.abi)
with ckpt._pair_from_kernel (dicts -> Pair); it shares no packing code with
pairrecord, so agreement byte for byte is evidence for both.
"""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyctl import ckpt, pairrecord, record
from pyctl.image import Constants, Pair

from .test_image import sample
from .test_image_fuzz import U32, ends, fuzz


# What the running module takes: 19 control characters (NCCS on x86), a 4096-byte ring.
RUNNING = Constants(4096, 19, 8, 64, 1, 44, 8904, 0)


@st.composite
def pairs(draw, max_input: int = 300) -> Pair:
    return Pair(draw(U32), draw(ends(RUNNING, True, max_input)), draw(ends(RUNNING, False, max_input)))


def _as_recorded(p: Pair) -> Pair:
    """What a record keeps of a pair: no devpts instance, no unknown image sections."""
    return dataclasses.replace(p, master=dataclasses.replace(p.master, extra=()),
                               slave=dataclasses.replace(p.slave, extra=()), extra=(), devpts=None)


@fuzz(300)
@given(pairs())
def test_fast_and_general_paths_agree(p):
    raw = pairrecord.pair_to_record(p)
    general = record.decode(raw)
    assert general["size"] == len(raw) and general["index"] == p.index
    assert bytes(record.encode(general)) == raw
    assert ckpt._pair_from_kernel(general) == _as_recorded(p)
    assert pairrecord.pair_from_record(raw) == _as_recorded(p)
    assert pairrecord.pair_from_record(memoryview(bytearray(raw))) == _as_recorded(p)


@fuzz(100)
@given(pairs(max_input=40), st.data())
def test_cut_or_lying_records_raise_value_error(p, data):
    raw = bytearray(pairrecord.pair_to_record(p))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:  # one end's data_size off by a multiple of 8
        at = record.HEADER_SIZE + 140 + data.draw(st.sampled_from([0, record.END_SIZE]))
        if at > record.HEADER_SIZE + 140:
            at += record.decode(raw)["master"]["data_size"]
        size = int.from_bytes(raw[at : at + 4], "little")
        raw[at : at + 4] = (size + 8 * data.draw(st.sampled_from([-1, 1, 2]))).to_bytes(4, "little", signed=True)
    with pytest.raises(ValueError):
        pairrecord.pair_from_record(bytes(raw))


def test_field_order_is_checked_against_the_uapi_layout():
    assert pairrecord._flattened("ckpt_tty_end") == list(pairrecord._END_FIELDS)
    assert len(pairrecord._END_FIELDS) == len(pairrecord._END.unpack(bytes(pairrecord._END.size)))


def test_unknown_image_flag_bits_are_refused_not_dropped():
    p = sample().pairs[0]
    bad = dataclasses.replace(p, master=dataclasses.replace(p.master, flags=1 << 20))
    with pytest.raises(ValueError, match="unknown flag bits"):
        pairrecord.pair_to_record(bad)
