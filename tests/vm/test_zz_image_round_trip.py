# SPDX-License-Identifier: GPL-2.0
"""Decode then encode gives back every image this run produced, byte for byte.

Runs last (file order): tests/vm/conftest.py has recorded each image that
pyctl.checkpoint() made in this pytest process, from every test before this
one, the stress test's thousands included.  Each goes through JSON in both
spellings and must come back identical; show, info and diff must take it.
"""

import json

import pytest

from pyctl import imagejson, loads, show
from pyctl.imagediff import diff
from pyctl.imageinfo import describe_file

from .conftest import PRODUCED


@pytest.mark.userspace
def test_every_image_of_this_run_round_trips():
    if not PRODUCED:
        pytest.skip("no checkpoints were taken in this run (run the whole of tests/vm)")
    for n, data in enumerate(dict.fromkeys(PRODUCED)):  # distinct images, in order
        image = loads(data)
        for pretty in (False, True):
            text = json.dumps(imagejson.to_json(image, pretty))
            assert imagejson.from_json(json.loads(text)).dumps() == data, f"image {n}, pretty={pretty}"
        assert describe_file(data)[1] == image
        assert diff(image, image) == []
        show.describe(image)
    print(f"{len(PRODUCED)} images ({len(set(PRODUCED))} distinct) decoded and encoded back identically")
