"""upload records keep their counts and report

An accepted upload already had a row (who, when, file, parcels, area). The workbench lists
past uploads with what happened to each feature and links to its report, so the row also
keeps the counts (features read, rejected, created, changed, unchanged), the project and
status asked for, and the problem report itself (every problem, its rule and place, and
the problem features' shapes in lon/lat). Rows from before this migration have no report.

Revision ID: 0014_upload_reports
Revises: 0004_target_history
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_upload_reports"
down_revision: str | None = "0004_target_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("features", "rejected", "created", "changed", "unchanged")


def upgrade() -> None:
    for name in _COUNTS:
        op.add_column("uploads", sa.Column(name, sa.Integer(), nullable=True))
    op.add_column("uploads", sa.Column("project", sa.Text(), nullable=True))
    op.add_column("uploads", sa.Column("status", sa.String(16), nullable=True))
    op.add_column("uploads", sa.Column("report", postgresql.JSONB(), nullable=True))
    op.create_index("ix_uploads_created_at", "uploads", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_uploads_created_at", table_name="uploads")
    for name in ("report", "status", "project", *_COUNTS):
        op.drop_column("uploads", name)
