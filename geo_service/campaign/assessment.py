"""The quantified assessment of each responsible person (对干部个人的量化考核).

One scorecard per person named first responsible (第一责任人) or direct responsible
(直接责任人) of a project, counted over those projects as they stood at the end of the
as-of day (today unless asked otherwise, the register's day):

- milestones: done on or before their date, done late, overdue (open past their date),
  and the person's projects overdue (``register.most_overdue_days`` above zero);
- land delivered against target: the verified area of the projects' land parcels against
  the area of all their planned land parcels (a project's land target is its parcels);
- problems: open, open past their deadline, solved within or past their deadline.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from geo_service.areas import m2_to_mu
from geo_service.campaign import register

ROLES = ("first", "direct")


@dataclass
class Scorecard:
    person: str
    projects: list[dict] = field(default_factory=list)  # code, name, district, role
    milestones_on_time: int = 0
    milestones_late: int = 0
    milestones_overdue: int = 0
    projects_overdue: int = 0
    most_overdue_days: int = 0
    land_verified_m2: float = 0.0
    land_planned_m2: float = 0.0
    problems_open: int = 0
    problems_overdue: int = 0
    problems_solved_on_time: int = 0
    problems_solved_late: int = 0

    @property
    def land_share(self) -> float | None:
        return self.land_verified_m2 / self.land_planned_m2 if self.land_planned_m2 else None

    def as_dict(self) -> dict:
        return {
            "person": self.person,
            "projects": self.projects,
            "milestones_on_time": self.milestones_on_time,
            "milestones_late": self.milestones_late,
            "milestones_overdue": self.milestones_overdue,
            "projects_overdue": self.projects_overdue,
            "most_overdue_days": self.most_overdue_days,
            "land_verified_mu": round(m2_to_mu(self.land_verified_m2), 1),
            "land_planned_mu": round(m2_to_mu(self.land_planned_m2), 1),
            "land_share": self.land_share,
            "problems_open": self.problems_open,
            "problems_overdue": self.problems_overdue,
            "problems_solved_on_time": self.problems_solved_on_time,
            "problems_solved_late": self.problems_solved_late,
        }


def scorecards(
    session: Session, as_of: date | None = None, districts: set[str] | None = None
) -> list[dict]:
    """Every responsible person's scorecard over the projects of `districts` (None: all),
    most overdue projects first, then by name."""
    day = as_of or register.today()
    projects = [
        p
        for p in register.projects(session)
        if districts is None or (p.district and p.district.name in districts)
    ]
    states = register.milestone_states(session, projects, day)
    files: dict[str, list] = {}
    for x in register.problems(session, [p.code for p in projects], day):
        files.setdefault(x.project, []).append(x)
    land = {
        code: next((k for k in kinds if k["kind"] == "land"), None)
        for code, kinds in register.parcels_progress(session, as_of).items()
    }
    cards: dict[str, Scorecard] = {}
    for p in projects:
        people = {"first": p.first_responsible, "direct": p.direct_responsible}
        for role in ROLES:
            if people[role]:
                card = cards.setdefault(people[role], Scorecard(people[role]))
                _count(card, p, role, states[p.id], files.get(p.code, []), land.get(p.code))
    found = sorted(cards.values(), key=lambda c: (-c.projects_overdue, c.person))
    return [c.as_dict() for c in found]


def _count(card: Scorecard, project, role: str, milestones, problems, land) -> None:
    late_days = register.most_overdue_days(milestones)
    card.projects.append(
        {
            "code": project.code,
            "name": project.name,
            "district": project.district.name if project.district else None,
            "role": role,
            "overdue_days": late_days,
        }
    )
    card.projects_overdue += late_days > 0
    card.most_overdue_days = max(card.most_overdue_days, late_days)
    for m in milestones:
        card.milestones_on_time += m.on_time is True
        card.milestones_late += m.status == "done" and m.on_time is False
        card.milestones_overdue += m.status == "overdue"
    for x in problems:
        if x.status == "open":
            card.problems_open += 1
            card.problems_overdue += x.overdue
        elif x.overdue_days > 0:
            card.problems_solved_late += 1
        else:
            card.problems_solved_on_time += 1
    if land:
        card.land_verified_m2 += land["verified_m2"]
        card.land_planned_m2 += land["planned_m2"]
