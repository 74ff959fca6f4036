"""joins the versions' key check that leaves this transaction's own parcels unlocked
(0030i) with relocation targets per campaign (0030r)

The two were written side by side from 0029 and touch different things: 0030i replaces
the versions' key trigger function, 0030r adds relocation_targets.campaign_id. A schema has
one head; nothing to change here.

Revision ID: 0031_unlocked_and_targets
Revises: 0030i_own_parcels_unlocked, 0030r_relocation_target_campaign
Create Date: 2026-12-08
"""

from collections.abc import Sequence

revision: str = "0031_unlocked_and_targets"
down_revision: str | Sequence[str] | None = (
    "0030i_own_parcels_unlocked",
    "0030r_relocation_target_campaign",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
