# SPDX-License-Identifier: GPL-2.0
"""The golden images in images/golden/ read, show and round-trip on the host, no module needed.

tests/vm/golden.py made them on each kernel of the matrix (make golden);
tests/vm/test_golden.py restores them in the VM.  Here: every one is a valid
image, decode then encode gives its bytes back in both JSON spellings, the
offline tools work on it, and the state it holds is the scenario's.
"""

import json

import pytest

import pyctl
from pyctl import imagejson, show
from pyctl.imageinfo import describe_file
from tests.kernels import ROOT

GOLDEN = ROOT / "images" / "golden"
IMAGES = sorted(GOLDEN.glob("*/*.img"))


def test_every_kernel_of_the_matrix_has_golden_images():
    kernels = {p.parent.name for p in IMAGES}
    assert kernels == {"6.1", "6.12", "6.12-rt"}
    for k in kernels:
        names = {p.stem for p in (GOLDEN / k).glob("*.img")}
        assert names == {p.stem for p in (GOLDEN / "6.1").glob("*.img")}, k
        release = (GOLDEN / k / "KERNEL").read_text().strip()
        assert all(pyctl.loads(p.read_bytes()).release == release for p in (GOLDEN / k).glob("*.img"))


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_image_reads_and_round_trips(path):
    data = path.read_bytes()
    image = pyctl.loads(data)
    assert image.dumps() == data
    for pretty in (False, True):
        doc = json.loads(json.dumps(imagejson.to_json(image, pretty)))
        assert imagejson.from_json(doc).dumps() == data
    rows, parsed = describe_file(data)
    assert parsed == image and ("valid", "yes") in rows
    assert show.describe(image).count(" line = ") == 2  # an stty -a block per end
    assert path.with_suffix(".json").is_file(), "observations of the original pair are missing"


def _slave(kernel, name):
    return pyctl.loads((GOLDEN / kernel / f"{name}.img").read_bytes()).pairs[0]


@pytest.mark.parametrize("kernel", ["6.1", "6.12", "6.12-rt"])
def test_golden_states_are_the_scenarios(kernel):
    p = _slave(kernel, "half-line")
    assert p.slave.input == b"first line\nhello wor" and sorted(p.slave.line_ends) == [10]
    assert p.master.input == b"first line\r\nhello wor"  # the echo, not read by the terminal yet
    p = _slave(kernel, "output-unread")
    assert p.master.input == b"result: 42\r\nprompt> " and p.slave.input == b""
    p = _slave(kernel, "lnext-pending")
    assert p.slave.ntty("lnext") and p.slave.input == b"literal "
    p = _slave(kernel, "raw-vmin")
    assert p.slave.input == b"\x1b[" and p.slave.termios.cc[6] == 3 and not p.slave.ntty("icanon")
    p = _slave(kernel, "edited-line")
    assert p.slave.input == b"again\t" and p.slave.column == 8  # the tab took "again" to column 8
    assert b"\b \b" in p.master.input  # ECHOE erase sequences the terminal has not read
    p = _slave(kernel, "packet-flushed")
    assert p.master.has("packet") and p.slave.pktstatus == 1  # TIOCPKT_FLUSHREAD, for the master's reader
    p = _slave(kernel, "modes-and-sizes")
    assert (p.slave.termios.ispeed, p.slave.termios.ospeed) == (123457, 98765)
    assert (p.slave.winsize.row, p.slave.winsize.col, p.slave.winsize.xpixel) == (50, 132, 1320)
    assert p.slave.has("exclusive") and p.slave.termios_locked.lflag == 0o2
    p = _slave(kernel, "output-flooded")
    assert p.slave.input == b"typed\n" and len(p.master.input) == 4095 and p.master.ntty("no_room")
    # The echo made it into the full master's flip buffer, or (6.12-rt, whose flip buffer took more of
    # the flood) it still waits, committed, in the slave's echo ring.
    assert p.master.flip.endswith(b"typed\r\n") or (p.slave.echo, p.slave.echo_commit) == (b"typed\n", 6)
    p = _slave(kernel, "ring-full")
    assert len(p.slave.input) == 4095 and len(p.slave.input) + len(p.slave.flip) == 6000
    expected = json.loads((GOLDEN / kernel / "ring-full.json").read_text())
    assert "".join(expected["slave reads"]).encode("latin-1") == p.slave.input + p.slave.flip
