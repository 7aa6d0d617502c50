"""CatalogService on SQLite: every method, every mistake. Each refused call is checked for
its message and for having written nothing to the catalog or the audit log.

Every test runs on SQLite and again on PostgreSQL (its ``[postgresql]`` case, marked
``postgres``: the server of scripts/start-postgres.sh), so nothing here may assume SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fixtures.catalog import (
    NOW,
    ON_SQLITE_AND_POSTGRESQL,
    PLANTS,
    WAFER_COLUMNS,
    Clock,
    nothing_written,
    sha256_of,
)

from cleanroom.audit import AuditError
from cleanroom.catalog.errors import (
    AlreadyExists,
    CatalogError,
    GrantStateError,
    InvalidRowFilter,
    InvalidValue,
    MaterialisationFailed,
    NotAMember,
    SourceError,
    UnknownColumn,
    UnknownDataset,
    UnknownGrant,
    UnknownOrganisation,
    UnknownProject,
    UnknownUser,
    UnknownVersion,
    UnmappedContributors,
)
from cleanroom.catalog.records import GrantSpec
from cleanroom.catalog.service import CatalogService
from cleanroom.policy import (
    GrantFacts,
    InputValidator,
    access_input,
    load_schema,
    user_facts_from_groups,
)

pytestmark = ON_SQLITE_AND_POSTGRESQL

LATER = NOW + timedelta(days=30)


def last_record(catalog: CatalogService):
    return catalog.audit.records()[-1]


# ---------------------------------------------------------------------------------------------
# Organisations and users.


def test_add_organisation_is_listed_and_audited(catalog):
    org = catalog.add_organisation("acme", "Acme Semiconductor", "depositor", actor="adam")
    assert (org.id, org.name, org.kind, org.created_by) == (
        "acme",
        "Acme Semiconductor",
        "depositor",
        "adam",
    )
    assert org.created_at == NOW
    assert catalog.list_organisations() == [org]
    record = last_record(catalog)
    assert (record.event, record.actor) == ("catalog.organisation.add", "adam")
    assert record.details == {
        "organisation": "acme",
        "name": "Acme Semiconductor",
        "kind": "depositor",
    }


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("acme", "Another name"), AlreadyExists, "organisation 'acme' exists already"),
        (("acme2", "Acme Semiconductor"), AlreadyExists, "already named 'Acme Semiconductor'"),
        (("Acme Fab", "Acme"), InvalidValue, "not a valid organisation id"),
        (("", "Acme"), InvalidValue, "not a valid organisation id"),
        (("zeta", "  "), InvalidValue, "give the organisation's name"),
        (("zeta", "Zeta", "company"), InvalidValue, "'company' is not a kind of organisation"),
    ],
)
def test_add_organisation_refuses(catalog, args, error, message):
    catalog.add_organisation("acme", "Acme Semiconductor", actor="adam")
    with nothing_written(catalog), pytest.raises(error, match=message):
        catalog.add_organisation(*args, actor="adam")


def test_every_change_needs_an_actor(catalog):
    with nothing_written(catalog), pytest.raises(InvalidValue, match="who makes it"):
        catalog.add_organisation("acme", "Acme", actor=" ")


def test_set_user_organisation_adds_then_moves_a_user(catalog):
    catalog.add_organisation("acme", "Acme", actor="adam")
    catalog.add_organisation("uni", "Uni", "other", actor="adam")
    assert catalog.user_organisation("alice") is None
    user = catalog.set_user_organisation("alice", "acme", actor="adam")
    assert (user.name, user.organisation) == ("alice", "acme")
    assert last_record(catalog).details == {
        "user": "alice",
        "organisation": "acme",
        "previous": None,
    }
    catalog.set_user_organisation("alice", "uni", actor="adam")
    assert catalog.user_organisation("alice") == "uni"
    assert last_record(catalog).details["previous"] == "acme"
    assert [u.name for u in catalog.list_users()] == ["alice"]


@pytest.mark.parametrize(
    ("user", "org", "error", "message"),
    [
        ("alice", "nowhere", UnknownOrganisation, "no organisation 'nowhere': add it first"),
        ("alice", "acme", AlreadyExists, "alice already belongs to acme"),
        ("al ice", "acme", InvalidValue, "not a valid user name"),
        ("alice", "ACME", InvalidValue, "not a valid organisation id"),
    ],
)
def test_set_user_organisation_refuses(catalog, user, org, error, message):
    catalog.add_organisation("acme", "Acme", actor="adam")
    catalog.set_user_organisation("alice", "acme", actor="adam")
    with nothing_written(catalog), pytest.raises(error, match=message):
        catalog.set_user_organisation(user, org, actor="adam")


# ---------------------------------------------------------------------------------------------
# Datasets.


def test_register_parquet_reads_schema_rows_hash_and_contributors(seeded, sources):
    progress = []
    seeded.add_organisation("dora", "Dora", actor="adam")
    version = seeded.register_dataset(
        "wafers_copy",
        sources.wafers,
        contributor_column="plant",
        mapping=PLANTS,
        actor="adam",
        progress=lambda fraction, message: progress.append((fraction, message)),
    )
    assert version.version == 1 and version.label == "v1"
    assert version.format == "parquet"
    assert list(version.schema) == WAFER_COLUMNS
    assert version.schema["lot"] == "BIGINT" and version.schema["plant"] == "VARCHAR"
    assert version.row_count == 200
    assert version.content_sha256 == sha256_of(sources.wafers)
    assert version.size_bytes == sources.wafers.stat().st_size
    assert version.contributors == PLANTS
    assert version.contributor_rows == {p: 50 for p in PLANTS}
    assert version.organisations == ("acme", "bolt", "cora")
    assert version.source_path == str(sources.wafers)
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("hashing" in m for _, m in progress)
    record = last_record(seeded)
    assert record.event == "catalog.dataset.register"
    assert record.details["sha256"] == version.content_sha256
    assert record.details["organisations"] == ["acme", "bolt", "cora"]
    assert seeded.get_version("wafers_copy") == version


def test_register_csv_with_values_that_are_organisation_ids(seeded, sources):
    version = seeded.register_dataset(
        "welds",
        sources.welds,
        contributor_column="yard",
        values_are_organisations=True,
        actor="adam",
    )
    assert version.format == "csv"
    assert version.row_count == 30
    assert list(version.schema) == ["yard", "seam", "defects", "inspector"]
    assert version.schema["defects"] == "BIGINT"
    assert version.contributors == {"acme": "acme", "bolt": "bolt", "cora": "cora"}
    dataset = seeded.get_dataset("welds")
    assert dataset.contributor_column == "yard" and dataset.latest == version
    assert [d.name for d in seeded.list_datasets()] == ["wafers", "welds"]


MALFORMED_CSV = [
    ("short_row", "yard,seam\nacme,S1\nbolt\n", "line 3 has 1 fields where the header has 2"),
    ("long_row", "yard,seam\nacme,S1\nbolt,S2,extra,more\n", "line 3 has 4 fields"),
    ("open_quote", 'yard,seam\nacme,"S1\nbolt,S2\n', "not a valid CSV file"),
    ("not_utf8", b"yard,seam\nacme,S\xff\xfe1\n", "not UTF-8"),
    ("empty", "", "is empty"),
    ("header_only", "yard,seam\n", "has no rows"),
    ("duplicate_header", "yard,Yard\nacme,x\n", "names 'yard' more than once"),
    ("unnamed_column", "yard,,seam\nacme,1,2\n", "column 2 of the header has no name"),
    ("semicolons", "yard;seam\nacme;S1\n", "comma-separated"),
    ("null_contributor", "yard,seam\nacme,S1\n,S2\n", "have no value in the contributor column"),
]


@pytest.mark.parametrize(
    ("content", "message"), [c[1:] for c in MALFORMED_CSV], ids=[c[0] for c in MALFORMED_CSV]
)
def test_register_refuses_a_malformed_csv(seeded, sources, content, message):
    path = sources.write("bad.csv", content)
    with nothing_written(seeded), pytest.raises(CatalogError, match=message) as caught:
        seeded.register_dataset(
            "welds", path, contributor_column="yard", values_are_organisations=True, actor="adam"
        )
    assert isinstance(caught.value, SourceError | UnknownColumn)
    assert str(path) in str(caught.value)


def test_register_refuses_a_file_that_is_not_parquet(seeded, sources):
    path = sources.write("broken.parquet", b"PAR1 this is not really parquet")
    with nothing_written(seeded), pytest.raises(SourceError, match="cannot read .* as Parquet"):
        seeded.register_dataset("broken", path, contributor_column="plant", actor="adam")


@pytest.mark.parametrize(
    ("source", "kwargs", "error", "message"),
    [
        ("missing.parquet", {}, SourceError, "does not exist: check the path"),
        (".", {}, SourceError, "is not a regular file"),
        ("http://example.org/x.parquet", {}, SourceError, "is a URL"),
        ("wafers.txt", {}, InvalidValue, "cannot tell the format"),
        ("wafers.parquet", {"format": "xlsx"}, InvalidValue, "format 'xlsx' is not supported"),
    ],
)
def test_register_refuses_a_bad_source(seeded, sources, source, kwargs, error, message):
    if source == "wafers.txt":
        source = sources.write("wafers.txt", sources.wafers.read_bytes())
    elif source == "wafers.parquet":
        source = sources.wafers
    elif "://" not in source:
        source = sources.dir / source
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.register_dataset(
            "other", source, contributor_column="plant", mapping=PLANTS, actor="adam", **kwargs
        )


def test_register_refuses_a_missing_contributor_column(seeded, sources):
    with nothing_written(seeded), pytest.raises(UnknownColumn) as caught:
        seeded.register_dataset(
            "other", sources.wafers, contributor_column="company", mapping=PLANTS, actor="adam"
        )
    assert "no column 'company' for the contributor column" in str(caught.value)
    assert "its columns are: lot, plant, year, yield_pct, recipe_secret" in str(caught.value)


def test_register_lists_unmapped_contributor_values(seeded, sources):
    partial = {"acme-fab1": "acme", "acme-fab2": "acme"}
    with nothing_written(seeded), pytest.raises(UnmappedContributors) as caught:
        seeded.register_dataset(
            "other", sources.wafers, contributor_column="plant", mapping=partial, actor="adam"
        )
    assert caught.value.values == ["bolt-main", "cora-east"]
    assert "2 contributor value(s) have no organisation: 'bolt-main', 'cora-east'" in str(
        caught.value
    )


def test_register_refuses_a_mapping_to_unknown_organisations(seeded, sources):
    mapping = {**PLANTS, "bolt-main": "boltt", "cora-east": "corra"}
    with nothing_written(seeded), pytest.raises(UnknownOrganisation, match="'boltt', 'corra'"):
        seeded.register_dataset(
            "other", sources.wafers, contributor_column="plant", mapping=mapping, actor="adam"
        )


def test_register_refuses_values_that_are_not_organisations(seeded, sources):
    with nothing_written(seeded), pytest.raises(UnknownOrganisation, match="acme-fab1"):
        seeded.register_dataset(
            "other",
            sources.wafers,
            contributor_column="plant",
            values_are_organisations=True,
            actor="adam",
        )


def test_register_refuses_a_taken_name_before_reading_the_file(seeded, sources):
    calls = []
    with nothing_written(seeded), pytest.raises(AlreadyExists, match="dataset 'wafers' exists"):
        seeded.register_dataset(
            "wafers",
            sources.wafers,
            contributor_column="plant",
            mapping=PLANTS,
            actor="adam",
            progress=lambda *a: calls.append(a),
        )
    assert calls == []


@pytest.mark.parametrize("name", ["Wafers", "wafer-lots", "1wafers", "", "x" * 64])
def test_register_refuses_a_name_that_is_not_an_identifier(seeded, sources, name):
    with nothing_written(seeded), pytest.raises(InvalidValue, match="not a valid dataset name"):
        seeded.register_dataset(
            name, sources.wafers, contributor_column="plant", mapping=PLANTS, actor="adam"
        )


def test_add_version_keeps_mappings_and_adds_new_ones(seeded, sources):
    seeded.add_organisation("dora", "Dora Motors", actor="adam")
    v1 = seeded.get_version("wafers", 1)
    v2 = seeded.add_version(
        "wafers", sources.wafers_v2, mapping={"dora-west": "dora"}, actor="adam"
    )
    assert v2.version == 2 and v2.row_count == 50
    assert v2.contributors == {**PLANTS, "dora-west": "dora"}
    assert v2.content_sha256 == sha256_of(sources.wafers_v2)
    assert seeded.get_version("wafers", "v1") == v1  # versions never change
    assert seeded.get_version("wafers") == v2
    assert [v.version for v in seeded.get_dataset("wafers").versions] == [1, 2]
    record = last_record(seeded)
    assert record.event == "catalog.dataset.version"
    assert record.details["version"] == 2 and "dora" in record.details["organisations"]


def test_add_version_refuses_a_new_unmapped_value(seeded, sources):
    with nothing_written(seeded), pytest.raises(UnmappedContributors, match="'dora-west'"):
        seeded.add_version("wafers", sources.wafers_v2, actor="adam")


def test_add_version_refuses_the_same_file_again(seeded, sources):
    with nothing_written(seeded), pytest.raises(AlreadyExists, match="identical to wafers v1"):
        seeded.add_version("wafers", sources.wafers, actor="adam")


def test_add_version_refuses_an_unknown_dataset(seeded, sources):
    with nothing_written(seeded), pytest.raises(UnknownDataset, match="no dataset 'wafer'"):
        seeded.add_version("wafer", sources.wafers, actor="adam")


def test_add_version_refuses_a_file_without_the_contributor_column(seeded, sources):
    with nothing_written(seeded), pytest.raises(UnknownColumn, match="'plant'"):
        seeded.add_version("wafers", sources.wafers_noplant, actor="adam")


@pytest.mark.parametrize(
    ("version", "error", "message"),
    [
        (3, UnknownVersion, "has no version v3; it has v1"),
        ("latest", InvalidValue, "not a version"),
        (0, InvalidValue, "not a version"),
    ],
)
def test_get_version_refuses_unknown_versions(seeded, version, error, message):
    with pytest.raises(error, match=message):
        seeded.get_version("wafers", version)


# ---------------------------------------------------------------------------------------------
# Projects and members.


def test_create_project_and_list(catalog):
    project = catalog.create_project("yield", description="Yield drivers", actor="adam")
    assert (project.name, project.description, project.role) == ("yield", "Yield drivers", None)
    assert catalog.list_projects() == [project]
    assert last_record(catalog).details == {"project": "yield"}


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("yield", AlreadyExists, "project 'yield' exists already"),
        ("Yield Drivers", InvalidValue, "not a valid project name"),
    ],
)
def test_create_project_refuses(seeded, name, error, message):
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.create_project(name, actor="adam")


def test_members_are_listed_with_role_and_organisation(seeded):
    seeded.create_project("welding", actor="adam")
    member = seeded.add_member("welding", "bob", "researcher", actor="adam")
    assert (member.project, member.user, member.role, member.organisation) == (
        "welding",
        "bob",
        "researcher",
        "uni",
    )
    assert last_record(seeded).details == {
        "project": "welding",
        "user": "bob",
        "role": "researcher",
    }
    everyone = [(m.project, m.user, m.role) for m in seeded.list_members()]
    assert everyone == [
        ("welding", "bob", "researcher"),
        ("yield", "alice", "researcher"),
        ("yield", "rita", "reviewer"),
    ]
    assert [m.user for m in seeded.list_members("yield")] == ["alice", "rita"]


@pytest.mark.parametrize(
    ("project", "user", "role", "error", "message"),
    [
        ("yield", "carol", "researcher", UnknownUser, "set their organisation first"),
        ("nope", "bob", "researcher", UnknownProject, "no project 'nope': create it first"),
        ("yield", "bob", "admin", InvalidValue, "'admin' is not a project role"),
        ("yield", "alice", "reviewer", AlreadyExists, "alice is already a researcher of yield"),
    ],
)
def test_add_member_refuses(seeded, project, user, role, error, message):
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.add_member(project, user, role, actor="adam")


def test_remove_member(seeded):
    seeded.remove_member("yield", "rita", actor="adam")
    assert [m.user for m in seeded.list_members("yield")] == ["alice"]
    assert last_record(seeded).event == "catalog.member.remove"
    assert seeded.member_role("yield", "rita") is None


@pytest.mark.parametrize(
    ("project", "user", "error", "message"),
    [
        ("yield", "bob", NotAMember, "bob is not a member of yield"),
        ("nope", "alice", UnknownProject, "no project 'nope'"),
    ],
)
def test_remove_member_refuses(seeded, project, user, error, message):
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.remove_member(project, user, actor="adam")


def test_list_members_of_an_unknown_project(seeded):
    with pytest.raises(UnknownProject):
        seeded.list_members("nope")


# ---------------------------------------------------------------------------------------------
# Grants.


def test_grant_everything(seeded):
    grant = seeded.grant("yield", "wafers", reason="yield study", actor="adam")
    assert (grant.project, grant.dataset, grant.version) == ("yield", "wafers", 1)
    assert grant.columns is None and grant.row_filter is None and grant.expires_at is None
    assert (grant.granted_by, grant.granted_at, grant.reason) == ("adam", NOW, "yield study")
    assert grant.active and not grant.revoked and not grant.expired
    assert (grant.materialisation_status, grant.materialisation_key) == ("pending", None)
    record = last_record(seeded)
    assert record.event == "catalog.grant.create"
    assert record.details["grant"] == grant.id and record.details["columns"] is None


def test_grant_columns_rows_and_expiry(seeded):
    grant = seeded.grant(
        "yield",
        "wafers",
        version="v1",
        columns=["yield_pct", "lot", "lot", "year"],
        row_filter="year >= 2023 AND plant <> 'cora-east'",
        expires_at=LATER,
        reason="three columns",
        actor="adam",
    )
    assert grant.columns == ("lot", "year", "yield_pct")  # file order, once each
    assert grant.row_filter == '"year" >= 2023 AND "plant" <> \'cora-east\''
    assert grant.expires_at == LATER
    assert seeded.get_grant(grant.id) == grant


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"columns": ["lot", "secret"]},
            UnknownColumn,
            "wafers v1 has no column 'secret'; its columns are: lot, plant, year, yield_pct, "
            "recipe_secret",
        ),
        ({"columns": ["a", "b"]}, UnknownColumn, "has no columns 'a', 'b'"),
        ({"columns": []}, InvalidValue, "allow-list is empty"),
        ({"columns": "lot"}, InvalidValue, "as a list of column names"),
        # Row filters are checked by cleanroom.grants.rowfilter; its message is passed on.
        ({"row_filter": "lot IN (SELECT lot FROM wafers)"}, InvalidRowFilter, "(?i)subquer"),
        ({"row_filter": "lot > 1; DROP TABLE wafers"}, InvalidRowFilter, "(?i)statement"),
        (
            {"row_filter": "lot IN (SELECT * FROM read_csv('/etc/passwd'))"},
            InvalidRowFilter,
            "(?i)subquer",
        ),
        (
            {"row_filter": "read_parquet('/data/x.parquet') IS NOT NULL"},
            InvalidRowFilter,
            "read_parquet",
        ),
        ({"row_filter": "nosuchcolumn = 1"}, InvalidRowFilter, "'nosuchcolumn' is not a column"),
        ({"expires_at": NOW - timedelta(seconds=1)}, InvalidValue, "is not in the future"),
        ({"expires_at": datetime(2030, 1, 1)}, InvalidValue, "has no time zone"),
        ({"version": 7}, UnknownVersion, "no version v7"),
        ({"reason": " "}, InvalidValue, "give the reason for the grant"),
    ],
)
def test_grant_refuses(seeded, kwargs, error, message):
    arguments = {"reason": "study", "actor": "adam", **kwargs}
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.grant("yield", "wafers", **arguments)


@pytest.mark.parametrize(
    ("project", "dataset", "error", "message"),
    [
        ("nope", "wafers", UnknownProject, "no project 'nope'"),
        ("yield", "welds", UnknownDataset, "no dataset 'welds': register it first"),
        ("yield", "Wafers", InvalidValue, "not a valid dataset name"),
    ],
)
def test_grant_refuses_unknown_names(seeded, project, dataset, error, message):
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.grant(project, dataset, reason="study", actor="adam")


def test_one_grant_in_force_per_dataset(seeded, clock):
    first = seeded.grant(
        "yield", "wafers", expires_at=NOW + timedelta(days=1), reason="a", actor="adam"
    )
    with (
        nothing_written(seeded),
        pytest.raises(AlreadyExists, match=f"already has grant {first.id} of dataset wafers"),
    ):
        seeded.grant("yield", "wafers", columns=["lot"], reason="b", actor="adam")
    clock.advance(days=2)  # the first has expired: a new grant may replace it
    second = seeded.grant("yield", "wafers", columns=["lot"], reason="b", actor="adam")
    seeded.revoke_grant(second.id, reason="wrong columns", actor="adam")
    third = seeded.grant("yield", "wafers", columns=["lot", "year"], reason="c", actor="adam")
    assert [g.id for g in seeded.list_grants("yield") if g.active] == [third.id]


def test_grant_materialises_before_writing(seeded, sources):
    specs: list[GrantSpec] = []

    def materialiser(spec: GrantSpec) -> str:
        specs.append(spec)
        return "m-" + spec.definition_sha256()[:16]

    seeded.materialiser = materialiser
    grant = seeded.grant(
        "yield",
        "wafers",
        columns=["lot", "yield_pct"],
        row_filter="year = 2024",
        reason="study",
        actor="adam",
    )
    (spec,) = specs
    assert spec.project == "yield" and spec.dataset == "wafers" and spec.version == 1
    assert spec.source_path == str(sources.wafers)
    assert spec.content_sha256 == sha256_of(sources.wafers)
    assert spec.format == "parquet" and spec.contributor_column == "plant"
    assert spec.columns == ("lot", "yield_pct") and not spec.all_columns
    assert spec.row_filter == '"year" = 2024'
    assert list(spec.schema) == WAFER_COLUMNS
    assert grant.materialisation_key == "m-" + spec.definition_sha256()[:16]
    assert grant.materialisation_status == "ready"
    assert seeded.grant_spec(grant.id) == spec
    assert last_record(seeded).details["materialisation_key"] == grant.materialisation_key


def test_a_whole_grant_spec_names_every_column(seeded):
    seeded.materialiser = lambda spec: "k"
    grant = seeded.grant("yield", "wafers", reason="study", actor="adam")
    spec = seeded.grant_spec(grant.id)
    assert spec.all_columns and spec.columns == tuple(WAFER_COLUMNS)


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("raise", "materialising its data failed \\(OSError: disk full\\)"),
        ("cleanroom", "materialising its data failed: the cache is read-only"),
        ("empty", "returned '', not a key"),
    ],
)
def test_a_failed_materialisation_writes_nothing(seeded, behaviour, message):
    from cleanroom.errors import CleanRoomError

    def materialiser(spec):
        if behaviour == "raise":
            raise OSError("disk full")
        if behaviour == "cleanroom":
            raise CleanRoomError("the cache is read-only")
        return ""

    seeded.materialiser = materialiser
    with nothing_written(seeded), pytest.raises(MaterialisationFailed, match=message):
        seeded.grant("yield", "wafers", reason="study", actor="adam")


def test_revoke(seeded, clock):
    grant = seeded.grant("yield", "wafers", reason="study", actor="adam")
    clock.advance(hours=1)
    revoked = seeded.revoke_grant(str(grant.id), reason="project ended", actor="root")
    assert revoked.revoked and not revoked.active
    assert (revoked.revoked_at, revoked.revoked_by, revoked.revoke_reason) == (
        clock.now,
        "root",
        "project ended",
    )
    record = last_record(seeded)
    assert (record.event, record.details["grant"], record.details["reason"]) == (
        "catalog.grant.revoke",
        grant.id,
        "project ended",
    )


@pytest.mark.parametrize(
    ("grant_id", "reason", "error", "message"),
    [
        ("first", "again", GrantStateError, "was already revoked at .* by adam \\(done\\)"),
        (999, "x", UnknownGrant, "no grant 999"),
        ("g1", "x", InvalidValue, "not a grant id"),
        ("second", "", InvalidValue, "give the reason for revoking"),
    ],
)
def test_revoke_refuses(seeded, grant_id, reason, error, message):
    first = seeded.grant("yield", "wafers", reason="study", actor="adam")
    seeded.revoke_grant(first.id, reason="done", actor="adam")
    second = seeded.grant("yield", "wafers", reason="study", actor="adam")
    grant_id = {"first": first.id, "second": second.id}.get(grant_id, grant_id)
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.revoke_grant(grant_id, reason=reason, actor="adam")


def test_extend_brings_an_expired_grant_back(seeded, clock):
    grant = seeded.grant(
        "yield", "wafers", expires_at=NOW + timedelta(days=1), reason="s", actor="adam"
    )
    clock.advance(days=2)
    assert seeded.get_grant(grant.id).expired
    extended = seeded.extend_grant(grant.id, LATER, reason="more time", actor="adam")
    assert extended.expires_at == LATER and extended.active
    record = last_record(seeded)
    assert record.event == "catalog.grant.extend"
    assert record.details["expires_at"] == LATER.isoformat()


@pytest.mark.parametrize(
    ("which", "expires_at", "error", "message"),
    [
        ("revoked", LATER, GrantStateError, "a revoked grant cannot be extended"),
        ("forever", LATER, GrantStateError, "has no expiry: there is nothing to extend"),
        ("dated", NOW + timedelta(days=1), InvalidValue, "must be later than the current one"),
        ("dated", datetime(2031, 1, 1), InvalidValue, "has no time zone"),
        (12345, LATER, UnknownGrant, "no grant 12345"),
    ],
)
def test_extend_refuses(seeded, which, expires_at, error, message):
    dated = seeded.grant(
        "yield", "wafers", expires_at=NOW + timedelta(days=2), reason="s", actor="adam"
    )
    seeded.create_project("other", actor="adam")
    revoked = seeded.grant("other", "wafers", expires_at=LATER, reason="s", actor="adam")
    seeded.revoke_grant(revoked.id, reason="done", actor="adam")
    seeded.create_project("third", actor="adam")
    forever = seeded.grant("third", "wafers", reason="s", actor="adam")
    grant_id = {"dated": dated.id, "revoked": revoked.id, "forever": forever.id}.get(which, which)
    with nothing_written(seeded), pytest.raises(error, match=message):
        seeded.extend_grant(grant_id, expires_at, actor="adam")


def test_record_materialisation(seeded):
    grant = seeded.grant("yield", "wafers", reason="study", actor="adam")
    failed = seeded.record_materialisation(
        grant.id, status="failed", error="no space", actor="materialiser"
    )
    assert (failed.materialisation_status, failed.materialisation_error) == ("failed", "no space")
    ready = seeded.record_materialisation(grant.id, status="ready", key="k1", actor="m")
    assert (ready.materialisation_status, ready.materialisation_key) == ("ready", "k1")
    assert ready.materialisation_error is None
    assert last_record(seeded).event == "catalog.grant.materialisation"
    with nothing_written(seeded), pytest.raises(InvalidValue, match="needs its key"):
        seeded.record_materialisation(grant.id, status="ready", actor="m")
    with nothing_written(seeded), pytest.raises(InvalidValue, match="not a materialisation"):
        seeded.record_materialisation(grant.id, status="done", key="k", actor="m")


# ---------------------------------------------------------------------------------------------
# What the spawner asks.


def test_projects_of_a_user_with_their_roles(seeded):
    seeded.create_project("alpha", actor="adam")
    seeded.create_project("welding", actor="adam")
    seeded.add_member("welding", "alice", "reviewer", actor="adam")
    projects = seeded.projects_of("alice")
    assert [(p.name, p.role) for p in projects] == [
        ("welding", "reviewer"),
        ("yield", "researcher"),
    ]
    assert seeded.projects_of("nobody") == []
    assert seeded.member_role("yield", "alice") == "researcher"
    assert seeded.member_role("yield", "bob") is None
    with pytest.raises(UnknownProject):
        seeded.member_role("nope", "alice")
    facts = seeded.project_facts("yield", "rita")
    assert (facts.id, facts.role, facts.name) == ("yield", "reviewer", "yield")
    assert projects[1].to_facts() == seeded.project_facts("yield", "alice")


def test_grants_for_flags_revoked_and_expired_grants(seeded, sources, clock):
    seeded.register_dataset(
        "welds",
        sources.welds,
        contributor_column="yard",
        values_are_organisations=True,
        actor="adam",
    )
    seeded.add_version("wafers", sources.wafers_v2, mapping={"dora-west": "acme"}, actor="adam")
    old = seeded.grant(
        "yield", "wafers", version=1, expires_at=NOW + timedelta(days=1), reason="a", actor="adam"
    )
    welds = seeded.grant("yield", "welds", columns=["yard", "defects"], reason="b", actor="adam")
    seeded.revoke_grant(welds.id, reason="c", actor="adam")
    clock.advance(days=1, seconds=1)  # the old grant has expired: it may be replaced
    current = seeded.grant(
        "yield",
        "wafers",
        row_filter="year = 2024",
        expires_at=NOW + timedelta(days=10),
        reason="d",
        actor="adam",
    )
    later = NOW + timedelta(days=2)
    grants = seeded.grants_for("yield", later)
    assert [(g.id, g.expired, g.revoked, g.active) for g in grants] == [
        (old.id, True, False, False),
        (welds.id, False, True, False),
        (current.id, False, False, True),
    ]
    facts = seeded.grant_facts("yield", later)
    assert facts[2] == GrantFacts(
        id=str(current.id),
        project="yield",
        dataset="wafers",
        version="v2",
        expires_at=NOW + timedelta(days=10),
        revoked=False,
        columns=None,
        row_filter='"year" = 2024',
    )
    assert facts[1].revoked and facts[1].columns == ["yard", "defects"]
    # The facts make a valid access-policy input with the user's organisation and role.
    user = user_facts_from_groups("alice", ["researcher"], seeded.user_organisation("alice"))
    document = access_input(user, seeded.project_facts("yield", "alice"), facts, now=later)
    assert InputValidator(load_schema()).errors(document) == []
    assert seeded.grants_for("yield", NOW)[0].active  # as of another time
    with pytest.raises(UnknownProject):
        seeded.grants_for("nope")


def test_list_grants_of_every_project(seeded):
    seeded.create_project("other", actor="adam")
    a = seeded.grant("yield", "wafers", reason="a", actor="adam")
    b = seeded.grant("other", "wafers", columns=["lot"], reason="b", actor="adam")
    assert [g.id for g in seeded.list_grants()] == [a.id, b.id]
    assert [g.id for g in seeded.list_grants("other")] == [b.id]


# ---------------------------------------------------------------------------------------------
# The audit log and the catalog go together.


class BrokenAudit:
    def append(self, event, actor=None, **details):
        raise AuditError("the audit log is not writable")

    def records(self):
        return []


def test_a_change_that_cannot_be_audited_is_not_made(seeded):
    before = seeded.counts()
    broken = CatalogService(seeded.sessions, BrokenAudit(), clock=Clock())
    with pytest.raises(AuditError):
        broken.create_project("unaudited", actor="adam")
    with pytest.raises(AuditError):
        broken.grant("yield", "wafers", reason="x", actor="adam")
    assert seeded.counts() == before
    assert [p.name for p in seeded.list_projects()] == ["yield"]


def test_counts_and_audit_trail_of_a_whole_setup(seeded):
    counts = seeded.counts()
    assert counts["organisations"] == 4 and counts["users"] == 3
    assert counts["datasets"] == 1 and counts["dataset_versions"] == 1
    assert counts["contributors"] == 4 and counts["members"] == 2 and counts["grants"] == 0
    events = [r.event for r in seeded.audit.records()]
    assert events == ["catalog.organisation.add"] * 4 + ["catalog.user.set_organisation"] * 3 + [
        "catalog.dataset.register",
        "catalog.project.create",
        "catalog.member.add",
        "catalog.member.add",
    ]
    assert seeded.audit.verify().ok


def test_records_are_timezone_aware_utc(seeded):
    grant = seeded.grant(
        "yield", "wafers", expires_at=datetime(2027, 1, 1, 9, tzinfo=UTC), reason="s", actor="adam"
    )
    stored = seeded.get_grant(grant.id)
    assert stored.expires_at == datetime(2027, 1, 1, 9, tzinfo=UTC)
    assert stored.expires_at.utcoffset() == timedelta(0)
    assert seeded.list_organisations()[0].created_at.tzinfo is not None
