"""Loads the synthetic Jin'an demo set listed in data/parcels/manifest.csv.

So that the quarter timeline has a campaign to show, the demo replays a 2017: every parcel
is surveyed at the start of January, and those the files mark delivered or verified move
through the real workflow (in progress, delivered/demolished, verified by the right group)
on dates spread over the year. The dates are made up, like the parcels; they are derived
from each parcel's code, so every load tells the same story.
"""

import csv
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from .accounts import create_user
from .database import session_scope
from .models import Parcel, User
from .projects import import_projects
from .readers import read_features
from .reference import load_targets_csv
from .relocation_demo import load_relocation_demo
from .settings import DATA_DIR
from .uploads import ImportOptions, import_file
from .workflow import DONE, VERIFICATION_GROUPS, set_status, verify

DEMO_DIR = DATA_DIR / "parcels"
CAMPAIGN_START = datetime(2017, 1, 3, 9, tzinfo=UTC)
# Every demo user signs in with this password (demo data only: never on a real server).
DEMO_PASSWORD = "jinan-demo-2017"


def _demo_users(directory: Path) -> list[dict]:
    with (directory / "demo_users.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_demo_users(directory: Path = DEMO_DIR, password: str = DEMO_PASSWORD) -> int:
    """The demo's people (geo_service/data/parcels/demo_users.csv); existing ones are left alone."""
    added = 0
    with session_scope() as session:
        for row in _demo_users(directory):
            if session.scalar(select(User.id).where(User.username == row["username"])):
                continue
            create_user(
                session,
                row["username"],
                role=row["role"],
                password=password,
                display_name=row["display_name"],
                group=row["group"] or None,
                district=row["district"] or None,
                townships=[t for t in row["townships"].split(";") if t],
                by="demo",
                source="cli",
            )
            added += 1
    return added


def _people(directory: Path) -> dict[tuple[str, str], str]:
    """(role or kind, township) → who does that work there in the demo."""
    people = {}
    for row in _demo_users(directory):
        kind = {"土地核验组": "land", "拆迁核验组": "demolition"}.get(row["group"])
        for township in filter(None, row["townships"].split(";")):
            people[(kind or row["role"], township)] = row["username"]
    return people


def load_demo(directory: Path = DEMO_DIR) -> str:
    """Projects, targets and every listed parcel file (each file in its own transaction),
    then the 2017 replay. Loading again changes nothing."""
    users = load_demo_users(directory)
    lines = [f"users: {users} new; each signs in at /login with the password {DEMO_PASSWORD!r}"]
    lines += [
        f"  {row['role']:<9} {row['username']} {row['group'] or row['district'] or ''} "
        f"{row['townships'].replace(';', '、')}".rstrip()
        for row in _demo_users(directory)
    ]
    people = _people(directory)
    with session_scope() as session:
        counts = import_projects(session, directory / "demo_projects.csv")
        targets = load_targets_csv(session, directory / "demo_targets.csv")
    lines.append(
        f"projects: {counts['created']} new, {counts['updated']} updated; targets: {targets}"
    )
    with (directory / "manifest.csv").open(encoding="utf-8") as handle:
        entries = list(csv.DictReader(handle))
    replayed = 0
    for entry in entries:
        report, wanted = _import(directory / entry["file"], entry, people)
        lines.append(
            f"{entry['file']}: {report.parcels} parcels, {report.area_mu:,.1f} mu "
            f"(new {report.created}, changed {report.changed}, unchanged {report.unchanged})"
        )
        if report.created:
            replayed += _replay(entry, wanted, people)
    lines.append(f"2017 replayed for {replayed} parcel(s)")
    lines.append(load_relocation_demo())
    return "\n".join(lines)


def _import(path: Path, entry: dict, people: dict):
    """Import the file as surveyed (planned); return the report and each code's status."""
    frame = read_features(path).frame
    wanted = dict(zip(frame["code"], frame["status"], strict=True))
    loaded = _loaded(entry)
    options = ImportOptions(
        kind=entry["kind"],
        township=entry["township"],
        actor=people[("officer", entry["township"])],
        # Only the replay moves parcels on; a second load finds them as the replay left
        # them, which is what the files say.
        status=None if loaded else "planned",
        # The re-survey file overlaps verified parcels on purpose, to show union counting
        # (and, once replayed, its neighbours overlap it).
        accept_overlaps=loaded or entry.get("accept_overlaps") == "true",
        # The replayed campaign starts with the survey (history cannot be back-dated later).
        recorded_at=CAMPAIGN_START,
    )
    with session_scope() as session:
        return import_file(session, path, options), wanted


def _loaded(entry: dict) -> bool:
    with session_scope() as session:
        found = select(Parcel.id).where(Parcel.source_file == entry["file"]).limit(1)
        return session.scalar(found) is not None


def _replay(entry: dict, wanted: dict[str, str], people: dict) -> int:
    kind, township = entry["kind"], entry["township"]
    verifier, officer = people[(kind, township)], people[("officer", township)]
    with session_scope() as session:
        parcels = session.scalars(
            select(Parcel).where(Parcel.source_file == entry["file"], Parcel.version == 1)
        ).all()
        for parcel in parcels:
            parcel.created_at = CAMPAIGN_START
            for step, when in _steps(parcel.code, wanted.get(parcel.code, "planned"), kind):
                if step == "verified":
                    group = VERIFICATION_GROUPS[kind]
                    verify(session, parcel, verifier, group, note="核验通过", now=when)
                else:
                    set_status(session, parcel, step, actor=officer, now=when)
        return len(parcels)


def _steps(code: str, status: str, kind: str) -> list[tuple[str, datetime]]:
    """The dated workflow steps that bring a surveyed parcel to the file's status."""
    if status not in ("delivered", "demolished", "verified"):
        return []
    start = CAMPAIGN_START + timedelta(days=55 + _draw(code, "start", 60))
    done = start + timedelta(days=20 + _draw(code, "done", 150))
    steps = [("in_progress", start), (DONE[kind], done)]
    if status == "verified":
        checked = min(
            done + timedelta(days=5 + _draw(code, "check", 40)), datetime(2017, 12, 28, tzinfo=UTC)
        )
        steps.append(("verified", checked))
    return steps


def _draw(code: str, purpose: str, span: int) -> int:
    """A number in [0, span) that depends only on the code: the same story every load."""
    digest = hashlib.sha256(f"{code}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % span
