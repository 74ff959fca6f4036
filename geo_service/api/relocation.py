"""Relocation (回迁): rosters and flat lists, flat steps, tallies, 两逾 lists, 清零."""

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from .. import relocation, relocation_rosters, relocation_tallies
from ..errors import UploadRefused
from ..maps import data as maps_data
from ..maps import relocation as relocation_map
from ..settings import get_settings
from .deps import SessionDep
from .uploads import _attachment, _safe_name, _save_limited


class FlatStep(BaseModel):
    on: date = Field(description="the day of the allocation, hand-over (交房) or title (办证)")
    household: str | None = Field(None, description="household 户号 (allocation only)")
    actor: str | None = None


def relocation_router() -> APIRouter:
    router = APIRouter(prefix="/api/relocation", tags=["relocation"])

    @router.get("/tallies")
    def get_tallies(
        session: SessionDep,
        by: Annotated[str, Query(pattern="^(district|township|project)$")] = "township",
        year: int | None = None,
        as_of: date | None = None,
        district: str | None = None,
    ):
        """Households, flats and m² planned, allocated, handed over, certified; targets."""
        rows = relocation_tallies.tally(session, by=by, year=year, as_of=as_of, district=district)
        return [r.as_dict(by) for r in rows]

    @router.get("/overdue")
    def get_overdue(
        session: SessionDep,
        as_of: date | None = None,
        kind: Annotated[str | None, Query(pattern="^(handover|title)$")] = None,
        district: str | None = None,
    ):
        """The 两逾 lists. Names are masked: the API has no roles yet that may see them."""
        cases = relocation_tallies.overdue(session, as_of, district, kind, can_see_personal=False)
        return [c.as_dict() for c in cases]

    @router.get("/clearance")
    def get_clearance(session: SessionDep, year: int | None = None, as_of: date | None = None):
        """清零: open 两逾 cases per district at the start of the year and now, monthly."""
        return relocation_tallies.clearance(session, year, as_of)

    @router.get("/households")
    def get_households(
        session: SessionDep, township: str | None = None, project: str | None = None
    ):
        """Households and their flats, names masked."""
        return relocation.list_households(session, township, project, can_see_personal=False)

    @router.post("/households")
    def post_households(
        session: SessionDep,
        file: Annotated[UploadFile, File(description="household roster, .csv or .xlsx")],
        dry_run: Annotated[bool, Form()] = False,
        actor: Annotated[str | None, Form()] = None,
        report_format: Annotated[str, Form(pattern="^(json|csv)$")] = "json",
    ):
        """A roster, checked whole: 201 with the report, or 422 with every problem."""
        importer = relocation_rosters.import_households
        return _import(session, importer, file, dry_run, actor, report_format)

    @router.post("/flats")
    def post_flats(
        session: SessionDep,
        file: Annotated[UploadFile, File(description="flat list, .csv or .xlsx")],
        dry_run: Annotated[bool, Form()] = False,
        actor: Annotated[str | None, Form()] = None,
        report_format: Annotated[str, Form(pattern="^(json|csv)$")] = "json",
    ):
        """A flat list with allocations and dates, checked whole (201, or 422)."""
        importer = relocation_rosters.import_flats
        return _import(session, importer, file, dry_run, actor, report_format)

    @router.post("/projects/{project}/flats/{building}/{unit}/{step}")
    def post_flat_step(
        project: str,
        building: str,
        unit: str,
        step: Annotated[str, PathParam(pattern="^(allocate|handover|certify)$")],
        body: FlatStep,
        session: SessionDep,
    ):
        """Allocate a flat (房源调度), record its hand-over (交房) or its title (办证)."""
        actor = body.actor or get_settings().default_actor
        flat = relocation.find_flat(session, project, building, unit, lock=True)
        if step == "allocate":
            household = relocation.find_household(session, body.household or "", lock=True)
            outcome = relocation.allocate(session, flat, household, body.on, actor)
        elif step == "handover":
            outcome = relocation.hand_over(session, flat, body.on, actor)
        else:
            outcome = relocation.certify(session, flat, body.on, actor)
        return {"flat": f"{project} {building}-{unit}", "step": step, "outcome": outcome}

    return router


def relocation_map_router() -> APIRouter:
    """The relocation view of the progress map, its live data and change token."""
    router = APIRouter(tags=["maps"])

    def _district(district: str | None) -> str:
        return district or get_settings().default_district

    @router.get("/maps/relocation", response_class=HTMLResponse)
    def relocation_page(session: SessionDep, district: str | None = None, year: int | None = None):
        return HTMLResponse(relocation_map.relocation_page(session, _district(district), year))

    @router.get("/maps/relocation/data.json")
    def relocation_data(
        session: SessionDep,
        district: str | None = None,
        year: int | None = None,
        as_of: date | None = None,
    ):
        found = relocation_map.relocation_data(session, _district(district), year, as_of)
        return JSONResponse(_json(found))

    @router.get("/api/relocation/changes")
    def changes(session: SessionDep):
        """A token that changes with every relocation change: cheap to poll."""
        return {"token": relocation_map.change_token(session)}

    return router


def _json(found: dict):
    return json.loads(maps_data.dumps(found))


def _import(session, importer, file: UploadFile, dry_run, actor, report_format):
    name = _safe_name(file.filename)
    actor = actor or get_settings().default_actor
    with tempfile.TemporaryDirectory(prefix="geo-roster-") as folder:
        path = Path(folder) / name
        _save_limited(file, path)
        try:
            report, status_code = importer(session, path, actor=actor, dry_run=dry_run), 201
        except UploadRefused as exc:
            if report_format == "json" or exc.report is None:
                raise
            session.rollback()
            report, status_code = exc.report, 422
    if dry_run and status_code == 201:
        status_code = 200
    if report_format == "csv":
        return Response(
            report.problems_csv(),
            status_code=status_code,
            media_type="text/csv",
            headers=_attachment(f"{Path(name).stem}-problems.csv"),
        )
    return JSONResponse(report.as_dict(), status_code=status_code)
