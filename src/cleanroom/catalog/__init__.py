"""The catalog: organisations, users' organisations, datasets and their immutable versions,
projects, members and grants. Read ``docs/explanation/catalog.md``; write through
:class:`cleanroom.catalog.service.CatalogService` only."""
