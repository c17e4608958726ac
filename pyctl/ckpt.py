# SPDX-License-Identifier: GPL-2.0
"""Checkpoint and restore pty pairs through /dev/ckpt_tty.

The module reports a record (pyctl.record): both ends as the kernel holds
them, with the bytes still to be read, echoed or received.  This module
turns that into an Image (positions relative to the reader) and back.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import struct
import time

from . import _uapi, compat, pairrecord, reachable
from .errors import ImageError, PyctlError, os_error
from .image import TTY_FLAGS, Constants, DevptsInstance, End, Image, Pair, Termios, Winsize
from .info import DEVICE_PATH, ModuleInfo
from .lowlevel import EXPLAIN, shared
from .record import HEADER_SIZE
from .pty import devpts_of, mountpoint_of, open_pty, open_pty_at, room_for_fds

__all__ = ["checkpoint", "checkpoint_many", "restore", "restore_many", "image_to_kernel", "kernel_to_image"]


def _termios_from(k: dict) -> Termios:
    return Termios(k["c_iflag"], k["c_oflag"], k["c_cflag"], k["c_lflag"], k["c_ispeed"], k["c_ospeed"],
                   k["c_line"], k["c_cc"])


def _end_from_kernel(k: dict) -> End:
    """An end of a record as pyctl.record decodes it -> End (the general path; pairrecord is the fast one)."""
    tail, echo_tail = k["read_tail"], k["echo_tail"]
    return End(
        termios=_termios_from(k["termios"]),
        termios_locked=_termios_from(k["termios_locked"]),
        winsize=Winsize(k["ws_row"], k["ws_col"], k["ws_xpixel"], k["ws_ypixel"]),
        flags=pairrecord.to_image_bits(k["flags"], pairrecord.TTY_BITS),
        pktstatus=k["pktstatus"],
        ntty_flags=pairrecord.to_image_bits(k["ntty_flags"], pairrecord.NTTY_BITS),
        column=k["column"],
        canon_column=k["canon_column"],
        read_tail=tail,
        commit=pairrecord.signed(k["commit_head"] - tail),
        canon=pairrecord.signed(k["canon_head"] - tail),
        line_start=pairrecord.signed(k["line_start"] - tail),
        lookahead_count=k["lookahead_count"],
        echo_tail=echo_tail,
        echo_commit=pairrecord.signed(k["echo_commit"] - echo_tail),
        echo_mark=pairrecord.signed(k["echo_mark"] - echo_tail),
        input=k["input"],
        line_ends=pairrecord.line_ends(k["line_ends"]),
        echo=k["echo"],
        flip=k["flip_data"],
        flip_flags=k["flip_flags"],
        flip_lookahead=k["flip_lookahead"],
    )


def _pair_from_kernel(pair: dict) -> Pair:
    return Pair(pair["index"], _end_from_kernel(pair["master"]), _end_from_kernel(pair["slave"]))


class _ModuleFacts:
    """What every checkpoint's image takes from the module's info, made once per ModuleInfo."""

    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.release = info.kernel_release
        self.constants = Constants(info.n_tty_buf_size, info.nccs, info.ncc, info.bits_per_long, info.byte_order,
                                   info.ktermios_size, info.n_tty_data_size, info.n_tty_data_fingerprint)
        # before DEVPTS_DEV the record does not name the pair's devpts instance: looked up from the fd
        self.names_devpts = bool(info.features & _uapi.CKPT_TTY_FEATURE_DEVPTS_DEV)


_facts: _ModuleFacts | None = None


def _facts_of(info: ModuleInfo) -> _ModuleFacts:
    global _facts
    facts = _facts
    if facts is None or facts.info is not info:
        facts = _facts = _ModuleFacts(info)
    return facts


def kernel_to_image(pairs: dict | list[dict], info: ModuleInfo, created: int | None = None) -> Image:
    """An image of one record (pyctl.record) or of a list of them."""
    pairs = [pairs] if isinstance(pairs, dict) else pairs
    return Image(info.kernel_release, int(time.time()) if created is None else created, _facts_of(info).constants,
                 [_pair_from_kernel(p) for p in pairs])


def image_to_kernel(pair: Pair) -> bytearray:
    """A pair of an image as a record for RESTORE."""
    return bytearray(pairrecord.pair_to_record(pair))


def _devpts_named(dev: int) -> DevptsInstance | None:
    """The devpts instance with st_dev ``dev`` (0: unknown), and where we see it mounted."""
    if not dev:
        return None
    return DevptsInstance(os.major(dev), os.minor(dev), os.fsencode(mountpoint_of(dev)))


def _devpts_instance(fd: int) -> DevptsInstance | None:
    try:
        where = devpts_of(fd)
    except OSError:  # a hung-up master cannot name its peer; the instance is then not recorded
        return None
    return DevptsInstance(os.major(where.dev), os.minor(where.dev), os.fsencode(where.mountpoint))


def checkpoint(fd: int, *, device: str = DEVICE_PATH) -> Image:
    """Both ends of the pty pair that ``fd`` (either end) belongs to.

    Non-destructive: the pair and everyone using it go on as before.  One
    ioctl; the record becomes a Pair when the image's pairs are first used.
    """
    dev = shared(device)
    facts = _facts_of(dev.info())
    record = dev.checkpoint_record(fd)
    return Image.deferred(facts.release, int(time.time()), facts.constants, _pairs_of, [record],
                          None if facts.names_devpts else [_devpts_instance(fd)])


def checkpoint_many(fds: list[int], *, device: str = DEVICE_PATH) -> Image:
    """One image with a pair per fd, in order, taken in one call to the module.

    Each pair is one consistent snapshot of its own (pairs are taken one
    after the other).  An fd the module refuses raises its OSError, naming it.
    The records become Pair objects when the image's pairs are first used
    (pyctl.image.Image.deferred).
    """
    fds = list(fds)
    records: list = []
    dev = shared(device)
    facts = _facts_of(dev.info())
    for start in range(0, len(fds), _uapi.CKPT_TTY_BATCH_MAX):
        chunk = fds[start : start + _uapi.CKPT_TTY_BATCH_MAX]
        got = dev.checkpoint_records(chunk)
        # A refused fd's record is its header alone, with the error; a pair's has its two ends.
        if min(map(len, got)) == HEADER_SIZE:
            for fd, rec in zip(chunk, got):
                err = -_RECORD_ERROR.unpack_from(rec, _RECORD_ERROR_OFFSET)[0]
                if err:
                    raise os_error(err, f"checkpoint of fd {fd}: {EXPLAIN.get(err, os.strerror(err))}")
        records += got
    return Image.deferred(facts.release, int(time.time()), facts.constants, _pairs_of, records,
                          None if facts.names_devpts else [_devpts_instance(fd) for fd in fds])


_RECORD_FIELDS = {f[0]: f for f in _uapi.STRUCTS["ckpt_tty_record"][1]}
_RECORD_ERROR, _RECORD_ERROR_OFFSET = struct.Struct("=i"), _RECORD_FIELDS["error"][1]
_RECORD_DEVPTS, _RECORD_DEVPTS_OFFSET = struct.Struct("=I"), _RECORD_FIELDS["devpts_dev"][1]


def _pairs_of(records: list, instances: list[DevptsInstance | None] | None) -> list[Pair]:
    """The Pairs of the module's records (a checkpoint's image builds them on first use)."""
    pairs = [pairrecord.pair_from_record(rec) for rec in records]
    # the module names each pair's devpts instance; where it is mounted is looked up now
    names = instances if instances is not None else [
        _devpts_named(_RECORD_DEVPTS.unpack_from(rec, _RECORD_DEVPTS_OFFSET)[0]) for rec in records]
    for pair, where in zip(pairs, names):
        pair.devpts = where
    return pairs


def check_compatible(image: Image, info: ModuleInfo, pair: int | None = None) -> None:
    """Raise ImageError unless the running kernel can take this image (with ``pair``: that pair of it)."""
    image.validate(pair)
    c = image.constants
    for name in compat.REQUIRED:
        ours = getattr(info, name)
        if getattr(c, name) != ours:
            raise ImageError(f"constants.{name}: image has {getattr(c, name)}, the running kernel {ours}")


def _restorable_pair(image: Image, pair: int) -> Pair:
    """Pair ``pair`` of ``image``; ImageError if there is none or this version cannot restore it."""
    if not 0 <= pair < len(image.pairs):
        raise ImageError(f"image: no pair {pair} (it has {len(image.pairs)})")
    settled = reachable.settle(image.pairs[pair])  # what compat.pair_problems() checks, settled once
    problems = reachable.pair_problems(settled, f"pair[{pair}]")
    if problems:
        raise ImageError(problems[0])
    return settled


_OTHER_CLOSED = 1 << TTY_FLAGS.index("other_closed")


def _closing(p: Pair, info: ModuleInfo) -> tuple[Pair, str | None]:
    """What RESTORE installs for ``p``, and which end of the new pair to close after it.

    other_closed is set by a close, so a restore closes an end again
    instead of installing the flag: the master, when the slave has the flag
    (pty_close() of a master sets it on both ends and hangs the slave up;
    the module has hung it up already, as the image says); else the slave,
    when only the master has it (every slave fd had been closed).
    """
    if p.either_has("hupped") and not info.features & _uapi.CKPT_TTY_FEATURE_HUNG_UP:
        raise PyctlError(f"pair {p.index}: the loaded ckpt_tty.ko cannot restore hung-up terminals "
                         "(it lacks the hung_up feature; load this version's module)")
    close = "master" if p.slave.has("other_closed") else "slave" if p.master.has("other_closed") else None
    return (p, None) if close is None else (without_other_closed(p), close)


def without_other_closed(p: Pair) -> Pair:
    """``p`` with other_closed cleared on both ends: what a restore installs before it closes an end again."""
    return dataclasses.replace(p, master=dataclasses.replace(p.master, flags=p.master.flags & ~_OTHER_CLOSED),
                               slave=dataclasses.replace(p.slave, flags=p.slave.flags & ~_OTHER_CLOSED))


def restore(image: Image, *, ptmx: str = "/dev/ptmx", pair: int = 0, index: int | str = "original",
            device: str = DEVICE_PATH) -> tuple[int | None, int | None]:
    """Restore pair ``pair`` of ``image`` into a new pty from ``ptmx``: (master_fd, slave_fd).

    ``ptmx`` picks the devpts instance.  ``index``: "original" recreates the
    pair as /dev/pts/N with the N it had (pyctl.pty.IndexTaken if N is in
    use there), "any" takes the lowest free index, an int that index.

    A closed end is closed again after the restore (see _closing()): when
    every slave fd had been closed at checkpoint time, the slave (the master
    reads what is left, then EIO), and the slave fd returned is None; when
    the master had been closed, the master, and the master fd returned is
    None (the slave, hung up, reads 0 and fails writes with EIO as before).
    An end that was hung up is hung up again.
    """
    p = _restorable_pair(image, pair)
    dev = shared(device)
    info = dev.info()
    check_compatible(image, info, pair)
    p, close = _closing(p, info)
    buf = pairrecord.pair_to_record(p)
    if index == "any":
        master, slave = open_pty(ptmx)
    elif index == "original" or (isinstance(index, int) and not isinstance(index, bool) and index >= 0):
        master, slave = open_pty_at(p.index if index == "original" else index, ptmx)
    else:
        raise ValueError(f"index must be 'original', 'any' or a pty number, not {index!r}")
    try:
        dev.restore(master, buf)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return _close_again(master, slave, close)


def _close_again(master: int, slave: int, close: str | None) -> tuple[int | None, int | None]:
    if close == "master":
        os.close(master)
        return None, slave
    if close == "slave":
        os.close(slave)
        return master, None
    return master, slave


def restore_many(image: Image, *, ptmx: str = "/dev/ptmx",
                 device: str = DEVICE_PATH) -> list[tuple[int | None, int | None]]:
    """Restore every pair of ``image`` into new ptys from ``ptmx`` (the lowest free
    indices), in one call to the module: [(master_fd, slave_fd), ...] in order.

    Every pair is checked (here, then by the module) before any is
    installed; if one is refused, no pty is left behind and the error names
    it.  A closed end is closed again and a hung-up one hung up, as in restore().
    """
    settled = [_restorable_pair(image, k) for k in range(len(image.pairs))]
    room_for_fds(2 * len(settled))
    opened: list[tuple[int, int]] = []
    closes: list[str | None] = []
    try:
        dev = shared(device)
        info = dev.info()
        check_compatible(image, info)
        items = []
        for p in settled:
            p, close = _closing(p, info)
            closes.append(close)
            opened.append(open_pty(ptmx))
            items.append((opened[-1][0], pairrecord.pair_to_record(p)))
        for start in range(0, len(items), _uapi.CKPT_TTY_BATCH_MAX):
            chunk = items[start : start + _uapi.CKPT_TTY_BATCH_MAX]
            errors = dev.restore_records(chunk)
            bad = next((k for k, e in enumerate(errors) if e), None)
            if bad is not None:
                err = errors[bad]
                raise os_error(err, f"restore of pair {start + bad}: {EXPLAIN.get(err, os.strerror(err))}")
    except BaseException:
        for m, s in opened:
            os.close(m)
            os.close(s)
        raise
    return [_close_again(m, s, close) for (m, s), close in zip(opened, closes)]


ONTO_ERRORS = {
    errno.EBUSY: "the terminal holds unread input, unread output, pending echo or a typed line "
                 "(--force discards them), or it was hung up, or its other side is closed, or it changed "
                 "while the image was applied (its termios and window size may then be the image's already)",
}


def restore_onto(image: Image, fd: int, *, force: bool = False, pair: int = 0, hang_up: bool = False,
                 device: str = DEVICE_PATH) -> None:
    """Apply pair ``pair`` of ``image`` to the existing pty pair that ``fd`` (either end) belongs to.

    For a terminal some process already holds (the one a restored process
    inherits): termios, locked termios, window size (its foreground group
    gets SIGWINCH when that changes), modes, flow and packet state, and the
    saved unread input, typed partial line, echo and pending output all
    become the image's.  Refused (EBUSY) while the target holds data of its
    own, unless ``force`` discards it.

    An image whose terminal was hung up is refused unless ``hang_up``: then
    the ends it says were hung up are hung up first (every fd open on them
    goes dead, as at checkpoint time).  Only for a terminal nobody runs on
    yet, as in CRIU's post-restore stage (pyctl.criu).
    """
    p = _restorable_pair(image, pair)
    if p.master.has("other_closed"):
        raise ImageError(f"pair[{pair}].master.flags: the slave side was closed at checkpoint time; "
                         "a terminal in use cannot be made so")
    hupped = p.either_has("hupped")
    if hupped and not hang_up:
        raise ImageError(f"pair[{pair}]: the terminal was hung up at checkpoint time; "
                         "restore --onto does not hang up a terminal in use")
    dev = shared(device)
    info = dev.info()
    if "restore_onto" not in info.feature_names:
        raise PyctlError("the loaded ckpt_tty module cannot restore onto a terminal in use: load a newer one")
    if hupped and not info.features & _uapi.CKPT_TTY_FEATURE_ONTO_HANGUP:
        raise PyctlError(f"pair {p.index}: the loaded ckpt_tty.ko cannot hang up a terminal it restores onto "
                         "(it lacks the onto_hangup feature; load this version's module)")
    check_compatible(image, info, pair)
    buf = image_to_kernel(p)
    flags = (_uapi.CKPT_TTY_RESTORE_ONTO | (_uapi.CKPT_TTY_RESTORE_FORCE if force else 0)
             | (_uapi.CKPT_TTY_RESTORE_HANGUP if hupped else 0))
    dev.restore(fd, buf, flags, f"restore onto fd {fd}", ONTO_ERRORS)
