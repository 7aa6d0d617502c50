"""Alembic environment for the catalog: run in-process by ``cleanroom.catalog.db.upgrade``,
which passes an open connection in ``config.attributes["connection"]``. To write a new
revision (developers)::

    cd src/cleanroom/catalog/migrations
    alembic -x url=sqlite:////tmp/catalog.sqlite revision --autogenerate -m "what changed"

(``-x url=...`` names a database at the current head; see docs/explanation/catalog.md.)
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from cleanroom.catalog.db import normalise_url
from cleanroom.catalog.models import Base

target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later revisions use batch operations there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database: alembic -x url=sqlite:////path/catalog.sqlite ...")
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        _run(conn)
