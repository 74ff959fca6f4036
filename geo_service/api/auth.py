"""Who is calling: a bearer token (API clients) or the session cookie (pages), and the
CSRF rule for cookies. Routes declare what they need with `SignedIn` or `MaybeUser`.

A cookie travels with any request the browser makes, including one a hostile page on the
intranet makes it send (`fetch(..., {mode: "no-cors"})`, a cross-origin form). So a write
authenticated by the cookie must come from this service's own pages: its Origin (or, when
a browser sends none, its Referer) must be this host. A bearer token is never sent by a
browser on its own, so token-authenticated calls need no such check.
"""

from typing import Annotated
from urllib.parse import urlencode, urlsplit

import anyio
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from geo_service import database
from geo_service.accounts import audit, users
from geo_service.accounts.users import Principal
from geo_service.api.deps import SessionDep
from geo_service.errors import Busy, DatabaseUnavailable, Forbidden, Unauthorized
from geo_service.settings import get_settings

SESSION_COOKIE = "gs_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# auto_error=False: absent credentials are not an error here; routes decide.
_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/token")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def same_origin(request: Request) -> bool:
    """The request was sent by a page of this service (by Origin, else by Referer)."""
    sent_from = request.headers.get("origin") or request.headers.get("referer")
    if not sent_from or sent_from == "null":
        return False
    own = request.headers.get("host", "")
    trusted = {own, *get_settings().trusted_origins}
    return urlsplit(sent_from).netloc in trusted


async def current_user(
    request: Request, bearer: Annotated[object, Depends(_bearer)]
) -> Principal | None:
    # async, with the database looked up on a worker thread only when the token is not
    # remembered: a read with a known token costs no thread hop, no session and no query
    # here (a route that needs no session of its own then opens none).
    source = client_address(request)
    if bearer is not None:
        who = await _resolve(bearer.credentials, source)
        if who is None:
            raise Unauthorized(
                "the token is unknown, expired or revoked: sign in again",
                rule="token",
                params={},
            )
        return who
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    who = await _resolve(cookie, source)
    if who is not None and request.method not in SAFE_METHODS and not same_origin(request):
        await run_in_threadpool(
            audit.record_apart, who.username, "csrf", request.url.path, outcome="refused",
            source=source,
        )  # fmt: skip
        raise Forbidden(
            "this request did not come from a page of this service (CSRF check)",
            rule="csrf",
            params={},
        )
    return who


async def _resolve(secret: str, source: str | None) -> Principal | None:
    who = users.remembered_token(secret, source)
    if who is None:
        who = await run_in_threadpool(_look_up, secret, source)
    return who


def _look_up(secret: str, source: str | None) -> Principal | None:
    """On the primary (a token issued a moment ago is there), in a short read of its own:
    it holds no lock for the rest of the request."""
    with database.session_scope() as session:
        return users.resolve_token(session, secret, source)


async def require_user(who: Annotated[Principal | None, Depends(current_user)]) -> Principal:
    if who is None:
        raise Unauthorized(
            "sign in first: POST /api/token, or the sign-in page /login",
            rule="sign_in_first",
            params={},
        )
    return who


async def signed_in(request: Request) -> Principal:
    """require_user, for a plain Starlette route that resolves no dependencies (the parcel
    list's)."""
    return await require_user(await current_user(request, await _bearer(request)))


async def signed_in_or_none(
    request: Request, bearer: Annotated[object, Depends(_bearer)]
) -> Principal | None:
    """Who is calling, or None when no sign-in can be read: a wrong or expired one, or
    none because the database is away. For /healthz, which must answer in any state."""
    try:
        return await current_user(request, bearer)
    except (Unauthorized, Forbidden, DatabaseUnavailable, DBAPIError):
        return None


class SignInRequired(Exception):
    """A page asked for without a sign-in: the browser is sent to the sign-in page."""

    def __init__(self, next_url: str):
        self.next_url = next_url


async def require_page_user(
    request: Request, who: Annotated[Principal | None, Depends(current_user)]
) -> Principal:
    if who is None:
        raise SignInRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    return who


def sign_in_redirect(request: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?{urlencode({'next': exc.next_url})}", status_code=303)


MaybeUser = Annotated[Principal | None, Depends(current_user)]
AnyoneOrUser = Annotated[Principal | None, Depends(signed_in_or_none)]
SignedIn = Annotated[Principal, Depends(require_user)]
PageUser = Annotated[Principal, Depends(require_page_user)]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    group: str | None
    district_ids: list[int] | None
    township_ids: list[int]


async def sign_in(session, request: Request, username: str, password: str, kind: str) -> str:
    """A new sign-in for a name and password: the attempt counted for the client's
    address, the password checked within the worker's bound on argon2 checks, the token
    issued in the request's transaction. Waiting for a check holds no thread and no
    database connection, and a refusal never needs a second connection."""
    checks = _password_checks(request)
    if _queue_full(checks):
        settings = get_settings()
        raise Busy(
            f"too many sign-ins being checked at once ({settings.password_checks} checking, "
            f"{settings.password_check_queue} waiting): try again in "
            f"{settings.password_busy_retry_seconds} seconds",
            retry_after=settings.password_busy_retry_seconds,
        )
    source = client_address(request)
    attempt = await run_in_threadpool(users.begin_sign_in, username, source)
    matched = await anyio.to_thread.run_sync(
        users.password_matches, attempt, password, limiter=checks
    )
    return await run_in_threadpool(_issue, session, attempt, matched, kind)


def _issue(session, attempt: users.SignInAttempt, matched: bool, kind: str) -> str:
    who = users.finish_sign_in(session, attempt, matched)
    minutes = get_settings().session_minutes if kind == "session" else _api_minutes()
    return users.issue_token(session, who, kind, minutes)


def _password_checks(request: Request) -> anyio.CapacityLimiter:
    """The app's bound on concurrent argon2 checks, made in its own event loop."""
    state = request.app.state
    if getattr(state, "password_checks", None) is None:
        state.password_checks = anyio.CapacityLimiter(get_settings().password_checks)
    return state.password_checks


def _queue_full(checks: anyio.CapacityLimiter) -> bool:
    stats = checks.statistics()
    busy = stats.borrowed_tokens >= checks.total_tokens
    return busy and stats.tasks_waiting >= get_settings().password_check_queue


def _api_minutes() -> int:
    return get_settings().api_token_minutes


def set_session_cookie(response: Response, request: Request, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=get_settings().session_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=get_settings().cookie_secure or request.url.scheme == "https",
        path="/",
    )


def auth_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["accounts"])

    @router.post("/token", response_model=Token)
    async def post_token(
        request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
    ):
        """OAuth2 password flow: a short-lived bearer token for scripts and GIS clients."""
        secret = await sign_in(session, request, form.username, form.password, "api")
        return Token(access_token=secret, expires_in=_api_minutes() * 60)

    @router.post("/logout", status_code=204)
    def post_logout(
        request: Request,
        session: SessionDep,
        who: SignedIn,
        bearer: Annotated[object, Depends(_bearer)],
    ):
        """Revoke the token (or session) this request was made with."""
        secret = bearer.credentials if bearer is not None else request.cookies[SESSION_COOKIE]
        users.revoke_token(session, secret)
        audit.record(session, who.username, "logout", source=who.source)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/me", response_model=Me)
    def get_me(who: SignedIn):
        districts = None if who.district_ids is None else sorted(who.district_ids)
        return Me(
            username=who.username,
            display_name=who.display_name,
            role=who.role,
            group=who.group,
            district_ids=districts,
            township_ids=sorted(who.township_ids),
        )

    return router
