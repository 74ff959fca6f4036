"""What a verification team takes into the field, and where a change was made from.

`bundle` gathers, for a set of townships, their outlines, their parcels (outline, code,
kind, status, version, area) and the verification queue: everything the field app keeps on
the phone to work without a signal. `record_position` keeps the phone's position beside the
parcel version a change from the field wrote (version_positions, migration 0026f).
"""

import json
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo_service.areas import m2_to_mu
from geo_service.interop import geojson_sql
from geo_service.models import AdminUnit, Parcel

# The same limit as the queue page: a team's day is tens of parcels, never thousands.
QUEUE_LIMIT = 500
AWAITING = ("delivered", "demolished")
# Enough for a boundary stake (about 1 cm); the phone's fix is metres at best.
_DIGITS = 7
# The compact parcels (compact_parcels) count coordinates in these units: the same 7 digits.
SCALE = 10**_DIGITS
COLUMNS = ("id", "code", "name", "kind", "status", "version", "area_m2", "township_id")


@dataclass(frozen=True)
class Position:
    lon: float
    lat: float
    accuracy_m: float | None = None


def field_townships(session: Session, township_ids, district_ids, default_district: str):
    """The townships a user works in: their own; else those of the districts they see; else
    (a city-wide user) the townships of the district the maps open on."""
    if township_ids:
        return sorted(township_ids)
    query = select(AdminUnit.id).where(AdminUnit.level == "township")
    if district_ids is not None:
        query = query.where(AdminUnit.parent_id.in_(sorted(district_ids)))
    else:
        district = select(AdminUnit.id).where(
            AdminUnit.level == "district", AdminUnit.name == default_district
        )
        query = query.where(AdminUnit.parent_id.in_(district.scalar_subquery()))
    return list(session.scalars(query.order_by(AdminUnit.id)))


_TOWNSHIPS = text(f"""
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
        json_build_object('type', 'Feature', 'id', t.id,
            'geometry', {geojson_sql("t.geom", _DIGITS)},
            'properties', json_build_object('id', t.id, 'name', t.name, 'code', t.code,
                'district', d.name, 'approximate', t.boundary_approximate))
        ORDER BY t.id), '[]'::json))
    FROM admin_units t LEFT JOIN admin_units d ON d.id = t.parent_id
    WHERE t.id = ANY(:ids) AND t.geom IS NOT NULL
""")

_PARCELS = text(f"""
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
        json_build_object('type', 'Feature', 'id', p.id,
            'geometry', {geojson_sql("p.geom", _DIGITS)},
            'properties', json_build_object('id', p.id, 'code', p.code, 'name', p.name,
                'kind', p.kind, 'status', p.status, 'version', p.version,
                'area_m2', round(p.area_m2::numeric, 1), 'township', t.name,
                'township_id', t.id))
        ORDER BY p.id), '[]'::json))
    FROM parcels p JOIN admin_units t ON t.id = p.township_id
    WHERE p.township_id = ANY(:ids) AND p.status <> 'withdrawn'
""")


_PARCEL_ROWS = text(f"""
    SELECT p.id, p.code, p.name, p.kind, p.status, p.version,
           round(p.area_m2::numeric, 1)::float, p.township_id, t.name,
           {geojson_sql("p.geom", _DIGITS, as_text=True)}
    FROM parcels p JOIN admin_units t ON t.id = p.township_id
    WHERE p.township_id = ANY(:ids) AND p.status <> 'withdrawn'
    ORDER BY p.id
""")


# What a bundle is read from, as one cheap row: the newest parcel version (history is
# append-only), and the townships' rows (xmin changes with any update of a row, the count
# with a deletion). Whoever asks is added by the caller.
_BUNDLE_TOKEN = text(
    "SELECT (SELECT coalesce(max(id), 0) FROM parcel_versions), "
    "(SELECT count(*) || '.' || coalesce(max(xmin::text::bigint), 0) FROM admin_units)"
)


def bundle_token(session: Session) -> str:
    """Changes whenever anything a field bundle holds may have changed."""
    versions, units = session.execute(_BUNDLE_TOKEN).one()
    return f"{versions}-{units}"


def township_outlines(session: Session, township_ids) -> dict:
    return session.scalar(_TOWNSHIPS, {"ids": list(township_ids)})


def parcel_outlines(session: Session, township_ids) -> dict:
    """The townships' parcels in the register (withdrawn ones are not), as GeoJSON."""
    return session.scalar(_PARCELS, {"ids": list(township_ids)})


def compact_parcels(session: Session, township_ids) -> dict:
    """parcel_outlines' parcels in a fifth of the bytes once gzipped (5,321 parcels: 268 KB
    as GeoJSON, 113 KB so), for a phone on a weak signal; nothing is rounded further.
    A column per property (`id` as the difference from the one before), the townships'
    names once, and each parcel's polygons as rings of integer coordinates in units of
    1/SCALE degree, each number the difference from the vertex before it in the whole list
    (the first from 0, 0), a ring's closing vertex left out."""
    rows = session.execute(_PARCEL_ROWS, {"ids": list(township_ids)}).all()
    columns = {name: [] for name in COLUMNS}
    townships, geometry, last = {}, [], [0, 0, 0]  # the last id, x and y
    for row in rows:
        for name, value in zip(COLUMNS, row[:8], strict=True):
            columns[name].append(value)
        columns["id"][-1] = row[0] - last[0]
        last[0] = row[0]
        townships[str(row[7])] = row[8]
        geometry.append(_delta_polygons(json.loads(row[9]), last))
    return {
        "type": "CompactParcels",
        "scale": SCALE,
        "columns": columns,
        "townships": townships,
        "geometry": geometry,
    }


def _delta_polygons(geojson: dict, last: list) -> list:
    polygons = [geojson["coordinates"]] if geojson["type"] == "Polygon" else geojson["coordinates"]
    encoded = []
    for polygon in polygons:
        rings = []
        for ring in polygon:
            flat = []
            for lon, lat in ring[:-1]:
                x, y = round(lon * SCALE), round(lat * SCALE)
                flat += (x - last[1], y - last[2])
                last[1], last[2] = x, y
            rings.append(flat)
        encoded.append(rings)
    return encoded


def verification_queue(
    session: Session, kinds, township_ids, *, offset: int = 0, limit: int | None = None
) -> list[Parcel]:
    """What awaits the user's group's sign-off in their townships, oldest change first: the
    queue page's rows (a page of them from `offset`) and the field app's."""
    if not kinds or not township_ids:
        return []
    return list(
        session.scalars(
            select(Parcel)
            .where(
                Parcel.status.in_(AWAITING),
                Parcel.kind.in_(sorted(kinds)),
                Parcel.township_id.in_(sorted(township_ids)),
            )
            .order_by(Parcel.updated_at, Parcel.id)
            .offset(offset)
            .limit(QUEUE_LIMIT if limit is None else limit)
        )
    )


def queue_rows(parcels: list[Parcel]) -> list[dict]:
    return [
        {
            "id": p.id,
            "code": p.code,
            "name": p.name,
            "township": p.township.name,
            "kind": p.kind,
            "status": p.status,
            "version": p.version,
            "area_m2": p.area_m2,
            "area_mu": m2_to_mu(p.area_m2),
            "updated_at": p.updated_at.isoformat() if p.updated_at else None,
        }
        for p in parcels
    ]


_POSITION = text("""
    INSERT INTO version_positions (parcel_id, version, geom, accuracy_m)
    VALUES (:parcel, :version, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :accuracy)
""")


def record_position(session: Session, parcel_id: int, version: int, where: Position) -> None:
    """Where the phone was when it made the change that wrote `version` (GNSS gives
    WGS84, within centimetres of CGCS2000: stored as it came)."""
    session.execute(
        _POSITION,
        {
            "parcel": parcel_id,
            "version": version,
            "lon": where.lon,
            "lat": where.lat,
            "accuracy": where.accuracy_m,
        },
    )
