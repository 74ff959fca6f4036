"""Parcels as GeoJSON: the paged list and one parcel."""

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import text

from ..errors import InvalidInput, NotFound
from ..features import geojson_sql
from ..models import STATUSES
from ..permissions import can_read_district
from ..settings import get_settings
from . import schemas
from .auth import SignedIn
from .deps import GEOJSON, INT_MAX, BboxQuery, IdPath, KindFilter, ReadSessionDep

_PARCEL_COLUMNS = f"""
    p.id, p.code, p.name, p.kind, p.status, t.name AS township, d.name AS district,
    d.id AS district_id,
    pr.code AS project, p.area_m2, p.area_m2 / (10000.0 / 15) AS area_mu, p.declared_m2,
    p.source_file, p.version, p.created_by, p.created_at, p.updated_by, p.updated_at,
    p.verified_by, p.verified_group, p.verified_at, p.verification_note, p.verified_area_m2,
    p.dispute_reason, p.withdrawn_at, p.withdrawn_by, p.withdrawn_reason, p.flags,
    (SELECT array_agg(s.name ORDER BY s.name) FROM parcel_support ps
       JOIN admin_units s ON s.id = ps.township_id WHERE ps.parcel_id = p.id) AS supporters,
    {geojson_sql("p.geom", as_text=True)} AS geometry
"""
_PARCEL_FROM = """
    FROM parcels p JOIN admin_units t ON t.id = p.township_id
    JOIN admin_units d ON d.id = t.parent_id
    LEFT JOIN projects pr ON pr.id = p.project_id
"""


# Up to this many matches numberMatched is counted; past it, the planner's estimate is given
# (flagged): counting a city's parcels on every page cost more than the page itself.
COUNT_CAP = 10_000


def _feature(row) -> dict:
    props = {k: v for k, v in row.items() if k not in ("geometry", "district_id")}
    for key in ("created_at", "updated_at", "verified_at", "withdrawn_at"):
        props[key] = props[key].isoformat() if props[key] else None
    # PostGIS wrote the geometry's JSON already: embedded as it is, not parsed and re-dumped.
    geometry = orjson.Fragment(row["geometry"])
    return {"type": "Feature", "id": row["id"], "geometry": geometry, "properties": props}


def _geojson(body: dict) -> Response:
    return Response(orjson.dumps(body), media_type=GEOJSON)


def parcels_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["parcels"])

    @router.get("/parcels", response_model=schemas.FeatureCollection)
    def list_parcels(
        request: Request,
        session: ReadSessionDep,
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
        limit = min(limit, get_settings().page_size_max)
        where, params = _parcel_filters(township, kind, status, bbox, code, who.district_ids)
        page_where, page_params = where, dict(params)
        if after is not None:
            # Keyset paging: the next page starts past the last id, found through the
            # primary key instead of counting past every earlier row as OFFSET does.
            page_where += (" AND " if where else "WHERE ") + "p.id > :after"
            page_params["after"] = after
        rows = session.execute(
            text(
                f"SELECT {_PARCEL_COLUMNS} {_PARCEL_FROM} {page_where} ORDER BY p.id "
                "LIMIT :limit OFFSET :offset"
            ),
            {**page_params, "limit": limit + 1, "offset": offset},
        ).mappings()
        features = [_feature(r) for r in rows]
        more = len(features) > limit
        features = features[:limit]
        body = {"type": "FeatureCollection"}
        if after is None and offset == 0 and not more:
            body["numberMatched"] = len(features)  # the page is the whole result
        elif after is None:
            body.update(_matched(session, where, params))
        body["numberReturned"] = len(features)
        body["features"] = features
        last = features[-1]["id"] if more else None
        body["links"] = _page_links(request, limit, offset, last)
        return _geojson(body)

    @router.get("/parcels/{parcel_id}", response_model=schemas.Feature)
    def get_parcel(parcel_id: IdPath, session: ReadSessionDep, who: SignedIn):
        row = (
            session.execute(
                text(f"SELECT {_PARCEL_COLUMNS} {_PARCEL_FROM} WHERE p.id = :id"), {"id": parcel_id}
            )
            .mappings()
            .first()
        )
        if row is None or not can_read_district(who, row["district_id"]):
            raise NotFound(f"no parcel with id {parcel_id}")
        return _geojson(_feature(row))

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


def _matched(session, where: str, params: dict) -> dict:
    """numberMatched for the first page: exact up to COUNT_CAP, else the planner's estimate.
    Later pages (`after`) leave it out, as OGC API Features allows."""
    counted = session.execute(
        text(f"SELECT count(*) FROM (SELECT 1 {_PARCEL_FROM} {where} LIMIT :cap) m"),
        {**params, "cap": COUNT_CAP + 1},
    ).scalar()
    if counted <= COUNT_CAP:
        return {"numberMatched": counted}
    plan = session.execute(
        text(f"EXPLAIN (FORMAT JSON) SELECT 1 {_PARCEL_FROM} {where}"), params
    ).scalar()
    estimate = max(int(plan[0]["Plan"]["Plan Rows"]), counted)
    return {"numberMatched": estimate, "numberMatchedIsEstimate": True}


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
