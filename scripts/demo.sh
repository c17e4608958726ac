#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo: install what is needed, build ckpt_tty.ko, boot a QEMU test VM on
# Debian's 6.1 kernel and show the module at work there (scripts/demo-guest.sh).

set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$CKPT_TTY_ROOT"
exec "$CKPT_TTY_VENV/bin/python" -m tests.vm --kernel "${CKPT_TTY_KERNEL:-6.1}" --no-load -- scripts/demo-guest.sh
