# SPDX-License-Identifier: GPL-2.0
"""Kernels to test on: resolve, install from Debian's archive, build the module.

A kernel is named by a short spec (``6.1``, ``6.12``, ``6.12-rt``), resolved
through Debian's meta packages to the current versioned package, or by an
exact release (``6.1.0-56-amd64``).  The moving 6.12 number is never
hard-coded.

    python -m tests.kernels install 6.1     install image and headers
    python -m tests.kernels build 6.1       build ckpt_tty.ko for it
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Per-kernel module builds; CKPT_TTY_BUILD_DIR moves them (tests/unit/test_host_packages.py).
BUILD_ROOT = Path(os.environ.get("CKPT_TTY_BUILD_DIR", ROOT / "build"))
DEFAULT_KERNEL = "6.1"

# spec -> Debian meta package of the image (the headers' meta is its twin)
META_PACKAGES = {
    "6.1": "linux-image-amd64",
    "6.12": "linux-image-6.12-amd64",
    "6.12-rt": "linux-image-6.12-rt-amd64",
}

# Module sources copied into each per-kernel build directory.
MODULE_SOURCES = ("Kbuild", "Makefile", "kmod", "pyctl")


class KernelError(Exception):
    """A kernel cannot be resolved, installed or built for."""


@dataclasses.dataclass(frozen=True)
class Kernel:
    """A kernel to boot: its image and the build tree modules compile against."""

    release: str
    image: Path
    kdir: Path
    packages: tuple[str, ...] = ()  # Debian packages that provide it, if any

    @classmethod
    def debian(cls, release: str) -> "Kernel":
        return cls(release, Path(f"/boot/vmlinuz-{release}"), Path(f"/lib/modules/{release}/build"),
                   (f"linux-image-{release}", f"linux-headers-{release}"))

    @property
    def boot(self) -> Path:
        """What vng --run takes: the image, or for a self-built kernel its tree (modules and all)."""
        return self.image if self.packages else self.kdir

    @property
    def build_dir(self) -> Path:
        return BUILD_ROOT / self.release

    @property
    def ko(self) -> Path:
        return self.build_dir / "ckpt_tty.ko"

    def installed(self) -> bool:
        if not self.packages:  # a debug kernel: only a finished build counts
            return (self.kdir / BUILT_MARKER).exists()
        return self.image.is_file() and (self.kdir / "Makefile").is_file()


def log(msg: str) -> None:
    print(f"[ckpt-tty] {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, **kw)


_apt_updated = False

# Wait for another apt (check.sh builds the debug kernels in the background
# while the matrix installs its kernels) instead of failing on dpkg's lock.
APT_GET = ["apt-get", "-o", "DPkg::Lock::Timeout=1200"]


def _apt_update() -> None:
    global _apt_updated
    if not _apt_updated:
        log("apt-get update")
        if _run([*APT_GET, "update", "-q"], stdout=subprocess.DEVNULL).returncode:
            raise KernelError("apt-get update failed")
        _apt_updated = True


def _depends_on(meta: str) -> str | None:
    proc = _run(["apt-cache", "depends", "--important", meta], capture_output=True)
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-\S+)", line)
        if m:
            return m.group(1)
    return None


def resolve(spec: str) -> Kernel:
    """Map a spec to a kernel release, asking apt for the current version."""
    if spec in DEBUG_KERNELS:
        return debug_kernel(spec)
    if spec not in META_PACKAGES:
        if not re.fullmatch(r"\d+\.\d+\S*", spec):
            raise KernelError(f"unknown kernel {spec!r}: use one of {', '.join(META_PACKAGES)} or an exact release")
        return Kernel.debian(spec)
    meta = META_PACKAGES[spec]
    image_pkg = _depends_on(meta)
    if image_pkg is None:
        _apt_update()
        image_pkg = _depends_on(meta)
    if image_pkg is None:
        raise KernelError(f"apt knows no package {meta} (is Debian's security suite in the apt sources?)")
    return Kernel.debian(image_pkg.removeprefix("linux-image-"))


def install(kernel: Kernel) -> None:
    """Install image and headers of ``kernel`` (or build it) unless already there."""
    if kernel.installed():
        return
    if not kernel.packages:
        build_debug_kernel(kernel)
        return
    log(f"installing kernel {kernel.release} ({' '.join(kernel.packages)}) from Debian's archive")
    _apt_update()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = _run([*APT_GET, "install", "-y", "-q", "--no-install-recommends", *kernel.packages], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode or not kernel.installed():
        sys.stderr.write(proc.stdout[-3000:])
        raise KernelError(f"apt-get install {' '.join(kernel.packages)} failed")


# ---- the debug kernel: Debian's source, virtme-ng's minimal config, kernel/debug.config ----

DEBUG_KERNELS = {"6.1-debug": "6.1", "6.12-debug": "6.12"}
DEBUG_CONFIG = ROOT / "kernel" / "debug.config"
BUILD_PACKAGES = ("build-essential", "flex", "bison", "bc", "libelf-dev", "libssl-dev", "dwarves", "cpio",
                  "python3", "zstd", "xz-utils")


def _cache() -> Path:
    return Path(os.environ.get("CKPT_TTY_CACHE", Path.home() / ".cache" / "ckpt-tty"))


def _source_version(series: str) -> str:
    proc = _run(["dpkg-query", "-W", "-f=${Version}", f"linux-source-{series}"], capture_output=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _apt_install(packages: list[str]) -> None:
    missing = [p for p in packages if _run(["dpkg-query", "-W", "-f=${Status}", p],
                                           capture_output=True).stdout.strip() != "install ok installed"]
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    _apt_update()
    proc = _run([*APT_GET, "install", "-y", "-q", "--no-install-recommends", *missing],
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-3000:])
        raise KernelError(f"apt-get install {' '.join(missing)} failed")


# A built 6.1 debug tree (objects, debug info, BTF) took 5.1 GB; leave headroom.
DEBUG_BUILD_BYTES = 8 << 30


def check_free_space(where: Path) -> None:
    """Refuse a debug kernel build that would run out of disk half-way."""
    import shutil as sh

    where.mkdir(parents=True, exist_ok=True)
    free = sh.disk_usage(where).free
    if free < DEBUG_BUILD_BYTES:
        raise KernelError(f"the debug kernel build needs about {DEBUG_BUILD_BYTES >> 30} GB free in {where}; "
                          f"{free / (1 << 30):.1f} GB are (set CKPT_TTY_CACHE to another disk)")


def lost_config(fragment: str, config: str) -> list[str]:
    """Lines of ``fragment`` that the final .config did not keep.

    Kconfig silently drops a setting whose dependencies are unmet, or turns an
    option back on that something else selects; either would make the debug
    kernel quietly less strict (or bigger) than kernel/debug.config says.
    """
    have = {}
    for line in config.splitlines():
        m = re.fullmatch(r"(CONFIG_\w+)=(.*)|# (CONFIG_\w+) is not set", line)
        if m:
            have[m.group(1) or m.group(3)] = m.group(2) if m.group(1) else "n"
    lost = []
    for line in fragment.splitlines():
        m = re.fullmatch(r"(CONFIG_\w+)=(.*)|# (CONFIG_\w+) is not set", line.strip())
        if not m:
            continue
        name, value = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), "n")
        if have.get(name, "n") != value:
            lost.append(line.strip())
    return lost


def debug_kernel(spec: str) -> Kernel:
    """The cached debug kernel for ``spec``, keyed by source version and config."""
    import hashlib

    series = DEBUG_KERNELS[spec]
    _apt_install([f"linux-source-{series}"])
    key = hashlib.sha256(f"{_source_version(series)}\n{DEBUG_CONFIG.read_text()}".encode()).hexdigest()[:12]
    tree = _cache() / "kernels" / f"debug-{series}-{key}"
    release_file = tree / "include" / "config" / "kernel.release"
    release = release_file.read_text().strip() if (tree / BUILT_MARKER).exists() else f"{series}-debug-{key}"
    return Kernel(release, tree / "arch" / "x86" / "boot" / "bzImage", tree)


BUILT_MARKER = ".ckpt-tty-built"


def build_debug_kernel(kernel: Kernel) -> None:
    """Build the debug kernel into its cache directory, or wait for the process building it."""
    import fcntl

    kernel.kdir.parent.mkdir(parents=True, exist_ok=True)
    with open(kernel.kdir.with_name(kernel.kdir.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process to finish building {kernel.kdir.name}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not (kernel.kdir / BUILT_MARKER).exists():
            _build_debug_kernel(kernel)


def _build_debug_kernel(kernel: Kernel) -> None:
    """Build the debug kernel into its cache directory (tens of minutes on 2 cores)."""
    import shutil as sh
    import tarfile

    series = next(s for spec, s in DEBUG_KERNELS.items() if kernel.kdir.name.startswith(f"debug-{s}-"))
    tree = kernel.kdir
    check_free_space(tree.parent)
    _apt_install(list(BUILD_PACKAGES))
    if not (tree / "Makefile").exists():
        log(f"unpacking linux-source-{series} into {tree}")
        tmp = tree.with_name(tree.name + ".tmp")
        sh.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(f"/usr/src/linux-source-{series}.tar.xz") as tar:
            tar.extractall(tmp)
        (top,) = tmp.iterdir()
        sh.rmtree(tree, ignore_errors=True)
        top.rename(tree)
        sh.rmtree(tmp)
    vng = Path(sys.executable).parent / "vng"
    env = dict(os.environ, PATH=f"{vng.parent}:{os.environ.get('PATH', '')}")
    log(f"configuring: virtme-ng defaults + {DEBUG_CONFIG.relative_to(ROOT)}")
    proc = _run([str(vng), "--kconfig", "--config", str(DEBUG_CONFIG)], cwd=tree, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-3000:])
        raise KernelError("vng --kconfig failed")
    # vng appends its own defaults after our fragment (among them
    # DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y): apply the fragment again, last.
    with open(tree / ".config", "a") as config:
        config.write("\n" + DEBUG_CONFIG.read_text())
    proc = _run(["make", "olddefconfig"], cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-3000:])
        raise KernelError("make olddefconfig failed")
    lost = lost_config(DEBUG_CONFIG.read_text(), (tree / ".config").read_text())
    if lost:
        raise KernelError(f"kernel config lost {', '.join(lost)} (unmet dependencies?)")
    jobs = str(os.cpu_count() or 2)
    log(f"building the debug kernel in {tree} with {jobs} jobs (7 to 14 minutes on 2 cores with nothing else running)")
    with open(tree / "build.log", "w") as out:
        proc = _run(["make", f"-j{jobs}", "bzImage", "modules"], cwd=tree, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.stderr.write((tree / "build.log").read_text()[-5000:])
        raise KernelError(f"debug kernel build failed (log: {tree / 'build.log'})")
    _write_ntty_btf(tree)
    (tree / BUILT_MARKER).touch()
    log(f"debug kernel {(tree / 'include/config/kernel.release').read_text().strip()} built")


# The debug kernels are built without debug info (a third of their build
# time), so without BTF.  The module still needs struct n_tty_data's layout:
# it comes from n_tty.o alone, compiled again with -g under the same config,
# its DWARF turned into BTF by pahole.
NTTY_BTF = "ckpt-tty-n_tty.btf"


def _write_ntty_btf(tree: Path) -> None:
    with open(tree / "build.log", "a") as out:
        proc = _run(["make", "KCFLAGS=-g", "drivers/tty/n_tty.o"], cwd=tree, stdout=out, stderr=subprocess.STDOUT)
        if proc.returncode == 0:
            proc = _run(["pahole", f"--btf_encode_detached={NTTY_BTF}", "drivers/tty/n_tty.o"],
                        cwd=tree, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode or not (tree / NTTY_BTF).is_file():
        sys.stderr.write((tree / "build.log").read_text()[-3000:])
        raise KernelError(f"could not take struct n_tty_data's BTF from {tree / 'drivers/tty/n_tty.o'}")


def build_module(kernel: Kernel) -> Path:
    """Build ckpt_tty.ko for ``kernel`` in build/<release>/; return its path."""
    if not kernel.installed():
        raise KernelError(f"kernel {kernel.release} is not installed: python -m tests.kernels install ...")
    bdir = kernel.build_dir
    bdir.mkdir(parents=True, exist_ok=True)
    for name in MODULE_SOURCES:
        src, dst = ROOT / name, bdir / name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    log(f"building ckpt_tty.ko for {kernel.release}")
    ntty_btf = kernel.kdir / NTTY_BTF
    layout = [f"KBTF={ntty_btf}"] if ntty_btf.is_file() else []
    proc = _run(["make", "-C", str(bdir), f"KDIR={kernel.kdir}", *layout, "modules"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode or not kernel.ko.is_file():
        sys.stderr.write(proc.stdout[-5000:])
        raise KernelError(f"building ckpt_tty.ko for {kernel.release} failed")
    return kernel.ko


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install test kernels and build the module for them.")
    parser.add_argument("action", choices=["resolve", "install", "build"])
    parser.add_argument("kernels", nargs="*", default=[DEFAULT_KERNEL])
    args = parser.parse_args(argv)
    try:
        for spec in args.kernels:
            kernel = resolve(spec)
            if args.action in ("install", "build"):
                install(kernel)
            if args.action == "build":
                build_module(kernel)
            print(kernel.release)
    except KernelError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
