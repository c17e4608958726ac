# SPDX-License-Identifier: GPL-2.0
"""Shared pytest setup.

CKPT_TTY_STRICT=1 (set by scripts/check.sh, so in CI) turns every skip into a
failure: a required test that cannot run is a failed test there.
"""

import os

import pytest

STRICT = os.environ.get("CKPT_TTY_STRICT") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CKPT_TTY_STRICT=1: {reason}"

# The checkout is read-only inside the test VM: keep Hypothesis's example
# database in memory instead of warning about .hypothesis/.
try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ckpt-tty", database=None)
    _hypothesis_settings.load_profile("ckpt-tty")
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
