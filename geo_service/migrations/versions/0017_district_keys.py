"""district code in the keys of the large tables, the way to partitioning and Citus

Overlap checks, tallies and uploads never cross a district, so the district is the key a
growing database is split by (docs/scaling.md): one partition per district, or the
distribution column of Citus. This migration puts `district_id` into `parcels`,
`parcel_versions`, `parcel_support` and `households`, and into their keys:

- `parcels`: unique on `(district_id, id)` and `(township_id, kind, code, district_id)`;
- `parcel_versions`: unique on `(parcel_id, version, district_id)`, and its parcel is
  referenced through `(district_id, parcel_id)`;
- `parcel_support`: its parcel through `(district_id, parcel_id)`;
- `households`: its demolished parcel through `(district_id, parcel_id)`.

The district comes last in the unique keys so that today's lookups by township, kind and
code (or by parcel and version) still use them; the references by `parcel_id` alone are
dropped, since the composite ones say more and a partitioned `parcels` could not be
referenced by `id` alone. Partitioning then only swaps the primary key of `parcels` for
`(district_id, id)`.

Writers need not know: a row trigger fills the district from the township when an
insert leaves it empty (bulk imports give it themselves, so the trigger's `WHEN` skips
them), and refuses to move a parcel to another district, which would split its history
across partitions. The fill triggers fire in replica mode too (`ENABLE ALWAYS`): they
define data, unlike the history guard that tests switch off to back-date versions.

Revision ID: 0017_district_keys
Revises: 0016_tally_insert_flags
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_district_keys"
down_revision: str | None = "0016_tally_insert_flags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("parcels", "parcel_versions", "parcel_support", "households")

_FILL = """
CREATE FUNCTION district_of_township() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    district integer;
BEGIN
    SELECT parent_id INTO district FROM admin_units WHERE id = NEW.township_id;
    IF TG_OP = 'UPDATE' AND district IS DISTINCT FROM OLD.district_id THEN
        RAISE EXCEPTION '% %: a parcel cannot move to another district', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.district_id := district;
    RETURN NEW;
END $$
"""

# parcel_support keys on the supporting township, not the host: its district is the parcel's.
_FILL_SUPPORT = """
CREATE FUNCTION district_of_parcel() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT district_id INTO NEW.district_id FROM parcels WHERE id = NEW.parcel_id;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.execute(_FILL)
    op.execute(_FILL_SUPPORT)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN district_id integer REFERENCES admin_units(id)")
    _fill_existing_rows()
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN district_id SET NOT NULL")
    _keys()
    _triggers()


def _fill_existing_rows() -> None:
    # The history is append-only by trigger: this one-off fill is the owner's, with it off.
    op.execute("ALTER TABLE parcel_versions DISABLE TRIGGER parcel_versions_append_only")
    for table in ("parcels", "parcel_versions", "households"):
        op.execute(
            f"UPDATE {table} t SET district_id = u.parent_id "
            "FROM admin_units u WHERE u.id = t.township_id"
        )
    op.execute(
        "UPDATE parcel_support s SET district_id = p.district_id "
        "FROM parcels p WHERE p.id = s.parcel_id"
    )
    op.execute("ALTER TABLE parcel_versions ENABLE TRIGGER parcel_versions_append_only")


def _keys() -> None:
    op.execute("ALTER TABLE parcels ADD CONSTRAINT uq_parcels_district_id UNIQUE (district_id, id)")
    op.execute("ALTER TABLE parcels DROP CONSTRAINT uq_parcel_code")
    op.execute(
        "ALTER TABLE parcels ADD CONSTRAINT uq_parcel_code "
        "UNIQUE (township_id, kind, code, district_id)"
    )
    op.execute("ALTER TABLE parcel_versions DROP CONSTRAINT uq_parcel_version")
    op.execute(
        "ALTER TABLE parcel_versions ADD CONSTRAINT uq_parcel_version "
        "UNIQUE (parcel_id, version, district_id)"
    )
    for table, cascade in (
        ("parcel_versions", " ON DELETE CASCADE"),
        ("parcel_support", " ON DELETE CASCADE"),
        ("households", ""),
    ):
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_district_parcel "
            "FOREIGN KEY (district_id, parcel_id) REFERENCES parcels (district_id, id)" + cascade
        )
    for table in ("parcel_versions", "parcel_support", "households"):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_parcel_id_fkey")
    op.execute("CREATE INDEX ix_parcel_support_district ON parcel_support (district_id, parcel_id)")
    op.execute("CREATE INDEX ix_households_district ON households (district_id, parcel_id)")


def _triggers() -> None:
    for table in ("parcels", "parcel_versions", "households"):
        op.execute(
            f"CREATE TRIGGER {table}_district BEFORE INSERT ON {table} FOR EACH ROW "
            "WHEN (NEW.district_id IS NULL) EXECUTE FUNCTION district_of_township()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_district")
    for table in ("parcels", "households"):
        op.execute(
            f"CREATE TRIGGER {table}_district_kept BEFORE UPDATE OF township_id ON {table} "
            "FOR EACH ROW WHEN (NEW.township_id IS DISTINCT FROM OLD.township_id) "
            "EXECUTE FUNCTION district_of_township()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_district_kept")
    op.execute(
        "CREATE TRIGGER parcel_support_district BEFORE INSERT ON parcel_support FOR EACH ROW "
        "WHEN (NEW.district_id IS NULL) EXECUTE FUNCTION district_of_parcel()"
    )
    op.execute("ALTER TABLE parcel_support ENABLE ALWAYS TRIGGER parcel_support_district")


def downgrade() -> None:
    for table in ("parcels", "parcel_versions", "households"):
        op.execute(f"DROP TRIGGER {table}_district ON {table}")
    for table in ("parcels", "households"):
        op.execute(f"DROP TRIGGER {table}_district_kept ON {table}")
    op.execute("DROP TRIGGER parcel_support_district ON parcel_support")
    for table, cascade in (
        ("parcel_versions", " ON DELETE CASCADE"),
        ("parcel_support", " ON DELETE CASCADE"),
        ("households", ""),
    ):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_district_parcel")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_parcel_id_fkey "
            "FOREIGN KEY (parcel_id) REFERENCES parcels (id)" + cascade
        )
    op.execute("DROP INDEX ix_parcel_support_district")
    op.execute("DROP INDEX ix_households_district")
    op.execute("ALTER TABLE parcel_versions DROP CONSTRAINT uq_parcel_version")
    op.execute(
        "ALTER TABLE parcel_versions ADD CONSTRAINT uq_parcel_version UNIQUE (parcel_id, version)"
    )
    op.execute("ALTER TABLE parcels DROP CONSTRAINT uq_parcel_code")
    op.execute("ALTER TABLE parcels ADD CONSTRAINT uq_parcel_code UNIQUE (township_id, kind, code)")
    op.execute("ALTER TABLE parcels DROP CONSTRAINT uq_parcels_district_id")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN district_id")
    op.execute("DROP FUNCTION district_of_parcel()")
    op.execute("DROP FUNCTION district_of_township()")
