"""Datasets: the list (versions, schema, rows, hash, contributors), registering one from a file
under the import directory, and adding a version. Both read and hash the file: a job."""

from __future__ import annotations

from typing import Any

from cleanroom.catalog.errors import CatalogError
from cleanroom.catalog.web.base import CatalogHandler, needs_admin
from cleanroom.catalog.web.forms import import_file, list_import_files, parse_mapping
from cleanroom.catalog.web.jobs import form_page, start_job
from cleanroom.errors import CleanRoomError


def _mapping_form(handler: CatalogHandler) -> dict[str, Any]:
    return {
        "file": handler.argument("file"),
        "mapping": handler.get_body_argument("mapping", "") or "",
        "values_are_orgs": bool(handler.get_body_argument("values_are_orgs", "")),
    }


def _describe(version) -> str:
    return (
        f"{version.dataset} {version.label}: {version.row_count} rows, {len(version.schema)} "
        f"columns, {len(version.contributors)} contributor values from "
        f"{len(version.organisations)} organisations, SHA-256 {version.content_sha256}"
    )


@form_page("register")
async def register_page(
    handler: CatalogHandler,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> None:
    import_dir = handler.settings["import_dir"]
    files = await handler.call(list_import_files, import_dir)
    organisations = await handler.call(handler.catalog.list_organisations)
    handler.page(
        "dataset_register.html",
        status=status,
        files=files,
        import_dir=import_dir,
        organisations=organisations,
        form=form or {},
        error=error,
    )


@form_page("version")
async def dataset_page(
    handler: CatalogHandler,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    name: str = "",
) -> None:
    name = name or (form or {}).get("dataset", "")
    dataset = await handler.call(handler.catalog.get_dataset, name)
    files = await handler.call(list_import_files, handler.settings["import_dir"])
    grants = [g for g in await handler.call(handler.catalog.list_grants) if g.dataset == name]
    handler.page(
        "dataset.html",
        status=status,
        dataset=dataset,
        versions=list(reversed(dataset.versions)),
        grants=grants,
        files=files,
        import_dir=handler.settings["import_dir"],
        form=form or {"dataset": name},
        error=error,
    )


class DatasetsHandler(CatalogHandler):
    @needs_admin
    async def get(self) -> None:
        datasets = await self.call(self.catalog.list_datasets)
        self.page("datasets.html", datasets=datasets, import_dir=self.settings["import_dir"])


class RegisterHandler(CatalogHandler):
    @needs_admin
    async def get(self) -> None:
        await register_page(self)

    @needs_admin
    async def post(self) -> None:
        form = {
            "name": self.argument("name"),
            "contributor_column": self.argument("contributor_column"),
            "description": self.argument("description"),
            **_mapping_form(self),
        }
        try:
            path = import_file(self.settings["import_dir"], form["file"])
            mapping = parse_mapping(form["mapping"])
        except CleanRoomError as error:
            await register_page(self, form=form, error=str(error), status=400)
            return
        catalog, actor, prefix = self.catalog, self.actor, self.prefix

        def work(progress):
            version = catalog.register_dataset(
                form["name"],
                path,
                contributor_column=form["contributor_column"],
                mapping=mapping,
                values_are_organisations=form["values_are_orgs"],
                description=form["description"],
                actor=actor,
                progress=progress,
            )
            return "Registered " + _describe(version), f"{prefix}datasets/{version.dataset}"

        await start_job(self, "register", f"Registering {form['name'] or 'a dataset'}", work, form)


class DatasetHandler(CatalogHandler):
    @needs_admin
    async def get(self, name: str) -> None:
        try:
            await dataset_page(self, name=name)
        except CatalogError as error:
            self.error_page(404, str(error))


class VersionHandler(CatalogHandler):
    @needs_admin
    async def post(self, name: str) -> None:
        form = {"dataset": name, **_mapping_form(self)}
        try:
            path = import_file(self.settings["import_dir"], form["file"])
            mapping = parse_mapping(form["mapping"])
        except CleanRoomError as error:
            await dataset_page(self, name=name, form=form, error=str(error), status=400)
            return
        catalog, actor, prefix = self.catalog, self.actor, self.prefix

        def work(progress):
            version = catalog.add_version(
                name,
                path,
                mapping=mapping,
                values_are_organisations=form["values_are_orgs"],
                actor=actor,
                progress=progress,
            )
            return "Added " + _describe(version), f"{prefix}datasets/{version.dataset}"

        await start_job(self, "version", f"Adding a version of {name}", work, form)


default_handlers = [
    (r"datasets", DatasetsHandler),
    # "-" is never in a dataset's name, so this page cannot hide a dataset's.
    (r"datasets/new-dataset", RegisterHandler),
    (r"datasets/([a-z][a-z0-9_]{0,62})", DatasetHandler),
    (r"datasets/([a-z][a-z0-9_]{0,62})/versions", VersionHandler),
]
