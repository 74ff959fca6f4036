"""`geo-service map`: self-contained map files for briefings."""

from enum import StrEnum
from pathlib import Path

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import Kind, _fail, _year, app, get_settings, session_scope
from geo_service.errors import GeoServiceError


class MapName(StrEnum):
    progress = "progress"
    support = "support"
    relocation = "relocation"


@app.command("map")
def map_command(
    name: MapName = typer.Argument(..., help=N_("progress, support or relocation (回迁)")),
    output: Path = typer.Option(..., help=N_("the HTML file to write, e.g. maps/progress.html")),
    district: str | None = typer.Option(None, help=N_("district (default: the configured one)")),
    kind: Kind = typer.Option(Kind.land),
    year: int | None = typer.Option(
        None, callback=_year, help=N_("the campaign year (default: configured)")
    ),
    quarter: str | None = typer.Option(
        None,
        help=N_(
            "as at the end of the campaign's first quarter of that number (1-4), or of a "
            "calendar quarter written as a period (2017Q2; the campaign holding it when none "
            "is named)"
        ),
    ),
    campaign: str | None = typer.Option(
        None,
        help=N_("the campaign (default: the one a --year names, else the one under way today)"),
    ),
) -> None:
    """Write a self-contained map (every script, style and datum inside) for briefings:
    it opens from a USB stick on a laptop with no network.

    Examples:

      geo-service map progress --district 晋安区 --kind land --output maps/progress.html

      geo-service map support --output maps/support.html

      geo-service map relocation --district 晋安区 --output maps/relocation.html
    """
    from geo_service.maps import data as maps_data
    from geo_service.maps import pages as maps_pages
    from geo_service.maps import relocation as relocation_map
    from geo_service.periods import parse_quarter

    try:
        with session_scope() as session:
            asked = parse_quarter(quarter, "--quarter")
            chosen, number, day = maps_data.campaign_and_quarter(session, campaign, year, asked)
            view = maps_data.View(
                district=district or get_settings().default_district,
                kind=kind.value,
                year=chosen.year,
                quarter=number,
                as_of=day,
                campaign=chosen,
            )
            if name is MapName.relocation:
                html = relocation_map.relocation_page(
                    session, view.district, static=True, campaign=chosen
                )
            else:
                pages = {"progress": maps_pages.progress_page, "support": maps_pages.support_page}
                html = pages[name.value](session, view, static=True)
    except GeoServiceError as exc:
        _fail(exc)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    typer.echo(f"{output}: {len(html.encode('utf-8')) / 1e6:.2f} MB, self-contained")
