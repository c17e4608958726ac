# SPDX-License-Identifier: GPL-2.0
"""The speed benchmark's report (tests/vm/bench_speed.py); the figures come from the VM."""

import os
import xml.etree.ElementTree as ET

import pytest

from tests.vm import bench_speed


def test_plot_is_svg_with_our_series_and_the_anchors(tmp_path):
    single = {"floor": 34.0, "read-and-refill": 331.0, "openpty + close": 900.0}
    many = {1: (15000.0, 11000.0, 9000.0, 8000.0), 64: (16000.0, 12000.0, 900.0, 800.0),
            4096: (20000.0, 14000.0, 90.0, 80.0)}
    path = tmp_path / "speed.svg"
    bench_speed.svg_plot(str(path), many, single)
    root = ET.parse(path).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for name in ("pyctl.checkpoint", "pyctl.restore", "openpty + close", "4096"):
        assert any(name in (t or "") for t in texts), name
    lines = list(root.iter("{http://www.w3.org/2000/svg}polyline"))
    assert len(lines) == 4 and all(len(p.get("points").split()) == 3 for p in lines)


def test_goal_lines_say_met_missed_or_not_measured():
    assert bench_speed.goal("a / b", 1.5, "<= 2", True).endswith(" met")
    assert bench_speed.goal("a / b", 2.5, "<= 2", False).endswith("MISSED")
    assert "n/a" in bench_speed.goal("batch", None, "<= 0.5", None)


TOOL_OUTPUT = """Tracing the frozen window of ckpt_tty checkpoints and restores... Hit Ctrl-C to end.

checkpoint: 100 frozen windows, longest 40.2 usecs
restore (check): 0 frozen windows, longest 0.0 usecs
restore (install): 3 frozen windows, longest 9.1 usecs

Bucket ptr = checkpoint
     usecs               : count     distribution
         0 -> 1          : 0        |                                        |
         2 -> 3          : 60       |****************************************|
         4 -> 7          : 38       |*************************               |
         8 -> 15         : 1        |                                        |
        16 -> 31         : 0        |                                        |
        32 -> 63         : 1        |                                        |

Bucket ptr = restore (install)
     usecs               : count     distribution
         8 -> 15         : 3        |****************************************|
"""


def test_frozen_histograms_parse_and_p99_is_the_bucket_bound():
    hists = bench_speed.parse_histograms(TOOL_OUTPUT)
    assert set(hists) == {"checkpoint", "restore (install)"}
    assert sum(c for _, _, c in hists["checkpoint"]) == 100
    # 99 of 100 windows are below 16 us: the 99th percentile is in "8 -> 15"
    assert bench_speed.p99_bound(hists["checkpoint"]) == 16
    assert bench_speed.p99_bound(hists["restore (install)"]) == 16
    assert bench_speed.p99_bound([]) is None


def test_the_flood_runs_writer_and_reader_apart_and_reaps_them():
    # without checkpoints no module is needed: the host's own ptys carry the flood
    rate, made = bench_speed.flood(0.3, 0)
    assert rate > 0 and made == 0
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind


def test_the_flood_refuses_an_unknown_call():
    with pytest.raises(ValueError, match="checkpoint or tcgetattr"):
        bench_speed.flood(0.1, 100, "ioctl")


def test_the_flood_has_a_cpu_of_its_own_when_there_are_two(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 5, 7})
    assert bench_speed._flood_cpus() == ({3}, {5})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2})
    assert bench_speed._flood_cpus() == ({2}, {2})  # one vCPU: shared


def test_flip_work_is_pinned_and_put_back(tmp_path, monkeypatch):
    mask = tmp_path / "cpumask"
    mask.write_text("3\n")
    monkeypatch.setattr(bench_speed, "UNBOUND_CPUMASK", str(mask))
    old = bench_speed.pin_flip_work({0})
    assert old == "3" and mask.read_text() == "1"
    bench_speed.unpin_flip_work(old)
    assert mask.read_text() == "3"
    monkeypatch.setattr(bench_speed, "UNBOUND_CPUMASK", str(tmp_path / "absent"))
    assert bench_speed.pin_flip_work({0}) is None  # no such file (no permission alike): left as it is
    bench_speed.unpin_flip_work(None)
