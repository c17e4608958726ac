# SPDX-License-Identifier: GPL-2.0
"""Which Debian packages the host side of the project uses, and may use.

tests/unit/test_host_packages.py runs a module build and a VM boot under
``strace`` and maps every program the host executes, and every file it opens
from the system, to the Debian package that owns it (``dpkg -S``).  A package
may be used when:

- scripts/debian-packages.txt lists it (scripts/bootstrap.sh installs those),
  or the project installs it itself (kernels and the debug-kernel build
  tools, tests/kernels.py), or it is a README prerequisite (PREREQUISITES);
- or apt installs it as a Depends/Pre-Depends of one of those;
- or it has Priority required or important: every Debian 12 base system
  (debootstrap's default variant) has it.

Anything else works only on machines where someone installed it by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_LIST = ROOT / "scripts" / "debian-packages.txt"

# What the README asks for before its first command (make runs it; git clones it).
PREREQUISITES = ("make", "git")

BASE_PRIORITIES = ("required", "important")

# Directories merged into /usr on Debian 12: dpkg records a file under either spelling.
_MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def listed_packages(path: Path = PACKAGE_LIST) -> list[str]:
    """The packages scripts/bootstrap.sh installs: one per line, # comments."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def strace_files(log: str) -> tuple[set[str], set[str]]:
    """(programs executed, files opened) in the output of
    ``strace -f -z -e trace=execve,open,openat``, successful calls only."""
    executed, opened = set(), set()
    for line in log.splitlines():
        m = re.search(r'\b(execve|openat|open)\((?:AT_FDCWD|\d+)?,? ?"((?:[^"\\]|\\.)*)"', line)
        if not m or re.search(r"= -1 ", line):
            continue
        path = m.group(2).encode().decode("unicode_escape")
        if m.group(1) == "execve":
            executed.add(path)
        elif "O_DIRECTORY" not in line:
            opened.add(path)
    return executed, opened


def spellings(path: str) -> list[str]:
    """A path as dpkg may have recorded it: as given, resolved, and with or without /usr."""
    out = []
    for p in dict.fromkeys([os.path.normpath(path), os.path.realpath(path)]):
        out.append(p)
        parts = p.split("/")
        if len(parts) > 2 and parts[1] == "usr" and parts[2] in _MERGED:
            out.append("/" + "/".join(parts[2:]))
        elif len(parts) > 1 and parts[1] in _MERGED:
            out.append("/usr" + p)
    return list(dict.fromkeys(out))


def owners(paths: set[str]) -> dict[str, str]:
    """path -> owning package, for the paths dpkg knows (any spelling)."""
    spelled: dict[str, set[str]] = {}
    for p in paths:
        for s in spellings(p):
            spelled.setdefault(s, set()).add(p)
    found: dict[str, str] = {}
    names = sorted(spelled)
    for i in range(0, len(names), 500):
        proc = subprocess.run(["dpkg-query", "-S", *names[i:i + 500]], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith("diversion by"):
                continue
            pkgs, _, file = line.partition(": ")
            for p in spelled.get(file, ()):
                # "pkg1, pkg2: /path" for shared directories; architecture qualifiers dropped
                found.setdefault(p, pkgs.split(",")[0].strip().split(":")[0])
    return found


def priority(package: str) -> str:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Priority}", package], capture_output=True, text=True)
    return proc.stdout.strip()


def depends_closure(packages: list[str]) -> set[str]:
    """``packages`` and everything apt installs with them (Depends and Pre-Depends, recursively)."""
    proc = subprocess.run(["apt-cache", "depends", "--recurse", "--important", *packages],
                          capture_output=True, text=True)
    closure = set(packages)
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*\|?(?:Pre)?Depends:\s*<?([^\s>:]+)", line) or re.match(r"(\S+)$", line)
        if m:
            closure.add(m.group(1))
    return closure
