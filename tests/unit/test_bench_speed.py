# SPDX-License-Identifier: GPL-2.0
"""The speed benchmark's report (tests/vm/bench_speed.py); the figures come from the VM."""

import xml.etree.ElementTree as ET

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
