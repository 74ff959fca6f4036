"""OGC API – Features (Part 1 Core + GeoJSON, Part 2 CRS by reference, Part 3 Queryables
as query parameters), read-only: parcels and township progress, for QGIS, ArcGIS Pro,
OWSLib and GDAL's OAPIF driver.

The landing page's API definition is an OpenAPI 3.0 document of these routes at /ogc/api,
as the oas30 conformance class says: OWSLib follows only a `service-desc` link of type
`application/vnd.oai.openapi+json;version=3.0`, and GDAL's OAPIF driver asks for 3.0.
FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12: `anyOf` with `null`), served whole at
/openapi.json; /ogc/api is its /ogc part with the few 3.1-only forms rewritten as 3.0
has them.

Written here rather than mounting tipg or pygeoapi: those open their own database pools and
know nothing of this service's history (a parcel as it stood at `datetime`), its tallies or
its access rules. The documents follow the standard's schemas (landingPage,
confClasses, collections, collection, featureCollectionGeoJSON, featureGeoJSON).
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import GEOJSON, ReadSessionDep
from geo_service.errors import InvalidInput, NotFound
from geo_service.models import KINDS, STATUSES
from geo_service.parcels import features
from geo_service.settings import get_settings

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
]
JSON = "application/json"
JSON_SCHEMA = "application/schema+json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
# What each filter of `items` compares with, for the queryables document.
QUERYABLES = {
    "code": {"title": "Parcel code (宗地号)", "type": "string"},
    "kind": {"title": "Kind of work (交地/拆迁)", "type": "string", "enum": list(KINDS)},
    "status": {"title": "Status", "type": "string", "enum": list(STATUSES)},
    "township": {"title": "Township (乡镇/街道): name or code", "type": "string"},
    "district": {"title": "District (区县): name or code", "type": "string"},
    "project": {"title": "Project code (项目编号)", "type": "string"},
}
_TEXT, _NUMBER = {"type": "string"}, {"type": "number"}
# Every property of a collection's features, typed: GDAL's OAPIF driver reads its fields from
# the collection's `describedBy` schema (GDAL 3.6 matches that spelling only); without one it
# guesses from the first page, and a column empty there (the target of townships without
# one) came out as text in the planner's layer.
PROPERTIES = {
    "parcels": {
        **{name: _TEXT for name in ("code", "name", "kind", "status", "township",
                                    "township_code", "district", "project")},
        "area_m2": _NUMBER, "verified_by": _TEXT, "verified_group": _TEXT,
        "version": {"type": "integer"}, "area_mu": _NUMBER,
        "verified_at": {"type": "string", "format": "date-time"},
    },
    "township-progress": {
        "district": _TEXT, "township": _TEXT, "township_code": _TEXT,
        "boundary_approximate": {"type": "boolean"}, "kind": _TEXT,
        "verified_parcels": {"type": "integer"},
        **{name: _NUMBER for name in ("verified_m2", "verified_mu", "target_m2", "target_mu",
                                      "progress")},
    },
}  # fmt: skip
COLLECTIONS = {
    "parcels": {
        "title": "Parcels (地块)",
        "description": "Land-delivery and demolition parcels with status, township, project "
        "and geodesic area; `datetime` gives them as they stood at an instant.",
        "filters": features.PARCEL_FILTERS,
    },
    "township-progress": {
        "title": "Township progress (乡镇进度)",
        "description": "Each township and kind of work: verified area (union, geodesic), "
        "target and progress for the campaign year.",
        "filters": features.PROGRESS_FILTERS,
    },
}
_ITEM_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "f"}
MAX_LIMIT = 10000


def _url(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


def _link(href: str, rel: str, kind: str = JSON, title: str | None = None) -> dict:
    link = {"href": href, "rel": rel, "type": kind}
    if title:
        link["title"] = title
    return link


def _collection(request: Request, cid: str, session) -> dict:
    meta = COLLECTIONS[cid]
    extent = (
        features.parcel_extent(session) if cid == "parcels" else features.township_extent(session)
    )
    base = _url(request, f"/ogc/collections/{cid}")
    body = {
        "id": cid,
        "title": meta["title"],
        "description": meta["description"],
        "links": [
            _link(base, "self", JSON, "this collection"),
            _link(f"{base}/items", "items", GEOJSON, "the features"),
            _link(f"{base}/queryables", QUERYABLES_REL, JSON_SCHEMA, "the queryables"),
            _link(f"{base}/schema", "describedBy", JSON_SCHEMA, "the features' properties"),
        ],
        "itemType": "feature",
        "crs": list(features.OFFERED_CRS),
        "storageCrs": features.STORAGE_CRS,
    }
    if extent:
        body["extent"] = {"spatial": {"bbox": [extent], "crs": features.CRS84}}
    return body


def _collection_id(cid: str) -> str:
    if cid not in COLLECTIONS:
        raise NotFound(
            f"no collection {cid!r}; there are: {', '.join(COLLECTIONS)}",
            rule="collection",
            params={"id": cid, "choices": ", ".join(COLLECTIONS)},
        )
    return cid


def ogc_router() -> APIRouter:
    router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])

    @router.get("", summary="Landing page", response_model=schemas.LandingPage)
    def landing(request: Request):
        return {
            "title": "geo_service OGC API - Features",
            "description": "Parcels and township progress, read-only.",
            "links": [
                _link(_url(request, "/ogc"), "self", JSON, "this document"),
                _link(_url(request, "/ogc/api"), "service-desc", OPENAPI_30, "the API definition"),
                _link(_url(request, "/docs"), "service-doc", "text/html", "the API docs"),
                _link(_url(request, "/ogc/conformance"), "conformance", JSON, "conformance"),
                _link(_url(request, "/ogc/collections"), "data", JSON, "the collections"),
            ],
        }

    @router.get("/api", include_in_schema=False)
    def api_definition(request: Request):
        spec = request.app.openapi()
        paths = {p: item for p, item in spec["paths"].items() if p.startswith("/ogc")}
        spec = {**spec, "openapi": "3.0.3", "paths": paths}
        return JSONResponse(as_openapi_30(spec), media_type=OPENAPI_30)

    @router.get("/conformance", summary="Conformance classes", response_model=schemas.Conformance)
    def conformance():
        return {"conformsTo": CONFORMANCE}

    @router.get("/collections", summary="The collections", response_model=schemas.Collections)
    def collections(request: Request, session: ReadSessionDep, who: SignedIn):
        return {
            "links": [_link(_url(request, "/ogc/collections"), "self", JSON, "this document")],
            "collections": [_collection(request, cid, session) for cid in COLLECTIONS],
        }

    @router.get(
        "/collections/{collectionId}", summary="One collection", response_model=schemas.Collection
    )
    def collection(request: Request, collectionId: str, session: ReadSessionDep, who: SignedIn):  # noqa: N803
        return _collection(request, _collection_id(collectionId), session)

    @router.get(
        "/collections/{collectionId}/queryables",
        summary="The properties items filter on",
        response_model=schemas.Queryables,
        responses={
            200: {"content": {JSON_SCHEMA: {"schema": {"$ref": "#/components/schemas/Queryables"}}}}
        },
    )
    def queryables(request: Request, collectionId: str, who: SignedIn):  # noqa: N803
        cid = _collection_id(collectionId)
        body = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": _url(request, f"/ogc/collections/{cid}/queryables"),
            "type": "object",
            "title": COLLECTIONS[cid]["title"],
            "properties": {name: QUERYABLES[name] for name in COLLECTIONS[cid]["filters"]},
            "additionalProperties": False,
        }
        return JSONResponse(body, media_type=JSON_SCHEMA)

    @router.get(
        "/collections/{collectionId}/schema",
        summary="A feature, its properties typed (GeoJSON Feature as JSON Schema)",
        response_model=schemas.Queryables,
        responses={
            200: {"content": {JSON_SCHEMA: {"schema": {"$ref": "#/components/schemas/Queryables"}}}}
        },
    )
    def schema(request: Request, collectionId: str, who: SignedIn):  # noqa: N803
        cid = _collection_id(collectionId)
        body = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": _url(request, f"/ogc/collections/{cid}/schema"),
            "type": "object",
            "title": COLLECTIONS[cid]["title"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"type": "string"},
                "geometry": {"type": "object"},
                "properties": {"type": "object", "properties": PROPERTIES[cid]},
            },
            "additionalProperties": True,  # a feature's links, bbox
        }
        return JSONResponse(body, media_type=JSON_SCHEMA)

    @router.get(
        "/collections/{collectionId}/items",
        summary="Features, paged",
        response_model=schemas.FeatureCollection,
    )
    def items(
        request: Request,
        session: ReadSessionDep,
        who: SignedIn,
        collectionId: str,  # noqa: N803
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
        offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
        bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy")] = None,
        bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
        crs: Annotated[str | None, Query(description="e.g. EPSG:4549 as an OGC URI")] = None,
        datetime_: Annotated[str | None, Query(alias="datetime")] = None,
        code: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        township: str | None = None,
        district: str | None = None,
        project: str | None = None,
    ):
        """Features as GeoJSON; `crs` and `bbox-crs` take any CRS the collection lists."""
        cid = _collection_id(collectionId)
        allowed = _ITEM_PARAMS | set(COLLECTIONS[cid]["filters"])
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise InvalidInput(
                f"unknown parameter(s) for {cid}: {', '.join(unknown)}",
                rule="parameters_unknown",
                params={"id": cid, "names": ", ".join(unknown)},
            )
        out = features.output_crs(crs)
        limit = min(limit, get_settings().page_size_max)
        filters = dict(code=code, kind=kind, status=status, township=township,
                       district=district, project=project)  # fmt: skip
        box = features.parse_bbox(bbox, bbox_crs)
        at = features.parse_datetime(datetime_)
        scope = _scope(who)
        if cid == "parcels":
            page = features.parcel_page(session, filters, out, box, at, limit, offset,
                                        district_ids=scope)  # fmt: skip
        else:
            page = features.progress_page(session, filters, out, box, at, limit, offset,
                                          district_ids=scope)  # fmt: skip
        body = {
            "type": "FeatureCollection",
            "features": page.features,
            "links": _item_links(request, cid, page.matched, limit, offset),
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "numberMatched": page.matched,
            "numberReturned": len(page.features),
        }
        return _geojson(body, out)

    @router.get(
        "/collections/{collectionId}/items/{featureId}",
        summary="One feature",
        response_model=schemas.Feature,
    )
    def item(
        request: Request,
        session: ReadSessionDep,
        who: SignedIn,
        collectionId: str,  # noqa: N803
        featureId: str,  # noqa: N803
        crs: Annotated[str | None, Query()] = None,
    ):
        cid = _collection_id(collectionId)
        out = features.output_crs(crs)
        if cid == "parcels":
            if not featureId.isdigit():
                raise NotFound(
                    f"no parcel {featureId!r}",
                    rule="ogc_feature",
                    params={"collection": cid, "id": featureId},
                )
            page = features.parcel_page(
                session, {}, out, limit=1, parcel_id=int(featureId), district_ids=_scope(who)
            )
        else:
            page = features.progress_page(
                session, {}, out, feature_id=featureId, district_ids=_scope(who)
            )
        if not page.features:
            raise NotFound(
                f"no {cid} feature {featureId!r}",
                rule="ogc_feature",
                params={"collection": cid, "id": featureId},
            )
        feature = page.features[0]
        base = _url(request, f"/ogc/collections/{cid}")
        feature["links"] = [
            _link(str(request.url), "self", GEOJSON),
            _link(base, "collection", JSON),
        ]
        return _geojson(feature, out)

    return router


def as_openapi_30(node):
    """FastAPI's OpenAPI 3.1 schemas in 3.0's terms: a nullable `anyOf` becomes
    `nullable`, `const` an enum of one, numeric exclusive bounds boolean ones, a schema's
    `examples` list its `example`."""
    if isinstance(node, list):
        return [as_openapi_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: as_openapi_30(v) for k, v in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in node.pop("anyOf") if o != {"type": "null"}]
        # Beside a $ref, 3.0 ignores every other keyword: the reference goes in allOf.
        only = rest[0] if len(rest) == 1 and "$ref" not in rest[0] else None
        node.update(only if only else {"allOf" if len(rest) == 1 else "anyOf": rest})
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[plain], node[bound] = node[bound], True
    if isinstance(node.get("examples"), list) and "type" in node:
        node["example"] = node.pop("examples")[0]
    return node


def _scope(who) -> list[int] | None:
    """The districts a user may read (None: every district)."""
    return None if who.district_ids is None else sorted(who.district_ids)


def _item_links(request: Request, cid: str, matched: int, limit: int, offset: int) -> list:
    links = [
        _link(str(request.url), "self", GEOJSON, "this page"),
        _link(_url(request, f"/ogc/collections/{cid}"), "collection", JSON, "the collection"),
    ]
    if offset + limit < matched:
        url = request.url.include_query_params(limit=limit, offset=offset + limit)
        links.append(_link(str(url), "next", GEOJSON, "next page"))
    if offset > 0:
        url = request.url.include_query_params(limit=limit, offset=max(offset - limit, 0))
        links.append(_link(str(url), "prev", GEOJSON, "previous page"))
    return links


def _geojson(body: dict, out: features.OutputCRS) -> JSONResponse:
    return JSONResponse(body, media_type=GEOJSON, headers={"Content-Crs": f"<{out.uri}>"})
