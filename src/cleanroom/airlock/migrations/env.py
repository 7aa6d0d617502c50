"""Alembic environment for the airlock: run in-process by ``cleanroom.airlock.db.upgrade``
(``create_airlock_engine`` calls it), which passes an open connection in
``config.attributes["connection"]``. To write a new revision (developers)::

    cd src/cleanroom/airlock/migrations
    alembic -x url=sqlite:////tmp/airlock.sqlite revision --autogenerate -m "what changed"

(``-x url=...`` names an airlock database at the current head.)
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from cleanroom.airlock.models import Base

target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later revisions use batch operations.
        render_as_batch=True,
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
        raise SystemExit("pass the database: alembic -x url=sqlite:////path/airlock.sqlite ...")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
