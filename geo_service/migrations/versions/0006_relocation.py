"""relocation (回迁): resettlement projects, households, flats, their history and targets

Households (被征迁户) hang off demolition parcels; resettlement projects (安置房项目) have a
site, flats planned by size class and the townships they serve; flats carry their
allocation, hand-over (交房) and title (办证) dates. relocation_versions keeps every state
of every household, flat and project (who, when, before), so as-of tallies are exact.
Relocation targets (households, flats, m²) are a table of their own, beside `targets`.

Revision ID: 0006_relocation
Revises: 0003_accounts
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0006_relocation"
down_revision: str | None = "0013b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())


def _current_state() -> list[sa.Column]:
    return [
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "resettlement_projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("admin_units.id"), nullable=False),
        sa.Column("responsibility_id", sa.Integer(), sa.ForeignKey("projects.id")),
        sa.Column(
            "geom",
            Geometry("MULTIPOLYGON", srid=4490, spatial_index=False),
            nullable=True,
        ),
        sa.Column("site_m2", sa.Float()),
        sa.Column("flats_by_size", JSONB, server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("floor_area_m2", sa.Float()),
        sa.Column("planned_completion", sa.Date()),
        sa.Column("actual_completion", sa.Date()),
        *_current_state(),
    )
    op.create_index(
        "ix_resettlement_projects_geom",
        "resettlement_projects",
        ["geom"],
        postgresql_using="gist",
    )
    op.create_table(
        "resettlement_project_townships",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("resettlement_projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("township_id", sa.Integer(), sa.ForeignKey("admin_units.id"), primary_key=True),
    )
    op.create_table(
        "households",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("parcel_id", sa.Integer(), sa.ForeignKey("parcels.id"), nullable=False),
        sa.Column("township_id", sa.Integer(), sa.ForeignKey("admin_units.id"), nullable=False),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("resettlement_projects.id")),
        sa.Column("head_name", sa.Text()),
        sa.Column("id_hash", sa.String(64)),
        sa.Column("demolished_m2", sa.Float()),
        sa.Column("compensation", sa.String(8), nullable=False),
        sa.Column("flats_due", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("area_due_m2", sa.Float()),
        sa.Column("transition_start", sa.Date()),
        sa.Column("monthly_allowance", sa.Float()),
        sa.Column("promised_handover", sa.Date()),
        sa.Column("title_deadline", sa.Date()),
        *_current_state(),
        sa.CheckConstraint("compensation IN ('flats', 'cash', 'mixed')", name="compensation_known"),
        sa.CheckConstraint("flats_due >= 0", name="flats_due_non_negative"),
    )
    op.create_index("ix_households_parcel_id", "households", ["parcel_id"])
    op.create_index("ix_households_township_id", "households", ["township_id"])
    op.create_index(
        "uq_household_id_hash",
        "households",
        ["id_hash"],
        unique=True,
        postgresql_where=sa.text("id_hash IS NOT NULL"),
    )
    op.create_table(
        "flats",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("resettlement_projects.id"),
            nullable=False,
        ),
        sa.Column("building", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("size_class", sa.String(16)),
        sa.Column("floor_area_m2", sa.Float(), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("households.id")),
        sa.Column("allocated_on", sa.Date()),
        sa.Column("handed_over_on", sa.Date()),
        sa.Column("certified_on", sa.Date()),
        *_current_state(),
        sa.UniqueConstraint("project_id", "building", "unit", name="uq_flat"),
        sa.CheckConstraint("floor_area_m2 > 0", name="floor_area_positive"),
    )
    op.create_index("ix_flats_project_id", "flats", ["project_id"])
    op.create_index("ix_flats_household_id", "flats", ["household_id"])
    op.create_table(
        "relocation_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("before", JSONB),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text()),
        sa.UniqueConstraint("entity", "entity_id", "version", name="uq_relocation_version"),
        sa.CheckConstraint(
            "entity IN ('household', 'flat', 'project')",
            name="entity_known",
        ),
    )
    op.create_index(
        "ix_relocation_versions_validity",
        "relocation_versions",
        ["entity", "valid_from", "valid_to"],
    )
    op.create_table(
        "relocation_targets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("admin_unit_id", sa.Integer(), sa.ForeignKey("admin_units.id"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer()),
        sa.Column("flats", sa.Integer()),
        sa.Column("floor_area_m2", sa.Float()),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("admin_unit_id", "year", name="uq_relocation_target"),
        sa.CheckConstraint(
            "coalesce(households, 0) >= 0 AND coalesce(flats, 0) >= 0"
            " AND coalesce(floor_area_m2, 0) >= 0",
            name="relocation_target_non_negative",
        ),
    )


def downgrade() -> None:
    for table in (
        "relocation_targets",
        "relocation_versions",
        "flats",
        "households",
        "resettlement_project_townships",
        "resettlement_projects",
    ):
        op.drop_table(table)
