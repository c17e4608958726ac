# SPDX-License-Identifier: GPL-2.0
"""pyctl runc, the parts that need no module, runc or criu: which terminal is the console, what a
restore needs from the image directory, the command line (tests/vm/test_runc.py runs the whole cycle)."""

import json

import pytest

from pyctl import cli, runc
from pyctl.criu import IMAGE, MAP, TtyFd
from pyctl.errors import PyctlError


def _fd(pid, fd, end, index):
    return TtyFd(pid, fd, end, (7, index), pid)


def test_the_console_is_the_one_terminal_the_container_holds_only_slaves_of():
    console = [_fd(10, 0, "slave", 0), _fd(10, 1, "slave", 0), _fd(11, 2, "slave", 0)]
    assert runc.console_ttys(console) == console


@pytest.mark.parametrize("ttys, message", [
    ([], r"holds no terminal: start it with a console"),
    ([_fd(10, 0, "slave", 0), _fd(10, 5, "slave", 1)], r"holds 2 terminals it has no master of"),
    ([_fd(10, 0, "slave", 0), _fd(12, 4, "master", 3), _fd(13, 0, "slave", 3)],
     r"holds the master of /dev/pts/3: .* use pyctl criu dump"),
])
def test_a_container_without_exactly_one_console_is_refused_with_the_reason(ttys, message):
    with pytest.raises(PyctlError, match=message):
        runc.console_ttys(ttys)


def test_a_restore_names_what_the_image_directory_lacks(tmp_path):
    with pytest.raises(PyctlError, match=rf"{MAP}: missing; was this checkpointed with pyctl runc checkpoint"):
        runc.restore("ct", str(tmp_path), str(tmp_path / "sock"), [], runc=["false"])
    (tmp_path / MAP).write_text(json.dumps({"root": 1, "pairs": []}))
    with pytest.raises(PyctlError, match=rf"{IMAGE}: missing"):
        runc.restore("ct", str(tmp_path), str(tmp_path / "sock"), [], runc=["false"])


def test_runc_options_go_after_the_double_dash(monkeypatch):
    seen = {}
    monkeypatch.setattr(runc, "checkpoint", lambda ct, d, extra, runc: seen.update(c=(ct, d, extra, runc)) or 0)
    monkeypatch.setattr(runc, "restore", lambda ct, d, sock, extra, runc: seen.update(r=(ct, d, sock, extra, runc))
                        or 0)
    assert cli.main(["runc", "checkpoint", "--image-path", "/tmp/i", "ct1", "--", "--work-path", "/tmp/w"]) == 0
    assert seen["c"] == ("ct1", "/tmp/i", ["--work-path", "/tmp/w"], ["runc"])
    assert cli.main(["runc", "restore", "--image-path", "/tmp/i", "--console-socket", "/tmp/s",
                     "--runc", "runc --root /tmp/r", "ct1"]) == 0
    assert seen["r"] == ("ct1", "/tmp/i", "/tmp/s", [], ["runc", "--root", "/tmp/r"])
    with pytest.raises(SystemExit):
        cli.main(["runc", "restore", "--image-path", "/tmp/i", "ct1"])  # where would the console go?


def test_a_checkpoint_of_a_container_runc_does_not_know_says_so():
    with pytest.raises(PyctlError, match="runc state ct-none"):
        runc.checkpoint("ct-none", "/nonexistent", [], runc=["sh", "-c", 'echo "container does not exist" >&2; '
                                                              "exit 1", "runc"])
