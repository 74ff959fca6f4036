"""The API docs (/docs: Swagger UI, /redoc: ReDoc), for signed-in users, from the service's
own npm-installed assets: FastAPI's defaults load them from a CDN, blank pages on an
intranet."""

from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)

from geo_service.api.auth import PageUser
from geo_service.maps import assets

_OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _url(name: str) -> str:
    asset = next(a for a in assets.DOCS_ASSETS if a.name == name)
    return assets.url(asset)


def docs_router(title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger_ui(who: PageUser):
        assets.check_installed(assets.DOCS_ASSETS)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} – API",
            swagger_js_url=_url("swagger_js"),
            swagger_css_url=_url("swagger_css"),
            swagger_favicon_url=_url("swagger_favicon"),
            oauth2_redirect_url=_OAUTH2_REDIRECT,
            # No badge from validator.swagger.io: nothing leaves the intranet.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get(_OAUTH2_REDIRECT)
    def swagger_ui_redirect():
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    def redoc(who: PageUser):
        assets.check_installed(assets.DOCS_ASSETS)
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} – API",
            redoc_js_url=_url("redoc_js"),
            redoc_favicon_url=_url("swagger_favicon"),
            with_google_fonts=False,
        )

    return router
