"""Loads the synthetic Jin'an demo set listed in data/parcels/manifest.csv."""

import csv
from pathlib import Path

from .database import session_scope
from .projects import import_projects_csv
from .reference import load_targets_csv
from .settings import DATA_DIR
from .uploads import ImportOptions, import_file

DEMO_DIR = DATA_DIR / "parcels"


def load_demo(directory: Path = DEMO_DIR) -> str:
    """Projects, targets and every listed parcel file, each file in its own transaction."""
    lines = []
    with session_scope() as session:
        counts = import_projects_csv(session, directory / "demo_projects.csv")
        targets = load_targets_csv(session, directory / "demo_targets.csv")
    lines.append(
        f"projects: {counts['created']} new, {counts['updated']} updated; targets: {targets}"
    )
    with (directory / "manifest.csv").open(encoding="utf-8") as handle:
        for entry in csv.DictReader(handle):
            options = ImportOptions(
                kind=entry["kind"],
                township=entry["township"],
                actor="demo",
                # The re-survey file overlaps verified parcels on purpose, to show union counting.
                accept_overlaps=entry.get("accept_overlaps") == "true",
            )
            with session_scope() as session:
                report = import_file(session, directory / entry["file"], options)
            lines.append(
                f"{entry['file']}: {report.parcels} parcels, {report.area_mu:,.1f} mu "
                f"(new {report.created}, changed {report.changed}, unchanged {report.unchanged})"
            )
    return "\n".join(lines)
