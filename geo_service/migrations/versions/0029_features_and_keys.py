"""joins the parcels' stored feature text (0028a) with the version keys checked once per
statement (0028i)

The two were written side by side from 0027 and touch different things: 0028a keeps each
parcel's own part of its GeoJSON feature in parcel_features, 0028i checks a version's key
to its parcel once per statement. A schema has one head; nothing to change here.

Revision ID: 0029_features_and_keys
Revises: 0028a_parcel_features, 0028i_version_parcel_keys
Create Date: 2026-12-07
"""

from collections.abc import Sequence

revision: str = "0029_features_and_keys"
down_revision: str | Sequence[str] | None = ("0028a_parcel_features", "0028i_version_parcel_keys")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
