"""cleanroom.catalog.db on SQLite: URLs, engines, the migrations (idempotent, and exactly the
models), and what SQLite must enforce."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from cleanroom.catalog import models
from cleanroom.catalog.db import (
    MIGRATIONS_DIR,
    catalog_url,
    create_catalog_engine,
    current_revision,
    default_url,
    head_revision,
    normalise_url,
    session_factory,
    upgrade,
)
from cleanroom.catalog.errors import CatalogUnavailable, InvalidValue
from cleanroom.settings import Settings


def test_the_default_catalog_is_an_sqlite_file_in_the_state_dir(tmp_path):
    settings = Settings.from_env({"CLEANROOM_STATE_DIR": str(tmp_path)})
    assert settings.catalog_url == ""
    assert catalog_url(settings) == f"sqlite:///{tmp_path}/catalog/catalog.sqlite"
    assert settings.catalog_database_url == catalog_url(settings) == default_url(tmp_path)
    url = "postgresql://cr@db.internal/cleanroom"
    settings = Settings.from_env({"CLEANROOM_CATALOG_URL": url})
    assert catalog_url(settings) == url


def test_a_bad_catalog_url_setting_says_what_is_expected():
    from cleanroom.errors import SettingsError

    with pytest.raises(SettingsError, match="CLEANROOM_CATALOG_URL=.*a database URL"):
        Settings.from_env({"CLEANROOM_CATALOG_URL": "mysql://x/y"})


def test_postgresql_urls_use_psycopg_3():
    assert normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("sqlite:////x.sqlite") == "sqlite:////x.sqlite"
    engine = create_catalog_engine("postgresql://u:p@127.0.0.1:9/d")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/d", "sqlite:// or postgresql:// only"),
        ("sqlite://", "needs an SQLite file"),
        ("sqlite:///:memory:", "needs an SQLite file"),
    ],
)
def test_bad_catalog_urls(url, message):
    with pytest.raises(InvalidValue, match=message):
        create_catalog_engine(url)


def test_upgrade_creates_the_tables_once(tmp_path):
    url = f"sqlite:///{tmp_path}/sub/dir/catalog.sqlite"
    engine = create_catalog_engine(url)
    assert current_revision(engine) is None
    upgrade(url)
    upgrade(url)  # idempotent
    assert current_revision(engine) == head_revision() == "0002"
    tables = set(inspect(engine).get_table_names())
    assert tables == {t.name for t in models.Base.metadata.sorted_tables} | {"alembic_version"}
    engine.dispose()


def test_the_migrations_create_exactly_the_models(tmp_path):
    engine = create_catalog_engine(f"sqlite:///{tmp_path}/catalog.sqlite")
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, models.Base.metadata) == []
    engine.dispose()


def test_the_migrations_ship_with_the_package():
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


def test_session_factory_upgrades_first(tmp_path):
    sessions = session_factory(f"sqlite:///{tmp_path}/catalog.sqlite")
    with sessions() as session:
        assert session.query(models.Organisation).count() == 0


def test_sqlite_enforces_foreign_keys_and_checks(tmp_path):
    sessions = session_factory(f"sqlite:///{tmp_path}/catalog.sqlite")
    with sessions() as session:
        session.add(
            models.User(
                name="alice", organisation_id="nowhere", updated_at=_now(), updated_by="adam"
            )
        )
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            session.commit()
    with sessions() as session:
        session.add(
            models.Organisation(
                id="x", name="X", kind="government", created_at=_now(), created_by="adam"
            )
        )
        with pytest.raises(IntegrityError, match="CHECK"):
            session.commit()


def test_times_must_be_timezone_aware(tmp_path):
    from datetime import datetime

    from sqlalchemy.exc import StatementError

    sessions = session_factory(f"sqlite:///{tmp_path}/catalog.sqlite")
    with sessions() as session:
        naive = datetime(2026, 1, 1)
        session.add(
            models.Organisation(id="x", name="X", kind="other", created_at=naive, created_by="adam")
        )
        with pytest.raises(StatementError, match="timezone-aware"):
            session.commit()


def test_a_catalog_in_an_unwritable_place_is_a_clear_error(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(CatalogUnavailable, match="cannot open the catalog database"):
        upgrade(f"sqlite:///{path}")


def test_the_file_is_a_real_sqlite_database_in_wal_mode(tmp_path):
    path = tmp_path / "catalog.sqlite"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _upgrade_in_a_process(url: str) -> None:
    upgrade(url)


def test_processes_upgrading_a_new_sqlite_file_together_do_not_collide(tmp_path):
    # The hub, the airlock, the admin pages and the watcher all open the catalog at start.
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'catalog-{attempt}.sqlite'}"
        processes = [context.Process(target=_upgrade_in_a_process, args=(url,)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [p.exitcode for p in processes] == [0, 0, 0, 0]
        assert current_revision(create_catalog_engine(url)) == head_revision()
