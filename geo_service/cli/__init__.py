"""The `geo-service` command: thin Typer commands over the use cases, one module per group."""

from . import (
    boundaries,
    db,
    imports,
    maps,
    projects,
    rankings,
    serve,
    tallies,
    targets,
    workflow,
)
from .common import app

__all__ = [
    "app",
    "boundaries",
    "db",
    "imports",
    "maps",
    "projects",
    "rankings",
    "serve",
    "tallies",
    "targets",
    "workflow",
]
