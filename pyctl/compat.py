# SPDX-License-Identifier: GPL-2.0
"""Would a restore take this image?  ``pyctl validate`` and restore's own check.

A target is what a restore would run against: the loaded module (GET_INFO),
a ckpt_tty.ko file (its embedded info), or a kernel's BTF (the constants the
module would be built with).  Images hold terminal state, not kernel memory,
so only the ring size and the number of c_cc slots must match; a different
n_tty_data layout or kernel release is reported but does not stop a restore.
"""

from __future__ import annotations

import dataclasses

from . import reachable
from .errors import ImageError, PyctlError
from .image import Constants, Image
from .info import FEATURE_NAMES, ModuleInfo

__all__ = ["Target", "check", "notes", "pair_problems", "target_from_btf", "target_from_ko", "target_running"]

# Constants that must be equal for a restore (the kernel checks them again).
REQUIRED = ("n_tty_buf_size", "nccs")


@dataclasses.dataclass
class Target:
    name: str  # for messages: "the running module", "ckpt_tty.ko", a BTF path
    release: str
    constants: Constants
    features: list[str]


def _from_info(name: str, info: ModuleInfo) -> Target:
    c = Constants(info.n_tty_buf_size, info.nccs, info.ncc, info.bits_per_long, info.byte_order,
                  info.ktermios_size, info.n_tty_data_size, info.n_tty_data_fingerprint)
    return Target(name, info.kernel_release, c, info.feature_names)


def target_running(device: str) -> Target:
    from .info import get_info

    return _from_info(f"the module loaded here ({device})", get_info(path=device))


def target_from_ko(path: str) -> Target:
    from .kofile import read_ko

    ko = read_ko(path)
    return _from_info(f"{path} (built for {ko.built_for})", ko.info)


def target_from_btf(path: str) -> Target:
    """The constants a module built against this kernel's BTF would report."""
    from . import _uapi
    from .btf import BtfError, load_btf
    from .ntty_layout import fingerprint, ntty_layout

    try:
        btf = load_btf(path)
        layout = ntty_layout(btf)  # refuses a kernel whose N_TTY lacks what the module uses
        ring = layout.member("read_buf").size
        ktermios = btf.struct("ktermios")
        nccs = ktermios.member("c_cc").size
        try:
            ncc = btf.struct("termio").member("c_cc").size
        except BtfError:
            ncc = 8  # NCC of include/uapi/asm-generic/termios.h; struct termio is not always in BTF
        order = _uapi.CKPT_TTY_LITTLE_ENDIAN if btf.little_endian else _uapi.CKPT_TTY_BIG_ENDIAN
        c = Constants(ring, nccs, ncc, btf.pointer_size() * 8, order, ktermios.size, layout.size,
                      fingerprint(layout))
    except BtfError as e:
        raise PyctlError(str(e)) from None
    features = [FEATURE_NAMES[bit] for bit in sorted(FEATURE_NAMES)]  # a module built from this source
    return Target(f"{path} (BTF)", "", c, features)


def pair_problems(image: Image, index: int) -> list[str]:
    """Why pair ``index`` cannot be restored by this version, if it cannot (once settled)."""
    return reachable.pair_problems(reachable.settle(image.pairs[index]), f"pair[{index}]")


def hung_up(image: Image) -> bool:
    """Whether a pair of the image has a hung-up end (restore needs the module's hung_up feature)."""
    return any(p.either_has("hupped") for p in image.pairs)


def check(image: Image, target: Target) -> list[str]:
    """Every reason the target would refuse the image; empty when it would take it."""
    try:
        image.validate()
    except ImageError as e:
        return [str(e)]
    problems = []
    if "restore" not in target.features:
        problems.append(f"{target.name} does not offer restore (features: {', '.join(target.features) or 'none'})")
    elif hung_up(image) and "hung_up" not in target.features:
        problems.append(f"{target.name} cannot restore hung-up terminals (an older ckpt_tty.ko: no hung_up feature)")
    for name in REQUIRED:
        ours, theirs = getattr(image.constants, name), getattr(target.constants, name)
        if ours != theirs:
            problems.append(f"constants.{name}: image has {ours}, {target.name} has {theirs}")
    for k in range(len(image.pairs)):
        problems += pair_problems(image, k)
    return problems


def notes(image: Image, target: Target) -> list[str]:
    """Differences that do not stop a restore, worth telling."""
    out = []
    if target.release and target.release != image.release:
        out.append(f"taken on kernel {image.release}, target is {target.release}")
    for f in dataclasses.fields(Constants):
        if f.name in REQUIRED:
            continue
        ours, theirs = getattr(image.constants, f.name), getattr(target.constants, f.name)
        if ours != theirs:
            out.append(f"constants.{f.name}: image has {ours:#x}, target has {theirs:#x} (does not matter: images "
                       "hold terminal state, not kernel memory)" if f.name == "n_tty_data_fingerprint" else
                       f"constants.{f.name}: image has {ours}, target has {theirs} (recorded, not needed)")
    return out
