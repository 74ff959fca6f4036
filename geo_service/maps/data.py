"""What the map pages show, as plain data: township progress, parcels, district summary.

Presentation only: numbers come from tallies (unions of verified parcels, geodesic);
this module adds geometry for drawing and the pace a district needs to meet its target.
"""

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from .. import tallies
from ..areas import m2_to_mu
from ..errors import InvalidInput
from ..units import find_district

QUARTER_ENDS = {1: (3, 31), 2: (6, 30), 3: (9, 30), 4: (12, 31)}
# ~10 m: township outlines are approximate anyway, and the page stays small.
TOWNSHIP_SIMPLIFY_DEG = 0.0001


@dataclass
class View:
    """One state of a map: which district and kind, as it stood when."""

    district: str
    kind: str = "land"
    year: int = 2017
    quarter: int | None = None
    as_of: date | None = None

    def __post_init__(self):
        if self.kind not in ("land", "demolition"):
            raise InvalidInput("kind must be land or demolition")
        if self.quarter is not None:
            if self.quarter not in QUARTER_ENDS:
                raise InvalidInput("quarter must be 1 to 4")
            self.as_of = date(self.year, *QUARTER_ENDS[self.quarter])

    @property
    def reference_day(self) -> date:
        """The day the pace is computed from: the view's day, or today within the year."""
        if self.as_of:
            return self.as_of
        return min(date.today(), date(self.year, 12, 31))


def quarter_end(year: int, quarter: int) -> date:
    return date(year, *QUARTER_ENDS[quarter])


def township_features(session: Session, view: View) -> dict:
    """Townships of the district with verified area, target and progress, as GeoJSON."""
    district = find_district(session, view.district)
    rows = tallies.tally(session, by="township", kind=view.kind, year=view.year, as_of=view.as_of)
    numbers = {r.township: r for r in rows if r.district == district.name}
    targets = _targets(session, district.id, view)
    shapes = session.execute(
        text("""
            SELECT id, name, code, boundary_approximate,
                   ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tol), 6)::json AS geometry,
                   ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
            FROM admin_units WHERE parent_id = :district ORDER BY code"""),
        {"district": district.id, "tol": TOWNSHIP_SIMPLIFY_DEG},
    ).mappings()
    features = []
    for s in shapes:
        row = numbers.get(s["name"])
        verified = row.verified_m2 if row else 0.0
        target = targets.get(s["id"])
        features.append(
            {
                "type": "Feature",
                "id": s["id"],
                "geometry": s["geometry"],
                "properties": {
                    "name": s["name"],
                    "code": s["code"],
                    "approximate": s["boundary_approximate"],
                    "label_lon": s["lon"],
                    "label_lat": s["lat"],
                    "parcels": row.parcels if row else 0,
                    "verified_m2": verified,
                    "verified_mu": m2_to_mu(verified),
                    "delivered_m2": getattr(row, "delivered_m2", None) if row else 0.0,
                    "target_m2": target,
                    "target_mu": m2_to_mu(target),
                    "progress": verified / target if target else None,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _targets(session: Session, district_id: int, view: View) -> dict[int, float]:
    """Each township's target for the view: the quarters up to the one shown when the
    plan is set by quarter, otherwise the year's target."""
    rows = session.execute(
        text("""
            SELECT tg.admin_unit_id AS unit, tg.quarter, tg.amount_m2
            FROM targets tg JOIN admin_units u ON u.id = tg.admin_unit_id
            WHERE (u.parent_id = :district OR u.id = :district)
              AND tg.year = :year AND tg.kind = :kind"""),
        {"district": district_id, "year": view.year, "kind": view.kind},
    ).mappings()
    annual: dict[int, float] = {}
    quarterly: dict[int, float] = {}
    upto = view.quarter or 4
    for r in rows:
        if r["quarter"] is None:
            annual[r["unit"]] = r["amount_m2"]
        elif r["quarter"] <= upto:
            quarterly[r["unit"]] = quarterly.get(r["unit"], 0.0) + r["amount_m2"]
    if view.quarter is None:
        return {**quarterly, **annual}
    return {**annual, **quarterly}


def district_summary(session: Session, view: View) -> dict:
    """Target, verified, progress, remaining and the pace needed per remaining month."""
    district = find_district(session, view.district)
    rows = tallies.tally(session, by="district", kind=view.kind, year=view.year, as_of=view.as_of)
    row = next((r for r in rows if r.district == district.name), None)
    target = _targets(session, district.id, view).get(district.id)
    verified = row.verified_m2 if row else 0.0
    remaining = max(target - verified, 0.0) if target else None
    months_left = _months_left(view.reference_day, view.year)
    pace = remaining / months_left if remaining is not None and months_left > 0 else None
    return {
        "district": district.name,
        "kind": view.kind,
        "year": view.year,
        "quarter": view.quarter,
        "as_of": view.as_of.isoformat() if view.as_of else None,
        "parcels": row.parcels if row else 0,
        "verified_m2": verified,
        "verified_mu": m2_to_mu(verified),
        "target_m2": target,
        "target_mu": m2_to_mu(target),
        "progress": verified / target if target else None,
        "remaining_m2": remaining,
        "remaining_mu": m2_to_mu(remaining),
        "months_left": round(months_left, 2),
        "pace_m2_per_month": pace,
        "pace_mu_per_month": m2_to_mu(pace),
    }


def _months_left(day: date, year: int) -> float:
    """Months from the end of `day` to the end of the year (30.44-day months)."""
    end = date(year, 12, 31)
    return max((end - day).days, 0) / 30.44


def parcel_count(session: Session, view: View) -> int:
    sql = f"SELECT count(*) FROM ({_PARCELS_SQL}) p"
    return session.execute(text(sql), _parcel_params(session, view)).scalar()


# Parcels as they stood at :as_of (current state when NULL), with what a popup shows.
_PARCELS_SQL = """
    SELECT v.parcel_id AS id, v.code, v.status, v.kind, v.area_m2, t.name AS township,
           pr.code AS project, pr.name AS project_name, v.verified_by, v.verified_group,
           v.verified_at, coalesce(cardinality(v.support_ids), 0) > 0 AS supported, v.geom
    FROM parcel_versions v
    JOIN admin_units t ON t.id = v.township_id
    LEFT JOIN projects pr ON pr.id = v.project_id
    WHERE t.parent_id = :district AND v.kind = :kind
      AND (CAST(:as_of AS timestamptz) IS NULL AND v.valid_to IS NULL
           OR v.valid_from < CAST(:as_of AS timestamptz)
              AND (v.valid_to IS NULL OR v.valid_to >= CAST(:as_of AS timestamptz)))
"""


def _parcel_params(session: Session, view: View) -> dict:
    district = find_district(session, view.district)
    return {
        "district": district.id,
        "kind": view.kind,
        "as_of": tallies.end_of_day(view.as_of) if view.as_of else None,
    }


def parcel_features(session: Session, view: View) -> dict:
    rows = session.execute(
        text(f"""
            SELECT p.id, p.code, p.status, p.area_m2, p.township, p.project, p.project_name,
                   p.verified_by, p.verified_group, p.verified_at, p.supported,
                   ST_AsGeoJSON(p.geom, 6)::json AS geometry
            FROM ({_PARCELS_SQL}) p ORDER BY p.id"""),
        _parcel_params(session, view),
    ).mappings()
    return {"type": "FeatureCollection", "features": [_parcel_feature(r) for r in rows]}


def _parcel_feature(r) -> dict:
    props = {
        k: r[k]
        for k in (
            "code",
            "status",
            "township",
            "project",
            "project_name",
            "verified_by",
            "verified_group",
            "supported",
        )
    }
    props["area_m2"] = round(r["area_m2"], 1)
    props["area_mu"] = round(m2_to_mu(r["area_m2"]), 2)
    props["verified_at"] = r["verified_at"].date().isoformat() if r["verified_at"] else None
    return {"type": "Feature", "id": r["id"], "geometry": r["geometry"], "properties": props}


def district_bounds(session: Session, name: str) -> list[list[float]]:
    district = find_district(session, name)
    b = session.execute(
        text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
            "FROM admin_units WHERE id = :id"
        ),
        {"id": district.id},
    ).one()
    return [[b[1], b[0]], [b[3], b[2]]]


def change_token(session: Session) -> str:
    """Changes whenever a parcel is uploaded, edited or changes status (history is
    append-only, so the newest version id says it), or a target is set."""
    row = session.execute(
        text(
            "SELECT (SELECT coalesce(max(id), 0) FROM parcel_versions), "
            "(SELECT max(updated_at) FROM targets)"
        )
    ).one()
    return f"{row[0]}-{row[1].timestamp() if row[1] else 0}"


def timeline_days(year: int) -> list[dict]:
    return [
        {"label": f"{year}年第{q}季度末", "quarter": q, "as_of": quarter_end(year, q).isoformat()}
        for q in QUARTER_ENDS
    ]


def dumps(data) -> str:
    """JSON for embedding in a <script> tag: no '</' can end the tag early."""
    return json.dumps(data, ensure_ascii=False, default=str).replace("</", "<\\/")
