"""What the map pages show, as plain data: township progress, parcels, district summary.

Presentation only: numbers come from tallies (unions of verified parcels, geodesic);
this module adds geometry for drawing and the pace a district needs to meet its target.
"""

import json
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import database, periods
from geo_service.areas import m2_to_mu, rounded
from geo_service.campaign import campaigns, tallies
from geo_service.campaign.campaigns import CampaignView
from geo_service.campaign.tallies import CAMPAIGN_TZ, QUARTER_ENDS, VALID_AT
from geo_service.campaign.targets import basis_label
from geo_service.errors import InvalidInput
from geo_service.interop import geojson_sql
from geo_service.periods import Period
from geo_service.settings import get_settings
from geo_service.units import find_city, find_district, find_district_or_city

# ~10 m: township outlines are approximate anyway, and the page stays small.
TOWNSHIP_SIMPLIFY_DEG = 0.0001
# ~0.5 m: invisible up to street zoom, yet one boundary surveyed every few millimetres
# cannot make the page heavy. Drawing only: areas always come from the stored geometry.
PARCEL_SIMPLIFY_DEG = 0.000005


@dataclass
class View:
    """One state of a map: which district and kind, as it stood when."""

    district: str
    kind: str = "land"
    year: int | None = None
    quarter: int | None = None
    as_of: date | None = None
    # The city level: `district` names the city, its districts are drawn instead of
    # townships, each a link down to its own map, and no parcels (a city has too many).
    city: bool = False
    # The campaign shown (its days and targets); None: the calendar year `year`.
    campaign: CampaignView | None = None
    # Every campaign's name, for the page's picker.
    campaigns: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.year = self.year or (self.campaign.year if self.campaign else None)
        self.year = self.year or get_settings().campaign_year
        if not get_settings().year_ok(self.year):
            raise InvalidInput(
                f"year must be in the years {get_settings().years}",
                rule="year_outside",
                params={"value": self.year, **get_settings().year_figures},
            )
        if self.kind not in ("land", "demolition"):
            raise InvalidInput(
                "kind must be land or demolition",
                rule="choice",
                params={"option": "kind", "choices": "land, demolition", "value": self.kind},
            )
        if self.quarter is not None:
            if self.quarter not in QUARTER_ENDS:
                raise InvalidInput(
                    "quarter must be 1 to 4", rule="target_quarter", params={"value": self.quarter}
                )
            # The campaign's own quarter of that number (across the new year when it is),
            # unless a calendar quarter asked for (campaign_and_quarter) gave its day.
            found = self.campaign.quarter_end(self.quarter) if self.campaign else None
            self.as_of = self.as_of or found or date(self.year, *QUARTER_ENDS[self.quarter])

    @property
    def period(self) -> "CampaignView | int":
        """What is tallied: the campaign, or the calendar year."""
        return self.campaign or self.year

    @property
    def reference_day(self) -> date:
        """The day the pace is computed from and figures are 截至: the view's day, or today
        (in China) held within the campaign, so a past campaign has no months left."""
        return tallies.reference_day(self.period, self.as_of)

    def tally(self, session: Session, by: str) -> list:
        return tallies.tally(
            session,
            by=by,
            kind=self.kind,
            year=None if self.campaign else self.year,
            as_of=self.as_of,
            quarter=self.quarter,
            district=None if self.city else self.district,
            campaign=self.campaign,
        )


def due_by_unit(session: Session, view: View, level: str) -> dict:
    """unit name → the area due by the view's day (tallies.dues) for the view's kind."""
    campaign = view.campaign or tallies.campaign_and_day(session, None, view.year, None)[0]
    day = view.as_of or view.reference_day
    district = None if view.city or level == "city" else view.district
    found = tallies.dues(session, level, campaign, day, view.as_of, district, view.kind)
    return {name: amount for (name, _kind), amount in found.items()}


def campaign_and_quarter(
    session: Session,
    campaign: str | None,
    year: int | None,
    quarter: "int | Period | None",
    as_of: date | None = None,
) -> tuple[CampaignView, int | None, date | None]:
    """The campaign a map shows (named, of the year, holding the day), its quarter's number
    and the day it stands at (None: the view's own). A number (periods.check_quarter) is
    the campaign's quarter of that number; a calendar quarter (2017Q2) names the campaign
    holding its last day when none is named, and is shown as at that day, held within the
    campaign's days."""
    if not isinstance(quarter, Period):
        return campaigns.resolve_held(session, campaign, year, as_of), quarter, as_of
    chosen = campaigns.resolve_held(session, campaign, year, quarter.end, asked=str(quarter))
    if quarter not in chosen.quarters():
        raise chosen.no_quarter(str(quarter))
    return chosen, quarter.quarter, min(quarter.end, chosen.last_day)


def township_features(session: Session, view: View) -> dict:
    """Townships of the district (districts of the city) with verified area, target and
    progress, as GeoJSON."""
    if view.city:
        district = find_city(session)
        numbers = {r.district: r for r in view.tally(session, "district")}
    else:
        district = find_district(session, view.district)
        numbers = {
            r.township: r for r in view.tally(session, "township") if r.district == district.name
        }
    shapes = session.execute(
        text(f"""
            SELECT id, name, code, boundary_approximate,
                   {geojson_sql("ST_SimplifyPreserveTopology(geom, :tol)", 6)} AS geometry,
                   ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
            FROM admin_units WHERE parent_id = :district ORDER BY code"""),
        {"district": district.id, "tol": TOWNSHIP_SIMPLIFY_DEG},
    ).mappings()
    dues = due_by_unit(session, view, "district" if view.city else "township")
    features = []
    for s in shapes:
        row = numbers.get(s["name"])
        verified = row.verified_m2 if row else 0.0
        target = row.target_m2 if row else None
        basis = row.target_basis if row else None
        features.append(
            {
                "type": "Feature",
                "id": s["id"],
                "geometry": s["geometry"],
                "properties": rounded(
                    {
                        "name": s["name"],
                        "code": s["code"],
                        "approximate": s["boundary_approximate"],
                        "label_lon": s["lon"],
                        "label_lat": s["lat"],
                        "verified_parcels": row.verified_parcels if row else 0,
                        "verified_m2": verified,
                        "verified_mu": m2_to_mu(verified),
                        "delivered_m2": getattr(row, "delivered_m2", None) if row else 0.0,
                        "target_m2": target,
                        "target_mu": m2_to_mu(target),
                        "target_label": basis_label(basis),
                        # the page says the label in its language from the basis
                        "target_basis": basis,
                        "progress": verified / target if target else None,
                        "due_m2": dues.get(s["name"]),
                        "due_mu": m2_to_mu(dues.get(s["name"])),
                        "link": progress_url(s["name"], view) if view.city else None,
                    }
                ),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def progress_url(unit: str, view: View) -> str:
    """The progress map of another unit (a district, or the city) in the same view."""
    query = {"district": unit, "kind": view.kind}
    query.update({"campaign": view.campaign.name} if view.campaign else {"year": view.year})
    return f"/maps/progress?{urlencode(query)}"


def district_summary(session: Session, view: View) -> dict:
    """Target, verified, progress, remaining and the pace needed per remaining month."""
    if view.city:
        district = find_city(session)
        row = next(iter(view.tally(session, "city")), None)
    else:
        district = find_district(session, view.district)
        row = next(
            (r for r in view.tally(session, "district") if r.district == district.name), None
        )
    due_m2 = due_by_unit(session, view, "city" if view.city else "district").get(district.name)
    target = row.target_m2 if row else None
    basis = row.target_basis if row else None
    verified = row.verified_m2 if row else 0.0
    remaining = max(target - verified, 0.0) if target else None
    months_left = tallies.months_left(view.reference_day, view.period)
    pace = tallies.pace_per_month(remaining, view.reference_day, view.period)
    campaign = view.campaign
    return rounded(
        {
            "district": district.name,
            "level": "city" if view.city else "district",
            "kind": view.kind,
            "year": view.year,
            "campaign": campaign.name if campaign else str(view.year),
            "campaign_ended": campaign.ended() if campaign else None,
            "demo": bool(campaign and campaign.demo),
            "quarter": view.quarter,
            "quarter_year": view.as_of.year if view.quarter else None,
            "as_of": view.as_of.isoformat() if view.as_of else None,
            # The day the figures are 截至: the one day of the request (periods.today).
            "as_at": view.reference_day.isoformat(),
            "verified_parcels": row.verified_parcels if row else 0,
            "verified_m2": verified,
            "verified_mu": m2_to_mu(verified),
            "target_m2": target,
            "target_mu": m2_to_mu(target),
            "target_label": basis_label(basis),
            "target_basis": basis,
            "progress": verified / target if target else None,
            "due_m2": due_m2,
            "due_mu": m2_to_mu(due_m2),
            "remaining_m2": remaining,
            "remaining_mu": m2_to_mu(remaining),
            "months_left": round(months_left, 2),
            "pace_m2_per_month": pace,
            "pace_mu_per_month": m2_to_mu(pace),
        }
    )


def parcel_count(session: Session, view: View) -> int:
    if view.city:
        return 0
    sql = f"SELECT count(*) FROM ({_PARCELS_SQL}) p"
    return session.execute(text(sql), _parcel_params(session, view)).scalar()


# Parcels as they stood at :as_of (current state when NULL), with what a popup shows.
_PARCELS_SQL = f"""
    SELECT v.parcel_id AS id, v.code, v.status, v.kind, v.area_m2, t.name AS township,
           pr.code AS project, pr.name AS project_name, v.verified_by, v.verified_group,
           v.verified_at, coalesce(cardinality(v.support_ids), 0) > 0 AS supported, v.geom
    FROM parcel_versions v
    JOIN admin_units t ON t.id = v.township_id
    LEFT JOIN projects pr ON pr.id = v.project_id
    WHERE t.parent_id = :district AND v.kind = :kind
      AND {VALID_AT.format(v="v")}
"""


def _parcel_params(session: Session, view: View) -> dict:
    district = find_district(session, view.district)
    return {
        "district": district.id,
        "kind": view.kind,
        "as_of": tallies.end_of_day(view.as_of) if view.as_of else None,
    }


def parcel_features(session: Session, view: View) -> dict:
    if view.city:
        return {"type": "FeatureCollection", "features": []}
    rows = session.execute(
        text(f"""
            SELECT p.id, p.code, p.status, p.area_m2, p.township, p.project, p.project_name,
                   p.verified_by, p.verified_group, p.verified_at, p.supported,
                   {geojson_sql("ST_SimplifyPreserveTopology(p.geom, :tol)", 6)}
                       AS geometry
            FROM ({_PARCELS_SQL}) p ORDER BY p.id"""),
        {**_parcel_params(session, view), "tol": PARCEL_SIMPLIFY_DEG},
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
    verified = r["verified_at"]
    # The campaign's day: a 01:00 verification in Fuzhou is that day, not the UTC one before.
    props["verified_at"] = verified.astimezone(CAMPAIGN_TZ).date().isoformat() if verified else None
    return {"type": "Feature", "id": r["id"], "geometry": r["geometry"], "properties": props}


def district_bounds(session: Session, name: str) -> list[list[float]]:
    district = find_district_or_city(session, name)
    b = session.execute(
        text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
            "FROM admin_units WHERE id = :id"
        ),
        {"id": district.id},
    ).one()
    return [[b[1], b[0]], [b[3], b[2]]]


# The database's own id (pg_database.oid) too: a backup restored with --replace is a new
# database whose version ids start again from the backup's, so without it a token could
# come back meaning other data, and the overview tiles kept in files under it
# (tile_store, which outlives the service's restarts) would be served again.
_CHANGE_TOKEN = (
    "SELECT (SELECT coalesce(max(id), 0) FROM parcel_versions), "
    "(SELECT max(updated_at) FROM targets), "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)


def change_token(session: Session | None = None) -> str:
    """Changes whenever a parcel is uploaded, edited or changes status (history is
    append-only, so the newest version id says it), or a target is set. Without a session,
    read on a pooled connection of its own (database.read_rows): what tiles and polling
    pages ask for on every request."""
    if session is None:
        row = database.read_rows(_CHANGE_TOKEN)[0]
    else:
        row = session.execute(text(_CHANGE_TOKEN)).one()
    return f"{row[0]}-{row[1].timestamp() if row[1] else 0}-{row[2]}"


def quarters(view: View) -> list[Period]:
    """The quarters its timeline and a saved map offer: the campaign's own calendar quarters
    (across the new year, and over the years of a longer one), else the view's year's."""
    if view.campaign is None:
        return [Period(view.year, quarter=q) for q in QUARTER_ENDS]
    return view.campaign.quarters()


def quarter_day(view: View, quarter: Period) -> date:
    """The day a quarter of the view is shown at: its last, held within the campaign."""
    return min(quarter.end, view.campaign.last_day) if view.campaign else quarter.end


def timeline_days(view: View) -> list[dict]:
    """The timeline's quarters, each with its number, year, name (2018Q2, what the page
    asks for) and day, and whether today falls in it."""
    today = periods.today()
    return [
        {
            "quarter": q.quarter,
            "year": q.year,
            "period": str(q),
            "as_of": quarter_day(view, q).isoformat(),
            "current": q.start <= today <= q.end,
        }
        for q in quarters(view)
    ]


def dumps(data) -> str:
    """JSON for embedding in a <script> tag: no '</' can end the tag early."""
    return json.dumps(data, ensure_ascii=False, default=str).replace("</", "<\\/")
