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
BUILD_ROOT = ROOT / "build"
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
    release: str

    @property
    def image(self) -> Path:
        return Path(f"/boot/vmlinuz-{self.release}")

    @property
    def kdir(self) -> Path:
        return Path(f"/lib/modules/{self.release}/build")

    @property
    def build_dir(self) -> Path:
        return BUILD_ROOT / self.release

    @property
    def ko(self) -> Path:
        return self.build_dir / "ckpt_tty.ko"

    @property
    def packages(self) -> list[str]:
        return [f"linux-image-{self.release}", f"linux-headers-{self.release}"]

    def installed(self) -> bool:
        return self.image.is_file() and (self.kdir / "Makefile").is_file()


def log(msg: str) -> None:
    print(f"[ckpt-tty] {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, **kw)


_apt_updated = False


def _apt_update() -> None:
    global _apt_updated
    if not _apt_updated:
        log("apt-get update")
        if _run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL).returncode:
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
    if spec not in META_PACKAGES:
        if not re.fullmatch(r"\d+\.\d+\S*", spec):
            raise KernelError(f"unknown kernel {spec!r}: use one of {', '.join(META_PACKAGES)} or an exact release")
        return Kernel(spec)
    meta = META_PACKAGES[spec]
    image_pkg = _depends_on(meta)
    if image_pkg is None:
        _apt_update()
        image_pkg = _depends_on(meta)
    if image_pkg is None:
        raise KernelError(f"apt knows no package {meta} (is Debian's security suite in the apt sources?)")
    return Kernel(image_pkg.removeprefix("linux-image-"))


def install(kernel: Kernel) -> None:
    """Install image and headers of ``kernel`` unless already there."""
    if kernel.installed():
        return
    log(f"installing kernel {kernel.release} ({' '.join(kernel.packages)}) from Debian's archive")
    _apt_update()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *kernel.packages], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode or not kernel.installed():
        sys.stderr.write(proc.stdout[-3000:])
        raise KernelError(f"apt-get install {' '.join(kernel.packages)} failed")


def build_module(kernel: Kernel) -> Path:
    """Build ckpt_tty.ko for ``kernel`` in build/<release>/; return its path."""
    if not kernel.installed():
        raise KernelError(f"kernel {kernel.release} is not installed: python -m tests.kernels install {kernel.release}")
    bdir = kernel.build_dir
    bdir.mkdir(parents=True, exist_ok=True)
    for name in MODULE_SOURCES:
        src, dst = ROOT / name, bdir / name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    log(f"building ckpt_tty.ko for {kernel.release}")
    proc = _run(["make", "-C", str(bdir), f"KDIR={kernel.kdir}", "modules"],
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
