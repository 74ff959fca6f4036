"""workflow, verification record, complete history, responsibility lists

Parcels keep the verification in force (who, which group, when, note, the area frozen at
that moment), the reason of a dispute and flags. Each parcel version also records its
note, the verification and flags of that moment and the townships supporting it
(support_ids), so that history and as-of tallies with cross-township credit are complete.
Projects get their responsibility list: problem, target, deadline and milestones.

Existing versions get the support their parcel has now (the only record there is), and
empty flags; existing verifications have no recorded verifier and stay NULL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json_list() -> sa.Column:
    return sa.Column(
        "flags",
        postgresql.JSONB(astext_type=sa.Text()),
        server_default=sa.text("'[]'::jsonb"),
        nullable=False,
    )


def _verification(with_note: bool) -> list[sa.Column]:
    columns = [
        sa.Column("verified_by", sa.Text(), nullable=True),
        sa.Column("verified_group", sa.Text(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
    ]
    if with_note:
        columns.append(sa.Column("verification_note", sa.Text(), nullable=True))
    columns.append(sa.Column("verified_area_m2", sa.Float(), nullable=True))
    return columns


def upgrade() -> None:
    for column in _verification(with_note=True):
        op.add_column("parcels", column)
    op.add_column("parcels", sa.Column("dispute_reason", sa.Text(), nullable=True))
    op.add_column("parcels", _json_list())

    op.add_column("parcel_versions", sa.Column("note", sa.Text(), nullable=True))
    for column in _verification(with_note=False):
        op.add_column("parcel_versions", column)
    op.add_column("parcel_versions", _json_list())
    op.add_column(
        "parcel_versions",
        sa.Column(
            "support_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'::integer[]"),
            nullable=False,
        ),
    )
    op.execute(
        """
        UPDATE parcel_versions v SET support_ids = s.ids
        FROM (SELECT parcel_id, array_agg(township_id ORDER BY township_id) AS ids
              FROM parcel_support GROUP BY parcel_id) s
        WHERE s.parcel_id = v.parcel_id
        """
    )

    op.add_column("projects", sa.Column("problem", sa.Text(), nullable=True))
    op.add_column("projects", sa.Column("target", sa.Text(), nullable=True))
    op.add_column("projects", sa.Column("deadline", sa.Date(), nullable=True))
    op.add_column(
        "projects",
        sa.Column(
            "milestones",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    for column in ("milestones", "deadline", "target", "problem"):
        op.drop_column("projects", column)
    for column in (
        "support_ids",
        "flags",
        "verified_area_m2",
        "verified_at",
        "verified_group",
        "verified_by",
        "note",
    ):
        op.drop_column("parcel_versions", column)
    for column in (
        "flags",
        "dispute_reason",
        "verified_area_m2",
        "verification_note",
        "verified_at",
        "verified_group",
        "verified_by",
    ):
        op.drop_column("parcels", column)
