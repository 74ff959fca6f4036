"""导出: every download of /api/exports as a form, so that planners need not type URLs.

The forms GET the API's own endpoints (the session cookie signs them in, as it does any
page); a filter left on "All" is sent empty, which the endpoints read as no filter."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from geo_service.accounts.permissions import visible_district_names
from geo_service.api.auth import PageUser
from geo_service.api.deps import ReadSessionDep
from geo_service.campaign import campaigns
from geo_service.exports import GROUPINGS
from geo_service.models import KINDS, STATUSES, AdminUnit
from geo_service.web.i18n import N_, choose
from geo_service.web.login import render
from geo_service.web.parcels import _GLOBALS

# What each CRS of exports.EXPORT_CRS is, for someone choosing one.
CRS_LABELS = {
    4490: N_("CGCS2000 longitude/latitude"),
    4326: N_("WGS84 longitude/latitude"),
    4527: N_("CGCS2000 3-degree zone 39 (with zone number)"),
    4528: N_("CGCS2000 3-degree zone 40 (with zone number)"),
    4529: N_("CGCS2000 3-degree zone 41 (with zone number)"),
    4548: N_("CGCS2000 3-degree, central meridian 117°E"),
    4549: N_("CGCS2000 3-degree, central meridian 120°E (Fuzhou)"),
    4550: N_("CGCS2000 3-degree, central meridian 123°E"),
}


def _places(session, who) -> list[tuple[str, list[str]]]:
    """The districts the user may read, each with its townships, by name."""
    names = visible_district_names(session, who)
    district = AdminUnit.__table__.alias("district")
    query = (
        select(district.c.name, AdminUnit.name)
        .join(AdminUnit, AdminUnit.parent_id == district.c.id)
        .where(district.c.level == "district", AdminUnit.level == "township")
        .order_by(district.c.name, AdminUnit.name)
    )
    if names is not None:
        query = query.where(district.c.name.in_(names))
    places: dict[str, list[str]] = {}
    for district_name, township in session.execute(query):
        places.setdefault(district_name, []).append(township)
    return list(places.items())


def export_page_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/exports", response_class=HTMLResponse)
    def export_page(request: Request, session: ReadSessionDep, who: PageUser):
        places = _places(session, who)
        return render(
            request,
            "exports.html",
            user=who,
            places=places,
            # one district: the API takes the user's own, so there is nothing to choose
            city_wide=visible_district_names(session, who) is None,
            groupings=GROUPINGS,
            crs_labels=CRS_LABELS,
            kinds=KINDS,
            statuses=STATUSES,
            # Blank: the campaign every view shows (under way today, else the latest).
            year=campaigns.current(session).name,
            header_lang="en" if choose(request) == "en" else "zh",
            **_GLOBALS,
        )

    return router
