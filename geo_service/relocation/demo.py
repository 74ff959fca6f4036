"""Loads the synthetic relocation (回迁) demo set in data/relocation, after the parcels.

Like the parcel demo it replays an invented 2017 through the real use cases: the
resettlement projects are put on record in June 2016, the household roster in September,
the flat list with its allocations at the start of March 2017; then each household gets
its keys (交房) some weeks after its project was completed, and most of them their titles
(办证) a few months later. Some never do in 2017, so the 两逾 lists have cases. Most
households with all their keys are then signed off by the district's 回迁核验组 verifier
(a demo user), through the same use case the API and CLI call. Jin'an has three
projects, Cangshan one (its households wait on a project finished eight months late).
Dates are derived from each household's reference: every load tells the same story.

Live (what `geo-service demo` loads unless `--published-dates`): every date moves by the
parcel demo's offset (1 July 2017 falls on today) — the records' moments, the rosters'
days, completions, keys, titles and sign-offs — and what would then lie after today is
left out (a project not yet completed, keys not yet handed over); the targets are set for
the year the moved campaign starts in.
"""

import csv
import hashlib
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from geo_service.accounts.users import acting_user
from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.database import session_scope
from geo_service.models import AdminUnit, Flat, Household, ResettlementProject
from geo_service.periods import today
from geo_service.relocation import actions
from geo_service.relocation import households as relocation
from geo_service.relocation.rosters import import_flats, import_households
from geo_service.relocation.tallies import set_target
from geo_service.settings import DATA_DIR

DEMO_DIR = DATA_DIR / "relocation"
RECORDED = {
    "projects": datetime(2016, 6, 1, 9, tzinfo=CAMPAIGN_TZ),
    "households": datetime(2016, 9, 1, 9, tzinfo=CAMPAIGN_TZ),
    "flats": datetime(2017, 3, 1, 9, tzinfo=CAMPAIGN_TZ),
}
LAST_DAY = date(2017, 12, 28)
# District and township relocation targets for 2017 (households, flats, m²).
TARGETS = [
    ("晋安区", None, 240, 330, 30000),
    ("晋安区", "新店镇", 60, 90, 8000),
    ("晋安区", "鼓山镇", 40, 60, 5500),
    ("仓山区", None, 30, 50, 5000),
]
# Who signs households off (回迁核验组) in the demo: the demo users of that group.
USER_FILES = (DATA_DIR / "parcels" / "demo_users.csv", DATA_DIR / "campaign" / "demo_users.csv")


def load_relocation_demo(directory: Path = DEMO_DIR, clock=None) -> str:
    """Projects, roster, flats and the 2017 replay; a second load changes nothing.
    `clock` (the parcel demo's DemoClock: `offset`, `file`): the live story, moved by its
    offset up to today; None: the published 2017 dates."""
    with session_scope() as session:
        if session.scalar(select(Household.id).limit(1)) is not None:
            return "relocation: already loaded"
    offset = clock.offset if clock is not None else timedelta(0)
    last = LAST_DAY + offset
    if clock is not None:  # the live story stops at today
        last = min(last, today())
    recorded = {key: moment + offset for key, moment in RECORDED.items()}
    moved = clock.file if clock is not None else (lambda path: path)
    with session_scope() as session:
        for row in _rows(directory / "projects.csv"):
            _project(session, row, directory, offset, last, recorded["projects"])
        for district, township, households, flats, m2 in TARGETS:
            set_target(
                session,
                district=district,
                township=township,
                year=(date(2017, 1, 1) + offset).year,
                households=households,
                flats=flats,
                m2=m2,
                actor="demo",
            )
    with session_scope() as session:
        roster = import_households(
            session,
            moved(directory / "households.csv"),
            actor="征迁指挥部",
            now=recorded["households"],
        )
    with session_scope() as session:
        flats = import_flats(
            session, moved(directory / "flats.csv"), actor="房源调度组", now=recorded["flats"]
        )
    with session_scope() as session:
        keys, titles = _replay(session, last)
    with session_scope() as session:
        signed = _sign_off(session, last)
    story = "2017 replayed" if not offset else f"2017 replayed, moved to end {last}"
    return (
        f"relocation: {roster.created} households, {flats.created} flats; "
        f"{story}: {keys} flats handed over, {titles} certified, "
        f"{signed} households signed off"
    )


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _project(session, row: dict, directory: Path, offset, last: date, now: datetime) -> None:
    flats = {size: int(n) for size, n in (p.split(":") for p in row["flats"].split(","))}
    completed = _day(row["actual_completion"])
    completed = completed + offset if completed else None
    relocation.save_project(
        session,
        code=row["code"],
        name=row["name"],
        district=row["district"],
        townships=row["townships"].split(","),
        site=directory / row["site"],
        flats_by_size=flats,
        floor_area_m2=float(row["floor_area_m2"]),
        planned_completion=date.fromisoformat(row["planned_completion"]) + offset,
        # Completed after today, in the moved story: not yet.
        actual_completion=completed if completed and completed <= last else None,
        responsibility=row["responsibility"] or None,
        actor="demo",
        now=now,
    )


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _replay(session, last: date) -> tuple[int, int]:
    """Keys some weeks after completion (one household in seven waits past the year);
    titles 2-5 months after the keys for three households in five. Each day's steps go
    through the workflow together, in the order of the days."""
    completed = {p.id: p.actual_completion for p in session.scalars(select(ResettlementProject))}
    flats = session.scalars(
        select(Flat).where(Flat.household_id.is_not(None)).order_by(Flat.id)
    ).all()
    refs = dict(session.execute(select(Household.id, Household.ref)).all())
    steps: dict[tuple[date, str], list[Flat]] = {}
    for flat in flats:
        ref, done = refs[flat.household_id], completed[flat.project_id]
        if done is None or _draw(ref, "late", 7) == 0:
            continue
        handed = done + timedelta(days=7 + _draw(ref, "keys", 45))
        if handed > last:
            continue
        steps.setdefault((handed, "keys"), []).append(flat)
        certified = handed + timedelta(days=60 + _draw(ref, "title", 90))
        if _draw(ref, "titled", 5) < 3 and certified <= last:
            steps.setdefault((certified, "title"), []).append(flat)
    counts = {"keys": 0, "title": 0}
    # Keys before titles on the same day: a title needs the keys.
    for (day, step), batch in sorted(steps.items(), key=lambda s: (s[0][0], s[0][1] != "keys")):
        if step == "keys":
            relocation.hand_over_many(session, batch, day, "房源调度组", now=_at(day))
        else:
            relocation.certify_many(session, batch, day, "不动产登记中心", now=_at(day))
        counts[step] += len(batch)
    return counts["keys"], counts["title"]


def _sign_off(session, last: date) -> int:
    """Three households in four are signed off 5-35 days after their last key, by the
    回迁核验组 verifier of their township, in the order of the days."""
    verifiers = {
        township: row["username"]
        for path in USER_FILES
        for row in _rows(path)
        if row["group"] == "回迁核验组"
        for township in row["townships"].split(";")
    }
    townships = {t.id: t.name for t in session.scalars(select(AdminUnit))}
    keys: dict[int, list] = {}
    for flat in session.scalars(select(Flat).where(Flat.household_id.is_not(None))):
        keys.setdefault(flat.household_id, []).append(flat.handed_over_on)
    due = []
    for h in session.scalars(select(Household).order_by(Household.ref)):
        days = keys.get(h.id, [])
        if not days or len(days) < h.flats_due or None in days or _draw(h.ref, "signed", 4) == 3:
            continue
        day = max(days) + timedelta(days=5 + _draw(h.ref, "signoff", 31))
        verifier = verifiers.get(townships[h.township_id])
        if day <= last and verifier:
            due.append((day, h.ref, verifier))
    for day, ref, verifier in sorted(due):
        who = acting_user(session, verifier, source="demo")
        now = datetime.combine(day, time(15), tzinfo=CAMPAIGN_TZ)
        actions.sign_off(session, who, ref, day, "回迁核验通过", now=now)
    return len(due)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=CAMPAIGN_TZ)


def _draw(ref: str, purpose: str, span: int) -> int:
    digest = hashlib.sha256(f"{ref}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % span
