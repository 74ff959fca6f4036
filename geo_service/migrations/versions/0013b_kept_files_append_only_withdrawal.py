"""kept upload files, append-only history, withdrawn parcels

Every accepted upload keeps the file it was made from, content-addressed: `upload_files`
holds each distinct file once under its SHA-256, and `uploads.file_sha256` names it.

The history is append-only in the database itself: a trigger on `parcel_versions` refuses
DELETE, and any UPDATE except closing the open version (setting `valid_to` once, nothing
else). `refuse_change()` is there for tables that are never changed at all (audit logs).

A parcel is withdrawn (soft delete), never deleted: status `withdrawn`, with who, when and
why on the parcel and a new version.

Revision ID: 0013b
Revises: 0003_accounts
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013b"
down_revision: str | None = "0003_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "'planned', 'in_progress', 'delivered', 'demolished', 'verified', 'disputed'"

_HISTORY_FUNCTION = """
CREATE OR REPLACE FUNCTION history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    closing timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.valid_to IS NULL AND NEW.valid_to IS NOT NULL THEN
        -- Closing the open version is the one change a history row may take.
        closing := NEW.valid_to;
        NEW.valid_to := NULL;
        IF NEW IS NOT DISTINCT FROM OLD THEN
            NEW.valid_to := closing;
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused (withdraw a parcel instead of deleting it)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""

_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.create_table(
        "upload_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    )
    op.add_column(
        "uploads",
        sa.Column("file_sha256", sa.String(64), sa.ForeignKey("upload_files.sha256")),
    )
    op.add_column("uploads", sa.Column("file_name", sa.Text()))
    for name, kind in (
        ("withdrawn_at", sa.DateTime(timezone=True)),
        ("withdrawn_by", sa.Text()),
        ("withdrawn_reason", sa.Text()),
    ):
        op.add_column("parcels", sa.Column(name, kind))
    op.drop_constraint("status_known", "parcels", type_="check")
    op.create_check_constraint("status_known", "parcels", f"status IN ({_STATUSES}, 'withdrawn')")
    op.execute(_HISTORY_FUNCTION)
    op.execute(_REFUSE_FUNCTION)
    op.execute(
        "CREATE TRIGGER parcel_versions_append_only BEFORE UPDATE OR DELETE ON parcel_versions "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        "CREATE TRIGGER upload_files_append_only BEFORE UPDATE OR DELETE ON upload_files "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER upload_files_append_only ON upload_files")
    op.execute("DROP TRIGGER parcel_versions_append_only ON parcel_versions")
    op.execute("DROP FUNCTION refuse_change()")
    op.execute("DROP FUNCTION history_append_only()")
    op.drop_constraint("status_known", "parcels", type_="check")
    op.create_check_constraint("status_known", "parcels", f"status IN ({_STATUSES})")
    for name in ("withdrawn_reason", "withdrawn_by", "withdrawn_at"):
        op.drop_column("parcels", name)
    op.drop_column("uploads", "file_name")
    op.drop_column("uploads", "file_sha256")
    op.drop_table("upload_files")
