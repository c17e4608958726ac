# SPDX-License-Identifier: GPL-2.0
"""What each kernel runs (tox.ini): a new VM test file gets a place on purpose."""

import configparser
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# VM test files the debug kernels leave to the matrix (tox.ini says why).
MATRIX_ONLY = {"test_cli.py", "test_criu.py", "test_criu_tree.py", "test_criu_multiplexers.py", "test_criu_shell_job.py",
               "test_criu_many.py", "test_runc.py", "test_frozen_tool.py", "test_job_control.py", "test_restore_where.py",
               "test_twin.py", "test_zz_image_round_trip.py"}


def _tox() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    return config


def test_every_vm_test_file_runs_on_the_debug_kernels_or_is_left_to_the_matrix_on_purpose():
    debug = {Path(p).name for p in _tox()["vm-jobs"]["module_tests"].split()}
    files = {p.name for p in (ROOT / "tests" / "vm").glob("test_*.py")}
    assert debug <= files, f"tox.ini names files that do not exist: {sorted(debug - files)}"
    assert MATRIX_ONLY <= files
    assert not debug & MATRIX_ONLY
    assert files == debug | MATRIX_ONLY, (
        f"new VM test files {sorted(files - debug - MATRIX_ONLY)}: add them to module_tests in tox.ini "
        "(they call module code) or to MATRIX_ONLY here (the matrix alone runs them), and say why in tox.ini")


def _jobs(tox, name):
    return [shlex.split(line.strip())[1] for line in tox["vm-jobs"][name].splitlines() if line.strip()]


def test_each_debug_kernel_runs_the_same_list_and_the_matrix_runs_everything():
    tox = _tox()
    debug = _jobs(tox, "debug")
    assert [shlex.split(job)[1] for job in debug] == ["6.1-debug", "6.12-debug"]
    assert all(job.startswith("{[vm-jobs]debug_settings} ") and job.endswith(" {[vm-jobs]module_tests}")
               for job in debug)
    matrix = _jobs(tox, "matrix")
    assert [job.split()[0] for job in matrix] == ["6.1", "6.12", "6.12-rt"]
    assert all(job.endswith(" --cpus 1 -- python -m pytest tests/vm") for job in matrix)


def test_make_check_runs_debug_and_matrix_together_debug_first():
    tox = _tox()
    assert tox["testenv:vms"]["commands"].strip() == (
        "python -m tests.vm.jobs {[vm-jobs]debug} {[vm-jobs]matrix} -- {posargs}")
    check = (ROOT / "scripts" / "check.sh").read_text()
    assert "envs=${CKPT_TTY_CHECK_ENVS:-unit,bench,vms}" in check
