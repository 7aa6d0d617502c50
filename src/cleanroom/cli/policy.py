"""``cleanroom policy``: the running policy's revision, ad-hoc decisions, running OPA."""

from __future__ import annotations

import argparse
import json
import os
import sys

from cleanroom.policy.opa import DEFAULT_ADDR, find_opa_binary, opa_command

AREAS = ("access", "release", "review")  # = cleanroom.policy.AREAS, imported lazily


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("policy", help="the policy server (OPA)")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    revision = commands.add_parser(
        "revision",
        help="print the revision of the policies OPA runs, and/or of a policies directory",
        description="With --dir and a reachable OPA, exit 1 when they differ (OPA does not "
        "run what is in the directory, e.g. a change that did not compile).",
    )
    revision.add_argument("--url", help="OPA's URL (default: the hub's setting)")
    revision.add_argument("--dir", help="a policies directory to compare with")
    revision.add_argument("--offline", action="store_true", help="only the directory's")
    revision.set_defaults(func=revision_command)

    decide = commands.add_parser(
        "decide",
        help="ask OPA for a decision on an input document (JSON file, or - for stdin)",
        description="Prints the decision; exit 0 when allowed, 1 when denied.",
    )
    decide.add_argument("area", choices=AREAS)
    decide.add_argument("input", help="the input document (policies/input.schema.json)")
    decide.add_argument("--url", help="OPA's URL (default: the hub's setting)")
    decide.set_defaults(func=decide_command)

    serve = commands.add_parser(
        "serve", help="run OPA in the foreground, watching the policies directory"
    )
    serve.add_argument("--dir", help="policies directory (default: the policies_dir setting)")
    serve.add_argument("--addr", default=DEFAULT_ADDR, help="loopback host:port")
    serve.set_defaults(func=serve_command)


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return args.url
    from cleanroom.settings import Settings

    return Settings.from_env().policy_url


def revision_command(args: argparse.Namespace) -> int:
    from cleanroom.policy import PolicyClient, revision_of_dir

    local = revision_of_dir(args.dir) if args.dir else None
    if local:
        print(f"{local}  {args.dir}")
    if args.offline:
        return 0 if local else 2
    url = _url(args)
    with PolicyClient(url) as client:
        try:
            running = client.fetch_revision()
        except Exception as error:  # noqa: BLE001 - report, do not trace
            print(f"cannot read the policies from OPA at {url}: {error}", file=sys.stderr)
            return 1
    print(f"{running}  {url}")
    if local and local != running:
        print("OPA does not run the policies in the directory", file=sys.stderr)
        return 1
    return 0


def decide_command(args: argparse.Namespace) -> int:
    from cleanroom.policy import PolicyClient

    if args.input == "-":
        document = json.load(sys.stdin)
    else:
        with open(args.input, encoding="utf-8") as f:
            document = json.load(f)
    with PolicyClient(_url(args)) as client:
        decision = client.decide(args.area, document)
    print(
        json.dumps(
            {
                "allowed": decision.allowed,
                "reasons": list(decision.reasons),
                "result": decision.result,
                "policy_revision": decision.policy_revision,
                "input_digest": decision.input_digest,
            },
            indent=2,
        )
    )
    return 0 if decision.allowed else 1


def serve_command(args: argparse.Namespace) -> int:
    from cleanroom.settings import Settings

    policies_dir = args.dir or Settings.from_env().policies_dir
    command = opa_command(find_opa_binary(), policies_dir, args.addr, log_level="info")
    os.execv(command[0], command)  # noqa: S606 - replaces this process with OPA
    return 0  # not reached
