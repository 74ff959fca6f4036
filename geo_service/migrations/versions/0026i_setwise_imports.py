"""set-wise imports: the insert's overlap probe only where the importer found a box that
meets another, and no search for a version to close before a parcel's first

At 1,000,000 new parcels the tally trigger's overlap probe (one spatial index probe per
inserted row, migration 0016) took 18 s, although the importer had already put every
feature's box beside every other's and beside the stored parcels' (shapely, a second).
An import now lists the codes whose box meets another box in `pg_temp.import_probe`
and says so with `SET LOCAL geo_service.insert_probe = 'listed'`: the trigger probes those
rows only, and the others stay not overlapping, which a box that meets nothing proves.
Any other INSERT (no setting) probes every row as before. The flags and totals are the
same: tests/test_maintained_tallies.py and tests/test_setwise_import.py compare them with
the full computation and with the probe of every row.

The keys parcels and their versions hold to the small tables (township, district,
project, upload) were foreign keys, checked by a trigger per row: 7 index look-ups per new
parcel, 30 s at 1,000,000. They are checked once per statement now: the statement's rows
whose key names no row are refused (foreign_key_violation, as before) and the rows they
name are locked FOR KEY SHARE, as a foreign key locks them; deleting or renumbering a
township, district or project that parcels or their history still name is refused
(uploads refuse any change already, 0023). The composite key of a version to its parcel
(0017) stays a foreign key.

A parcel's first version has no version before it to close: the close trigger (0023)
searched the history for one on every insert, 100,000 index probes per 100,000 new
parcels. It now runs for later versions (and for a first one that comes with a close,
which it refuses).

Revision ID: 0026i_setwise_imports
Revises: 0025_campaigns_and_field_days
Create Date: 2026-12-07
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0026i_setwise_imports"
down_revision: str | Sequence[str] | None = "0025_campaigns_and_field_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision(name: str):
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_migration_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The rows the insert probes when the writer listed them. In a branch of its own: PL/pgSQL
# plans a statement when it first runs, so a session with no list never looks for one.
_LISTED = """
        WITH probed AS (
            SELECT n.* FROM new_rows n JOIN pg_temp.import_probe c ON c.code = n.code
        ),"""


def _maintain(listed: bool) -> str:
    """tally_maintain() with the day key (0024d) and the insert's flags (0016); with
    `listed`, probing only the listed rows when the writer set geo_service.insert_probe."""
    m16, m24 = _revision("0016_tally_insert_flags"), _revision("0024d_campaigns")
    m16._KEY = m16._KEY.replace(m24._YEAR_KEY, m24._DAY_KEY)
    assert "verified_day" in m16._KEY
    every = m16._FLAG_INSERTED
    if not listed:
        return m16._function(every)
    some = every.replace("WITH pairs AS (", _LISTED + " pairs AS (", 1)
    some = some.replace("FROM new_rows n JOIN parcels o", "FROM probed n JOIN parcels o")
    some = some.replace(
        "SELECT n.id, false AS overlapping FROM new_rows n",
        "SELECT n.id, false AS overlapping FROM probed n",
    )
    assert some.count("probed n") == 2
    flags = f"""
        IF current_setting('geo_service.insert_probe', true) = 'listed' THEN
            {some}
        ELSE
            {every}
        END IF;"""
    return m16._function(flags)


# (child table, column, parent table): what the per-row foreign keys checked.
KEYS = (
    ("parcels", "township_id", "admin_units"),
    ("parcels", "district_id", "admin_units"),
    ("parcels", "project_id", "projects"),
    ("parcels", "upload_id", "uploads"),
    ("parcel_versions", "township_id", "admin_units"),
    ("parcel_versions", "project_id", "projects"),
    ("parcel_versions", "upload_id", "uploads"),
)
# Who may still name a parent's row: (parent, [(child, column)]); uploads refuse changes.
KEPT = {
    "admin_units": [("parcels", "township_id"), ("parcels", "district_id"),
                    ("parcel_versions", "township_id")],
    "projects": [("parcels", "project_id"), ("parcel_versions", "project_id")],
}  # fmt: skip


def _check_keys(child: str) -> str:
    """One statement's keys, set-wise: each column's distinct keys in one pass over the
    rows, then the rows they name locked and a key that names no row refused. As the
    owner, like the foreign keys' own checks: locking a row takes more than reading."""
    keys = [(column, parent) for table, column, parent in KEYS if table == child]
    declared = "".join(f"\n    {column} bigint[];" for column, _p in keys)
    gathered = ", ".join(f"array_agg(DISTINCT n.{column})" for column, _p in keys)
    into = ", ".join(column for column, _p in keys)
    steps = "".join(
        f"""
    PERFORM 1 FROM public.{parent} r WHERE r.id = ANY({column}) FOR KEY SHARE OF r;
    SELECT k INTO missing FROM unnest({column}) k
    WHERE k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.{parent} r WHERE r.id = k)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "{child}": key ({column})=(%) is not '
            'present in table "{parent}"', missing USING ERRCODE = 'foreign_key_violation';
    END IF;"""
        for column, parent in keys
    )
    return f"""
CREATE FUNCTION {child}_keys_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    missing bigint;{declared}
BEGIN
    SELECT {gathered} INTO {into} FROM new_rows n;{steps}
    RETURN NULL;
END $$
"""


def _keys_kept(parent: str) -> str:
    """A row of `parent` still named may be neither deleted nor renumbered."""
    named = " OR ".join(
        f"EXISTS (SELECT 1 FROM public.{child} c WHERE c.{column} = OLD.id)"
        for child, column in KEPT[parent]
    )
    return f"""
CREATE FUNCTION {parent}_keys_kept() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF {named} THEN
        RAISE EXCEPTION 'update or delete on table "{parent}": key (id)=(%) is still '
            'named by parcels or their history', OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$
"""


def _keys_upgrade() -> None:
    for table, column, _parent in KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_fkey")
    for child in ("parcels", "parcel_versions"):
        op.execute(_check_keys(child))
        op.execute(
            f"CREATE TRIGGER {child}_keys_insert AFTER INSERT ON {child} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {child}_keys_check()"
        )
        # Versions are append-only (0023). A transition table takes no column list: every
        # update of parcels is checked (a few hash joins over its rows).
        if child == "parcels":
            op.execute(
                f"CREATE TRIGGER {child}_keys_update AFTER UPDATE ON {child} "
                "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {child}_keys_check()"
            )
    for parent in KEPT:
        op.execute(_keys_kept(parent))
        op.execute(
            f"CREATE TRIGGER {parent}_keys_kept BEFORE DELETE OR UPDATE OF id ON {parent} "
            f"FOR EACH ROW EXECUTE FUNCTION {parent}_keys_kept()"
        )


def _keys_downgrade() -> None:
    for parent in KEPT:
        op.execute(f"DROP TRIGGER {parent}_keys_kept ON {parent}")
        op.execute(f"DROP FUNCTION {parent}_keys_kept()")
    op.execute("DROP TRIGGER parcels_keys_update ON parcels")
    for child in ("parcels", "parcel_versions"):
        op.execute(f"DROP TRIGGER {child}_keys_insert ON {child}")
        op.execute(f"DROP FUNCTION {child}_keys_check()")
    for table, column, parent in KEYS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey "
            f"FOREIGN KEY ({column}) REFERENCES {parent}(id)"
        )


_CLOSE_WHEN = "WHEN (NEW.version > 1 OR NEW.valid_to IS NOT NULL)"


def upgrade() -> None:
    op.execute(_maintain(listed=True))
    _keys_upgrade()
    op.execute(
        "DROP TRIGGER parcel_versions_close_previous ON parcel_versions;"
        "CREATE TRIGGER parcel_versions_close_previous BEFORE INSERT ON parcel_versions "
        f"FOR EACH ROW {_CLOSE_WHEN} EXECUTE FUNCTION parcel_versions_close_previous()"
    )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER parcel_versions_close_previous ON parcel_versions;"
        "CREATE TRIGGER parcel_versions_close_previous BEFORE INSERT ON parcel_versions "
        "FOR EACH ROW EXECUTE FUNCTION parcel_versions_close_previous()"
    )
    op.execute(_maintain(listed=False))
    _keys_downgrade()
