"""The wall board (看板) and the public page (向社会公开), with their data as JSON.

The board names responsible persons and parcels: signed-in users only, for a district they
may see (the city level for users who see the whole city). The public page is anonymous."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from geo_service.accounts.permissions import check_read_district, home_district
from geo_service.api import schemas
from geo_service.api.auth import PageUser, SignedIn
from geo_service.api.deps import CampaignQuery, PeriodQuery, SessionDep, YearQuery
from geo_service.campaign import boards
from geo_service.errors import Forbidden
from geo_service.settings import get_settings
from geo_service.units import find_city, find_district
from geo_service.web import refusals
from geo_service.web.i18n import remember
from geo_service.web.leader_pages import period_choices, period_name
from geo_service.web.parcels import KIND_LABELS
from geo_service.web.templates import render_page

LevelQuery = Annotated[
    str | None, Query(pattern="^(township|district)$", description="district: city level")
]


def _view(session, who, level, district, period, campaign=None, compare=None):
    if level == "district":
        if who.district_ids is not None:
            raise Forbidden(f"{who.username} may not see the whole city's board")
    else:
        district = district or home_district(session, who, get_settings().default_district)
        check_read_district(who, find_district(session, district))
    return boards.BoardView.make(level, district, period, session, campaign, compare)


def board_router() -> APIRouter:
    router = APIRouter(tags=["pages"])

    @router.get("/board", response_class=HTMLResponse)
    def board_page(
        request: Request,
        session: SessionDep,
        who: PageUser,
        level: LevelQuery = None,
        district: str | None = None,
        period: PeriodQuery = None,
        campaign: CampaignQuery = None,
        compare: CampaignQuery = None,
    ):
        """One card per township (or per district with level=district), for a wall screen
        (1920×1080) and one A3 page in print; `compare`: an earlier campaign beside it."""
        try:
            view = _view(session, who, level, district, period, campaign, compare)
        except Forbidden:  # a page above the user's scope: say what they may see
            return refusals.forbidden(request, session, who, "/board")
        data = boards.board(session, view)
        page = render_page(
            request, "board.html", data=data,
            place=view.district or find_city(session).name, kind_label=KIND_LABELS,
            recent_kind={label: kind for kind, label in boards.KIND_LABELS.items()},
            choices=period_choices(request, view.campaign), period=str(view.period),
            period_names={p: period_name(request, p)
                          for p in (data["period"], data["previous_period"])},
        )  # fmt: skip
        return remember(request, HTMLResponse(page))

    @router.get("/board/data.json", response_model=schemas.Board)
    def board_data(
        session: SessionDep,
        who: SignedIn,
        level: LevelQuery = None,
        district: str | None = None,
        period: PeriodQuery = None,
        campaign: CampaignQuery = None,
        compare: CampaignQuery = None,
    ):
        view = _view(session, who, level, district, period, campaign, compare)
        return boards.board(session, view)

    @router.get("/public", response_class=HTMLResponse)
    def public_page(
        request: Request,
        session: SessionDep,
        year: YearQuery = None,
        campaign: CampaignQuery = None,
    ):
        """Progress by district and township and project counts by category: figures
        only, no person's name, parcel code or household; open to anyone."""
        data = boards.public(session, year, campaign)
        page = render_page(request, "public.html", data=data, kind_label=KIND_LABELS)
        return remember(request, HTMLResponse(page))

    @router.get("/public/data.json", response_model=schemas.PublicBoard)
    def public_data(session: SessionDep, year: YearQuery = None, campaign: CampaignQuery = None):
        return boards.public(session, year, campaign)

    return router
