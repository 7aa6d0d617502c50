"""Verified tables: the specification a table was uploaded with (``table_specs``) and a
check's findings and metrics (``check_details``).

New tables rather than new columns: SQLite's ALTER TABLE would make a schema that differs
from what ``create_all`` makes (tests/unit/airlock/test_db.py compares the two).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = sa.inspect(op.get_bind())
    # A file made by create_all (stamped at 0001) may have them already.
    if not existing.has_table("check_details"):
        op.create_table(
            "check_details",
            sa.Column("check_id", sa.Integer(), nullable=False),
            sa.Column("findings", sa.JSON(), nullable=False),
            sa.Column("metrics", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("check_id"),
            sa.ForeignKeyConstraint(["check_id"], ["checks.id"]),
        )
    if not existing.has_table("table_specs"):
        op.create_table(
            "table_specs",
            sa.Column("file_id", sa.Integer(), nullable=False),
            sa.Column("spec", sa.JSON(), nullable=False),
            sa.Column("grant_id", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("file_id"),
            sa.ForeignKeyConstraint(["file_id"], ["file_versions.id"]),
        )


def downgrade() -> None:
    op.drop_table("table_specs")
    op.drop_table("check_details")
