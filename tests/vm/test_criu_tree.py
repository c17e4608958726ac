# SPDX-License-Identifier: GPL-2.0
"""``pyctl criu dump/restore``: a whole process tree with its terminals, one command each.

The tree is a small terminal emulator (the root) running two shell-like
programs, each in its own session on its own pty; both ends of both pairs
are inside the tree, as with tmux or screen.  Each program printed output
the emulator has not read yet, and half a line was typed to each.  The tree
is dumped and restored, then told to carry on: it reads what its terminals
show, types the rest of each line, and writes down what everything saw.
The same cycle with plain ``criu dump``/``criu restore`` shows what CRIU
alone keeps.

Runs in the matrix (the debug kernels lack CHECKPOINT_RESTORE; see tox.ini).
"""

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .criuutil import remove_cgroup, run, tree_cgroup

pytestmark = pytest.mark.criu

EMULATOR = r'''
import fcntl, json, os, pty, select, signal, struct, sys, termios, time
result = sys.argv[1]
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
SHELL = ("import sys; sys.stdout.write('unread output %d\\nprompt> '); sys.stdout.flush(); "
         "print('got:', repr(sys.stdin.readline())); sys.stdout.flush()")
masters = []
for k, rows in enumerate((24, 50)):
    m, s = pty.openpty()
    fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("4H", rows, 80, 0, 0))
    if os.fork() == 0:
        os.setsid(); fcntl.ioctl(s, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2): os.dup2(s, fd)
        os.close(m); os.close(s)
        os.execv(sys.executable, [sys.executable, "-c", SHELL % k])
    os.close(s)
    masters.append(m)
for k, m in enumerate(masters):  # each shell has printed its prompt (left unread: FIONREAD counts it)
    while struct.unpack("i", fcntl.ioctl(m, termios.FIONREAD, bytes(4)))[0] < len(f"unread output {k}\r\nprompt> "):
        time.sleep(0.05)
time.sleep(0.5)  # and blocks in readline
for m in masters:
    os.write(m, b"hello wor")  # typed, not finished; the emulator reads nothing yet
open(result + ".ready", "w").close()
signal.sigwait({signal.SIGUSR1})
def shown(m, until, timeout=30.0):
    out, end = b"", time.monotonic() + timeout
    while until not in out and time.monotonic() < end:
        if select.select([m], [], [], 0.2)[0]:
            try:
                out += os.read(m, 4096)
            except OSError:
                break
    return out
before = [shown(m, b"hello wor", 3.0) for m in masters]
for m in masters:
    os.write(m, b"ld\n")
after = [shown(m, b"')\r\n") for m in masters]
winsizes = [struct.unpack("4H", fcntl.ioctl(m, termios.TIOCGWINSZ, bytes(8)))[:2] for m in masters]
with open(result, "w") as f:
    json.dump({"before": [b.decode("latin-1") for b in before], "after": [a.decode("latin-1") for a in after],
               "winsizes": winsizes}, f)
'''


def _start_tree(tmp_path, cg: Path, pid_namespace: bool = False) -> tuple[subprocess.Popen, Path]:
    """The emulator, in cgroup ``cg``; with ``pid_namespace`` as the init of a pid namespace of its
    own (unshare --pid --fork, then setsid: criu wants the init to lead its session)."""
    script, result = tmp_path / "emulator.py", tmp_path / "result.json"
    script.write_text(EMULATOR)
    log_path = tmp_path / "emulator.log"
    # unshare writes to its stderr when its child dies in the dump, and criu refuses at restore an
    # open file whose size changed: then nothing keeps the output.  Its cwd: criu's parasite makes
    # a directory there to mount the namespace's /proc (the checkout is read-only in the guest).
    log = subprocess.DEVNULL if pid_namespace else open(log_path, "w")
    prefix = ["unshare", "--pid", "--fork", "setsid"] if pid_namespace else []
    proc = subprocess.Popen([*prefix, sys.executable, str(script), str(result)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, start_new_session=True, cwd=tmp_path if pid_namespace else None,
                            preexec_fn=lambda: (cg / "cgroup.procs").write_text("0"))
    deadline = time.monotonic() + 60
    while not Path(str(result) + ".ready").exists():
        assert proc.poll() is None, log_path.read_text() if log_path.exists() else "the emulator exited"
        assert time.monotonic() < deadline, "the emulator did not get ready"
        time.sleep(0.1)
    time.sleep(0.5)
    return proc, result


def _finish(pid: int, result: Path) -> dict:
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 90
    while not result.exists() or not result.read_text().endswith("}"):
        assert time.monotonic() < deadline, "the restored tree wrote no result"
        time.sleep(0.2)
    return json.loads(result.read_text())


def cycle(tmp_path, with_pyctl: bool) -> dict:
    cg = tree_cgroup(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    proc, result = _start_tree(tmp_path, cg)
    pid = proc.pid
    if with_pyctl:
        run(sys.executable, "-m", "pyctl", "criu", "dump", "-t", str(pid), "-D", str(images), cwd=os.getcwd())
    else:
        run("criu", "dump", "-t", str(pid), "-D", str(images), cwd=images)
    proc.wait()  # dump killed it: reap it, or its zombie keeps the pid restore needs
    if with_pyctl:
        run(sys.executable, "-m", "pyctl", "criu", "restore", "-D", str(images), "--", "--restore-detached",
             cwd=os.getcwd())
    else:
        run("criu", "restore", "-D", str(images), "--restore-detached", cwd=images)
    try:
        return _finish(pid, result)
    finally:
        remove_cgroup(cg)


def test_pyctl_criu_keeps_every_terminal_of_the_tree(module_loaded, tmp_path):
    got = cycle(tmp_path, with_pyctl=True)
    for k in range(2):
        assert got["before"][k] == f"unread output {k}\r\nprompt> hello wor"
        assert got["after"][k] == "ld\r\ngot: 'hello world\\n'\r\n"
    assert got["winsizes"] == [[24, 80], [50, 80]]


def _pid_namespace_cycle(tmp_path, with_pyctl: bool) -> dict:
    """cycle() for the tree as the init of a pid namespace of its own, as in a container: criu
    dumps the namespace and restores it anew (other outer pids)."""
    cg = tree_cgroup(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    proc, result = _start_tree(tmp_path, cg, pid_namespace=True)
    init = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
    Path("/sys/fs/cgroup/cgroup.procs").write_text(str(proc.pid))  # unshare is not part of the tree
    assert _nspid(init)[-1] == 1
    pidfile = tmp_path / "restored.pid"
    if with_pyctl:
        run(sys.executable, "-m", "pyctl", "criu", "dump", "-t", str(init), "-D", str(images), cwd=os.getcwd())
    else:
        run("criu", "dump", "-t", str(init), "-D", str(images), cwd=images)
    proc.wait()  # unshare ends when its child, the namespace's init, is killed by the dump
    if with_pyctl:
        run(sys.executable, "-m", "pyctl", "criu", "restore", "-D", str(images), "--", "--restore-detached",
            "--pidfile", str(pidfile), cwd=os.getcwd())
    else:
        run("criu", "restore", "-D", str(images), "--restore-detached", "--pidfile", str(pidfile), cwd=images)
    try:
        restored = int(pidfile.read_text())
        assert _nspid(restored)[-1] == 1  # the init of a new pid namespace again
        return _finish(restored, result)
    finally:
        remove_cgroup(cg)


def test_pyctl_criu_keeps_the_terminals_of_a_tree_in_its_own_pid_namespace(module_loaded, tmp_path):
    """pyctl names the tasks by their pids inside the namespace (NSpid), so its hook finds the
    restored terminals there."""
    got = _pid_namespace_cycle(tmp_path, with_pyctl=True)
    for k in range(2):
        assert got["before"][k] == f"unread output {k}\r\nprompt> hello wor"
        assert got["after"][k] == "ld\r\ngot: 'hello world\\n'\r\n"
    assert got["winsizes"] == [[24, 80], [50, 80]]


def _nspid(pid: int) -> list[int]:
    """A task's pids, outermost first (/proc/PID/status NSpid)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return [int(n) for n in status.split("NSpid:", 1)[1].split("\n", 1)[0].split()]


def test_criu_alone_loses_the_typed_half_lines_in_a_pid_namespace_too(module_loaded, tmp_path):
    """What CRIU alone keeps of the namespaced tree, measured (README, the whole-tree table)."""
    got = _pid_namespace_cycle(tmp_path, with_pyctl=False)
    for k in range(2):
        assert "got: 'ld\\n'" in got["after"][k]
        assert got["before"][k] == f"unread output {k}\r\r\nprompt> hello wor"
    assert got["winsizes"] == [[24, 80], [50, 80]]


def test_criu_alone_loses_the_typed_half_lines(module_loaded, tmp_path):
    """What CRIU alone keeps of the same tree, measured (README, "With CRIU")."""
    got = cycle(tmp_path, with_pyctl=False)
    print(json.dumps(got))
    for k in range(2):
        assert "got: 'ld\\n'" in got["after"][k]  # the program never saw "hello wor"
        # criu wrote the drained output back through the slave: processed twice (ONLCR again)
        assert got["before"][k] == f"unread output {k}\r\r\nprompt> hello wor"


def test_a_taken_index_is_named_before_criu_starts(module_loaded, tmp_path):
    """Another terminal took /dev/pts/N meanwhile: criu cannot restore at N (criu issues 102, 1040)."""
    from pyctl.pty import open_pty, pty_index

    cg = tree_cgroup(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    proc, result = _start_tree(tmp_path, cg)
    run(sys.executable, "-m", "pyctl", "criu", "dump", "-t", str(proc.pid), "-D", str(images), cwd=os.getcwd())
    proc.wait()
    wanted = {entry["index"] for entry in json.loads((images / "ckpt-tty.json").read_text())["pairs"]}
    held = []
    try:
        while not wanted <= {pty_index(m) for m, _ in held}:
            held.append(open_pty())
        r = subprocess.run([sys.executable, "-m", "pyctl", "criu", "restore", "-D", str(images), "--",
                            "--restore-detached"], capture_output=True, text=True)
        assert r.returncode == 1
        assert "taken by another terminal" in r.stderr and "newinstance" in r.stderr
        assert not (cg / "cgroup.procs").read_text().split()  # nothing was restored
        # criu alone fails on the same, later, with its own words
        r = subprocess.run(["criu", "restore", "-D", str(images), "--restore-detached"], capture_output=True,
                           text=True, cwd=images)
        assert r.returncode != 0 and "with specified index" in r.stderr
    finally:
        for pair in held:
            for fd in pair:
                os.close(fd)
        remove_cgroup(cg)


def _pair_tree(steps: str, shown: str) -> str:
    """A tree's script: open a pair (m, s), run ``steps`` on it, print the fds ``shown`` names (the first
    is checkpointed, the second read after the restore), say it is ready and wait."""
    return ("import fcntl, os, pty, sys, time\nm, s = pty.openpty()\n" + steps
            + f"print({shown}, flush=True)\nopen(sys.argv[1], 'w').close()\nwhile True:\n    time.sleep(1)\n")


# A tree holding both ends of a pair whose slave was hung up (TIOCVHANGUP, as a session manager does
# to a login): output left unread on the master before the hangup, and a line the master wrote after
# it, waiting in the slave's flip buffer for the next open of /dev/pts/N.
HUNG_UP_TREE = _pair_tree(
    'os.write(s, b"output before\\n")\ntime.sleep(0.2)\nfcntl.ioctl(s, 0x5437)  # TIOCVHANGUP\n'
    'os.write(m, b"typed after\\n")\n', "m, s")


# A tree holding only the master of a pair whose every slave fd was closed, with output unread.
SLAVE_CLOSED_TREE = _pair_tree('os.write(s, b"output before\\n")\ntime.sleep(0.2)\nos.close(s)\n', "m, m")


def _reads(fd: int) -> list:
    """What read() on ``fd`` gives, call by call, until it gives nothing or fails."""
    os.set_blocking(fd, False)
    out = []
    while True:
        try:
            got = os.read(fd, 100)
        except OSError as e:
            return out + [("errno", e.errno)]
        out.append(("ok", got))
        if not got:
            return out


def _hung_up_cycle(tmp_path, with_pyctl: bool, tree: str = HUNG_UP_TREE):
    """(image before the dump, image after the restore, what the tree's second fd's reads give after)
    of the tree's pair, each image taken through a duplicate of the tree's first fd (the master)."""
    import pyctl
    from pyctl.proc import pidfd_getfd

    def image_of(pid, fd):
        dup = pidfd_getfd(pid, fd)
        try:
            return pyctl.checkpoint(dup)
        finally:
            os.close(dup)

    cg = tree_cgroup(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    (tmp_path / "tree.py").write_text(tree)
    ready, log = tmp_path / "ready", tmp_path / "tree.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(tmp_path / "tree.py"), str(ready)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True,
                                preexec_fn=lambda: (cg / "cgroup.procs").write_text("0"))
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    m, s = map(int, log.read_text().split())
    before = image_of(proc.pid, m)
    try:
        if with_pyctl:
            run(sys.executable, "-m", "pyctl", "criu", "dump", "-t", str(proc.pid), "-D", str(images),
                cwd=os.getcwd())
        else:
            run("criu", "dump", "-t", str(proc.pid), "-D", str(images), cwd=images)
        proc.wait()
        if with_pyctl:
            run(sys.executable, "-m", "pyctl", "criu", "restore", "-D", str(images), "--", "--restore-detached",
                cwd=os.getcwd())
        else:
            run("criu", "restore", "-D", str(images), "--restore-detached", cwd=images)
        after = image_of(proc.pid, m)  # criu gives the task its pid back
        second = pidfd_getfd(proc.pid, s)
        try:
            reads = _reads(second)
        finally:
            os.close(second)
    finally:
        subprocess.run(["kill", "-9", str(proc.pid)], capture_output=True)
        remove_cgroup(cg)
    return before, after, reads


def test_pyctl_criu_brings_a_hung_up_terminal_back_hung_up(module_loaded, tmp_path):
    before, after, slave_reads = _hung_up_cycle(tmp_path, with_pyctl=True)
    (b,), (a,) = before.pairs, after.pairs
    assert b.slave.has("hupped") and b.master.input == b"output before\r\n" and b.slave.flip == b"typed after\n"
    assert (a.master, a.slave) == (b.master, b.slave)
    assert slave_reads == [("ok", b"")]  # the tree's slave fd is dead, as it was: read() gives 0


def test_criu_alone_brings_a_hung_up_terminal_back_live(module_loaded, tmp_path):
    """What CRIU alone does with the same tree, measured (README, the whole-tree table)."""
    before, after, slave_reads = _hung_up_cycle(tmp_path, with_pyctl=False)
    (b,), (a,) = before.pairs, after.pairs
    assert b.slave.has("hupped")
    assert not a.slave.has("hupped")  # live again
    assert a.master.input == b"output before\r\r\n"  # written back through the slave: processed again
    assert a.slave.flip == b"" and a.slave.input == b""  # the line waiting for the next open: gone
    assert slave_reads == [("errno", errno.EAGAIN)]  # the old fd reads like a live terminal's


def test_pyctl_criu_brings_a_master_whose_slave_was_closed_back_so(module_loaded, tmp_path):
    before, after, master_reads = _hung_up_cycle(tmp_path, with_pyctl=True, tree=SLAVE_CLOSED_TREE)
    (b,), (a,) = before.pairs, after.pairs
    assert b.master.has("other_closed") and b.master.input == b"output before\r\n"
    assert (a.master, a.slave) == (b.master, b.slave)
    # the output once, then EIO, as a master whose slave side is gone reads
    assert master_reads == [("ok", b"output before\r\n"), ("errno", errno.EIO)]


def test_criu_alone_brings_a_master_whose_slave_was_closed_back_live_and_empty(module_loaded, tmp_path):
    before, after, master_reads = _hung_up_cycle(tmp_path, with_pyctl=False, tree=SLAVE_CLOSED_TREE)
    (b,), (a,) = before.pairs, after.pairs
    assert b.master.has("other_closed")
    assert not a.master.has("other_closed") and a.master.input == b""
    assert master_reads == [("errno", errno.EAGAIN)]  # no output, and a reader would wait, not see EIO


# A tree holding only the slave of a pair whose master was closed (an ssh session that dropped).
MASTER_CLOSED_TREE = _pair_tree('os.write(m, b"typed\\n")\ntime.sleep(0.2)\nos.close(m)\n', "s, s")


def test_a_slave_whose_master_was_closed_comes_back_as_it_was(module_loaded, tmp_path):
    """pyctl criu leaves this pair to CRIU, which recreates it hung up and closed: measured here."""
    before, after, slave_reads = _hung_up_cycle(tmp_path, with_pyctl=True, tree=MASTER_CLOSED_TREE)
    (b,), (a,) = before.pairs, after.pairs
    assert b.slave.has("hupped") and b.slave.has("other_closed")
    assert a.slave == b.slave
    assert slave_reads == [("ok", b"")]  # read() gives 0, as on the original
    # The only difference: the echo of "typed" that waited in the closed master, which no fd can read
    # (a closed master cannot be opened again).
    assert b.master.input == b"typed\r\n" and a.master.input == b""
    assert dataclasses.replace(a.master, input=b"", commit=0) == dataclasses.replace(b.master, input=b"", commit=0)
