"""The catalog service's rows -> records: database rows (cleanroom.catalog.models) into the
frozen values it returns (cleanroom.catalog.records)."""

from __future__ import annotations

from datetime import datetime

from . import models as m
from .records import (
    DatasetInfo,
    GrantInfo,
    GrantSpec,
    MemberInfo,
    OrganisationInfo,
    ProjectInfo,
    UserInfo,
    VersionInfo,
    version_label,
)


def organisation_info(row: m.Organisation) -> OrganisationInfo:
    return OrganisationInfo(row.id, row.name, row.kind, row.created_at, row.created_by)


def user_info(row: m.User) -> UserInfo:
    return UserInfo(row.name, row.organisation_id, row.updated_at, row.updated_by)


def version_info(row: m.DatasetVersion, dataset: m.Dataset) -> VersionInfo:
    return VersionInfo(
        dataset=dataset.name,
        version=row.version,
        source_path=row.source_path,
        format=row.format,
        schema={name: type_ for name, type_ in row.column_types},
        row_count=row.row_count,
        size_bytes=row.size_bytes,
        content_sha256=row.content_sha256,
        contributor_column=dataset.contributor_column,
        contributors={c.value: c.organisation_id for c in row.contributors},
        contributor_rows={c.value: c.row_count for c in row.contributors},
        created_at=row.created_at,
        created_by=row.created_by,
    )


def dataset_info(row: m.Dataset) -> DatasetInfo:
    return DatasetInfo(
        name=row.name,
        contributor_column=row.contributor_column,
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
        versions=tuple(version_info(v, row) for v in row.versions),
    )


def project_info(row: m.Project, role: str | None = None) -> ProjectInfo:
    return ProjectInfo(row.name, row.description, row.created_at, row.created_by, role)


def member_info(row: m.Member, organisation: str) -> MemberInfo:
    return MemberInfo(
        row.project.name, row.user_name, row.role, organisation, row.added_at, row.added_by
    )


def is_expired(row: m.Grant, now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= now


def grant_info(row: m.Grant, now: datetime) -> GrantInfo:
    return GrantInfo(
        id=row.id,
        project=row.project.name,
        dataset=row.version.dataset.name,
        version=row.version.version,
        columns=tuple(row.columns) if row.columns is not None else None,
        row_filter=row.row_filter,
        expires_at=row.expires_at,
        granted_at=row.granted_at,
        granted_by=row.granted_by,
        reason=row.reason,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        revoke_reason=row.revoke_reason,
        materialisation_key=row.materialisation_key,
        materialisation_status=row.materialisation_status,
        materialisation_error=row.materialisation_error,
        expired=is_expired(row, now),
        organisations=tuple(row.organisations) if row.organisations is not None else None,
    )


def describe_grant(row: m.Grant) -> str:
    columns = "all columns" if row.columns is None else f"columns {', '.join(row.columns)}"
    rows = "all rows" if row.row_filter is None else f"rows where {row.row_filter}"
    return f"{row.version.dataset.name} {version_label(row.version.version)}, {columns}, {rows}"


def grant_spec(project: m.Project, version: m.DatasetVersion, columns, row_filter) -> GrantSpec:
    schema = {name: type_ for name, type_ in version.column_types}
    return GrantSpec(
        project=project.name,
        dataset=version.dataset.name,
        version=version.version,
        source_path=version.source_path,
        format=version.format,
        content_sha256=version.content_sha256,
        schema=schema,
        contributor_column=version.dataset.contributor_column,
        columns=tuple(columns) if columns is not None else tuple(schema),
        all_columns=columns is None,
        row_filter=row_filter,
    )
