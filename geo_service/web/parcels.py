"""One parcel's page (state, history, the actions the user may take) and a verifier's queue.

The page asks the permission layer which actions to offer and writes through `actions`,
exactly as the API and CLI do; it decides nothing itself.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from geo_service import actions
from geo_service.accounts import permissions
from geo_service.api.auth import PageUser
from geo_service.api.deps import NoteText, SessionDep
from geo_service.areas import m2_to_mu
from geo_service.campaign import campaigns
from geo_service.errors import GeoServiceError, http_status
from geo_service.maps import assets
from geo_service.models import Parcel
from geo_service.parcels import features, field, photos, workflow
from geo_service.periods import CAMPAIGN_TZ, CHINA, parse_field_day
from geo_service.settings import get_settings
from geo_service.web.i18n import N_
from geo_service.web.login import render
from geo_service.web.problems import GROUP_LABELS, STATUS_LABELS, error_words

KIND_LABELS = {"land": N_("land delivery"), "demolition": N_("demolition")}
# What a history row's change was (parcel_versions.change).
CHANGE_LABELS = {
    "created": N_("created"),
    "changed": N_("changed by an upload"),
    "status": N_("status changed"),
    "verified": N_("verified"),
    "disputed": N_("disputed"),
    "withdrawn": N_("withdrawn"),
    "migrated": N_("migrated from another system"),
}
# What the page says after an action succeeded (?done=, from the redirect).
DONE_LABELS = {
    "verify": N_("verified"),
    "dispute": N_("dispute recorded"),
    "status": N_("status changed"),
    "withdraw": N_("withdrawn"),
    "photo": N_("photo stored"),
}
_GLOBALS = {
    "status_label": STATUS_LABELS,
    "kind_label": KIND_LABELS,
    "change_label": CHANGE_LABELS,
    "group_label": GROUP_LABELS,
    "mu": m2_to_mu,
}


def _allowed(session, who, parcel, action, to=None) -> bool:
    try:
        permissions.check_parcel_change(session, who, parcel, action, to)
    except GeoServiceError:
        return False
    return True


def offered_actions(session, who, parcel: Parcel) -> dict:
    """What the permission layer and the workflow allow this user on this parcel now."""
    moves = [
        to
        for to in workflow.allowed_targets(parcel.status, parcel.kind)
        if to not in ("verified", "disputed") and _allowed(session, who, parcel, "status", to)
    ]
    targets = workflow.allowed_targets(parcel.status, parcel.kind)
    return {
        "moves": moves,
        "verify": "verified" in targets and _allowed(session, who, parcel, "verify"),
        "dispute": "disputed" in targets and _allowed(session, who, parcel, "dispute"),
        "withdraw": parcel.status != "withdrawn" and _may_withdraw(who, parcel),
        "photo": _may_add_photo(who, parcel),
    }


def _may_add_photo(who, parcel: Parcel) -> bool:
    try:
        permissions.check_parcel_photo(who, parcel)
    except GeoServiceError:
        return False
    return True


def _may_withdraw(who, parcel: Parcel) -> bool:
    try:
        permissions.check_withdraw(who, parcel)
    except GeoServiceError:
        return False
    return True


def map_assets() -> dict:
    assets.check_installed()
    return {"js": [u for _, u in assets.default_js(vectorgrid=False)], "css": assets.default_css()}


def _page(request, session, who, parcel, status_code=200, error=None, done=None, counts=None):
    return render(
        request,
        "parcel.html",
        status_code,
        user=who,
        parcel=parcel,
        history=workflow.history(session, parcel),
        offer=offered_actions(session, who, parcel),
        shapes=features.neighbourhood(session, parcel.id),
        vendor=map_assets(),
        error=error,
        done=done,
        today=datetime.now(CHINA).date().isoformat(),
        counts=counts,
        photos=photos.photos_of(session, parcel.id),
        photo_edge=get_settings().photo_display_edge,
        exifr_js=assets.url(assets.PHOTO_ASSETS[0]),
        **_GLOBALS,
    )


def _find(session, who, ref: str, township=None, kind=None, lock=False) -> Parcel:
    parcel = workflow.find_parcel(session, ref, township or None, kind or None, lock=lock)
    permissions.check_read_district(who, parcel.township.parent)
    return parcel


# Parcels on one page of the queue: a field phone on a weak signal, with a slow CPU, got 500
# at once (84 KB of HTML, turned into cards by pages.js) and took 4 s to show them.
QUEUE_PAGE = 50


def parcels_pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/parcels/{ref}", response_class=HTMLResponse)
    def parcel_page(
        ref: str,
        request: Request,
        session: SessionDep,
        who: PageUser,
        township: str | None = None,
        kind: str | None = None,
    ):
        try:
            parcel = _find(session, who, ref, township, kind)
        except GeoServiceError as exc:
            return render(request, "error.html", http_status(exc), user=who,
                          message=error_words(exc, request))  # fmt: skip
        done = DONE_LABELS.get(request.query_params.get("done", ""))
        counts = None
        if request.query_params.get("done") == "verify" and parcel.verified_at is not None:
            # Where the sign-off counts, when that is not the campaign the pages show.
            day = parcel.verified_at.astimezone(CAMPAIGN_TZ).date()
            found = campaigns.where_it_counts(session, day)
            counts = found if found["outside_campaign_shown"] else None
        return _page(request, session, who, parcel, done=done, counts=counts)

    @router.post("/parcels/{parcel_id}/act")
    def parcel_act(
        parcel_id: int,
        request: Request,
        session: SessionDep,
        who: PageUser,
        action: Annotated[str, Form(max_length=16)],
        to: Annotated[str | None, Form(max_length=16)] = None,
        note: Annotated[NoteText | None, Form()] = None,
        field_day: Annotated[str | None, Form(max_length=32)] = None,
    ):
        try:
            parcel = _find(session, who, f"#{parcel_id}", lock=True)
        except GeoServiceError as exc:
            return render(request, "error.html", http_status(exc), user=who,
                          message=error_words(exc, request))  # fmt: skip
        try:
            on = parse_field_day(field_day, "field day")
            if action == "verify":
                actions.verify(session, who, parcel, note or None, on=on)
            elif action == "dispute":
                actions.dispute(session, who, parcel, note or "", on=on)
            elif action == "withdraw":
                actions.withdraw(session, who, parcel, note or "", on=on)
            else:
                actions.change_status(session, who, parcel, to or "", note or None, on=on)
            session.commit()
        except GeoServiceError as exc:
            session.rollback()
            parcel = _find(session, who, f"#{parcel_id}")
            return _page(request, session, who, parcel, http_status(exc),
                         error=error_words(exc, request))  # fmt: skip
        return RedirectResponse(f"/parcels/%23{parcel_id}?done={action}", status_code=303)

    @router.post("/parcels/{parcel_id}/photos")
    def parcel_photo(
        parcel_id: int,
        request: Request,
        session: SessionDep,
        who: PageUser,
        photo: Annotated[UploadFile, File()],
        keep_original: Annotated[bool, Form()] = False,
    ):
        """The page's photo form without its script: the camera's file as it is, made
        display size here (with its script the page sends the photo through the API)."""
        try:
            parcel = _find(session, who, f"#{parcel_id}")
        except GeoServiceError as exc:
            return render(request, "error.html", http_status(exc), user=who,
                          message=error_words(exc, request))  # fmt: skip
        try:
            name = photo.filename or "photo"
            content = photos.read_limited(photo.file, name)
            sent = photos.PhotoSent(content, content if keep_original else None, name=name)
            actions.add_photo(session, who, parcel, sent)
            session.commit()
        except GeoServiceError as exc:
            session.rollback()
            return _page(request, session, who, parcel, http_status(exc),
                         error=error_words(exc, request))  # fmt: skip
        return RedirectResponse(f"/parcels/%23{parcel_id}?done=photo#photos", status_code=303)

    @router.get("/queue", response_class=HTMLResponse)
    def queue(
        request: Request,
        session: SessionDep,
        who: PageUser,
        page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ):
        rows = field.verification_queue(
            session, who.kinds, who.township_ids, offset=page * QUEUE_PAGE, limit=QUEUE_PAGE + 1
        )
        more = len(rows) > QUEUE_PAGE
        return render(request, "queue.html", user=who, rows=rows[:QUEUE_PAGE], page=page,
                      more=more, **_GLOBALS)  # fmt: skip

    return router
