"""target history: every value a target had, who set it and when

Each target keeps its versions (amount, unit, source, who, valid from/to), so that a
tally or map for a past day uses the target in force then. Existing targets get one
version each, valid from when they were last written.

Revision ID: 0004_target_history
Revises: 0003_accounts
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_target_history"
down_revision: str | None = "0007_campaign"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "target_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "target_id",
            sa.Integer(),
            sa.ForeignKey("targets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("amount_m2", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("source", sa.Text()),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("target_id", "version", name="uq_target_version"),
    )
    op.create_index("ix_target_versions_target", "target_versions", ["target_id", "valid_from"])
    op.execute(
        "INSERT INTO target_versions "
        "(target_id, version, amount_m2, unit, source, changed_by, valid_from) "
        "SELECT id, 1, amount_m2, unit, source, updated_by, updated_at FROM targets"
    )


def downgrade() -> None:
    op.drop_table("target_versions")
