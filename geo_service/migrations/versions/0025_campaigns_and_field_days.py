"""join the two branches of 0023: campaigns as data (0024d) and field days (0024e)

They were written side by side and touch different tables; neither depends on the other.

Revision ID: 0025_campaigns_and_field_days
Revises: 0024d_campaigns, 0024e_field_day
Create Date: 2026-12-07
"""

from collections.abc import Sequence

revision: str = "0025_campaigns_and_field_days"
down_revision: str | Sequence[str] | None = ("0024d_campaigns", "0024e_field_day")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
