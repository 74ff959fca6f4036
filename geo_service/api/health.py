"""Liveness and database check: 503 with a public reason when the service cannot serve."""

import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from geo_service import __version__, database
from geo_service.api import schemas
from geo_service.api.auth import AnyoneOrUser
from geo_service.errors import DatabaseUnavailable


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=schemas.Health, response_model_exclude_none=True)
    def healthz(who: AnyoneOrUser):
        """200 when the database answers, has PostGIS and its schema is at the current
        migration; otherwise 503 and why (naming no host, port or database). Anonymous
        callers (load balancers, monitoring) learn only that; a signed-in user also gets
        the version, the PostGIS version, the worker's pid and, with a read replica,
        `replica`: "ok" or why it is not used (reads then go to the primary)."""
        try:
            postgis = database.check(database.get_engine())
        except DatabaseUnavailable as exc:
            body = {"status": "unavailable", "detail": str(exc)}
            if who is not None:
                body["version"] = __version__
            return JSONResponse(body, status_code=503)
        if who is None:
            return {"status": "ok"}
        # The worker's process id: with --workers N it tells which process answered.
        body = {"status": "ok", "postgis": postgis, "version": __version__, "pid": os.getpid()}
        replica = database.replica_status()
        if replica is not None:
            body["replica"] = replica  # a replica that is down leaves the service up
        return body

    return router
