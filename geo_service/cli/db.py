"""`geo-service db`: schema, PostGIS and reference data."""

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import _fail, get_settings, group, lazy, session_scope
from geo_service.errors import GeoServiceError

accounts = lazy("geo_service.accounts.users")
database = lazy("geo_service.database")
reference = lazy("geo_service.reference")
roles = lazy("geo_service.app_role")

db_app = group("db", N_("Database schema and reference data."))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database and PostGIS if missing, apply migrations, load reference data.

    Safe to run again: nothing already there is changed. When there is no user yet, it
    creates the user `admin` with the password in GEO_SERVICE_ADMIN_PASSWORD, or a
    generated one printed once (change it with `geo-service users reset-password admin`).

    Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/geo_service geo-service db upgrade
    """
    try:
        database.migrate()
        with session_scope() as session:
            added = reference.load_reference(session)
            admin = accounts.ensure_first_admin(session, get_settings().admin_password)
        role_name = get_settings().app_role
        role = roles.ensure_app_role(database.get_engine(), role_name) if role_name else None
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(
        f"database up to date; reference data: {added['units']} unit(s), "
        f"{added['targets']} target(s) added"
    )
    if admin and not get_settings().admin_password:
        typer.echo(f"first admin created: user {admin[0]!r}, password {admin[1]} (shown once)")
    elif admin:
        typer.echo(f"first admin created: user {admin[0]!r}, password from the environment")
    if role is not None:
        _say_role(role)


@db_app.command("app-role")
def db_app_role(
    name: str = typer.Option("geo_service_app", help=N_("the service's login role")),
    new_password: bool = typer.Option(
        False, "--new-password", help=N_("give the role a new generated password")
    ),
) -> None:
    """Create the service's own login role (run as the database owner, after `db upgrade`)
    and grant it what the service needs and no more: history (versions, milestone records,
    uploads and their files, the audit log) can be added to, never changed or deleted;
    parcels are withdrawn, never deleted.
    Prints the DATABASE_URL for the service (with the password when one was set now).

    Example: geo-service db app-role --name geo_service_app
    """
    try:
        role = roles.ensure_app_role(database.get_engine(), name, new_password=new_password)
    except GeoServiceError as exc:
        _fail(exc)
    _say_role(role)


def _say_role(role) -> None:
    state = "created" if role.created else "granted again"
    typer.echo(f"role {role.name} {state}; run the service with")
    typer.echo(f"DATABASE_URL={role.url}")
