"""`geo-service targets`: annual and quarterly targets."""

from pathlib import Path

import typer

from .. import actions
from ..database import session_scope
from ..errors import GeoServiceError
from .common import Kind, _fail, acting, app, as_option, fail_acting

targets_app = typer.Typer(help="Targets per district or township.", no_args_is_help=True)
app.add_typer(targets_app, name="targets")


@targets_app.command("set")
def targets_set(
    district: str = typer.Option(
        ..., help="district name, e.g. 晋安区, or the city (福州市) for a city-wide target"
    ),
    township: str | None = typer.Option(None, help="township name; omit for the district"),
    kind: Kind = typer.Option(...),
    year: int = typer.Option(...),
    quarter: int | None = typer.Option(None, min=1, max=4, help="1-4; omit for the year"),
    mu: float | None = typer.Option(None, help="amount in mu"),
    m2: float | None = typer.Option(None, help="amount in m²"),
    as_user: str | None = as_option(),
) -> None:
    """Set (or replace) a target.

    Examples:

      geo-service targets set --district 晋安区 --kind land --year 2017 --mu 9000

      geo-service targets set --district 晋安区 --township 新店镇 --kind demolition
      --year 2017 --m2 400000
    """
    if (mu is None) == (m2 is None):
        _fail(GeoServiceError("give exactly one of --mu and --m2"))
    try:
        with session_scope() as session:
            actions.set_target(
                session,
                acting(session, as_user),
                district=district,
                township=township,
                kind=kind.value,
                year=year,
                quarter=quarter,
                amount=mu if mu is not None else m2,
                unit="mu" if mu is not None else "m2",
            )
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    where = f"{district}/{township}" if township else district
    amount = f"{mu} mu" if mu is not None else f"{m2} m²"
    typer.echo(
        f"target set: {where} {kind.value} {year}{f' Q{quarter}' if quarter else ''}: {amount}"
    )


@targets_app.command("import")
def targets_import(path: Path, as_user: str | None = as_option()) -> None:
    """Set targets from a CSV: district,township,kind,year,quarter,amount,unit (mu|m2).

    Example: geo-service targets import data/parcels/demo_targets.csv
    """
    try:
        with session_scope() as session:
            count = actions.import_targets(session, acting(session, as_user), path)
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    typer.echo(f"{count} target(s) set")
