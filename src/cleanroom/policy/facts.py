"""Facts: what Python knows about the people, projects, grants and requests a policy decides
on, typed. The builders in :mod:`cleanroom.policy.inputs` turn them into the input document."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cleanroom.scopes import GLOBAL_ROLES


@dataclass(frozen=True)
class UserFacts:
    """The person asking: JupyterHub name, organisation (None until the catalog knows it) and
    global roles (the JupyterHub groups among GLOBAL_ROLES)."""

    name: str
    organisation: str | None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectFacts:
    """A project, and the asking user's role in it (None: not a member)."""

    id: str
    role: str | None
    name: str | None = None


@dataclass(frozen=True)
class GrantFacts:
    """A grant of a dataset version to a project; the policy decides whether it applies."""

    id: str
    project: str
    dataset: str
    version: str
    expires_at: datetime | str | None = None
    revoked: bool = False
    columns: Sequence[str] | None = None
    row_filter: str | None = None


@dataclass(frozen=True)
class PersonFacts:
    """A person named in a request (the requester)."""

    name: str
    organisation: str | None


@dataclass(frozen=True)
class FileFacts:
    """One file of a release request."""

    path: str
    type: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CheckResult:
    """One automatic check's result, on a file (its path) or on the request (file None).

    status: pass | warn | fail | error | pending (see the schema's ``check_result``).
    """

    check: str
    file: str | None
    status: str
    message: str | None = None
    version: str | None = None
    findings: Sequence[Mapping[str, Any]] = ()
    metrics: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RequestFacts:
    """A release request, its files, their check results and the contributing organisations."""

    id: str
    project: str
    requester: PersonFacts
    files: Sequence[FileFacts]
    checks: Sequence[CheckResult]
    contributing_organisations: Sequence[str]
    state: str | None = None


def user_facts_from_groups(
    name: str, groups: Iterable[str], organisation: str | None = None
) -> UserFacts:
    """UserFacts from a JupyterHub user's group names (``[g.name for g in user.groups]``);
    groups that are not global roles are left out."""
    roles = tuple(sorted({g for g in groups if g in GLOBAL_ROLES}))
    return UserFacts(name=name, organisation=organisation, roles=roles)
