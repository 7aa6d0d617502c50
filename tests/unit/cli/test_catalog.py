"""The catalog's admin commands (cleanroom org|user|dataset|project|member|grant), run
in-process through cleanroom.cli.main.main on a state directory in tmp_path: output, progress,
exit status 2 with one line for every mistake, and nothing written then."""

from __future__ import annotations

import gc
import json
import shutil
from datetime import UTC, datetime

import duckdb
import pytest
from fixtures.catalog import PLANTS, dump

from cleanroom.audit import AuditLog
from cleanroom.catalog.db import create_catalog_engine, session_factory
from cleanroom.catalog.service import CatalogService
from cleanroom.cli.catalog import parse_moment
from cleanroom.cli.main import main


def _main(state, *argv: str) -> int:
    """cleanroom ARGV against ``state`` (as adam when the command changes something)."""
    writes = argv[1] != "list"
    return main([*argv, "--state-dir", str(state), *(("--actor", "adam") if writes else ())])


@pytest.fixture(autouse=True)
def _no_catalog_url_from_the_environment(monkeypatch):
    monkeypatch.delenv("CLEANROOM_CATALOG_URL", raising=False)


@pytest.fixture
def run(tmp_path, capsys):
    """run(*argv) -> (status, stdout, stderr), against tmp_path/state."""
    state = tmp_path / "state"

    def run(*argv: str) -> tuple[int, str, str]:
        status = _main(state, *argv)
        out, err = capsys.readouterr()
        return status, out, err

    run.state = state
    return run


def catalog_of(state) -> CatalogService:
    engine = create_catalog_engine(f"sqlite:///{state}/catalog/catalog.sqlite")
    return CatalogService(session_factory(engine), AuditLog.from_state_dir(state))


@pytest.fixture(scope="module")
def setup_template(tmp_path_factory, sources):
    """A state directory made once through the commands: organisations, users, the wafers
    dataset (mapped with a file), a project and its members."""
    base = tmp_path_factory.mktemp("cli-setup")
    state = base / "state"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("CLEANROOM_CATALOG_URL", raising=False)
        for org in ("acme", "bolt", "cora"):
            assert _main(state, "org", "add", org, org.title() + " Ltd") == 0
        assert _main(state, "org", "add", "uni", "University", "--kind", "other") == 0
        assert _main(state, "user", "set-org", "alice", "uni") == 0
        assert _main(state, "user", "set-org", "rita", "acme") == 0
        mapping = base / "plants.csv"
        mapping.write_text(
            "value,organisation\n" + "".join(f"{v},{o}\n" for v, o in PLANTS.items())
        )
        assert (
            _main(
                state,
                "dataset",
                "register",
                "wafers",
                str(sources.wafers),
                "--contributor-column",
                "plant",
                "--mapping",
                str(mapping),
            )
            == 0
        )
        assert _main(state, "project", "create", "yield", "--description", "Yield drivers") == 0
        assert _main(state, "member", "add", "yield", "alice", "researcher") == 0
        assert _main(state, "member", "add", "yield", "rita", "reviewer") == 0
    gc.collect()  # close the commands' SQLite connections before the files are copied
    return state


@pytest.fixture(scope="module")
def revoked_template(setup_template, tmp_path_factory):
    """setup_template plus grant 1 (wafers to yield), revoked."""
    state = tmp_path_factory.mktemp("cli-revoked") / "state"
    shutil.copytree(setup_template, state)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("CLEANROOM_CATALOG_URL", raising=False)
        assert _main(state, "grant", "create", "yield", "wafers", "--why", "first") == 0
        assert _main(state, "grant", "revoke", "1", "--why", "done") == 0
    gc.collect()
    return state


@pytest.fixture
def setup(run, setup_template):
    shutil.copytree(setup_template, run.state)
    return run


def test_a_whole_setup_through_the_commands(setup, sources):
    run = setup
    status, out, err = run(
        "dataset",
        "register",
        "welds",
        str(sources.welds),
        "--contributor-column",
        "yard",
        "--values-are-orgs",
        "--description",
        "Weld inspections",
    )
    assert status == 0, err
    assert out.startswith("welds v1: 30 rows, 4 columns, 3 contributor values from 3 organ")
    assert "hashing welds.csv" in err and "100% read 30 rows" in err  # progress on stderr

    status, out, _ = run(
        "grant", "create", "yield", "wafers", "--why", "yield study", "--no-materialise"
    )
    assert status == 0
    assert out.strip() == (
        "grant 1: yield may use wafers v1, all columns, all rows, no expiry (active; data pending)"
    )
    status, out, _ = run(
        "grant",
        "create",
        "yield",
        "welds",
        "--columns",
        "yard,defects",
        "--row-filter",
        "defects > 0",
        "--expires",
        "2099-01-31",
        "--why",
        "three columns",
    )
    assert status == 0
    assert 'columns yard, defects, rows where "defects" > 0, until 2099-01-31 00:00 UTC' in out
    assert "(active; data ready)" in out  # materialised into <state>/grants

    status, out, _ = run("grant", "list", "yield")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "PROJECT", "DATASET", "VERSION"]
    assert len(lines) == 3 and "yard,defects" in lines[2] and "active" in lines[2]

    status, out, _ = run("grant", "extend", "2", "2100-01-01", "--why", "more time")
    assert status == 0 and "until 2100-01-01 00:00 UTC" in out
    status, out, _ = run("grant", "revoke", "1", "--why", "done")
    assert status == 0 and "(revoked;" in out

    status, out, _ = run("grant", "list", "--json")
    grants = json.loads(out)
    assert [(g["id"], g["revoked_by"], g["expired"]) for g in grants] == [
        (1, "adam", False),
        (2, None, False),
    ]
    assert grants[1]["columns"] == ["yard", "defects"]
    assert grants[0]["materialisation_key"] is None
    key = grants[1]["materialisation_key"]
    researcher = run.state / "grants" / "researcher" / key / "data.parquet"
    con = duckdb.connect()
    assert [c[0] for c in con.execute(f"DESCRIBE FROM '{researcher}'").fetchall()] == [
        "yard",
        "defects",
    ]
    assert con.execute(f"SELECT count(*), min(defects) FROM '{researcher}'").fetchone() == (22, 1)
    assert grants[1]["expires_at"] == "2100-01-01T00:00:00+00:00"

    events = [r.event for r in AuditLog.from_state_dir(run.state).records()]
    assert events[-5:] == [
        "catalog.dataset.register",
        "catalog.grant.create",
        "catalog.grant.create",
        "catalog.grant.extend",
        "catalog.grant.revoke",
    ]
    assert {r.actor for r in AuditLog.from_state_dir(run.state).records()} == {"adam"}


def test_lists(setup):
    run = setup
    status, out, _ = run("org", "list")
    assert status == 0 and out.splitlines()[0].split() == ["ID", "NAME", "KIND"]
    assert "uni   University  other" in out
    assert json.loads(run("org", "list", "--json")[1])[0]["id"] == "acme"
    assert [u["organisation"] for u in json.loads(run("user", "list", "--json")[1])] == [
        "uni",
        "acme",
    ]
    status, out, _ = run("member", "list", "yield")
    assert "yield    alice  researcher  uni" in out and "rita   reviewer" in out
    assert json.loads(run("project", "list", "--json")[1])[0]["description"] == "Yield drivers"
    status, out, _ = run("dataset", "list")
    assert out.splitlines()[1].split()[:5] == ["wafers", "v1", "parquet", "200", "5"]
    status, out, _ = run("dataset", "list", "wafers")
    assert "columns of v1: lot BIGINT, plant VARCHAR" in out
    assert "acme-fab1    acme          50" in out
    datasets = json.loads(run("dataset", "list", "--json")[1])
    assert datasets[0]["versions"][0]["contributors"] == PLANTS


def test_a_new_version_with_a_map_option(setup, sources):
    run = setup
    status, out, err = run(
        "dataset", "version", "wafers", str(sources.wafers_v2), "--map", "dora-west=cora"
    )
    assert status == 0, err
    assert out.startswith("wafers v2: 50 rows")


MISTAKES = [
    (("org", "add", "acme", "Again"), "organisation 'acme' exists already"),
    (("user", "set-org", "bob", "nowhere"), "there is no organisation 'nowhere'"),
    (
        (
            "dataset",
            "register",
            "more",
            "{bad_csv}",
            "--contributor-column",
            "yard",
            "--values-are-orgs",
        ),
        "line 3 has 1 fields where the header has 2",
    ),
    (
        ("dataset", "register", "more", "{wafers}", "--contributor-column", "plant"),
        "4 contributor value(s) have no organisation: 'acme-fab1', 'acme-fab2', 'bolt-main', "
        "'cora-east'",
    ),
    (
        (
            "dataset",
            "register",
            "more",
            "{wafers}",
            "--contributor-column",
            "plant",
            "--map",
            "acme-fab1",
        ),
        "--map 'acme-fab1' is not VALUE=ORG",
    ),
    (
        (
            "dataset",
            "register",
            "more",
            "{wafers}",
            "--contributor-column",
            "plant",
            "--mapping",
            "{missing}",
        ),
        "cannot read the mapping file",
    ),
    (("dataset", "version", "wafers", "{wafers}"), "identical to wafers v1"),
    (("project", "create", "yield"), "project 'yield' exists already"),
    (("member", "add", "yield", "zed", "researcher"), "set their organisation first"),
    (("member", "remove", "yield", "bob"), "bob is not a member of yield"),
    (
        ("grant", "create", "yield", "wafers", "--columns", "lot,secret", "--why", "x"),
        "wafers v1 has no column 'secret'; its columns are: lot, plant, year, yield_pct, "
        "recipe_secret",
    ),
    (
        ("grant", "create", "yield", "wafers", "--row-filter", "1=1; DROP TABLE x", "--why", "x"),
        "Row filter refused",
    ),
    (
        ("grant", "create", "yield", "wafers", "--expires", "next week", "--why", "x"),
        "'next week' is not a date",
    ),
    (
        ("grant", "create", "yield", "wafers", "--expires", "2001-01-01", "--why", "x"),
        "is not in the future",
    ),
    (("grant", "revoke", "1", "--why", "again"), "was already revoked"),
    (("grant", "extend", "1", "2100-01-01"), "a revoked grant cannot be extended"),
    (("grant", "revoke", "77", "--why", "x"), "there is no grant 77"),
]


@pytest.mark.parametrize(("argv", "message"), MISTAKES, ids=[" ".join(m[0][:2]) for m in MISTAKES])
def test_every_mistake_is_one_line_exit_2_and_writes_nothing(
    run, revoked_template, sources, tmp_path, argv, message
):
    shutil.copytree(revoked_template, run.state)
    bad_csv = sources.write("bad.csv", "yard,seam\nacme,S1\nbolt\n")
    argv = [
        a.format(bad_csv=bad_csv, wafers=sources.wafers, missing=tmp_path / "nope.csv")
        for a in argv
    ]
    catalog = catalog_of(run.state)
    before, records = dump(catalog), len(catalog.audit.records())
    status, out, err = run(*argv)
    assert status == 2
    error_lines = [line for line in err.splitlines() if line.startswith("cleanroom: ")]
    assert len(error_lines) == 1, err
    assert message in error_lines[0]
    assert dump(catalog) == before and len(catalog.audit.records()) == records


def test_usage_mistakes_exit_2_too(run):
    with pytest.raises(SystemExit) as caught:
        main(["grant", "create", "yield"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["member", "add", "yield", "alice", "owner"])
    assert caught.value.code == 2


def test_the_catalog_url_option_wins(run, tmp_path, capsys):
    other = tmp_path / "elsewhere" / "catalog.sqlite"
    status = main(
        [
            "org",
            "add",
            "acme",
            "Acme",
            "--state-dir",
            str(run.state),
            "--actor",
            "a",
            "--catalog-url",
            f"sqlite:///{other}",
        ]
    )
    assert status == 0 and other.exists()
    assert not (run.state / "catalog" / "catalog.sqlite").exists()
    assert main(["org", "list", "--state-dir", str(run.state)]) == 0
    assert "acme" not in capsys.readouterr().out.split("KIND", 1)[1]


def test_the_catalog_url_comes_from_the_environment(run, tmp_path, monkeypatch):
    other = tmp_path / "env" / "catalog.sqlite"
    monkeypatch.setenv("CLEANROOM_CATALOG_URL", f"sqlite:///{other}")
    assert run("org", "add", "acme", "Acme")[0] == 0
    assert other.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-30", datetime(2026, 6, 30, tzinfo=UTC)),
        ("2026-06-30T18:00Z", datetime(2026, 6, 30, 18, tzinfo=UTC)),
        ("2026-06-30T18:00:00+02:00", datetime(2026, 6, 30, 16, tzinfo=UTC)),
        ("2026-06-30 18:00", datetime(2026, 6, 30, 18, tzinfo=UTC)),
    ],
)
def test_parse_moment(text, expected):
    assert parse_moment(text) == expected
