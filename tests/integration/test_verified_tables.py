"""Verified tables end to end in the airlock's business layer: a real catalog with a
synthetic dataset whose truth is known, real grants materialised (the researcher's copy and
the airlock's, with the contributor column), the real release policy in a real OPA, and the
recompute in the real sandbox.

The dataset ``plants`` has one row per plant and month, ``output`` per row, and these
regions (each cell of a table by region):

- ``A``: 12 plants of 12 organisations, even outputs: passes every rule;
- ``B``: 3 plants of 3 organisations: fails the threshold (10 organisations);
- ``C``: 12 plants of 2 organisations (6 each): fails the threshold (plants are not
  organisations);
- ``D``: 12 plants of 12 organisations, one holding 95% of the output: fails (2, 0.9)
  dominance on the sum, while its count passes.

The researcher's table is made the way ``cleanroom.sdc`` makes it: ``spec.long_query`` over
the researcher's copy of the grant, ``spec.shape``, cells written with ``spec.cell_text``.
"""

from __future__ import annotations

import socket

import duckdb
import pytest
from factories import tables
from factories.airlock import real_airlock

from cleanroom.airlock.errors import InvalidInput, PolicyRefused
from cleanroom.airlock.permissions import REVIEW, SUBMIT, Caller
from cleanroom.airlock.service import AirlockService
from cleanroom.grants.cache import researcher_dir
from cleanroom.policy import PolicyClient
from cleanroom.tables import spec as table_spec

ALICE = Caller("alice", frozenset({SUBMIT}), ("researcher",))
RITA = Caller("rita", frozenset({REVIEW}), ("reviewer",))
ORGS = [f"o{i:02d}" for i in range(1, 13)]
MONTHS = 4


def plants() -> list[tuple[str, str, str]]:
    """(region, plant, organisation) for every plant."""
    rows = [("A", f"a-{org}", org) for org in ORGS]
    rows += [("B", f"b-{org}", org) for org in ORGS[:3]]
    rows += [("C", f"c-{i:02d}", ORGS[i % 2]) for i in range(12)]
    rows += [("D", f"d-{org}", org) for org in ORGS]
    return rows


def output(region: str, plant: str) -> float:
    if region == "D":
        return 2090.0 if plant == "d-o01" else 10.0  # o01 holds 95% of D's total
    return 100.0 + (sum(map(ord, plant)) % 17) / 4


@pytest.fixture
def project(seeded, tmp_path):
    """``plants`` registered and granted to project ``yield`` (without the ``secret``
    column), and to another project ``other``; the grants materialised under tmp/grants."""
    from cleanroom.catalog.data_plane import grant_materialiser

    for org in ORGS:
        seeded.add_organisation(org, f"Org {org}", "depositor", actor="adam")
    source = tmp_path / "plants.parquet"
    rows = [
        (region, plant, month, output(region, plant), f"s-{plant}-{month}")
        for region, plant, _ in plants()
        for month in range(1, MONTHS + 1)
    ]
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (region VARCHAR, plant VARCHAR, month INTEGER, output DOUBLE, "
        "secret VARCHAR)"
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{source}' (FORMAT parquet)")
    con.close()
    seeded.register_dataset(
        "plants",
        source,
        contributor_column="plant",
        mapping={plant: org for _, plant, org in plants()},
        actor="adam",
    )
    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    granted = seeded.grant(
        "yield",
        "plants",
        columns=["region", "plant", "month", "output"],
        reason="study",
        actor="adam",
    )
    seeded.create_project("other", description="Another project", actor="adam")
    other = seeded.grant("other", "plants", reason="their study", actor="adam")
    return granted, other


@pytest.fixture
def airlock(seeded, opa_server, tmp_path, project) -> AirlockService:
    return real_airlock(seeded, opa_server.url, tmp_path)


def make_table(tmp_path, grant, **spec_fields) -> tuple[bytes, dict]:
    """The table and its specification, as cleanroom.sdc makes them in the container."""
    doc = {
        "format": table_spec.FORMAT,
        "dataset": "plants",
        "grant": grant.materialisation_key,
        "rows": ["region"],
        "values": [{"aggregate": "count"}, {"aggregate": "sum", "measure": "output"}],
        **spec_fields,
    }
    data = researcher_dir(tmp_path / "grants", grant.materialisation_key) / "data.parquet"
    return tables.make_table(data, doc), table_spec.parse_spec(doc).as_json()


def put_table(airlock, rid, name, data, spec, media_type="text/csv"):
    blob = airlock.store.put_bytes(data)
    return airlock.put_file(
        ALICE, rid, name, "table", blob, media_type, project="yield", table_spec=spec
    )


def submitted(airlock, data, spec):
    rid = airlock.create(ALICE, project="yield", justification="output by region").id
    put_table(airlock, rid, "by_region.csv", data, spec)
    try:
        airlock.submit(ALICE, rid)
    except PolicyRefused:
        pass
    request = airlock.get(ALICE, rid)
    (check,) = [c for c in request.checks if c.check == "table"]
    return request, check


def failing(check) -> dict[tuple[str, str], set[str]]:
    """(region, column) -> the rules its cell failed or warned on."""
    regions = "ABCD"
    cells: dict[tuple[str, str], set[str]] = {}
    for f in check.findings:
        cells.setdefault((regions[f["row"]], f["column"]), set()).add(f["rule"])
    return cells


def test_cells_are_judged_by_organisations_not_rows_or_plants(airlock, project, tmp_path):
    granted, _ = project
    data, spec = make_table(tmp_path, granted)
    request, check = submitted(airlock, data, spec)
    assert check.status == "fail"
    assert failing(check) == {
        ("B", "count"): {"threshold"},  # 3 organisations
        ("B", "sum_output"): {"threshold"},
        ("C", "count"): {"threshold"},  # 12 plants, 2 organisations
        # Two organisations: each knows the other's total, whatever the plants.
        ("C", "sum_output"): {"threshold", "nk-rule", "p-ratio"},
        ("D", "sum_output"): {"nk-rule", "p-ratio"},  # one organisation holds 95%
    }
    # Region A (12 organisations, even) passes; so does D's count.
    assert request.state == "draft"
    assert any("check table failed" in r for r in request.reasons)
    # The researcher is told which cells and why, never another organisation's figures.
    for f in check.findings:
        assert "2090" not in f["message"] and "95" not in f["message"]
    assert check.metrics["spec"] == spec


def test_a_table_of_cells_that_pass_every_rule_goes_to_review(airlock, project, tmp_path):
    granted, _ = project
    data, spec = make_table(tmp_path, granted, filter="region = 'A'")
    request, check = submitted(airlock, data, spec)
    assert (check.status, check.findings) == ("pass", [])
    assert request.state == "in_review"
    assert check.metrics["min_organisations"] == 12


def test_a_forged_table_does_not_reproduce_and_fails_naming_the_cell(airlock, project, tmp_path):
    granted, _ = project
    data, spec = make_table(tmp_path, granted, filter="region = 'A'")
    text = data.decode()
    count = text.splitlines()[1].split(",")[1]
    forged = text.replace(f"A,{count},", f"A,{int(count) + 40},").encode()
    assert forged != data
    request, check = submitted(airlock, forged, spec)
    assert check.status == "fail"
    assert [(f["rule"], f["row"], f["column"]) for f in check.findings] == [
        ("recompute", 0, "count")
    ]
    assert "does not match its specification" in check.message
    assert request.state == "draft"


def test_a_table_rounded_as_declared_passes_and_one_rounded_otherwise_fails(
    airlock, project, tmp_path
):
    granted, _ = project
    data, spec = make_table(tmp_path, granted, filter="region = 'A'", rounding={"base": 5})
    _, check = submitted(airlock, data, spec)
    assert check.status == "pass"
    unrounded, _ = make_table(tmp_path, granted, filter="region = 'A'")
    assert unrounded != data
    _, check = submitted(airlock, unrounded, spec)  # declared base 5, written unrounded
    assert check.status == "fail"
    assert {f["rule"] for f in check.findings} == {"recompute"}


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"rows": ["secret"]}, "not granted to project yield"),
        ({"values": [{"aggregate": "max", "measure": "secret"}]}, "not granted to project yield"),
        ({"filter": "read_csv('/etc/passwd') IS NOT NULL"}, "filter is refused"),
        ({"values": [{"aggregate": "percentile", "measure": "output"}]}, "not an aggregate"),
        ({"values": [{"aggregate": "<lambda>", "measure": "output"}]}, "not an aggregate"),
        ({"dataset": "wafers"}, "its grant is of 'plants'"),
    ],
)
def test_a_specification_the_grants_do_not_allow_is_refused_before_anything_is_stored(
    airlock, project, tmp_path, change, refusal
):
    granted, _ = project
    data, spec = make_table(tmp_path, granted)
    rid = airlock.create(ALICE, project="yield", justification="x").id
    with pytest.raises(InvalidInput, match=refusal):
        airlock.upload_allowance(ALICE, rid, "t.csv", "table", "yield", {**spec, **change})
    with pytest.raises(InvalidInput, match=refusal):
        put_table(airlock, rid, "t.csv", data, {**spec, **change})
    assert airlock.get(ALICE, rid).files == []
    # The control: the unchanged specification is taken.
    assert put_table(airlock, rid, "t.csv", data, spec).table_spec == spec


def test_another_projects_grant_is_refused(airlock, project, tmp_path):
    _, other = project
    spec = {
        "format": table_spec.FORMAT,
        "dataset": "plants",
        "grant": other.materialisation_key,
        "rows": ["region"],
        "values": [{"aggregate": "count"}],
    }
    rid = airlock.create(ALICE, project="yield", justification="x").id
    with pytest.raises(InvalidInput, match="not granted to project yield"):
        put_table(airlock, rid, "t.csv", b"region,count\nA,48\n", spec)


def test_a_specification_on_a_file_that_is_not_a_table_or_not_its_format_is_refused(
    airlock, project, tmp_path
):
    granted, _ = project
    data, spec = make_table(tmp_path, granted)
    rid = airlock.create(ALICE, project="yield", justification="x").id
    blob = airlock.store.put_bytes(data)
    with pytest.raises(InvalidInput, match="only a file of type table"):
        airlock.put_file(
            ALICE, rid, "t.txt", "text", blob, "text/plain", project="yield", table_spec=spec
        )
    with pytest.raises(InvalidInput, match="the file's content is application/vnd.apache.parquet"):
        put_table(airlock, rid, "t.csv", data, spec, media_type="application/vnd.apache.parquet")


def test_without_the_policy_s_table_rules_the_table_is_not_passed(airlock, project, tmp_path):
    """OPA not answering: the rules cannot be read, the check is an error (never a pass)
    and nothing goes to review."""
    from cleanroom.airlock.errors import Unavailable

    granted, _ = project
    data, spec = make_table(tmp_path, granted, filter="region = 'A'")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    airlock.policy = PolicyClient(f"http://127.0.0.1:{port}", timeout=2.0)
    rid = airlock.create(ALICE, project="yield", justification="x").id
    put_table(airlock, rid, "t.csv", data, spec)
    with pytest.raises(Unavailable):
        airlock.submit(ALICE, rid)
    request = airlock.get(ALICE, rid)
    (check,) = [c for c in request.checks if c.check == "table"]
    assert check.status == "error" and "table rules could not be read" in check.message
    assert request.state == "draft"
