"""relocation sign-off: a household signed off (or disputed) by 回迁核验组

Four nullable columns on households; their values enter the household's versions in
relocation_versions like every other column, so sign-offs are tallied as of any day.

Revision ID: 0015_relocation_signoff
Revises: 0014_upload_reports
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_relocation_signoff"
down_revision: str | None = "0014_upload_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("households", sa.Column("signoff", sa.String(8)))
    op.add_column("households", sa.Column("signed_off_by", sa.Text()))
    op.add_column("households", sa.Column("signed_off_on", sa.Date()))
    op.add_column("households", sa.Column("dispute_reason", sa.Text()))
    op.create_check_constraint(
        "signoff_known", "households", "signoff IS NULL OR signoff IN ('verified', 'disputed')"
    )


def downgrade() -> None:
    op.drop_constraint("signoff_known", "households", type_="check")
    for column in ("dispute_reason", "signed_off_on", "signed_off_by", "signoff"):
        op.drop_column("households", column)
