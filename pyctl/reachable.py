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
from .image import _NTTY_BIT, _TTY_BIT, End, Pair
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


_HUPPED, _LNEXT_ERASING_PUSH = _TTY_BIT["hupped"], (_NTTY_BIT["lnext"], _NTTY_BIT["erasing"], _NTTY_BIT["push"])


def end_problems(e: End, where: str) -> list[str]:
    """Why N_TTY could not be in the state of this end (positions as in the image)."""
    if e.flags & _HUPPED:
        return hung_up_problems(e, where) + (
            [f"{where}.flip_flags: a pty's flip buffers carry no flags (pty_write inserts plain bytes)"]
            if e.flip_flags is not None else [])
    # Each rule reads its fields once and builds its message only when broken: restore runs this every time.
    out: list[str] = []
    n, tail, lflag = len(e.input), e.read_tail, e.termios.lflag
    commit, canon, line_start, line_ends = e.commit, e.canon, e.line_start, e.line_ends
    icanon, extproc = bool(lflag & ICANON), bool(lflag & EXTPROC)

    if tail + n > INDEX_MAX:
        out.append(f"{where}.read_tail: {tail} + {n} unread bytes passes the largest ring position ({INDEX_MAX:#x})")
    for name, value in (("commit", commit), ("canon", canon), ("line_start", line_start)):
        if tail + value < 0:
            out.append(f"{where}.{name}: {value} lies before ring position 0")
    if icanon and not extproc:
        if not 0 <= canon <= n:
            out.append(f"{where}.canon: {canon} outside the {n} unread bytes")
        if commit > canon:
            out.append(f"{where}.commit: {commit} is ahead of canon_head ({canon}): it stopped when canonical "
                       "mode began")
        if canon > 0 and canon - 1 not in line_ends:
            out.append(f"{where}.line_ends: canon_head does not follow a line end")
        if line_ends and max(line_ends) >= canon:
            out.append(f"{where}.line_ends: a line end in the partial line")
    else:
        if commit != n:
            out.append(f"{where}.commit: {commit}, not read_head ({n}): every receive publishes it")
        if canon > (n if icanon else 0):
            out.append(f"{where}.canon: {canon} is ahead of " + ("read_head" if icanon else "read_tail"))
        if not icanon and line_ends:
            out.append(f"{where}.line_ends: line ends without ICANON")
    if line_start > 0:
        out.append(f"{where}.line_start: {line_start} is ahead of read_tail")
    if e.ntty_flags & (_LNEXT_ERASING_PUSH[0] | _LNEXT_ERASING_PUSH[1] | _LNEXT_ERASING_PUSH[2]):
        for flag, bit in zip(("lnext", "erasing", "push"), _LNEXT_ERASING_PUSH):
            if e.ntty_flags & bit and (not icanon or (extproc and flag != "push")):
                out.append(f"{where}.ntty_flags: {flag} without canonical input processing")

    echo, echo_commit = e.echo, e.echo_commit
    if e.echo_tail + len(echo) > INDEX_MAX:
        out.append(f"{where}.echo_tail: {e.echo_tail} + {len(echo)} echo bytes passes the largest ring position")
    bounds = _echo_boundaries(echo) if echo else _NO_ECHO
    if bounds is None:
        out.append(f"{where}.echo: the last echo op is cut off")
    if not 0 <= echo_commit <= len(echo):
        out.append(f"{where}.echo_commit: {echo_commit} outside the {len(echo)} pending echo bytes")
    elif bounds is not None and echo_commit not in bounds:
        out.append(f"{where}.echo_commit: {echo_commit} is inside an echo op")
    if e.echo_mark != len(echo):
        out.append(f"{where}.echo_mark: {e.echo_mark}, not echo_head ({len(echo)}): commit_echoes() sets it "
                   "there after every echo")

    if e.flip_flags is not None:
        out.append(f"{where}.flip_flags: a pty's flip buffers carry no flags (pty_write inserts plain bytes)")
    return out


_NO_ECHO = frozenset({0})  # _echo_boundaries(b"")


def master_problems(e: End, where: str) -> list[str]:
    """A master keeps pty.c's raw termios: no echo, no column, no locked termios."""
    out = []
    if e.echo or e.echo_tail or e.echo_commit or e.echo_mark or e.column or e.canon_column:
        out.append(f"{where}: echo or column state on a master, which never echoes")
    lk = e.termios_locked
    if lk.iflag or lk.oflag or lk.cflag or lk.lflag or lk.ispeed or lk.ospeed or lk.line or any(lk.cc):
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
