"""Liveness and database check: 503 with a public reason when the service cannot serve."""

import os

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from geo_service import __version__, database
from geo_service.api import schemas
from geo_service.api.auth import AnyoneOrUser
from geo_service.errors import DatabaseUnavailable


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=schemas.Health, response_model_exclude_none=True)
    async def healthz(request: Request, who: AnyoneOrUser):
        """200 when the database answers, has PostGIS and its schema is at the current
        migration; otherwise 503 and why (naming no host, port or database). Anonymous
        callers (load balancers, monitoring) learn only that; a signed-in user also gets
        the version, the PostGIS version, the worker's pid and, with a read replica,
        `replica`: "ok" or why it is not used (reads then go to the primary)."""
        try:
            postgis = await _on_own_threads(request, database.check, database.get_engine())
        except DatabaseUnavailable as exc:
            body = {"status": "unavailable", "detail": str(exc)}
            if who is not None:
                body["version"] = __version__
            return JSONResponse(body, status_code=503)
        if who is None:
            return {"status": "ok"}
        # The worker's process id: with --workers N it tells which process answered.
        body = {"status": "ok", "postgis": postgis, "version": __version__, "pid": os.getpid()}
        replica = await _on_own_threads(request, database.replica_status)
        if replica is not None:
            body["replica"] = replica  # a replica that is down leaves the service up
        return body

    return router


# Threads of its own: a flood of sign-ins (or any other requests) that holds every thread
# of the shared pool, each waiting on a row lock or the database, does not queue the health
# check behind it; load balancers would take a busy worker for a dead one.
HEALTH_THREADS = 2


async def _on_own_threads(request: Request, call, *args):
    state = request.app.state
    if getattr(state, "health_threads", None) is None:  # made in the app's own event loop
        state.health_threads = anyio.CapacityLimiter(HEALTH_THREADS)
    return await anyio.to_thread.run_sync(call, *args, limiter=state.health_threads)
