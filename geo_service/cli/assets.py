"""`geo-service assets`: the map pages' browser assets (Leaflet & co.)."""

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import _fail, group
from geo_service.errors import GeoServiceError
from geo_service.maps import assets

assets_app = group("assets", N_("The map pages' browser assets."))


@assets_app.command("install")
def assets_install() -> None:
    """Fetch Leaflet and Leaflet.VectorGrid (versions pinned by package-lock.json) from the
    npm registry into the package, for an install whose wheel was built without them.

    Example: geo-service assets install
    """
    try:
        typer.echo(assets.install())
    except GeoServiceError as exc:
        _fail(exc)


@assets_app.command("check")
def assets_check() -> None:
    """Say whether every asset the map pages need is installed (exit 2 when not).

    Example: geo-service assets check || geo-service assets install
    """
    try:
        assets.check_installed()
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(f"map assets present under {assets.NODE_MODULES}")
