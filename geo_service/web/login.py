"""The sign-in page and sign-out: a session cookie for the pages and maps."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from geo_service.accounts import audit, users
from geo_service.accounts.users import ROLE_LABELS
from geo_service.api.auth import SESSION_COOKIE, MaybeUser, same_origin, set_session_cookie, sign_in
from geo_service.api.deps import SessionDep
from geo_service.errors import GeoServiceError, http_status, retry_after
from geo_service.web.templates import templates


def safe_next(target: str | None) -> str:
    """Only a path on this service: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def render(request: Request, name: str, status_code: int = 200, user=None, **context):
    context["user"] = user
    context["role_label"] = ROLE_LABELS.get(user.role, "").split(":")[0] if user else ""
    return templates.TemplateResponse(request, name, context, status_code=status_code)


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
            error = "请从本系统的登录页登录。 Sign in from this service's own page."
            return render(request, "login.html", 403, error=error, **form)
        try:
            secret = await sign_in(session, request, username, password, "session")
        except GeoServiceError as exc:
            await run_in_threadpool(session.rollback)
            error = f"登录失败 Sign-in failed: {exc}"
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
