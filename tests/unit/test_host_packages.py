# SPDX-License-Identifier: GPL-2.0
"""A fresh Debian 12 machine has every program the project runs on the host.

One module build and one VM boot run under strace; every program executed and
every system file opened must come from a package scripts/bootstrap.sh
installs (or one apt pulls in with it, or one every Debian 12 base system
has).  A program that only a hand-installed package provides (busybox, file,
...) fails here by name, before a new user's first `make demo` does.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import hostpkgs, kernels

# Where the project's own files live: the checkout, its build trees, the
# virtualenvs and kernels under the cache.  Not Debian's business.
PROJECT_DIRS = [kernels.ROOT, Path(os.environ.get("CKPT_TTY_CACHE", Path.home() / ".cache" / "ckpt-tty")),
                Path(sys.prefix)]
# Opened but never packaged: kernel interfaces, devices, generated caches, temporary files.
# root's PATH on Debian 12 (/etc/profile, /etc/login.defs)
FRESH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOT_PACKAGE_FILES = ("/proc/", "/sys/", "/dev/", "/tmp/", "/run/", "/var/tmp/", "/etc/ld.so.cache")
# Read when present, and nothing misses them when absent.
OPTIONAL_FILES = {
    "/usr/share/locale/locale.alias": "glibc's setlocale() reads it if it exists (package locales)",
}


def test_strace_parsing():
    log = "\n".join([
        '101 execve("/usr/bin/make", ["make", "-C"], 0x7ffd /* 20 vars */) = 0',
        '102 openat(AT_FDCWD, "/bin/busybox", O_RDONLY|O_CLOEXEC) = 3',
        '102 openat(AT_FDCWD, "/usr/lib/x86_64-linux-gnu", O_RDONLY|O_DIRECTORY) = 4',
        '103 open("/etc/odd\\"name", O_RDONLY) = 5',
        '104 openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)',
        '105 +++ exited with 0 +++',
    ])
    assert hostpkgs.strace_files(log) == ({"/usr/bin/make"}, {"/bin/busybox", '/etc/odd"name'})


def test_dpkg_spellings_of_merged_usr():
    assert "/bin/busybox" in hostpkgs.spellings("/usr/bin/busybox")
    assert "/usr/lib/x86_64-linux-gnu/libc.so.6" in hostpkgs.spellings("/lib/x86_64-linux-gnu/libc.so.6")
    assert hostpkgs.spellings("/etc/passwd") == ["/etc/passwd"]


def test_package_list_is_what_bootstrap_installs():
    text = (kernels.ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "debian-packages.txt" in text
    names = hostpkgs.listed_packages()
    assert len(names) == len(set(names)) and all(n == n.lower() and " " not in n for n in names)
    # the list names what virtme-ng needs beyond QEMU
    assert {"qemu-system-x86", "busybox-static", "file", "strace", "python3-venv"} <= set(names)


def _interpreter(path):
    """The #! interpreter of a script, which the kernel executes without an open() we see."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if head.startswith(b"#!"):
        return head[2:].split(b"\n", 1)[0].split()[0].decode()
    return None


def _ours(path):
    real = Path(os.path.realpath(path))
    return any(real == d or d in real.parents for d in PROJECT_DIRS if not str(d).startswith("/usr"))


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed (scripts/bootstrap.sh installs it)")
def test_host_runs_only_packaged_programs(kernel, tmp_path):
    build_dir = kernels.ROOT / "build" / "exec-trace"
    shutil.rmtree(build_dir, ignore_errors=True)  # a whole module build, not an up-to-date check
    log = tmp_path / "strace.log"
    # PATH as on a fresh machine, with the virtualenv first as tox has it
    env = dict(os.environ, CKPT_TTY_BUILD_DIR=str(build_dir), PATH=f"{Path(sys.executable).parent}:{FRESH_PATH}")
    proc = subprocess.run(["strace", "-f", "-qq", "-z", "--seccomp-bpf", "-s", "4096", "-e", "signal=none",
                           "-e", "trace=execve,open,openat", "-o", str(log),
                           sys.executable, "-m", "tests.vm", "--kernel", kernel.release, "--timeout", "600",
                           "--", "true"],
                          cwd=kernels.ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the traced VM run failed:\n{proc.stdout}\n{proc.stderr}"
    executed, opened = hostpkgs.strace_files(log.read_text(errors="replace"))
    executed |= {i for i in map(_interpreter, executed) if i}
    executed = {p for p in executed if not _ours(p)}
    opened = {p for p in opened if not _ours(p) and not p.startswith(NOT_PACKAGE_FILES) and os.path.isfile(p)
              and p not in OPTIONAL_FILES}
    owner = hostpkgs.owners(executed | opened)

    unowned = sorted(p for p in executed if p not in owner)
    assert not unowned, f"programs run on the host that no Debian package provides: {unowned}"
    roots = [*hostpkgs.listed_packages(), *hostpkgs.PREREQUISITES, *kernels.BUILD_PACKAGES, *kernel.packages]
    allowed = hostpkgs.depends_closure(roots)
    used = {}
    for path, pkg in owner.items():
        used.setdefault(pkg, []).append(path)
    missing = {pkg: sorted(paths) for pkg, paths in used.items()
               if pkg not in allowed and hostpkgs.priority(pkg) not in hostpkgs.BASE_PRIORITIES}
    assert not missing, "\n".join(
        ["the host used files of Debian packages that scripts/debian-packages.txt does not install "
         "(a fresh machine lacks them):"] +
        [f"  {pkg} ({hostpkgs.priority(pkg) or 'no priority'}): {', '.join(paths[:3])}"
         for pkg, paths in sorted(missing.items())])
    # the trace saw the whole path: the compiler, QEMU and virtme-ng's initramfs tool
    assert any(p.endswith("/qemu-system-x86_64") for p in executed), sorted(executed)
    assert any(os.path.basename(p).startswith(("cc1", "gcc")) for p in executed), sorted(executed)
