"""Parcels as Mapbox vector tiles straight from PostGIS, for districts with many parcels."""

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import database
from geo_service.areas import M2_PER_MU
from geo_service.campaign import tallies
from geo_service.campaign.tallies import VALID_AT
from geo_service.errors import InvalidInput
from geo_service.units import find_district

LAYER = "parcels"
EXTENT = 4096
# Parcels with more vertices than this are simplified (by half a tile pixel) before they
# are drawn; below it simplifying costs more than it saves and changes nothing visible:
# ST_AsMVTGeom snaps every vertex to the tile's grid anyway.
SIMPLIFY_ABOVE = 16
# Which rows meet the tile comes first, through the GiST index alone, as a MATERIALIZED
# step: offered the district, kind and status too, the planner (before the table has
# statistics, as right after a large import) walked a district's every parcel through the
# (township, kind, code) index and tested each against the tile. What the tile shows is
# then worked out once per row (a WHERE on the drawn geometry computed ST_AsMVTGeom twice).
# A past day's tile comes from the history; today's from the parcels table.
_NOW = """
    SELECT p.id, p.code, p.status, p.kind, p.township_id, p.project_id, p.area_m2,
           p.verified_by, p.verified_group, p.verified_at, p.geom
    FROM parcels p WHERE p.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)
"""
_PAST = """
    SELECT v.parcel_id AS id, v.code, v.status, v.kind, v.township_id, v.project_id,
           v.area_m2, v.verified_by, v.verified_group, v.verified_at, v.geom,
           v.valid_from, v.valid_to
    FROM parcel_versions v WHERE v.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)
"""
# Tiles are drawn in Web Mercator, as Leaflet displays them; areas are never taken from it.
_TILE_SQL = """
    WITH hits AS MATERIALIZED ({hits}),
    mvt AS MATERIALIZED (
        SELECT h.id, h.code, h.status, h.area_m2,
               round((h.area_m2 / :m2_per_mu)::numeric, 2)::float AS area_mu,
               t.name AS township, pr.code AS project, pr.name AS project_name,
               h.verified_by, h.verified_group,
               to_char(h.verified_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS verified_at,
               ST_AsMVTGeom(
                   ST_Transform(
                       CASE WHEN ST_NPoints(h.geom) > :simplify_above
                            THEN ST_SimplifyPreserveTopology(h.geom, :tol) ELSE h.geom END,
                       3857
                   ),
                   ST_TileEnvelope(:z, :x, :y), 4096, 64, true
               ) AS geom
        FROM hits h
        JOIN admin_units t ON t.id = h.township_id
        LEFT JOIN projects pr ON pr.id = h.project_id
        WHERE t.parent_id = :district AND h.kind = :kind AND {valid}
    )
    SELECT ST_AsMVT(mvt, :layer, 4096, 'geom') FROM mvt WHERE geom IS NOT NULL
"""


def simplify_tolerance(z: int) -> float:
    """Half a tile pixel at zoom z, in degrees: finer detail is invisible in the tile, and
    simplifying before the transform keeps a huge boundary cheap. Never used for areas."""
    return 360.0 / 2**z / EXTENT / 2


def parcel_tile(z: int, x: int, y: int, district_id: int, kind: str, as_of: date | None) -> bytes:
    """One tile of a district's parcels of one kind (as of the end of a past day), read
    straight on a pooled connection (database.read_rows): the route has already checked
    who may see the district."""
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"no tile {z}/{x}/{y}")
    params = {
        "z": z,
        "x": x,
        "y": y,
        "district": district_id,
        "kind": kind,
        "layer": LAYER,
        "as_of": tallies.end_of_day(as_of) if as_of else None,
        "m2_per_mu": M2_PER_MU,
        "tol": simplify_tolerance(z),
        "simplify_above": SIMPLIFY_ABOVE,
    }
    if as_of:
        sql = _TILE_SQL.format(hits=_PAST, valid=VALID_AT.format(v="h"))
    else:
        sql = _TILE_SQL.format(hits=_NOW, valid="h.status <> 'withdrawn'")
    return bytes(database.read_rows(sql, params)[0][0] or b"")


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
