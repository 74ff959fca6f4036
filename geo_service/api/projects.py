"""The project register, milestones and problem files (问题档案).

Reads need a sign-in and show only the districts the user may see (the register names
responsible persons); writes are the admin's, recorded under their name and audited."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from geo_service import actions
from geo_service.accounts.permissions import check_read_district, visible_district_names
from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import CampaignQuery, Day, DayQuery, NameText, NoteText, SessionDep
from geo_service.campaign import register
from geo_service.campaign.projects import find_project
from geo_service.errors import Forbidden


class MilestoneDone(BaseModel):
    date: Day = Field(description="the milestone's date, as in the responsibility list")
    done_on: Day | None = Field(None, description="the day it was done; null withdraws")
    text: str | None = Field(None, description="the milestone's text, when a date has two")
    note: NoteText | None = None


class NewProblem(BaseModel):
    problem: NoteText = Field(min_length=1)
    responsible_unit: NameText | None = None
    person: NameText | None = None
    deadline: Day | None = None
    note: NoteText | None = None


class ProblemStatus(BaseModel):
    status: str = Field(pattern="^(open|solved)$", description="solved, or open to reopen")
    solved_on: Day | None = Field(None, description="default: today")
    note: NoteText | None = None


def check_project(session, who, code: str) -> None:
    project = find_project(session, code)
    if project.district is None:
        if visible_district_names(session, who) is not None:
            raise Forbidden(
                f"{who.username} may not see project {code} (no district)",
                rule="project_no_district",
                params={"user": who.username, "code": code},
            )
        return
    check_read_district(who, project.district)


def visible_register(session, who, found: dict) -> dict:
    names = visible_district_names(session, who)
    if names is None:
        return found
    projects = [p for p in found["projects"] if p["district"] in names]
    counts = found["counts"]
    by_district = {k: v for k, v in counts["by_district"].items() if k in names}
    by_category = {c: sum(row.get(c, 0) for row in by_district.values())
                   for c in counts["by_category"]}  # fmt: skip
    total = sum(row["total"] for row in by_district.values())
    counts = {"total": total, "by_category": by_category, "by_district": by_district}
    return {**found, "projects": projects, "counts": counts}


def visible_problems(session, who, project: str | None = None, as_of=None) -> list:
    """Problem files of the projects the user may see, overdue first."""
    found = register.problems(session, [project] if project else None, as_of)
    names = visible_district_names(session, who)
    if names is not None:
        allowed = {p.code for p in register.projects(session)
                   if p.district and p.district.name in names}  # fmt: skip
        found = [x for x in found if x.project in allowed]
    return found


def projects_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["projects"])
    category_query = Annotated[
        str | None, Query(description="项目前期推进, 重大项目建设, 征迁交地 or 两逾")
    ]

    @router.get("/projects", response_model=schemas.Register)
    def get_projects(
        session: SessionDep,
        who: SignedIn,
        as_of: DayQuery = None,
        district: str | None = None,
        category: category_query = None,
        campaign: CampaignQuery = None,
    ):
        """Counts by category and district, then every project (most overdue first) with
        its milestones' status, open problems and parcels' progress (verified within the
        campaign: named, else the one shown by default; `campaign` says which)."""
        found = register.register(
            session, as_of=as_of, district=district, category=category, campaign=campaign
        )
        return visible_register(session, who, found)

    @router.get("/projects/{code}", response_model=schemas.ProjectDetail)
    def get_project(
        code: str,
        session: SessionDep,
        who: SignedIn,
        as_of: DayQuery = None,
        campaign: CampaignQuery = None,
    ):
        """One project: responsibility list, milestones, parcels, problem file."""
        check_project(session, who, code)
        return register.project_detail(session, code, as_of=as_of, campaign=campaign)

    @router.get("/projects/{code}/milestones/history", response_model=list[schemas.Milestone])
    def get_milestone_history(code: str, session: SessionDep, who: SignedIn):
        check_project(session, who, code)
        return register.milestone_history(session, code)

    @router.post("/projects/{code}/milestones", response_model=schemas.Milestone)
    def post_milestone(code: str, body: MilestoneDone, session: SessionDep, who: SignedIn):
        """Record a milestone done on a day (or withdraw a completion with done_on null)."""
        state = actions.record_milestone(
            session, who, code, body.date, body.done_on, body.text, body.note
        )
        return state.as_dict()

    @router.get("/problems", response_model=list[schemas.Problem])
    def get_problems(
        session: SessionDep, who: SignedIn, project: str | None = None, as_of: DayQuery = None
    ):
        """Problem files, overdue first (longest overdue first), then open, then solved."""
        if project:
            check_project(session, who, project)
        return [x.as_dict() for x in visible_problems(session, who, project, as_of)]

    @router.post("/projects/{code}/problems", status_code=201, response_model=schemas.Problem)
    def post_problem(code: str, body: NewProblem, session: SessionDep, who: SignedIn):
        x = actions.file_problem(
            session, who, code, body.problem, body.responsible_unit, body.person,
            body.deadline, body.note,
        )  # fmt: skip
        return x.as_dict()

    @router.post("/problems/{problem_id}/status", response_model=schemas.Problem)
    def post_problem_status(
        problem_id: int, body: ProblemStatus, session: SessionDep, who: SignedIn
    ):
        x = actions.set_problem_status(
            session, who, problem_id, body.status, body.solved_on, body.note
        )
        return x.as_dict()

    @router.get("/problems/{problem_id}/history", response_model=list[schemas.ProblemVersion])
    def get_problem_history(problem_id: int, session: SessionDep, who: SignedIn):
        history = register.problem_history(session, problem_id)
        code = register.problem_project(session, problem_id)
        check_project(session, who, code)
        return history

    return router
