# SPDX-License-Identifier: GPL-2.0
"""A runc container's console kept through ``runc checkpoint`` / ``runc restore``.

runc drives CRIU through its RPC and hands CRIU the console as an orphan
pts slave: CRIU keeps its termios and window size and none of its data (the
container's unread output, the input it has not read, a half-typed line).
Debian 12's CRIU (3.17) cannot run an action script for runc (a script
given in any config file hits a BUG_ON in RPC mode; fixed in CRIU 3.19), so
pyctl works around runc instead of inside CRIU:

checkpoint
    ``runc pause`` (the container's cgroup frozen), checkpoint the console
    pair through the container's slave fd (pidfd_getfd), write ckpt-tty.img
    and ckpt-tty.json into the image directory, then ``runc checkpoint`` of
    the paused container (runc allows it, and CRIU takes the frozen cgroup as
    it is): nothing moves between the two snapshots.
restore
    ``runc restore --console-socket`` with a socket of pyctl's own.  CRIU
    makes the new console pair in the container's devpts and passes its
    master up (runc forwards it to the console socket) while it restores the
    files, before any task of the container runs.  pyctl checks that it is
    the saved terminal (its index), applies the saved state with ``restore
    --onto`` (not FORCE: if the container had used its console already, the
    apply is refused instead of discarding what it did), and only then
    passes the master on to the caller's console socket.  A failed apply
    kills the restored container: nothing half-applied.

Only the console: a pty with both ends inside the container (tmux in it)
is refused at checkpoint time, as runc gives no stage after CRIU restored
it and before the tasks run; ``pyctl criu`` on the container's tree keeps
those.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import ckpt
from .criu import IMAGE, MAP, save_terminals, tree_ttys
from .errors import PyctlError
from .image import load
from .pty import is_ptmx

__all__ = ["checkpoint", "restore"]

RECEIVE_TIMEOUT = 300  # seconds runc may take to pass the console on (a TCG guest restores slowly)


def _state(runc: list[str], container: str) -> dict:
    done = subprocess.run([*runc, "state", container], capture_output=True, text=True)
    if done.returncode:
        raise PyctlError(f"runc state {container}: {done.stderr.strip() or f'exit status {done.returncode}'}")
    return json.loads(done.stdout)


def _run(runc: list[str], *args: str) -> None:
    done = subprocess.run([*runc, *args], capture_output=True, text=True)
    if done.returncode:
        raise PyctlError(f"runc {' '.join(args)}: {done.stderr.strip() or f'exit status {done.returncode}'}")


def console_ttys(ttys: list) -> list:
    """The fds of ``ttys`` (criu.TtyFd of a container's tree) that are its console: PyctlError unless
    the tree holds exactly one pty, and only slave ends of it (CRIU's orphan pts, runc's console)."""
    pairs = sorted({t.pair for t in ttys})
    ends = {p: {t.end for t in ttys if t.pair == p} for p in pairs}
    inside = [p for p in pairs if ends[p] != {"slave"}]
    if inside:
        raise PyctlError("the container holds the master of /dev/pts/"
                         + ", ".join(str(p[1]) for p in inside)
                         + ": runc gives pyctl no stage after CRIU recreates such a pty and before the tasks run; "
                           "use pyctl criu dump on the container's tree for terminals inside it")
    if len(pairs) != 1:
        raise PyctlError("the container holds no terminal: start it with a console (\"terminal\": true)"
                         if not pairs else
                         f"the container holds {len(pairs)} terminals it has no master of; runc and CRIU "
                         "keep one, its console")
    return ttys


def checkpoint(container: str, image_path: str, runc_args: list[str], *, runc: list[str] | None = None) -> int:
    """Save the container's console, then ``runc checkpoint`` it; runc's exit status."""
    runc = runc or ["runc"]
    directory = Path(image_path)
    state = _state(runc, container)
    if state.get("status") != "running":
        raise PyctlError(f"container {container} is {state.get('status')}; pyctl runc checkpoint needs it running "
                         "(it pauses it itself)")
    directory.mkdir(parents=True, exist_ok=True)
    _run(runc, "pause", container)
    try:
        save_terminals(directory, state["pid"], console_ttys(tree_ttys(state["pid"])))
        return subprocess.run([*runc, "checkpoint", "--image-path", str(directory), *runc_args,
                               container]).returncode
    finally:
        # runc destroys the container after a checkpoint unless --leave-running; else (or after a
        # failure) it is still paused, by us
        try:
            if _state(runc, container).get("status") == "paused":
                _run(runc, "resume", container)
        except PyctlError:
            pass


def _saved_console(directory: Path):
    try:
        saved = json.loads((directory / MAP).read_text())
        with open(directory / IMAGE, "rb") as f:
            image = load(f)
    except FileNotFoundError as e:
        raise PyctlError(f"{e.filename}: missing; was this checkpointed with pyctl runc checkpoint?") from None
    if len(saved["pairs"]) != 1 or len(image.pairs) != 1 or saved["pairs"][0]["inside"]:
        raise PyctlError(f"{directory}: not one console terminal in {MAP} and {IMAGE}")
    return saved["pairs"][0], image


def _receive_master(server: socket.socket, runc_proc: subprocess.Popen) -> tuple[int, bytes] | None:
    """The fd runc sends on our console socket, with its name; None if runc ended first."""
    deadline = time.monotonic() + RECEIVE_TIMEOUT
    server.settimeout(0.2)
    conn = None
    try:
        while time.monotonic() < deadline:
            if runc_proc.poll() is not None:
                return None
            try:
                if conn is None:
                    conn, _ = server.accept()
                    conn.settimeout(0.2)
                name, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            except TimeoutError:
                continue
            if not fds:
                raise PyctlError("runc closed the console socket without passing a terminal")
            return fds[0], name
        raise PyctlError(f"runc passed no console within {RECEIVE_TIMEOUT} s")
    finally:
        if conn is not None:
            conn.close()


def apply_console(entry: dict, image, master: int) -> None:
    """Put the saved console state onto the pair of ``master`` (what CRIU made for the container)."""
    if not is_ptmx(os.fstat(master)):
        raise PyctlError("runc passed something that is not a pty master as the console")
    (now,) = ckpt.checkpoint_many([master]).pairs
    if now.index != entry["index"]:
        raise PyctlError(f"the console came back as /dev/pts/{now.index}, not /dev/pts/{entry['index']}")
    p = image.pairs[0]
    if p.either_has("hupped") or p.either_has("other_closed"):
        raise PyctlError("the saved console was hung up or closed; restore --onto does not hang up a terminal")
    ckpt.restore_onto(image, master, pair=0)


def restore(container: str, image_path: str, console_socket: str, runc_args: list[str], *,
            runc: list[str] | None = None) -> int:
    """``runc restore --detach`` with the saved console put back before the caller gets its master."""
    runc = runc or ["runc"]
    directory = Path(image_path)
    entry, image = _saved_console(directory)
    with tempfile.TemporaryDirectory(prefix="pyctl-runc-") as tmp:
        ours = os.path.join(tmp, "console.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(ours)
        server.listen(1)
        proc = subprocess.Popen([*runc, "restore", "--detach", "--image-path", str(directory),
                                 "--console-socket", ours, *runc_args, container])
        try:
            got = _receive_master(server, proc)
        except PyctlError:
            proc.kill()
            proc.wait()
            raise
        finally:
            server.close()
        if got is None:
            return proc.wait()  # runc failed before CRIU made the console; it said why
        master, name = got
        try:
            apply_console(entry, image, master)
        except (PyctlError, OSError) as e:
            os.close(master)
            proc.wait()
            subprocess.run([*runc, "kill", container, "KILL"], capture_output=True)
            subprocess.run([*runc, "delete", "--force", container], capture_output=True)
            print(f"pyctl runc restore: {e}; the restored container was killed", file=sys.stderr)
            return 1
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as out:
                out.connect(console_socket)
                socket.send_fds(out, [name or b"console"], [master])
        finally:
            os.close(master)
        return proc.wait()
