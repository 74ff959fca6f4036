"""Leaders' map pages, their live data, change polling and vector tiles."""

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..maps import data as maps_data
from ..maps import pages as maps_pages
from ..maps import tiles as maps_tiles
from ..settings import get_settings
from .deps import KIND_PATTERN, SessionDep


def _view(district, kind, year, quarter, as_of=None) -> maps_data.View:
    district = district or get_settings().default_district
    return maps_data.View(district=district, kind=kind, year=year, quarter=quarter, as_of=as_of)


def maps_router() -> APIRouter:
    """Leaders' map pages, their live data, change polling and vector tiles."""
    router = APIRouter(tags=["maps"])
    kind_query = Annotated[str, Query(pattern=KIND_PATTERN)]
    quarter_query = Annotated[int | None, Query(ge=1, le=4)]

    @router.get("/maps/progress", response_class=HTMLResponse)
    def progress_map(
        session: SessionDep,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
        quarter: quarter_query = None,
    ):
        view = _view(district, kind, year, quarter)
        return HTMLResponse(maps_pages.progress_page(session, view))

    @router.get("/maps/progress/data.json")
    def progress_data(
        session: SessionDep,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
        quarter: quarter_query = None,
    ):
        view = _view(district, kind, year, quarter)
        return JSONResponse(json.loads(maps_data.dumps(maps_pages.progress_data(session, view))))

    @router.get("/maps/support", response_class=HTMLResponse)
    def support_map(
        session: SessionDep,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
    ):
        view = _view(district, kind, year, None)
        return HTMLResponse(maps_pages.support_page(session, view))

    @router.get("/api/changes")
    def changes(session: SessionDep):
        """A token that changes whenever any parcel changes: cheap to poll."""
        return {"token": maps_data.change_token(session)}

    @router.get("/tiles/{z}/{x}/{y}.pbf")
    def parcel_tile(
        request: Request,
        session: SessionDep,
        z: int,
        x: int,
        y: int,
        district: str | None = None,
        kind: kind_query = "land",
        as_of: date | None = None,
    ):
        # Tiles change only with the data: the change token is the tile's validator, so a
        # browser revalidating an unchanged tile gets 304 without PostGIS drawing it.
        etag = f'W/"{maps_data.change_token(session)}"'
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in _etags(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
        body = maps_tiles.parcel_tile(
            session, z, x, y, district or get_settings().default_district, kind, as_of
        )
        return Response(body, media_type="application/vnd.mapbox-vector-tile", headers=headers)

    return router


def _etags(header: str | None) -> set[str]:
    """The validators an If-None-Match header lists (weak and strong compare alike here)."""
    if not header:
        return set()
    tags = {t.strip() for t in header.split(",")}
    return tags | {f"W/{t}" for t in tags if not t.startswith("W/")}
