"""`geo-service demo` and `geo-service serve`."""

import typer

from geo_service.cli.common import _fail, app, lazy
from geo_service.errors import GeoServiceError

demo = lazy("geo_service.demo")


@app.command("demo")
def demo_command(
    published_dates: bool = typer.Option(
        False,
        "--published-dates",
        help="the 2017 campaign on its published dates (a closed campaign), not moved to today",
    ),
) -> None:
    """Load the synthetic Jin'an demo set shipped in the package (projects, targets, parcels).

    By default the campaign is under way today (攻坚2017（演示）, its story moved so that
    today falls mid-campaign, shown as demo data); --published-dates loads 2017 as it was.

    Example: geo-service db upgrade && geo-service demo
    """
    try:
        summary = demo.load_demo(published=published_dates)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(summary)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    workers: int = typer.Option(
        1, min=1, help="worker processes (about one per core); they share only the database"
    ),
) -> None:
    """Serve the API (and its docs at /docs).

    Example: geo-service serve --host 0.0.0.0 --port 8000 --workers 2
    """
    from geo_service.cli.server import run_server

    typer.echo(f"geo_service on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    run_server("geo_service.api:create_app", host=host, port=port, workers=workers, factory=True)
