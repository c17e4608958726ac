# SPDX-License-Identifier: GPL-2.0
"""pyctl criu, the parts that need no module or criu: the tree walk, the cgroup rule, the command line
(tests/vm/test_criu_tree.py runs the whole cycle in the VM)."""

import os
import shutil
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


def test_tasks_are_named_by_their_pid_in_the_pid_namespace_of_the_trees_root():
    if not shutil.which("unshare"):
        pytest.fail("unshare (util-linux) is missing")
    # unshare forks the tree's root into a new pid namespace, where it is pid 1 and its child pid 2
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-c",
                              "import subprocess, sys, time; p = subprocess.Popen(['sleep', '30']); "
                              "print(p.pid, flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert outer.stdout.readline().strip() == "2"
        (root,) = criu.tree(outer.pid)[1:2]
        members = criu.tree(root)
        assert len(members) == 2
        assert criu.ns_pids(members) == {members[0]: 1, members[1]: 2}
        assert criu.ns_pids([outer.pid, *members]) == {outer.pid: outer.pid, members[0]: members[0],
                                                       members[1]: members[1]}
    finally:
        outer.kill()
        outer.wait()


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


def test_a_shell_jobs_terminal_index_is_not_checked_for_being_free():
    m, s = os.openpty()
    try:
        n = int(os.ttyname(s).rsplit("/", 1)[1])
        here = os.stat("/dev/pts").st_dev
        # criu -j gives a shell job the terminal it is restored from: its old index does not matter
        criu.check_indices_free({"pairs": [{"index": n, "devpts_dev": here, "inside": False}]})
    finally:
        os.close(m)
        os.close(s)


def _fd(pid, fd, end, index, dev=7):
    return criu.TtyFd(pid + 1000, fd, end, (dev, index), pid)  # restored with other pids outside its namespace


def _entry(index, fds, inside=True):
    return {"index": index, "devpts_dev": 7, "fds": [list(f) for f in fds], "inside": inside}


def test_restored_terminals_are_matched_by_the_fds_that_held_them():
    saved = {"pairs": [_entry(3, [(10, 5, "master"), (11, 0, "slave"), (11, 1, "slave")]),
                       _entry(8, [(12, 0, "slave")], inside=False)]}
    now = [_fd(10, 5, "master", 3), _fd(11, 0, "slave", 3), _fd(11, 1, "slave", 3), _fd(12, 0, "slave", 0)]
    # the shell job's terminal is whichever criu was given (here /dev/pts/0); the tree's own pair is at 3
    got = criu.match_restored(saved, now)
    assert [t.pair for t in got] == [(7, 3), (7, 0)]
    assert [(t.pid, t.fd) for t in got] == [(1010, 5), (1012, 0)]  # what pidfd_getfd needs
    assert criu.match_restored({"pairs": []}, []) == []


@pytest.mark.parametrize("now, message", [
    ([_fd(10, 5, "master", 3)], r"fd 0 of process 11 is no pty end after the restore, not its slave"),
    ([_fd(10, 5, "master", 3), _fd(11, 0, "master", 3)], r"fd 0 of process 11 is the master of /dev/pts/3"),
    ([_fd(10, 5, "master", 4), _fd(11, 0, "slave", 4)], r"/dev/pts/3 came back as /dev/pts/4"),
    ([_fd(10, 5, "master", 3), _fd(11, 0, "slave", 5)], r"hold 2 terminals after the restore"),
    ([_fd(10, 5, "master", 3), _fd(11, 0, "slave", 3), _fd(11, 9, "slave", 6)],
     r"terminals the dumped one did not: fd 9 of process 11 \(/dev/pts/6\)"),
])
def test_a_missing_changed_or_extra_terminal_is_named(now, message):
    saved = {"pairs": [_entry(3, [(10, 5, "master"), (11, 0, "slave")])]}
    with pytest.raises(PyctlError, match=message):
        criu.match_restored(saved, now)


def test_two_saved_terminals_cannot_become_one():
    saved = {"pairs": [_entry(3, [(11, 0, "slave")], inside=False), _entry(4, [(12, 0, "slave")], inside=False)]}
    with pytest.raises(PyctlError, match="two terminals of the dumped tree are one"):
        criu.match_restored(saved, [_fd(11, 0, "slave", 9), _fd(12, 0, "slave", 9)])


def test_the_hook_acts_at_post_restore_only_and_fails_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("CRTOOLS_IMAGE_DIR", str(tmp_path))
    monkeypatch.setenv("CRTOOLS_SCRIPT_ACTION", "pre-restore")
    assert criu.hook() == 0  # nothing to do before the tasks exist
    monkeypatch.setenv("CRTOOLS_SCRIPT_ACTION", "post-restore")
    monkeypatch.delenv("CRTOOLS_INIT_PID", raising=False)
    assert criu.hook() == 1
    assert "CRTOOLS_INIT_PID" in (tmp_path / criu.HOOK_LOG).read_text()


def test_the_action_script_starts_python_only_at_post_restore(tmp_path, monkeypatch):
    """criu runs the action script at every stage; each Python start costs seconds under TCG."""
    (tmp_path / criu.MAP).write_text('{"root": 1, "pairs": []}')
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")  # the script execs this
    assert criu.restore(str(tmp_path), [], criu="true") == 0
    script = tmp_path / criu.HOOK_SCRIPT
    for action, status in (("pre-restore", 0), ("post-setup-namespaces", 0), ("pre-resume", 0),
                           ("post-resume", 0), ("post-restore", 127)):
        r = subprocess.run([str(script)], env={"CRTOOLS_SCRIPT_ACTION": action, "PATH": "/usr/bin:/bin"},
                           capture_output=True)
        assert r.returncode == status, (action, r.stderr)
