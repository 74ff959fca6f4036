"""OGC API – Features (Part 1 Core + GeoJSON + OAS 3.0, Part 2 CRS by reference),
read-only: parcels and township progress, for QGIS, ArcGIS Pro and GDAL's OAPIF driver.

Written here rather than mounting tipg or pygeoapi: those open their own database pools and
know nothing of this service's history (a parcel as it stood at `datetime`), its tallies or
its access rules. The documents follow the standard's schemas (landingPage,
confClasses, collections, collection, featureCollectionGeoJSON, featureGeoJSON).
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from .. import features
from ..errors import InvalidInput, NotFound
from ..settings import get_settings
from . import schemas
from .auth import SignedIn
from .deps import GEOJSON, ReadSessionDep

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
JSON = "application/json"
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
        raise NotFound(f"no collection {cid!r}; there are: {', '.join(COLLECTIONS)}")
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
                _link(
                    _url(request, "/openapi.json"),
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.0",
                    "the API definition",
                ),
                _link(_url(request, "/docs"), "service-doc", "text/html", "the API docs"),
                _link(_url(request, "/ogc/conformance"), "conformance", JSON, "conformance"),
                _link(_url(request, "/ogc/collections"), "data", JSON, "the collections"),
            ],
        }

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
            raise InvalidInput(f"unknown parameter(s) for {cid}: {', '.join(unknown)}")
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
                raise NotFound(f"no parcel {featureId!r}")
            page = features.parcel_page(
                session, {}, out, limit=1, parcel_id=int(featureId), district_ids=_scope(who)
            )
        else:
            page = features.progress_page(
                session, {}, out, feature_id=featureId, district_ids=_scope(who)
            )
        if not page.features:
            raise NotFound(f"no {cid} feature {featureId!r}")
        feature = page.features[0]
        base = _url(request, f"/ogc/collections/{cid}")
        feature["links"] = [
            _link(str(request.url), "self", GEOJSON),
            _link(base, "collection", JSON),
        ]
        return _geojson(feature, out)

    return router


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
