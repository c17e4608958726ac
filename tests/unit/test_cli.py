# SPDX-License-Identifier: GPL-2.0
"""python -m pyctl, as a user runs it."""

import json
import os
import subprocess
import sys

from tests.kernels import ROOT


def pyctl(*args):
    return subprocess.run([sys.executable, "-m", "pyctl", *args], capture_output=True, text=True, cwd=ROOT)


def test_help_has_examples():
    r = pyctl("--help")
    assert r.returncode == 0
    assert "examples:" in r.stdout and "python -m pyctl info --ko" in r.stdout


def test_info_from_ko_json(built_ko, kernel):
    r = pyctl("info", "--ko", str(built_ko), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["kernel_release"] == kernel.release
    assert data["constants"]["NCCS"] == 19 and data["constants"]["N_TTY_BUF_SIZE"] == 4096
    assert data["vermagic"].startswith(kernel.release + " ")


def test_info_from_ko_text(built_ko):
    r = pyctl("info", "--ko", str(built_ko))
    assert r.returncode == 0, r.stderr
    assert "n_tty_data layout:" in r.stdout and "NCC:" in r.stdout


def test_missing_device_is_one_clear_line(tmp_path):
    r = pyctl("info", "--device", str(tmp_path / "ckpt_tty"))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "does not exist: load the module first" in r.stderr


def test_bad_ko_is_one_clear_line(tmp_path):
    (tmp_path / "x.ko").write_text("nope")
    r = pyctl("info", "--ko", str(tmp_path / "x.ko"))
    assert r.returncode == 1 and r.stderr.startswith("pyctl: ") and "not an ELF file" in r.stderr


def test_a_reader_that_goes_away_ends_it_quietly():
    """pyctl show IMAGE | head: exit as SIGPIPE would (128 + 13), no error message."""
    for unbuffered in ("", "1"):  # the error comes from a write, or from the last flush
        read_end, write_end = os.pipe()
        os.close(read_end)  # before pyctl writes anything
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        try:
            r = subprocess.run([sys.executable, "-m", "pyctl", "show", str(ROOT / "images/golden/6.12/half-line.img")],
                               cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
                               env=dict(env, PYTHONUNBUFFERED=unbuffered) if unbuffered else env)
        finally:
            os.close(write_end)
        assert (r.returncode, r.stderr) == (141, ""), unbuffered
