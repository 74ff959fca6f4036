"""The FastAPI application: routers assembled, errors mapped, static assets mounted."""

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError

from .. import __version__
from ..errors import GeoServiceError
from ..maps import assets
from ..maps import pages as maps_pages
from ..web import home as web_home
from ..web import login as web_login
from ..web import parcel_list as web_parcel_list
from ..web import parcels as web_parcels
from ..web import templates as web_templates
from . import audit, auth, handlers, health, maps, parcels, tallies, uploads, workflow


def docs_router(app: FastAPI) -> APIRouter:
    """The API docs, for signed-in users only (like every page but the public one)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger(who: auth.PageUser):
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API")

    @router.get("/redoc")
    def redoc(who: auth.PageUser):
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} API")

    return router


def create_app() -> FastAPI:
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="geo_service",
        version=__version__,
        description="Verified land-delivery (交地) and demolition (拆迁) areas, on PostGIS.",
    )
    app.add_exception_handler(GeoServiceError, handlers.domain_error)
    app.add_exception_handler(IntegrityError, handlers.conflict)
    app.add_exception_handler(auth.SignInRequired, auth.sign_in_redirect)
    app.add_middleware(uploads.UploadSizeLimit)
    for router in (
        health.health_router(),
        auth.auth_router(),
        audit.audit_router(),
        web_login.login_router(),
        web_home.home_router(),
        web_parcel_list.parcel_list_router(),
        web_parcels.parcels_pages_router(),
        docs_router(app),
        tallies.tallies_router(),
        parcels.parcels_router(),
        uploads.uploads_router(),
        workflow.workflow_router(),
        tallies.support_router(),
        maps.maps_router(),
    ):
        app.include_router(router)
    app.mount(
        web_templates.STATIC_PREFIX,
        StaticFiles(directory=web_templates.STATIC_DIR),
        name="web-static",
    )
    app.mount("/maps/static", StaticFiles(directory=maps_pages.STATIC_DIR), name="maps-static")
    # Leaflet & co. from npm (geo_service/maps/vendor/node_modules): no CDN, cached long.
    app.mount(assets.STATIC_PREFIX, assets.static_app(), name="vendor")

    return app
