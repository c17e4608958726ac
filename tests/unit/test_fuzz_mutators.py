# SPDX-License-Identifier: GPL-2.0
"""The restore fuzzer's mutations always give a structure the ioctl can carry.

(Its VM run, tests/vm/test_fuzz_restore.py, would otherwise stop at the
first mutation that does not encode instead of reaching the kernel.)
"""

import copy
import random

from pyctl import abi
from tests.vm import fuzz_restore


def test_every_mutation_encodes():
    base = abi.zeroed("ckpt_tty_pair")
    for k in range(3000):
        rng = random.Random(f"unit:{k}")
        pair = fuzz_restore.random_structure(rng) if k % 10 == 0 else copy.deepcopy(base)
        for _ in range(rng.randint(1, 4)):
            rng.choice(fuzz_restore.MUTATORS)(rng, pair, rng.choice(("master", "slave")))
        assert len(abi.encode("ckpt_tty_pair", pair)) == abi.sizeof("ckpt_tty_pair")


def test_cases_replay_from_seed_and_number():
    def draw(k):
        rng = random.Random(f"5:{k}")
        pair = copy.deepcopy(abi.zeroed("ckpt_tty_pair"))
        return [fuzz_restore.mutate_index(rng, pair, "slave") for _ in range(3)]
    assert draw(17) == draw(17) and draw(17) != draw(18)
