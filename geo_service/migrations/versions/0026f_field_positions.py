"""where a change was made from, and requests a phone may send twice

The field app (issue 25) signs off, disputes and moves parcels from the place itself, often
long after the tap (the phone queues the action until a signal returns). Two things follow:

- `version_positions`: the phone's position (lon/lat in EPSG:4490, and the accuracy the
  phone claimed, in metres) when it made the change that wrote a parcel version. One row per
  version at most; history, so append-only like the versions themselves (`refuse_change()`,
  migration 0013b). Kept beside `parcel_versions` rather than as columns on it: the version
  row is written by the workflow the pages, the CLI and the files share, and none of them has
  a position.
- `replayed_requests`: the response of a write sent with an `Idempotency-Key` header, per
  user and key. The phone sends the same key again when it did not hear the answer (the
  signal dropped after the server stored it); the stored response is returned instead of
  acting twice. Not history: rows older than the keep period may be deleted.

Revision ID: 0026f_field_positions
Revises: 0025_campaigns_and_field_days
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0026f_field_positions"
down_revision: str | None = "0025_campaigns_and_field_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "version_positions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "parcel_id",
            sa.Integer(),
            sa.ForeignKey("parcels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4490, spatial_index=False), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("recorded_at", _MOMENT, nullable=False, server_default=sa.text("now()")),
        sa.UniqueConstraint("parcel_id", "version", name="uq_version_position"),
        sa.CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="accuracy_not_negative"),
    )
    op.execute(
        "CREATE TRIGGER version_positions_append_only BEFORE UPDATE OR DELETE "
        "ON version_positions FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER version_positions_no_truncate BEFORE TRUNCATE ON version_positions "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    op.create_table(
        "replayed_requests",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", JSONB(), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("username", "key", name="pk_replayed_requests"),
    )
    op.create_index("ix_replayed_requests_created_at", "replayed_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_replayed_requests_created_at", table_name="replayed_requests")
    op.drop_table("replayed_requests")
    op.drop_table("version_positions")
