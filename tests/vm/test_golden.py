# SPDX-License-Identifier: GPL-2.0
"""Golden images from every kernel of the matrix restore on this one.

images/golden/<kernel>/ holds images taken on 6.1, 6.12 and 6.12-rt
(tests/vm/golden.py) with what the original pair showed afterwards.  Each is
restored here, on whichever kernel this run boots, so an image taken on 6.1
is restored on 6.12 and the reverse: the restored pair must show the same
termios, window size, ioctl answers and read() results, line boundaries
included, as the original did on its own kernel.
"""

import dataclasses
import json
import os

import pytest

import pyctl
from pyctl.imagediff import diff

from .golden import GOLDEN, observe
from .ttyutil import settle

IMAGES = sorted(GOLDEN.glob("*/*.img"))


def test_golden_images_exist():
    kernels = {p.parent.name for p in IMAGES}
    assert {"6.1", "6.12"} <= kernels, f"golden images missing: have {sorted(kernels)}; run make golden"


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_image_restores_here(path, pairs):
    image = pyctl.loads(path.read_bytes())
    expected = json.loads(path.with_suffix(".json").read_text())
    m, s = pyctl.restore(image, index="any")
    pairs.fds += [m, s]

    # The restored pair checkpoints to the same state, ring positions included; only the pty index and
    # devpts instance differ.
    # Settle first: restore hands pending flip bytes to the flush worker, which sets no_room when the ring is full.
    settle()
    again = pyctl.checkpoint(m)
    assert dataclasses.replace(again.pairs[0], index=image.pairs[0].index, devpts=image.pairs[0].devpts) \
        == image.pairs[0], \
        "\n".join(diff(image, again))

    seen = observe(m, s, expected["completion"].encode("latin-1"))
    assert seen == expected, f"taken on {path.parent.name} ({image.release}), restored on {os.uname().release}"
