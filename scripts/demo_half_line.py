#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Demo, in the test VM: a half-typed line survives its program and terminal.

This script plays the terminal emulator (it holds the pty master); the
pyctl commands it runs are printed as a user would type them.
"""

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from pyctl.pty import open_pty  # noqa: E402

PROGRAM = "import sys; sys.stdout.write('name? '); sys.stdout.flush(); print('hello,', sys.stdin.readline().strip())"
BOLD, PLAIN = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")


def say(text):
    print(f"\n{BOLD}# {text}{PLAIN}", flush=True)


def run(args, **kw):
    print("$ " + shlex.join(["python", *args[1:]] if args[0] == sys.executable else args), flush=True)
    return subprocess.run(args, **kw)


def screen(master, wait=1.0):
    """What the terminal shows now."""
    time.sleep(wait)
    os.set_blocking(master, False)
    out = b""
    try:
        while True:
            out += os.read(master, 4096)
    except BlockingIOError:
        pass
    os.set_blocking(master, True)
    return out.decode(errors="replace")


def main():
    work = tempfile.mkdtemp(prefix="ckpt-tty-demo.")
    image = os.path.join(work, "tty.img")
    master, slave = open_pty()
    prog = subprocess.Popen([sys.executable, "-c", PROGRAM], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    say(f"a program (pid {prog.pid}) asks for a line; the terminal shows:")
    print(screen(master, 3.0))
    say("the user types 'Wor' and stops before Enter; the terminal shows:")
    os.write(master, b"Wor")
    print(screen(master))
    say("checkpoint the program's terminal (its fd 0) with both ends")
    run([sys.executable, "-m", "pyctl", "checkpoint", "--pid", str(prog.pid), "--fd", "0", "-o", image], check=True)
    say("what the image holds")
    run([sys.executable, "-m", "pyctl", "show", image], check=True)
    say("the program and its terminal go away (a reboot, a migration...)")
    prog.send_signal(signal.SIGKILL)
    prog.wait()
    os.close(master)
    say("restore the terminal, start the program again, and type the rest of the line: 'ld' Enter")
    r = run([sys.executable, "-m", "pyctl", "restore", image, "--", "python3", "-c", PROGRAM],
            input=b"ld\n", stdout=subprocess.PIPE)
    print(r.stdout.decode(errors="replace").replace("\r\n", "\n"))
    ok = r.returncode == 0 and b"hello, World" in r.stdout
    say("the line the user typed before the checkpoint reached the new program: 'World'" if ok
        else "FAILED: the restored program did not get the half-typed line")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
