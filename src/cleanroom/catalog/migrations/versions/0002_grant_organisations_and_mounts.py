"""Whose rows a grant holds, and which grants each server had mounted: ``grants.organisations``
and the ``mounts`` table.

Servers started before this revision left no record of what they mounted, yet files they
wrote may still be in a researcher's home. So every member of every project gets one mount
record holding every grant the project had so far (revoked and expired ones too): whatever
such a server could have mounted counts as mounted. Grants made before this revision have no
organisations recorded (NULL), so all organisations of their dataset version count.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("organisations", sa.JSON(), nullable=True))
    mounts = op.create_table(
        "mounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("grant_ids", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_mounts_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mounts")),
    )
    op.create_index("ix_mounts_user_project", "mounts", ["user_name", "project_id"])
    _record_earlier_servers(mounts)


def _record_earlier_servers(mounts: sa.Table) -> None:
    connection = op.get_bind()
    members = sa.table("members", sa.column("project_id"), sa.column("user_name"))
    grants = sa.table("grants", sa.column("id"), sa.column("project_id"))
    per_project: dict[int, list[int]] = {}
    for grant_id, project_id in connection.execute(sa.select(grants.c.id, grants.c.project_id)):
        per_project.setdefault(project_id, []).append(grant_id)
    moment = datetime.now(UTC)
    if connection.dialect.name == "sqlite":  # the catalog keeps naive UTC there
        moment = moment.replace(tzinfo=None)
    rows = [
        {
            "user_name": user_name,
            "project_id": project_id,
            "grant_ids": sorted(per_project.get(project_id, [])),
            "started_at": moment,
        }
        for project_id, user_name in connection.execute(
            sa.select(members.c.project_id, members.c.user_name)
        )
    ]
    if rows:
        op.bulk_insert(mounts, rows)


def downgrade() -> None:
    op.drop_index("ix_mounts_user_project", table_name="mounts")
    op.drop_table("mounts")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("organisations")
