"""The `geo-service` command: thin Typer commands over the use cases, one module per group."""

from . import (
    assets,
    backup,
    boundaries,
    db,
    imports,
    maps,
    projects,
    serve,
    tallies,
    targets,
    uploads,
    workflow,
)
from .common import app

__all__ = [
    "app",
    "assets",
    "backup",
    "boundaries",
    "db",
    "imports",
    "maps",
    "projects",
    "serve",
    "tallies",
    "targets",
    "uploads",
    "workflow",
]
