"""two checks every imported row paid for and nothing needed

An import writes every parcel twice (the parcel and its first version), and each row's
indexes and foreign keys are checked one by one. Two of them said nothing the others do
not already say:

- `parcel_versions.district_id REFERENCES admin_units`: a version references its parcel
  through `(district_id, parcel_id)` (migration 0017; both columns NOT NULL, so the key is
  always checked), and that parcel's `district_id` references `admin_units` itself. A
  version's district is therefore a district that exists, and cannot be deleted while the
  parcel holds it. About 3.5 µs a row, 0.35 s of an import of 100,000 parcels.
- the index `ix_parcels_township_id`: the unique key `(township_id, kind, code,
  district_id)` starts with the township and serves every lookup by township alone.

Revision ID: 0020_redundant_import_keys
Revises: 0019_overlap_groups
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020_redundant_import_keys"
down_revision: str | None = "0019_overlap_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE parcel_versions DROP CONSTRAINT parcel_versions_district_id_fkey")
    op.execute("DROP INDEX ix_parcels_township_id")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_parcels_township_id ON parcels (township_id)")
    op.execute(
        "ALTER TABLE parcel_versions ADD CONSTRAINT parcel_versions_district_id_fkey "
        "FOREIGN KEY (district_id) REFERENCES admin_units (id)"
    )
