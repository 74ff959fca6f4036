"""`geo-service uploads`: the original files of accepted uploads."""

from pathlib import Path

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import acting_session, as_option, group, lazy

actions = lazy("geo_service.actions")

uploads_app = group("uploads", N_("Accepted uploads and their original files."))


@uploads_app.command("file")
def uploads_file(
    upload_id: int = typer.Argument(..., min=1, max=2**31 - 1, help=N_("the upload's id")),
    output: Path = typer.Option(..., help=N_("where to write the file")),
    as_user: str | None = as_option(),
) -> None:
    """Write the file an accepted upload was made from, exactly as it was sent (checked
    against its SHA-256 on the way out). Admins only.

    Example: geo-service uploads file 12 --output survey-12.zip
    """
    with acting_session(as_user) as (session, who):
        kept = actions.upload_file(session, who, upload_id)
    output.write_bytes(kept.content)
    typer.echo(f"{output}: {kept.name}, {len(kept.content):,} bytes, sha256 {kept.sha256}")
