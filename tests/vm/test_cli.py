# SPDX-License-Identifier: GPL-2.0
"""python -m pyctl checkpoint / show / restore with a real program on the terminal."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from .ttyutil import reads, settle

# A line-reading program: prompts, reads one line, reports it.
PROGRAM = "import sys; sys.stdout.write('prompt> '); sys.stdout.flush(); print('got:', repr(sys.stdin.readline()))"


def pyctl(*args, **kw):
    return subprocess.run([sys.executable, "-m", "pyctl", *args], capture_output=True, **kw)


def start_program(slave):
    return subprocess.Popen([sys.executable, "-c", PROGRAM], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)


def test_half_typed_line_survives_the_program(pairs, tmp_path):
    m, s = pairs.new()
    prog = start_program(s)
    deadline = time.monotonic() + 30
    shown = b""
    while b"prompt> " not in shown and time.monotonic() < deadline:
        shown += b"".join(reads(m))
    assert shown == b"prompt> "
    os.write(m, b"hello wor")  # the user types, no Enter yet
    settle()
    image = tmp_path / "tty.img"
    r = pyctl("checkpoint", "--pid", str(prog.pid), "--fd", "0", "-o", str(image))
    assert r.returncode == 0, r.stderr
    assert b"9 in a half-typed line" in r.stderr

    shown = pyctl("show", str(image))
    assert shown.returncode == 0
    assert b"partial line (typed, no line end yet): hello wor" in shown.stdout
    data = json.loads(pyctl("show", "--json", str(image)).stdout)
    assert data["pairs"][0]["slave"]["input"] == {"lines": [], "partial": "hello wor"}
    assert "ICANON" in data["pairs"][0]["slave"]["termios"]["lflag"].split("|")

    prog.send_signal(signal.SIGKILL)  # the program and its terminal are gone
    prog.wait()
    index = data["pairs"][0]["index"]
    for fd in (m, s):
        os.close(fd)
        pairs.fds.remove(fd)

    restored = subprocess.Popen([sys.executable, "-m", "pyctl", "restore", str(image), "--",
                                 sys.executable, "-c", PROGRAM],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # First the echo the terminal had not shown yet at checkpoint time, then the new prompt.
    assert read_until(restored.stdout, b"prompt> ") == b"hello worprompt> "
    restored.stdin.write(b"ld\n")
    restored.stdin.close()
    rest = read_until(restored.stdout, b"'\r\n")
    assert restored.wait(60) == 0
    assert rest == b"ld\r\ngot: 'hello world\\n'\r\n"
    assert f"as /dev/pts/{index} of /dev/ptmx".encode() in restored.stderr.read(), "not at its original index"


def read_until(pipe, marker, timeout=60):
    import select
    out, deadline = b"", time.monotonic() + timeout
    while not out.endswith(marker):
        ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"timed out waiting for {marker!r}; got {out!r}")
        chunk = os.read(pipe.fileno(), 4096)
        if not chunk:
            raise AssertionError(f"EOF before {marker!r}; got {out!r}")
        out += chunk
    return out


def test_checkpoint_of_own_stdin_and_stdout_image(pairs):
    m, s = pairs.new()
    os.write(m, b"typed\n")
    settle()
    r = subprocess.run([sys.executable, "-m", "pyctl", "checkpoint", "-o", "-"], stdin=s, capture_output=True)
    assert r.returncode == 0, r.stderr
    import pyctl as api
    image = api.loads(r.stdout)
    assert image.pairs[0].slave.input == b"typed\n"


def test_checkpoint_of_a_non_terminal_is_one_clear_line(module_loaded, tmp_path):
    r = subprocess.run([sys.executable, "-m", "pyctl", "checkpoint", "-o", str(tmp_path / "x")],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "not a terminal" in r.stderr


def test_restore_of_a_corrupt_image_is_one_clear_line(module_loaded, tmp_path):
    bad = tmp_path / "bad.img"
    bad.write_bytes(b"\x89CKPTTY\nxxxx")
    r = pyctl("restore", str(bad), "--", "true", text=True)
    assert r.returncode == 1 and r.stderr.startswith("pyctl: ") and "bad.img: header: 12 bytes" in r.stderr


@pytest.mark.userspace
def test_validate_against_the_running_module_and_this_kernels_btf(pairs, tmp_path, ko_path):
    m, _ = pairs.new()
    os.write(m, b"typed")
    settle()
    image = tmp_path / "tty.img"
    assert pyctl("checkpoint", "--fd", str(m), "-o", str(image), pass_fds=[m]).returncode == 0
    for target in ([], ["--running"], ["--btf", "/sys/kernel/btf/vmlinux"], ["--ko", str(ko_path)]):
        r = pyctl("validate", str(image), *target, text=True)
        assert r.returncode == 0 and "would restore it (1 pty pair(s))" in r.stdout, (target, r.stdout, r.stderr)
        assert "note:" not in r.stdout, r.stdout  # same kernel: nothing differs
    bad = tmp_path / "bad.img"
    data = bytearray(image.read_bytes())
    data[-5] ^= 1
    bad.write_bytes(bytes(data))
    r = pyctl("validate", str(bad), text=True)
    assert r.returncode == 1 and "checksum mismatch" in r.stderr
