# SPDX-License-Identifier: GPL-2.0
"""A runc container with a console, checkpointed and restored: with runc alone and with pyctl runc.

The test builds its own rootfs (busybox-static), starts the container with
``"terminal": true`` and a console socket, and holds the console's master
as a container engine does.  The container's shell printed output nobody
has read and waits in ``read`` with ``hello wor`` typed.  After the
checkpoint and restore the test types ``ld`` and Enter on the new console.

Runs in the matrix (the debug kernels lack CHECKPOINT_RESTORE; see tox.ini).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from .criuutil import run, wait_for

pytestmark = pytest.mark.criu

SCRIPT = "printf 'unread output\\n'; printf 'prompt> '; read line; echo \"got:$line\"; exec /bin/busybox sleep 1000"
BEFORE = b"unread output\r\nprompt> hello wor"  # what the console's master had not read (the echo included)
WINSIZE = (33, 101)


def _inq(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def _winsize(fd: int) -> tuple[int, int]:
    return struct.unpack("4H", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))[:2]


class Container:
    """A bundle with a busybox rootfs, a console socket, and the container's runc id."""

    def __init__(self, tmp_path: Path, name: str, terminal: bool = True) -> None:
        for tool in ("runc", "criu"):
            if not shutil.which(tool):
                pytest.fail(f"{tool} is not installed (scripts/debian-packages.txt lists it)")
        self.dir = tmp_path
        self.id = f"ckpt-tty-{name}-{os.getpid()}"
        self.bundle = tmp_path / "bundle"
        rootfs = self.bundle / "rootfs"
        for d in ("bin", "proc", "dev", "sys", "tmp"):
            (rootfs / d).mkdir(parents=True)
        shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        (rootfs / "bin" / "sh").symlink_to("busybox")
        run("runc", "spec", cwd=self.bundle)
        config = json.loads((self.bundle / "config.json").read_text())
        config["process"]["terminal"] = terminal
        config["process"]["args"] = ["/bin/sh", "-c", SCRIPT if terminal else "exec /bin/busybox sleep 1000"]
        # the host's network namespace: criu would lock a namespace of the container's own
        # with iptables-restore, which the guest does not have
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
        (self.bundle / "config.json").write_text(json.dumps(config))

    def console(self, sock: str, argv: list[str], timeout: float = 300) -> int:
        """Run argv (a runc or pyctl command that sends a console to ``sock``); the master it sent."""
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(sock)
        server.listen(1)
        server.settimeout(timeout)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            conn, _ = server.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        finally:
            server.close()
            out = proc.communicate(timeout=timeout)[0]
        assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{out}"
        assert len(fds) == 1, f"{argv} sent no console"
        return fds[0]

    def start(self) -> int:
        master = self.console(str(self.dir / "run.sock"),
                              ["runc", "run", "--detach", "--bundle", str(self.bundle), "--console-socket",
                               str(self.dir / "run.sock"), self.id])
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("4H", *WINSIZE, 0, 0))
        wait_for(lambda: _inq(master) >= len(b"unread output\r\nprompt> "), "the container's prompt")
        os.write(master, b"hello wor")
        wait_for(lambda: _inq(master) == len(BEFORE), "the echo of the typed half line")
        return master

    def remove(self) -> None:
        subprocess.run(["runc", "delete", "--force", self.id], capture_output=True)

    def state(self) -> str:
        r = subprocess.run(["runc", "state", self.id], capture_output=True, text=True)
        return json.loads(r.stdout)["status"] if r.returncode == 0 else "gone"


def _read_all(fd: int, timeout: float = 5) -> bytes:
    """What the master has to read now and within ``timeout`` seconds of quiet."""
    out = b""
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            out += os.read(fd, 4096)
            deadline = time.monotonic() + 1
        except BlockingIOError:
            time.sleep(0.05)
    os.set_blocking(fd, True)
    return out


def _finish_line(master: int) -> bytes:
    os.write(master, b"ld\n")
    return wait_for(lambda: (b"got:" in (got := _read_all(master, 3))) and got, "the container's reply", 120)


@pytest.fixture
def container(tmp_path):
    made = []

    def make(name: str, terminal: bool = True) -> Container:
        c = Container(tmp_path / name, name, terminal)
        made.append(c)
        return c

    yield make
    for c in made:
        c.remove()


def test_runc_alone_loses_the_consoles_unread_output_and_half_line(container):
    c = container("alone")
    master = c.start()
    run("runc", "checkpoint", "--image-path", c.dir / "img", "--work-path", c.dir / "work", c.id)
    os.close(master)
    assert c.state() == "gone"
    master = c.console(str(c.dir / "restore.sock"),
                       ["runc", "restore", "--detach", "--bundle", str(c.bundle), "--image-path", str(c.dir / "img"),
                        "--work-path", str(c.dir / "work2"), "--console-socket", str(c.dir / "restore.sock"), c.id])
    try:
        assert c.state() == "running"
        assert _winsize(master) == WINSIZE  # criu keeps the console's window size
        assert _inq(master) == 0  # the output nobody had read is gone
        reply = _finish_line(master)
        # the half line is gone too: the shell reads only what was typed after
        assert b"got:ld\r\n" in reply, reply
    finally:
        os.close(master)


def test_pyctl_runc_keeps_the_consoles_unread_output_and_half_line(container):
    c = container("pyctl")
    master = c.start()
    before = termios.tcgetattr(master)
    done = run(sys.executable, "-m", "pyctl", "runc", "checkpoint", "--image-path", c.dir / "img", c.id, "--",
               "--work-path", c.dir / "work", cwd=os.getcwd())
    assert "1 terminal(s)" in done.stderr
    assert (c.dir / "img" / "ckpt-tty.img").exists() and (c.dir / "img" / "inventory.img").exists()
    os.close(master)
    assert c.state() == "gone"
    master = c.console(str(c.dir / "restore.sock"),
                       [sys.executable, "-m", "pyctl", "runc", "restore", "--image-path", str(c.dir / "img"),
                        "--console-socket", str(c.dir / "restore.sock"), c.id, "--", "--bundle", str(c.bundle),
                        "--work-path", str(c.dir / "work2")])
    try:
        assert c.state() == "running"
        assert _winsize(master) == WINSIZE
        assert termios.tcgetattr(master) == before
        assert _read_all(master, 1) == BEFORE  # what the old master had not read, byte for byte
        reply = _finish_line(master)
        assert reply == b"ld\r\ngot:hello world\r\n", reply  # the echo of "ld", then the whole line
    finally:
        os.close(master)


def test_pyctl_runc_checkpoint_of_a_container_without_console_refuses_and_leaves_it_running(container):
    c = container("noconsole", terminal=False)
    # no console: the container's output would hold a pipe of ours open
    r = subprocess.run(["runc", "run", "--detach", "--bundle", str(c.bundle), c.id], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert r.returncode == 0
    r = subprocess.run([sys.executable, "-m", "pyctl", "runc", "checkpoint", "--image-path", str(c.dir / "img"),
                        c.id], capture_output=True, text=True)
    assert r.returncode == 1
    assert "holds no terminal" in r.stderr and "Traceback" not in r.stderr
    assert c.state() == "running"  # paused for the look, resumed after it
    assert not (c.dir / "img" / "inventory.img").exists()


def test_pyctl_runc_checkpoint_with_leave_running_leaves_the_console_as_it_was(container):
    c = container("leave")
    master = c.start()
    try:
        run(sys.executable, "-m", "pyctl", "runc", "checkpoint", "--image-path", c.dir / "img", c.id, "--",
            "--leave-running", "--work-path", c.dir / "work", cwd=os.getcwd())
        assert (c.dir / "img" / "ckpt-tty.img").exists()
        assert c.state() == "running"  # paused by pyctl for the checkpoint, resumed after it
        assert _read_all(master, 1) == BEFORE  # the checkpoint took nothing away
        assert _finish_line(master) == b"ld\r\ngot:hello world\r\n"
    finally:
        os.close(master)
