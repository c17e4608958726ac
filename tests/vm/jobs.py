# SPDX-License-Identifier: GPL-2.0
"""Run VM test suites side by side, a few guests at a time.

    python -m tests.vm.jobs [--slots N] --job '[NAME=VALUE ...] KERNEL [VM OPTIONS] -- CMD ...' ... [-- ARGS]

Each --job is what ``NAME=VALUE python -m tests.vm --kernel KERNEL [VM
OPTIONS] -- CMD`` runs (tests.vm hands CKPT_TTY_* settings to the guest),
written as one shell word; ARGS after a lone ``--`` go at the end of every
job's command (tox's posargs).  A TCG guest running the tests keeps
about one host core busy, so on a 2-core machine two guests side by side
take about as long each as one alone: the suites of the matrix and the debug
kernels take half the wall time they take one after another.

A job whose kernel is ready (installed, or its debug build finished) starts
before one whose kernel is still being built (tox -e debug alone builds the
debug kernels in their jobs; scripts/check.sh builds them before the VM
suites), so a slot never waits on a build while other work is pending.  Each job's output goes to build/vm-jobs/KERNEL.log
and is printed whole when the job ends, one job after the other, never
interleaved.  The exit status is the first failed job's, or 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import kernels


@dataclasses.dataclass
class Job:
    kernel: str
    settings: dict[str, str]
    vm_args: list[str]
    command: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float = 0.0
    status: int | None = None

    @classmethod
    def parse(cls, spec: str, extra: list[str], log_dir: Path) -> "Job":
        words = shlex.split(spec)
        settings = {}
        while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
            name, value = words.pop(0).split("=", 1)
            settings[name] = value
        if "--" not in words or words.index("--") == 0 or words[-1] == "--":
            raise ValueError(f"a job is '[NAME=VALUE ...] KERNEL [VM OPTIONS] -- CMD ...', not {spec!r}")
        split = words.index("--")
        kernel, vm_args, command = words[0], words[1:split], words[split + 1:] + extra
        return cls(kernel, settings, vm_args, command, log_dir / f"{kernel}.log")

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "tests.vm", "--kernel", self.kernel, *self.vm_args, "--", *self.command]


def kernel_ready(spec: str) -> bool:
    """True when the job can boot at once: no package to install, no kernel to build."""
    try:
        return kernels.resolve(spec).installed()
    except kernels.KernelError:
        return False  # let the job itself say what is wrong


def next_job(pending: list[Job], ready=kernel_ready) -> Job:
    """The first pending job whose kernel is ready, else the first pending job."""
    return next((job for job in pending if ready(job.kernel)), pending[0])


def say(msg: str) -> None:
    print(f"[vm-jobs] {msg}", flush=True)


def start(job: Job) -> None:
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "wb") as out:
        # Its own process group: an interrupt reaches the job (which stops its
        # guest) without our terminal's signal reaching it twice.
        job.proc = subprocess.Popen(job.argv(), env=dict(os.environ, **job.settings), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    job.started = time.monotonic()
    settings = "".join(f"{name}={shlex.quote(value)} " for name, value in job.settings.items())
    say(f"{job.kernel}: started: {settings}{shlex.join(job.command)} (log: {job.log})")


def finish(job: Job, status: int) -> None:
    job.status, job.seconds = status, time.monotonic() - job.started
    word = "passed" if status == 0 else f"FAILED (status {status})"
    say(f"{job.kernel}: {word} after {job.seconds:.0f} s; its output:")
    sys.stdout.flush()
    with open(job.log, "rb") as log:
        sys.stdout.buffer.write(log.read())
    sys.stdout.flush()
    say(f"{job.kernel}: end of its output")


def stop_all(running: list[Job]) -> None:
    """Interrupt every running job (each stops its own guest), then kill what is left."""
    for job in running:
        try:
            os.kill(job.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for job in running:
        try:
            job.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(job.proc.pid, signal.SIGKILL)
            job.proc.wait()


def run(jobs: list[Job], slots: int, ready=kernel_ready) -> int:
    pending, running = list(jobs), []
    begin = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < slots:
                job = next_job(pending, ready)
                pending.remove(job)
                start(job)
                running.append(job)
            pid, wstatus = os.wait()
            job = next((j for j in running if j.proc.pid == pid), None)
            if job is None:
                continue
            job.proc.returncode = os.waitstatus_to_exitcode(wstatus)
            running.remove(job)
            finish(job, job.proc.returncode)
    except BaseException:
        stop_all(running)
        raise
    wall = time.monotonic() - begin
    say(f"{len(jobs)} jobs, {slots} at a time, in {wall:.0f} s:")
    for job in jobs:
        say(f"  {job.kernel:<12} {'passed' if job.status == 0 else f'FAILED ({job.status})':<14} {job.seconds:6.0f} s")
    return next((job.status for job in jobs if job.status), 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(prog="python -m tests.vm.jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, default=int(os.environ.get("CKPT_TTY_VM_SLOTS", 2)),
                        help="guests at a time (default: $CKPT_TTY_VM_SLOTS or 2)")
    parser.add_argument("--job", action="append", required=True, metavar="'KERNEL [VM OPTIONS] -- CMD'")
    parser.add_argument("--log-dir", type=Path, default=kernels.BUILD_ROOT / "vm-jobs")
    args = parser.parse_args(argv)
    if args.slots < 1:
        parser.error("--slots must be at least 1")
    try:
        jobs = [Job.parse(spec, extra, args.log_dir) for spec in args.job]
    except ValueError as e:
        parser.error(str(e))
    kernels_named = [job.kernel for job in jobs]
    if len(set(kernels_named)) != len(kernels_named):
        # Two guests of one kernel would share its build directory and console log.
        parser.error(f"one job per kernel: {', '.join(kernels_named)}")
    return run(jobs, args.slots)


if __name__ == "__main__":
    sys.exit(main())
