# SPDX-License-Identifier: GPL-2.0
"""Is a pair a state N_TTY can be in?  The rules restore applies, in Python.

The module checks the same rules again (kmod/ckpt_tty_check.c) and
kmod/INVARIANTS.md says where each comes from.  This side runs first, on the
image's own terms (positions relative to read_tail and echo_tail), so that a
refused image is refused with the field named, before any pty is opened.
"""

from __future__ import annotations

import dataclasses

from . import _uapi
from .image import End, Pair, Termios
from .termflags import ADDRB, CREAD, CS8, CSIZE, EXTPROC, ICANON, PARENB

__all__ = ["pair_problems", "settle"]

INDEX_MAX = _uapi.CKPT_TTY_INDEX_MAX


def _echo_op_size(echo: bytes, i: int) -> int:
    if echo[i] != _uapi.CKPT_TTY_ECHO_OP_START:
        return 1
    return 3 if i + 1 < len(echo) and echo[i + 1] == _uapi.CKPT_TTY_ECHO_OP_ERASE_TAB else 2


def _echo_boundaries(echo: bytes) -> set[int] | None:
    """Offsets where whole echo ops start (and the end), or None if an op is cut off."""
    out, i = {0}, 0
    while i < len(echo):
        i += _echo_op_size(echo, i)
        out.add(i)
    return out if i == len(echo) else None


def hung_up_problems(e: End, where: str) -> list[str]:
    """A hung-up pty end has no line discipline (tty_ldisc_hangup() kills it;
    only a new open, which clears hupped, brings one back): no n_tty state.
    Flip data may wait: the peer's writes still queue it."""
    fields = ("ntty_flags", "column", "canon_column", "read_tail", "commit", "canon", "line_start",
              "lookahead_count", "echo_tail", "echo_commit", "echo_mark", "input", "echo")
    held = [name for name in fields if getattr(e, name)]
    return [f"{where}.{name}: n_tty state on a hung-up end, which has no line discipline" for name in held]


def end_problems(e: End, where: str) -> list[str]:
    """Why N_TTY could not be in the state of this end (positions as in the image)."""
    if e.has("hupped"):
        return hung_up_problems(e, where) + (
            [f"{where}.flip_flags: a pty's flip buffers carry no flags (pty_write inserts plain bytes)"]
            if e.flip_flags is not None else [])
    out = []
    n, tail = len(e.input), e.read_tail
    icanon, extproc = bool(e.termios.lflag & ICANON), bool(e.termios.lflag & EXTPROC)

    def bad(field: str, what: str) -> None:
        out.append(f"{where}.{field}: {what}")

    if tail + n > INDEX_MAX:
        bad("read_tail", f"{tail} + {n} unread bytes passes the largest ring position ({INDEX_MAX:#x})")
    for name in ("commit", "canon", "line_start"):
        if tail + getattr(e, name) < 0:
            bad(name, f"{getattr(e, name)} lies before ring position 0")
    if icanon and not extproc:
        if not 0 <= e.canon <= n:
            bad("canon", f"{e.canon} outside the {n} unread bytes")
        if e.commit > e.canon:
            bad("commit", f"{e.commit} is ahead of canon_head ({e.canon}): it stopped when canonical mode began")
        if e.canon > 0 and e.canon - 1 not in e.line_ends:
            bad("line_ends", "canon_head does not follow a line end")
        if any(i >= e.canon for i in e.line_ends):
            bad("line_ends", "a line end in the partial line")
    else:
        if e.commit != n:
            bad("commit", f"{e.commit}, not read_head ({n}): every receive publishes it")
        if e.canon > (n if icanon else 0):
            bad("canon", f"{e.canon} is ahead of " + ("read_head" if icanon else "read_tail"))
        if not icanon and e.line_ends:
            bad("line_ends", "line ends without ICANON")
    if e.line_start > 0:
        bad("line_start", f"{e.line_start} is ahead of read_tail")
    for flag in ("lnext", "erasing", "push"):
        if e.ntty(flag) and (not icanon or (extproc and flag != "push")):
            bad("ntty_flags", f"{flag} without canonical input processing")

    if e.echo_tail + len(e.echo) > INDEX_MAX:
        bad("echo_tail", f"{e.echo_tail} + {len(e.echo)} echo bytes passes the largest ring position")
    bounds = _echo_boundaries(e.echo)
    if bounds is None:
        bad("echo", "the last echo op is cut off")
    if not 0 <= e.echo_commit <= len(e.echo):
        bad("echo_commit", f"{e.echo_commit} outside the {len(e.echo)} pending echo bytes")
    elif bounds is not None and e.echo_commit not in bounds:
        bad("echo_commit", f"{e.echo_commit} is inside an echo op")
    if e.echo_mark != len(e.echo):
        bad("echo_mark", f"{e.echo_mark}, not echo_head ({len(e.echo)}): commit_echoes() sets it there "
            "after every echo")

    if e.flip_flags is not None:
        bad("flip_flags", "a pty's flip buffers carry no flags (pty_write inserts plain bytes)")
    return out


def master_problems(e: End, where: str) -> list[str]:
    """A master keeps pty.c's raw termios: no echo, no column, no locked termios."""
    out = []
    if e.echo or e.echo_tail or e.echo_commit or e.echo_mark or e.column or e.canon_column:
        out.append(f"{where}: echo or column state on a master, which never echoes")
    if e.termios_locked != Termios(cc=bytes(len(e.termios_locked.cc))):
        out.append(f"{where}.termios_locked: a master's stay zero (TIOCSLCKTRMIOS locks the slave's)")
    return out


def settle(p: Pair) -> Pair:
    """The pair with the one lag stock n_tty leaves behind made good, else p itself.

    n_tty_receive_char_canon() (6.1, 6.12): an LNEXT with ECHO and without
    ECHOCTL ends an ECHOPRT erase by echoing '/' and returns without
    commit_echoes(), so the slave's echo_mark stays one behind echo_head;
    flush_echoes() then moves echo_tail past it, and the next
    process_echoes() walks the whole echo ring.  echo_mark = echo_head is the
    state commit_echoes() would have left and the only one the module takes
    (tests/vm/test_echo_mark.py).  A master never echoes: its lag is no
    n_tty state and stays for the rules to refuse.
    """
    e = p.slave
    if e.echo_mark != len(e.echo) - 1:
        return p
    return dataclasses.replace(p, slave=dataclasses.replace(e, echo_mark=len(e.echo)))


def pair_problems(p: Pair, where: str) -> list[str]:
    """end_problems of both ends, and the rules between them."""
    out = end_problems(p.master, f"{where}.master") + end_problems(p.slave, f"{where}.slave")
    out += master_problems(p.master, f"{where}.master")
    cflag = p.slave.termios.cflag
    if cflag & CSIZE != CS8 or not cflag & CREAD or cflag & (PARENB | ADDRB):
        out.append(f"{where}.slave.termios.cflag: a pty slave has CS8 and CREAD, no PARENB or ADDRB "
                   "(pty_set_termios)")
    if p.master.pktstatus:
        out.append(f"{where}.master.pktstatus: {p.master.pktstatus:#x}; packet status is raised on the slave end")
    # Only the master's close sets other_closed on the slave, and it sets its
    # own and hangs the slave up (pty_close); no open clears them after.
    if p.slave.has("other_closed") and not (p.slave.has("hupped") and p.master.has("other_closed")):
        out.append(f"{where}.slave.flags: other_closed without hupped, or without the master's other_closed: "
                   "the master's close sets all three")
    return out
