"""The catalog's admin commands, over :class:`cleanroom.catalog.service.CatalogService`:

    cleanroom org add ID NAME [--kind depositor|other]      cleanroom org list
    cleanroom user set-org USER ORG                         cleanroom user list
    cleanroom dataset register NAME FILE --contributor-column COL [--map VALUE=ORG ...]
    cleanroom dataset version NAME FILE [--map VALUE=ORG ...]
    cleanroom dataset list [NAME]
    cleanroom project create NAME [--description TEXT]      cleanroom project list
    cleanroom member add PROJECT USER researcher|reviewer   cleanroom member remove PROJECT USER
    cleanroom member list [PROJECT]
    cleanroom grant create PROJECT DATASET --why TEXT [--version N] [--columns a,b]
                           [--row-filter EXPR] [--expires DATE]
    cleanroom grant revoke ID --why TEXT                    cleanroom grant extend ID DATE
    cleanroom grant list [PROJECT]

Every command takes --state-dir and --catalog-url (default: the deployment's settings), and
the changing ones --actor (default: the login name). A mistake is one line on stderr and exit
status 2; nothing is written then.
"""

from __future__ import annotations

import argparse
import csv
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from cleanroom.errors import CleanRoomError

EXIT_MISTAKE = 2


# ---------------------------------------------------------------------------------------------
# Parsers.


def add_parser(subparsers) -> None:
    _org(subparsers)
    _user(subparsers)
    _dataset(subparsers)
    _project(subparsers)
    _member(subparsers)
    _grant(subparsers)


def _group(subparsers, name: str, help_text: str):
    parser = subparsers.add_parser(name, help=help_text)
    return parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)


def _command(commands, name: str, func: Callable, help_text: str, *, writes: bool = False):
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.add_argument(
        "--state-dir",
        help="the deployment's state directory (default: $CLEANROOM_STATE_DIR or "
        "/var/lib/cleanroom); holds the audit log and, by default, the catalog",
    )
    parser.add_argument(
        "--catalog-url",
        help="the catalog database (default: $CLEANROOM_CATALOG_URL, else "
        "sqlite:///<state-dir>/catalog/catalog.sqlite)",
    )
    if writes:
        parser.add_argument(
            "--actor", help="who makes the change, for the audit log (default: your login name)"
        )
    parser.set_defaults(func=_reporting(func))
    return parser


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _org(subparsers) -> None:
    commands = _group(subparsers, "org", "organisations (depositors and others)")
    add = _command(commands, "add", org_add, "add an organisation", writes=True)
    add.add_argument("id", help="short id: lower-case letters, digits, '.', '_', '-'")
    add.add_argument("name", help="full name")
    add.add_argument("--kind", choices=("depositor", "other"), default="depositor")
    _json_flag(_command(commands, "list", org_list, "list the organisations"))


def _user(subparsers) -> None:
    commands = _group(subparsers, "user", "users' organisations")
    set_org = _command(
        commands, "set-org", user_set_org, "say which organisation a user belongs to", writes=True
    )
    set_org.add_argument("user", help="the JupyterHub user name")
    set_org.add_argument("organisation", help="the organisation's id")
    _json_flag(_command(commands, "list", user_list, "list users and their organisations"))


def _source_options(parser) -> None:
    parser.add_argument("file", help="the source file (.parquet or .csv), on this host")
    parser.add_argument("--format", choices=("parquet", "csv"), help="default: from the name")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="VALUE=ORG",
        help="map a contributor value to an organisation id (repeat for each value)",
    )
    parser.add_argument(
        "--mapping",
        metavar="FILE",
        help="contributor mapping: a CSV with columns value,organisation, or a JSON object",
    )
    parser.add_argument(
        "--values-are-orgs",
        action="store_true",
        help="contributor values that are not mapped are organisation ids themselves",
    )


def _dataset(subparsers) -> None:
    commands = _group(subparsers, "dataset", "datasets and their versions")
    register = _command(
        commands, "register", dataset_register, "register a dataset (version 1)", writes=True
    )
    register.add_argument("name", help="the dataset's name, e.g. wafer_lots (a view's name)")
    _source_options(register)
    register.add_argument(
        "--contributor-column",
        required=True,
        help="the column that says which company or plant each row came from",
    )
    register.add_argument("--description", default="")
    version = _command(
        commands, "version", dataset_version, "add a new version of a dataset", writes=True
    )
    version.add_argument("name", help="the dataset's name")
    _source_options(version)
    listing = _command(commands, "list", dataset_list, "list datasets and their versions")
    listing.add_argument("name", nargs="?", help="only this dataset, with its contributors")
    _json_flag(listing)


def _project(subparsers) -> None:
    commands = _group(subparsers, "project", "projects")
    create = _command(commands, "create", project_create, "create a project", writes=True)
    create.add_argument("name", help="lower-case letters, digits, '.', '_', '-'")
    create.add_argument("--description", default="")
    _json_flag(_command(commands, "list", project_list, "list the projects"))


def _member(subparsers) -> None:
    commands = _group(subparsers, "member", "project members and their roles")
    add = _command(commands, "add", member_add, "add a member to a project", writes=True)
    add.add_argument("project")
    add.add_argument("user")
    add.add_argument("role", choices=("researcher", "reviewer"))
    remove = _command(
        commands, "remove", member_remove, "remove a member from a project", writes=True
    )
    remove.add_argument("project")
    remove.add_argument("user")
    listing = _command(commands, "list", member_list, "list members")
    listing.add_argument("project", nargs="?", help="only this project's")
    _json_flag(listing)


def _grant(subparsers) -> None:
    commands = _group(subparsers, "grant", "grants of dataset versions to projects")
    create = _command(
        commands, "create", grant_create, "grant a project a dataset version", writes=True
    )
    create.add_argument("project")
    create.add_argument("dataset")
    create.add_argument("--version", help="the version (default: the latest)")
    create.add_argument("--columns", help="comma-separated columns to grant (default: all columns)")
    create.add_argument(
        "--row-filter", help='only rows matching this condition, e.g. "year >= 2023"'
    )
    create.add_argument(
        "--expires", help="when the grant ends: YYYY-MM-DD (midnight UTC) or an ISO date-time"
    )
    create.add_argument("--why", required=True, help="why the project gets this data")
    create.add_argument(
        "--no-materialise",
        action="store_true",
        help="record the grant without materialising its data now (status pending)",
    )
    revoke = _command(commands, "revoke", grant_revoke, "revoke a grant", writes=True)
    revoke.add_argument("grant", help="the grant's id")
    revoke.add_argument("--why", required=True, help="why it is revoked")
    extend = _command(commands, "extend", grant_extend, "move a grant's expiry later", writes=True)
    extend.add_argument("grant", help="the grant's id")
    extend.add_argument("expires", help="the new end: YYYY-MM-DD or an ISO date-time")
    extend.add_argument("--why", default="", help="why it is extended")
    listing = _command(commands, "list", grant_list, "list grants (revoked and expired too)")
    listing.add_argument("project", nargs="?", help="only this project's")
    _json_flag(listing)


# ---------------------------------------------------------------------------------------------
# Plumbing.


def _reporting(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Every CleanRoomError becomes one line on stderr and exit status 2."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except CleanRoomError as error:
            message = " ".join(str(error).split())
            print(f"cleanroom: {message}", file=sys.stderr)
            return EXIT_MISTAKE

    return run


def _state_dir(args: argparse.Namespace) -> str:
    if args.state_dir:
        return args.state_dir
    from cleanroom.settings import Settings

    return Settings.from_env().state_dir


def _catalog_url(args: argparse.Namespace, state_dir: str) -> str:
    if args.catalog_url:
        return args.catalog_url
    from cleanroom.catalog.db import default_url

    env_url = os.environ.get("CLEANROOM_CATALOG_URL", "")
    return env_url or default_url(state_dir)


def open_catalog(args: argparse.Namespace, **kwargs: Any):
    """The CatalogService the arguments name (tables created or migrated first)."""
    from cleanroom.audit import AuditLog
    from cleanroom.catalog.service import CatalogService

    state = _state_dir(args)
    return CatalogService.open(_catalog_url(args, state), AuditLog.from_state_dir(state), **kwargs)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return args.actor
    return os.environ.get("SUDO_USER") or getpass.getuser()


def parse_moment(text: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 date-time (UTC unless it says)."""
    from cleanroom.catalog.errors import InvalidValue

    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue(
            f"{text!r} is not a date: give YYYY-MM-DD or a date-time such as 2026-06-30T18:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_mapping(args: argparse.Namespace) -> dict[str, str]:
    """The contributor mapping from --mapping FILE and --map VALUE=ORG (the latter win)."""
    from cleanroom.catalog.errors import InvalidValue

    mapping: dict[str, str] = {}
    if args.mapping:
        path = Path(args.mapping)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidValue(f"cannot read the mapping file {path}: {error.strerror}") from None
        if path.suffix.lower() == ".json":
            try:
                loaded = json.loads(text)
            except ValueError as error:
                raise InvalidValue(f"the mapping file {path} is not valid JSON: {error}") from None
            if not isinstance(loaded, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
            ):
                raise InvalidValue(
                    f"the mapping file {path} must hold one JSON object of "
                    '"value": "organisation id" pairs'
                )
            mapping.update(loaded)
        else:
            rows = list(csv.reader(text.splitlines()))
            if rows and [c.strip().lower() for c in rows[0]] == ["value", "organisation"]:
                rows = rows[1:]
            for number, row in enumerate(rows, 1):
                if not row:
                    continue
                if len(row) != 2:
                    raise InvalidValue(
                        f"{path} row {number} has {len(row)} fields: each row is value,organisation"
                    )
                mapping[row[0]] = row[1].strip()
    for item in args.map:
        value, sep, org = item.partition("=")
        if not sep or not value or not org:
            raise InvalidValue(f"--map {item!r} is not VALUE=ORG (e.g. --map 'Fab 7'=acme)")
        mapping[value] = org
    return mapping


class ProgressPrinter:
    """Prints ``progress(fraction, message)`` to stderr: one updating line on a terminal,
    a line per 10% (and per new stage) otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last: tuple[str, int] | None = None

    def __call__(self, fraction: float, message: str) -> None:
        percent = max(0, min(100, int(fraction * 100)))
        step = percent if self.tty else percent // 10 * 10
        if self.last is not None and self.last == (message, step):
            return
        self.last = (message, step)
        if self.tty:
            self.stream.write(f"\r\033[K{percent:3d}% {message}")
            if percent >= 100:
                self.stream.write("\n")
        else:
            self.stream.write(f"{percent:3d}% {message}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.last and self.last[1] < 100:
            self.stream.write("\n")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _print_json(items: Iterable[Any]) -> None:
    print(json.dumps([_jsonable(i) for i in items], indent=2, ensure_ascii=False))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    text_rows = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]
    for row in [list(headers), *text_rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# ---------------------------------------------------------------------------------------------
# Commands.


def org_add(args: argparse.Namespace) -> int:
    org = open_catalog(args).add_organisation(args.id, args.name, args.kind, actor=_actor(args))
    print(f"added organisation {org.id} ({org.name}, {org.kind})")
    return 0


def org_list(args: argparse.Namespace) -> int:
    orgs = open_catalog(args).list_organisations()
    if args.json:
        _print_json(orgs)
    else:
        _table(("ID", "NAME", "KIND"), [(o.id, o.name, o.kind) for o in orgs])
    return 0


def user_set_org(args: argparse.Namespace) -> int:
    user = open_catalog(args).set_user_organisation(
        args.user, args.organisation, actor=_actor(args)
    )
    print(f"{user.name} belongs to {user.organisation}")
    return 0


def user_list(args: argparse.Namespace) -> int:
    users = open_catalog(args).list_users()
    if args.json:
        _print_json(users)
    else:
        _table(("USER", "ORGANISATION"), [(u.name, u.organisation) for u in users])
    return 0


def _print_version(version) -> None:
    print(
        f"{version.dataset} {version.label}: {version.row_count} rows, "
        f"{len(version.schema)} columns, {len(version.contributors)} contributor values from "
        f"{len(version.organisations)} organisations, sha256 {version.content_sha256}"
    )


def dataset_register(args: argparse.Namespace) -> int:
    mapping = read_mapping(args)
    catalog = open_catalog(args)
    progress = ProgressPrinter()
    try:
        version = catalog.register_dataset(
            args.name,
            args.file,
            contributor_column=args.contributor_column,
            mapping=mapping,
            values_are_organisations=args.values_are_orgs,
            format=args.format,
            description=args.description,
            actor=_actor(args),
            progress=progress,
        )
    finally:
        progress.done()
    _print_version(version)
    return 0


def dataset_version(args: argparse.Namespace) -> int:
    mapping = read_mapping(args)
    catalog = open_catalog(args)
    progress = ProgressPrinter()
    try:
        version = catalog.add_version(
            args.name,
            args.file,
            mapping=mapping,
            values_are_organisations=args.values_are_orgs,
            format=args.format,
            actor=_actor(args),
            progress=progress,
        )
    finally:
        progress.done()
    _print_version(version)
    return 0


def dataset_list(args: argparse.Namespace) -> int:
    catalog = open_catalog(args)
    datasets = [catalog.get_dataset(args.name)] if args.name else catalog.list_datasets()
    if args.json:
        _print_json(datasets)
        return 0
    rows = []
    for d in datasets:
        for v in d.versions:
            rows.append(
                (
                    d.name,
                    v.label,
                    v.format,
                    v.row_count,
                    len(v.schema),
                    d.contributor_column,
                    len(v.organisations),
                    v.content_sha256[:12],
                    _when(v.created_at),
                )
            )
    _table(
        (
            "DATASET",
            "VERSION",
            "FORMAT",
            "ROWS",
            "COLUMNS",
            "CONTRIBUTOR",
            "ORGS",
            "SHA256",
            "CREATED",
        ),
        rows,
    )
    if args.name:
        latest = datasets[0].latest
        print()
        print(
            f"columns of {latest.label}: " + ", ".join(f"{c} {t}" for c, t in latest.schema.items())
        )
        _table(
            ("CONTRIBUTOR", "ORGANISATION", "ROWS"),
            [
                (value, org, latest.contributor_rows[value])
                for value, org in latest.contributors.items()
            ],
        )
    return 0


def project_create(args: argparse.Namespace) -> int:
    project = open_catalog(args).create_project(
        args.name, description=args.description, actor=_actor(args)
    )
    print(f"created project {project.name}")
    return 0


def project_list(args: argparse.Namespace) -> int:
    projects = open_catalog(args).list_projects()
    if args.json:
        _print_json(projects)
    else:
        _table(("PROJECT", "DESCRIPTION"), [(p.name, p.description) for p in projects])
    return 0


def member_add(args: argparse.Namespace) -> int:
    member = open_catalog(args).add_member(args.project, args.user, args.role, actor=_actor(args))
    print(f"{member.user} ({member.organisation}) is a {member.role} of {member.project}")
    return 0


def member_remove(args: argparse.Namespace) -> int:
    open_catalog(args).remove_member(args.project, args.user, actor=_actor(args))
    print(f"removed {args.user} from {args.project}")
    return 0


def member_list(args: argparse.Namespace) -> int:
    members = open_catalog(args).list_members(args.project)
    if args.json:
        _print_json(members)
    else:
        _table(
            ("PROJECT", "USER", "ROLE", "ORGANISATION"),
            [(m.project, m.user, m.role, m.organisation) for m in members],
        )
    return 0


def _print_grant(g) -> None:
    columns = "all columns" if g.columns is None else "columns " + ", ".join(g.columns)
    rows = "all rows" if g.row_filter is None else f"rows where {g.row_filter}"
    expiry = f"until {_when(g.expires_at)}" if g.expires_at else "no expiry"
    print(
        f"grant {g.id}: {g.project} may use {g.dataset} {g.version_label}, {columns}, {rows}, "
        f"{expiry} ({g.state}; data {g.materialisation_status})"
    )


def materialiser_for(args: argparse.Namespace, progress: ProgressPrinter):
    """The grant command's materialiser: cleanroom.grants.materialise into <state-dir>/grants (where
    the spawner mounts from), or None with --no-materialise (the grant stays pending)."""
    if args.no_materialise:
        return None
    from cleanroom.catalog.data_plane import grant_materialiser, grants_dir

    return grant_materialiser(grants_dir(_state_dir(args)), progress)


def grant_create(args: argparse.Namespace) -> int:
    columns = None
    if args.columns is not None:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    expires_at = parse_moment(args.expires) if args.expires else None
    progress = ProgressPrinter()
    catalog = open_catalog(args, materialiser=materialiser_for(args, progress))
    try:
        grant = catalog.grant(
            args.project,
            args.dataset,
            version=args.version,
            columns=columns,
            row_filter=args.row_filter,
            expires_at=expires_at,
            reason=args.why,
            actor=_actor(args),
        )
    finally:
        progress.done()
    _print_grant(grant)
    return 0


def grant_revoke(args: argparse.Namespace) -> int:
    grant = open_catalog(args).revoke_grant(args.grant, reason=args.why, actor=_actor(args))
    _print_grant(grant)
    return 0


def grant_extend(args: argparse.Namespace) -> int:
    expires_at = parse_moment(args.expires)
    grant = open_catalog(args).extend_grant(
        args.grant, expires_at, reason=args.why, actor=_actor(args)
    )
    _print_grant(grant)
    return 0


def grant_list(args: argparse.Namespace) -> int:
    grants = open_catalog(args).list_grants(args.project)
    if args.json:
        _print_json(grants)
        return 0
    _table(
        (
            "ID",
            "PROJECT",
            "DATASET",
            "VERSION",
            "COLUMNS",
            "ROW FILTER",
            "EXPIRES",
            "STATE",
            "DATA",
            "GRANTED BY",
            "WHY",
        ),
        [
            (
                g.id,
                g.project,
                g.dataset,
                g.version_label,
                "all" if g.columns is None else ",".join(g.columns),
                g.row_filter or "-",
                _when(g.expires_at),
                g.state,
                g.materialisation_status,
                g.granted_by,
                g.reason,
            )
            for g in grants
        ],
    )
    return 0
