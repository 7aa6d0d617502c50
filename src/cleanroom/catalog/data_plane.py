"""The materialiser the catalog uses by default:
:func:`cleanroom.grants.materialise.materialise_grant` behind the catalog's small interface
``materialiser(spec: GrantSpec) -> key`` (here a ``Materialised``: the key and the
contributor values of the granted rows, which the catalog maps to organisations).

    catalog = CatalogService(sessions, audit,
                             materialiser=grant_materialiser(grants_dir(state_dir), progress))

Before a grant's data is built, the source file is hashed again and compared with the
SHA-256 recorded when its version was registered: a source that changed since is refused
(the version would no longer be what was registered). A grant whose data is complete in the
cache is not checked again.

The grant counts as materialised (the materialiser returns its key, the catalog records it
``ready``) once the researcher's copy is complete, synced and in place; the airlock's copy is
finished after that by a thread of the same process (``airlock="background"``; a command-line
process waits for it before it exits), and the airlock reads it through
:func:`cleanroom.grants.cache.airlock_copy`, which waits until it is complete. A copy left
pending (the process ended before it was written) is finished, with the source checked again,
by ``grant_materialiser(cache_dir, airlock="wait")(catalog.grant_spec(grant_id))``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cleanroom.catalog.enums import MaterialisationState
from cleanroom.catalog.errors import MaterialisationFailed
from cleanroom.catalog.records import GrantSpec, Materialised
from cleanroom.catalog.service import Materialiser
from cleanroom.catalog.source import Progress, sha256_file

GRANTS_DIR = "grants"
"""Under the state directory: the materialised grants (cleanroom.grants.materialise's cache)."""


def grants_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / GRANTS_DIR


def data_spec(spec: GrantSpec):
    """The catalog's spec as cleanroom.grants.materialise's GrantSpec."""
    from cleanroom.grants import cache

    return cache.GrantSpec(
        dataset_version_id=f"{spec.dataset}/v{spec.version}",
        source_path=spec.source_path,
        source_format=spec.format,
        columns=None if spec.all_columns else spec.columns,
        row_filter=spec.row_filter,
        contributor_column=spec.contributor_column,
        source_sha256=spec.content_sha256,
    )


def _no_progress(_fraction: float, _message: str) -> None:
    pass


def grant_materialiser(
    cache_dir: str | os.PathLike[str],
    progress: Progress | None = None,
    *,
    airlock: str = "background",
) -> Materialiser:
    """A materialiser writing into ``cache_dir`` (the deployment's ``<state>/grants``);
    ``airlock`` as :func:`cleanroom.grants.materialise.materialise_grant` takes it."""
    report = progress or _no_progress

    def materialiser(spec: GrantSpec) -> Materialised:
        from cleanroom.grants import cache, materialise

        data = data_spec(spec)
        key = cache.grant_cache_key(data)
        cached = cache.materialisation_state(cache_dir, key) == cache.COMPLETE
        if not cached:
            source = Path(spec.source_path)
            if not source.is_file():
                raise MaterialisationFailed(
                    f"the source {source} of {spec.dataset} v{spec.version} is missing: "
                    "restore it, or register a new version"
                )
            if sha256_file(source, report, 0.3) != spec.content_sha256:
                raise MaterialisationFailed(
                    f"the source {source} of {spec.dataset} v{spec.version} changed since it "
                    "was registered (its SHA-256 differs): restore the registered file, or "
                    "register the new one as a new version"
                )

        def rest(fraction: float, message: str) -> None:
            report(0.3 + 0.7 * fraction if not cached else fraction, message)

        made = materialise.materialise_grant(data, cache_dir, rest, airlock=airlock)
        # The contributors of the granted rows: the catalog records their organisations.
        return Materialised(made.key, made.contributors)

    return materialiser


def finish_pending_airlock_copies(catalog, cache_dir: str | os.PathLike[str]) -> list[str]:
    """Finish every airlock copy left pending (the process writing it ended first), with the
    source checked again; return the keys finished. The admin pages' service runs this when it
    starts, as it is the process whose background copies a crash can cut short. A copy that
    still cannot be finished (its source is gone) stays pending and is logged by the caller."""
    from cleanroom.grants import cache

    finish = grant_materialiser(cache_dir, airlock="wait")
    finished: list[str] = []
    for grant in catalog.list_grants():
        key = grant.materialisation_key
        if not key or grant.materialisation_status != MaterialisationState.READY:
            continue
        if cache.materialisation_state(cache_dir, key) != cache.PENDING:
            continue
        finish(catalog.grant_spec(grant.id))
        finished.append(key)
    return finished
