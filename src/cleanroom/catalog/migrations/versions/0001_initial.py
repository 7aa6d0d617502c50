"""The first catalog: organisations, users, datasets, versions, contributors, projects,
members, grants.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _who(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(255), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _when("created_at"),
        _who("created_by"),
        sa.CheckConstraint("kind IN ('depositor', 'other')", name=op.f("ck_organisations_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("organisation_id", sa.String(63), nullable=False),
        _when("updated_at"),
        _who("updated_by"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"])
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("contributor_column", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _when("created_at"),
        _who("created_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("column_types", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        _when("created_at"),
        _who("created_by"),
        sa.CheckConstraint("format IN ('parquet', 'csv')", name=op.f("ck_dataset_versions_format")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_dataset_versions_version_positive")),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_versions_dataset_id_datasets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
    )
    op.create_table(
        "contributors",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("organisation_id", sa.String(63), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_contributors_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_contributors_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "value", name=op.f("pk_contributors")),
    )
    op.create_index(op.f("ix_contributors_organisation_id"), "contributors", ["organisation_id"])
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _when("created_at"),
        _who("created_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "members",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _when("added_at"),
        _who("added_by"),
        sa.CheckConstraint("role IN ('researcher', 'reviewer')", name=op.f("ck_members_role")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_members_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["user_name"], ["users.name"], name=op.f("fk_members_user_name_users")
        ),
        sa.PrimaryKeyConstraint("project_id", "user_name", name=op.f("pk_members")),
    )
    op.create_index(op.f("ix_members_user_name"), "members", ["user_name"])
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=True),
        sa.Column("row_filter", sa.Text(), nullable=True),
        _when("expires_at", nullable=True),
        _when("granted_at"),
        _who("granted_by"),
        sa.Column("reason", sa.Text(), nullable=False),
        _when("revoked_at", nullable=True),
        _who("revoked_by", nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("materialisation_key", sa.String(255), nullable=True),
        sa.Column("materialisation_status", sa.String(16), nullable=False),
        sa.Column("materialisation_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "materialisation_status IN ('pending', 'ready', 'failed')",
            name=op.f("ck_grants_materialisation_status"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_grants_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_grants_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    op.create_index("ix_grants_project_id", "grants", ["project_id"])


def downgrade() -> None:
    op.drop_table("grants")
    op.drop_table("members")
    op.drop_table("projects")
    op.drop_table("contributors")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
    op.drop_table("users")
    op.drop_table("organisations")
