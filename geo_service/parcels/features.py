"""Parcels and township progress as GeoJSON features, in the CRS a client asks for.

RFC 7946 by default (interop.geojson_sql): lon/lat to 1e-7 degrees, counter-clockwise
exterior rings, no `crs` member. Stored coordinates are CGCS2000 (EPSG:4490), served as they
are for WGS84 lon/lat: the two differ by centimetres.

With the OGC API – Features CRS extension a client may ask for another CRS, and then the
coordinates follow that CRS's own axis order: latitude first for EPSG:4490 and 4326,
northing first for the Gauss-Kruger CRSs (EPSG:4528, 4549, ...). Rings stay
counter-clockwise on the ground (as GDAL reads them back in its east-north order); degrees
to 1e-7, metres to 1 mm.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pyproj import CRS
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.areas import m2_to_mu
from geo_service.campaign import tallies
from geo_service.errors import InvalidInput, NotFound
from geo_service.interop import LONLAT_DIGITS, PROJECTED_DIGITS, geojson_sql
from geo_service.models import KINDS, STATUSES
from geo_service.periods import parse_day, parse_year

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
# What a client may ask for: CGCS2000 and WGS84 lon/lat, and the CGCS2000 Gauss-Kruger
# zones 39-41 (prefixed eastings) and central meridians 117/120/123°E around Fuzhou.
OFFERED_EPSG = (4490, 4326, 4527, 4528, 4529, 4548, 4549, 4550)
OFFERED_CRS = (CRS84, *(EPSG_URI.format(c) for c in OFFERED_EPSG))
STORAGE_CRS = EPSG_URI.format(4490)


@dataclass(frozen=True)
class OutputCRS:
    uri: str
    epsg: int | None  # None: CRS84 (stored coordinates as they are)
    flip: bool  # the CRS's first axis is north (latitude, or a GK northing)

    def geometry_sql(self, expr: str) -> str:
        if self.epsg is None:
            return geojson_sql(expr)
        out = f"ST_ForcePolygonCCW({expr})"
        if self.epsg != 4490:
            out = f"ST_Transform({out}, {self.epsg})"
        if self.flip:
            out = f"ST_FlipCoordinates({out})"
        geographic = CRS.from_epsg(self.epsg).is_geographic
        digits = LONLAT_DIGITS if geographic else PROJECTED_DIGITS
        return f"ST_AsGeoJSON({out}, {digits}, 0)::json"


@cache
def output_crs(uri: str | None) -> OutputCRS:
    """A CRS the client named (an OGC URI, or EPSG:nnnn), among those offered."""
    if uri is None or uri in (CRS84, "CRS84", "OGC:CRS84"):
        return OutputCRS(CRS84, None, False)
    match = re.fullmatch(r"(?:http://www\.opengis\.net/def/crs/EPSG/0/|EPSG:)(\d+)", uri.strip())
    epsg = int(match.group(1)) if match else None
    if epsg not in OFFERED_EPSG:
        raise InvalidInput(
            f"crs {uri!r} is not offered; one of: {', '.join(OFFERED_CRS)}",
            rule="choice",
            params={"option": "crs", "choices": ", ".join(OFFERED_CRS), "value": uri},
        )
    first = CRS.from_epsg(epsg).axis_info[0].direction.lower()
    return OutputCRS(EPSG_URI.format(epsg), epsg, first in ("north", "south"))


_BBOX = "bbox must be four numbers: minx,miny,maxx,maxy"


def parse_bbox(value: str | None, crs_uri: str | None) -> tuple[str, dict]:
    """A bbox given in `crs_uri`'s axis order, as an SQL condition on a lon/lat geometry
    column `{geom}` (to be filled in with str.format) and its parameters."""
    if not value:
        return "", {}
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise InvalidInput(_BBOX, rule="bbox_numbers", params={}) from None
    if len(numbers) == 6:  # with heights: drop them
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise InvalidInput(_BBOX, rule="bbox_numbers", params={})
    crs = output_crs(crs_uri)
    a1, a2, b1, b2 = numbers
    x1, y1, x2, y2 = (a2, a1, b2, b1) if crs.flip else (a1, a2, b1, b2)
    if x1 > x2 or y1 > y2:
        raise InvalidInput("bbox: the lower corner comes first", rule="bbox_corners", params={})
    srid = crs.epsg or 4490
    envelope = f"ST_MakeEnvelope(:bx1, :by1, :bx2, :by2, {srid})"
    if srid != 4490:
        # Densified before projecting, so the envelope's edges stay where they were.
        envelope = f"ST_Transform(ST_Segmentize({envelope}, (:bx2 - :bx1) / 16), 4490)"
    # {geom}: the caller's geometry column.
    condition = f"{{geom}} && {envelope} AND ST_Intersects({{geom}}, {envelope})"
    return condition, {"bx1": x1, "by1": y1, "bx2": x2, "by2": y2}


def parse_datetime(value: str | None) -> datetime | None:
    """An instant (RFC 3339 date-time, or a date meaning the end of that day in China):
    features as they stood then. Intervals are not supported."""
    if not value:
        return None
    if "/" in value:
        raise InvalidInput(
            "datetime: only an instant is supported, not an interval",
            rule="datetime_interval", params={},
        )  # fmt: skip
    if len(value) == 10:
        return tallies.end_of_day(parse_day(value, "datetime"))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"datetime must be RFC 3339, e.g. 2017-06-30T16:00:00Z: {value!r}",
            rule="datetime_form",
            params={"value": value},
        ) from None
    parse_year(moment.year, "datetime")  # the window every day and year is read in
    return moment


# --- parcels -----------------------------------------------------------------------------

PARCEL_FILTERS = ("code", "kind", "status", "township", "district", "project")
_PARCEL_ROWS = f"""
    SELECT v.parcel_id AS id, v.code, p.name, v.kind, v.status, t.name AS township,
           t.code AS township_code, d.name AS district, pr.code AS project,
           v.area_m2, v.verified_by, v.verified_group, v.verified_at, v.version, v.geom
    FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id
    JOIN admin_units t ON t.id = v.township_id JOIN admin_units d ON d.id = t.parent_id
    LEFT JOIN projects pr ON pr.id = v.project_id
    WHERE {tallies.VALID_AT.format(v="v")}
      AND (CAST(:code AS text) IS NULL OR v.code = :code)
      AND (CAST(:kind AS text) IS NULL OR v.kind = :kind)
      AND (CAST(:status AS text) IS NULL OR v.status = :status)
      AND (CAST(:township AS text) IS NULL OR t.name = :township OR t.code = :township)
      AND (CAST(:district AS text) IS NULL OR d.name = :district OR d.code = :district)
      AND (CAST(:project AS text) IS NULL OR pr.code = :project)
      AND (CAST(:id AS int) IS NULL OR v.parcel_id = :id)
      AND (CAST(:district_ids AS int[]) IS NULL OR d.id = ANY(CAST(:district_ids AS int[])))
"""


@dataclass
class Page:
    features: list[dict]
    matched: int


def _filters(filters: dict, allowed: tuple[str, ...]) -> dict:
    params = {name: filters.get(name) or None for name in allowed}
    if params.get("kind") and params["kind"] not in KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(KINDS)}",
            rule="choice",
            params={"option": "kind", "choices": ", ".join(KINDS), "value": params["kind"]},
        )
    if params.get("status") and params["status"] not in STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUSES)}",
            rule="choice",
            params={"option": "status", "choices": ", ".join(STATUSES), "value": params["status"]},
        )
    return params


def parcel_page(
    session: Session,
    filters: dict,
    crs: OutputCRS,
    bbox: tuple[str, dict] = ("", {}),
    at: datetime | None = None,
    limit: int = 10,
    offset: int = 0,
    parcel_id: int | None = None,
    district_ids: list[int] | None = None,
) -> Page:
    """One page of parcels as they stood at `at` (now when None), in the districts given
    (every district when None)."""
    params = {
        **_filters(filters, PARCEL_FILTERS),
        "as_of": at,
        "id": parcel_id,
        "district_ids": district_ids,
        **bbox[1],
    }
    where = f"WHERE {bbox[0].format(geom='r.geom')}" if bbox[0] else ""
    matched = session.execute(
        text(f"SELECT count(*) FROM ({_PARCEL_ROWS}) r {where}"), params
    ).scalar()
    rows = session.execute(
        text(
            f"SELECT r.*, {crs.geometry_sql('r.geom')} AS geometry FROM ({_PARCEL_ROWS}) r "
            f"{where} ORDER BY r.id LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    ).mappings()
    return Page([_parcel_feature(r) for r in rows], matched)


def _parcel_feature(r) -> dict:
    props = {
        k: r[k]
        for k in ("code", "name", "kind", "status", "township", "township_code", "district",
                  "project", "area_m2", "verified_by", "verified_group", "version")
    }  # fmt: skip
    props["area_mu"] = m2_to_mu(r["area_m2"])
    props["verified_at"] = r["verified_at"].isoformat() if r["verified_at"] else None
    return {"type": "Feature", "id": r["id"], "geometry": r["geometry"], "properties": props}


def parcel_extent(session: Session) -> list[float] | None:
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) AS e FROM parcels) x"
        )
    ).first()
    return None if row is None or row[0] is None else [float(v) for v in row]


# --- township progress -------------------------------------------------------------------

PROGRESS_FILTERS = ("district", "township", "kind")


def progress_page(
    session: Session,
    filters: dict,
    crs: OutputCRS,
    bbox: tuple[str, dict] = ("", {}),
    at: datetime | None = None,
    limit: int = 10,
    offset: int = 0,
    feature_id: str | None = None,
    district_ids: list[int] | None = None,
) -> Page:
    """Each township and kind: verified area (union), target and progress for the campaign
    year of `at` (or the configured one), with the township's outline."""
    params = _filters(filters, PROGRESS_FILTERS)
    day = at.astimezone(tallies.CAMPAIGN_TZ).date() if at else None
    rows = tallies.tally(session, by="township", kind=params["kind"], as_of=day)
    numbers = {(r.township, r.kind): r for r in rows}
    where = ["u.level = 'township'"]
    if district_ids is not None:
        where.append("d.id = ANY(CAST(:district_ids AS int[]))")
    if bbox[0]:
        where.append(bbox[0].format(geom="u.geom"))
    for name, column in (("district", "d"), ("township", "u")):
        if params[name]:
            where.append(f"({column}.name = :{name} OR {column}.code = :{name})")
    shapes = session.execute(
        text(
            f"SELECT u.name, u.code, d.name AS district, u.boundary_approximate, "
            f"{crs.geometry_sql('u.geom')} AS geometry FROM admin_units u "
            f"JOIN admin_units d ON d.id = u.parent_id WHERE {' AND '.join(where)} "
            "AND u.geom IS NOT NULL ORDER BY u.code"
        ),
        {**params, **bbox[1], "district_ids": district_ids},
    ).mappings()
    kinds = [params["kind"]] if params["kind"] else list(KINDS)
    features = [
        _progress_feature(s, kind, numbers.get((s["name"], kind))) for s in shapes for kind in kinds
    ]
    if feature_id is not None:
        features = [f for f in features if f["id"] == feature_id]
        if not features:
            raise NotFound(
                f"no township-progress feature {feature_id!r}",
                rule="feature_id", params={"id": feature_id},
            )  # fmt: skip
    return Page(features[offset : offset + limit], len(features))


def _progress_feature(shape, kind: str, row) -> dict:
    verified = row.verified_m2 if row else 0.0
    target = row.target_m2 if row else None
    return {
        "type": "Feature",
        "id": f"{shape['code']}-{kind}",
        "geometry": shape["geometry"],
        "properties": {
            "district": shape["district"],
            "township": shape["name"],
            "township_code": shape["code"],
            "boundary_approximate": shape["boundary_approximate"],
            "kind": kind,
            "verified_parcels": row.verified_parcels if row else 0,
            "verified_m2": verified,
            "verified_mu": m2_to_mu(verified),
            "target_m2": target,
            "target_mu": m2_to_mu(target),
            "progress": verified / target if target else None,
        },
    }


def township_extent(session: Session) -> list[float] | None:
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM admin_units WHERE level = 'township') x"
        )
    ).first()
    return None if row is None or row[0] is None else [float(v) for v in row]


# The parcel and what lies within about 300 m of it, in lon/lat for Leaflet.
_NEIGHBOURHOOD = text(f"""
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
        json_build_object('type', 'Feature', 'geometry', {geojson_sql("n.geom")},
            'properties', json_build_object('code', n.code, 'status', n.status,
                                            'self', n.id = p.id))
        ORDER BY n.id = p.id), '[]'::json))
    FROM parcels p JOIN parcels n
      ON n.id = p.id OR (n.geom && ST_Expand(p.geom, 0.003) AND n.kind = p.kind)
    WHERE p.id = :id
""")


def neighbourhood(session: Session, parcel_id: int) -> dict:
    """A parcel's page map: the parcel and its neighbours of the same kind, as GeoJSON."""
    return session.scalar(_NEIGHBOURHOOD, {"id": parcel_id})


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
