"""The requester's text as reviewers last saw it (``reviewed_text``): one row per request,
written when a review round ends.

A new table rather than new columns: SQLite's ALTER TABLE would make a schema that differs
from what ``create_all`` makes (tests/unit/airlock/test_db.py compares the two).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A file made by create_all (stamped at 0001) may have it already.
    if sa.inspect(op.get_bind()).has_table("reviewed_text"):
        return
    op.create_table(
        "reviewed_text",
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
    )
    # Requests whose last review round ended before this revision: what they hold now is
    # what reviewers saw (requests in review, or back before one, get a row when it ends).
    op.execute(
        "INSERT INTO reviewed_text (request_id, round, title, justification, ended_at) "
        "SELECT id, round, title, justification, updated_at FROM requests "
        "WHERE state IN ('approved', 'rejected', 'released', 'revoked')"
    )


def downgrade() -> None:
    op.drop_table("reviewed_text")
