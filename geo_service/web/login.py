"""The sign-in page and sign-out: a session cookie for the pages and maps."""

import time
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import object_session
from starlette.concurrency import run_in_threadpool

from geo_service import database
from geo_service.accounts import audit, users
from geo_service.api.auth import SESSION_COOKIE, MaybeUser, same_origin, set_session_cookie, sign_in
from geo_service.api.deps import SessionDep
from geo_service.campaign import campaigns
from geo_service.errors import GeoServiceError, http_status, retry_after
from geo_service.models import Campaign
from geo_service.periods import today
from geo_service.settings import get_settings
from geo_service.web.i18n import N_, gettext_for
from geo_service.web.templates import respond

# Each role's name in the page header (msgids: docs/translations.md).
ROLE_NAMES = {
    "admin": N_("administrator"),
    "leader": N_("leader"),
    "planner": N_("planner"),
    "verifier": N_("verification group"),
    "officer": N_("township officer"),
}


def safe_next(target: str | None) -> str:
    """Only a path on this service: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def campaign_choice(session, shown: str) -> dict:
    """What campaign_picker.html needs: every campaign's name and the one shown."""
    names = [c.name for c in campaigns.all_campaigns(session)]
    return {"campaign_names": names, "campaign_shown": shown}


# Whether the campaign shown on a day is the live demo's, with until when (monotonic) that
# is believed: a page reads it from the database once in PARCEL_PAGE_MEMORY_SECONDS at
# most, not on every page. A campaign written through this process is seen at once (the
# events below); one written elsewhere (the CLI, another worker) within those seconds.
_demo: dict[date, tuple[float, bool]] = {}


def forget_demo(*_) -> None:
    """Read the banner afresh on the next page (a campaign was written, or a test emptied
    the tables)."""
    _demo.clear()


def _campaign_written(_mapper, _connection, campaign: Campaign) -> None:
    # Now, and once more when the write commits: a page read in between still saw the
    # campaigns as they were.
    forget_demo()
    session = object_session(campaign)
    if session is not None:
        event.listen(session, "after_commit", forget_demo, once=True)


for _change in ("after_insert", "after_update", "after_delete"):
    event.listen(Campaign, _change, _campaign_written)


def demo_shown() -> bool:
    """Whether the campaign every page shows is the live demo's (base.html's 演示数据
    banner, as on the maps and the board); an unreachable database shows none."""
    day = today()
    remembered = _demo.get(day)
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    try:
        with database.session_scope() as session:
            shown = campaigns.current(session, day).demo
    except SQLAlchemyError:
        return False
    seconds = get_settings().parcel_page_memory_seconds
    if seconds:
        _demo.clear()  # yesterday's answer is no use any more
        _demo[day] = (time.monotonic() + seconds, shown)
    return shown


def render(request: Request, name: str, status_code: int = 200, user=None, **context):
    context.setdefault("demo", demo_shown())
    context["user"] = user
    context["role_label"] = ROLE_NAMES.get(user.role, "") if user else ""
    return respond(request, name, context, status_code)


def _refused(_, exc: GeoServiceError) -> str:
    """Why a sign-in failed, in the page's words; the domain's detail goes to the log."""
    seconds = getattr(exc, "retry_after", None)
    if seconds is not None:
        reason = _("too many sign-ins: try again in %(seconds)s seconds") % {"seconds": seconds}
    else:
        reason = _("wrong user name or password, or the user is disabled")
    return _("Sign-in failed: %(reason)s") % {"reason": reason}


def login_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None):
        return render(request, "login.html", next=safe_next(next), username="", error=None)

    @router.post("/login")
    async def login(
        request: Request,
        session: SessionDep,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        next: Annotated[str | None, Form()] = None,
    ):
        target = safe_next(next)
        form = {"next": target, "username": username}
        if not same_origin(request):
            # Login CSRF: another site must not sign this browser in as someone else.
            _ = gettext_for(request)
            error = _("Sign in from this service's own page.")
            return render(request, "login.html", 403, error=error, **form)
        try:
            secret = await sign_in(session, request, username, password, "session")
        except GeoServiceError as exc:
            await run_in_threadpool(session.rollback)
            error = _refused(gettext_for(request), exc)
            page = render(request, "login.html", http_status(exc), error=error, **form)
            page.headers.update(retry_after(exc))
            return page
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(response, request, secret)
        return response

    @router.post("/logout")
    def logout(request: Request, session: SessionDep, who: MaybeUser):
        if who is not None:
            users.revoke_token(session, request.cookies.get(SESSION_COOKIE, ""))
            audit.record(session, who.username, "logout", source=who.source)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router
