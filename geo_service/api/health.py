"""Liveness and database check."""

from fastapi import APIRouter

from .. import __version__, database
from . import schemas


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=schemas.Health)
    def healthz():
        postgis = database.check(database.get_engine())
        return {"status": "ok", "postgis": postgis, "version": __version__}

    return router
