"""Whose data owners a request asks (``CatalogFacts.contributing_organisations``), over a real
catalog: the organisations of the grants ever mounted for the requester's servers in the
project, failing closed to the whole project's."""

from __future__ import annotations

import pytest

from cleanroom.airlock.facts import CatalogFacts
from cleanroom.catalog.records import Materialised

EVERYONE = ["acme", "bolt", "cora"]  # wafers v1's organisations


@pytest.fixture
def catalog(seeded):
    """``seeded``, with a materialiser that says which plants' rows each grant kept: those
    named in its row filter (``plant = '...'``), every plant without one."""

    def materialiser(spec):
        plants = ("acme-fab1", "acme-fab2", "bolt-main", "cora-east")
        kept = tuple(p for p in plants if spec.row_filter is None or f"'{p}'" in spec.row_filter)
        return Materialised("k" * 64, kept)

    seeded.materialiser = materialiser
    seeded.create_project("other", actor="adam")
    return seeded


def grant(catalog, row_filter=None, project="yield"):
    return catalog.grant(project, "wafers", row_filter=row_filter, reason="r", actor="adam")


def test_without_any_mount_recorded_every_organisation_of_the_project_counts(catalog):
    grant(catalog, "plant = 'bolt-main'")
    facts = CatalogFacts(catalog)
    assert facts.contributing_organisations("yield", "alice") == EVERYONE
    assert facts.contributing_organisations("yield") == EVERYONE  # no requester: the same


def test_only_the_organisations_of_the_mounted_grants_rows_count(catalog):
    bolt = grant(catalog, "plant = 'bolt-main'")
    assert bolt.organisations == ("bolt",)
    catalog.record_mount("yield", "alice", [bolt.id], actor="alice")
    facts = CatalogFacts(catalog)
    assert facts.contributing_organisations("yield", "alice") == ["bolt"]
    # another researcher of the project, with nothing recorded: the whole project's
    assert facts.contributing_organisations("yield", "bob") == EVERYONE


def test_every_grant_ever_mounted_counts_revoked_ones_too(catalog):
    bolt = grant(catalog, "plant = 'bolt-main'")
    catalog.record_mount("yield", "alice", [bolt.id], actor="alice")
    catalog.revoke_grant(bolt.id, reason="done", actor="adam")
    cora = grant(catalog, "plant = 'cora-east'")
    catalog.record_mount("yield", "alice", [cora.id], actor="alice")  # a later server
    assert CatalogFacts(catalog).contributing_organisations("yield", "alice") == ["bolt", "cora"]


def test_a_grant_whose_organisations_are_not_known_counts_all_of_its_versions(catalog):
    catalog.materialiser = lambda spec: "k" * 64  # a key only
    unknown = grant(catalog, "plant = 'bolt-main'")
    assert unknown.organisations is None
    catalog.record_mount("yield", "alice", [unknown.id], actor="alice")
    assert CatalogFacts(catalog).contributing_organisations("yield", "alice") == EVERYONE


def test_servers_with_no_data_never_make_the_set_empty(catalog):
    grant(catalog, "plant = 'bolt-main'")
    catalog.record_mount("yield", "alice", [], actor="alice")
    assert CatalogFacts(catalog).contributing_organisations("yield", "alice") == EVERYONE


def test_grants_of_another_project_are_not_counted(catalog):
    grant(catalog, "plant = 'bolt-main'")
    theirs = grant(catalog, "plant = 'cora-east'", project="other")
    catalog.record_mount("other", "alice", [theirs.id], actor="alice")
    facts = CatalogFacts(catalog)
    assert facts.contributing_organisations("other", "alice") == ["cora"]
    assert facts.contributing_organisations("yield", "alice") == EVERYONE


def test_an_unknown_project_has_no_organisations(catalog):
    assert CatalogFacts(catalog).contributing_organisations("nope", "alice") == []
