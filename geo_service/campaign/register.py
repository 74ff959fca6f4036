"""The project register: projects with their category, places, responsibility list,
milestone status, parcels' progress and problem files (问题档案).

Everything is seen from an as-of day (the end of that day, China Standard Time; when none
is given, the day every page is 截至: today, held within the campaign shown): a milestone
is done (on or after its date), due (not done, date not yet passed) or overdue by N days;
a problem is open or solved, overdue when open past its deadline. A past day sees only
what had been recorded by its end: milestone records and problem versions are
append-only, each with who recorded it and when.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from geo_service import periods as clock
from geo_service.campaign import campaigns, tallies
from geo_service.campaign.projects import CATEGORIES, find_project
from geo_service.campaign.tallies import CAMPAIGN_TZ, end_of_day
from geo_service.errors import InvalidInput, NotFound
from geo_service.models import (
    PROBLEM_STATUSES,
    AdminUnit,
    MilestoneRecord,
    Project,
    ProjectProblem,
    ProjectProblemVersion,
)


def today() -> date:
    return clock.today()


# --- milestones -------------------------------------------------------------------------


@dataclass
class MilestoneState:
    due_on: date
    text: str
    done_on: date | None
    as_of: date

    @property
    def status(self) -> str:
        if self.done_on is not None:
            return "done"
        return "overdue" if self.as_of > self.due_on else "due"

    @property
    def overdue_days(self) -> int:
        """Days past the date: for an open milestone up to the as-of day, for a done one
        up to the day it was done (0 when on time)."""
        end = self.done_on or self.as_of
        return max((end - self.due_on).days, 0)

    @property
    def on_time(self) -> bool | None:
        if self.done_on is not None:
            return self.done_on <= self.due_on
        return False if self.status == "overdue" else None

    def as_dict(self) -> dict:
        return {
            "date": self.due_on.isoformat(),
            "text": self.text,
            "status": self.status,
            "done_on": self.done_on.isoformat() if self.done_on else None,
            "overdue_days": self.overdue_days,
            "on_time": self.on_time,
        }


def milestone_states(
    session: Session, projects: list[Project], as_of: date
) -> dict[int, list[MilestoneState]]:
    """Each project's milestones with the completion on record at the end of `as_of`.
    A completion dated after the as-of day does not count for it either."""
    ids = [p.id for p in projects]
    records = session.scalars(
        select(MilestoneRecord)
        .where(
            MilestoneRecord.project_id.in_(ids),
            MilestoneRecord.recorded_at < end_of_day(as_of),
        )
        .order_by(MilestoneRecord.recorded_at, MilestoneRecord.id)
    ).all()
    latest: dict[tuple, date | None] = {}
    for r in records:  # later records replace earlier ones
        latest[(r.project_id, r.due_on, r.text)] = r.done_on
    states = {}
    for p in projects:
        found = []
        for m in p.milestones or []:
            due = date.fromisoformat(m["date"])
            done = latest.get((p.id, due, m.get("text") or ""))
            if done is not None and done > as_of:
                done = None
            found.append(MilestoneState(due, m.get("text") or "", done, as_of))
        states[p.id] = found
    return states


def record_milestone(
    session: Session,
    code: str,
    due_on: date,
    done_on: date | None,
    actor: str,
    text: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> MilestoneState:
    """Record a milestone done on `done_on` (None withdraws a completion recorded by
    mistake). The milestone is named by its date, and by its text when a date has two."""
    project = find_project(session, code)
    matches = [
        m
        for m in project.milestones or []
        if m["date"] == due_on.isoformat() and (text is None or m.get("text") == text)
    ]
    if not matches:
        listed = "; ".join(f"{m['date']} {m.get('text', '')}".strip() for m in project.milestones)
        raise NotFound(
            f"project {code} has no milestone on {due_on}"
            + (f" named {text!r}" if text else "")
            + (f"; its milestones: {listed}" if listed else "; it has no milestones"),
            rule="milestone" if listed else "milestone_none",
            params={"code": code, "day": str(due_on), "text": text or "—", "listed": listed},
        )
    if len(matches) > 1:
        raise InvalidInput(
            f"project {code} has several milestones on {due_on}; name it by text",
            rule="milestone_several", params={"code": code, "day": str(due_on)},
        )  # fmt: skip
    if done_on is not None and done_on > (now or datetime.now(UTC)).astimezone(CAMPAIGN_TZ).date():
        raise InvalidInput(
            f"a milestone cannot be recorded done on {done_on}, a future day",
            rule="milestone_future", params={"day": str(done_on)},
        )  # fmt: skip
    record = MilestoneRecord(
        project_id=project.id,
        due_on=due_on,
        text=matches[0].get("text") or "",
        done_on=done_on,
        note=note,
        recorded_by=actor,
        recorded_at=now or datetime.now(UTC),
    )
    session.add(record)
    session.flush()
    return MilestoneState(due_on, record.text, done_on, done_on or today())


def milestone_history(session: Session, code: str) -> list[dict]:
    project = find_project(session, code)
    records = session.scalars(
        select(MilestoneRecord)
        .where(MilestoneRecord.project_id == project.id)
        .order_by(MilestoneRecord.recorded_at, MilestoneRecord.id)
    ).all()
    return [
        {
            "date": r.due_on.isoformat(),
            "text": r.text,
            "done_on": r.done_on.isoformat() if r.done_on else None,
            "note": r.note,
            "recorded_by": r.recorded_by,
            "recorded_at": r.recorded_at.isoformat(),
        }
        for r in records
    ]


# --- problem files ----------------------------------------------------------------------


@dataclass
class ProblemState:
    id: int
    project: str
    problem: str
    responsible_unit: str | None
    person: str | None
    deadline: date | None
    status: str
    solved_on: date | None
    note: str | None
    version: int
    changed_by: str
    changed_at: datetime
    as_of: date

    @property
    def overdue_days(self) -> int:
        if self.deadline is None:
            return 0
        end = self.solved_on if self.status == "solved" and self.solved_on else self.as_of
        return max((end - self.deadline).days, 0)

    @property
    def overdue(self) -> bool:
        return self.status == "open" and self.overdue_days > 0

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "project": self.project,
            "problem": self.problem,
            "responsible_unit": self.responsible_unit,
            "person": self.person,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "status": self.status,
            "solved_on": self.solved_on.isoformat() if self.solved_on else None,
            "overdue": self.overdue,
            "overdue_days": self.overdue_days,
            "note": self.note,
            "version": self.version,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at.isoformat(),
        }


def problem_order(p: ProblemState) -> tuple:
    """Overdue first (longest overdue first), then open by deadline, then solved."""
    rank = 0 if p.overdue else 1 if p.status == "open" else 2
    return (rank, -p.overdue_days, p.deadline or date.max, p.id)


def add_problem(
    session: Session,
    code: str,
    problem: str,
    actor: str,
    responsible_unit: str | None = None,
    person: str | None = None,
    deadline: date | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> ProblemState:
    if not problem or not problem.strip():
        raise InvalidInput("a problem needs its description", rule="problem_text", params={})
    project = find_project(session, code)
    now = now or datetime.now(UTC)
    row = ProjectProblem(
        project=project,
        problem=problem.strip(),
        responsible_unit=responsible_unit,
        person=person,
        deadline=deadline,
        status="open",
        note=note,
        version=1,
        created_by=actor,
        created_at=now,
        updated_by=actor,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _version(session, row, actor, now)
    return _state(row, code, now.astimezone(CAMPAIGN_TZ).date())


def set_problem_status(
    session: Session,
    problem_id: int,
    status: str,
    actor: str,
    solved_on: date | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> ProblemState:
    """Solve (solved_on defaults to today) or reopen a problem; a new version either way."""
    if status not in PROBLEM_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(PROBLEM_STATUSES)}",
            rule="problem_status", params={"value": status},
        )  # fmt: skip
    row = session.get(ProjectProblem, problem_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no problem #{problem_id}", rule="problem_id", params={"id": problem_id})
    if row.status == status:
        raise InvalidInput(
            f"problem #{problem_id} is already {status}",
            rule="problem_already", params={"id": problem_id, "state": status},
        )  # fmt: skip
    now = now or datetime.now(UTC)
    day = now.astimezone(CAMPAIGN_TZ).date()
    if status == "solved":
        solved_on = solved_on or day
        if solved_on > day:
            raise InvalidInput(
                f"a problem cannot be solved on {solved_on}, a future day",
                rule="problem_solved_future", params={"day": str(solved_on)},
            )  # fmt: skip
    row.status, row.solved_on = status, solved_on if status == "solved" else None
    row.note = note if note is not None else row.note
    row.version += 1
    row.updated_by, row.updated_at = actor, now
    session.flush()
    _version(session, row, actor, now)
    return _state(row, row.project.code, day)


def _version(session: Session, row: ProjectProblem, actor: str, now: datetime) -> None:
    session.add(
        ProjectProblemVersion(
            problem_id=row.id,
            version=row.version,
            problem=row.problem,
            responsible_unit=row.responsible_unit,
            person=row.person,
            deadline=row.deadline,
            status=row.status,
            solved_on=row.solved_on,
            note=row.note,
            changed_by=actor,
            changed_at=now,
        )
    )
    session.flush()


def _state(row, code: str, as_of: date) -> ProblemState:
    return ProblemState(
        id=getattr(row, "problem_id", None) or row.id,
        project=code,
        problem=row.problem,
        responsible_unit=row.responsible_unit,
        person=row.person,
        deadline=row.deadline,
        status=row.status,
        solved_on=row.solved_on,
        note=row.note,
        version=row.version,
        changed_by=getattr(row, "changed_by", None) or row.updated_by,
        changed_at=getattr(row, "changed_at", None) or row.updated_at,
        as_of=as_of,
    )


def problems(
    session: Session, codes: list[str] | None = None, as_of: date | None = None
) -> list[ProblemState]:
    """Problems as they stood at the end of the as-of day (each its version then), overdue
    first. Problems filed after that day are not listed."""
    as_of = campaigns.as_at(session, as_of)
    query = (
        select(ProjectProblemVersion, Project.code)
        .join(ProjectProblem, ProjectProblem.id == ProjectProblemVersion.problem_id)
        .join(Project, Project.id == ProjectProblem.project_id)
        .where(ProjectProblemVersion.changed_at < end_of_day(as_of))
        .order_by(ProjectProblemVersion.problem_id, ProjectProblemVersion.version.desc())
    )
    if codes is not None:
        query = query.where(Project.code.in_(codes))
    latest = {}
    for version, code in session.execute(query):
        latest.setdefault(version.problem_id, _state(version, code, as_of))
    return sorted(latest.values(), key=problem_order)


def problem_project(session: Session, problem_id: int) -> str:
    row = session.get(ProjectProblem, problem_id)
    if row is None:
        raise NotFound(f"no problem #{problem_id}", rule="problem_id", params={"id": problem_id})
    return row.project.code


def problem_history(session: Session, problem_id: int) -> list[dict]:
    if session.get(ProjectProblem, problem_id) is None:
        raise NotFound(f"no problem #{problem_id}", rule="problem_id", params={"id": problem_id})
    versions = session.scalars(
        select(ProjectProblemVersion)
        .where(ProjectProblemVersion.problem_id == problem_id)
        .order_by(ProjectProblemVersion.version)
    ).all()
    return [
        {
            "version": v.version,
            "status": v.status,
            "solved_on": v.solved_on.isoformat() if v.solved_on else None,
            "deadline": v.deadline.isoformat() if v.deadline else None,
            "responsible_unit": v.responsible_unit,
            "person": v.person,
            "note": v.note,
            "changed_by": v.changed_by,
            "changed_at": v.changed_at.isoformat(),
        }
        for v in versions
    ]


# --- the register -----------------------------------------------------------------------


def projects(
    session: Session, district: str | None = None, category: str | None = None
) -> list[Project]:
    query = (
        select(Project)
        .options(selectinload(Project.district), selectinload(Project.townships))
        .order_by(Project.code)
    )
    if district:
        query = query.join(AdminUnit, AdminUnit.id == Project.district_id).where(
            AdminUnit.name == district
        )
    if category:
        if category not in CATEGORIES:
            raise InvalidInput(
                f"category must be one of {', '.join(CATEGORIES)}",
                rule="project_category",
                params={"value": category, "choices": "、".join(CATEGORIES)},
            )
        query = query.where(Project.category == category)
    return list(session.scalars(query))


def parcels_progress(
    session: Session, as_of: date | None, campaign: "campaigns.CampaignView | None" = None
) -> dict[str, list[dict]]:
    """Each project's parcels per kind: planned, delivered and verified (unions; verified
    within the campaign's days)."""
    rows = tallies.tally(session, by="project", as_of=as_of, campaign=campaign)
    found: dict[str, list[dict]] = {}
    for r in rows:
        share = r.verified_m2 / r.planned_m2 if r.planned_m2 else None
        found.setdefault(r.project, []).append(
            {
                "kind": r.kind,
                "parcels": r.planned_parcels,
                "planned_m2": round(r.planned_m2, 2),
                "delivered_m2": round(r.delivered_m2, 2),
                "verified_m2": round(r.verified_m2, 2),
                "verified_share": None if share is None else round(share, 6),
            }
        )
    return found


def most_overdue_days(milestones: list[MilestoneState]) -> int:
    """How long a project is overdue: its longest-overdue open milestone's days past its
    date, counted to the milestones' as-of day (today unless asked otherwise). Every page
    and the API read a project's overdue days from here."""
    return max((m.overdue_days for m in milestones if m.status != "done"), default=0)


def overdue_projects(summaries: list[dict]) -> list[dict]:
    """The register's projects overdue on its as-of day, most overdue first."""
    late = [s for s in summaries if s["most_overdue_days"] > 0]
    return sorted(late, key=lambda s: (-s["most_overdue_days"], s["code"]))


def _summary(p: Project, milestones: list[MilestoneState], open_problems, parcels) -> dict:
    counts = Counter(m.status for m in milestones)
    upcoming = [m for m in milestones if m.status != "done"]
    return {
        "code": p.code,
        "name": p.name,
        "category": p.category,
        "district": p.district.name if p.district else None,
        "townships": [t.name for t in p.townships],
        "owner_unit": p.owner_unit,
        "responsible_unit": p.department,
        "first_responsible": p.first_responsible,
        "direct_responsible": p.direct_responsible,
        "deadline": p.deadline.isoformat() if p.deadline else None,
        "milestones_done": counts["done"],
        "milestones_due": counts["due"],
        "milestones_overdue": counts["overdue"],
        "most_overdue_days": most_overdue_days(milestones),
        "next_milestone": upcoming[0].as_dict() if upcoming else None,
        "open_problems": len(open_problems),
        "overdue_problems": sum(1 for x in open_problems if x.overdue),
        "parcels": parcels,
    }


def counts(projects: list[Project]) -> dict:
    """Project counts by category and by district (every category listed, zeros too)."""
    by_category = {c: 0 for c in CATEGORIES}
    by_district: dict[str, dict] = {}
    for p in projects:
        by_category[p.category or "未分类"] = by_category.get(p.category or "未分类", 0) + 1
        name = p.district.name if p.district else "未定"
        row = by_district.setdefault(name, {"total": 0, **{c: 0 for c in CATEGORIES}})
        row["total"] += 1
        row[p.category or "未分类"] = row.get(p.category or "未分类", 0) + 1
    return {"total": len(projects), "by_category": by_category, "by_district": by_district}


def _campaign_and_day(session: Session, campaign, as_of: date | None):
    """The campaign the register is read in (named, else the one holding the as-of day,
    else the one shown by default) and its day 截至."""
    chosen = campaigns.resolve(session, campaign, as_of=as_of)
    if as_of is not None and campaign and not chosen.contains(as_of):
        raise InvalidInput(
            f"as_of {as_of} is outside campaign {chosen.name} "
            f"({chosen.first_day} to {chosen.last_day})",
            rule="as_of_outside_campaign",
            params={"day": str(as_of), "campaign": chosen.name,
                    "first": str(chosen.first_day), "last": str(chosen.last_day)},
        )  # fmt: skip
    return chosen, chosen.reference_day(as_of)


def register(
    session: Session,
    as_of: date | None = None,
    district: str | None = None,
    category: str | None = None,
    campaign: "str | campaigns.CampaignView | None" = None,
) -> dict:
    """The register: counts, then each project's summary (overdue milestones first), as at
    the day every page is 截至 (the campaign's: today held within it, or the as-of day);
    parcels verified within the campaign's days."""
    chosen, day = _campaign_and_day(session, campaign, as_of)
    found = projects(session, district, category)
    states = milestone_states(session, found, day)
    open_by_project: dict[str, list[ProblemState]] = {}
    for x in problems(session, [p.code for p in found], day):
        if x.status == "open":
            open_by_project.setdefault(x.project, []).append(x)
    parcels = parcels_progress(session, as_of, chosen)
    summaries = [
        _summary(p, states[p.id], open_by_project.get(p.code, []), parcels.get(p.code, []))
        for p in found
    ]
    summaries.sort(key=lambda s: (-s["most_overdue_days"], s["code"]))
    return {
        "as_of": day.isoformat(),
        "campaign": chosen.name,
        "counts": counts(found),
        "projects": summaries,
    }


def project_detail(
    session: Session,
    code: str,
    as_of: date | None = None,
    campaign: "str | campaigns.CampaignView | None" = None,
) -> dict:
    chosen, day = _campaign_and_day(session, campaign, as_of)
    project = find_project(session, code)
    states = milestone_states(session, [project], day)[project.id]
    files = problems(session, [code], day)
    open_problems = [x for x in files if x.status == "open"]
    parcels = parcels_progress(session, as_of, chosen).get(code, [])
    detail = _summary(project, states, open_problems, parcels)
    detail.update(
        as_of=day.isoformat(),
        campaign=chosen.name,
        problem=project.problem,
        target=project.target,
        milestones=[m.as_dict() for m in states],
        problems=[x.as_dict() for x in files],
    )
    return detail
