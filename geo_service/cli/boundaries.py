"""`geo-service boundaries`: real township outlines."""

from pathlib import Path

import typer

from geo_service.cli.common import acting, app, as_option, fail_acting, lazy, session_scope
from geo_service.errors import GeoServiceError

actions = lazy("geo_service.actions")

boundaries_app = typer.Typer(help="Administrative boundaries.", no_args_is_help=True)
app.add_typer(boundaries_app, name="boundaries")


@boundaries_app.command("import")
def boundaries_import(
    path: Path,
    district: str = typer.Option(..., help="the district whose townships the file holds"),
    name_field: str | None = typer.Option(
        None, help="column with the township names (default: name, XZQMC or 名称)"
    ),
    code_field: str | None = typer.Option(None, help="column with official township codes"),
    crs: str | None = typer.Option(None, help="override the file's CRS"),
    as_user: str | None = as_option(),
) -> None:
    """Replace the approximate township outlines with real ones, matched by name.

    Example: geo-service boundaries import jinan_townships.gpkg --district 晋安区 --code-field XZQDM
    """
    try:
        with session_scope() as session:
            counts = actions.import_boundaries(
                session, acting(session, as_user), path, district,
                name_field=name_field, code_field=code_field, crs=crs,
            )  # fmt: skip
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    typer.echo(f"townships: {counts['replaced']} replaced, {counts['added']} added")
