"""The catalog's one write path, and the queries the spawner, the airlock and the admin pages
need: :class:`CatalogService`, one façade over a part per noun.

    sessions = cleanroom.catalog.db.session_factory(url)      # creates/migrates the tables
    catalog = CatalogService(sessions, AuditLog.from_state_dir(state_dir),
                             materialiser=None)  # or data_plane.grant_materialiser(...)

Every write method validates its arguments against the catalog and either commits its change
and appends one audit record (``catalog.*``), or raises a :class:`CatalogError` subclass
whose message says what to do, having written nothing to either. Each write is one database
transaction; the audit record is appended before the commit, so a change that is in the
catalog is in the audit log.

The parts: ``base`` (state, transactions, lookups), ``organisations``, ``datasets``,
``projects``, ``grants``, ``mounts`` and ``queries``; the argument checks are in
:mod:`cleanroom.catalog.validate`, rows -> records in :mod:`cleanroom.catalog.convert`.
"""

from __future__ import annotations

from ..validate import MAX_TEXT, MAX_UNMAPPED_SHOWN, parse_version
from .base import Materialiser
from .datasets import DatasetsMixin
from .grants import GrantsMixin
from .mounts import MountsMixin
from .organisations import OrganisationsMixin
from .projects import ProjectsMixin
from .queries import QueriesMixin

__all__ = [
    "MAX_TEXT",
    "MAX_UNMAPPED_SHOWN",
    "CatalogService",
    "Materialiser",
    "parse_version",
]


class CatalogService(
    OrganisationsMixin, DatasetsMixin, ProjectsMixin, GrantsMixin, MountsMixin, QueriesMixin
):
    """The catalog's service layer (see the module docstring).

    session_factory: a sessionmaker bound to an upgraded catalog (cleanroom.catalog.db).
    audit: the audit log every change is recorded in.
    materialiser: optional ``materialiser(spec: GrantSpec) -> key``, called when a grant is
        made, after every check and before anything is written; it builds (or finds cached)
        the grant's restricted data and returns its key (non-empty text, at most 255
        characters), stored on the grant with status ``ready``, or a ``Materialised`` (the key
        and the contributor values of the granted rows, stored as the grant's
        ``organisations``). If it raises, the grant is not
        made (MaterialisationFailed carries its message). Without one, grants are stored
        with status ``pending`` and no key (see :meth:`record_materialisation`).
    clock: returns the current time (timezone-aware); tests pass a fixed one.
    """
