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
EXTENT = 4096
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
    WHERE t.parent_id = :district AND p.kind = :kind AND p.status <> 'withdrawn'
      AND p.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)
"""
_TILE_SQL = """
    WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS merc),
    current AS ({parcels}),
    mvt AS (
        SELECT id, code, status, area_m2, area_mu, township, project, project_name,
               verified_by, verified_group, verified_at,
               ST_AsMVTGeom(
                   ST_Transform(ST_SimplifyPreserveTopology(geom, :tol), 3857),
                   bounds.merc, 4096, 64, true
               ) AS geom
        FROM current, bounds
    )
    SELECT ST_AsMVT(mvt, :layer, 4096, 'geom') FROM mvt WHERE geom IS NOT NULL
"""


def simplify_tolerance(z: int) -> float:
    """Half a tile pixel at zoom z, in degrees: finer detail is invisible in the tile, and
    simplifying before the transform keeps a huge boundary cheap. Never used for areas."""
    return 360.0 / 2**z / EXTENT / 2


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
        "tol": simplify_tolerance(z),
    }
    sql = _TILE_SQL.format(parcels=_PAST if as_of else _NOW)
    return bytes(session.execute(text(sql), params).scalar() or b"")


# What each tile's layer carries, for TileJSON's vector_layers (clients build their schema
# from it: GDAL's MVT driver, QGIS, MapLibre).
FIELDS = {
    "id": "Number",
    "code": "String",
    "status": "String",
    "area_m2": "Number",
    "area_mu": "Number",
    "township": "String",
    "project": "String",
    "project_name": "String",
    "verified_by": "String",
    "verified_group": "String",
    "verified_at": "String",
}
MIN_ZOOM, MAX_ZOOM = 0, 22


def tilejson(session: Session, base_url: str, district: str, kind: str, as_of: date | None) -> dict:
    """TileJSON 3.0.0 for one district's parcels of one kind: the tile URL template carries
    the district, kind and day, so a client asks for the same tiles the maps draw."""
    from urllib.parse import urlencode

    owner = find_district(session, district)
    query = {"district": owner.name, "kind": kind}
    if as_of:
        query["as_of"] = as_of.isoformat()
    bounds = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
            "coalesce(ST_Extent(geom), (SELECT ST_Extent(geom) FROM admin_units WHERE id = :d))"
            " AS e FROM admin_units WHERE parent_id = :d) x"
        ),
        {"d": owner.id},
    ).first()
    west, south, east, north = (float(v) for v in bounds) if bounds[0] else (-180, -85, 180, 85)
    return {
        "tilejson": "3.0.0",
        "name": f"{owner.name} {kind} parcels",
        "description": "Parcels as Mapbox vector tiles (PostGIS ST_AsMVT), coloured by status",
        "scheme": "xyz",
        "format": "pbf",
        "tiles": [f"{base_url.rstrip('/')}/tiles/{{z}}/{{x}}/{{y}}.pbf?{urlencode(query)}"],
        "minzoom": MIN_ZOOM,
        "maxzoom": MAX_ZOOM,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, 11],
        "vector_layers": [
            {"id": LAYER, "fields": FIELDS, "minzoom": MIN_ZOOM, "maxzoom": MAX_ZOOM}
        ],
    }
