"""The upload page: send a file, see the dry run's report on a map, then store it.

Every check and every write is `actions.upload`, the use case the API and the CLI call:
who may upload what where, the rules, all-or-nothing or only the valid features. The page
keeps the file between the dry run and the store (pending.py) and shows reports; a past
upload's report is the one its record kept.
"""

import csv
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated
from urllib.parse import quote

import geopandas as gpd
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from shapely.geometry import shape
from sqlalchemy import select

from geo_service import actions, scratch
from geo_service.accounts import permissions
from geo_service.api.auth import PageUser
from geo_service.api.deps import SessionDep
from geo_service.api.uploads import _safe_name, _save_limited
from geo_service.areas import m2_to_mu
from geo_service.errors import Forbidden, GeoServiceError, InvalidInput, UploadRefused, http_status
from geo_service.interop import rfc7946
from geo_service.models import KINDS, VERIFICATION_GROUPS, AdminUnit, Project
from geo_service.parcels import reports
from geo_service.parcels.uploads import (
    IMPORT_STATUSES,
    statuses_allowed,
    upload_options,
    upload_record,
    upload_records,
)
from geo_service.problems import Problem
from geo_service.web import pending
from geo_service.web.i18n import N_, gettext_for
from geo_service.web.login import render
from geo_service.web.parcels import _GLOBALS, map_assets
from geo_service.web.problems import error_words, problem_detail, rule_label

ROLES_WHO_UPLOAD = ("verifier", "officer")
# An admin uploads only to migrate parcels from another system (migration mode).
ROLES_WHO_MIGRATE = ("admin",)
# Two verified parcels overlapping are the verification groups' to accept, with a reason.
ROLES_WHO_KEEP_OVERLAPS = ("verifier",)


def _form_choices(session, who) -> dict:
    """What the form offers, from the user's scope: their townships, the kinds their
    group verifies, the projects of those townships."""
    townships = []
    migrating = who.role in ROLES_WHO_MIGRATE
    if who.township_ids or migrating:
        query = select(AdminUnit.name).where(AdminUnit.level == "township")
        if who.township_ids:
            query = query.where(AdminUnit.id.in_(who.township_ids))
        elif who.district_ids is not None:
            query = query.where(AdminUnit.parent_id.in_(who.district_ids))
        townships = session.scalars(query.order_by(AdminUnit.code)).all()
    projects = []
    if who.township_ids:
        projects = session.execute(
            select(Project.code, Project.name)
            .where(Project.townships.any(AdminUnit.id.in_(who.township_ids)))
            .order_by(Project.code)
        ).all()
    kinds = sorted(who.kinds, key=KINDS.index) if who.role == "verifier" else list(KINDS)
    statuses = [s for s in IMPORT_STATUSES if s != "verified" or who.role == "verifier"]
    if migrating:
        projects = session.execute(select(Project.code, Project.name).order_by(Project.code)).all()
        statuses = list(statuses_allowed(migration=True))
    return {
        "townships": townships,
        "projects": projects,
        "kinds": kinds,
        "statuses": statuses,
        "may_upload": (who.role in ROLES_WHO_UPLOAD or migrating) and bool(townships),
        "migrating": migrating,
    }


def _reading(crs, layer, columns) -> dict:
    """How to read the file, as the form gave it: CRS, layer (a drawing's parcel layers, a
    workbook's sheet) and a point table's columns."""
    return {"crs": (crs or "").strip(), "layer": (layer or "").strip(),
            "columns": (columns or "").strip()}  # fmt: skip


def _reading_options(chosen: dict) -> dict:
    # a file checked before these fields existed has none
    return {key: chosen.get(key) or None for key in ("crs", "layer", "columns")}


def _form_page(request, session, who, status_code=200, error=None, chosen=None):
    rows = upload_records(session, who.township_ids or None, who.district_ids)
    return render(
        request,
        "uploads.html",
        status_code,
        user=who,
        error=error,
        chosen=chosen or {},
        past=rows,
        groups=VERIFICATION_GROUPS,
        **_form_choices(session, who),
        **_GLOBALS,
    )


def _report_view(report: dict, _=str) -> dict:
    """The report as the template and the map need it: problems with their rule and
    detail in the page's language, the shapes as a FeatureCollection (problem features
    marked)."""
    problems = []
    for n, p in enumerate(report.get("problems", []), start=1):
        detail, ours = problem_detail(p, _)
        problems.append({**p, "n": n, "label": rule_label(p["rule"], _), "detail": detail,
                         "detail_is_ours": ours})  # fmt: skip
    bad = {p["feature"] for p in problems if p.get("feature")}
    as_read = set(report.get("as_read") or [])
    features = [
        {
            "type": "Feature",
            # Reports kept before RFC 7946 output was enforced carry the file's winding;
            # a shape refused as invalid is drawn as read (rewinding would change it).
            "geometry": geometry if int(number) in as_read else rfc7946(geometry),
            "properties": {"feature": int(number), "problem": int(number) in bad,
                           "as_read": int(number) in as_read},
        }
        for number, geometry in report.get("shapes", {}).items()
    ]  # fmt: skip
    points = [
        {
            "n": p["n"],
            "feature": p.get("feature"),
            "location": p.get("location"),
            "label": p["label"],
            "severity": p["severity"],
            "code": p.get("code"),
        }
        for p in problems
    ]
    errors = sum(1 for p in problems if p["severity"] == "error")
    return {
        **report,
        "problems": problems,
        "errors": errors,
        "warnings": len(problems) - errors,
        "area_mu": m2_to_mu(report.get("area_m2") or 0),
        "warnings_only": not errors and len(problems) > 0,
        # Errors that keeping the overlaps (with a reason) would turn into warnings.
        "overlaps_only": errors > 0
        and all(p["rule"] == "overlap_verified" for p in problems if p["severity"] == "error"),
        "overlapped": [s["code"] for s in _around(report)["stored"] if s["overlapped"]],
        "map": {
            "shapes": {"type": "FeatureCollection", "features": features},
            "points": points,
            **_around_layers(_around(report)),
        },
    }


def _around(report: dict) -> dict:
    # Reports kept before the map showed the surroundings have none.
    around = report.get("around") or {}
    return {"township": around.get("township"), "stored": around.get("stored") or []}


def _around_layers(around: dict) -> dict:
    """The township outline and the stored parcels near the file, as GeoJSON layers."""
    stored = [
        {"type": "Feature", "geometry": s["geometry"],
         "properties": {"code": s["code"], "status": s["status"],
                        "overlapped": bool(s["overlapped"])}}
        for s in around["stored"]
    ]  # fmt: skip
    return {"township": around["township"],
            "stored": {"type": "FeatureCollection", "features": stored}}  # fmt: skip


def _report_page(request, who, report: dict, status_code=200, **context):
    return render(
        request,
        "upload_report.html",
        status_code,
        user=who,
        r=_report_view(report, gettext_for(request)),
        vendor=map_assets(),
        may_keep_overlaps=who.role in ROLES_WHO_KEEP_OVERLAPS,
        **context,
        **_GLOBALS,
    )


# The problem list's columns as a person reads them (the GeoPackage keeps the machine
# names of geo_service.parcels.reports.COLUMNS, for GIS tools).
_CSV_COLUMNS = {
    "file": N_("File"),
    "feature": N_("Feature"),
    "code": N_("Code"),
    "label": N_("Problem"),
    "rule": N_("Rule code"),
    "severity": N_("Severity"),
    "detail": N_("Detail"),
    "lon": N_("Longitude"),
    "lat": N_("Latitude"),
}


def _problems_csv(report: dict, _) -> str:
    """The problems in the reader's language: the rule's name and its detail with the
    figures, the rule code beside them for support."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_(label) for label in _CSV_COLUMNS.values()])
    for problem in report.get("problems", []):
        lon, lat = problem.get("location") or (None, None)
        severity = _("error") if problem.get("severity") == "error" else _("warning")
        row = [report.get("filename"), problem.get("feature"), problem.get("code"),
               rule_label(problem.get("rule"), _), problem.get("rule"), severity,
               problem_detail(problem, _)[0], lon, lat]  # fmt: skip
        writer.writerow([reports.spreadsheet_safe(value) for value in row])
    return buffer.getvalue()


def _problems_download(report: dict, fmt: str, _=str) -> Response:
    """The report's problems as CSV (UTF-8 with BOM, formula-safe, in the reader's
    language) or a GeoPackage (the problem features in CGCS2000 lon/lat, and a point for
    each problem)."""
    stem = Path(report.get("filename") or "upload").stem
    problems = [Problem(**p) for p in report.get("problems", [])]
    shapes = report.get("shapes", {})
    count = max([report.get("features") or 0, *(p.feature or 0 for p in problems)])
    geoms = [shape(shapes[str(i)]) if str(i) in shapes else None for i in range(1, count + 1)]
    kept = SimpleNamespace(
        filename=report.get("filename") or "upload",
        problems=problems,
        frame=gpd.GeoDataFrame(geometry=geoms, index=range(1, count + 1), crs=4490),
    )
    if fmt == "csv":
        body = "\ufeff" + _problems_csv(report, _)  # the BOM: Excel then reads UTF-8 right
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers=_attachment(f"{stem}-problems.csv"),
        )
    with scratch.folder("report") as tmp:
        path = reports.write_problems_gpkg(kept, Path(tmp) / f"{stem}-problems.gpkg")
        content = path.read_bytes()
    return Response(
        content,
        media_type="application/geopackage+sqlite3",
        headers=_attachment(f"{stem}-problems.gpkg"),
    )


def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}


def _visible_upload(session, who, upload_id: int):
    upload, township = upload_record(session, upload_id)
    if who.township_ids and township.id not in who.township_ids:
        raise Forbidden(f"{who.username} may not see uploads into {township.name}")
    permissions.check_read_district(who, township.parent)
    return upload, township


def _kept_report(upload, township) -> dict:
    report = dict(upload.report or {})
    report.setdefault("filename", upload.filename)
    report.setdefault("township", township.name)
    report.setdefault("kind", upload.kind)
    report.setdefault("parcels", upload.parcel_count)
    report.setdefault("area_m2", upload.area_m2)
    report.setdefault("source_crs", upload.source_crs)
    report.setdefault("encoding", upload.encoding)
    report.setdefault("accepted", True)
    return report


def uploads_pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/uploads", response_class=HTMLResponse)
    def uploads_page(request: Request, session: SessionDep, who: PageUser):
        return _form_page(request, session, who)

    @router.post("/uploads/check")
    def check(
        request: Request,
        session: SessionDep,
        who: PageUser,
        file: Annotated[UploadFile, File()],
        kind: Annotated[str, Form(max_length=16)],
        township: Annotated[str, Form(max_length=64)],
        project: Annotated[str | None, Form(max_length=64)] = None,
        status: Annotated[str | None, Form(max_length=16)] = None,
        crs: Annotated[str | None, Form(max_length=64)] = None,
        layer: Annotated[str | None, Form(max_length=200)] = None,
        columns: Annotated[str | None, Form(max_length=200)] = None,
        override_reason: Annotated[str | None, Form(max_length=2000)] = None,
        migration: Annotated[bool, Form()] = False,
    ):
        """The dry run: the file is kept for the store, the report shown on its own page."""
        chosen = {"kind": kind, "township": township, "project": project or "",
                  "status": status or "", "migration": migration,
                  "override_reason": (override_reason or "").strip(),
                  **_reading(crs, layer, columns)}  # fmt: skip
        name = _safe_name(file.filename)
        waiting = pending.new(who.username, name)
        try:
            options = upload_options(
                kind, township, project, status, dry_run=True,
                filename=name, override_reason=chosen["override_reason"], migration=migration,
                **_reading_options(chosen),
            )  # fmt: skip
            _save_limited(file, waiting.path)
            try:
                report = actions.upload(session, who, waiting.path, options)
            except UploadRefused as exc:
                if exc.report is None:
                    raise
                report = exc.report
        except GeoServiceError as exc:
            session.rollback()
            waiting.discard()
            return _form_page(
                request,
                session,
                who,
                http_status(exc),
                error=error_words(exc, request),
                chosen=chosen,
            )
        finally:
            session.rollback()  # a dry run writes nothing; what it read is let go
        waiting.meta.update(chosen=chosen, report=report.as_kept())
        waiting.save()
        return RedirectResponse(f"/uploads/pending/{waiting.token}", status_code=303)

    @router.get("/uploads/pending/{token}", response_class=HTMLResponse)
    def pending_report(token: str, request: Request, session: SessionDep, who: PageUser):
        try:
            waiting = pending.find(token, who.username)
        except GeoServiceError as exc:
            return _form_page(
                request, session, who, http_status(exc), error=error_words(exc, request)
            )
        return _report_page(
            request, who, waiting.meta["report"], token=token, chosen=waiting.meta["chosen"],
            downloads=f"/uploads/pending/{token}/problems",
        )  # fmt: skip

    @router.get("/uploads/pending/{token}/problems.{fmt}")
    def pending_download(token: str, fmt: str, request: Request, who: PageUser):
        waiting = pending.find(token, who.username)
        if fmt not in ("csv", "gpkg"):
            raise InvalidInput("the problems download as csv or gpkg")
        return _problems_download(waiting.meta["report"], fmt, gettext_for(request))

    @router.post("/uploads/store")
    def store(
        request: Request,
        session: SessionDep,
        who: PageUser,
        token: Annotated[str, Form(max_length=64)],
        mode: Annotated[str, Form(pattern="^(all|valid|overlaps)$")] = "all",
        reason: Annotated[str | None, Form(max_length=2000)] = None,
    ):
        """Store the checked file: all or nothing; or, with a reason on record, only its
        valid features, or keeping its overlaps between verified parcels."""
        try:
            waiting = pending.find(token, who.username)
        except GeoServiceError as exc:
            return _form_page(
                request, session, who, http_status(exc), error=error_words(exc, request)
            )
        chosen = waiting.meta["chosen"]
        reason = (reason or "").strip() or None
        try:
            if mode == "overlaps" and who.role not in ROLES_WHO_KEEP_OVERLAPS:
                raise Forbidden(
                    f"{who.username} may not keep overlaps between verified parcels",
                    rule="role", params={"user": who.username},
                )  # fmt: skip
            options = upload_options(
                chosen["kind"], chosen["township"], chosen["project"], chosen["status"],
                # Overlaps between verified parcels are kept only from the report's
                # button, never a box ticked before the check; keeping them or storing only
                # the valid part takes a reason, as upload_options asks on every path.
                accept_overlaps=mode == "overlaps",
                accept_valid=mode == "valid", filename=waiting.meta["filename"],
                override_reason=chosen.get("override_reason"), store_reason=reason,
                migration=chosen.get("migration", False), **_reading_options(chosen),
            )  # fmt: skip
            report = actions.upload(session, who, waiting.path, options)
            session.commit()
        except GeoServiceError as exc:
            session.rollback()
            report = getattr(exc, "report", None)
            shown = report.as_kept() if report is not None else waiting.meta["report"]
            return _report_page(
                request, who, shown, http_status(exc), token=token, chosen=chosen,
                downloads=f"/uploads/pending/{token}/problems", error=error_words(exc, request),
            )  # fmt: skip
        waiting.discard()
        return RedirectResponse(f"/uploads/{report.upload_id}?stored=1", status_code=303)

    @router.get("/uploads/{upload_id}", response_class=HTMLResponse)
    def past_report(upload_id: int, request: Request, session: SessionDep, who: PageUser):
        try:
            upload, township = _visible_upload(session, who, upload_id)
        except GeoServiceError as exc:
            return render(request, "error.html", http_status(exc), user=who,
                          message=error_words(exc, request))  # fmt: skip
        return _report_page(
            request, who, _kept_report(upload, township), upload=upload,
            stored=request.query_params.get("stored") == "1",
            downloads=f"/uploads/{upload.id}/problems",
        )  # fmt: skip

    @router.get("/uploads/{upload_id}/problems.{fmt}")
    def past_download(
        upload_id: int, fmt: str, request: Request, session: SessionDep, who: PageUser
    ):
        if fmt not in ("csv", "gpkg"):
            raise InvalidInput("the problems download as csv or gpkg")
        upload, township = _visible_upload(session, who, upload_id)
        return _problems_download(_kept_report(upload, township), fmt, gettext_for(request))

    return router
