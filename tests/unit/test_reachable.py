# SPDX-License-Identifier: GPL-2.0
"""pyctl.reachable: restore takes only states N_TTY can be in (the module checks the same again).

Every rule refuses its violation with the field named, and every state real
kernels produced (the golden images of 6.1, 6.12 and 6.12-rt) passes all of
them: the rules cut away what n_tty never does, not what it does.
"""

import dataclasses
from pathlib import Path

import pytest

import pyctl
from pyctl import _uapi, compat, reachable
from pyctl.image import Termios
from tests.unit.test_tooling import restorable_sample

GOLDEN = sorted((Path(__file__).resolve().parents[2] / "images" / "golden").glob("*/*.img"))
ICANON, EXTPROC = reachable.ICANON, reachable.EXTPROC


def problems(image):
    return reachable.pair_problems(image.pairs[0], "pair[0]")


def test_the_sample_is_reachable():
    assert problems(restorable_sample()) == []


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_golden_image_is_reachable(path):
    assert problems(pyctl.loads(path.read_bytes())) == []


def test_golden_images_are_there():
    assert {p.parent.name for p in GOLDEN} >= {"6.1", "6.12", "6.12-rt"} and len(GOLDEN) >= 30


def slave(image, **changes):
    p = image.pairs[0]
    image.pairs[0] = dataclasses.replace(p, slave=dataclasses.replace(p.slave, **changes))
    return image


def lflag(image, on=0, off=0):
    t = image.pairs[0].slave.termios
    return slave(image, termios=dataclasses.replace(t, lflag=(t.lflag | on) & ~off))


CASES = [
    # canonical mode: canon_head inside the unread bytes, after a line end; commit_head stopped behind it
    (lambda i: slave(i, canon=13), "slave.canon: 13 outside the 12 unread bytes"),
    (lambda i: slave(i, canon=-1), "slave.canon: -1 outside"),
    (lambda i: slave(i, commit=9), "slave.commit: 9 is ahead of canon_head (8)"),
    (lambda i: slave(i, canon=6, line_ends=frozenset({3})), "slave.line_ends: canon_head does not follow a line end"),
    (lambda i: slave(i, line_ends=frozenset({3, 7, 10})), "slave.line_ends: a line end in the partial line"),
    (lambda i: slave(i, line_start=1), "slave.line_start: 1 is ahead of read_tail"),
    (lambda i: slave(i, read_tail=2**62), "slave.read_tail: 4611686018427387904 + 12 unread bytes passes"),
    (lambda i: slave(i, line_start=-11), "slave.line_start: -11 lies before ring position 0"),
    # ICANON|EXTPROC: the reader is non-canonical, canon_head may be behind read_tail but not ahead of read_head
    (lambda i: slave(lflag(i, EXTPROC), canon=13), "slave.canon: 13 is ahead of read_head"),
    (lambda i: slave(lflag(i, EXTPROC), commit=11), "slave.commit: 11, not read_head (12)"),
    (lambda i: slave(lflag(i, EXTPROC), commit=12, ntty_flags=1 << 3 | 1), "slave.ntty_flags: lnext without"),
    # without ICANON: no line ends, canon_head at or before read_tail, no canonical flags
    (lambda i: slave(lflag(i, off=ICANON), ntty_flags=0, commit=12, canon=1), "slave.canon: 1 is ahead of read_tail"),
    (lambda i: slave(lflag(i, off=ICANON), ntty_flags=0, commit=12, canon=0), "slave.line_ends: line ends without"),
    (lambda i: slave(lflag(i, off=ICANON), ntty_flags=1, commit=12, canon=0, line_ends=frozenset()),
     "slave.ntty_flags: lnext without canonical input processing"),
    (lambda i: slave(lflag(i, off=ICANON), ntty_flags=0, commit=11, canon=0, line_ends=frozenset()),
     "slave.commit: 11, not read_head (12): every receive publishes it"),
    # echo: commit and mark inside the pending bytes and on op boundaries, no op cut off
    (lambda i: slave(i, echo_mark=-1), "slave.echo_mark: -1, not echo_head (4)"),
    (lambda i: slave(i, echo_mark=2), "slave.echo_mark: 2, not echo_head (4)"),
    (lambda i: slave(i, echo_mark=0), "slave.echo_mark: 0, not echo_head (4)"),
    (lambda i: slave(i, echo_commit=5), "slave.echo_commit: 5 outside"),
    (lambda i: slave(i, echo_commit=1), "slave.echo_commit: 1 is inside an echo op"),
    (lambda i: slave(i, echo=b"ab\xff", echo_commit=0, echo_mark=0), "slave.echo: the last echo op is cut off"),
    (lambda i: slave(i, echo=b"\xff\x82", echo_commit=0, echo_mark=0), "slave.echo: the last echo op is cut off"),
    (lambda i: slave(i, echo_tail=2**62 - 3), "slave.echo_tail: 4611686018427387901 + 4 echo bytes passes"),
    # flip buffers: no flags on a pty, lookahead_count equal to the looked-at prefix
    (lambda i: slave(i, flip_flags=b"\0\0\0"), "slave.flip_flags: a pty's flip buffers carry no flags"),
    # a master keeps pty.c's raw termios: nothing echoed, no column, no locked termios
    (lambda i: master(i, column=3), "master: echo or column state on a master"),
    (lambda i: master(i, echo=b"x"), "master: echo or column state on a master"),
    (lambda i: master(i, termios_locked=Termios(lflag=2, cc=bytes(19))), "master.termios_locked: a master's stay"),
]


def master(image, **changes):
    p = image.pairs[0]
    image.pairs[0] = dataclasses.replace(p, master=dataclasses.replace(p.master, **changes))
    return image


def test_settle_mends_only_n_ttys_one_echo_mark_lag():
    # LNEXT ending an ECHOPRT erase without ECHOCTL: '/' echoed, commit_echoes() skipped
    lagging = slave(restorable_sample(), echo_mark=3)
    assert problems(lagging) == ["pair[0].slave.echo_mark: 3, not echo_head (4): commit_echoes() sets it there "
                                 "after every echo"]
    settled = reachable.settle(lagging.pairs[0])
    assert settled.slave.echo_mark == 4 and settled.master == lagging.pairs[0].master
    assert reachable.pair_problems(settled, "pair") == []
    assert compat.pair_problems(lagging, 0) == []  # what restore and `pyctl check` judge
    good = restorable_sample().pairs[0]
    assert reachable.settle(good) is good
    master_lag = master(restorable_sample(), echo_mark=-1).pairs[0]  # a master never echoes: not settled
    assert reachable.settle(master_lag) is master_lag
    for mark in (2, 0, -1, 5):  # any other lag is not n_tty's and stays refused
        p = slave(restorable_sample(), echo_mark=mark).pairs[0]
        assert reachable.settle(p) is p


def test_lookahead_count_is_any_value():
    # n_tty lets it drift from the flip buffers (pty_flush_buffer, TIOCSTI); restore installs flip_lookahead
    for value in (0, 2, 1 << 20, (1 << 64) - 1):
        assert problems(slave(restorable_sample(), lookahead_count=value)) == []


@pytest.mark.parametrize("mutate, message", CASES, ids=[m for _, m in CASES])
def test_each_rule_names_the_field(mutate, message):
    assert any(message in p for p in problems(mutate(restorable_sample()))), problems(mutate(restorable_sample()))


def test_rules_between_the_ends():
    image = restorable_sample()  # TIOCSWINSZ on the slave leaves the master's (tty_do_resize)
    image.pairs[0].slave.winsize = dataclasses.replace(image.pairs[0].slave.winsize, row=1)
    assert problems(image) == []
    for cflag in (0o277 | 0o400, 0o277 & ~0o200, (0o277 & ~0o60) | 0o40, 0o277 | 0o4000000000):
        image = restorable_sample()
        image.pairs[0].slave.termios = dataclasses.replace(image.pairs[0].slave.termios, cflag=cflag)
        assert any("slave.termios.cflag: a pty slave has CS8 and CREAD" in p for p in problems(image)), oct(cflag)
    image = restorable_sample()
    image.pairs[0].master.pktstatus = 1
    assert "pair[0].master.pktstatus: 0x1; packet status is raised on the slave end" in problems(image)


def test_extproc_canon_head_behind_read_tail_is_reachable():
    # the non-canonical reader of ICANON|EXTPROC passes canon_head, which stays where the mode began
    image = slave(lflag(restorable_sample(), EXTPROC), read_tail=100000, canon=-5000, commit=12)
    assert problems(image) == []


def test_index_max_comes_from_the_uapi_header():
    assert reachable.INDEX_MAX == _uapi.CKPT_TTY_INDEX_MAX == 1 << 62
