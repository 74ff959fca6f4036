"""joins the field app and its photos (0026f_with_photos) with the set-wise imports (0026i);
the field app's tables name their parcel through its district

The two branches were written side by side from 0025, and a schema has one head. The
positions of field changes (0026f) and the parcels' photos (0026p) referenced a parcel by
its id alone, which a parcels table partitioned by district cannot be (0017,
docs/scaling.md): like parcel_support, they now carry the parcel's district, filled in by
the database from the parcel, and reference `(district_id, parcel_id)`.

Revision ID: 0027_field_and_imports
Revises: 0026f_with_photos, 0026i_setwise_imports
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027_field_and_imports"
down_revision: str | Sequence[str] | None = ("0026f_with_photos", "0026i_setwise_imports")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TABLES = {"version_positions": " ON DELETE CASCADE", "parcel_photos": ""}


def upgrade() -> None:
    for table, cascade in TABLES.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN district_id integer")
        # Append-only tables: this one-off fill is the owner's, with the guard off.
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        op.execute(
            f"UPDATE {table} t SET district_id = p.district_id FROM parcels p "
            "WHERE p.id = t.parcel_id"
        )
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN district_id SET NOT NULL")
        op.execute(
            f"CREATE TRIGGER {table}_district BEFORE INSERT ON {table} FOR EACH ROW "
            "WHEN (NEW.district_id IS NULL) EXECUTE FUNCTION district_of_parcel()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_district")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_district_parcel "
            "FOREIGN KEY (district_id, parcel_id) REFERENCES parcels (district_id, id)" + cascade
        )
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_parcel_id_fkey")


def downgrade() -> None:
    for table, cascade in TABLES.items():
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_parcel_id_fkey "
            "FOREIGN KEY (parcel_id) REFERENCES parcels (id)" + cascade
        )
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_district_parcel")
        op.execute(f"DROP TRIGGER {table}_district ON {table}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN district_id")
