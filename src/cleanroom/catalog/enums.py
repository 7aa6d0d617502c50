"""The catalog's vocabularies: what an organisation, a project member, a grant and a grant's
data can be. ``StrEnum``s, so stored and shown values stay plain strings."""

from __future__ import annotations

from enum import StrEnum


class OrganisationKind(StrEnum):
    DEPOSITOR = "depositor"  # deposits data: its rows are counted, it co-approves releases
    OTHER = "other"  # universities, the vault's operator: no data of their own here


class ProjectRole(StrEnum):
    RESEARCHER = "researcher"
    REVIEWER = "reviewer"


class MaterialisationState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class GrantState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
