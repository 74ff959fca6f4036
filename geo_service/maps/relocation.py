"""The relocation (回迁) view of the progress map: resettlement sites coloured by
hand-over progress and sized by flats, lines from the townships whose households they
take, and the district's figures against target.

Same page machinery as the progress map (folium, local assets, data embedded so a saved
file works offline, live polling); the numbers come from relocation_tallies.
"""

from datetime import date
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.campaign import campaigns
from geo_service.interop import geojson_sql
from geo_service.maps import data
from geo_service.maps.pages import (
    DEFAULT_LOCALE,
    POLL_MS,
    _base_map,
    _Start,
    _units,
    page_words,
)
from geo_service.maps.words import gettext
from geo_service.relocation import tallies as rt
from geo_service.units import find_district


def relocation_data(
    session: Session,
    district: str,
    year: int | None = None,
    as_of: date | None = None,
    campaign: "str | campaigns.CampaignView | None" = None,
) -> dict:
    """Townships, sites, lines and the district summary, as the page draws them: for the
    campaign named, else the one a year or the as-of day names, else the one shown by
    default (its own relocation targets, else its first year's)."""
    chosen = campaigns.resolve_held(session, campaign, year, as_of)
    year = chosen.year
    unit = find_district(session, district)
    # By the campaign itself, not its year: a campaign may have a target of its own.
    by_project = {r.project: r for r in rt.tally(session, by="project", campaign=chosen,
                                                 as_of=as_of)}  # fmt: skip
    by_township = {
        r.township: r
        for r in rt.tally(
            session, by="township", campaign=chosen, as_of=as_of, district=district
        )  # fmt: skip
    }
    summary = next(
        iter(rt.tally(session, by="district", campaign=chosen, as_of=as_of, district=district)),
        None,
    )
    cases = rt.overdue(session, as_of, district, day=as_of or rt.default_day(year, session))
    return {
        "townships": _townships(session, unit.id, by_township),
        "sites": _sites(session, unit.id, by_project),
        "links": rt.township_links(session, year, as_of, district),
        "summary": {
            "district": unit.name,
            "year": year,
            "campaign": chosen.name,
            "demo": chosen.demo,
            "as_of": as_of.isoformat() if as_of else None,
            "as_at": (as_of or rt.default_day(year, session)).isoformat(),
            **(summary.as_dict("district") if summary else {}),
            "overdue_handover": sum(c.kind == "handover" for c in cases),
            "overdue_title": sum(c.kind == "title" for c in cases),
        },
        "token": change_token(session),
    }


def _townships(session: Session, district_id: int, rows: dict) -> dict:
    shapes = session.execute(
        text(f"""
            SELECT id, name, {geojson_sql("ST_SimplifyPreserveTopology(geom, :tol)", 6)} AS g,
                   ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
            FROM admin_units WHERE parent_id = :district ORDER BY code"""),
        {"district": district_id, "tol": data.TOWNSHIP_SIMPLIFY_DEG},
    ).mappings()
    features = []
    for s in shapes:
        row = rows.get(s["name"])
        props = {"name": s["name"], "label_lon": s["lon"], "label_lat": s["lat"]}
        if row is not None:
            props.update(households=row.households_planned, handed_over=row.households_handed_over)
        features.append({"type": "Feature", "id": s["id"], "geometry": s["g"], "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _sites(session: Session, district_id: int, rows: dict) -> dict:
    shapes = session.execute(
        text(f"""
            SELECT code, name, planned_completion, actual_completion, site_m2,
                   {geojson_sql("geom", 6)} AS g,
                   ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
            FROM resettlement_projects WHERE district_id = :district AND geom IS NOT NULL
            ORDER BY code"""),
        {"district": district_id},
    ).mappings()
    features = []
    for s in shapes:
        row = rows.get(s["code"])
        figures = row.as_dict("project") if row else {}
        planned = figures.get("households_planned") or 0
        features.append(
            {
                "type": "Feature",
                "geometry": s["g"],
                "properties": {
                    "code": s["code"],
                    "name": s["name"],
                    "lon": s["lon"],
                    "lat": s["lat"],
                    "site_m2": s["site_m2"],
                    "planned_completion": _iso(s["planned_completion"]),
                    "actual_completion": _iso(s["actual_completion"]),
                    "townships": figures.get("township"),
                    "flats_planned": figures.get("flats_planned", 0),
                    "flats_allocated": figures.get("flats_allocated", 0),
                    "flats_handed_over": figures.get("flats_handed_over", 0),
                    "households": planned,
                    "households_handed_over": figures.get("households_handed_over", 0),
                    "progress": figures.get("households_handed_over", 0) / planned
                    if planned
                    else None,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _iso(day) -> str | None:
    return day.isoformat() if day else None


def change_token(session: Session) -> str:
    """Changes with every household, flat or project change and every relocation target
    change (each adds a version, whatever moment it is dated)."""
    row = session.execute(
        text(
            "SELECT (SELECT coalesce(max(id), 0) FROM relocation_versions), "
            "(SELECT coalesce(max(id), 0) FROM relocation_target_versions)"
        )
    ).one()
    return f"r{row[0]}-t{row[1]}"


def relocation_page(
    session: Session,
    district: str,
    year: int | None = None,
    static: bool = False,
    locale: str = DEFAULT_LOCALE,
    campaign: "str | campaigns.CampaignView | None" = None,
) -> str:
    chosen = campaigns.resolve_held(session, campaign, year)
    found = relocation_data(session, district, campaign=chosen)
    shown = chosen.name
    # A year with no campaign on record is asked for by its year.
    picked = {"campaign": shown} if chosen.id is not None else {"year": chosen.year}
    query = urlencode({"district": district, **picked})
    config = {
        "mode": "relocation",
        "view": {"district": district, "year": found["summary"]["year"], "campaign": shown},
        "campaigns": [c.name for c in campaigns.all_campaigns(session)],
        "bounds": data.district_bounds(session, district),
        "data": found,
        "live": not static,
        "poll_ms": POLL_MS,
        "data_url": f"/maps/relocation/data.json?{query}",
        "changes_url": "/api/relocation/changes",
        **page_words(locale),
    }
    title = gettext(locale)("%(district)s relocation progress") % {"district": district}
    fmap = _base_map(config["bounds"], title, static, locale)
    fmap.add_child(_Start(config))
    fmap.get_root().beside.append(_units())
    return fmap.get_root().render()
