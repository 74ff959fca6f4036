"""the day it happened and the moment it was recorded: who entered a change, and when

A sign-off or status change has two times. `valid_from` of a parcel version (and
`parcels.verified_at` for the sign-off in force) is the moment it HAPPENED in the field
(核验日期): the tallies and as-of count it there. The moment it was entered (录入时间) and
who entered it are new: `parcel_versions.recorded_at`/`recorded_by`, and for the sign-off
in force `parcels.verification_recorded_at`/`verification_recorded_by`.

Versions written before this keep NULL in the new columns, read as "entered when it
happened, by whoever made the change" (valid_from, changed_by): the history is
append-only (migration 0023) and is not rewritten to fill them in.

Revision ID: 0024e_field_day
Revises: 0023_history_append_only
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024e_field_day"
down_revision: str | None = "0023_history_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("parcel_versions", sa.Column("recorded_at", _MOMENT, nullable=True))
    op.add_column("parcel_versions", sa.Column("recorded_by", sa.Text(), nullable=True))
    op.add_column("parcels", sa.Column("verification_recorded_at", _MOMENT, nullable=True))
    op.add_column("parcels", sa.Column("verification_recorded_by", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("parcels", "verification_recorded_by")
    op.drop_column("parcels", "verification_recorded_at")
    op.drop_column("parcel_versions", "recorded_by")
    op.drop_column("parcel_versions", "recorded_at")
