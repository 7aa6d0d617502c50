"""The catalog database: engines, sessions, and schema upgrades (Alembic, run in-process).

    url = catalog_url(settings)        # CLEANROOM_CATALOG_URL, else <state>/catalog/catalog.sqlite
    upgrade(url)                       # create or migrate the tables (idempotent)
    sessions = session_factory(url)    # sessionmaker for CatalogService

An SQLite file by default; PostgreSQL by URL (``postgresql://user@host/db`` uses psycopg 3).
SQLite connections enforce foreign keys, use WAL, so readers (the spawner) never wait for
a writer, and synchronous=FULL (:func:`cleanroom.core.sqlite.configure_sqlite`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cleanroom.core.sqlite import configure_sqlite
from cleanroom.settings import default_catalog_url

from .errors import CatalogUnavailable, InvalidValue

if TYPE_CHECKING:
    from ..settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30
# Serialises concurrent upgrades of one PostgreSQL database (hub and CLI starting together).
_PG_LOCK_ID = int.from_bytes(hashlib.sha256(b"cleanroom-catalog").digest()[:4], "big")


def default_url(state_dir: str | os.PathLike[str]) -> str:
    return default_catalog_url(state_dir)


def catalog_url(settings: Settings) -> str:
    """The deployment's catalog URL: ``CLEANROOM_CATALOG_URL``, else the SQLite file."""
    return settings.catalog_url or default_url(settings.state_dir)


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; everything else is kept."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    configure_sqlite(dbapi_connection, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_S * 1000)


def create_catalog_engine(url: str) -> Engine:
    """An engine for ``url``; raises InvalidValue for a URL that is not a database URL."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise InvalidValue(
            f"the catalog URL {url!r} is not a database URL: use sqlite:////path/catalog.sqlite "
            "or postgresql://user@host/database"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidValue(
            f"the catalog URL {url!r} names {parsed.get_backend_name()!r}: the catalog runs on "
            "sqlite:// or postgresql:// only"
        )
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:"):
                raise InvalidValue(
                    "the catalog needs an SQLite file (sqlite:////path/catalog.sqlite), "
                    "not an in-memory database that every connection sees empty"
                )
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError as error:
        raise InvalidValue(
            f"the catalog URL {url!r} needs a driver that is missing: {error}"
        ) from None
    return engine


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Create the catalog's tables or migrate them to ``revision`` (idempotent). Raises
    CatalogUnavailable, saying what to check, when the database cannot be reached."""
    from alembic import command

    engine = (
        url_or_engine if isinstance(url_or_engine, Engine) else create_catalog_engine(url_or_engine)
    )
    try:
        with _sqlite_upgrade_lock(engine), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            command.upgrade(_alembic_config(connection), revision)
    except OperationalError as error:
        raise CatalogUnavailable(_unreachable(engine, error)) from None
    finally:
        if not isinstance(url_or_engine, Engine):
            engine.dispose()


@contextlib.contextmanager
def _sqlite_upgrade_lock(engine: Engine):
    """Serialise upgrades of one SQLite file across processes (the hub, its services and the
    command line start together). pysqlite opens no transaction for DDL, so two upgrades of
    a new file would both create the tables; an exclusive lock on a file beside it prevents
    that. PostgreSQL uses an advisory lock inside the transaction instead."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database:
        yield
        return
    with open(f"{database}.upgrade-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None: not created yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this code ships."""
    from alembic.script import ScriptDirectory

    with create_engine("sqlite://").connect() as connection:
        script = ScriptDirectory.from_config(_alembic_config(connection))
        head = script.get_current_head()
    assert head is not None
    return head


def session_factory(url_or_engine: str | Engine, *, upgrade_schema: bool = True) -> sessionmaker:
    """A sessionmaker for the catalog (objects stay readable after commit). With
    ``upgrade_schema`` the tables are created or migrated first."""
    engine = (
        url_or_engine if isinstance(url_or_engine, Engine) else create_catalog_engine(url_or_engine)
    )
    if upgrade_schema:
        upgrade(engine)
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


def _unreachable(engine: Engine, error: Exception) -> str:
    where = engine.url.render_as_string(hide_password=True)
    first = str(getattr(error, "orig", error)).strip().splitlines()[0:1]
    detail = f" ({first[0]})" if first else ""
    if engine.dialect.name == "postgresql":
        return (
            f"cannot reach the catalog database {where}{detail}: check that PostgreSQL is "
            "running and the URL, role and password are right (for tests: "
            "scripts/start-postgres.sh)"
        )
    return (
        f"cannot open the catalog database {where}{detail}: check that the directory exists "
        "and is writable by this user"
    )
