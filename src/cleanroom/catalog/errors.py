"""The catalog's errors: one class per kind of mistake, each message saying what to do.

Every :class:`CatalogError` raised by :class:`cleanroom.catalog.service.CatalogService` means
nothing was written (neither to the catalog nor to the audit log).
"""

from __future__ import annotations

from ..errors import CleanRoomError


class CatalogError(CleanRoomError):
    """A catalog operation was refused; nothing was written. The message says what to do."""


class InvalidValue(CatalogError):
    """An argument is malformed (a name, a role, a date, an empty reason, ...)."""


class NotFound(CatalogError):
    """Something named does not exist."""


class UnknownOrganisation(NotFound):
    pass


class UnknownUser(NotFound):
    pass


class UnknownDataset(NotFound):
    pass


class UnknownVersion(NotFound):
    pass


class UnknownProject(NotFound):
    pass


class UnknownGrant(NotFound):
    pass


class NotAMember(NotFound):
    pass


class AlreadyExists(CatalogError):
    """Something with that name (or that membership, or an equivalent grant) exists."""


class SourceError(CatalogError):
    """A dataset's source file cannot be read: missing, malformed CSV, not Parquet, ..."""


class UnknownColumn(CatalogError):
    """A column that the dataset version does not have."""


class UnmappedContributors(CatalogError):
    """Contributor values with no organisation to map them to."""

    def __init__(self, message: str, values: list[str]):
        super().__init__(message)
        self.values = values


class InvalidRowFilter(CatalogError):
    """A row filter that the checker (cleanroom.grants.rowfilter) refused."""


class GrantStateError(CatalogError):
    """The grant is not in a state that allows this (revoked twice, extend a revoked grant)."""


class MaterialisationFailed(CatalogError):
    """The grant's data could not be materialised, so the grant was not made."""


class CatalogUnavailable(CatalogError):
    """The catalog database cannot be reached or upgraded."""
