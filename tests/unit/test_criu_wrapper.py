# SPDX-License-Identifier: GPL-2.0
"""pyctl criu, the parts that need no module or criu: the tree walk, the cgroup rule, the command line
(tests/vm/test_criu_tree.py runs the whole cycle in the VM)."""

import os
import subprocess
import sys
import time

import pytest

from pyctl import cli, criu
from pyctl.errors import PyctlError


def test_tree_lists_descendants_parents_first():
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
                              "print(p.pid, flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(child.stdout.readline())
        time.sleep(0.1)
        walked = criu.tree(child.pid)
        assert walked == [child.pid, grandchild]
        assert criu.tree(os.getpid())[:1] == [os.getpid()] and child.pid in criu.tree(os.getpid())
    finally:
        child.kill()
        child.wait()
        try:
            os.kill(grandchild, 9)
        except (OSError, UnboundLocalError):
            pass


def test_a_tree_sharing_its_cgroup_is_refused_with_the_reason(tmp_path, monkeypatch):
    me = os.getpid()
    members = criu.tree(me)
    monkeypatch.setattr(criu, "cgroup_of", lambda pid: tmp_path)
    (tmp_path / "cgroup.procs").write_text("".join(f"{p}\n" for p in members))
    assert criu.alone_in_cgroup(me) == tmp_path
    (tmp_path / "cgroup.procs").write_text("".join(f"{p}\n" for p in [*members, 1]))
    with pytest.raises(PyctlError, match=r"must be alone in its cgroup.*others in it: \[1\]"):
        criu.alone_in_cgroup(me)


def test_criu_options_go_after_the_double_dash(monkeypatch):
    seen = {}
    monkeypatch.setattr(criu, "dump", lambda root, d, extra: seen.update(dump=(root, d, extra)) or 0)
    monkeypatch.setattr(criu, "restore", lambda d, extra: seen.update(restore=(d, extra)) or 0)
    assert cli.main(["criu", "dump", "-t", "42", "-D", "/tmp/x", "--", "--tcp-established", "-v4"]) == 0
    assert cli.main(["criu", "restore", "-D", "/tmp/x", "--", "--restore-detached"]) == 0
    assert cli.main(["criu", "restore", "-D", "/tmp/x"]) == 0 and seen["restore"] == ("/tmp/x", [])
    assert seen["dump"] == (42, "/tmp/x", ["--tcp-established", "-v4"])
    assert cli.main(["show", "x.img", "--", "ls"]) == 2


def test_restore_without_a_map_says_what_is_missing(tmp_path):
    with pytest.raises(PyctlError, match="no terminal map"):
        criu.restore(str(tmp_path), [])


def test_a_saved_index_another_terminal_holds_is_named():
    m, s = os.openpty()
    try:
        n = int(os.ttyname(s).rsplit("/", 1)[1])
        here = os.stat("/dev/pts").st_dev
        with pytest.raises(PyctlError, match=rf"/dev/pts/{n}: taken by another terminal.*newinstance"):
            criu.check_indices_free({"pairs": [{"index": n, "devpts_dev": here}]})
        criu.check_indices_free({"pairs": [{"index": n, "devpts_dev": here + 1}]})  # another instance's N
        criu.check_indices_free({"pairs": [{"index": 999999, "devpts_dev": here}]})  # free
    finally:
        os.close(m)
        os.close(s)


def test_the_hook_acts_at_post_restore_only_and_fails_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("CRTOOLS_IMAGE_DIR", str(tmp_path))
    monkeypatch.setenv("CRTOOLS_SCRIPT_ACTION", "pre-restore")
    assert criu.hook() == 0  # nothing to do before the tasks exist
    monkeypatch.setenv("CRTOOLS_SCRIPT_ACTION", "post-restore")
    monkeypatch.delenv("CRTOOLS_INIT_PID", raising=False)
    assert criu.hook() == 1
    assert "CRTOOLS_INIT_PID" in (tmp_path / criu.HOOK_LOG).read_text()
