"""`geo-service db`: schema, PostGIS and reference data."""

import typer

from .. import database, reference
from ..database import session_scope
from ..errors import GeoServiceError
from .common import _fail, app

db_app = typer.Typer(help="Database schema and reference data.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database and PostGIS if missing, apply migrations, load reference data.

    Safe to run again: nothing already there is changed.

    Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/geo_service geo-service db upgrade
    """
    try:
        database.migrate()
        with session_scope() as session:
            added = reference.load_reference(session)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(
        f"database up to date; reference data: {added['units']} unit(s), "
        f"{added['targets']} target(s) added"
    )
