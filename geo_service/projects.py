"""Projects and their responsibility lists."""

import csv
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InvalidInput, NotFound
from .models import Project
from .units import find_district

PROJECT_FIELDS = ("name", "category", "department", "first_responsible", "direct_responsible")


def find_project(session: Session, code: str) -> Project:
    project = session.scalar(select(Project).where(Project.code == code))
    if project is None:
        raise NotFound(f"no project with code {code!r}; import the project list first")
    return project


def import_projects_csv(session: Session, path: Path) -> dict[str, int]:
    """Create or update projects from a CSV with a `code` column; returns counts."""
    counts = {"created": 0, "updated": 0}
    with Path(path).open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "code" not in rows[0]:
        raise InvalidInput(f"{Path(path).name}: a project list needs a 'code' column")
    for line, row in enumerate(rows, start=2):
        if not row.get("code") or not row.get("name"):
            raise InvalidInput(f"{Path(path).name} line {line}: code and name are required")
        project = session.scalar(select(Project).where(Project.code == row["code"]))
        counts["updated" if project else "created"] += 1
        project = project or Project(code=row["code"])
        for field in PROJECT_FIELDS:
            if row.get(field):
                setattr(project, field, row[field])
        if row.get("district"):
            project.district = find_district(session, row["district"])
        session.add(project)
    session.flush()
    return counts
