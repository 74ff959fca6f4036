"""Liveness and database check."""

import os

from fastapi import APIRouter

from .. import __version__, database


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    def healthz():
        postgis = database.check(database.get_engine())
        # The worker's process id: with --workers N it tells which process answered.
        return {"status": "ok", "postgis": postgis, "version": __version__, "pid": os.getpid()}

    return router
