"""Liveness and database check: 503 with a public reason when the service cannot serve."""

import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from geo_service import __version__, database
from geo_service.api import schemas
from geo_service.errors import DatabaseUnavailable


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=schemas.Health)
    def healthz():
        """200 when the database answers, has PostGIS and its schema is at the current
        migration; otherwise 503 and why (naming no host, port or database). With a read
        replica, `replica` says "ok" or why it is not used (reads then go to the primary)."""
        try:
            postgis = database.check(database.get_engine())
        except DatabaseUnavailable as exc:
            body = {"status": "unavailable", "detail": str(exc), "version": __version__}
            return JSONResponse(body, status_code=503)
        # The worker's process id: with --workers N it tells which process answered.
        body = {"status": "ok", "postgis": postgis, "version": __version__, "pid": os.getpid()}
        replica = database.replica_status()
        if replica is not None:
            body["replica"] = replica  # a replica that is down leaves the service up
        return body

    return router
