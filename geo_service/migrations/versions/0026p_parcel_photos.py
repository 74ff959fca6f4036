"""parcel photos: what the verification teams photograph on site, kept with the parcel's
version

A photo row names the parcel, the parcel version it belongs to (the state the team saw)
and its images, each kept once in the content-addressed store of kept files
(`upload_files`, under its SHA-256): the file the phone sent, the display-size JPEG, the
thumbnail and, when asked, the camera's original. The same file sent again for the same
parcel is the same row (unique on parcel and checksum), so a phone's resend is harmless.

Append-only like every history table: UPDATE, DELETE and TRUNCATE are refused by trigger
(`refuse_change()`, migration 0013b); the service's role may read and add only
(app_role.HISTORY).

Revision ID: 0026p_parcel_photos
Revises: 0025_campaigns_and_field_days
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026p_parcel_photos"
down_revision: str | Sequence[str] | None = "0025_campaigns_and_field_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _kept(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(64), sa.ForeignKey("upload_files.sha256"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "parcel_photos",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parcel_id", sa.Integer, sa.ForeignKey("parcels.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _kept("sha256"),
        _kept("display_sha256"),
        _kept("thumb_sha256"),
        _kept("original_sha256", nullable=True),
        sa.Column("mime", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("original_mime", sa.String(32)),
        sa.Column("original_bytes", sa.BigInteger),
        sa.Column("taken_at", sa.DateTime(timezone=True)),
        sa.Column("taken_from", sa.String(8)),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("position_from", sa.String(8)),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column(
            "uploaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("parcel_id", "sha256", name="uq_parcel_photo_content"),
        sa.CheckConstraint("version >= 1", name="photo_version_positive"),
        sa.CheckConstraint(
            "(lon IS NULL) = (lat IS NULL) AND (lon IS NULL OR "
            "(lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90))",
            name="photo_position_valid",
        ),
        sa.CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="photo_accuracy_valid"),
        sa.CheckConstraint(
            "taken_from IS NULL OR taken_from IN ('exif', 'form')", name="photo_taken_from_known"
        ),
        sa.CheckConstraint(
            "position_from IS NULL OR position_from IN ('exif', 'form')",
            name="photo_position_from_known",
        ),
    )
    op.create_index("ix_parcel_photos_parcel", "parcel_photos", ["parcel_id", "id"])
    op.execute(
        "CREATE TRIGGER parcel_photos_append_only BEFORE UPDATE OR DELETE ON parcel_photos "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER parcel_photos_no_truncate BEFORE TRUNCATE ON parcel_photos "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )


def downgrade() -> None:
    op.drop_table("parcel_photos")
