"""Every error as one kind of body, `{"detail": "..."}`: domain errors, bad parameters,
write conflicts, database outages and bugs. No stack trace or SQL ever reaches a client;
each refusal and error is one log line carrying the request id."""

import json
import logging
import re

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo_service import database
from geo_service.errors import (
    GeoServiceError,
    InvalidInput,
    RuleBroken,
    http_status,
    retry_after,
)
from geo_service.logs import current_request_id

log = logging.getLogger("geo_service.api")

_PLACES = {"query": "query parameter", "path": "path parameter", "body": "field"}


async def conflict(request: Request, exc: IntegrityError) -> JSONResponse:
    # Two writers changed the same parcel at once: nothing was stored, trying again is safe.
    detail = "the data changed while this request was being stored; nothing was written: retry"
    return _refusal(request, 409, detail)


async def domain_error(request: Request, exc: GeoServiceError) -> JSONResponse:
    response = _refusal(request, http_status(exc), str(exc), refusal_body(request, exc), exc)
    response.headers.update(retry_after(exc))
    return response


def refusal_body(request: Request, exc: GeoServiceError) -> dict:
    """A domain refusal's JSON body: the detail, the pages' words for it when the request
    names a language, and the report of a refused file."""
    body = {"detail": str(exc)}
    if request.headers.get("accept-language"):
        from geo_service.web.problems import error_words

        # The refusal as the pages word it, for an app showing it to a person (the field app).
        body["said"] = error_words(exc, request)
    report = getattr(exc, "report", None)
    if report is not None:
        from geo_service.relocation.rosters import RosterReport
        from geo_service.web.problems import roster_with_words, with_words

        said = roster_with_words if isinstance(report, RosterReport) else with_words
        body["report"] = said(json.loads(json.dumps(report.as_dict(), default=str)), request)
    return body


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's list of errors as one readable sentence, e.g.
    "query parameter year: year must be between 1990 and 2100"; with the words for it
    (`said`) when the request names a language, where each problem is said from its rule
    (ours, or pydantic's error type) as the other refusals are."""
    errors = exc.errors()
    detail = "; ".join(_describe(e) for e in errors)
    if not (request.headers.get("accept-language") or is_page_request(request)):
        return _refusal(request, 422, detail)
    from geo_service.web.i18n import gettext_for
    from geo_service.web.problems import invalid_details, invalid_words

    problems = [_rule_refusal(e) or _input_refusal(e) for e in errors]
    if is_page_request(request):
        note_refusal(request, 422, detail)
        return page_error(request, 422, invalid_details(problems, gettext_for(request)))
    return _refusal(
        request, 422, detail, {"detail": detail, "said": invalid_words(problems, request)}
    )


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own refusals (404 for an unknown path, 405 for a wrong method)."""
    if exc.status_code == 404 and _browser_outside_api(request):
        # An address typed or mistyped in a browser: a page, whatever the path.
        return page_error(request, 404, _not_a_page(request))
    response = _refusal(request, exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def bad_value(request: Request, exc: DataError) -> JSONResponse:
    # The edge checks should have caught it; PostgreSQL refusing a value is still the
    # caller's mistake, not an outage.
    return _refusal(request, 400, "a value in the request is out of range or malformed")


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    reason = database.outage_reason(exc)
    if reason is not None:
        log.warning("database unavailable: %s", reason, extra=_where(request, 503))
        return _body(503, f"service unavailable: {reason}")
    log.error("unexpected error: %s", type(exc).__name__, exc_info=exc, extra=_where(request, 500))
    return _body(500, f"internal error (request id {current_request_id()})")


def _describe(error: dict) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    place = _PLACES.get(loc[0], loc[0]) if loc else "request"
    name = ".".join(loc[1:])
    message = error.get("msg", "invalid").removeprefix("Value error, ")
    return f"{place} {name}: {message}" if name else f"{place}: {message}"


def _rule_refusal(error: dict) -> InvalidInput | None:
    """A field refused by a rule of ours (the text rule, a period's form), as the refusal the
    command line and the pages say from its rule, naming the field as the detail does."""
    broken = (error.get("ctx") or {}).get("error")
    if not isinstance(broken, RuleBroken):
        return None
    loc = [str(part) for part in error.get("loc", ())]
    field = ".".join(loc[1:]) or "request"
    params = {"field": field, **broken.params}
    return InvalidInput(f"{field}: {broken}", rule=broken.rule, params=params)


_LIMITS = ("ge", "gt", "le", "lt", "max_length", "min_length")
_CHOICES = re.compile(r"^\^\((?:\?i:)?([^()\\\[\]{}*+?.]*)\)\$$")


def _input_refusal(error: dict) -> InvalidInput:
    """pydantic's own check (a number, a choice, a limit, a day) as a refusal by its error
    type ("input.int_parsing") with the figures the words need; its message is the detail's
    own, shown as it is where the pages have no words for the type."""
    kind, ctx, given = error.get("type", ""), error.get("ctx") or {}, error.get("input")
    loc = [str(part) for part in error.get("loc", ())]
    field = ".".join(loc[1:]) or (loc[0] if loc else "request")
    params = {"field": field, "value": _shown(given)}
    limit = next((ctx[k] for k in _LIMITS if k in ctx), None)
    if limit is not None:
        params["limit"] = limit
        if isinstance(given, int | float | str):  # a number against its limit, unquoted
            params["value"] = str(given)[:40]
    if isinstance(given, str | list | tuple | dict):
        params["length"] = ctx.get("actual_length", len(given))
    choices = _choices(ctx)
    if choices is not None:
        params["expected"] = choices
    elif kind == "string_pattern_mismatch":
        kind += ":form"  # a regular expression says nothing to a reader
    if kind == "json_invalid":
        params["position"] = loc[1] if len(loc) > 1 else "?"
    return InvalidInput(_describe(error), rule=f"input.{kind}", params=params)


def _shown(value) -> str:
    """A value as given, quoted, cut short: an address may hold anything, of any length."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):  # keys JSON cannot hold, a value within itself
            text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _choices(ctx: dict) -> str | None:
    """The values a choice takes ('a' or 'b' from an enum or Literal, ^(a|b)$ from a
    pattern), listed as values are shown."""
    if "expected" in ctx:
        return ", ".join(re.findall(r"'[^']*'", str(ctx["expected"]))) or None
    found = _CHOICES.match(str(ctx.get("pattern", "")))
    return ", ".join(repr(v) for v in found.group(1).split("|")) if found else None


def note_refusal(request: Request, status: int, detail: str) -> None:
    """The one log line of a refusal."""
    log.info("refused: %s", detail, extra=_where(request, status))


def _refusal(request: Request, status: int, detail: str, body: dict | None = None, exc=None):
    note_refusal(request, status, detail)
    if is_page_request(request):
        return page_error(request, status, detail, exc)
    return _body(status, detail, body)


# The people's pages (geo_service/web, and the downloads linked from them) answer a
# refusal to a browser as a page, in words; everything else (the API, map data, tiles)
# keeps the JSON body programs read.
_PAGE_PREFIXES = (
    "/parcels", "/queue", "/uploads", "/login", "/logout", "/exports",
    "/board", "/projects", "/problems", "/rankings", "/relocation", "/assessment",
    "/maps", "/public",
)  # fmt: skip


def is_page_request(request: Request) -> bool:
    path = request.url.path
    page = path == "/" or path.startswith(_PAGE_PREFIXES)
    return page and "text/html" in request.headers.get("accept", "")


def _browser_outside_api(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith("/api")


def _not_a_page(request: Request) -> str:
    from geo_service.web.problems import no_page_words

    return no_page_words(request.url.path, request)


def page_error(request: Request, status: int, detail: str, exc=None):
    """`exc`: the domain's refusal, said in the page's language where its rule has words."""
    from geo_service.web.i18n import gettext_for
    from geo_service.web.problems import refusal_detail, status_words
    from geo_service.web.templates import respond

    _ = gettext_for(request)
    message = _("%(refusal)s: %(detail)s") % {
        "refusal": status_words(status, request),
        "detail": detail if exc is None else refusal_detail(exc, _),
    }
    return respond(request, "error.html", {"message": message, "user": None, "role_label": ""},
                   status)  # fmt: skip


def _body(status: int, detail: str, body: dict | None = None) -> JSONResponse:
    return JSONResponse(body or {"detail": detail}, status_code=status)


def _where(request: Request, status: int) -> dict:
    return {"method": request.method, "path": request.url.path, "status": status}
