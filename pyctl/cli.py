# SPDX-License-Identifier: GPL-2.0
"""Command line of pyctl: ``python -m pyctl <command> ...``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from .errors import PyctlError
from .info import DEVICE_PATH

__all__ = ["main"]

EXAMPLES = """\
examples:
  python -m pyctl load --ko ckpt_tty.ko         load the module (libkmod)
  python -m pyctl info                          ABI and kernel constants of the loaded module
  python -m pyctl info --ko ckpt_tty.ko         the same, read from a .ko without loading it
  python -m pyctl checkpoint -o tty.img         the terminal on pyctl's stdin, both ends
  python -m pyctl checkpoint --pid 1234 --fd 0 -o tty.img
                                                fd 0 of process 1234 (pidfd_getfd)
  python -m pyctl show tty.img                  what is in an image, for people (stty -a, lines)
  python -m pyctl info tty.img                  header, source kernel, constants, checksums
  python -m pyctl decode --pretty tty.img       the whole image as JSON (encode turns it back)
  python -m pyctl encode tty.json -o tty.img    JSON back to an image, byte for byte
  python -m pyctl diff a.img b.img              what differs, field by field (exit 1 if anything)
  python -m pyctl validate tty.img --running    would the loaded module restore it? (also --ko, --btf)
  python -m pyctl restore tty.img -- bash       a new pty in that state, at its original /dev/pts/N, bash on it
  python -m pyctl restore tty.img --onto /dev/pts/7
                                                apply it to a terminal a process already holds
  python -m pyctl restore --devpts /srv/ct/dev/pts --any-index tty.img --send-fds /run/emu.sock
                                                in a container's devpts, fds handed to another program
  python -m pyctl unload                        unload the module
"""


def _print_rows(rows: list[tuple[str, str]]) -> None:
    """Key: value lines, the values aligned."""
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 1}} {value}")


def _print_info(info, extra: list[tuple[str, str]], as_json: bool) -> None:
    if as_json:
        data = {
            "abi_version": info.abi_version,
            "features": info.feature_names,
            "kernel_release": info.kernel_release,
            "constants": info.constants(),
        }
        data.update({k: v for k, v in extra})
        json.dump(data, sys.stdout, indent=2)
        print()
        return
    _print_rows(extra + info.describe())


def cmd_info(args: argparse.Namespace) -> int:
    if args.image is not None:
        return _image_info(args)
    if args.ko:
        from .kofile import read_ko

        ko = read_ko(args.ko)
        extra = [("source", str(ko.path)), ("vermagic", ko.vermagic), ("srcversion", ko.modinfo.get("srcversion", ""))]
        _print_info(ko.info, extra, args.json)
    else:
        from .info import get_info

        _print_info(get_info(path=args.device), [("source", args.device)], args.json)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from . import kmod

    kmod.load(args.ko)
    print(f"loaded {args.ko}")
    return 0


def cmd_unload(args: argparse.Namespace) -> int:
    from . import kmod

    kmod.unload()
    print(f"unloaded {kmod.MODULE_NAME}")
    return 0


def _summary(image) -> str:
    p = image.pairs[0]
    s, m = p.slave, p.master
    from .image import canonical

    complete = max(s.line_ends) + 1 if s.line_ends else 0
    partial = len(s.input) - complete if canonical(s) else 0
    return (f"/dev/pts/{p.index}: {len(s.input) + len(s.flip)} bytes of unread input"
            f"{f' ({partial} in a half-typed line)' if partial else ''}, "
            f"{len(m.input) + len(m.flip)} bytes of output not yet shown")


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from .ckpt import checkpoint

    if args.pid is not None:
        from .proc import pidfd_getfd

        fd = pidfd_getfd(args.pid, 0 if args.fd is None else args.fd)
        try:
            image = checkpoint(fd)
        finally:
            os.close(fd)
    else:
        image = checkpoint(0 if args.fd is None else args.fd)
    data = image.dumps()
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(args.output, "wb") as f:
            f.write(data)
    print(f"pyctl: checkpointed {_summary(image)} -> {args.output}", file=sys.stderr)
    return 0


def _read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _read_image(path: str):
    from .image import ImageError, loads

    try:
        return loads(_read_bytes(path))
    except ImageError as e:
        raise ImageError(f"{path}: {e}") from None


def _write_bytes(path: str, data: bytes) -> None:
    if path == "-":
        if sys.stdout.isatty():
            raise PyctlError("not writing a binary image to a terminal: use -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(path, "wb") as f:
            f.write(data)


def _image_info(args: argparse.Namespace) -> int:
    from .imageinfo import describe_file

    rows, image = describe_file(_read_bytes(args.image))
    if args.json:
        json.dump(dict(rows), sys.stdout, indent=2)
        print()
    else:
        _print_rows(rows)
    return 0 if image is not None else 1


def cmd_decode(args: argparse.Namespace) -> int:
    from .imagejson import to_json

    text = json.dumps(to_json(_read_image(args.image), pretty=args.pretty), indent=2 if args.pretty else None)
    if args.output == "-":
        print(text)
    else:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from .image import ImageError
    from .imagejson import from_json

    raw = _read_bytes(args.json_file)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ImageError(f"{args.json_file}: not JSON: {e}") from None
    _write_bytes(args.output, from_json(doc).dumps())
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .imagediff import diff

    lines = diff(_read_image(args.a), _read_image(args.b))
    for line in lines:
        print(line)
    return 1 if lines else 0


def cmd_validate(args: argparse.Namespace) -> int:
    from . import compat

    image = _read_image(args.image)
    if args.ko:
        target = compat.target_from_ko(args.ko)
    elif args.btf:
        target = compat.target_from_btf(args.btf)
    else:
        target = compat.target_running(args.device)
    problems = compat.check(image, target)
    for note in compat.notes(image, target):
        print(f"note: {note}")
    if problems:
        print(f"{args.image}: {target.name} would refuse it:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(f"{args.image}: valid; {target.name} would restore it ({len(image.pairs)} pty pair(s))")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from . import show

    image = _read_image(args.image)
    if args.json:
        from .imagejson import to_json

        json.dump(to_json(image, pretty=True), sys.stdout, indent=2)
        print()
    else:
        for part in show.describe_parts(image):
            sys.stdout.write(part)
    return 0


CRIU_EXAMPLES = """examples:
  python -m pyctl criu dump -t 1234 -D /srv/dump -- --tcp-established
  python -m pyctl criu restore -D /srv/dump -- --restore-detached
The tree must be alone in its cgroup (v2): pyctl freezes it there before criu
drains its terminals, and criu dumps it still frozen (--freeze-cgroup).
"""


def cmd_criu(args: argparse.Namespace) -> int:
    from . import criu

    if args.criu_command == "hook":
        return criu.hook()
    if args.criu_command == "dump":
        return criu.dump(args.tree, args.images_dir, args.criu_args)
    return criu.restore(args.images_dir, args.criu_args)


RUNC_EXAMPLES = """examples:
  python -m pyctl runc checkpoint --image-path /srv/ct1 ct1 -- --work-path /srv/ct1-work
  python -m pyctl runc restore --image-path /srv/ct1 --console-socket /run/ct1.sock ct1
Only the container's console (\"terminal\": true): pyctl pauses the container,
saves the console, then runc checkpoints it; at restore pyctl takes the new
console from runc, puts the saved state back, then passes it to your socket.
"""


def cmd_runc(args: argparse.Namespace) -> int:
    import shlex

    from . import runc

    command = shlex.split(args.runc)
    if args.runc_command == "checkpoint":
        return runc.checkpoint(args.container, args.image_path, args.runc_args, runc=command)
    return runc.restore(args.container, args.image_path, args.console_socket, args.runc_args, runc=command)


def cmd_restore(args: argparse.Namespace) -> int:
    from .ckpt import restore
    from .proc import run_on_terminal, send_fds
    from .pty import ptmx_of

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.onto is not None:
        return _restore_onto(args, command)
    if args.force:
        raise PyctlError("--force goes with --onto")
    if bool(command) == bool(args.send_fds):
        raise PyctlError("restore needs either a command to run on the restored terminal (restore FILE -- CMD "
                         "[ARGS]) or --send-fds SOCKET to hand it to another program")
    image = _read_image(args.image)
    p = image.pairs[0]
    if command and p.either_has("other_closed"):
        raise PyctlError("one side of this terminal was closed at checkpoint time: "
                         "there is no terminal to run a command on (--send-fds passes the end left)")
    if command and p.either_has("hupped"):
        raise PyctlError("this terminal was hung up at checkpoint time: a command on it would read nothing "
                         "(--send-fds passes its ends, hung up as they were)")
    ptmx = ptmx_of(args.devpts) if args.devpts else args.ptmx
    index = "any" if args.any_index else "original" if args.index is None else args.index
    master, slave = restore(image, ptmx=ptmx, index=index)
    number = _restored_index(master, slave)
    print(f"pyctl: restored {_summary(image)} as /dev/pts/{number} of {args.devpts or ptmx}", file=sys.stderr)
    if args.send_fds:
        return send_fds(args.send_fds, master, slave, number)
    return run_on_terminal(master, slave, command)


def _restored_index(master: int | None, slave: int | None) -> int:
    """N of /dev/pts/N: TIOCGPTN on a live master, else the slave's device number
    (a hung-up master fails every ioctl; a closed one is None)."""
    from .pty import pty_index

    try:
        if master is not None:
            return pty_index(master)
    except OSError:
        pass
    return os.minor(os.fstat(slave).st_rdev)  # pts devices are (136, N): one region of 2^20 minors


def _restore_onto(args: argparse.Namespace, command: list[str]) -> int:
    from .ckpt import restore_onto

    if command or args.send_fds or args.index is not None or args.any_index or args.devpts:
        raise PyctlError("--onto applies the image to an existing terminal: no command, --send-fds, --index, "
                         "--any-index or --devpts with it")
    image = _read_image(args.image)
    if args.onto.isdigit():
        fd, name = int(args.onto), f"fd {args.onto}"
        restore_onto(image, fd, force=args.force)
    else:
        name = args.onto
        fd = os.open(args.onto, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            restore_onto(image, fd, force=args.force)
        finally:
            os.close(fd)
    print(f"pyctl: restored {_summary(image)} onto {name}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyctl",
        description="Checkpoint and restore live Linux terminals with ckpt_tty.ko.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="the module's ABI version and kernel constants, or an image's header")
    p.add_argument("image", nargs="?", metavar="FILE",
                   help="an image: its format version, source kernel, constants, pairs, sizes and checksums")
    p.add_argument("--ko", metavar="PATH", help="read them from this .ko instead of the loaded module")
    p.add_argument("--device", metavar="PATH", default=DEVICE_PATH, help="module device (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("load", help="load ckpt_tty.ko through libkmod")
    p.add_argument("--ko", metavar="PATH", default="ckpt_tty.ko", help="module file (default: %(default)s)")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("checkpoint", help="save both ends of a pty pair to an image")
    p.add_argument("--pid", type=int, help="take the fd from this process (pidfd_getfd) instead of pyctl's own")
    p.add_argument("--fd", type=int, help="the file descriptor of either end (default: 0, stdin)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="image file, - for stdout")
    p.set_defaults(func=cmd_checkpoint)

    p = sub.add_parser("restore", help="restore an image into a new pty pair and run a command on it")
    p.add_argument("image", metavar="FILE", help="image file, - for stdin")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--devpts", metavar="MOUNTPOINT",
                       help="allocate in the devpts instance mounted here (a container's /dev/pts)")
    where.add_argument("--ptmx", default="/dev/ptmx", help="ptmx of the devpts instance to use (default: %(default)s)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--index", type=int, metavar="N", help="recreate it as /dev/pts/N (default: its original N)")
    which.add_argument("--any-index", action="store_true", help="take the lowest free index, not the original one")
    p.add_argument("--onto", metavar="FD|PATH",
                   help="apply the image to this existing terminal (an fd pyctl inherited, or a path like "
                        "/dev/pts/3) instead of creating one")
    p.add_argument("--force", action="store_true",
                   help="with --onto: discard unread data the terminal holds instead of refusing")
    p.add_argument("--send-fds", metavar="SOCKET",
                   help="instead of running a command, pass master and slave over this Unix socket (SCM_RIGHTS)")
    p.add_argument("command", nargs="*", metavar="-- CMD [ARGS]",
                   help="run in a new session with the restored terminal as controlling tty")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("show", help="show an image: termios, modes, unread input by line, pending output")
    p.add_argument("image", metavar="FILE", help="image file, - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON (the same as decode --pretty)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("decode", help="an image as JSON, every field; encode turns it back into the same bytes")
    p.add_argument("image", metavar="FILE", help="image file, - for stdin")
    p.add_argument("--pretty", action="store_true",
                   help="indented, flags and c_cc by name, bytes as text (one character per byte), input by line")
    p.add_argument("-o", "--output", default="-", metavar="FILE", help="JSON file (default: stdout)")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("encode", help="JSON from decode (either spelling) back into an image")
    p.add_argument("json_file", metavar="JSON", help="JSON file, - for stdin")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="image file, - for stdout")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("diff", help="what differs between two images, field by field; exit 1 if anything")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("validate", help="check an image, and whether a target kernel/module would restore it")
    p.add_argument("image", metavar="FILE", help="image file, - for stdin")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--ko", metavar="PATH", help="against this ckpt_tty.ko (its embedded constants)")
    target.add_argument("--btf", metavar="PATH",
                        help="against a kernel's BTF (/sys/kernel/btf/vmlinux, a vmlinux, a vmlinuz)")
    target.add_argument("--running", action="store_true", help="against the loaded module (the default)")
    p.add_argument("--device", default=DEVICE_PATH, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("criu", help="criu dump/restore of a process tree with every terminal it holds",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CRIU_EXAMPLES)
    criu_sub = p.add_subparsers(dest="criu_command", required=True)
    d = criu_sub.add_parser("dump", help="freeze the tree's cgroup, save its terminals, then criu dump it")
    d.add_argument("-t", "--tree", type=int, required=True, metavar="PID", help="root of the process tree")
    d.add_argument("-D", "--images-dir", required=True, metavar="DIR")
    d.set_defaults(func=cmd_criu, criu_args=[])  # criu's own options go after --
    r = criu_sub.add_parser("restore", help="criu restore, then put every terminal's saved state back")
    r.add_argument("-D", "--images-dir", required=True, metavar="DIR")
    r.set_defaults(func=cmd_criu, criu_args=[])
    h = criu_sub.add_parser("hook", help="criu's action script (criu runs it; not for people)")
    h.set_defaults(func=cmd_criu)

    p = sub.add_parser("runc", help="runc checkpoint/restore of a container with what waits in its console",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RUNC_EXAMPLES)
    runc_sub = p.add_subparsers(dest="runc_command", required=True)
    c = runc_sub.add_parser("checkpoint", help="pause the container, save its console, then runc checkpoint it")
    r = runc_sub.add_parser("restore", help="runc restore --detach, the saved console put back before you get it")
    r.add_argument("--console-socket", required=True, metavar="PATH",
                   help="where the restored console's master goes (as with runc)")
    for q in (c, r):
        q.add_argument("--image-path", required=True, metavar="DIR", help="runc's --image-path")
        q.add_argument("--runc", default="runc", metavar="COMMAND",
                       help="how to run runc, with its global options (default: runc)")
        q.add_argument("container", metavar="ID")
        q.set_defaults(func=cmd_runc, runc_args=[])  # runc's own options go after --

    p = sub.add_parser("unload", help="unload ckpt_tty")
    p.set_defaults(func=cmd_unload)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Everything after "--" is restore's command, wherever the options stand (argparse alone
    # would take "restore FILE --force -- CMD" apart wrongly).
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    args = build_parser().parse_args(argv)
    if command:
        if args.func is cmd_criu and args.criu_command != "hook":
            args.criu_args = command  # criu's own options
        elif args.func is cmd_runc:
            args.runc_args = command  # runc checkpoint's or restore's own options
        elif args.func is not cmd_restore:
            print("pyctl: only restore (a command), criu dump/restore (criu's options) and runc checkpoint/restore "
                  "(runc's options) take more after --",
                  file=sys.stderr)
            return 2
        else:
            args.command = args.command + command
    trouble = 2 if args.func is cmd_diff else 1  # diff: 1 means "different", as diff(1)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return rc
    except PyctlError as e:
        print(f"pyctl: {e}", file=sys.stderr)
        return trouble
    except BrokenPipeError:
        # The reader went away (pyctl show | head): end quietly, as a program
        # that SIGPIPE killed would, without a second error flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"pyctl: {where}{e.strerror or e}", file=sys.stderr)
        return trouble
