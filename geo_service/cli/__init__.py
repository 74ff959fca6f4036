"""The `geo-service` command: thin Typer commands over the use cases, one module per group."""

# Importing each module registers its commands on `app`.
from . import (  # noqa: F401
    boundaries,
    db,
    imports,
    maps,
    projects,
    rankings,
    serve,
    tallies,
    targets,
    users,
    workflow,
)
from .common import app

__all__ = ["app"]
