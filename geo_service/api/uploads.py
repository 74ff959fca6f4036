"""Uploads of parcel files: checked whole, stored all or nothing, reported."""

import hashlib
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi import Path as Path_
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from geo_service import actions, scratch
from geo_service.api import handlers, once, schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import KIND_PATTERN, SessionDep
from geo_service.errors import TooLarge, UploadRefused
from geo_service.parcels import reports
from geo_service.parcels.uploads import upload_options
from geo_service.settings import get_settings
from geo_service.web.problems import with_words

# What a repeated upload (one Idempotency-Key) must ask again, beside the same file.
_ASKED = ("filename", "kind", "township", "project", "status", "crs", "encoding", "layer",
          "columns", "dry_run", "accept_valid", "accept_overlaps", "override_reason",
          "store_reason", "migration")  # fmt: skip


def uploads_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["uploads"])

    @router.post(
        "/uploads",
        status_code=201,
        response_model=schemas.UploadReport,
        responses={
            200: {"model": schemas.UploadReport, "description": "a dry run: checked, not stored"},
            413: {"model": schemas.ErrorBody, "description": "larger than the upload limit"},
            422: {
                "model": schemas.ErrorBody,
                "description": "refused: `report` has every problem; or `accept_overlaps` or "
                "`accept_valid` without a `store_reason` (rule overlaps_reason, valid_reason; "
                "`said` in the language of Accept-Language)",
            },
        },
    )
    def post_upload(
        request: Request,
        session: SessionDep,
        who: SignedIn,
        file: Annotated[
            UploadFile, File(description="zip, gpkg, geojson, kml/kmz, txt, dxf, xlsx, csv, dat")
        ],
        kind: Annotated[str, Form(pattern=KIND_PATTERN)],
        township: Annotated[str, Form()],
        project: Annotated[str | None, Form()] = None,
        status: Annotated[str | None, Form()] = None,
        crs: Annotated[str | None, Form()] = None,
        encoding: Annotated[str | None, Form()] = None,
        layer: Annotated[
            str | None, Form(description="layer; a CASS drawing's parcel layers; a sheet")
        ] = None,
        columns: Annotated[
            str | None,
            Form(description="a point table's columns, e.g. code=宗地代码,x=北坐标,y=东坐标"),
        ] = None,
        override_reason: Annotated[
            str | None,
            Form(
                max_length=2000,
                description="store parcels lying mostly outside the township anyway, with "
                "this reason on record (a verifier of the kind)",
            ),
        ] = None,
        dry_run: Annotated[bool, Form()] = False,
        accept_valid: Annotated[
            bool,
            Form(
                description="store the valid features and report the rest, instead of "
                "refusing the whole file: takes `store_reason`"
            ),
        ] = False,
        accept_overlaps: Annotated[
            bool,
            Form(
                description="keep overlaps between verified parcels (both flagged, counted "
                "once): takes `store_reason`"
            ),
        ] = False,
        store_reason: Annotated[
            str | None,
            Form(
                max_length=2000,
                description="why overlaps are kept (needed with `accept_overlaps`) or only the "
                "valid features stored (needed with `accept_valid`); on record with the upload "
                "and in the audit",
            ),
        ] = None,
        migration: Annotated[
            bool,
            Form(
                description="an admin's migration from another system: every status and the "
                "file's sign-offs as they are (README: the fields a parcel file may carry)"
            ),
        ] = False,
        report_format: Annotated[
            str, Form(pattern="^(json|csv|gpkg)$", description="json, or the problems as csv/gpkg")
        ] = "json",
        idempotency_key: once.IdempotencyKey = None,
    ):
        name = _safe_name(file.filename)
        options = upload_options(
            kind, township, project, status, crs, encoding, layer, columns,
            override_reason=override_reason, store_reason=store_reason, dry_run=dry_run,
            accept_valid=accept_valid, accept_overlaps=accept_overlaps, filename=name,
            migration=migration,
        )  # fmt: skip
        status_code = 200 if dry_run else 201
        with scratch.folder("upload") as folder:
            path = Path(folder) / name
            _save_limited(file, path)
            asked = None
            if idempotency_key is not None and report_format == "json":
                what = {k: getattr(options, k) for k in _ASKED} | {"file": _digest(path)}
                asked = once.asked(request, who, idempotency_key, what)
                replayed = once.earlier(session, asked)
                if replayed is not None:
                    return replayed
            try:
                report = actions.upload(session, who, path, options)
            except UploadRefused as exc:
                if asked is not None:
                    return _refused_once(request, session, asked, exc)
                if report_format == "json" or exc.report is None:
                    raise
                session.rollback()
                report, status_code = exc.report, 422
            if report_format == "json":
                body = jsonable_encoder(with_words(report.as_dict(), request))
                if asked is not None and status_code == 201:  # stored: never twice
                    once.keep(session, asked, status_code, body)
                return JSONResponse(body, status_code=status_code)
            return _report_file(report, report_format, status_code, Path(folder))

    @router.get(
        "/uploads/{upload_id}/file",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": schemas.BINARY},
                         "description": "the file as it was sent"}},
    )  # fmt: skip
    def get_upload_file(
        upload_id: Annotated[int, Path_(ge=1, le=2**31 - 1)], session: SessionDep, who: SignedIn
    ):
        """The original file of an accepted upload, as sent (admins only); its SHA-256 in
        `X-Checksum-SHA256`."""
        kept = actions.upload_file(session, who, upload_id)
        headers = {**_attachment(kept.name), "X-Checksum-SHA256": kept.sha256}
        return Response(kept.content, media_type="application/octet-stream", headers=headers)

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


def _refused_once(request: Request, session, asked, exc: UploadRefused) -> JSONResponse:
    """A refused file's answer kept under its key like a stored one's: sent again, the same
    422 comes back and the file is not judged a second time (its checks may take minutes,
    and a phone must not see a refusal turn into a store it never confirmed)."""
    session.rollback()
    # The rollback let go of the key's lock: a twin sent meanwhile may have answered.
    replayed = once.earlier(session, asked)
    if replayed is not None:
        return replayed
    body = handlers.refusal_body(request, exc)
    once.keep(session, asked, 422, body)
    handlers.note_refusal(request, 422, str(exc))
    return JSONResponse(body, status_code=422)


def _digest(path: Path) -> str:
    found = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            found.update(block)
    return found.hexdigest()


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


# The API's upload and the upload page's dry run both take a whole file.
UPLOAD_PATHS = ("/api/uploads", "/uploads/check")
# A parcel's photos (the API's and the page's form): a photo and perhaps its original.
PHOTO_PATHS = re.compile(r"^(/api)?/parcels/[0-9]+/photos$")


def _limit(path: str) -> int | None:
    """The most a request to `path` may declare, or None for no limit here."""
    if path in UPLOAD_PATHS:
        return get_settings().max_upload_bytes
    if PHOTO_PATHS.match(path):
        return 2 * get_settings().photo_max_bytes
    return None


class UploadSizeLimit:
    """Refuses an upload whose declared size is over the limit before its body is read."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        limit = _limit(scope["path"]) if scope["type"] == "http" else None
        if limit is not None:
            declared = dict(scope["headers"]).get(b"content-length")
            # The multipart envelope adds a little to the file itself.
            if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
                detail = f"the upload is larger than the upload limit ({limit:,} bytes)"
                response = JSONResponse({"detail": detail}, status_code=413)
                if not scope["path"].startswith("/api/"):
                    from geo_service.api.handlers import page_error

                    response = page_error(Request(scope), 413, detail)
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
