"""The HTTP API: routers built from small factories over the same use cases as the CLI."""

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import __version__, database, reports, tallies, workflow
from .errors import (
    GeoServiceError,
    InvalidInput,
    NotFound,
    TooLarge,
    UploadRefused,
    http_status,
)
from .maps import data as maps_data
from .maps import pages as maps_pages
from .maps import tiles as maps_tiles
from .models import KINDS, STATUSES
from .settings import get_settings
from .uploads import IMPORT_STATUSES, ImportOptions, import_file

GEOJSON = "application/geo+json"


def get_session():
    with database.session_scope() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# an error response, never a 201 for something that was not stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
KIND_PATTERN = f"^({'|'.join(KINDS)})$"
KindFilter = Annotated[str | None, Query(pattern=KIND_PATTERN, description="land or demolition")]


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    def healthz():
        postgis = database.check(database.get_engine())
        return {"status": "ok", "postgis": postgis, "version": __version__}

    return router


def tallies_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["tallies"])

    @router.get("/tallies")
    def get_tallies(
        session: SessionDep,
        by: Annotated[str, Query(pattern="^(district|township|project)$")] = "district",
        kind: KindFilter = None,
        year: int | None = None,
        as_of: date | None = None,
        credit: Annotated[str, Query(pattern="^(host|helpers|all)$")] = "host",
    ):
        rows = tallies.tally(session, by=by, kind=kind, year=year, as_of=as_of, credit=credit)
        return [r.as_dict(by) for r in rows]

    return router


_PARCEL_COLUMNS = """
    p.id, p.code, p.name, p.kind, p.status, t.name AS township, d.name AS district,
    pr.code AS project, p.area_m2, p.area_m2 / (10000.0 / 15) AS area_mu, p.declared_m2,
    p.source_file, p.version, p.created_by, p.created_at, p.updated_by, p.updated_at,
    p.verified_by, p.verified_group, p.verified_at, p.verification_note, p.verified_area_m2,
    p.dispute_reason, p.flags,
    (SELECT array_agg(s.name ORDER BY s.name) FROM parcel_support ps
       JOIN admin_units s ON s.id = ps.township_id WHERE ps.parcel_id = p.id) AS supporters,
    ST_AsGeoJSON(p.geom, 7)::json AS geometry
"""
_PARCEL_FROM = """
    FROM parcels p JOIN admin_units t ON t.id = p.township_id
    JOIN admin_units d ON d.id = t.parent_id
    LEFT JOIN projects pr ON pr.id = p.project_id
"""


def _feature(row) -> dict:
    props = {k: v for k, v in row.items() if k != "geometry"}
    for key in ("created_at", "updated_at", "verified_at"):
        props[key] = props[key].isoformat() if props[key] else None
    return {"type": "Feature", "id": row["id"], "geometry": row["geometry"], "properties": props}


def parcels_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["parcels"])

    @router.get("/parcels")
    def list_parcels(
        request: Request,
        session: SessionDep,
        township: str | None = None,
        kind: KindFilter = None,
        status: str | None = None,
        bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
        code: Annotated[str | None, Query(description="parcel code")] = None,
        limit: Annotated[int, Query(ge=1)] = 1000,
        offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    ):
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        limit = min(limit, get_settings().page_size_max)
        where, params = _parcel_filters(township, kind, status, bbox, code)
        total = session.execute(text(f"SELECT count(*) {_PARCEL_FROM} {where}"), params).scalar()
        rows = session.execute(
            text(
                f"SELECT {_PARCEL_COLUMNS} {_PARCEL_FROM} {where} ORDER BY p.id "
                "LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": limit, "offset": offset},
        ).mappings()
        features = [_feature(r) for r in rows]
        body = {
            "type": "FeatureCollection",
            "numberMatched": total,
            "numberReturned": len(features),
            "features": features,
            "links": _page_links(request, total, limit, offset),
        }
        return JSONResponse(body, media_type=GEOJSON)

    @router.get("/parcels/{parcel_id}")
    def get_parcel(parcel_id: int, session: SessionDep):
        row = (
            session.execute(
                text(f"SELECT {_PARCEL_COLUMNS} {_PARCEL_FROM} WHERE p.id = :id"), {"id": parcel_id}
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no parcel with id {parcel_id}")
        return JSONResponse(_feature(row), media_type=GEOJSON)

    return router


def _parcel_filters(township, kind, status, bbox, code=None) -> tuple[str, dict]:
    clauses, params = [], {}
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
    if bbox:
        try:
            west, south, east, north = (float(v) for v in bbox.split(","))
        except ValueError:
            raise InvalidInput("bbox must be minLon,minLat,maxLon,maxLat") from None
        clauses.append("p.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4490)")
        params.update(w=west, s=south, e=east, n=north)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _page_links(request: Request, total: int, limit: int, offset: int) -> list[dict]:
    """OGC API style next/prev links that keep the caller's filters."""
    links = []
    if offset + limit < total:
        url = request.url.include_query_params(limit=limit, offset=offset + limit)
        links.append({"rel": "next", "type": GEOJSON, "href": str(url)})
    if offset > 0:
        url = request.url.include_query_params(limit=limit, offset=max(offset - limit, 0))
        links.append({"rel": "prev", "type": GEOJSON, "href": str(url)})
    return links


def uploads_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["uploads"])

    @router.post("/uploads")
    def post_upload(
        session: SessionDep,
        file: Annotated[UploadFile, File(description="zip, gpkg, geojson")],
        kind: Annotated[str, Form(pattern=KIND_PATTERN)],
        township: Annotated[str, Form()],
        project: Annotated[str | None, Form()] = None,
        status: Annotated[str | None, Form()] = None,
        crs: Annotated[str | None, Form()] = None,
        encoding: Annotated[str | None, Form()] = None,
        layer: Annotated[str | None, Form()] = None,
        dry_run: Annotated[bool, Form()] = False,
        accept_valid: Annotated[bool, Form()] = False,
        accept_overlaps: Annotated[bool, Form()] = False,
        actor: Annotated[str | None, Form()] = None,
        group: Annotated[str | None, Form(description="verification group signing")] = None,
        report_format: Annotated[
            str, Form(pattern="^(json|csv|gpkg)$", description="json, or the problems as csv/gpkg")
        ] = "json",
    ):
        if status is not None and status not in IMPORT_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(IMPORT_STATUSES)}")
        name = _safe_name(file.filename)
        options = ImportOptions(
            kind=kind,
            township=township,
            project=project,
            status=status,
            crs=crs,
            encoding=encoding,
            layer=layer,
            dry_run=dry_run,
            accept_valid=accept_valid,
            accept_overlaps=accept_overlaps,
            actor=actor or get_settings().default_actor,
            verifier_group=group,
            filename=name,
        )
        status_code = 200 if dry_run else 201
        with tempfile.TemporaryDirectory(prefix="geo-upload-") as folder:
            path = Path(folder) / name
            _save_limited(file, path)
            try:
                report = import_file(session, path, options)
            except UploadRefused as exc:
                if report_format == "json" or exc.report is None:
                    raise
                session.rollback()
                report, status_code = exc.report, 422
            if report_format == "json":
                return JSONResponse(report.as_dict(), status_code=status_code)
            return _report_file(report, report_format, status_code, Path(folder))

    return router


def _report_file(report, fmt: str, status_code: int, folder: Path) -> Response:
    """The problem report as a download: CSV, or a GeoPackage of the problem features."""
    stem = Path(report.filename).stem
    if fmt == "csv":
        return Response(
            reports.problems_csv(report),
            status_code=status_code,
            media_type="text/csv",
            headers=_attachment(f"{stem}-problems.csv"),
        )
    gpkg = reports.write_problems_gpkg(report, folder / f"{stem}-problems.gpkg")
    return Response(
        gpkg.read_bytes(),
        status_code=status_code,
        media_type="application/geopackage+sqlite3",
        headers=_attachment(f"{stem}-problems.gpkg"),
    )


def _attachment(filename: str) -> dict:
    # HTTP headers are Latin-1: Chinese file names travel percent-encoded (RFC 6266).
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}


def _safe_name(filename: str | None) -> str:
    """The client's file name without any folder part, short enough for any file system:
    it names the temporary copy."""
    name = Path((filename or "").replace("\\", "/")).name
    if name in ("", ".", ".."):
        return "upload"
    stem, suffix = Path(name).stem, Path(name).suffix[:16]
    while len((stem + suffix).encode()) > 200:
        stem = stem[:-1]
    return stem + suffix


class UploadSizeLimit:
    """Refuses an upload whose declared size is over the limit before its body is read."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/api/uploads":
            declared = dict(scope["headers"]).get(b"content-length")
            limit = get_settings().max_upload_bytes
            # The multipart envelope adds a little to the file itself.
            if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
                detail = f"the upload is larger than the upload limit ({limit:,} bytes)"
                response = JSONResponse({"detail": detail}, status_code=413)
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _save_limited(file: UploadFile, path: Path) -> None:
    limit = get_settings().max_upload_bytes
    written = 0
    with path.open("wb") as out:
        while chunk := file.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise TooLarge(f"{path.name}: larger than the upload limit ({limit:,} bytes)")
            out.write(chunk)
    if written == 0:
        raise UploadRefused(f"{path.name}: the file is empty")


class StatusChange(BaseModel):
    status: str = Field(description="in_progress, delivered, demolished or disputed")
    actor: str | None = Field(None, description="who makes the change")
    note: str | None = Field(None, description="why; required when leaving disputed")


class Verification(BaseModel):
    verifier: str = Field(description="the verifier's name")
    group: str = Field(description="土地核验组 for land, 拆迁核验组 for demolition")
    note: str | None = None


class Dispute(BaseModel):
    reason: str
    actor: str | None = None


def workflow_router() -> APIRouter:
    """Status changes, verification, disputes and a parcel's history."""
    router = APIRouter(prefix="/api/parcels", tags=["workflow"])

    @router.get("/{parcel_id}/history")
    def get_history(parcel_id: int, session: SessionDep):
        """Every version, oldest first (geometry_changed is null for the first)."""
        return workflow.history(session, parcel_id)

    @router.post("/{parcel_id}/status")
    def post_status(parcel_id: int, body: StatusChange, session: SessionDep):
        actor = body.actor or get_settings().default_actor
        return workflow.set_status(session, parcel_id, body.status, actor, body.note).as_dict()

    @router.post("/{parcel_id}/verify")
    def post_verify(parcel_id: int, body: Verification, session: SessionDep):
        done = workflow.verify(session, parcel_id, body.verifier, body.group, body.note)
        return done.as_dict()

    @router.post("/{parcel_id}/dispute")
    def post_dispute(parcel_id: int, body: Dispute, session: SessionDep):
        actor = body.actor or get_settings().default_actor
        return workflow.dispute(session, parcel_id, body.reason, actor).as_dict()

    return router


def support_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["tallies"])

    @router.get("/support-links")
    def get_support_links(
        session: SessionDep,
        kind: KindFilter = None,
        as_of: date | None = None,
    ):
        """Cross-township support: host → helper pairs, parcels, verified area together."""
        return [x.as_dict() for x in tallies.support_links(session, kind=kind, as_of=as_of)]

    return router


async def _conflict(request: Request, exc: IntegrityError) -> JSONResponse:
    # Two writers changed the same parcel at once: nothing was stored, trying again is safe.
    detail = "the data changed while this request was being stored; nothing was written: retry"
    return JSONResponse({"detail": detail}, status_code=409)


async def _domain_error(request: Request, exc: GeoServiceError) -> JSONResponse:
    body = {"detail": str(exc)}
    report = getattr(exc, "report", None)
    if report is not None:
        body["report"] = json.loads(json.dumps(report.as_dict(), default=str))
    return JSONResponse(body, status_code=http_status(exc))


def _view(district, kind, year, quarter, as_of=None) -> maps_data.View:
    district = district or get_settings().default_district
    return maps_data.View(district=district, kind=kind, year=year, quarter=quarter, as_of=as_of)


def maps_router() -> APIRouter:
    """Leaders' map pages, their live data, change polling and vector tiles."""
    router = APIRouter(tags=["maps"])
    kind_query = Annotated[str, Query(pattern=KIND_PATTERN)]
    quarter_query = Annotated[int | None, Query(ge=1, le=4)]

    @router.get("/maps/progress", response_class=HTMLResponse)
    def progress_map(
        session: SessionDep,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
        quarter: quarter_query = None,
    ):
        view = _view(district, kind, year, quarter)
        return HTMLResponse(maps_pages.progress_page(session, view))

    @router.get("/maps/progress/data.json")
    def progress_data(
        session: SessionDep,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
        quarter: quarter_query = None,
    ):
        view = _view(district, kind, year, quarter)
        return JSONResponse(json.loads(maps_data.dumps(maps_pages.progress_data(session, view))))

    @router.get("/maps/support", response_class=HTMLResponse)
    def support_map(
        session: SessionDep,
        district: str | None = None,
        kind: kind_query = "land",
        year: int | None = None,
    ):
        view = _view(district, kind, year, None)
        return HTMLResponse(maps_pages.support_page(session, view))

    @router.get("/api/changes")
    def changes(session: SessionDep):
        """A token that changes whenever any parcel changes: cheap to poll."""
        return {"token": maps_data.change_token(session)}

    @router.get("/tiles/{z}/{x}/{y}.pbf")
    def parcel_tile(
        session: SessionDep,
        z: int,
        x: int,
        y: int,
        district: str | None = None,
        kind: kind_query = "land",
        as_of: date | None = None,
    ):
        body = maps_tiles.parcel_tile(
            session, z, x, y, district or get_settings().default_district, kind, as_of
        )
        return Response(body, media_type="application/vnd.mapbox-vector-tile")

    return router


def create_app() -> FastAPI:
    app = FastAPI(
        title="geo_service",
        version=__version__,
        description="Verified land-delivery (交地) and demolition (拆迁) areas, on PostGIS.",
    )
    app.add_exception_handler(GeoServiceError, _domain_error)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_middleware(UploadSizeLimit)
    for router in (
        health_router(),
        tallies_router(),
        parcels_router(),
        uploads_router(),
        workflow_router(),
        support_router(),
        maps_router(),
    ):
        app.include_router(router)
    app.mount("/maps/static", StaticFiles(directory=maps_pages.STATIC_DIR), name="maps-static")
    # Leaflet & co. from npm (geo_service/maps/vendor/node_modules): no CDN, cached long.
    from .maps import assets

    app.mount(assets.STATIC_PREFIX, assets.static_app(), name="vendor")

    @app.get("/", include_in_schema=False)
    def index():
        return {
            "service": "geo_service",
            "progress_map": "/maps/progress",
            "support_map": "/maps/support",
            "docs": "/docs",
            "tallies": "/api/tallies?by=township",
            "parcels": "/api/parcels",
            "kinds": list(KINDS),
        }

    return app
