# SPDX-License-Identifier: GPL-2.0
"""Restore where users need it: the original /dev/pts/N, another devpts instance, a mount namespace, a socket.

Every devpts mount made with -o newinstance is its own instance with its own
numbering (Linux 4.7+), so /dev/pts/0 can exist in two instances at once.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile

import pytest

import pyctl
from pyctl.pty import IndexTaken, devpts_of, open_pty, ptmx_of, pty_index

from .ttyutil import reads, settle


@pytest.fixture
def instances():
    """Mount new devpts instances on temporary directories; unmount them after."""
    made = []

    def mount():
        where = tempfile.mkdtemp(prefix="devpts-")
        subprocess.run(["mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", where], check=True)
        made.append(where)
        return where

    yield mount
    for where in reversed(made):
        subprocess.run(["umount", "-l", where], check=False)
        os.rmdir(where)


def half_line_image(pairs, ptmx="/dev/ptmx"):
    """An image of a pair holding a complete and a half-typed line; the pair is closed again."""
    m, s = open_pty(ptmx)
    os.write(m, b"one\ntw")
    settle()
    image = pyctl.checkpoint(m)
    os.close(m)
    os.close(s)
    return image


def own_fds():
    """Our open fds, each as "N -> what it is" (a failing comparison then says what leaked)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:  # the directory's own fd, closed by now
            pass
    return sorted(out)


def fd_entries(*fds):
    return [f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}" for fd in fds]


def assert_half_line(m, s):
    os.write(m, b"o\n")
    assert reads(s) == [b"one\n", b"two\n"]


def test_restore_at_the_original_index(pairs):
    for _ in range(3):  # make the original index something above 0
        pairs.new()
    image = half_line_image(pairs)
    n = image.pairs[0].index
    before = own_fds()
    m, s = pyctl.restore(image)
    pairs.fds += [m, s]
    assert pty_index(m) == n and os.path.exists(f"/dev/pts/{n}")
    assert os.ttyname(s) == f"/dev/pts/{n}"
    assert sorted(own_fds()) == sorted(before + fd_entries(m, s)), "lower indexes held on the way were not closed"
    assert_half_line(m, s)


def test_original_index_taken_is_an_error_naming_it(pairs):
    image = half_line_image(pairs)
    n = image.pairs[0].index
    holder = open_pty()  # takes the lowest free index: the image's
    pairs.fds += list(holder)
    assert pty_index(holder[0]) == n
    before = own_fds()
    with pytest.raises(IndexTaken, match=rf"/dev/pts/{n} is in use in the devpts instance of /dev/ptmx; "
                                         "restore with --any-index"):
        pyctl.restore(image)
    assert own_fds() == before
    m, s = pyctl.restore(image, index="any")
    pairs.fds += [m, s]
    assert pty_index(m) != n
    assert_half_line(m, s)


def test_a_high_index_is_reached_without_leaking_fds(pairs):
    image = half_line_image(pairs)
    before = own_fds()
    m, s = pyctl.restore(image, index=150)
    pairs.fds += [m, s]
    assert pty_index(m) == 150 and sorted(own_fds()) == sorted(before + fd_entries(m, s))
    assert_half_line(m, s)


def test_checkpoint_records_the_devpts_instance(pairs, instances):
    a = instances()
    m, s = open_pty(ptmx_of(a))
    pairs.fds += [m, s]
    for fd in (m, s):
        d = pyctl.checkpoint(fd).pairs[0].devpts
        assert (d.major, d.minor) == (os.major(os.stat(a).st_dev), os.minor(os.stat(a).st_dev))
        assert d.mountpoint == a.encode()
    home = pyctl.checkpoint(pairs.new()[0]).pairs[0].devpts
    assert home.mountpoint == b"/dev/pts" and (home.major, home.minor) != (d.major, d.minor)


def test_same_index_in_two_instances_at_once(pairs, instances):
    a, b = instances(), instances()
    image = half_line_image(pairs, ptmx_of(a))
    assert image.pairs[0].index == 0  # a new instance numbers from 0
    keep = open_pty(ptmx_of(a))  # /dev/pts/0 of instance a stays in use
    pairs.fds += list(keep)
    with pytest.raises(IndexTaken, match=rf"/dev/pts/0 is in use in the devpts instance of {a}/ptmx"):
        pyctl.restore(image, ptmx=ptmx_of(a))
    m, s = pyctl.restore(image, ptmx=ptmx_of(b))
    pairs.fds += [m, s]
    assert pty_index(m) == 0 == pty_index(keep[0])
    assert devpts_of(s).dev == os.stat(b).st_dev != devpts_of(keep[1]).dev
    assert os.path.exists(f"{b}/0") and os.path.exists(f"{a}/0")
    assert_half_line(m, s)


def _receive(path):
    """A listening Unix socket at ``path``."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    return srv


def test_send_fds_hands_the_pair_over(pairs, tmp_path):
    image_path = tmp_path / "tty.img"
    image_path.write_bytes(half_line_image(pairs).dumps())
    sock_path = str(tmp_path / "handoff.sock")
    with _receive(sock_path) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "pyctl", "restore", str(image_path), "--any-index",
                                 "--send-fds", sock_path], stderr=subprocess.PIPE)
        conn, _ = srv.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        assert proc.wait(60) == 0, proc.stderr.read()
    pairs.fds += fds
    header = json.loads(msg)
    assert header["fds"] == ["master", "slave"] and len(fds) == 2
    m, s = fds
    assert header["pty"] == f"/dev/pts/{pty_index(m)}" == os.ttyname(s)
    assert_half_line(m, s)


def test_restore_inside_a_new_mount_namespace(pairs, tmp_path):
    """A container-like restore: a private mount namespace with its own devpts over /dev/pts.

    pyctl restores into that instance at the original index and hands the
    pair out over a socket; the test (outside) sees a pty of an instance it
    has no mount of."""
    image = half_line_image(pairs)
    n = image.pairs[0].index
    image_path = tmp_path / "tty.img"
    image_path.write_bytes(image.dumps())
    sock_path = str(tmp_path / "ns.sock")
    inner = (f"mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts && "
             f"exec {sys.executable} -m pyctl restore --devpts /dev/pts --index {n} {image_path} --send-fds {sock_path}")
    with _receive(sock_path) as srv:
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
                                stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.getcwd()))
        srv.settimeout(120)
        conn, _ = srv.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        err = proc.stderr.read()
        assert proc.wait(60) == 0, err
    pairs.fds += fds
    m, s = fds
    assert pty_index(m) == n
    assert f"as /dev/pts/{n} of /dev/pts".encode() in err
    ours = os.stat("/dev/pts").st_dev
    assert devpts_of(s).dev != ours and devpts_of(s).mountpoint == "", "the namespace's instance is not mounted here"
    assert_half_line(m, s)


def test_cli_index_errors_are_one_line(pairs, tmp_path):
    image = half_line_image(pairs)
    keep = open_pty()
    pairs.fds += list(keep)
    path = tmp_path / "tty.img"
    path.write_bytes(image.dumps())
    r = subprocess.run([sys.executable, "-m", "pyctl", "restore", str(path), "--", "true"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert f"/dev/pts/{image.pairs[0].index} is in use" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pyctl", "restore", "--devpts", "/tmp", str(path), "--", "true"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "/tmp is not a devpts mount point" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pyctl", "restore", str(path)], capture_output=True, text=True)
    assert r.returncode == 1 and "--send-fds SOCKET" in r.stderr
