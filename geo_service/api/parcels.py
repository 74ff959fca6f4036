"""Parcels as GeoJSON: the paged list and one parcel."""

import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from geo_service import database
from geo_service.accounts.permissions import can_read_district
from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import GEOJSON, INT_MAX, BboxQuery, IdPath, KindFilter
from geo_service.errors import InvalidInput, NotFound
from geo_service.interop import geojson_sql
from geo_service.models import STATUSES
from geo_service.settings import get_settings


def _iso(column: str) -> str:
    """A timestamp as Python's datetime.isoformat() writes it (what the list served before
    PostgreSQL wrote the JSON): microseconds only when there are any, offset as +HH:MM.
    '.000000' can only be the fraction, so dropping it is exact."""
    return f"replace(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM'), '.000000', '')"


# Each feature is written by PostgreSQL as JSON text (json_build_object keeps the order
# of the keys) and sent on without being parsed: building 100 features from rows in
# Python cost more than everything else a page does.
_PROPERTIES = {
    "id": "p.id", "code": "p.code", "name": "p.name", "kind": "p.kind", "status": "p.status",
    "township": "t.name", "district": "d.name", "project": "pr.code", "area_m2": "p.area_m2",
    "area_mu": "p.area_m2 / (10000.0 / 15)", "declared_m2": "p.declared_m2",
    "source_file": "p.source_file", "version": "p.version", "created_by": "p.created_by",
    "created_at": _iso("p.created_at"), "updated_by": "p.updated_by",
    "updated_at": _iso("p.updated_at"), "verified_by": "p.verified_by",
    "verified_group": "p.verified_group", "verified_at": _iso("p.verified_at"),
    "verification_note": "p.verification_note", "verified_area_m2": "p.verified_area_m2",
    "dispute_reason": "p.dispute_reason", "withdrawn_at": _iso("p.withdrawn_at"),
    "withdrawn_by": "p.withdrawn_by", "withdrawn_reason": "p.withdrawn_reason",
    "flags": "p.flags",
    "supporters": "(SELECT array_agg(s.name ORDER BY s.name) FROM parcel_support ps "
    "JOIN admin_units s ON s.id = ps.township_id WHERE ps.parcel_id = p.id)",
}  # fmt: skip
# The geometry's GeoJSON is spliced in as text: a cast to json would parse it again, which
# cost more than writing it.
_FEATURE = (
    """'{"type": "Feature", "id": ' || p.id || ', "geometry": ' || """
    f"coalesce({geojson_sql('p.geom', as_text=True)}, 'null') || "
    "', \"properties\": ' || json_build_object("
    + ", ".join(f"'{key}', {sql}" for key, sql in _PROPERTIES.items())
    + ")::text || '}'"
)
_PARCEL_FROM = """
    FROM parcels p JOIN admin_units t ON t.id = p.township_id
    JOIN admin_units d ON d.id = t.parent_id
    LEFT JOIN projects pr ON pr.id = p.project_id
"""
# Read with the page, in the same snapshot: what the count of matches is remembered by.
_CHANGE = "(SELECT coalesce(max(id), 0) FROM parcel_versions)"


# Up to this many matches numberMatched is counted; past it, the planner's estimate is given
# (flagged): counting a city's parcels on every page cost more than the page itself.
COUNT_CAP = 10_000
# numberMatched of first pages, by the parcels' change token and the query: another page
# asked for before any parcel changes has the same count, in every worker. Kept a few
# seconds at most (PARCEL_PAGE_MEMORY_SECONDS), for what the change token does not follow
# (a township renamed).
_counts: dict[tuple, tuple[float, dict]] = {}
_COUNTS_MAX = 1_000


# Whole pages, by URL and the caller's districts, each with the change token it was read
# at: asked again before any parcel changes, a page is the same bytes, so it is sent again
# after one cheap query for the token. Same few seconds' bound as the counts; pages up to
# PAGE_BYTES_MAX only (a 100-parcel page is about 60 KB).
_pages: dict[tuple, tuple[int, float, bytes]] = {}
PAGE_BYTES_MAX = 512_000
_PAGES_MAX = 64


def forget_counts() -> None:
    """Forget the remembered counts and pages (tests empty the tables and restart the ids)."""
    _counts.clear()
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
    return body if change == database.read_rows(f"SELECT {_CHANGE}")[0][0] else None


def _remember_page(key: tuple, change: int, body: bytes) -> None:
    if len(body) > PAGE_BYTES_MAX or not _memory_seconds():
        return
    if len(_pages) >= _PAGES_MAX:  # a bound, not a policy
        _pages.clear()
    _pages[key] = (change, time.monotonic() + _memory_seconds(), body)


def _geojson(body: bytes) -> Response:
    return Response(body, media_type=GEOJSON)


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
            int | None, Query(ge=0, le=2**63 - 1, description="the last id of the page before")
        ] = None,
    ):
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        scope = None if who.district_ids is None else tuple(sorted(who.district_ids))
        key = (str(request.url), scope, COUNT_CAP, get_settings().page_size_max)
        remembered = _remembered_page(key)
        if remembered is not None:
            return _geojson(remembered)
        limit = min(limit, get_settings().page_size_max)
        where, params = _parcel_filters(township, kind, status, bbox, code, who.district_ids)
        page_where, page_params = where, dict(params)
        if after is not None:
            # Keyset paging: the next page starts past the last id, found through the
            # primary key instead of counting past every earlier row as OFFSET does.
            page_where += (" AND " if where else "WHERE ") + "p.id > :after"
            page_params["after"] = after
        rows = database.read_rows(
            f"SELECT p.id, {_FEATURE}, {_CHANGE} {_PARCEL_FROM} {page_where} "
            "ORDER BY p.id LIMIT :limit OFFSET :offset",
            {**page_params, "limit": limit + 1, "offset": offset},
        )
        more = len(rows) > limit
        rows = rows[:limit]
        body = {"type": "FeatureCollection"}
        if after is None and offset == 0 and not more:
            body["numberMatched"] = len(rows)  # the page is the whole result
        elif after is None:
            change = rows[0][2] if rows else None
            body.update(_matched(where, params, change))
        body["numberReturned"] = len(rows)
        body["features"] = [orjson.Fragment(r[1]) for r in rows]
        last = rows[-1][0] if more else None
        body["links"] = _page_links(request, limit, offset, last)
        written = orjson.dumps(body)
        if rows:
            _remember_page(key, rows[0][2], written)
        return _geojson(written)

    @router.get("/parcels/{parcel_id}", response_model=schemas.Feature)
    def get_parcel(parcel_id: IdPath, who: SignedIn):
        rows = database.read_rows(
            f"SELECT d.id, {_FEATURE} {_PARCEL_FROM} WHERE p.id = :id", {"id": parcel_id}
        )
        row = rows[0] if rows else None
        if row is None or not can_read_district(who, row[0]):
            raise NotFound(f"no parcel with id {parcel_id}")
        return _geojson(row[1].encode())

    return router


def _parcel_filters(township, kind, status, bbox, code=None, districts=None) -> tuple[str, dict]:
    """WHERE clause and parameters; `districts` limits to what the user may see."""
    clauses, params = [], {}
    if districts is not None:
        clauses.append("d.id = ANY(:districts)")
        params["districts"] = sorted(districts)
    if code:
        clauses.append("p.code = :code")
        params["code"] = code
    if township:
        clauses.append("(t.name = :township OR t.code = :township)")
        params["township"] = township
    if kind:
        clauses.append("p.kind = :kind")
        params["kind"] = kind
    if status:
        clauses.append("p.status = :status")
        params["status"] = status
    else:
        # Withdrawn parcels are listed only when asked for by status.
        clauses.append("p.status <> 'withdrawn'")
    if bbox:
        west, south, east, north = bbox
        clauses.append("p.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4490)")
        params.update(w=west, s=south, e=east, n=north)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _matched(where: str, params: dict, change: int | None) -> dict:
    """numberMatched for the first page: exact up to COUNT_CAP, else the planner's estimate.
    Later pages (`after`) leave it out, as OGC API Features allows. Remembered by the
    change token read with the page (None: not known, counted afresh)."""
    query = (COUNT_CAP, where, tuple(sorted((k, str(v)) for k, v in params.items())))
    remembered = _counts.get((change, *query)) if change is not None else None
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    counted_at, matched = _count(where, params)
    if not _memory_seconds():
        return matched
    if len(_counts) >= _COUNTS_MAX:
        _counts.clear()
    # Filed under the token read with the count itself: a change between the page and
    # the count is never remembered under the older token.
    _counts[(counted_at, *query)] = (time.monotonic() + _memory_seconds(), matched)
    return matched


def _count(where: str, params: dict) -> tuple[int, dict]:
    # Where the page was read (read_rows: the replica when there is one), with no session.
    counted, change = database.read_rows(
        f"SELECT count(*), {_CHANGE} FROM (SELECT 1 {_PARCEL_FROM} {where} LIMIT :cap) m",
        {**params, "cap": COUNT_CAP + 1},
    )[0]
    if counted <= COUNT_CAP:
        return change, {"numberMatched": counted}
    plan = database.read_rows(f"EXPLAIN (FORMAT JSON) SELECT 1 {_PARCEL_FROM} {where}", params)[0][
        0
    ]
    estimate = max(int(plan[0]["Plan"]["Plan Rows"]), counted)
    return change, {"numberMatched": estimate, "numberMatchedIsEstimate": True}


def _page_links(request: Request, limit: int, offset: int, last: int | None) -> list[dict]:
    """OGC API style next/prev links that keep the caller's filters; next is a keyset
    cursor (`after` the page's last id)."""
    links = [{"rel": "self", "type": GEOJSON, "href": str(request.url)}]
    if last is not None:
        url = request.url.remove_query_params("offset").include_query_params(
            limit=limit, after=last
        )
        links.append({"rel": "next", "type": GEOJSON, "href": str(url)})
    if offset > 0:
        url = request.url.include_query_params(limit=limit, offset=max(offset - limit, 0))
        links.append({"rel": "prev", "type": GEOJSON, "href": str(url)})
    return links
