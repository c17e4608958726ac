# SPDX-License-Identifier: GPL-2.0
"""CRIU with every terminal of the tree: ``pyctl criu dump`` and ``pyctl criu restore``.

CRIU saves a tree's ttys by reading their queues with non-blocking reads (at
most 16 KiB a side, for pairs with both ends in the tree, none for others)
and writing the bytes back through the line discipline at restore: a
half-typed line is lost and output is processed twice.  Here:

dump
    freezes the tree's cgroup (cgroup v2 ``cgroup.freeze``; the tree must be
    alone in it, as a container or a ``systemd-run --scope`` unit is), finds
    every pty fd of every task (/proc/PID/fd), checkpoints each pair once
    through a duplicate of one of its fds (pidfd_getfd), writes
    ``ckpt-tty.img`` and ``ckpt-tty.json`` (which fds of which tasks are
    which end of which pair) into CRIU's image directory, and runs ``criu
    dump --freeze-cgroup`` on the still-frozen tree, so nothing moves
    between the two snapshots.
restore
    runs ``criu restore`` with this module as its action script.  At
    ``post-restore`` every task holds its fds again and none has run: the
    hook finds each pair through the fds the map names, checks all of them,
    then applies each saved state with ``restore --onto`` (FORCE: it
    replaces what CRIU wrote back).  A missing or extra terminal fails the
    hook, and CRIU then kills the restored tree: nothing half-applied.

A pair with only one end in the tree (a shell job's terminal, ``criu -j``)
is put onto whatever terminal criu gives that end at restore (criu hands a
shell job its own stdin); pairs with both ends inside come back at their
index.  Tasks are named by their pids in the tree root's pid namespace.

A pair whose slave (or master) was hung up comes back hung up: CRIU
recreates it live, and the hook hangs it up again (restore --onto with
hang_up: the tree's fds on that end go dead as they were, the data waiting
for the next open is kept).  A master whose slave fds had all been closed
gets its unread output back and its slave closed again (criu brings it
back with a live pair behind it); a slave whose master was closed is left
to CRIU, which brings it back hung up and closed, as it was
(tests/vm/test_criu_tree.py).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shlex
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import _uapi, abi, ckpt
from .errors import PyctlError
from .image import dumps, load
from .lowlevel import shared
from .proc import pidfd_getfd
from .pty import OPEN_FLAGS, TIOCGPTPEER, is_ptmx

__all__ = ["dump", "restore", "hook", "tree_ttys", "save_terminals"]

IMAGE, MAP, HOOK_SCRIPT, HOOK_LOG = "ckpt-tty.img", "ckpt-tty.json", "ckpt-tty-hook", "ckpt-tty-hook.log"
PTS_MAJORS = range(136, 144)  # UNIX98_PTY_SLAVE_MAJOR and the majors after it
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class TtyFd:
    """One fd of one task that is an end of a pty pair."""

    pid: int  # in our pid namespace (what pidfd_getfd takes)
    fd: int
    end: str  # "master" or "slave"
    pair: tuple[int, int]  # (devpts st_dev, index): the pair, unique on this machine
    tree_pid: int  # in the tree root's pid namespace: what criu restores (see ns_pids)


def tree(root: int) -> list[int]:
    """``root`` and every descendant, parents first (/proc/PID/task/TID/children)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        for task in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            try:
                todo += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
            except FileNotFoundError:  # the thread exited meanwhile
                pass
    return out


def ns_pids(pids: list[int]) -> dict[int, int]:
    """pid -> the pid of that task in the pid namespace of pids[0] (the tree's root).

    CRIU gives every task of a tree its pid back in the root's namespace
    and below; above it (when the root is the init of a pid namespace of its
    own) the restored tasks get whatever pids the kernel hands out.  So the
    map names tasks by these pids (/proc/PID/status NSpid: outermost first).
    """
    def nspid(pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(p) for p in line.split()[1:]]
        return [pid]  # kernels before 4.1 show no NSpid; no namespaces to tell apart then

    level = len(nspid(pids[0])) - 1
    return {pid: nspid(pid)[level] for pid in pids}


def _end_of(st: os.stat_result) -> str | None:
    """"master" or "slave" for a UNIX98 pty end (by its device number), else None."""
    if not stat.S_ISCHR(st.st_mode):
        return None
    if os.major(st.st_rdev) in PTS_MAJORS:
        return "slave"
    return "master" if is_ptmx(st) else None


def _pairs_of(fds: list[int]) -> list[tuple[int, int] | None]:
    """(devpts_dev, index) of the pair each fd belongs to, as the module names it; None if it refuses."""
    out = []
    dev = shared()
    for start in range(0, len(fds), _uapi.CKPT_TTY_BATCH_MAX):
        for rec in dev.checkpoint_records(fds[start : start + _uapi.CKPT_TTY_BATCH_MAX]):
            h = abi.decode("ckpt_tty_record", rec)
            out.append(None if h["error"] else (h["devpts_dev"], h["index"]))
    return out


def tree_ttys(root: int) -> list[TtyFd]:
    """Every pty fd of the tree of ``root`` (controlling ttys are among them when held open).

    A master's /dev/pts/N is not in its fd's stat, so each fd is named by the
    module (the pair's index and devpts instance) through a duplicate.
    """
    found = []
    members = tree(root)
    in_tree = ns_pids(members)
    for pid in members:
        for name in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
            try:
                end = _end_of(os.stat(f"/proc/{pid}/fd/{name}"))
            except OSError:
                continue
            if end:
                found.append((pid, int(name), end))
    dups = [pidfd_getfd(pid, fd) for pid, fd, _ in found]
    try:
        names = _pairs_of(dups) if dups else []
    finally:
        for fd in dups:
            os.close(fd)
    return [TtyFd(pid, fd, end, pair, in_tree[pid]) for (pid, fd, end), pair in zip(found, names)
            if pair is not None]


# ---- the freezer ----

def cgroup_of(pid: int) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return CGROUP_ROOT / line[3:].lstrip("/")
    raise PyctlError(f"process {pid} is in no cgroup v2 hierarchy: pyctl criu needs cgroup v2 to freeze the tree")


def alone_in_cgroup(root: int) -> Path:
    """The cgroup that holds exactly the tree of ``root``; PyctlError naming what is wrong otherwise."""
    cg = cgroup_of(root)
    members = set(tree(root))
    inside = {int(p) for p in (cg / "cgroup.procs").read_text().split()}
    outside = [p for p in members if cgroup_of(p) != cg]
    if inside != members or outside:
        raise PyctlError(f"{cg}: the tree of {root} must be alone in its cgroup, so that freezing it freezes "
                         f"nothing else and all of it (others in it: {sorted(inside - members)[:5]}; tree members "
                         f"elsewhere: {outside[:5]}); run it in its own cgroup (systemd-run --scope, a container)")
    return cg


def _freeze(cg: Path, on: bool, timeout: float = 30) -> None:
    (cg / "cgroup.freeze").write_text("1" if on else "0")
    deadline = time.monotonic() + timeout
    while f"frozen {int(on)}" not in (cg / "cgroup.events").read_text().split("\n"):
        if time.monotonic() > deadline:
            raise PyctlError(f"{cg}: not {'frozen' if on else 'thawed'} after {timeout:.0f} s")
        time.sleep(0.01)


# ---- dump ----

def save_terminals(directory: Path, root: int, ttys: list[TtyFd]) -> list[dict]:
    """Checkpoint each pair the fds ``ttys`` (of the frozen tree of ``root``) hold, in one call,
    and write IMAGE and MAP into ``directory``: the map's entries, one per pair, in image order."""
    pairs = sorted({t.pair for t in ttys})
    taken = []
    try:
        for pair in pairs:
            holder = next(t for t in ttys if t.pair == pair)
            taken.append(pidfd_getfd(holder.pid, holder.fd))
        image = ckpt.checkpoint_many(taken) if taken else None
    finally:
        for fd in taken:
            os.close(fd)
    if image is not None:
        (directory / IMAGE).write_bytes(dumps(image))
    entries = []
    for dev, index in pairs:
        fds = [[t.tree_pid, t.fd, t.end] for t in ttys if t.pair == (dev, index)]
        # inside: both ends in the tree (criu recreates the pair at its index); else the tree
        # holds one end of a terminal outside it, as a shell job (criu -j) holds its slave
        entries.append({"index": index, "devpts_dev": dev, "fds": fds,
                        "inside": {end for _, _, end in fds} == {"master", "slave"}})
    (directory / MAP).write_text(json.dumps({"root": root, "pairs": entries}, indent=1) + "\n")
    print(f"pyctl: {len(pairs)} terminal(s) of {len(ttys)} fd(s) saved in {directory / IMAGE}", file=sys.stderr)
    return entries


def dump(root: int, images_dir: str, criu_args: list[str], *, criu: str = "criu") -> int:
    """Checkpoint every terminal of the tree, then ``criu dump`` it; criu's exit status."""
    directory = Path(images_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cg = alone_in_cgroup(root)
    _freeze(cg, True)
    try:
        save_terminals(directory, root, tree_ttys(root))
        return subprocess.run([criu, "dump", "-t", str(root), "-D", str(directory), "--freeze-cgroup", str(cg),
                               *criu_args]).returncode
    finally:
        if cg.exists():
            _freeze(cg, False)


# ---- restore ----

def restore(images_dir: str, criu_args: list[str], *, criu: str = "criu") -> int:
    """``criu restore`` with pyctl's post-restore hook; criu's exit status."""
    directory = Path(images_dir)
    if not (directory / MAP).exists():
        raise PyctlError(f"{directory / MAP}: no terminal map; was this dumped with pyctl criu dump?")
    check_indices_free(json.loads((directory / MAP).read_text()))
    # criu execs an action script by its path, without a shell: a script of our own runs this module.
    package_root = str(Path(__file__).resolve().parent.parent)
    script = directory / HOOK_SCRIPT
    # criu runs it at every stage; only post-restore needs Python (seconds to start under TCG)
    script.write_text(f"#!/bin/sh\n[ \"$CRTOOLS_SCRIPT_ACTION\" = post-restore ] || exit 0\n"
                      f"PYTHONPATH={shlex.quote(package_root)}${{PYTHONPATH:+:$PYTHONPATH}} "
                      f"exec {shlex.quote(sys.executable)} -m pyctl criu hook\n")
    script.chmod(0o755)
    (directory / HOOK_LOG).unlink(missing_ok=True)
    status = subprocess.run([criu, "restore", "-D", str(directory), "--action-script", str(script.resolve()),
                             *criu_args]).returncode
    if status and (directory / HOOK_LOG).exists():
        print((directory / HOOK_LOG).read_text(), end="", file=sys.stderr)
    return status


def check_indices_free(saved: dict, pts: str = "/dev/pts") -> None:
    """PyctlError when a pair dumped from this devpts instance cannot get its /dev/pts/N back.

    criu recreates a pair at its old index (it opens ptmx until it gets N;
    there is no way to ask for N) and fails the whole restore when another
    terminal holds N (criu issues 102, 1040).  Say so before criu starts.
    """
    here = os.stat(pts).st_dev
    taken = [e["index"] for e in saved["pairs"] if e.get("inside", True) and e["devpts_dev"] in (here, 0)
             and os.path.exists(f"{pts}/{e['index']}")]
    if taken:
        raise PyctlError(f"{', '.join(f'{pts}/{n}' for n in taken)}: taken by another terminal, and criu can "
                         "restore a pty only at its old index: close that terminal, or restore the tree in a "
                         "devpts instance of its own (a mount namespace with devpts mounted -o newinstance, "
                         "as a container has)")


def hook() -> int:
    """criu's action script: at post-restore, put every terminal's saved state back."""
    if os.environ.get("CRTOOLS_SCRIPT_ACTION") != "post-restore":
        return 0
    directory = Path(os.environ["CRTOOLS_IMAGE_DIR"])
    try:
        root = os.environ.get("CRTOOLS_INIT_PID")
        if not root:
            raise PyctlError("criu set no CRTOOLS_INIT_PID at post-restore (criu 3.17 or newer sets it)")
        apply_saved(directory, int(root))
    except (PyctlError, OSError, ValueError) as e:
        message = f"pyctl criu hook: {e}; the restore is aborted"
        print(message, file=sys.stderr)  # criu's log
        (directory / HOOK_LOG).write_text(message + "\n")
        return 1
    return 0


def match_restored(saved: dict, now: list[TtyFd]) -> list[TtyFd]:
    """For each saved pair, the fd of the restored tree that holds what it has become, all checked.

    CRIU gives every task its pid (in the tree's pid namespace) and its fds
    back, so a saved pair is the one
    its fds name now: all of them one pair, of the same ends as before, at
    the same index when both ends are in the tree (criu recreates those
    there); a pair with one end outside (a shell job's terminal) is
    whatever terminal criu was given for it.  PyctlError names the first
    missing, changed or extra terminal.
    """
    held = {(t.tree_pid, t.fd): t for t in now}
    out: list[TtyFd] = []
    for entry in saved["pairs"]:
        index, found, first = entry["index"], set(), None
        for pid, fd, end in entry["fds"]:
            t = held.pop((pid, fd), None)
            first = first or t
            if t is None or t.end != end:
                what = "no pty end" if t is None else f"the {t.end} of /dev/pts/{t.pair[1]}"
                raise PyctlError(f"/dev/pts/{index}: fd {fd} of process {pid} is {what} after the restore, "
                                 f"not its {end}")
            found.add(t.pair)
        if len(found) != 1:
            raise PyctlError(f"/dev/pts/{index}: the fds that held it hold {len(found)} terminals after the "
                             f"restore (/dev/pts/{sorted(n for _, n in found)})")
        (pair,) = found
        if entry.get("inside", True) and pair[1] != index:
            raise PyctlError(f"/dev/pts/{index} came back as /dev/pts/{pair[1]}")
        out.append(first)
    if held:
        extra = sorted(held.values(), key=lambda t: (t.tree_pid, t.fd))
        raise PyctlError("the restored tree holds terminals the dumped one did not: "
                         + ", ".join(f"fd {t.fd} of process {t.tree_pid} (/dev/pts/{t.pair[1]})" for t in extra[:5]))
    if len({t.pair for t in out}) != len(out):
        raise PyctlError("two terminals of the dumped tree are one terminal after the restore")
    return out


def _restore_with_slave_closed(image, k: int, master: int) -> None:
    """Pair ``k``, whose every slave fd had been closed, onto the pair of the tree's ``master``.

    criu brings such a master back with a live pair behind it (a reader
    then waits instead of getting EIO once the output is read) and without
    its unread output.  other_closed comes from a close, so: open the slave,
    apply the state without the flag, close the slave again (pty_close()
    sets it on the master), as pyctl.restore does for a new pair.
    """
    live = ckpt.without_other_closed(image.pairs[k])
    slave = fcntl.ioctl(master, TIOCGPTPEER, OPEN_FLAGS)
    try:
        ckpt.restore_onto(dataclasses.replace(image, pairs=[live]), master, force=True, hang_up=True)
    finally:
        os.close(slave)


def apply_saved(directory: Path, root: int) -> None:
    """Find every saved pair in the restored tree of ``root``, check all, then restore each onto its terminal."""
    saved = json.loads((directory / MAP).read_text())
    holders = match_restored(saved, tree_ttys(root))
    if not saved["pairs"]:
        return
    with open(directory / IMAGE, "rb") as f:
        image = load(f)
    if len(image.pairs) != len(saved["pairs"]):
        raise PyctlError(f"{directory}: {len(image.pairs)} pairs in {IMAGE}, {len(saved['pairs'])} in {MAP}")
    targets = []
    try:
        for holder in holders:
            targets.append(pidfd_getfd(holder.pid, holder.fd))
        for k, target in enumerate(targets):
            p = image.pairs[k]
            if p.slave.has("other_closed"):
                continue  # the master was closed: criu recreated what the tree holds of it (docstring)
            if p.master.has("other_closed"):
                _restore_with_slave_closed(image, k, target)
                continue
            # criu brings a hung-up pair back live (and writes its queued output through the
            # slave again): hang it up again, as it was; no task of the tree has run yet
            ckpt.restore_onto(image, target, force=True, pair=k, hang_up=True)
    finally:
        for fd in targets:
            os.close(fd)
