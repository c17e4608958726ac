# SPDX-License-Identifier: GPL-2.0
"""Processes: take another process's fd, run a command on a restored terminal."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import json
import select
import socket
import sys
import termios
import tty

from .errors import os_error

__all__ = ["pidfd_getfd", "run_on_terminal", "send_fds"]

SYS_pidfd_getfd = 438  # the same number on every architecture (Linux 5.6)


def pidfd_getfd(pid: int, fd: int) -> int:
    """A duplicate of file descriptor ``fd`` of process ``pid`` (needs ptrace rights)."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as e:
        raise os_error(e.errno, f"process {pid}: {e.strerror}") from None
    try:
        new = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        if new < 0:
            err = ctypes.get_errno()
            raise os_error(err, f"fd {fd} of process {pid}: {os.strerror(err)}"
                             + (" (needs the right to ptrace it)" if err == errno.EPERM else ""))
        os.set_inheritable(new, False)
        return new
    finally:
        os.close(pidfd)


def _child(slave: int, master: int, command: list[str]) -> None:
    """In the child: new session, slave as controlling tty and stdio, exec."""
    try:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(master)
        if slave > 2:
            os.close(slave)
        os.execvp(command[0], command)
    except OSError as e:
        os.write(2, f"pyctl: cannot run {command[0]}: {e.strerror}\n".encode())
    finally:
        os._exit(127)


def run_on_terminal(master: int, slave: int, command: list[str]) -> int:
    """Run ``command`` on the restored pair; relay the master to our own stdio.

    Like script(1): the command's session has the slave as controlling
    terminal, and our terminal (if stdin is one) is in raw mode meanwhile.
    Returns the command's exit status.
    """
    pid = os.fork()
    if pid == 0:
        _child(slave, master, command)
    os.close(slave)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    if saved is not None:
        tty.setraw(stdin)
    inputs = [master, stdin]
    try:
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:  # EIO: the slave side is gone
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                os.write(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    os.write(master, data)
                else:
                    inputs.remove(stdin)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSAFLUSH, saved)
        os.close(master)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def send_fds(path: str, master: int | None, slave: int | None, index: int) -> int:
    """Hand the restored pair to the program listening on Unix socket ``path`` (SCM_RIGHTS).

    One message: a JSON line naming what the descriptors are, in order
    ({"pty": "/dev/pts/N", "fds": ["master", "slave"]}; an end closed at
    checkpoint time is left out), with the descriptors attached.  "@name"
    is an abstract socket.  Our copies are closed afterwards: the receiver
    owns the pair.
    """
    address = "\0" + path[1:] if path.startswith("@") else path
    named = [(name, fd) for name, fd in (("master", master), ("slave", slave)) if fd is not None]
    fds = [fd for _, fd in named]
    header = json.dumps({"pty": f"/dev/pts/{index}", "fds": [name for name, _ in named]}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(address)
            socket.send_fds(sock, [header], fds)
    except OSError as e:
        raise os_error(e.errno, f"{path}: cannot pass the terminal: {e.strerror}") from None
    finally:
        for fd in fds:
            os.close(fd)
    return 0
