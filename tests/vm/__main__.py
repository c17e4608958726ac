# SPDX-License-Identifier: GPL-2.0
"""Run a command in a QEMU test VM with ckpt_tty.ko loaded.

    python -m tests.vm [--kernel 6.1] [--timeout S] -- CMD [ARGS...]

On the host: install the kernel if needed, build the module for it, boot it
with virtme-ng (TCG: KVM does not work on these machines) over a
copy-on-write view of this machine, and re-run this file inside the guest
with ``in-guest``.  There the module is loaded through pyctl (libkmod), CMD
runs with CKPT_TTY_VM=1 and CKPT_TTY_KO set, the module is unloaded and the
kernel log is searched for splats.  The exit status of CMD (or 1 for a splat,
or 124 for a timeout) comes back as this command's exit status.

A warning or oops panics the guest (panic_on_warn, oops=panic) and panic=-1
with -no-reboot ends QEMU, so a crash fails the run instead of hanging it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests import kernels

ROOT = kernels.ROOT

# The guest's root is this machine's, shared over 9p.  virtme-ng would try
# virtio-fs first, but Debian 12 has no Rust virtiofsd (bookworm, its updates,
# security and backports suites; trixie's needs glibc 2.39), and it then runs
# QEMU 7.2's C virtiofsd, which fails ("fuse: invalid argument"); the boot
# falls back to 9p after waiting about 3 s.  Measured on 6.1: the VM suite
# took 266 s with --force-9p and 276 s with the fallback.
FS_OPTS = ["--force-9p"]

# A kernel we built (the debug kernels) has 9p built in and boots with no
# initramfs, its root mounted from the kernel command line; vng mounts it
# without a cache, so every lookup and read of a Python module crosses to
# QEMU.  cache=loose keeps what the guest has read; nothing on the host
# changes under a read-only root while a guest runs (each job builds its
# module before it boots, into its own build directory; guests write only
# to tmpfs and --rwdir mounts, which keep vng's options).  The last
# rootflags= on the command line wins (init/do_mounts.c, root_data_setup).
# Measured on 6.1-debug: boot to the end of a short script 208 s -> 127 s.
# Debian's kernels boot through vng's initramfs, which mounts the root with
# options of its own.
LOOSE_ROOT_CMDLINE = "rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose"

# Kernel command line: any crash ends the VM at once, and so does a CPU stuck
# in the kernel for 16 s (soft lockup: twice watchdog_thresh; default 20 s) or
# a task blocked for 45 s (hung task; Debian's default is 120 s).  A state
# that makes a loop of the tty layer run long fails the run instead of
# slowing it.
CRASH_CMDLINE = ("panic_on_warn=1 oops=panic panic=-1 softlockup_panic=1 hung_task_panic=1 watchdog_thresh=8 "
                 "sysctl.kernel.hung_task_timeout_secs=45")

# QEMU's TCG CPU offers 5-level paging.  On 6.1 and 6.12 pgtable_l5_enabled()
# reads the boot CPU's LA57 bit, which identify_cpu() clears for a moment
# (arch/x86/kernel/cpu/common.c: memset of x86_capability); KASAN's bounds
# (arch/x86/include/asm/kasan.h, via __VIRTUAL_MASK_SHIFT) then shrink, and an
# interrupt in that window is reported as a wild access and panics the debug
# kernel during boot (about one boot in five).  Four-level paging avoids it.
PAGING_CMDLINE = "no5lvl"

# Kernel messages on the console: warnings and worse (lockdep and WARN print
# at KERN_WARNING, KASAN at KERN_ERR), not the whole boot.
CONSOLE_CMDLINE = "loglevel=5"

# virtme-ng's init runs systemd-tmpfiles and udev's coldplug (and waits for
# it to settle) before the command, when the root has them.  The guests need
# none of it but the names of virtme-ng's own virtio ports: devtmpfs makes
# every device node, pyctl and the tests set up what else they use.
# Measured on 6.12-debug, alone on the machine: tmpfiles 13 s, udev 109 s,
# of 172 s from power-on to the command.  So QEMU, which serves the root to
# the guest, runs in a mount namespace of its own where systemd-tmpfiles and
# systemd-udevd are /bin/true and udevadm is tests/vm/guest-udevadm, which
# makes those names; the host's own files stay as they are.
BOOT_SERVICES = {
    "/usr/bin/systemd-tmpfiles": "/bin/true",
    "/usr/lib/systemd/systemd-udevd": "/bin/true",
    "/usr/bin/udevadm": str(ROOT / "tests" / "vm" / "guest-udevadm"),
}


def without_boot_services(cmd: list[str], present=os.path.exists, private_ns=None) -> list[str]:
    """``cmd`` run where BOOT_SERVICES are stand-ins, when a private mount namespace can be had."""
    binds = [f"mount --bind {shlex.quote(stub)} {shlex.quote(path)}"
             for path, stub in BOOT_SERVICES.items() if present(path)]
    if not binds or not (private_ns or _private_mount_ns)():
        return cmd
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", f'{" && ".join(binds)} && exec "$@"',
            "sh", *cmd]


def _private_mount_ns() -> bool:
    """Whether unshare can give us a mount namespace whose mounts stay in it.

    It needs root, and / to be a mount point (it makes / and everything
    under it private): a bare chroot directory is not one.
    """
    try:
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True)
    except OSError as e:
        r = subprocess.CompletedProcess([], 1, "", str(e))
    if r.returncode:
        log(f"guests boot with udev and tmpfiles (slower): no private mount namespace here ({r.stderr.strip()})")
    return r.returncode == 0


# Kernel log lines that fail a run even when the kernel kept going.
SPLAT_MARKERS = (
    "WARNING:", "BUG:", "Oops", "general protection fault", "Kernel panic", "Call Trace:",
    # lockdep's report headers (kernel/locking/lockdep.c) and its self-checks
    "possible circular locking dependency", "possible recursive locking", "inconsistent lock state",
    "suspicious RCU usage", "DEBUG_LOCKS_WARN_ON", "trying to register non-static key",
    "BUG: KASAN", "UBSAN:", "INFO: task", "stack-protector", "list_add corruption",
    "list_del corruption", "refcount_t:", "ODEBUG:",
)


# Documentation/admin-guide/tainted-kernels.rst: bad page (5), died (7),
# warning (9), soft lockup (14).  Out-of-tree (12) and unsigned (13) are expected.
BAD_TAINTS = 1 << 5 | 1 << 7 | 1 << 9 | 1 << 14


def log(msg: str) -> None:
    kernels.log(msg)


def _vng() -> str:
    """virtme-ng's vng, from the virtualenv running us (it needs its bin on PATH)."""
    vng = Path(sys.executable).parent / "vng"
    if not vng.exists():
        raise kernels.KernelError(f"{vng} not found: install virtme-ng into this virtualenv (pip install -e '.[test]')")
    return str(vng)


def run_host(args: argparse.Namespace) -> int:
    kernel = kernels.resolve(args.kernel)
    kernels.install(kernel)
    ko = kernels.build_module(kernel)
    # The guest does not inherit our environment: pass the project's settings.
    settings = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("CKPT_TTY_")]
    guest = ["env", *settings, sys.executable, "-m", "tests.vm", "in-guest", "--ko", str(ko),
             *(["--no-load"] if args.no_load else []), "--", *args.command]
    cmd = [
        _vng(), "--run", str(kernel.boot), "--disable-kvm", *FS_OPTS,
        "--cpus", str(args.cpus), "--memory", args.memory,
        "--append", " ".join([CRASH_CMDLINE, PAGING_CMDLINE, *([] if args.verbose else [CONSOLE_CMDLINE]),
                              *([] if kernel.packages else [LOOSE_ROOT_CMDLINE])]),
        "--qemu-opts=-no-reboot",
        # vng's --verbose sends the kernel console to QEMU's stderr (below:
        # a log file) and sets loglevel 7, which CONSOLE_CMDLINE overrides.
        "--verbose",
        "--cwd", str(ROOT),
        "--exec", shlex.join(guest),
        *[opt for d in args.rwdir for opt in ("--rwdir", str(Path(d).resolve()))],
    ]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    console_log = ko.parent / "console.log"
    log(f"booting {kernel.release} in QEMU (TCG) to run: {shlex.join(args.command)}")
    start = time.monotonic()
    # QEMU reopens its output through /proc/self/fd, which would write over a
    # redirected file at its own offset: relay the guest's output through a
    # pipe, and the console (with QEMU's and virtme-ng's own messages) through
    # another into console_log.
    proc = subprocess.Popen(without_boot_services(cmd), cwd=ROOT, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(console_log, "wb") as console:
        console_outs = [console, sys.stdout.buffer] if args.verbose else [console]
        relays = [threading.Thread(target=_relay, args=(proc.stdout, [sys.stdout.buffer]), daemon=True),
                  threading.Thread(target=_relay, args=(proc.stderr, console_outs), daemon=True)]
        for relay in relays:
            relay.start()
        try:
            rc = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        for relay in relays:
            relay.join(10)  # a helper that left the process group may hold a pipe open
    elapsed = time.monotonic() - start
    if rc is None or rc == 255:
        what = (f"timed out after {args.timeout} s running: {shlex.join(args.command)}" if rc is None else
                f"ended without an exit status after {elapsed:.0f} s: the guest kernel crashed or QEMU failed")
        log(f"error: VM on {kernel.release} {what}; the end of its console ({console_log}):")
        _print_tail(console_log, CONSOLE_TAIL_LINES)
        return 124 if rc is None else rc
    if rc and GUEST_STARTED not in console_log.read_bytes():
        # virtme-ng or QEMU gave up before the guest ran anything (a missing
        # host program, say): what they said is in the console log.
        log(f"error: the VM on {kernel.release} did not start (status {rc}); the end of its console ({console_log}):")
        _print_tail(console_log, 20)
        return rc
    log(f"VM on {kernel.release} exited with status {rc} after {elapsed:.0f} s (console: {console_log})")
    return rc


# run_guest's first words on the console: the guest booted and runs us.
GUEST_STARTED = b"[guest] ckpt-tty runner started"

# Enough for a whole lockdep or KASAN report with its stack traces.
CONSOLE_TAIL_LINES = 120


def _relay(pipe, outs) -> None:
    """Copy pipe to outs until it ends.  An out that stops taking (a reader
    such as `head` that has gone) is dropped, and the pipe is still drained:
    a guest blocked on a full pipe would otherwise run on, stalled, until
    the timeout."""
    outs = list(outs)
    for chunk in iter(lambda: pipe.read1(65536), b""):
        for out in list(outs):
            try:
                out.write(chunk)
                out.flush()
            except (BrokenPipeError, ValueError):
                outs.remove(out)


def _print_tail(path: Path, lines: int) -> None:
    for line in path.read_bytes().splitlines()[-lines:]:
        sys.stdout.buffer.write(b"    " + line + b"\n")
    sys.stdout.flush()


def _read_kmsg() -> list[str]:
    """The kernel's own records in the log buffer, as message text.

    Records that programs wrote to /dev/kmsg (virtme-ng's init warns there
    about tools the root lacks) carry a non-zero facility: the kernel gives
    them LOG_USER at least (kernel/printk/printk.c, devkmsg_write), so they
    cannot pass for a kernel report.
    """
    lines = []
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:  # overwritten records: keep reading
                continue
            prefix, _, text = rec.decode("utf-8", "replace").partition(";")
            if int(prefix.split(",", 1)[0]) >> 3 == 0:  # facility 0: the kernel
                lines.append(text.split("\n", 1)[0])
    finally:
        os.close(fd)
    return lines


def lockdep_still_on() -> bool:
    """False once lockdep has reported anything: it turns itself off then.

    Independent of the kernel log, whose ring buffer a long run may wrap.
    True on kernels without lockdep.
    """
    try:
        stats = Path("/proc/lockdep_stats").read_text()
    except FileNotFoundError:
        return True
    for line in stats.splitlines():
        if line.strip().startswith("debug_locks:"):
            return line.split(":")[1].strip() == "1"
    return True


def find_splats(lines: list[str]) -> list[str]:
    return [line for line in lines if any(marker in line for marker in SPLAT_MARKERS)]


def _uptime() -> str:
    """The guest's clock since boot, to tell where a slow run spends its time."""
    return f"{float(Path('/proc/uptime').read_text().split()[0]):.1f} s after boot"


def run_guest(args: argparse.Namespace) -> int:
    # Our stderr reaches the host's console log with the kernel's messages
    # (run_host): say there that the guest side runs, then keep what we and
    # CMD say about the run with the output.
    os.write(2, GUEST_STARTED + f" at {_uptime()}\n".encode())
    os.dup2(1, 2)
    sys.path.insert(0, str(ROOT))
    from pyctl import kmod
    from pyctl.errors import PyctlError

    release = os.uname().release
    if not args.no_load:
        print(f"[guest] kernel {release}, loading {args.ko} at {_uptime()}", flush=True)
        try:
            kmod.load(args.ko)
        except PyctlError as e:
            print(f"[guest] error: {e}", flush=True)
            return 1
    env = dict(os.environ, CKPT_TTY_VM="1", CKPT_TTY_KO=str(Path(args.ko).resolve()), PYTHONDONTWRITEBYTECODE="1")
    # The virtualenv we run from comes first, as on the host, and this
    # checkout's pyctl before any other installed one.
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    print(f"[guest] running the command at {_uptime()}", flush=True)
    rc = subprocess.call(args.command, env=env)
    print(f"[guest] the command ended at {_uptime()}", flush=True)
    if kmod.is_loaded():
        try:
            kmod.unload()
        except PyctlError as e:
            print(f"[guest] error: {e}", flush=True)
            rc = rc or 1
    splats = find_splats(_read_kmsg())
    taint = int(Path("/proc/sys/kernel/tainted").read_text())
    print(f"[guest] kernel log: {len(splats)} warnings or splats; taint {taint}", flush=True)
    if not lockdep_still_on():
        print("[guest] error: lockdep switched itself off (debug_locks 0): it reported a problem", flush=True)
        rc = rc or 1
    if taint & BAD_TAINTS:
        print(f"[guest] error: the kernel is tainted by a problem (taint {taint}, bad bits {taint & BAD_TAINTS})",
              flush=True)
        rc = rc or 1
    if splats:
        print("[guest] error: kernel log has warnings or splats:", flush=True)
        for line in splats:
            print(f"[guest]   {line}", flush=True)
        rc = rc or 1
    print(f"[guest] command exited with status {rc}", flush=True)
    return rc


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    in_guest = bool(argv) and argv[0] == "in-guest"
    parser = argparse.ArgumentParser(prog="python -m tests.vm", description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s [options] -- CMD [ARGS...]")
    if in_guest:
        argv = argv[1:]
        parser.add_argument("--ko", required=True)
    else:
        parser.add_argument("--kernel", default=os.environ.get("CKPT_TTY_KERNEL", kernels.DEFAULT_KERNEL),
                            help="6.1, 6.12, 6.12-rt or an exact release (default: %(default)s)")
        parser.add_argument("--timeout", type=int, default=1800, help="hard limit in seconds (default: %(default)s)")
        parser.add_argument("--cpus", type=int, default=2)
        parser.add_argument("--memory", default="2G")
        parser.add_argument("--verbose", action="store_true",
                            help="show the guest kernel's console here too (it always goes to build/RELEASE/console.log)")
        parser.add_argument("--rwdir", action="append", default=[], metavar="DIR",
                            help="let the guest write to this host directory (the rest of / is read-only)")
    parser.add_argument("--no-load", action="store_true", help="do not load the module before CMD")
    parser.add_argument("command", nargs="+", help="command to run in the guest")
    args = parser.parse_args(argv)
    try:
        return run_guest(args) if in_guest else run_host(args)
    except kernels.KernelError as e:
        log(f"error: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
