"""The catalog against a real PostgreSQL server: the migrations, and what only a server shows
(concurrent upgrades, a server that is not there, a dropped connection). The service suite of
tests/unit/catalog/test_service.py runs on PostgreSQL too (its ``[postgresql]`` cases).

The server is the one scripts/start-postgres.sh starts (or ``$CLEANROOM_TEST_POSTGRES_URL``).
When it is not reachable these tests FAIL, saying to run that script. Each test session works
in a database of its own (``postgres_database``, tests/fixtures/catalog.py), dropped at the
end; each test starts from empty tables.
"""

from __future__ import annotations

import os
import threading
import uuid

import psycopg
import pytest
from fixtures.catalog import Clock, postgres_conninfo, postgres_server_url
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

pytestmark = pytest.mark.postgres

ON_POSTGRESQL = pytest.mark.parametrize("catalog_url", ["postgresql"], indirect=True)


@ON_POSTGRESQL
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
    url = postgres_server_url()
    name = f"cleanroom_upgrade_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(postgres_conninfo(url), autocommit=True, connect_timeout=5)
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


def test_migration_0002_records_earlier_servers_on_postgresql():
    from unit.catalog.test_mounts import check_migration_0002

    url = postgres_server_url()
    name = f"cleanroom_0002_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(postgres_conninfo(url), autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        pytest.fail(f"PostgreSQL is not reachable ({error}): run scripts/start-postgres.sh")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        engine = create_catalog_engine(
            make_url(url).set(database=name).render_as_string(hide_password=False)
        )
        try:
            check_migration_0002(engine)
        finally:
            engine.dispose()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_server_that_is_not_there_is_a_clear_error():
    # A loopback port nobody listens on.
    url = "postgresql://nobody:nothing@127.0.0.1:9/catalog"
    with pytest.raises(CatalogUnavailable, match="check that PostgreSQL is running"):
        upgrade(url)


@ON_POSTGRESQL
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
