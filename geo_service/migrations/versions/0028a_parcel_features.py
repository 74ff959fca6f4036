"""each parcel's own part of its GeoJSON feature kept as text, so a page of the parcel list
is a concatenation (issue 26)

`parcel_features` holds, per parcel, what belongs to the parcel alone, in the bytes the
list served before (json_build_object's layout), cut where the list splices what it reads
with the page: the names of the township, district, project and supporting townships
(other tables) and the four timestamps (written in the reading session's time zone, which
a stored text cannot know). Statement-level triggers on `parcels` keep it, whichever path
writes a parcel (imports, the workflow, migrations, an administrator's SQL), each
statement's rows at once; a parcel's row goes with it (a statement trigger on DELETE: a
foreign key checked row by row cost an import about 1.3 s per 100,000 parcels, and the
text is only ever read joined to its parcel). A table of its
own rather than a column of `parcels`: the text tripled the parcels' heap, which every
tally and map scan reads.

Revision ID: 0028a_parcel_features
Revises: 0027_field_and_imports
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028a_parcel_features"
down_revision: str | Sequence[str] | None = "0027_field_and_imports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _members(**values: str) -> str:
    """An object's members as json_build_object writes them, without the braces: to_json
    renders each value the same way, at a third of json_build_object's cost a parcel."""
    pairs = (f"""'"{key}" : ' || coalesce(to_json({expr})::text, 'null')"""
             for key, expr in values.items())  # fmt: skip
    return "(" + " || ', ' || ".join(pairs) + ")"


_HEAD = _members(id="n.id", code="n.code", name="n.name", kind="n.kind", status="n.status")
_AREAS = _members(area_m2="n.area_m2", area_mu="n.area_m2 / (10000.0 / 15)",
                  declared_m2="n.declared_m2", source_file="n.source_file",
                  version="n.version", created_by="n.created_by")  # fmt: skip
_UPDATED = _members(updated_by="n.updated_by")
_VERIFIED = _members(verified_by="n.verified_by", verified_group="n.verified_group")
_NOTES = _members(verification_note="n.verification_note",
                  verified_area_m2="n.verified_area_m2", dispute_reason="n.dispute_reason")  # fmt: skip
_WITHDRAWN = _members(withdrawn_by="n.withdrawn_by", withdrawn_reason="n.withdrawn_reason",
                      flags="n.flags")  # fmt: skip
PARTS = f"""ARRAY[
    '{{"type": "Feature", "id": ' || n.id || ', "geometry": '
        || coalesce(ST_AsGeoJSON(ST_ForcePolygonCCW(n.geom), 7, 0), 'null')
        || ', "properties": {{' || {_HEAD} || ', "township" : ',
    ', ' || {_AREAS} || ', "created_at" : ',
    ', ' || {_UPDATED} || ', "updated_at" : ',
    ', ' || {_VERIFIED} || ', "verified_at" : ',
    ', ' || {_NOTES} || ', "withdrawn_at" : ',
    ', ' || {_WITHDRAWN} || ', "supporters" : '
]"""


def upgrade() -> None:
    op.execute(
        "CREATE TABLE parcel_features (district_id integer NOT NULL, parcel_id integer NOT NULL,"
        " parts text[] NOT NULL, PRIMARY KEY (district_id, parcel_id))"
    )
    # Unchanged text is not written again (the tallies' overlap flag, say, is not in it).
    op.execute(f"""
        CREATE FUNCTION parcel_features_keep() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO parcel_features (district_id, parcel_id, parts)
            SELECT n.district_id, n.id, {PARTS} FROM new_rows n
            ON CONFLICT (district_id, parcel_id) DO UPDATE SET parts = EXCLUDED.parts
            WHERE parcel_features.parts IS DISTINCT FROM EXCLUDED.parts;
            RETURN NULL;
        END $$
    """)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER parcels_features_{event.lower()} AFTER {event} ON parcels "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION parcel_features_keep()"
        )
    op.execute("""
        CREATE FUNCTION parcel_features_forget() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM parcel_features f USING old_rows o
            WHERE f.district_id = o.district_id AND f.parcel_id = o.id;
            RETURN NULL;
        END $$
    """)
    op.execute(
        "CREATE TRIGGER parcels_features_delete AFTER DELETE ON parcels "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION parcel_features_forget()"
    )
    op.execute(
        f"INSERT INTO parcel_features (district_id, parcel_id, parts) "
        f"SELECT n.district_id, n.id, {PARTS} FROM parcels n"
    )


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER parcels_features_{event} ON parcels")
    op.execute("DROP FUNCTION parcel_features_keep")
    op.execute("DROP FUNCTION parcel_features_forget")
    op.execute("DROP TABLE parcel_features")
