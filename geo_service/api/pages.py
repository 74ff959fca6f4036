"""The wall board (看板) and the public page (向社会公开), with their data as JSON."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from .. import boards, pages
from .deps import SessionDep

LevelQuery = Annotated[
    str | None, Query(pattern="^(township|district)$", description="district: city level")
]
PeriodQuery = Annotated[
    str | None, Query(description="2017-05 or 2017Q2; default: the current quarter")
]


def pages_router() -> APIRouter:
    router = APIRouter(tags=["pages"])

    @router.get("/board", response_class=HTMLResponse)
    def board_page(
        session: SessionDep,
        level: LevelQuery = None,
        district: str | None = None,
        period: PeriodQuery = None,
    ):
        """One card per township (or per district with level=district), for a wall screen
        (1920×1080) and one A3 page in print."""
        view = boards.BoardView.make(level, district, period)
        return HTMLResponse(pages.render("board.html", data=boards.board(session, view)))

    @router.get("/board/data.json")
    def board_data(
        session: SessionDep,
        level: LevelQuery = None,
        district: str | None = None,
        period: PeriodQuery = None,
    ):
        return boards.board(session, boards.BoardView.make(level, district, period))

    @router.get("/public", response_class=HTMLResponse)
    def public_page(session: SessionDep, year: int | None = None):
        """Progress by district and township and project counts by category: figures
        only, no person's name, parcel code or household; open to anyone."""
        return HTMLResponse(pages.render("public.html", data=boards.public(session, year)))

    @router.get("/public/data.json")
    def public_data(session: SessionDep, year: int | None = None):
        return boards.public(session, year)

    return router
