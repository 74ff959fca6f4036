"""Leaders' map pages, their live data, change polling and vector tiles."""

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from geo_service.accounts.permissions import check_read_city, check_read_district, home_district
from geo_service.api import schemas
from geo_service.api.auth import PageUser, SignedIn
from geo_service.api.deps import (
    KIND_PATTERN,
    CampaignQuery,
    DayQuery,
    QuarterQuery,
    ReadSessionDep,
    TilePath,
    YearQuery,
    ZoomPath,
)
from geo_service.campaign import campaigns
from geo_service.errors import InvalidInput
from geo_service.maps import data as maps_data
from geo_service.maps import pages as maps_pages
from geo_service.maps import tiles as maps_tiles
from geo_service.settings import get_settings
from geo_service.units import find_city, find_district_or_city
from geo_service.web import i18n


class ParcelFacts(BaseModel):
    """One parcel as the map's popup shows it: the detailed vector tiles' fields."""

    id: int
    code: str
    status: str
    area_m2: float | None
    area_mu: float | None
    township: str
    project: str | None
    project_name: str | None
    verified_by: str | None
    verified_group: str | None
    verified_at: str | None = Field(description="day of verification, China Standard Time")


def _view(
    session, who, district, kind, year, quarter, as_of=None, city_ok=False, campaign=None
) -> maps_data.View:
    """The view asked for, within what the user may see; their own district by default.
    The progress map also has a city level (its districts, each a link down)."""
    found = _view_of_unit(session, who, district, kind, year, quarter, as_of, city_ok, campaign)
    return found[0]


def _view_of_unit(
    session, who, district, kind, year, quarter, as_of=None, city_ok=False, campaign=None
):
    """_view, and the district (or city) unit it is of."""
    if district is None and city_ok and _city_leader(who):
        district = find_city(session).name  # a city's leader opens on the whole city
    district = district or home_district(session, who, get_settings().default_district)
    unit = find_district_or_city(session, district)
    if unit.level == "city":
        if not city_ok:
            raise InvalidInput(
                f"{unit.name} is the city: this view is for one district",
                rule="city_view",
                params={"name": unit.name},
            )
        check_read_city(who, unit)
    else:
        check_read_district(who, unit)
    # The campaign shown: asked for by name or year, else the one holding the calendar
    # quarter asked for, else the one under way today.
    chosen, quarter, as_of = maps_data.campaign_and_quarter(session, campaign, year, quarter, as_of)
    view = maps_data.View(
        district=unit.name, kind=kind, year=chosen.year, quarter=quarter, as_of=as_of,
        city=unit.level == "city", campaign=chosen,
        campaigns=[c.name for c in campaigns.all_campaigns(session)],
    )  # fmt: skip
    return view, unit


def _city_leader(who) -> bool:
    return who is not None and who.role == "leader" and who.district_ids is None


def maps_router() -> APIRouter:
    """Leaders' map pages, their live data, change polling and vector tiles."""
    router = APIRouter(tags=["maps"])
    kind_query = Annotated[str, Query(pattern=KIND_PATTERN)]

    @router.get("/maps/progress", response_class=HTMLResponse)
    def progress_map(
        request: Request,
        session: ReadSessionDep,
        who: PageUser,
        district: str | None = None,
        kind: kind_query = "land",
        year: YearQuery = None,
        quarter: QuarterQuery = None,
        campaign: CampaignQuery = None,
    ):
        view = _view(session, who, district, kind, year, quarter, city_ok=True, campaign=campaign)
        up = None
        if not view.city and who.district_ids is None:
            city = find_city(session).name
            up = maps_data.progress_url(city, view)
        page = maps_pages.progress_page(session, view, up_url=up, locale=i18n.choose(request))
        return i18n.remember(request, HTMLResponse(page))

    @router.get("/maps/progress/data.json", response_model=schemas.ProgressData)
    def progress_data(
        session: ReadSessionDep,
        who: SignedIn,
        district: str | None = None,
        kind: kind_query = "land",
        year: YearQuery = None,
        quarter: QuarterQuery = None,
        campaign: CampaignQuery = None,
    ):
        view = _view(session, who, district, kind, year, quarter, city_ok=True, campaign=campaign)
        return JSONResponse(json.loads(maps_data.dumps(maps_pages.progress_data(session, view))))

    @router.get("/maps/support", response_class=HTMLResponse)
    def support_map(
        request: Request,
        session: ReadSessionDep,
        who: PageUser,
        district: str | None = None,
        kind: kind_query = "land",
        year: YearQuery = None,
        campaign: CampaignQuery = None,
    ):
        view = _view(session, who, district, kind, year, None, campaign=campaign)
        page = maps_pages.support_page(session, view, locale=i18n.choose(request))
        return i18n.remember(request, HTMLResponse(page))

    @router.get("/api/changes", response_model=schemas.ChangeToken)
    def changes(who: SignedIn):
        """A token that changes whenever any parcel changes: cheap to poll."""
        return {"token": maps_data.change_token()}

    @router.get(
        "/tiles/{z}/{x}/{y}.pbf",
        response_class=Response,
        responses={200: {"content": {schemas.MVT: schemas.BINARY}, "description": "a tile"}},
    )
    def parcel_tile(
        request: Request,
        session: ReadSessionDep,
        who: SignedIn,
        z: ZoomPath,
        x: TilePath,
        y: TilePath,
        district: str | None = None,
        kind: kind_query = "land",
        as_of: DayQuery = None,
    ):
        view, unit = _view_of_unit(session, who, district, kind, None, None, as_of)
        # Tiles change only with the data: the change token is the tile's validator, so a
        # browser revalidating an unchanged tile gets 304 without PostGIS drawing it. The
        # district is in it too: without ?district= it is the signed-in user's own.
        token = maps_data.change_token()
        etag = f'W/"{token}-{quote(view.district)}"'
        headers = {
            "ETag": etag,
            "Cache-Control": "private, no-cache",
            "Vary": "Authorization, Cookie",
        }
        if etag in _etags(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
        body = maps_tiles.kept_tile(token, z, x, y, unit.id, kind, as_of)
        return Response(body, media_type="application/vnd.mapbox-vector-tile", headers=headers)

    @router.get("/tiles/parcels/at.json", response_model=ParcelFacts)
    def parcel_at(
        session: ReadSessionDep,
        who: SignedIn,
        lon: Annotated[float, Query(ge=-180, le=180)],
        lat: Annotated[float, Query(ge=-90, le=90)],
        zoom: Annotated[float, Query(ge=0, le=24, description="the map's zoom when tapped")],
        district: str | None = None,
        kind: kind_query = "land",
        as_of: DayQuery = None,
    ):
        """The parcel under a tap on the map, with what the detailed tiles say of it: the
        tiles only draw (below zoom 12 they carry no more than id and status)."""
        unit = _view_of_unit(session, who, district, kind, None, None, as_of)[1]
        facts = maps_tiles.parcel_at(lon, lat, zoom, unit.id, kind, as_of)
        return JSONResponse(facts, headers={"Cache-Control": "private, no-cache"})

    return router


def _etags(header: str | None) -> set[str]:
    """The validators an If-None-Match header lists (weak and strong compare alike here)."""
    if not header:
        return set()
    tags = {t.strip() for t in header.split(",")}
    return tags | {f"W/{t}" for t in tags if not t.startswith("W/")}
