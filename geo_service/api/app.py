"""The FastAPI application: routers assembled, errors mapped, static assets mounted."""

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError

from .. import __version__
from ..errors import GeoServiceError
from ..maps import assets
from ..maps import pages as maps_pages
from ..models import KINDS
from . import handlers, health, maps, parcels, tallies, uploads, workflow


def create_app() -> FastAPI:
    app = FastAPI(
        title="geo_service",
        version=__version__,
        description="Verified land-delivery (交地) and demolition (拆迁) areas, on PostGIS.",
    )
    app.add_exception_handler(GeoServiceError, handlers.domain_error)
    app.add_exception_handler(IntegrityError, handlers.conflict)
    app.add_middleware(uploads.UploadSizeLimit)
    # JSON and tiles over 1 KB go compressed to clients that accept it; level 5 costs far
    # less CPU than the default 9 for nearly the same size on GeoJSON.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)
    for router in (
        health.health_router(),
        tallies.tallies_router(),
        parcels.parcels_router(),
        uploads.uploads_router(),
        workflow.workflow_router(),
        tallies.support_router(),
        maps.maps_router(),
    ):
        app.include_router(router)
    app.mount("/maps/static", StaticFiles(directory=maps_pages.STATIC_DIR), name="maps-static")
    # Leaflet & co. from npm (geo_service/maps/vendor/node_modules): no CDN, cached long.
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
