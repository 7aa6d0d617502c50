"""The catalog against a real PostgreSQL server: the whole service suite of
tests/unit/test_catalog_service.py (imported here, with ``catalog_url`` pointing at
PostgreSQL), the migrations, and what only a server shows (concurrent upgrades, a server that
is not there).

The server is the one scripts/start-postgres.sh starts (or ``$CLEANROOM_TEST_POSTGRES_URL``).
When it is not reachable these tests FAIL, saying to run that script. Each test session works
in a database of its own, created here and dropped at the end; each test starts from empty
tables.
"""

# ruff: noqa: E402 - imports follow registering catalog_fixtures for assert rewriting

from __future__ import annotations

import os
import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pytest

pytest.register_assert_rewrite("catalog_fixtures")

from catalog_fixtures import SEED_TABLES_WITH_SERIAL_IDS, Clock
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cleanroom.catalog import models
from cleanroom.catalog.db import (
    create_catalog_engine,
    current_revision,
    head_revision,
    session_factory,
    upgrade,
)
from cleanroom.catalog.errors import CatalogUnavailable
from cleanroom.catalog.service import CatalogService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_catalog_service import *  # noqa: F403 - the service suite, run again here

DEFAULT_URL = "postgresql://cleanroom_test:cleanroom_test@127.0.0.1:54329/cleanroom_test"


def _server_url() -> str:
    return os.environ.get("CLEANROOM_TEST_POSTGRES_URL", DEFAULT_URL)


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """A database of this session's own on the test server; dropped at the end."""
    url = _server_url()
    try:
        admin = psycopg.connect(_conninfo(url), autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(url).render_as_string()} ({error}): "
            "run scripts/start-postgres.sh",
            pytrace=False,
        )
    name = f"cleanroom_catalog_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        database_url = make_url(url).set(database=name).render_as_string(hide_password=False)
        try:
            upgrade(database_url)
            yield database_url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def catalog_url(postgres_database: str) -> str:
    """The session's database with every catalog table empty and ids starting at 1."""
    engine = create_catalog_engine(postgres_database)
    # DELETE is much faster than TRUNCATE on tables this small.
    with engine.begin() as connection:
        for table in reversed(models.Base.metadata.sorted_tables):
            connection.execute(table.delete())
        for name in SEED_TABLES_WITH_SERIAL_IDS:
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 1, false)")
            )
    engine.dispose()
    return postgres_database


def test_it_really_is_postgresql(catalog):
    engine = catalog.sessions.kw["bind"]
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    with engine.connect() as connection:
        assert connection.execute(text("SHOW server_version")).scalar().startswith("15")


def test_migrations_match_the_models_on_postgresql(postgres_database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_catalog_engine(postgres_database)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, models.Base.metadata) == []
    finally:
        engine.dispose()


def test_concurrent_upgrades_of_a_new_database_do_not_collide():
    url = _server_url()
    name = f"cleanroom_upgrade_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(_conninfo(url), autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        pytest.fail(f"PostgreSQL is not reachable ({error}): run scripts/start-postgres.sh")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        database_url = make_url(url).set(database=name).render_as_string(hide_password=False)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                upgrade(database_url)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        try:
            threads = [threading.Thread(target=run) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert errors == []
            engine = create_catalog_engine(database_url)
            assert current_revision(engine) == head_revision()
            engine.dispose()
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_server_that_is_not_there_is_a_clear_error():
    # A loopback port nobody listens on.
    url = "postgresql://nobody:nothing@127.0.0.1:9/catalog"
    with pytest.raises(CatalogUnavailable, match="check that PostgreSQL is running"):
        upgrade(url)


def test_a_dropped_connection_is_a_catalog_error(catalog, postgres_database):
    catalog.add_organisation("acme", "Acme", actor="adam")
    broken = CatalogService(
        session_factory(
            create_catalog_engine(
                make_url(postgres_database).set(port=9).render_as_string(hide_password=False)
            ),
            upgrade_schema=False,
        ),
        catalog.audit,
        clock=Clock(),
    )
    with pytest.raises(CatalogUnavailable, match="nothing was changed"):
        broken.create_project("p", actor="adam")
