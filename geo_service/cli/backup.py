"""`geo-service backup` and `geo-service restore`: the whole database, pg_dump format."""

from pathlib import Path

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import _fail, app, get_settings, lazy
from geo_service.errors import GeoServiceError

backups = lazy("geo_service.backup")


@app.command("backup")
def backup_command(
    output: Path = typer.Option(..., help=N_("the backup file to write (pg_dump custom format)")),
) -> None:
    """Back up the whole database of DATABASE_URL: parcels and their history, uploads and
    their kept files, the parcels' photos (the summary counts them and their bytes),
    targets, projects, reference units. Needs pg_dump of the server's
    major version (Debian: postgresql-client-15).

    Example: geo-service backup --output /var/backups/geo_service/$(date +%F).dump
    """
    try:
        info = backups.backup(get_settings().database_url, output)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(info.summary())


@app.command("restore")
def restore_command(
    path: Path = typer.Argument(..., help=N_("a backup made by geo-service backup")),
    replace: bool = typer.Option(
        False, "--replace", help=N_("drop the database of DATABASE_URL first if it holds data")
    ),
) -> None:
    """Restore a backup into the database of DATABASE_URL (created when missing). A backup
    from a newer geo_service is refused; an older one is migrated after the restore.

    Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/geo_service_restored \\
    geo-service restore /var/backups/geo_service/2017-06-30.dump
    """
    try:
        done = backups.restore(get_settings().database_url, path, replace=replace)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(done)
