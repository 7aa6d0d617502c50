"""cleanroom.airlock.db: the airlock's schema under Alembic. A new file is migrated to the
newest revision, the migrations make exactly the models' schema (what ``create_all`` made
before), a file made by ``create_all`` is stamped and keeps working, and upgrading again
changes nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from cleanroom.airlock import models
from cleanroom.airlock.db import (
    BASELINE_REVISION,
    MIGRATIONS_DIR,
    create_airlock_engine,
    current_revision,
    head_revision,
    session_factory,
    upgrade,
)

NOW = datetime(2026, 12, 3, 10, 0, 0)


def _schema(engine) -> list[tuple]:
    """Every table and index SQLite holds but Alembic's own, with the SQL that made it."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE tbl_name != 'alembic_version' ORDER BY type, name"
            )
        )
        return [tuple(row) for row in rows]


def _create_all_database(path):
    """A database as the airlock made it before the migrations: ``create_all``, no stamp."""
    engine = create_engine(f"sqlite:///{path}")
    models.Base.metadata.create_all(engine)
    return engine


def _request(request_id: str = "r1") -> models.Request:
    return models.Request(
        id=request_id,
        project="p",
        requester="alice",
        state="draft",
        created_at=NOW,
        updated_at=NOW,
    )


def _file(request_id: str = "r1") -> models.FileVersion:
    return models.FileVersion(
        request_id=request_id,
        name="out.csv",
        version=1,
        type="csv",
        sha256="0" * 64,
        size=1,
        media_type="text/csv",
        round=1,
        added_at=NOW,
    )


def _vote(file_id: int, request_id: str = "r1") -> models.Vote:
    return models.Vote(
        request_id=request_id, file_id=file_id, reviewer="bob", decision="approve", round=1, at=NOW
    )


def test_a_new_database_is_migrated_to_the_newest_revision(tmp_path):
    path = tmp_path / "sub" / "airlock.sqlite"
    engine = create_airlock_engine(path)
    assert current_revision(engine) == head_revision() == "0003"
    assert BASELINE_REVISION == "0001"
    tables = set(inspect(engine).get_table_names())
    assert tables == {t.name for t in models.Base.metadata.sorted_tables} | {"alembic_version"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    engine.dispose()


def test_the_migrations_create_exactly_the_models(tmp_path):
    engine = create_airlock_engine(tmp_path / "airlock.sqlite")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, models.Base.metadata) == []
    # Byte for byte the schema create_all makes (the partial unique index on votes included).
    before = _create_all_database(tmp_path / "before.sqlite")
    assert _schema(engine) == _schema(before)
    assert any(
        row[1] == "one_counting_vote" and "WHERE superseded = 0" in row[3]
        for row in _schema(engine)
    )
    engine.dispose()
    before.dispose()


def test_upgrading_again_changes_nothing(tmp_path):
    path = tmp_path / "airlock.sqlite"
    engine = create_airlock_engine(path)
    with session_factory(engine)() as session, session.begin():
        session.add(_request())
    schema = _schema(engine)
    upgrade(engine)
    again = create_airlock_engine(path)
    assert _schema(engine) == _schema(again) == schema
    assert current_revision(again) == head_revision()
    with again.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    with session_factory(again)() as session:
        assert session.scalars(select(models.Request.id)).all() == ["r1"]
    engine.dispose()
    again.dispose()


def test_a_database_made_by_create_all_is_stamped_and_keeps_working(tmp_path):
    path = tmp_path / "airlock.sqlite"
    old = _create_all_database(path)
    with session_factory(old)() as session, session.begin():
        session.add(_request())
        session.add(_file())
    schema = _schema(old)
    old.dispose()

    engine = create_airlock_engine(path)
    # Stamped at the baseline, then upgraded (0002 finds its table already made).
    assert current_revision(engine) == head_revision()
    assert _schema(engine) == schema  # stamped, not re-created
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        assert session.get(models.Request, "r1") is not None
        file = session.scalars(select(models.FileVersion)).one()
        session.add(_request("r2"))
        session.add(_vote(file.id))
    # The constraints it had still hold: one counting vote per reviewer and file version.
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.add(_vote(file.id))
    with sessions() as session:
        assert session.scalars(select(models.Request.id).order_by(models.Request.id)).all() == [
            "r1",
            "r2",
        ]
    # And the next start finds it at the newest revision.
    engine.dispose()
    engine = create_airlock_engine(path)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_reader_engine_does_not_migrate(tmp_path):
    path = tmp_path / "airlock.sqlite"
    _create_all_database(path).dispose()
    reader = create_airlock_engine(path, writer=False)
    assert current_revision(reader) is None
    reader.dispose()


def test_the_migrations_ship_with_the_package():
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


def _open_in_a_process(path: str) -> None:
    create_airlock_engine(path).dispose()


def test_processes_opening_a_new_file_together_do_not_collide(tmp_path):
    # The upgrade runs in one BEGIN IMMEDIATE transaction: the others wait, then find it done.
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    path = str(tmp_path / "airlock.sqlite")
    processes = [context.Process(target=_open_in_a_process, args=(path,)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    engine = create_airlock_engine(path)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_0002_keeps_reviewed_requests_text_and_creates_the_table_once(tmp_path):
    """Upgrading a 0001 file: requests whose review is over get their text as reviewed; the
    others none (they get it when a review round ends)."""
    path = tmp_path / "airlock.sqlite"
    engine = create_airlock_engine(path, writer=False)
    upgrade(engine, "0001")
    with session_factory(engine)() as session, session.begin():
        for rid, state in (("r1", "approved"), ("r2", "draft"), ("r3", "in_review")):
            session.execute(
                text(
                    "INSERT INTO requests (id, title, project, requester, state, justification,"
                    " round, reasons, notes, data_owner_approval, contributing_organisations,"
                    " policy_revision, created_at, updated_at) VALUES (:id, 't', 'p', 'alice',"
                    " :state, 'why', 1, '[]', '[]', '[]', '[]', '', :now, :now)"
                ),
                {"id": rid, "state": state, "now": NOW},
            )
    upgrade(engine)
    with session_factory(engine)() as session:
        rows = session.scalars(select(models.ReviewedText)).all()
        assert [(r.request_id, r.round, r.title, r.justification) for r in rows] == [
            ("r1", 1, "t", "why")
        ]
    assert current_revision(engine) == "0003"
    engine.dispose()
