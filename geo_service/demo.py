"""Loads the synthetic demo: Jin'an (data/parcels/) and the city-wide part, Cangshan and
Fuqing with the city's target, problem files and milestone records (data/campaign/).

So that the quarter timeline has a campaign to show, the demo replays a 2017: every parcel
is surveyed at the start of January, and those the files mark delivered or verified move
through the real workflow (in progress, delivered/demolished, verified by the right group)
on dates spread over the year. The dates are made up, like the parcels; they are derived
from each parcel's code, so every load tells the same story.

Live (the default): the same campaign under way today. Every date of its story (parcels'
steps, projects' milestones, problem files) moves by one offset, so that 1 July 2017
falls on today; what would then lie in the future is not loaded (those parcels wait,
delivered, for a verifier), and the campaign is 攻坚2017（演示）, its days moved alike, with
the published targets (whose quarterly plans are then the moved campaign's own quarters,
campaign.due: the plan of 2017's Q1 is due in its first three months).
`published=True` loads the 2017 dates exactly (what tests use).
The relocation part moves alike (geo_service/relocation/demo.py).
"""

import csv
import hashlib
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from geo_service.accounts.users import create_user
from geo_service.campaign.campaigns import DEMO_ACTOR, create_campaign, find_campaign
from geo_service.campaign.projects import find_project, import_projects
from geo_service.campaign.register import add_problem, record_milestone, set_problem_status
from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.database import session_scope
from geo_service.errors import NotFound
from geo_service.models import MilestoneRecord, Parcel, ProjectProblem, User
from geo_service.parcels.readers import read_features
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import DONE, VERIFICATION_GROUPS, set_status, verify
from geo_service.periods import today
from geo_service.reference import load_targets_csv
from geo_service.relocation.demo import load_relocation_demo
from geo_service.settings import DATA_DIR

DEMO_DIR = DATA_DIR / "parcels"
CAMPAIGN_DIR = DATA_DIR / "campaign"
CAMPAIGN_START = datetime(2017, 1, 3, 9, tzinfo=UTC)
# Every demo user signs in with this password (demo data only: never on a real server).
DEMO_PASSWORD = "jinan-demo-2017"
# The live demo: the published campaign's day that falls on today, and its name.
MIDDLE = date(2017, 7, 1)
LIVE_NAME = "攻坚2017（演示）"
_DAY = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


@dataclass(frozen=True)
class DemoClock:
    """How the story's dates are told: as published (no offset), or moved by `offset`,
    leaving out whatever would then lie after `now`."""

    offset: timedelta = timedelta(0)
    now: datetime | None = None

    @classmethod
    def live(cls) -> "DemoClock":
        return cls(today() - MIDDLE, datetime.now(UTC))

    def at(self, when: datetime) -> datetime:
        return when + self.offset

    def keeps(self, when: datetime) -> bool:
        return self.now is None or when <= self.now

    def file(self, path: Path) -> Path:
        """The CSV with every date in it moved (the file itself when published)."""
        if not self.offset:
            return path
        text = _DAY.sub(
            lambda m: (date.fromisoformat(m[1]) + self.offset).isoformat(),
            path.read_text(encoding="utf-8"),
        )
        moved = Path(tempfile.mkdtemp(prefix="geo-demo-")) / path.name
        moved.write_text(text, encoding="utf-8")
        return moved


PUBLISHED = DemoClock()


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
        kind = {v: k for k, v in VERIFICATION_GROUPS.items()}.get(row["group"])
        for township in filter(None, row["townships"].split(";")):
            people[(kind or row["role"], township)] = row["username"]
    return people


def load_demo(
    directory: Path = DEMO_DIR,
    campaign: Path | None = CAMPAIGN_DIR,
    published: bool = False,
    relocation: bool = True,
) -> str:
    """Projects, targets and every listed parcel file (each file in its own transaction),
    then the 2017 replay; then the same for the city-wide part, with its problem files
    and milestone records. Live unless `published` (see the module's doc). Loading again
    changes nothing."""
    clock = PUBLISHED if published else DemoClock.live()
    name = None if published else _live_campaign(clock)
    lines = [f"campaign: {name} (demo data, under way today)"] if name else []
    lines.append(_load_set(directory, "demo_projects.csv", "demo_targets.csv", clock, name))
    if campaign is not None:
        lines.append(_load_set(campaign, "projects.csv", "targets.csv", clock, name))
        lines.append(_load_register(campaign, clock))
    if relocation:
        lines.append(load_relocation_demo(clock=None if published else clock))
    return "\n".join(lines)


def _live_campaign(clock: DemoClock) -> str:
    """攻坚2017（演示）: the published year's days moved by the clock's offset (made once)."""
    with session_scope() as session:
        try:
            find_campaign(session, LIVE_NAME)
        except NotFound:
            create_campaign(
                session,
                name=LIVE_NAME,
                first_day=date(2017, 1, 1) + clock.offset,
                last_day=date(2017, 12, 31) + clock.offset,
                actor=DEMO_ACTOR,
            )
    return LIVE_NAME


def _load_set(
    directory: Path,
    projects: str,
    targets_file: str,
    clock: DemoClock = PUBLISHED,
    campaign: str | None = None,
) -> str:
    users = load_demo_users(directory)
    lines = [f"users: {users} new; each signs in at /login with the password {DEMO_PASSWORD!r}"]
    lines += [
        f"  {row['role']:<9} {row['username']} {row['group'] or row['district'] or ''} "
        f"{row['townships'].replace(';', '、')}".rstrip()
        for row in _demo_users(directory)
    ]
    people = _people(directory)
    with session_scope() as session:
        counts = import_projects(session, clock.file(directory / projects))
        targets = load_targets_csv(session, directory / targets_file, campaign=campaign)
    lines.append(
        f"projects: {counts['created']} new, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged; targets: {targets} set"
    )
    with (directory / "manifest.csv").open(encoding="utf-8") as handle:
        entries = list(csv.DictReader(handle))
    replayed = 0
    for entry in entries:
        report, wanted = _import(directory / entry["file"], entry, people, clock)
        lines.append(
            f"{entry['file']}: {report.parcels} parcels, {report.area_mu:,.1f} mu "
            f"(new {report.created}, changed {report.changed}, unchanged {report.unchanged})"
        )
        if report.created:
            replayed += _replay(entry, wanted, people, clock)
    story = "2017" if not clock.offset else f"2017 moved by {clock.offset.days} days, up to today,"
    lines.append(f"{story} replayed for {replayed} parcel(s)")
    return "\n".join(lines)


def _at(day: str, hour: int) -> datetime:
    """A demo record's time: that day at `hour` China Standard Time."""
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=CAMPAIGN_TZ)


def _load_register(directory: Path, clock: DemoClock = PUBLISHED) -> str:
    """Milestone records and problem files, each dated the day it happened; only for
    projects that have none yet, so a second load adds nothing."""
    added = {"milestones": 0, "problems": 0}
    with session_scope() as session:
        have_records = set(session.scalars(select(MilestoneRecord.project_id)))
        have_problems = set(session.scalars(select(ProjectProblem.project_id)))
        with clock.file(directory / "milestones_done.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if find_project(session, row["project"]).id in have_records:
                    continue
                if not clock.keeps(_at(row["done_on"], 18)):
                    continue  # done after today, in the live story: not yet
                record_milestone(
                    session,
                    row["project"],
                    date.fromisoformat(row["date"]),
                    date.fromisoformat(row["done_on"]),
                    actor="demo",
                    now=_at(row["done_on"], 18),
                )
                added["milestones"] += 1
        with clock.file(directory / "problems.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if find_project(session, row["project"]).id in have_problems:
                    continue
                if not clock.keeps(_at(row["filed_on"], 9)):
                    continue
                filed = add_problem(
                    session,
                    row["project"],
                    row["problem"],
                    actor="demo",
                    responsible_unit=row["responsible_unit"],
                    person=row["person"],
                    deadline=date.fromisoformat(row["deadline"]),
                    now=_at(row["filed_on"], 9),
                )
                if row["solved_on"] and clock.keeps(_at(row["solved_on"], 17)):
                    set_problem_status(
                        session,
                        filed.id,
                        "solved",
                        actor="demo",
                        solved_on=date.fromisoformat(row["solved_on"]),
                        now=_at(row["solved_on"], 17),
                    )
                added["problems"] += 1
    return f"milestone records: {added['milestones']}; problems filed: {added['problems']}"


def _import(path: Path, entry: dict, people: dict, clock: DemoClock = PUBLISHED):
    """Import the file as surveyed (planned); return the report and each code's status."""
    frame = read_features(path).frame
    wanted = dict(zip(frame["code"], frame["status"], strict=True))
    loaded = _loaded(entry)
    options = ImportOptions(
        kind=entry["kind"],
        township=entry["township"],
        actor=people[("officer", _township(entry))],
        # Only the replay moves parcels on; a second load finds them as the replay left
        # them, which is what the files say.
        status=None if loaded else "planned",
        # The re-survey file overlaps verified parcels on purpose, to show union counting
        # (and, once replayed, its neighbours overlap it).
        accept_overlaps=loaded or entry.get("accept_overlaps") == "true",
        # The replayed campaign starts with the survey (history cannot be back-dated later).
        recorded_at=clock.at(CAMPAIGN_START),
    )
    with session_scope() as session:
        return import_file(session, path, options), wanted


def _township(entry: dict) -> str:
    """The township's name in a manifest entry ('district/township' where names repeat)."""
    return entry["township"].split("/")[-1]


def _loaded(entry: dict) -> bool:
    with session_scope() as session:
        found = select(Parcel.id).where(Parcel.source_file == entry["file"]).limit(1)
        return session.scalar(found) is not None


def _replay(entry: dict, wanted: dict[str, str], people: dict, clock: DemoClock = PUBLISHED) -> int:
    kind, township = entry["kind"], _township(entry)
    verifier, officer = people[(kind, township)], people[("officer", township)]
    with session_scope() as session:
        parcels = session.scalars(
            select(Parcel).where(Parcel.source_file == entry["file"], Parcel.version == 1)
        ).all()
        for parcel in parcels:
            parcel.created_at = clock.at(CAMPAIGN_START)
            for step, published in _steps(parcel.code, wanted.get(parcel.code, "planned"), kind):
                when = clock.at(published)
                if not clock.keeps(when):
                    break  # the live story has not got there yet
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
