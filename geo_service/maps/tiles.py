"""Parcels as Mapbox vector tiles straight from PostGIS, for districts with many parcels."""

import json
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import database
from geo_service.areas import M2_PER_MU
from geo_service.campaign import tallies
from geo_service.campaign.tallies import VALID_AT
from geo_service.errors import InvalidInput, NotFound
from geo_service.maps import tile_store
from geo_service.units import find_district

LAYER = "parcels"
EXTENT = 4096
# Below this zoom a district's parcels are a few pixels each, thousands to a tile: the tile
# carries only what draws them (id and status, layer OVERVIEW_LAYER); a tap asks for the
# rest (parcel_at). A phone opens 晋安区 at z11: its nine tiles weighed 586 KB gzipped
# with every field, 27 KB so.
DETAIL_FROM = 12
OVERVIEW_LAYER = "parcels_overview"
# Two units a screen pixel (tiles are drawn 256 px wide): finer is invisible there.
OVERVIEW_EXTENT = 512
MERCATOR_WIDTH = 40_075_016.686  # metres of Web Mercator's x across the world
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
    FROM parcels p WHERE {where}
"""
_PAST = """
    SELECT v.parcel_id AS id, v.code, v.status, v.kind, v.township_id, v.project_id,
           v.area_m2, v.verified_by, v.verified_group, v.verified_at, v.geom,
           v.valid_from, v.valid_to
    FROM parcel_versions v WHERE {where}
"""
_IN_TILE = "{t}.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)"
# What a parcel's popup says, in a detailed tile and from parcel_at alike.
_FACTS = """
    h.id, h.code, h.status, h.area_m2,
    round((h.area_m2 / :m2_per_mu)::numeric, 2)::float AS area_mu,
    t.name AS township, pr.code AS project, pr.name AS project_name,
    h.verified_by, h.verified_group,
    to_char(h.verified_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS verified_at
"""
_OF_DISTRICT = """
    FROM hits h
    JOIN admin_units t ON t.id = h.township_id
    LEFT JOIN projects pr ON pr.id = h.project_id
    WHERE t.parent_id = :district AND h.kind = :kind AND {valid}
"""
_SIMPLIFIED = """
    CASE WHEN ST_NPoints(h.geom) > :simplify_above
         THEN ST_SimplifyPreserveTopology(h.geom, :tol) ELSE h.geom END
"""
# Tiles are drawn in Web Mercator, as Leaflet displays them; areas are never taken from it.
_TILE_SQL = (
    "WITH hits AS MATERIALIZED ({hits}), mvt AS MATERIALIZED (SELECT "
    + _FACTS
    + ", ST_AsMVTGeom(ST_Transform("
    + _SIMPLIFIED
    + ", 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom"
    + _OF_DISTRICT
    + ") SELECT ST_AsMVT(mvt, :layer, 4096, 'geom') FROM mvt WHERE geom IS NOT NULL"
)
# A parcel narrower than a pixel is one pixel's square, gathered with the others of its
# status into one feature: 晋安区's 20,000 parcels at z11 come to 27 KB gzipped instead
# of 135 KB as a point each, and the phone draws a handful of features instead of 20,000
# (a tap asks parcel_at which parcel it fell on). The width is compared in degrees of
# longitude, which a pixel's height in latitude never exceeds in Mercator. Wider parcels
# keep their outline and id.
_OVERVIEW_SQL = (
    "WITH hits AS MATERIALIZED ({hits}), shown AS MATERIALIZED (SELECT h.id, h.status, "
    "least(ST_XMax(h.geom) - ST_XMin(h.geom), ST_YMax(h.geom) - ST_YMin(h.geom)) < :pixel"
    " AS dot, "
    + _SIMPLIFIED
    + " AS geom "
    + _OF_DISTRICT
    + "), dots AS (SELECT DISTINCT status, ST_SnapToGrid(ST_Transform(ST_PointOnSurface(geom),"
    " 3857), :mercator_pixel) AS centre FROM shown WHERE dot), mvt AS MATERIALIZED ("
    "SELECT NULL::bigint AS id, status, ST_AsMVTGeom(ST_Collect(ST_Expand(centre,"
    " :mercator_pixel / 2)), ST_TileEnvelope(:z, :x, :y), :extent, :buffer, true) AS geom"
    " FROM dots GROUP BY status UNION ALL "
    "SELECT id, status, ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y),"
    " :extent, :buffer, true) FROM shown WHERE NOT dot"
    ") SELECT ST_AsMVT(mvt, :layer, :extent, 'geom') FROM mvt WHERE geom IS NOT NULL"
)
# The parcel under a tap: one that holds the point, else the nearest within the tolerance;
# of overlapping ones the smallest, which is drawn on top of the larger.
_AT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)"
_FACTS_SQL = (
    "WITH hits AS MATERIALIZED ({hits}) SELECT row_to_json(f) FROM (SELECT "
    + _FACTS
    + _OF_DISTRICT
    + f"ORDER BY ST_Distance(h.geom, {_AT}), h.area_m2 LIMIT 1) f"
)
_NEAR = f"ST_DWithin({{t}}.geom, {_AT}, :tol)"
# How far from a tap a parcel still counts as tapped, in screen pixels: a fingertip.
TAP_PIXELS = 6


# Overview tiles kept once drawn, by every worker of the host (tile_store), under the
# change token they were drawn at: the token is already their ETag (a browser keeps them on
# it), so a tile kept under it is the tile PostGIS would draw again. They are the costly
# ones (the busiest z11 tile of 晋安区 gathers 9,000 parcels, 0.2-0.8 s of PostGIS) and
# few (a district's z0-11 are tens of tiles, 1-15 KB each); detailed tiles are many and
# cheap, and are not kept.
def kept_tile(token: str, z: int, x: int, y: int, district_id: int, kind: str,
              as_of: date | None) -> bytes:  # fmt: skip
    """parcel_tile, an overview tile from those kept under `token` (the change token read
    before drawing it) when it was drawn already."""
    if z >= DETAIL_FROM:
        return parcel_tile(z, x, y, district_id, kind, as_of)
    key = ("tile", z, x, y, district_id, kind, as_of)
    return _kept_or_made(token, key, lambda: parcel_tile(z, x, y, district_id, kind, as_of))


def _kept_or_made(token: str, key: tuple, make) -> bytes:
    """What is kept under `token` and `key`, else `make()`'s answer, kept."""
    kept = tile_store.read(token, key)
    if kept is not None:
        return kept
    made = make()
    tile_store.write(token, key, made)
    return made


# Which tiles at FILLED_ZOOM hold any of a district's parcels: the map asks for no other
# tile at or around that zoom (a tile whose ancestor or every descendant there is empty is
# empty too). Every parcel of the kind counts, withdrawn ones too, so a past day's map
# loses none; each bounding box is widened by a pixel at that zoom, for the pixel squares
# drawn around the smallest parcels.
FILLED_ZOOM = DETAIL_FROM - 1
_FILLED_SQL = """
    WITH b AS (
        SELECT ST_XMin(p.geom) - :pad AS x0, ST_XMax(p.geom) + :pad AS x1,
               greatest(ST_YMin(p.geom) - :pad, -85) AS y0,
               least(ST_YMax(p.geom) + :pad, 85) AS y1
        FROM parcels p JOIN admin_units t ON t.id = p.township_id
        WHERE t.parent_id = :district AND p.kind = :kind
    ), r AS (
        SELECT floor((x0 + 180) / 360 * :n)::int AS c0, floor((x1 + 180) / 360 * :n)::int AS c1,
               floor((1 - ln(tan(radians(y1)) + 1 / cos(radians(y1))) / pi()) / 2 * :n)::int
                   AS r0,
               floor((1 - ln(tan(radians(y0)) + 1 / cos(radians(y0))) / pi()) / 2 * :n)::int
                   AS r1
        FROM b
    )
    SELECT DISTINCT x, y FROM r, generate_series(c0, c1) x, generate_series(r0, r1) y
    ORDER BY x, y
"""


def filled_tiles(token: str, district_id: int, kind: str) -> list[list[int]]:
    """[x, y] of the tiles at FILLED_ZOOM holding any of the district's parcels of a kind,
    kept under the change token as the tiles are."""
    n = 2**FILLED_ZOOM
    params = {"district": district_id, "kind": kind, "n": n, "pad": 360.0 / n / 256}

    def found() -> bytes:
        return json.dumps([[x, y] for x, y in database.read_rows(_FILLED_SQL, params)]).encode()

    return json.loads(_kept_or_made(token, ("filled", district_id, kind), found))


def forget_kept() -> None:
    """Forget the kept tiles (tests empty the tables and restart the ids: the same token
    could come back meaning other data)."""
    tile_store.forget()


def simplify_tolerance(z: int, extent: int = EXTENT) -> float:
    """Half a tile unit at zoom z, in degrees: finer detail is invisible in the tile, and
    simplifying before the transform keeps a huge boundary cheap. Never used for areas."""
    return 360.0 / 2**z / extent / 2


def parcel_tile(z: int, x: int, y: int, district_id: int, kind: str, as_of: date | None) -> bytes:
    """One tile of a district's parcels of one kind (as of the end of a past day), read
    straight on a pooled connection (database.read_rows): the route has already checked
    who may see the district. Below DETAIL_FROM, the overview layer (id and status)."""
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"no tile {z}/{x}/{y}", rule="tile", params={"tile": f"{z}/{x}/{y}"})
    detailed = z >= DETAIL_FROM
    extent = EXTENT if detailed else OVERVIEW_EXTENT
    params = {
        "z": z,
        "x": x,
        "y": y,
        "district": district_id,
        "kind": kind,
        "layer": LAYER if detailed else OVERVIEW_LAYER,
        "as_of": tallies.end_of_day(as_of) if as_of else None,
        "tol": simplify_tolerance(z, extent),
        "simplify_above": SIMPLIFY_ABOVE,
    }
    if detailed:
        params["m2_per_mu"] = M2_PER_MU
    else:
        # A 64-unit buffer in 4096 is four pixels: the same at this extent.
        params |= {
            "extent": extent,
            "buffer": extent // 64,
            "pixel": 360.0 / 2**z / 256,
            "mercator_pixel": MERCATOR_WIDTH / 2**z / 256,
        }
    sql = _on_day(_TILE_SQL if detailed else _OVERVIEW_SQL, _IN_TILE, as_of)
    return bytes(database.read_rows(sql, params)[0][0] or b"")


def _on_day(sql: str, where: str, as_of: date | None) -> str:
    """`sql` reading the parcels `where` picks: a past day's from the history, today's
    from the parcels table."""
    if as_of:
        hits = _PAST.format(where=where.format(t="v"))
        return sql.format(hits=hits, valid=VALID_AT.format(v="h"))
    hits = _NOW.format(where=where.format(t="p"))
    return sql.format(hits=hits, valid="h.status <> 'withdrawn'")


def parcel_at(
    lon: float, lat: float, z: int, district_id: int, kind: str, as_of: date | None
) -> dict:
    """What a detailed tile says of the parcel under a tap at zoom z (as of the end of a
    past day): the map's tiles only draw, and an overview tile holds no more than id and
    status. NotFound when the district's map draws no parcel there."""
    params = {
        "lon": lon,
        "lat": lat,
        "tol": TAP_PIXELS * 360.0 / 2**z / 256,
        "district": district_id,
        "kind": kind,
        "as_of": tallies.end_of_day(as_of) if as_of else None,
        "m2_per_mu": M2_PER_MU,
    }
    rows = database.read_rows(_on_day(_FACTS_SQL, _NEAR, as_of), params)
    if not rows:
        raise NotFound(
            f"no parcel at {lon}, {lat} on this map",
            rule="tap_nothing",
            params={"lon": lon, "lat": lat},
        )
    return rows[0][0]


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
# The overview layer's: a tap on one of its parcels asks for the rest (parcel_at).
OVERVIEW_FIELDS = {"id": "Number", "status": "String"}
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
        # One layer per range of zooms, each with the fields its tiles carry.
        "vector_layers": [
            {
                "id": LAYER,
                "description": "every parcel with its facts",
                "fields": FIELDS,
                "minzoom": DETAIL_FROM,
                "maxzoom": MAX_ZOOM,
            },
            {
                "id": OVERVIEW_LAYER,
                "description": "parcels narrower than a pixel as pixel squares gathered by"
                " status (no id), the others as outlines",
                "fields": OVERVIEW_FIELDS,
                "minzoom": MIN_ZOOM,
                "maxzoom": DETAIL_FROM - 1,
            },
        ],
    }
