"""The parcels in the user's scope: filters, sorting, paging, a map that follows the filter,
and several parcels moved on together (all or nothing, through actions.change_status)."""

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from geo_service import actions
from geo_service.api.auth import PageUser
from geo_service.api.deps import NoteText, SessionDep
from geo_service.errors import GeoServiceError, http_status
from geo_service.models import KINDS, STATUSES, AdminUnit, Parcel, Project
from geo_service.parcels import workflow
from geo_service.periods import CHINA, parse_field_day
from geo_service.web.i18n import gettext_for
from geo_service.web.login import render
from geo_service.web.parcels import _GLOBALS, map_assets
from geo_service.web.problems import error_words

PAGE_SIZE = 50
SORTS = {
    "code": Parcel.code,
    "township": AdminUnit.name,
    "status": Parcel.status,
    "area": Parcel.area_m2,
    "updated": Parcel.updated_at,
}


def _scoped(who):
    """Townships of the user's own scope, else the districts it may read (None: the city)."""
    query = select(Parcel).join(AdminUnit, AdminUnit.id == Parcel.township_id)
    if who.township_ids:
        return query.where(Parcel.township_id.in_(who.township_ids))
    if who.district_ids is not None:
        return query.where(AdminUnit.parent_id.in_(who.district_ids))
    return query


def _filtered(who, f: dict):
    query = _scoped(who)
    if f["township"]:
        query = query.where(AdminUnit.name == f["township"])
    if f["kind"]:
        query = query.where(Parcel.kind == f["kind"])
    if f["status"]:
        query = query.where(Parcel.status == f["status"])
    if f["project"]:
        query = query.join(Project, Project.id == Parcel.project_id).where(
            Project.code == f["project"]
        )
    if f["flagged"]:
        query = query.where(func.jsonb_array_length(func.to_jsonb(Parcel.flags)) > 0)
    if f["q"]:
        like = f"%{f['q']}%"
        query = query.where(or_(Parcel.code.ilike(like), Parcel.name.ilike(like)))
    return query


def _geojson(geom):
    # RFC 7946 as interop.geojson_sql writes it; 6 decimals (10 cm) suit a map of 2,000.
    return func.ST_AsGeoJSON(func.ST_ForcePolygonCCW(geom), 6, 0)


def _shapes(session, query) -> dict:
    """The filtered parcels (at most 2,000) as GeoJSON for the map beside the list."""
    p = aliased(Parcel, query.with_only_columns(Parcel.id).limit(2000).subquery())
    rows = session.execute(
        select(Parcel.id, Parcel.code, Parcel.status, _geojson(Parcel.geom)).where(
            Parcel.id.in_(select(p.id))
        )
    ).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": json.loads(g),
                "properties": {"id": i, "code": c, "status": s},
            }
            for i, c, s, g in rows
        ],
    }


def _townships(session, who) -> list[str]:
    query = select(AdminUnit.name).where(AdminUnit.level == "township")
    if who.township_ids:
        query = query.where(AdminUnit.id.in_(who.township_ids))
    elif who.district_ids is not None:
        query = query.where(AdminUnit.parent_id.in_(who.district_ids))
    return list(session.scalars(query.order_by(AdminUnit.name)))


def _kinds_moved(who, kind: str) -> frozenset[str]:
    """The kinds of parcel this person moves (a verifier: their group's), within the filter."""
    kinds = frozenset(KINDS) if who.role == "officer" else who.kinds
    return kinds & {kind} if kind in KINDS else kinds


def _list_page(request, session, who, f: dict, status_code=200, error=None, done=None):
    query = _filtered(who, f)
    total = session.scalar(query.with_only_columns(func.count(Parcel.id)).order_by(None))
    column = SORTS.get(f["sort"], Parcel.code)
    order = column.desc() if f["desc"] else column.asc()
    rows = session.scalars(
        query.order_by(order, Parcel.id).limit(PAGE_SIZE).offset(f["page"] * PAGE_SIZE)
    ).all()
    moves = []
    if who.role in ("verifier", "officer"):
        moves = workflow.status_moves(_kinds_moved(who, f["kind"]))
    return render(
        request,
        "parcels.html",
        status_code,
        user=who,
        rows=rows,
        total=total,
        f=f,
        pages=(total + PAGE_SIZE - 1) // PAGE_SIZE,
        townships=_townships(session, who),
        kinds=KINDS,
        statuses=STATUSES,
        moves=moves,
        shapes=_shapes(session, query),
        vendor=map_assets(),
        error=error,
        done=done,
        can_move=bool(moves),
        today=datetime.now(CHINA).date().isoformat(),
        **_GLOBALS,
    )


def parcel_list_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/parcels", response_class=HTMLResponse)
    def parcels_page(
        request: Request,
        session: SessionDep,
        who: PageUser,
        township: str = "",
        kind: str = "",
        status: str = "",
        project: str = "",
        flagged: bool = False,
        q: Annotated[str, Query(max_length=64)] = "",
        sort: str = "code",
        desc: bool = False,
        page: Annotated[int, Query(ge=0, le=10000)] = 0,
    ):
        f = dict(township=township, kind=kind, status=status, project=project,
                 flagged=flagged, q=q.strip(), sort=sort, desc=desc, page=page)  # fmt: skip
        return _list_page(request, session, who, f)

    @router.post("/parcels", response_class=HTMLResponse)
    def move_together(
        request: Request,
        session: SessionDep,
        who: PageUser,
        ids: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI reads it, never mutates)
        to: Annotated[str, Form(max_length=16)] = "",
        note: Annotated[NoteText | None, Form()] = None,
        field_day: Annotated[str | None, Form(max_length=32)] = None,
    ):
        """One transaction: every selected parcel moves, or none does (the one that could
        not is named). `field_day`: the day they moved in the field (核验日期), for all of
        them, under the sign-off's rules (never in the future; an admin's beyond the
        back-dating window)."""
        f = dict(township="", kind="", status="", project="", flagged=False, q="",
                 sort="code", desc=False, page=0)  # fmt: skip
        _ = gettext_for(request)
        if not ids:
            error = _("Select parcels first.")
            return _list_page(request, session, who, f, 400, error=error)
        try:
            on = parse_field_day(field_day, "field day")
        except GeoServiceError as exc:
            return _list_page(request, session, who, f, http_status(exc),
                              error=error_words(exc, request))  # fmt: skip
        code = None
        try:
            for parcel_id in sorted(set(ids)):
                code = f"#{parcel_id}"
                parcel = workflow.get_parcel(session, parcel_id, lock=True)
                code = parcel.code
                actions.change_status(session, who, parcel, to, note or None, on=on)
            session.commit()
        except GeoServiceError as exc:
            session.rollback()
            error = _("Parcel %(code)s: %(refusal)s (nothing was changed)") % {
                "code": code or "—",
                "refusal": error_words(exc, request),
            }
            return _list_page(request, session, who, f, http_status(exc), error=error)
        status = _(_GLOBALS["status_label"].get(to, to))
        done = _("%(count)s parcels moved to %(status)s") % {
            "count": len(set(ids)),
            "status": status,
        }
        return _list_page(request, session, who, f, done=done)

    return router
