# SPDX-License-Identifier: GPL-2.0
"""The VM entry point itself: splat detection, timeouts and crashes end runs."""

import os
import io
import re
import subprocess
import sys
import threading
from pathlib import Path

from tests.kernels import ROOT
from tests.vm.__main__ import BOOT_SERVICES, _relay, find_splats, without_boot_services


def test_find_splats():
    log = [
        "ckpt_tty: version 0.1.0, ABI 1",
        "WARNING: CPU: 0 PID: 1 at drivers/tty/n_tty.c:100 n_tty_read+0x1/0x2",
        "BUG: KASAN: slab-out-of-bounds in foo",
        "UBSAN: shift-out-of-bounds in bar",
        "WARNING: possible circular locking dependency detected",
        "loop: module loaded",
    ]
    assert find_splats(log) == log[1:5]
    assert find_splats(["random: crng init done"]) == []
    # boot messages of a debug kernel are not reports
    assert find_splats(["rcu: \tRCU lockdep checking is enabled.", "kasan: KernelAddressSanitizer initialized",
                        "Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar"]) == []
    assert find_splats(["ODEBUG: free active (active state 0) object: 000000001 object type: work_struct"])


def vm(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tests.vm", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_the_relay_drains_the_guest_after_a_reader_goes():
    """`python -m tests.vm ... | head` closes our stdout early: the guest's output is still
    drained (a guest blocked on a full pipe stalled until the timeout) and the console kept."""
    r, w = os.pipe()

    class Gone:
        def write(self, chunk):
            raise BrokenPipeError

        def flush(self):
            pass

    def guest():
        for _ in range(200):  # far more than a pipe holds
            os.write(w, b"x" * 4096)
        os.close(w)

    console = io.BytesIO()
    threads = [threading.Thread(target=_relay, args=(os.fdopen(r, "rb"), [Gone(), console]), daemon=True),
               threading.Thread(target=guest, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "the guest's writes blocked: nobody drains the pipe"
    assert len(console.getvalue()) == 200 * 4096


def test_timeout_ends_the_vm(kernel):
    r = vm("--kernel", kernel.release, "--timeout", "8", "--", "sleep", "600")
    assert r.returncode == 124, r.stdout + r.stderr
    assert "timed out after 8 s running: sleep 600" in r.stderr


def test_guest_crash_fails_the_run(kernel):
    r = vm("--kernel", kernel.release, "--timeout", "300", "--",
           "sh", "-c", "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger; sleep 30; exit 0")
    assert r.returncode == 255, r.stdout + r.stderr
    assert "the guest kernel crashed" in r.stderr
    # the end of the kernel console comes with it
    assert "Kernel panic - not syncing: sysrq triggered crash" in r.stdout, r.stdout


def test_guest_exit_status_comes_back(kernel):
    # (and the guest runs with 4-level paging: no5lvl, see PAGING_CMDLINE)
    r = vm("--kernel", kernel.release, "--timeout", "300", "--", "sh", "-c",
           "test -c /dev/ckpt_tty && ! grep -qw la57 /proc/cpuinfo && echo to-stderr >&2 && "
           # lockups and hung tasks end the run, after short thresholds
           "test $(cat /proc/sys/kernel/watchdog_thresh) = 8 && test $(cat /proc/sys/kernel/softlockup_panic) = 1 && "
           "test $(cat /proc/sys/kernel/hung_task_timeout_secs) = 45 && "
           "test $(cat /proc/sys/kernel/hung_task_panic) = 1 && "
           # a program's message in the kernel log is not a kernel report
           "echo '<4>WARNING: written to /dev/kmsg by a program' > /dev/kmsg && exit 7")
    assert r.returncode == 7, r.stdout + r.stderr
    assert "to-stderr" in r.stdout  # the command's messages stay with its output
    assert "kernel log: 0 warnings or splats" in r.stdout, r.stdout
    # and the console goes to its log, not here (setup.c prints "Command line:" early in every boot)
    console = re.search(r"\(console: (\S+)\)", r.stderr)
    assert console and "] Command line: " in open(console[1], errors="replace").read(), r.stderr
    assert "] Command line: " not in r.stdout + r.stderr


def test_debug_build_refuses_to_start_without_disk(tmp_path, monkeypatch):
    import collections
    import shutil

    import pytest

    from tests import kernels

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 30, 9 << 30, 1 << 30))
    with pytest.raises(kernels.KernelError, match="needs about 8 GB free in .*; 1.0 GB are"):
        kernels.check_free_space(tmp_path)


def test_a_vm_that_never_starts_says_why(kernel, built_ko, tmp_path, monkeypatch, capsys):
    # virtme-ng stopping before the guest runs (as it does without busybox) prints its reason here
    import argparse

    from tests.vm import __main__ as runner

    fake = tmp_path / "vng"
    fake.write_text("#!/bin/sh\necho 'virtme-run: initramfs is needed, and no busybox was found' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(runner, "_vng", lambda: str(fake))
    args = argparse.Namespace(kernel=kernel.release, timeout=60, cpus=1, memory="1G", verbose=False, rwdir=[],
                              no_load=False, command=["true"])
    assert runner.run_host(args) == 1
    out, err = capsys.readouterr()
    assert "did not start (status 1)" in err
    assert "no busybox was found" in out


def test_boot_services_are_stood_in_for_in_a_mount_namespace_of_qemus_own():
    cmd = ["vng", "--run", "bzImage", "--exec", "a b"]
    wrapped = without_boot_services(cmd, present=lambda path: True, private_ns=lambda: True)
    assert wrapped[:5] == ["unshare", "--mount", "--propagation", "private", "--"]
    assert wrapped[-len(cmd):] == cmd  # the command itself, untouched, after sh's $0
    script = wrapped[7]
    for path, stub in BOOT_SERVICES.items():
        assert f"mount --bind {stub} {path}" in script
    assert script.endswith('exec "$@"')
    # the stand-in for udevadm is in the repository and executable
    udevadm = Path(BOOT_SERVICES["/usr/bin/udevadm"])
    assert udevadm.is_file() and os.access(udevadm, os.X_OK)
    # only what the host has is bound; nothing to bind, or no private mount namespace: the command as it is
    only_udevadm = without_boot_services(cmd, present=lambda path: path.endswith("udevadm"), private_ns=lambda: True)
    assert only_udevadm[7].count("mount --bind") == 1
    assert without_boot_services(cmd, present=lambda path: False, private_ns=lambda: True) == cmd
    assert without_boot_services(cmd, present=lambda path: True, private_ns=lambda: False) == cmd


def test_guest_udevadm_names_the_virtio_ports(tmp_path):
    """The stand-in makes /dev/virtio-ports/NAME links as udev's rule does (run here on a fake sysfs)."""
    script = Path(BOOT_SERVICES["/usr/bin/udevadm"]).read_text()
    sysfs, dev = tmp_path / "sys", tmp_path / "dev"
    for port, name in (("vport1p1", "virtme.ret"), ("vport1p2", "virtme.stdin"), ("vport2p0", "")):
        (sysfs / port).mkdir(parents=True)
        (sysfs / port / "name").write_text(name + "\n")
    script = script.replace("/sys/class/virtio-ports", str(sysfs)).replace("/dev/virtio-ports", str(dev / "virtio-ports"))
    fake = tmp_path / "udevadm"
    fake.write_text(script)
    assert subprocess.run(["sh", str(fake), "trigger", "--type=subsystems", "--action=add"]).returncode == 0
    assert not dev.exists()  # only the devices pass does it
    assert subprocess.run(["sh", str(fake), "trigger", "--type=devices", "--action=add"]).returncode == 0
    links = {p.name: os.readlink(p) for p in (dev / "virtio-ports").iterdir()}
    assert links == {"virtme.ret": "../vport1p1", "virtme.stdin": "../vport1p2"}
    assert subprocess.run(["sh", str(fake), "settle"]).returncode == 0
