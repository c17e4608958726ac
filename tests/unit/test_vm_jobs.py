# SPDX-License-Identifier: GPL-2.0
"""tests/vm/jobs.py: VM suites side by side, N at a time, output never interleaved."""

import sys
import time
from pathlib import Path

import pytest

from tests.vm import jobs


def test_a_job_is_settings_kernel_options_and_command(tmp_path):
    job = jobs.Job.parse("A=1 B='x y' 6.1-debug --timeout 3600 -- python -m pytest -m 'not criu' t.py",
                         ["-x"], tmp_path)
    assert job.settings == {"A": "1", "B": "x y"}
    assert job.kernel == "6.1-debug"
    assert job.vm_args == ["--timeout", "3600"]
    assert job.command == ["python", "-m", "pytest", "-m", "not criu", "t.py", "-x"]
    assert job.log == tmp_path / "6.1-debug.log"
    assert job.argv()[1:] == ["-m", "tests.vm", "--kernel", "6.1-debug", "--timeout", "3600", "--",
                              "python", "-m", "pytest", "-m", "not criu", "t.py", "-x"]


@pytest.mark.parametrize("spec", ["6.1 python -m pytest", "-- python", "6.1 --", "A=1 -- python", ""])
def test_a_job_without_kernel_or_command_is_refused(spec, tmp_path):
    with pytest.raises(ValueError, match="KERNEL"):
        jobs.Job.parse(spec, [], tmp_path)


def test_main_refuses_two_jobs_of_one_kernel(capsys):
    with pytest.raises(SystemExit) as e:
        jobs.main(["--job", "6.1 -- true", "--job", "6.1 -- false"])
    assert e.value.code == 2
    assert "one job per kernel" in capsys.readouterr().err


def test_a_job_whose_kernel_is_ready_goes_first(tmp_path):
    pending = [jobs.Job.parse(f"{k} -- true", [], tmp_path) for k in ("6.1-debug", "6.12-debug", "6.12")]
    assert jobs.next_job(pending, ready=lambda k: k == "6.12").kernel == "6.12"
    assert jobs.next_job(pending, ready=lambda k: k == "6.12-debug").kernel == "6.12-debug"
    assert jobs.next_job(pending, ready=lambda k: False).kernel == "6.1-debug"


class FakeJob(jobs.Job):
    """Runs a shell snippet instead of booting a guest; notes when it ran."""

    script = ""

    def argv(self):
        return [sys.executable, "-c", self.script]


def _fake(tmp_path, kernel, seconds, status):
    job = FakeJob.parse(f"N={kernel} {kernel} -- x", [], tmp_path / "logs")
    job.script = (f"import os, time, sys; t = time.time(); print('out of', os.environ['N']); time.sleep({seconds}); "
                  f"open({str(tmp_path / kernel)!r}, 'w').write(f'{{t}} {{time.time()}}'); sys.exit({status})")
    return job


def test_at_most_slots_jobs_run_at_once_and_each_output_comes_whole(tmp_path, capsys):
    todo = [_fake(tmp_path, k, 0.5, 0) for k in ("a", "b", "c", "d", "e")]
    assert jobs.run(todo, slots=2, ready=lambda k: True) == 0
    spans = [tuple(map(float, (tmp_path / k).read_text().split())) for k in "abcde"]
    for t0, _ in spans:
        assert sum(1 for s, e in spans if s <= t0 < e) <= 2, spans
    assert max(e for _, e in spans) - min(s for s, _ in spans) < 5 * 0.5  # not one after another
    out = capsys.readouterr().out
    for k in "abcde":
        block = out.split(f"[vm-jobs] {k}: passed after")[1].split(f"[vm-jobs] {k}: end of its output")[0]
        assert block.count("out of") == 1 and f"out of {k}" in block  # the job's setting reached it


def test_every_job_runs_and_the_first_failure_is_the_status(tmp_path, capsys):
    todo = [_fake(tmp_path, "a", 0.1, 0), _fake(tmp_path, "b", 0.3, 3), _fake(tmp_path, "c", 0.1, 5)]
    assert jobs.run(todo, slots=1, ready=lambda k: True) == 3
    assert [j.status for j in todo] == [0, 3, 5]
    out = capsys.readouterr().out
    assert "b: FAILED (status 3)" in out and "c: FAILED (status 5)" in out
    assert "3 jobs, 1 at a time" in out


def test_an_interrupt_stops_the_running_jobs(tmp_path, monkeypatch):
    todo = [_fake(tmp_path, "a", 30, 0), _fake(tmp_path, "b", 30, 0)]
    real_wait = jobs.os.wait

    def interrupted_wait():
        time.sleep(0.5)
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs.os, "wait", interrupted_wait)
    begin = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        jobs.run(todo, slots=2, ready=lambda k: True)
    monkeypatch.setattr(jobs.os, "wait", real_wait)
    assert time.monotonic() - begin < 20
    assert all(j.proc.poll() is not None for j in todo)
