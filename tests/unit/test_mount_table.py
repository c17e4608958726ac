# SPDX-License-Identifier: GPL-2.0
"""pyctl.pty reads /proc/self/mountinfo again only when the mount table changed."""

import os
import subprocess
import sys
import textwrap

from pyctl import pty


def test_parse_devpts_lines():
    text = textwrap.dedent("""\
        22 1 0:5 / /dev rw - devtmpfs udev rw
        25 22 0:24 / /dev/pts rw,nosuid - devpts devpts rw,mode=600
        90 22 0:77 / /dev/my\\040pts rw - devpts devpts rw
    """)
    assert pty._parse_devpts(text) == [("0:24", "/dev/pts"), ("0:77", "/dev/my pts")]


def test_a_new_mount_is_seen_and_nothing_else_rereads():
    # in a private mount namespace (unshare -m), so that this machine's table stays as it is
    code = textwrap.dedent("""
        import os, subprocess
        from pyctl import pty
        table = pty._MOUNTS
        first = list(pty._devpts_mounts())
        reads = []
        real = table._reload
        table._reload = lambda key: (reads.append(key), real(key))
        pty._devpts_mounts(); pty._devpts_mounts()
        assert reads == [], reads
        os.makedirs("/tmp/ckpt-tty-mt", exist_ok=True)
        subprocess.run(["mount", "-t", "devpts", "-o", "newinstance", "devpts", "/tmp/ckpt-tty-mt"], check=True)
        after = pty._devpts_mounts()
        assert len(reads) == 1 and any(m == "/tmp/ckpt-tty-mt" for _, m in after), (reads, after)
        pty._devpts_mounts()
        assert len(reads) == 1
        print("ok", len(first), len(after))
    """)
    # Private from the mount holding /tmp down, not from "/": in a chroot
    # (scripts/fresh-machine.sh) "/" is no mount point and cannot be made private.
    private = 'mount --make-rprivate "$(findmnt -n -o TARGET -T /tmp)" && exec "$0" -c "$1"'
    r = subprocess.run(["unshare", "-m", "--propagation", "unchanged", "sh", "-c", private, sys.executable, code],
                       capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                           os.path.abspath(__file__)))))
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stdout + r.stderr


def test_threads_share_the_table():
    # the stress test's checkpointer threads raised "concurrent poll() invocation" before the lock
    import threading

    errors = []

    def ask():
        try:
            for _ in range(2000):
                assert isinstance(pty._devpts_mounts(), list)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
