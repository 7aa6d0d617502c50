"""``cleanroom audit``: verify the audit log, show its last records and its signed head."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from cleanroom.audit import AuditLog


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="the audit log")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    verify = commands.add_parser(
        "verify",
        help="check every record, the hash chain and the anchor",
        description="Exit 0 with a summary when the whole log checks out; exit 1 naming the "
        "first bad record otherwise.",
    )
    _paths(verify)
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(func=verify_command)

    tail = commands.add_parser("tail", help="print the last records")
    _paths(tail)
    tail.add_argument("-n", "--count", type=int, default=20, help="how many (default 20)")
    tail.set_defaults(func=tail_command)

    head = commands.add_parser(
        "head", help="print the signed head, to copy where the log's writers cannot write"
    )
    _paths(head)
    head.set_defaults(func=head_command)


def _paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        help="the deployment's state directory (default: $CLEANROOM_STATE_DIR or "
        "/var/lib/cleanroom); the files below default to its audit layout",
    )
    parser.add_argument("--db", help="the SQLite database (<state>/audit/audit.sqlite)")
    parser.add_argument("--anchor", help="the signed head file (<state>/audit-anchor/head.json)")
    parser.add_argument("--key", help="the key file (<state>/secrets/audit.key)")


def open_log(args: argparse.Namespace) -> AuditLog:
    if args.state_dir:
        state = args.state_dir
    else:
        from cleanroom.settings import Settings

        state = Settings.from_env().state_dir
    default = AuditLog.from_state_dir(state, create_key=False)
    return AuditLog(
        Path(args.db) if args.db else default.db_path,
        Path(args.anchor) if args.anchor else default.anchor_path,
        Path(args.key) if args.key else default.key_path,
        create_key=False,
    )


def verify_command(args: argparse.Namespace) -> int:
    audit = open_log(args)
    result = audit.verify()
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    elif result.ok:
        print(f"OK: {audit.db_path}: {result.reason}")
    else:
        where = f"record {result.first_bad_seq}" if result.first_bad_seq else "the log"
        print(f"FAILED at {where}: {result.reason} ({audit.db_path})", file=sys.stderr)
    return 0 if result.ok else 1


def tail_command(args: argparse.Namespace) -> int:
    for record in open_log(args).tail(args.count):
        print(json.dumps(asdict(record), ensure_ascii=False))
    return 0


def head_command(args: argparse.Namespace) -> int:
    head = open_log(args).head()
    if head is None:
        print("no anchor yet (empty log)", file=sys.stderr)
        return 1
    print(json.dumps(head, indent=2))
    return 0
