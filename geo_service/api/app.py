"""The FastAPI application: routers assembled, errors mapped, static assets mounted."""

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from geo_service import __version__, logs, scratch
from geo_service.accounts import users as accounts
from geo_service.api import (
    audit,
    auth,
    docs,
    exports,
    field,
    handlers,
    health,
    maps,
    middleware,
    ogc,
    parcels,
    photos,
    projects,
    rankings,
    relocation,
    schemas,
    tallies,
    tilejson,
    uploads,
    users,
    workflow,
)
from geo_service.errors import GeoServiceError
from geo_service.maps import assets
from geo_service.maps import pages as maps_pages
from geo_service.settings import get_settings
from geo_service.web import board as web_board
from geo_service.web import export_page as web_export_page
from geo_service.web import field_app as web_field_app
from geo_service.web import home as web_home
from geo_service.web import leader_pages as web_leader_pages
from geo_service.web import login as web_login
from geo_service.web import parcel_list as web_parcel_list
from geo_service.web import parcels as web_parcels
from geo_service.web import register_pages as web_register_pages
from geo_service.web import templates as web_templates
from geo_service.web import uploads as web_uploads


def create_app() -> FastAPI:
    app = FastAPI(
        title="geo_service",
        version=__version__,
        description="Verified land-delivery (交地) and demolition (拆迁) areas, on PostGIS.",
        # Served from the service's own assets (api/docs.py), not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    logs.configure()
    accounts.dummy_hash()  # before the first sign-in (accounts.dummy_hash)
    scratch.sweep()  # what a killed server left in the temporary directory
    app.add_exception_handler(GeoServiceError, handlers.domain_error)
    app.add_exception_handler(IntegrityError, handlers.conflict)
    app.add_exception_handler(DataError, handlers.bad_value)
    app.add_exception_handler(StarletteHTTPException, handlers.http_error)
    app.add_exception_handler(RequestValidationError, handlers.invalid_request)
    app.add_exception_handler(DBAPIError, handlers.unexpected)
    app.add_exception_handler(auth.SignInRequired, auth.sign_in_redirect)
    app.add_middleware(uploads.UploadSizeLimit)
    origins = [o.strip() for o in get_settings().cors_origins.split(",") if o.strip()]
    if origins:  # off unless configured: the pages and the API share one origin
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"])
    trusted_proxies = get_settings().trusted_proxies
    if trusted_proxies:  # else the client is the peer, whatever X-Forwarded-For says
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies)
    # Added last is outermost: every response, errors included, gets the id and headers.
    app.add_middleware(middleware.RequestContext)
    app.add_middleware(middleware.SecurityHeaders)
    # JSON and tiles over 1 KB go compressed to clients that accept it; level 5 costs far
    # less CPU than the default 9 for nearly the same size on GeoJSON. Outermost, so the
    # security headers are worked out on the page as written (its inline scripts' hashes).
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)
    parcels_api = parcels.parcels_router()
    for router in (
        health.health_router(),
        auth.auth_router(),
        audit.audit_router(),
        users.users_router(),
        web_login.login_router(),
        docs.docs_router(app.title),
        web_home.home_router(),
        web_parcel_list.parcel_list_router(),
        web_export_page.export_page_router(),
        web_parcels.parcels_pages_router(),
        web_uploads.uploads_pages_router(),
        tallies.tallies_router(),
        parcels_api,
        uploads.uploads_router(),
        workflow.workflow_router(),
        field.field_router(),
        web_field_app.field_router(),
        photos.photos_router(),
        tallies.support_router(),
        maps.maps_router(),
        exports.exports_router(),
        ogc.ogc_router(),
        tilejson.tilejson_router(),
        relocation.relocation_router(),
        relocation.relocation_map_router(),
        projects.projects_router(),
        rankings.rankings_router(),
        web_board.board_router(),
        web_register_pages.register_pages_router(),
        web_leader_pages.leader_pages_router(),
    ):
        app.include_router(router, responses=schemas.ERRORS)
    # The API's most asked-for read is matched first: finding a path through FastAPI's 30
    # included routers cost about 0.3 ms a request, as much as the list route's own Python.
    # Only GET /api/parcels matches it, so it shadows no other route; what it does not
    # answer plainly it hands to the documented route.
    app.router.routes.insert(0, parcels.plain_list_of(parcels_api))
    # The service's own CSS/JS: pages link them by content hash (assets.own_url).
    app.mount(
        web_templates.STATIC_PREFIX,
        assets.own_static_app(web_templates.STATIC_DIR),
        name="web-static",
    )
    app.mount(
        maps_pages.STATIC_PREFIX, assets.own_static_app(maps_pages.STATIC_DIR), name="maps-static"
    )
    # Leaflet & co. from npm (geo_service/maps/vendor/node_modules): no CDN, cached long.
    app.mount(assets.STATIC_PREFIX, assets.static_app(), name="vendor")

    return app
