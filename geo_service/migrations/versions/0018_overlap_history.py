"""parcels that ever overlapped: past days' tallies union only those

A tally for a past day (`as_of`) reads the versions valid that day. The full computation
asks, for each of them, whether its interior meets another version valid that day: one
spatial probe per version, which at a million parcels is most of the time. Yet two
versions valid on the same day were both current at that moment, and whenever two current
parcels overlap, the tally triggers of migration 0009 flag them (`parcels.overlapping`).
So a parcel never flagged overlapped nothing on any day, and its version of that day can
add its own area; only the parcels flagged at some time need a union.

`overlapped_parcels` keeps every parcel ever flagged (it only grows: a flag once set
stays, which merely adds a parcel to a union that is exact either way). A statement-level
trigger on `parcels` records the flags as the tally triggers set them, in the same
transaction. `overlapped_rebuild()` recomputes the set from the whole history, for a
history written otherwise (a restore from before this migration, tests that back-date
versions): the pairs of versions of different parcels, same kind, neither withdrawn,
whose validity overlaps and whose interiors meet.

Revision ID: 0018_overlap_history
Revises: 0017_district_keys
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_overlap_history"
down_revision: str | None = "0017_district_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REMEMBER = """
CREATE FUNCTION overlapped_remember() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO overlapped_parcels (district_id, parcel_id)
    SELECT district_id, id FROM new_rows WHERE overlapping
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""

# `(o.kind = v.kind) IS TRUE` keeps the planner from ANDing the kind index into each
# spatial probe (see migration 0009).
_REBUILD = """
CREATE FUNCTION overlapped_rebuild() RETURNS void
LANGUAGE sql AS $$
    TRUNCATE overlapped_parcels;
    INSERT INTO overlapped_parcels (district_id, parcel_id)
    SELECT district_id, id FROM parcels WHERE overlapping
    UNION
    SELECT v.district_id, v.parcel_id
    FROM parcel_versions v JOIN parcel_versions o
      ON o.geom && v.geom AND o.parcel_id <> v.parcel_id AND (o.kind = v.kind) IS TRUE
    WHERE v.status <> 'withdrawn' AND o.status <> 'withdrawn'
      AND v.valid_from < coalesce(o.valid_to, 'infinity')
      AND o.valid_from < coalesce(v.valid_to, 'infinity')
      AND ST_Relate(o.geom, v.geom, 'T********');
$$
"""


def upgrade() -> None:
    # Keyed and referenced by district like the parcels (migration 0017); emptying the
    # parcels empties it too.
    op.execute(
        "CREATE TABLE overlapped_parcels (district_id integer NOT NULL, parcel_id integer, "
        "PRIMARY KEY (parcel_id, district_id), FOREIGN KEY (district_id, parcel_id) "
        "REFERENCES parcels (district_id, id) ON DELETE CASCADE)"
    )
    op.execute(_REMEMBER)
    op.execute(_REBUILD)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER parcels_overlapped_{event.lower()} AFTER {event} ON parcels "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION overlapped_remember()"
        )
    op.execute("SELECT overlapped_rebuild()")


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER parcels_overlapped_{event} ON parcels")
    op.execute("DROP FUNCTION overlapped_rebuild()")
    op.execute("DROP FUNCTION overlapped_remember()")
    op.execute("DROP TABLE overlapped_parcels")
