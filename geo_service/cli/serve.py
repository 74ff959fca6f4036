"""`geo-service demo` and `geo-service serve`."""

import os
from pathlib import Path

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import _fail, app, get_settings, lazy
from geo_service.errors import GeoServiceError, InvalidInput

database = lazy("geo_service.database")
demo = lazy("geo_service.demo")


@app.command("demo")
def demo_command(
    published_dates: bool = typer.Option(
        False,
        "--published-dates",
        help=N_("the 2017 campaign on its published dates (a closed campaign), not moved to today"),
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
    host: str = typer.Option("127.0.0.1", help=N_("address to listen on")),
    port: int = typer.Option(8000, help=N_("port to listen on")),
    workers: int = typer.Option(
        1, min=1, help=N_("worker processes (about one per core); they share only the database")
    ),
    certfile: Path | None = typer.Option(
        None,
        help=N_(
            "serve HTTPS with this certificate (PEM, the chain after it; default TLS_CERTFILE)"
        ),
    ),
    keyfile: Path | None = typer.Option(
        None, help=N_("the certificate's private key (PEM; default TLS_KEYFILE)")
    ),
) -> None:
    """Serve the API (and its docs at /docs), over HTTPS when given a certificate: phones
    need a secure origin for the field app's camera, position and offline work
    (docs/operations.md, Serving over TLS).

    Examples:

      geo-service serve --host 0.0.0.0 --port 8000 --workers 2

      geo-service serve --host 0.0.0.0 --port 8443 --certfile /etc/geo-service/tls/cert.pem \\
          --keyfile /etc/geo-service/tls/key.pem
    """
    from geo_service.cli.server import run_server

    settings = get_settings()
    certfile = certfile or settings.tls_certfile
    keyfile = keyfile or settings.tls_keyfile
    try:
        tls = check_tls(certfile, keyfile)
    except GeoServiceError as exc:
        _fail(exc)
    fit_pools(workers)
    scheme = "https" if tls else "http"
    typer.echo(
        f"geo_service on {scheme}://{host}:{port}/  (API docs: {scheme}://{host}:{port}/docs)"
    )
    run_server(
        "geo_service.api.app:create_app", host=host, port=port, workers=workers, factory=True,
        certfile=certfile, keyfile=keyfile,
    )  # fmt: skip


def check_tls(certfile: Path | None, keyfile: Path | None) -> bool:
    """Whether to serve HTTPS; a clear error for a key without a certificate, or a file
    that is missing or is no PEM certificate or key."""
    if certfile is None:
        if keyfile is not None:
            raise InvalidInput("--keyfile needs --certfile (the certificate it belongs to)")
        return False
    import ssl

    for path in (certfile, keyfile):
        if path is not None and not Path(path).is_file():
            raise InvalidInput(f"{path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise InvalidInput(
            f"{certfile}: not a PEM certificate with its private key ({exc})"
        ) from None
    return True


def fit_pools(workers: int) -> None:
    """Checks that `workers` processes' connection pools fit in the server's
    max_connections; when they cannot, says so and lowers DATABASE_POOL_MAX (read by every
    worker) so that they do: past max_connections PostgreSQL refuses a connection outright
    ("too many clients"), while a full pool makes a request wait for a free connection."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        budget = database.connection_budget()
    except SQLAlchemyError as exc:
        reason = database.outage_reason(exc) or "the database did not answer"
        typer.echo(f"max_connections not checked against the pools: {reason}", err=True)
        return
    wanted = get_settings().database_pool_max
    fitted = database.pool_max_for(workers, budget)
    pools = workers * database.POOLS_PER_WORKER
    if fitted >= wanted:
        return
    if fitted < 1:
        _fail(
            InvalidInput(
                f"{workers} workers open {pools} connection pools, more than the "
                f"{budget} connections the database's max_connections leaves to clients: "
                "serve fewer workers or raise max_connections (docs/operations.md)"
            )
        )
    typer.echo(
        f"WARNING: {workers} workers × {database.POOLS_PER_WORKER} pools × {wanted} "
        f"connections (DATABASE_POOL_MAX) = {pools * wanted}, more than the {budget} the "
        f"database's max_connections leaves to clients: each pool opens at most {fitted} "
        "(raise max_connections or serve fewer workers to give them more; "
        "docs/operations.md)",
        err=True,
    )
    os.environ["DATABASE_POOL_MAX"] = str(fitted)
    from geo_service import settings

    settings.get_settings.cache_clear()  # one worker runs in this process: it reads it anew
