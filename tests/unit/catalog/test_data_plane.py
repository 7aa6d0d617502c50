"""The catalog with its default materialiser (cleanroom.grants.materialise behind
cleanroom.catalog.data_plane): a grant's data is built when the grant is made, the key is
stored, equal grants share it, and a source that changed since registration is refused with
nothing written."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from fixtures.catalog import PLANTS, nothing_written

from cleanroom.catalog.data_plane import (
    data_spec,
    finish_pending_airlock_copies,
    grant_materialiser,
    grants_dir,
)
from cleanroom.catalog.errors import MaterialisationFailed
from cleanroom.grants import materialise


def columns_and_rows(path):
    con = duckdb.connect()
    columns = [c[0] for c in con.execute(f"DESCRIBE FROM '{path}'").fetchall()]
    return columns, con.execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]


@pytest.fixture
def cache(tmp_path):
    return grants_dir(tmp_path / "state")


def test_a_grant_is_materialised_when_it_is_made(seeded, cache):
    progress = []
    seeded.materialiser = grant_materialiser(cache, lambda f, m: progress.append((f, m)))
    grant = seeded.grant(
        "yield",
        "wafers",
        columns=["lot", "yield_pct"],
        row_filter="plant = 'bolt-main'",
        reason="study",
        actor="adam",
    )
    assert grant.materialisation_status == "ready"
    key = grant.materialisation_key
    researcher = materialise.researcher_dir(cache, key) / materialise.DATA_FILE
    assert columns_and_rows(researcher) == (["lot", "yield_pct"], 50)
    airlock = materialise.airlock_copy(cache, key)  # the airlock's reader waits for it
    assert airlock == materialise.airlock_dir(cache, key) / materialise.DATA_FILE
    assert columns_and_rows(airlock) == (["lot", "yield_pct", "plant"], 50)
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert key == materialise.grant_cache_key(data_spec(seeded.grant_spec(grant.id)))


def test_equal_grants_share_one_materialisation(seeded, cache):
    seeded.materialiser = grant_materialiser(cache)
    first = seeded.grant("yield", "wafers", columns=["lot"], reason="a", actor="adam")
    seeded.create_project("other", actor="adam")
    second = seeded.grant("other", "wafers", columns=["lot"], reason="b", actor="adam")
    assert first.materialisation_key == second.materialisation_key
    assert len(list((cache / materialise.RESEARCHER).iterdir())) == 1


def test_a_source_changed_since_registration_is_refused(seeded, cache, sources, tmp_path):
    copy = tmp_path / "wafers_copy.parquet"
    shutil.copyfile(sources.wafers, copy)
    seeded.register_dataset(
        "wafers_copy", copy, contributor_column="plant", mapping=PLANTS, actor="adam"
    )
    shutil.copyfile(sources.wafers_v2, copy)  # someone overwrote the registered file
    seeded.materialiser = grant_materialiser(cache)
    with (
        nothing_written(seeded),
        pytest.raises(MaterialisationFailed, match="changed since it was registered"),
    ):
        seeded.grant("yield", "wafers_copy", reason="study", actor="adam")
    copy.unlink()
    with nothing_written(seeded), pytest.raises(MaterialisationFailed, match="is missing"):
        seeded.grant("yield", "wafers_copy", reason="study", actor="adam")
    assert not (cache / materialise.RESEARCHER).exists() or not any(
        (cache / materialise.RESEARCHER).iterdir()
    )


def test_an_airlock_copy_left_pending_is_finished_with_the_source_checked_again(
    seeded, cache, sources, tmp_path, monkeypatch
):
    copy = tmp_path / "wafers_copy.parquet"
    shutil.copyfile(sources.wafers, copy)
    seeded.register_dataset(
        "wafers_copy", copy, contributor_column="plant", mapping=PLANTS, actor="adam"
    )
    original = materialise._write_airlock_copy

    def dies(*_args, **_kwargs):
        raise OSError("the process ended (pretend)")

    monkeypatch.setattr(materialise, "_write_airlock_copy", dies)
    seeded.materialiser = grant_materialiser(cache)
    grant = seeded.grant("yield", "wafers_copy", columns=["lot"], reason="study", actor="adam")
    key = grant.materialisation_key
    assert grant.materialisation_status == "ready"  # the researcher's copy is in place
    with pytest.raises(materialise.AirlockCopyPending, match="nobody is writing it"):
        materialise.airlock_copy(cache, key)
    assert materialise.materialisation_state(cache, key) == "pending"
    monkeypatch.setattr(materialise, "_write_airlock_copy", original)
    finish = grant_materialiser(cache, airlock="wait")
    shutil.copyfile(sources.wafers_v2, copy)  # changed since registration: refused
    with pytest.raises(MaterialisationFailed, match="changed since it was registered"):
        finish(seeded.grant_spec(grant.id))
    assert materialise.materialisation_state(cache, key) == "pending"
    shutil.copyfile(sources.wafers, copy)
    assert finish(seeded.grant_spec(grant.id)).key == key
    columns, rows = columns_and_rows(materialise.airlock_copy(cache, key))
    assert (
        columns == ["lot", "plant"]
        and rows
        == columns_and_rows(materialise.researcher_dir(cache, key) / materialise.DATA_FILE)[1]
    )


def test_the_copies_left_pending_are_all_finished_at_once(seeded, cache, monkeypatch):
    original = materialise._write_airlock_copy

    def dies(*_args, **_kwargs):
        raise OSError("the process ended (pretend)")

    monkeypatch.setattr(materialise, "_write_airlock_copy", dies)
    seeded.materialiser = grant_materialiser(cache)
    grant = seeded.grant("yield", "wafers", columns=["lot"], reason="study", actor="adam")
    key = grant.materialisation_key
    assert materialise.materialisation_state(cache, key) == "pending"
    monkeypatch.setattr(materialise, "_write_airlock_copy", original)

    assert finish_pending_airlock_copies(seeded, cache) == [key]
    assert materialise.materialisation_state(cache, key) == "complete"
    assert finish_pending_airlock_copies(seeded, cache) == []  # nothing left to do
