# SPDX-License-Identifier: GPL-2.0
"""scripts/fresh-machine.sh, the README and the exec-trace test agree on what a user installs first."""

import re

from tests import hostpkgs, kernels

SCRIPT = (kernels.ROOT / "scripts" / "fresh-machine.sh").read_text()
README = (kernels.ROOT / "README.md").read_text()


def test_prerequisites_agree():
    m = re.search(r"^PREREQUISITES=\(([^)]*)\)", SCRIPT, re.M)
    assert m, "fresh-machine.sh names its PREREQUISITES"
    assert tuple(m.group(1).split()) == hostpkgs.PREREQUISITES
    # the README says the same before its first command
    first = README.index("make demo")
    assert f"apt-get install {' '.join(hostpkgs.PREREQUISITES)}" in README[:first]


def test_fresh_root_is_the_default_variant():
    # minbase lacks Priority important packages that every installed Debian 12 has
    assert re.search(r"^\s*debootstrap --arch=amd64 \"\$SUITE\"", SCRIPT, re.M)
    assert "--variant" not in SCRIPT.split("set -euo pipefail", 1)[1]
