"""Domain errors and write conflicts as HTTP responses."""

import json

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from ..errors import GeoServiceError, http_status


async def conflict(request: Request, exc: IntegrityError) -> JSONResponse:
    # Two writers changed the same parcel at once: nothing was stored, trying again is safe.
    detail = "the data changed while this request was being stored; nothing was written: retry"
    return JSONResponse({"detail": detail}, status_code=409)


async def domain_error(request: Request, exc: GeoServiceError) -> JSONResponse:
    body = {"detail": str(exc)}
    report = getattr(exc, "report", None)
    if report is not None:
        body["report"] = json.loads(json.dumps(report.as_dict(), default=str))
    return JSONResponse(body, status_code=http_status(exc))
