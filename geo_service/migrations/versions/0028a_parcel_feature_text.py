"""each parcel keeps the text of its own part of its GeoJSON feature, so a page of the
parcel list is a concatenation (issue 26)

`parcels.feature_parts` is a STORED generated column: PostgreSQL writes it on every insert
and update of a parcel, whichever path makes them (imports, the workflow, migrations,
an administrator's SQL), so it can never disagree with the row. It holds what belongs to
the parcel alone, in the bytes the list served before (json_build_object's layout), cut
where the list splices what is read with the page: the names of its township, district,
project and supporting townships (other tables) and its four timestamps (written in the
reading session's time zone, which a stored text cannot know).

Revision ID: 0028a_parcel_feature_text
Revises: 0027_field_and_imports
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028a_parcel_feature_text"
down_revision: str | Sequence[str] | None = "0027_field_and_imports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Six pieces, each ending with the key of what the list splices after it. parcel_json_members:
# an object's text without its braces. 7 digits is interop.LONLAT_DIGITS (RFC 7946
# output, option 0: no crs member). IMMUTABLE as a generated column requires: nothing in
# these pieces depends on the session (no timestamps; float8 output is the shortest exact
# one whatever extra_float_digits above 0 says).
FUNCTION = """
CREATE FUNCTION parcel_json_members(object json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT substr(left(object::text, -1), 2) $$;

CREATE FUNCTION parcel_feature_parts(
    id integer, code text, name text, kind text, status text, geom geometry,
    area_m2 double precision, declared_m2 double precision, source_file text,
    version integer, created_by text, updated_by text, verified_by text,
    verified_group text, verification_note text, verified_area_m2 double precision,
    dispute_reason text, withdrawn_by text, withdrawn_reason text, flags jsonb
) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT ARRAY[
    '{"type": "Feature", "id": ' || id || ', "geometry": '
        || coalesce(ST_AsGeoJSON(ST_ForcePolygonCCW(geom), 7, 0), 'null')
        || ', "properties": {' || parcel_json_members(json_build_object(
            'id', id, 'code', code, 'name', name, 'kind', kind, 'status', status))
        || ', "township" : ',
    ', ' || parcel_json_members(json_build_object(
        'area_m2', area_m2, 'area_mu', area_m2 / (10000.0 / 15),
        'declared_m2', declared_m2, 'source_file', source_file, 'version', version,
        'created_by', created_by)) || ', "created_at" : ',
    ', ' || parcel_json_members(json_build_object('updated_by', updated_by))
        || ', "updated_at" : ',
    ', ' || parcel_json_members(json_build_object(
        'verified_by', verified_by, 'verified_group', verified_group))
        || ', "verified_at" : ',
    ', ' || parcel_json_members(json_build_object(
        'verification_note', verification_note, 'verified_area_m2', verified_area_m2,
        'dispute_reason', dispute_reason)) || ', "withdrawn_at" : ',
    ', ' || parcel_json_members(json_build_object(
        'withdrawn_by', withdrawn_by, 'withdrawn_reason', withdrawn_reason,
        'flags', flags)) || ', "supporters" : '
]
$$
"""
COLUMNS = (
    "id, code, name, kind, status, geom, area_m2, declared_m2, source_file, version, "
    "created_by, updated_by, verified_by, verified_group, verification_note, "
    "verified_area_m2, dispute_reason, withdrawn_by, withdrawn_reason, flags"
)


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute(
        "ALTER TABLE parcels ADD COLUMN feature_parts text[] "
        f"GENERATED ALWAYS AS (parcel_feature_parts({COLUMNS})) STORED"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE parcels DROP COLUMN feature_parts")
    op.execute("DROP FUNCTION parcel_feature_parts")
    op.execute("DROP FUNCTION parcel_json_members")
