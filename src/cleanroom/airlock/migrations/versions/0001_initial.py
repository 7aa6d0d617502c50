"""The first airlock schema: requests, file versions, checks, votes and comments (what
``Base.metadata.create_all`` made before the airlock used migrations, constraints in the
same order, so the two make the same SQL).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _request_id() -> sa.Column:
    return sa.Column("request_id", sa.String(40), nullable=False)


def _at(name: str = "at") -> sa.Column:
    return sa.Column(name, sa.DateTime(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("requester", sa.String(255), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("reviewers_required", sa.Integer(), nullable=True),
        sa.Column("data_owner_approval", sa.JSON(), nullable=False),
        sa.Column("contributing_organisations", sa.JSON(), nullable=False),
        sa.Column("policy_revision", sa.String(64), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_requests_project", "requests", ["project"])
    op.create_index("ix_requests_requester", "requests", ["requester"])
    op.create_index("ix_requests_state", "requests", ["state"])
    op.create_table(
        "comments",
        _id(),
        _request_id(),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("file", sa.String(255), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("visible_to_requester", sa.Boolean(), nullable=False),
        _at(),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
    )
    op.create_index("ix_comments_request_id", "comments", ["request_id"])
    op.create_table(
        "file_versions",
        _id(),
        _request_id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        _at("added_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "name", "version"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
    )
    op.create_index("ix_file_versions_request_id", "file_versions", ["request_id"])
    op.create_table(
        "checks",
        _id(),
        _request_id(),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("check", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        _at(),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["file_versions.id"]),
    )
    op.create_index("ix_checks_request_id", "checks", ["request_id"])
    op.create_table(
        "votes",
        _id(),
        _request_id(),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("visible_to_requester", sa.Boolean(), nullable=False),
        sa.Column("capacities", sa.JSON(), nullable=False),
        sa.Column("organisations", sa.JSON(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        _at(),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["file_versions.id"]),
    )
    op.create_index("ix_votes_file_id", "votes", ["file_id"])
    op.create_index("ix_votes_request_id", "votes", ["request_id"])
    # One vote that counts per reviewer and file version.
    op.create_index(
        "one_counting_vote",
        "votes",
        ["file_id", "reviewer"],
        unique=True,
        sqlite_where=sa.text("superseded = 0"),
    )


def downgrade() -> None:
    op.drop_table("votes")
    op.drop_table("checks")
    op.drop_table("file_versions")
    op.drop_table("comments")
    op.drop_table("requests")
