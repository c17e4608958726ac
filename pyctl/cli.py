# SPDX-License-Identifier: GPL-2.0
"""Command line of pyctl: ``python -m pyctl <command> ...``."""

from __future__ import annotations

import argparse
import json
import sys

from .errors import PyctlError
from .info import DEVICE_PATH

__all__ = ["main"]

EXAMPLES = """\
examples:
  python -m pyctl load --ko ckpt_tty.ko    load the module (libkmod)
  python -m pyctl info                     ABI and kernel constants of the loaded module
  python -m pyctl info --ko ckpt_tty.ko    the same, read from a .ko without loading it
  python -m pyctl info --json              machine-readable
  python -m pyctl unload                   unload the module
"""


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
    rows = extra + info.describe()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 1}} {value}")


def cmd_info(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyctl",
        description="Checkpoint and restore live Linux terminals with ckpt_tty.ko.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="show the module's ABI version and kernel constants")
    p.add_argument("--ko", metavar="PATH", help="read them from this .ko instead of the loaded module")
    p.add_argument("--device", metavar="PATH", default=DEVICE_PATH, help="module device (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("load", help="load ckpt_tty.ko through libkmod")
    p.add_argument("--ko", metavar="PATH", default="ckpt_tty.ko", help="module file (default: %(default)s)")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("unload", help="unload ckpt_tty")
    p.set_defaults(func=cmd_unload)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PyctlError as e:
        print(f"pyctl: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"pyctl: {e.strerror or e}", file=sys.stderr)
        return 1
