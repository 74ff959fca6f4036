"""joins the field app's positions and replays (0026f) with the parcel photos (0026p)

No change of its own: the field branch merged the photos branch to queue photos with its
sign-offs, and a schema has one head.

Revision ID: 0026f_with_photos
Revises: 0026f_field_positions, 0026p_parcel_photos
Create Date: 2026-12-07
"""

from collections.abc import Sequence

revision: str = "0026f_with_photos"
down_revision: str | Sequence[str] | None = ("0026f_field_positions", "0026p_parcel_photos")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
