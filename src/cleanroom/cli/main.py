"""The ``cleanroom`` command: operators' tools, one subcommand group per module.

    cleanroom audit verify          check the whole audit log; name the first bad record
    cleanroom audit tail|head       show the last records / the signed head
    cleanroom policy revision       the revision OPA runs (and/or of a policies directory)
    cleanroom policy decide AREA    ask OPA for a decision on an input document
    cleanroom policy serve          run OPA in the foreground on the policies directory

To add a group: write ``cleanroom/commands/<group>.py`` with ``add_parser(subparsers)`` that
adds its parser and sets ``func`` (a function of the parsed args returning the exit status) on
each subcommand, then list the module in ``GROUPS`` below.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cleanroom.errors import CleanRoomError

# Modules under cleanroom.cli, each with add_parser(subparsers).
GROUPS = ("audit", "policy", "catalog")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cleanroom", description="Clean-room analytics workbench: operators' tools."
    )
    subparsers = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name in GROUPS:
        importlib.import_module(f"cleanroom.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 2
    try:
        return int(func(args) or 0)
    except CleanRoomError as error:
        print(f"cleanroom: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
