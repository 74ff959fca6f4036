"""The `geo-service` command: thin Typer commands over the use cases, one module per group."""

from . import (
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
