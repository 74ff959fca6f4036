"""Parcels as GeoJSON: the paged list and one parcel.

The list is the API's most asked-for read, so it is answered by a plain Starlette route
ahead of the documented FastAPI one: it reads the query itself (FastAPI's per-parameter
models cost more than the rest of a page in Python) and hands any query it does not take
as plainly valid to the FastAPI route, so the OpenAPI document, the 422s and their words
stay FastAPI's.
"""

import time
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlunsplit

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from geo_service.accounts.permissions import can_read_district
from geo_service.accounts.users import Principal
from geo_service.api import schemas
from geo_service.api.auth import SignedIn, signed_in
from geo_service.api.deps import GEOJSON, INT_MAX, BboxQuery, IdPath, KindFilter, parse_bbox
from geo_service.errors import InvalidInput, NotFound
from geo_service.models import KINDS, STATUSES
from geo_service.parcels import listing
from geo_service.parcels.listing import Filters
from geo_service.settings import get_settings

# Whole pages, by URL and the caller's districts, each with the change token it was read
# at: asked again before any parcel changes, a page is the same bytes, so it is sent again
# after one cheap query for the token. Kept PARCEL_PAGE_MEMORY_SECONDS at most (for what
# the token does not follow: a township renamed); pages up to PAGE_BYTES_MAX only (a
# 100-parcel page is about 60 KB).
_pages: dict[tuple, tuple[int, float, bytes]] = {}
PAGE_BYTES_MAX = 512_000
_PAGES_MAX = 64
AFTER_MAX = 2**63 - 1


def forget_counts() -> None:
    """Forget the remembered counts and pages (tests empty the tables and restart the ids)."""
    listing.forget_counts()
    _pages.clear()


def _memory_seconds() -> float:
    return get_settings().parcel_page_memory_seconds


def _remembered_page(key: tuple) -> bytes | None:
    """The page remembered under `key`, if the parcels have not changed since."""
    if not _memory_seconds():
        return None
    remembered = _pages.get(key)
    if remembered is None or remembered[1] <= time.monotonic():
        return None
    change, _, body = remembered
    return body if change == listing.change_token() else None


def _remember_page(key: tuple, change: int, body: bytes) -> None:
    if len(body) > PAGE_BYTES_MAX or not _memory_seconds():
        return
    if len(_pages) >= _PAGES_MAX:  # a bound, not a policy
        _pages.clear()
    _pages[key] = (change, time.monotonic() + _memory_seconds(), body)


def _geojson(body: bytes) -> Response:
    return Response(body, media_type=GEOJSON)


def list_page(request: Request, who: Principal, query: dict) -> bytes:
    """The page's bytes; `query` holds checked values (township, kind, status, bbox, code,
    limit, offset, after)."""
    refused = listing.check_status(query["status"])
    if refused:
        raise InvalidInput(
            refused,
            rule="choice",
            params={"option": "status", "choices": ", ".join(STATUSES), "value": query["status"]},
        )
    scope = None if who.district_ids is None else tuple(sorted(who.district_ids))
    key = (str(request.url), scope, listing.COUNT_CAP, get_settings().page_size_max)
    remembered = _remembered_page(key)
    if remembered is not None:
        return remembered
    limit, offset, after = query["limit"], query["offset"], query["after"]
    limit = min(limit, get_settings().page_size_max)
    filters = Filters(query["township"], query["kind"], query["status"], query["bbox"],
                      query["code"], scope)  # fmt: skip
    found = listing.page(filters, limit, offset, after, count=after is None)
    body = {"type": "FeatureCollection"}
    if after is None and offset == 0 and not found.more:
        body["numberMatched"] = len(found.rows)  # the page is the whole result
    elif after is None:
        body.update(listing.matched(filters, found.change, _memory_seconds(), found.counted))
    body["numberReturned"] = len(found.rows)
    last = found.rows[-1][0] if found.more else None
    links = _page_links(request, limit, offset, last)
    # The bytes orjson.dumps wrote with the features as Fragments, joined from the
    # features' bytes as PostgreSQL sent them: a Fragment of text was encoded anew.
    features = b",".join(text for _, text in found.rows)
    head = orjson.dumps(body)[:-1]
    written = b"".join((head, b',"features":[', features, b'],"links":', orjson.dumps(links), b"}"))
    if found.rows:
        _remember_page(key, found.change, written)
    return written


_DEFAULTS = {"township": None, "kind": None, "status": None, "bbox": None, "code": None,
             "limit": 1000, "offset": 0, "after": None}  # fmt: skip
_INTS = {"limit": (1, INT_MAX), "offset": (0, INT_MAX), "after": (0, AFTER_MAX)}


def plain_query(request: Request) -> dict | None:
    """The list's query when every value is plainly valid, else None (the FastAPI route
    then answers, with its 422). Accepts only what FastAPI would take the same way."""
    query = dict(_DEFAULTS)
    seen = set()
    for name, value in request.query_params.multi_items():
        if name not in query:
            continue  # FastAPI ignores what the route does not name
        if name in seen:
            return None
        seen.add(name)
        if name in _INTS:
            low, high = _INTS[name]
            if not value.isdigit() or not value.isascii() or len(value) > 19:
                return None
            if (value[0] == "0" and value != "0") or not low <= int(value) <= high:
                return None
            query[name] = int(value)
        elif name == "kind":
            if value not in KINDS:
                return None
            query[name] = value
        elif name == "bbox":
            try:
                query[name] = parse_bbox(value)
            except ValueError:
                return None
        else:
            query[name] = value
    return query


class _PlainList:
    """`GET /api/parcels` for a plainly valid query, else the documented route."""

    def __init__(self, documented: Route):
        self.documented = documented

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        query = plain_query(request)
        if query is None:
            await self.documented.app(scope, receive, send)
            return
        who = await signed_in(request)
        body = await run_in_threadpool(list_page, request, who, query)
        await _geojson(body)(scope, receive, send)


def plain_list_of(router: APIRouter) -> Route:
    """The plain route for the list route of a router made by parcels_router, answering
    plainly valid queries and handing the rest to it: the app puts it ahead of all its
    included routers (api/app.py)."""
    documented = next(r for r in router.routes if getattr(r, "path", None) == "/api/parcels")
    return Route("/api/parcels", _PlainList(documented), methods=["GET"], include_in_schema=False)


def parcels_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["parcels"])

    @router.get("/parcels", response_model=schemas.FeatureCollection)
    def list_parcels(
        request: Request,
        who: SignedIn,
        township: str | None = None,
        kind: KindFilter = None,
        status: str | None = None,
        bbox: BboxQuery = None,
        code: Annotated[str | None, Query(description="parcel code")] = None,
        limit: Annotated[int, Query(ge=1, le=INT_MAX)] = 1000,
        offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
        after: Annotated[
            int | None, Query(ge=0, le=AFTER_MAX, description="the last id of the page before")
        ] = None,
    ):
        query = {"township": township, "kind": kind, "status": status, "bbox": bbox,
                 "code": code, "limit": limit, "offset": offset, "after": after}  # fmt: skip
        return _geojson(list_page(request, who, query))

    @router.get("/parcels/{parcel_id}", response_model=schemas.Feature)
    def get_parcel(parcel_id: IdPath, who: SignedIn):
        found = listing.feature(parcel_id)
        if found is None or not can_read_district(who, found[0]):
            raise NotFound(
                f"no parcel with id {parcel_id}", rule="parcel_id", params={"id": parcel_id}
            )
        return _geojson(found[1].encode())

    return router


def _page_links(request: Request, limit: int, offset: int, last: int | None) -> list[dict]:
    """OGC API style next/prev links that keep the caller's filters; next is a keyset
    cursor (`after` the page's last id). Written as Starlette's URL.include_query_params
    writes them (the parameters given moved to the end), from the query parsed once."""
    here = str(request.url)
    links = [{"rel": "self", "type": GEOJSON, "href": here}]
    if last is None and offset <= 0:
        return links
    parts = request.url.components
    given = parse_qsl(parts.query, keep_blank_values=True)

    def href(dropped: tuple, **replaced: int) -> str:
        names = {*dropped, *replaced}
        kept = [(k, v) for k, v in given if k not in names]
        query = urlencode([*kept, *((k, str(v)) for k, v in replaced.items())])
        return urlunsplit(parts._replace(query=query))

    if last is not None:  # a keyset cursor, in place of any offset
        next_page = href(("offset",), limit=limit, after=last)
        links.append({"rel": "next", "type": GEOJSON, "href": next_page})
    if offset > 0:
        before = href((), limit=limit, offset=max(offset - limit, 0))
        links.append({"rel": "prev", "type": GEOJSON, "href": before})
    return links
