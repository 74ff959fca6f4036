"""Relocation (回迁): rosters and flat lists, flat steps, tallies, 两逾 lists, 清零.

Everything needs a sign-in. Writes go through relocation_actions (role and townships
checked, recorded under the signed-in user's name, audited); reads show the user's
districts only, and household heads' names only to the roles that may read them."""

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from geo_service import scratch
from geo_service.accounts import permissions
from geo_service.accounts.permissions import (
    check_read_district,
    home_district,
    visible_district_names,
)
from geo_service.api import schemas
from geo_service.api.auth import PageUser, SignedIn
from geo_service.api.deps import (
    CampaignQuery,
    CodeText,
    Day,
    DayQuery,
    NoteText,
    SessionDep,
    YearQuery,
)
from geo_service.api.uploads import _attachment, _safe_name, _save_limited
from geo_service.errors import UploadRefused
from geo_service.maps import data as maps_data
from geo_service.maps import relocation as relocation_map
from geo_service.relocation import actions, households, tallies
from geo_service.settings import get_settings
from geo_service.units import find_district
from geo_service.web import i18n
from geo_service.web.problems import roster_with_words


class FlatStep(BaseModel):
    on: Day = Field(description="the day of the allocation, hand-over (交房) or title (办证)")
    household: CodeText | None = Field(None, description="household 户号 (allocation only)")


class SignOff(BaseModel):
    on: Day | None = Field(None, description="the day of the sign-off (default: today)")
    note: NoteText | None = Field(None, description="the verifier's remark")


class Dispute(BaseModel):
    reason: NoteText = Field(..., min_length=1, description="why it is returned")


def _visible(session, who, rows):
    names = visible_district_names(session, who)
    return [r for r in rows if names is None or r.district in names]


def _district(session, who, district: str | None) -> str | None:
    """A district asked for must be one the user sees."""
    if district:
        check_read_district(who, find_district(session, district))
    return district


# A roster or flat list upload: stored (201), a dry run (200) or refused whole (422).
ROSTER_ROUTE = {
    "status_code": 201,
    "response_model": schemas.RosterReport,
    "responses": {
        200: {"model": schemas.RosterReport, "description": "a dry run: checked, not stored"},
        422: {"model": schemas.ErrorBody, "description": "refused: `report` has every problem"},
    },
}


def _iso_time(moment) -> str | None:
    return moment.isoformat() if moment else None


def relocation_router() -> APIRouter:
    router = APIRouter(prefix="/api/relocation", tags=["relocation"])

    @router.get("/tallies", response_model=list[schemas.RelocationRow])
    def get_tallies(
        session: SessionDep,
        who: SignedIn,
        by: Annotated[str, Query(pattern="^(district|township|project)$")] = "township",
        year: YearQuery = None,
        as_of: DayQuery = None,
        district: str | None = None,
        campaign: CampaignQuery = None,
    ):
        """Households, flats and m² planned, allocated, handed over, certified; targets.
        Handed over, certified and verified count over the campaign's days."""
        district = _district(session, who, district)
        rows = tallies.tally(
            session, by=by, year=year, as_of=as_of, district=district, campaign=campaign
        )
        return [r.as_dict(by) for r in _visible(session, who, rows)]

    @router.get("/targets/history", response_model=list[schemas.RelocationTargetVersion])
    def get_target_history(
        session: SessionDep,
        who: SignedIn,
        district: Annotated[str, Query(max_length=100)],
        township: Annotated[str | None, Query(max_length=100)] = None,
        year: YearQuery = None,
        campaign: CampaignQuery = None,
    ):
        """Every value a unit's relocation target had (a campaign's own, or a year's, the
        fallback of the year's campaigns): households, flats, m², who set it, from when
        until when, and the value before. A tally for a past day uses the value in force
        at its end."""
        district = _district(session, who, district)
        rows = tallies.target_history(session, district, township, year, campaign)
        return [
            {**r, "valid_from": _iso_time(r["valid_from"]), "valid_to": _iso_time(r["valid_to"])}
            for r in rows
        ]

    @router.get("/overdue", response_model=list[schemas.OverdueCase])
    def get_overdue(
        session: SessionDep,
        who: SignedIn,
        as_of: DayQuery = None,
        kind: Annotated[str | None, Query(pattern="^(handover|title)$")] = None,
        district: str | None = None,
    ):
        """The 两逾 lists; names in full only for the roles that may read them."""
        district = _district(session, who, district)
        names = permissions.personal_townships(who)
        cases = tallies.overdue(session, as_of, district, kind, names)
        return [c.as_dict() for c in _visible(session, who, cases)]

    @router.get("/clearance", response_model=list[schemas.ClearanceRow])
    def get_clearance(
        session: SessionDep, who: SignedIn, year: YearQuery = None, as_of: DayQuery = None
    ):
        """清零: open 两逾 cases per district at the start of the year and now, monthly."""
        names = visible_district_names(session, who)
        rows = tallies.clearance(session, year, as_of)
        return [r for r in rows if names is None or r["district"] in names]

    @router.get("/households", response_model=list[schemas.HouseholdOut])
    def get_households(
        session: SessionDep,
        who: SignedIn,
        township: str | None = None,
        project: str | None = None,
    ):
        """Households and their flats in the user's districts; names masked unless the
        user's role may read them (admins; township officers for their townships)."""
        names = permissions.personal_townships(who)
        districts = visible_district_names(session, who)
        return households.list_households(session, township, project, names, districts)

    @router.post("/households", **ROSTER_ROUTE)
    def post_households(
        request: Request,
        session: SessionDep,
        who: SignedIn,
        file: Annotated[UploadFile, File(description="household roster, .csv or .xlsx")],
        dry_run: Annotated[bool, Form()] = False,
        report_format: Annotated[str, Form(pattern="^(json|csv)$")] = "json",
    ):
        """A roster, checked whole: 201 with the report, or 422 with every problem."""
        importer = actions.import_households
        return _import(request, session, who, importer, file, dry_run, report_format)

    @router.post("/flats", **ROSTER_ROUTE)
    def post_flats(
        request: Request,
        session: SessionDep,
        who: SignedIn,
        file: Annotated[UploadFile, File(description="flat list, .csv or .xlsx")],
        dry_run: Annotated[bool, Form()] = False,
        report_format: Annotated[str, Form(pattern="^(json|csv)$")] = "json",
    ):
        """A flat list with allocations and dates, checked whole (201, or 422)."""
        importer = actions.import_flats
        return _import(request, session, who, importer, file, dry_run, report_format)

    @router.post(
        "/projects/{project}/flats/{building}/{unit}/{step}", response_model=schemas.FlatStep
    )
    def post_flat_step(
        project: str,
        building: str,
        unit: str,
        step: Annotated[str, PathParam(pattern="^(allocate|handover|certify)$")],
        body: FlatStep,
        session: SessionDep,
        who: SignedIn,
    ):
        """Allocate a flat (房源调度), record its hand-over (交房) or its title (办证):
        an admin, or the officer of the household's township."""
        outcome = actions.flat_step(
            session, who, step, project, building, unit, body.on, body.household
        )
        return {"flat": f"{project} {building}-{unit}", "step": step, "outcome": outcome}

    @router.post("/households/{ref}/verify", response_model=schemas.HouseholdSignoff)
    def post_verify(ref: str, body: SignOff, session: SessionDep, who: SignedIn):
        """Sign a household's relocation off: a verifier of 回迁核验组 in the household's
        township, once all its flats are handed over (four eyes where the district has
        it on). The name and group recorded are the signed-in verifier's."""
        return actions.sign_off(session, who, ref, body.on, body.note)

    @router.post("/households/{ref}/dispute", response_model=schemas.HouseholdSignoff)
    def post_dispute(ref: str, body: Dispute, session: SessionDep, who: SignedIn):
        """Dispute (return) a signed-off household, with a reason: it stops counting as
        verified until 回迁核验组 signs it off again."""
        return actions.dispute(session, who, ref, body.reason)

    return router


def relocation_map_router() -> APIRouter:
    """The relocation view of the progress map, its live data and change token."""
    router = APIRouter(tags=["maps"])

    def _seen(session, who, district: str | None) -> str:
        district = district or home_district(session, who, get_settings().default_district)
        check_read_district(who, find_district(session, district))
        return district

    @router.get("/maps/relocation", response_class=HTMLResponse)
    def relocation_page(
        request: Request,
        session: SessionDep,
        who: PageUser,
        district: str | None = None,
        year: YearQuery = None,
        campaign: CampaignQuery = None,
    ):
        district = _seen(session, who, district)
        page = relocation_map.relocation_page(
            session, district, year, locale=i18n.choose(request), campaign=campaign
        )
        return i18n.remember(request, HTMLResponse(page))

    @router.get("/maps/relocation/data.json", response_model=schemas.RelocationData)
    def relocation_data(
        session: SessionDep,
        who: SignedIn,
        district: str | None = None,
        year: YearQuery = None,
        as_of: DayQuery = None,
        campaign: CampaignQuery = None,
    ):
        district = _seen(session, who, district)
        found = relocation_map.relocation_data(session, district, year, as_of, campaign)
        return JSONResponse(_json(found))

    @router.get("/api/relocation/changes", response_model=schemas.ChangeToken)
    def changes(session: SessionDep, who: SignedIn):
        """A token that changes with every relocation change: cheap to poll."""
        return {"token": relocation_map.change_token(session)}

    return router


def _json(found: dict):
    return json.loads(maps_data.dumps(found))


def _import(request, session, who, importer, file: UploadFile, dry_run, report_format):
    name = _safe_name(file.filename)
    with scratch.folder("roster") as folder:
        path = Path(folder) / name
        _save_limited(file, path)
        try:
            report = importer(session, who, path, dry_run=dry_run, filename=name)
            status_code = 201
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
    body = json.loads(json.dumps(report.as_dict(), default=str))
    return JSONResponse(roster_with_words(body, request), status_code=status_code)
