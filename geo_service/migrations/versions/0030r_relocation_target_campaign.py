"""a relocation target may belong to a campaign

Two campaigns starting in one year shared one relocation target, keyed by the year. A
target set for a campaign now names it (`campaign_id`); a target set for a year keeps no
campaign and stays the fallback of every campaign starting in that year, so the targets
on record and `targets set --kind relocation --year` keep working. One target per unit
and campaign, and one per unit and year among the year's own.

Revision ID: 0030r_relocation_target_campaign
Revises: 0029_features_and_keys
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030r_relocation_target_campaign"
down_revision: str | Sequence[str] | None = "0029_features_and_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "relocation_targets",
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=True),
    )
    op.drop_constraint("uq_relocation_target", "relocation_targets", type_="unique")
    op.create_index(
        "uq_relocation_target_year", "relocation_targets", ["admin_unit_id", "year"],
        unique=True, postgresql_where=sa.text("campaign_id IS NULL"),
    )  # fmt: skip
    op.create_index(
        "uq_relocation_target_campaign", "relocation_targets", ["admin_unit_id", "campaign_id"],
        unique=True, postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )  # fmt: skip


def downgrade() -> None:
    # A campaign's own targets have no place in a table keyed by year alone.
    op.execute("DELETE FROM relocation_targets WHERE campaign_id IS NOT NULL")
    op.drop_index("uq_relocation_target_campaign", "relocation_targets")
    op.drop_index("uq_relocation_target_year", "relocation_targets")
    op.create_unique_constraint(
        "uq_relocation_target", "relocation_targets", ["admin_unit_id", "year"]
    )
    op.drop_column("relocation_targets", "campaign_id")
