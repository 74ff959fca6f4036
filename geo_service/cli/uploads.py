"""`geo-service uploads`: the original files of accepted uploads."""

from pathlib import Path

import typer

from geo_service.cli.common import acting, app, as_option, fail_acting, lazy, session_scope
from geo_service.errors import GeoServiceError

actions = lazy("geo_service.actions")

uploads_app = typer.Typer(help="Accepted uploads and their original files.", no_args_is_help=True)
app.add_typer(uploads_app, name="uploads")


@uploads_app.command("file")
def uploads_file(
    upload_id: int = typer.Argument(..., min=1, max=2**31 - 1, help="the upload's id"),
    output: Path = typer.Option(..., help="where to write the file"),
    as_user: str | None = as_option(),
) -> None:
    """Write the file an accepted upload was made from, exactly as it was sent (checked
    against its SHA-256 on the way out). Admins only.

    Example: geo-service uploads file 12 --output survey-12.zip
    """
    try:
        with session_scope() as session:
            kept = actions.upload_file(session, acting(session, as_user), upload_id)
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    output.write_bytes(kept.content)
    typer.echo(f"{output}: {kept.name}, {len(kept.content):,} bytes, sha256 {kept.sha256}")
