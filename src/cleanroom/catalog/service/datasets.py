"""The catalog service's datasets and their versions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import convert, validate
from .. import models as m
from ..errors import AlreadyExists, InvalidValue, UnknownOrganisation, UnmappedContributors
from ..records import DatasetInfo, VersionInfo, version_label
from ..source import Progress, SourceSummary, inspect_source
from .base import ServiceBase


class DatasetsMixin(ServiceBase):
    """Datasets: check a source file, register it, add versions, list."""

    def _map_contributors(
        self,
        s: Session,
        summary: SourceSummary,
        mapping: Mapping[str, str],
        values_are_organisations: bool,
    ) -> dict[str, str]:
        """value -> organisation id for every contributor value in the source."""
        resolved: dict[str, str] = {}
        unmapped: list[str] = []
        for value in summary.contributor_rows:
            if value in mapping:
                resolved[value] = mapping[value]
            elif values_are_organisations:
                resolved[value] = value
            else:
                unmapped.append(value)
        if unmapped:
            raise UnmappedContributors(
                f"{len(unmapped)} contributor value(s) have no organisation: "
                f"{validate.sample(unmapped)}."
                " Map each to an organisation id (--map VALUE=ORG, or a mapping file), or add "
                "organisations with these ids and say the values are organisation ids",
                unmapped,
            )
        known = set(s.scalars(select(m.Organisation.id)))
        unknown = sorted({org for org in resolved.values() if org not in known})
        if unknown:
            raise UnknownOrganisation(
                f"the contributor values map to organisation(s) the catalog does not have: "
                f"{validate.sample(unknown)}. Add them first (cleanroom org add), or fix the "
                "mapping"
            )
        return resolved

    def _add_version_row(
        self,
        s: Session,
        dataset: m.Dataset,
        number: int,
        summary: SourceSummary,
        resolved: dict[str, str],
        actor: str,
    ) -> m.DatasetVersion:
        row = m.DatasetVersion(
            dataset=dataset,
            version=number,
            source_path=summary.path,
            format=summary.format,
            column_types=[[name, type_] for name, type_ in summary.schema.items()],
            row_count=summary.row_count,
            size_bytes=summary.size_bytes,
            content_sha256=summary.sha256,
            created_at=self._now(),
            created_by=actor,
        )
        s.add(row)
        for value, org in resolved.items():
            row.contributors.append(
                m.Contributor(
                    value=value, organisation_id=org, row_count=summary.contributor_rows[value]
                )
            )
        return row

    @staticmethod
    def _version_details(row: m.DatasetVersion, resolved: dict[str, str]) -> dict[str, Any]:
        return {
            "version": row.version,
            "source": row.source_path,
            "format": row.format,
            "sha256": row.content_sha256,
            "rows": row.row_count,
            "columns": len(row.column_types),
            "organisations": sorted(set(resolved.values())),
        }

    def check_source(
        self,
        source: str | Path,
        *,
        contributor_column: str,
        mapping: Mapping[str, str] | None = None,
        values_are_organisations: bool = False,
        format: str | None = None,
        progress: Progress | None = None,
    ) -> tuple[SourceSummary, dict[str, str]]:
        """The checks :meth:`register_dataset` makes of a file, without registering it (the
        admin pages' uploads run them before a file enters the import directory): the file
        reads as ``format``, has ``contributor_column``, and every contributor value maps to
        an organisation of the catalog. Returns the summary and value -> organisation id;
        raises what registering would raise, having written nothing."""
        if not isinstance(contributor_column, str) or not contributor_column:
            raise InvalidValue("name the contributor column (which company or plant a row is from)")
        mapping = validate.contributor_mapping(mapping)
        summary = inspect_source(
            source, contributor_column=contributor_column, format=format, progress=progress
        )
        with self._session() as s:
            resolved = self._map_contributors(s, summary, mapping, values_are_organisations)
        return summary, resolved

    def register_dataset(
        self,
        name: str,
        source: str | Path,
        *,
        contributor_column: str,
        actor: str,
        mapping: Mapping[str, str] | None = None,
        values_are_organisations: bool = False,
        format: str | None = None,
        description: str = "",
        progress: Progress | None = None,
    ) -> VersionInfo:
        """Register a new dataset and its version 1 from a Parquet or CSV file.

        The file is hashed and read once (``progress(fraction, message)`` is called as that
        goes). ``contributor_column`` must be one of its columns; every value in it must map
        to a known organisation through ``mapping`` (value -> organisation id) or, with
        ``values_are_organisations``, by being an organisation id itself."""
        name = validate.dataset_name(name)
        actor = validate.actor(actor)
        description = validate.text(description, "description", required=False)
        if not isinstance(contributor_column, str) or not contributor_column:
            raise InvalidValue("name the contributor column (which company or plant a row is from)")
        mapping = validate.contributor_mapping(mapping)
        with self._session() as s:
            if s.scalar(select(m.Dataset.id).where(m.Dataset.name == name)) is not None:
                raise AlreadyExists(
                    f"dataset {name!r} exists already: add a version to it (cleanroom dataset "
                    "version), or pick another name"
                )
        summary = inspect_source(
            source, contributor_column=contributor_column, format=format, progress=progress
        )
        with self._session() as s:
            if s.scalar(select(m.Dataset.id).where(m.Dataset.name == name)) is not None:
                raise AlreadyExists(f"dataset {name!r} was registered meanwhile: pick another name")
            resolved = self._map_contributors(s, summary, mapping, values_are_organisations)
            dataset = m.Dataset(
                name=name,
                contributor_column=contributor_column,
                description=description,
                created_at=self._now(),
                created_by=actor,
            )
            s.add(dataset)
            row = self._add_version_row(s, dataset, 1, summary, resolved, actor)
            self._commit(
                s,
                "catalog.dataset.register",
                actor,
                dataset=name,
                contributor_column=contributor_column,
                **self._version_details(row, resolved),
            )
            return convert.version_info(row, dataset)

    def add_version(
        self,
        dataset: str,
        source: str | Path,
        *,
        actor: str,
        mapping: Mapping[str, str] | None = None,
        values_are_organisations: bool = False,
        format: str | None = None,
        progress: Progress | None = None,
    ) -> VersionInfo:
        """Add the next version of ``dataset`` from a file. Contributor values keep the
        previous version's organisations unless ``mapping`` says otherwise; new values must
        be mapped. A file identical to the latest version is refused."""
        dataset = validate.dataset_name(dataset)
        actor = validate.actor(actor)
        mapping = validate.contributor_mapping(mapping)
        with self._session() as s:
            row = self._dataset(s, dataset)
            contributor_column = row.contributor_column
        summary = inspect_source(
            source, contributor_column=contributor_column, format=format, progress=progress
        )
        with self._session() as s:
            row = self._dataset(s, dataset)
            latest = row.versions[-1]
            if latest.content_sha256 == summary.sha256:
                raise AlreadyExists(
                    f"{summary.path} is identical to {dataset} {version_label(latest.version)} "
                    "(same SHA-256): there is nothing new to add"
                )
            inherited = {c.value: c.organisation_id for c in latest.contributors}
            resolved = self._map_contributors(
                s, summary, {**inherited, **mapping}, values_are_organisations
            )
            version = self._add_version_row(s, row, latest.version + 1, summary, resolved, actor)
            self._commit(
                s,
                "catalog.dataset.version",
                actor,
                dataset=dataset,
                **self._version_details(version, resolved),
            )
            return convert.version_info(version, row)

    def list_datasets(self) -> list[DatasetInfo]:
        with self._session() as s:
            rows = s.scalars(
                select(m.Dataset)
                .order_by(m.Dataset.name)
                .options(
                    selectinload(m.Dataset.versions).selectinload(m.DatasetVersion.contributors)
                )
            )
            return [convert.dataset_info(r) for r in rows]

    def get_dataset(self, name: str) -> DatasetInfo:
        with self._session() as s:
            return convert.dataset_info(self._dataset(s, name))

    def get_version(self, dataset: str, version: int | str | None = None) -> VersionInfo:
        """One version of a dataset (None: the latest)."""
        with self._session() as s:
            row = self._version(s, dataset, version)
            return convert.version_info(row, row.dataset)
