# SPDX-License-Identifier: GPL-2.0
"""The restore fuzzer's mutations always give a record the ioctl can carry.

(Its VM run, tests/vm/test_fuzz_restore.py, would otherwise stop at the
first mutation that does not encode instead of reaching the kernel.)
"""

import copy
import random

from pyctl import record
from tests.vm import fuzz_restore


def test_every_mutation_encodes():
    base = fuzz_restore.empty_record()
    fitted = 0
    for k in range(3000):
        rng = random.Random(f"unit:{k}")
        pair = fuzz_restore.random_structure(rng) if k % 10 == 0 else copy.deepcopy(base)
        for _ in range(rng.randint(1, 4)):
            rng.choice(fuzz_restore.MUTATORS)(rng, pair, rng.choice(("master", "slave")))
        fuzz_restore.fit_parts(pair)
        raw = fuzz_restore.encode(pair)
        assert len(raw) % 8 == 0
        if not pair.get("sizes_as_given") and not pair.get("error"):
            try:
                back = record.decode(raw)
            except ValueError:
                continue  # an index mutated past what a record can hold: the size checks' case
            fitted += 1
            assert record.encode(back) == raw
    assert fitted > 1000  # most cases reach the rules, not the size checks


def test_cases_replay_from_seed_and_number():
    def draw(k):
        rng = random.Random(f"5:{k}")
        pair = fuzz_restore.empty_record()
        return [fuzz_restore.mutate_index(rng, pair, "slave") for _ in range(3)]
    assert draw(17) == draw(17) and draw(17) != draw(18)
