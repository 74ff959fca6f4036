"""`geo-service boundaries`: real township outlines."""

from pathlib import Path

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import acting_session, as_option, group, lazy

actions = lazy("geo_service.actions")

boundaries_app = group("boundaries", N_("Administrative boundaries."))


@boundaries_app.command("import")
def boundaries_import(
    path: Path,
    district: str = typer.Option(..., help=N_("the district whose townships the file holds")),
    name_field: str | None = typer.Option(
        None, help=N_("column with the township names (default: name, XZQMC or 名称)")
    ),
    code_field: str | None = typer.Option(None, help=N_("column with official township codes")),
    crs: str | None = typer.Option(None, help=N_("override the file's CRS")),
    as_user: str | None = as_option(),
) -> None:
    """Replace the approximate township outlines with real ones, matched by name.

    Example: geo-service boundaries import jinan_townships.gpkg --district 晋安区 --code-field XZQDM
    """
    with acting_session(as_user) as (session, who):
        counts = actions.import_boundaries(
            session, who, path, district,
            name_field=name_field, code_field=code_field, crs=crs,
        )  # fmt: skip
    typer.echo(f"townships: {counts['replaced']} replaced, {counts['added']} added")
