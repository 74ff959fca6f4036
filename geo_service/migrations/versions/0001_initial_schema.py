"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 23:54:17.022855
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "admin_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code_official", sa.Boolean(), nullable=False),
        sa.Column("boundary_approximate", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint("level IN ('city', 'district', 'township')", name="level_known"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["admin_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_geospatial_index(
        "ix_admin_units_geom",
        "admin_units",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_admin_units_name"), "admin_units", ["name"], unique=False)
    op.create_index(op.f("ix_admin_units_parent_id"), "admin_units", ["parent_id"], unique=False)
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("first_responsible", sa.Text(), nullable=True),
        sa.Column("direct_responsible", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["admin_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin_unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=True),
        sa.Column("amount_m2", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('land', 'demolition')", name="kind_known"),
        sa.CheckConstraint("amount_m2 >= 0", name="amount_non_negative"),
        sa.CheckConstraint("quarter IS NULL OR quarter BETWEEN 1 AND 4", name="quarter_range"),
        sa.ForeignKeyConstraint(
            ["admin_unit_id"],
            ["admin_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_target",
        "targets",
        ["admin_unit_id", "kind", "year", sa.literal_column("coalesce(quarter, 0)")],
        unique=True,
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("source_crs", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("parcel_count", sa.Integer(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["admin_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_table(
        "parcels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("declared_m2", sa.Float(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("upload_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('land', 'demolition')", name="kind_known"),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'delivered', 'demolished', 'verified', 'disputed')",
            name="status_known",
        ),
        sa.CheckConstraint("area_m2 > 0", name="area_positive"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["admin_units.id"],
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("township_id", "kind", "code", name="uq_parcel_code"),
    )
    op.create_geospatial_index(
        "ix_parcels_geom",
        "parcels",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_parcels_kind"), "parcels", ["kind"], unique=False)
    op.create_index(op.f("ix_parcels_project_id"), "parcels", ["project_id"], unique=False)
    op.create_index(op.f("ix_parcels_status"), "parcels", ["status"], unique=False)
    op.create_index(op.f("ix_parcels_township_id"), "parcels", ["township_id"], unique=False)
    op.create_table(
        "parcel_support",
        sa.Column("parcel_id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["parcel_id"], ["parcels.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["admin_units.id"],
        ),
        sa.PrimaryKeyConstraint("parcel_id", "township_id"),
    )
    op.create_geospatial_table(
        "parcel_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parcel_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("upload_id", sa.Integer(), nullable=True),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["parcel_id"], ["parcels.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["admin_units.id"],
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("parcel_id", "version", name="uq_parcel_version"),
    )
    op.create_geospatial_index(
        "ix_parcel_versions_geom",
        "parcel_versions",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_parcel_versions_validity", "parcel_versions", ["valid_from", "valid_to"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_parcel_versions_validity", table_name="parcel_versions")
    op.drop_geospatial_index(
        "ix_parcel_versions_geom",
        table_name="parcel_versions",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("parcel_versions")
    op.drop_table("parcel_support")
    op.drop_index(op.f("ix_parcels_township_id"), table_name="parcels")
    op.drop_index(op.f("ix_parcels_status"), table_name="parcels")
    op.drop_index(op.f("ix_parcels_project_id"), table_name="parcels")
    op.drop_index(op.f("ix_parcels_kind"), table_name="parcels")
    op.drop_geospatial_index(
        "ix_parcels_geom", table_name="parcels", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("parcels")
    op.drop_table("uploads")
    op.drop_index("uq_target", table_name="targets")
    op.drop_table("targets")
    op.drop_table("projects")
    op.drop_index(op.f("ix_admin_units_parent_id"), table_name="admin_units")
    op.drop_index(op.f("ix_admin_units_name"), table_name="admin_units")
    op.drop_geospatial_index(
        "ix_admin_units_geom", table_name="admin_units", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("admin_units")
