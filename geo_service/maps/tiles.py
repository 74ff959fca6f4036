"""Parcels as Mapbox vector tiles straight from PostGIS, for districts with many parcels."""

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from .. import tallies
from ..areas import M2_PER_MU
from ..errors import InvalidInput
from ..tallies import VALID_AT
from ..units import find_district

LAYER = "parcels"
# Tiles are drawn in Web Mercator, as Leaflet displays them; areas are never taken from it.
_COLUMNS = """
    {v}.code, {v}.status, {v}.area_m2,
    round(({v}.area_m2 / :m2_per_mu)::numeric, 2)::float AS area_mu,
    t.name AS township, pr.code AS project, pr.name AS project_name,
    {v}.verified_by, {v}.verified_group,
    to_char({v}.verified_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS verified_at,
    {v}.geom
"""
# The envelope is written out, not joined from the `bounds` CTE, so that it is a constant
# for the planner and the GiST index is used even before the table has statistics.
# A past day's tile comes from the history; today's straight from the parcels table (the
# same rows as the versions in force, found through its own spatial index).
_PAST = f"""
    SELECT v.parcel_id AS id, {_COLUMNS.format(v="v")}
    FROM parcel_versions v
    JOIN admin_units t ON t.id = v.township_id
    LEFT JOIN projects pr ON pr.id = v.project_id
    WHERE t.parent_id = :district AND v.kind = :kind
      AND v.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)
      AND {VALID_AT.format(v="v")}
"""
_NOW = f"""
    SELECT p.id, {_COLUMNS.format(v="p")}
    FROM parcels p
    JOIN admin_units t ON t.id = p.township_id
    LEFT JOIN projects pr ON pr.id = p.project_id
    WHERE t.parent_id = :district AND p.kind = :kind
      AND p.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)
"""
_TILE_SQL = """
    WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS merc),
    current AS ({parcels}),
    mvt AS (
        SELECT id, code, status, area_m2, area_mu, township, project, project_name,
               verified_by, verified_group, verified_at,
               ST_AsMVTGeom(ST_Transform(geom, 3857), bounds.merc, 4096, 64, true) AS geom
        FROM current, bounds
    )
    SELECT ST_AsMVT(mvt, :layer, 4096, 'geom') FROM mvt WHERE geom IS NOT NULL
"""


def parcel_tile(
    session: Session, z: int, x: int, y: int, district: str, kind: str, as_of: date | None
) -> bytes:
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"no tile {z}/{x}/{y}")
    owner = find_district(session, district)
    params = {
        "z": z,
        "x": x,
        "y": y,
        "district": owner.id,
        "kind": kind,
        "layer": LAYER,
        "as_of": tallies.end_of_day(as_of) if as_of else None,
        "m2_per_mu": M2_PER_MU,
    }
    sql = _TILE_SQL.format(parcels=_PAST if as_of else _NOW)
    return bytes(session.execute(text(sql), params).scalar() or b"")
