"""The `geo-service` command: thin Typer commands over the use cases, one module per group."""

# Importing each module registers its commands on `app`.
from geo_service.cli import (  # noqa: F401
    assets,
    backup,
    boundaries,
    campaigns,
    db,
    exports,
    imports,
    maps,
    projects,
    rankings,
    relocation,
    serve,
    tallies,
    targets,
    uploads,
    users,
    workflow,
)
from geo_service.cli.common import app

__all__ = ["app"]
