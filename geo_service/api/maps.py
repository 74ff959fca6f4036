"""Leaders' map pages, their live data, change polling and vector tiles."""

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..maps import data as maps_data
from ..maps import pages as maps_pages
from ..maps import tiles as maps_tiles
from ..permissions import check_read_district, home_district
from ..settings import get_settings
from ..units import find_district
from .auth import PageUser, SignedIn
from .deps import KIND_PATTERN, SessionDep


def _view(session, who, district, kind, year, quarter, as_of=None) -> maps_data.View:
    """The view asked for, within what the user may see; their own district by default."""
    district = district or home_district(session, who, get_settings().default_district)
    check_read_district(who, find_district(session, district))
    return maps_data.View(district=district, kind=kind, year=year, quarter=quarter, as_of=as_of)


def maps_router() -> APIRouter:
    """Leaders' map pages, their live data, change polling and vector tiles."""
    router = APIRouter(tags=["maps"])
    kind_query = Annotated[str, Query(pattern=KIND_PATTERN)]
    quarter_query = Annotated[int | None, Query(ge=1, le=4)]

    @router.get("/maps/progress", response_class=HTMLResponse)
    def progress_map(
        session: SessionDep,
        who: PageUser,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
        quarter: quarter_query = None,
    ):
        view = _view(session, who, district, kind, year, quarter)
        return HTMLResponse(maps_pages.progress_page(session, view))

    @router.get("/maps/progress/data.json")
    def progress_data(
        session: SessionDep,
        who: SignedIn,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
        quarter: quarter_query = None,
    ):
        view = _view(session, who, district, kind, year, quarter)
        return JSONResponse(json.loads(maps_data.dumps(maps_pages.progress_data(session, view))))

    @router.get("/maps/support", response_class=HTMLResponse)
    def support_map(
        session: SessionDep,
        who: PageUser,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
    ):
        view = _view(session, who, district, kind, year, None)
        return HTMLResponse(maps_pages.support_page(session, view))

    @router.get("/api/changes")
    def changes(session: SessionDep, who: SignedIn):
        """A token that changes whenever any parcel changes: cheap to poll."""
        return {"token": maps_data.change_token(session)}

    @router.get("/tiles/{z}/{x}/{y}.pbf")
    def parcel_tile(
        session: SessionDep,
        who: SignedIn,
        z: int,
        x: int,
        y: int,
        district: str | None = None,
        kind: kind_query = "land",
        as_of: date | None = None,
    ):
        view = _view(session, who, district, kind, None, None, as_of)
        body = maps_tiles.parcel_tile(session, z, x, y, view.district, kind, as_of)
        return Response(body, media_type="application/vnd.mapbox-vector-tile")

    return router
