"""The project register, milestones and problem files (问题档案)."""

import datetime as dt
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from .. import register
from ..settings import get_settings
from .deps import SessionDep


class MilestoneDone(BaseModel):
    date: dt.date = Field(description="the milestone's date, as in the responsibility list")
    done_on: dt.date | None = Field(None, description="the day it was done; null withdraws")
    text: str | None = Field(None, description="the milestone's text, when a date has two")
    note: str | None = None
    actor: str | None = Field(None, description="who records it")


class NewProblem(BaseModel):
    problem: str = Field(min_length=1)
    responsible_unit: str | None = None
    person: str | None = None
    deadline: date | None = None
    note: str | None = None
    actor: str | None = None


class ProblemStatus(BaseModel):
    status: str = Field(pattern="^(open|solved)$", description="solved, or open to reopen")
    solved_on: date | None = Field(None, description="default: today")
    note: str | None = None
    actor: str | None = None


def _actor(given: str | None) -> str:
    return given or get_settings().default_actor


def projects_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["projects"])

    @router.get("/projects")
    def get_projects(
        session: SessionDep,
        as_of: date | None = None,
        district: str | None = None,
        category: Annotated[
            str | None, Query(description="项目前期推进, 重大项目建设, 征迁交地 or 两逾")
        ] = None,
    ):
        """Counts by category and district, then every project (most overdue first) with
        its milestones' status, open problems and parcels' progress."""
        return register.register(session, as_of=as_of, district=district, category=category)

    @router.get("/projects/{code}")
    def get_project(code: str, session: SessionDep, as_of: date | None = None):
        """One project: responsibility list, milestones, parcels, problem file."""
        return register.project_detail(session, code, as_of=as_of)

    @router.get("/projects/{code}/milestones/history")
    def get_milestone_history(code: str, session: SessionDep):
        return register.milestone_history(session, code)

    @router.post("/projects/{code}/milestones")
    def post_milestone(code: str, body: MilestoneDone, session: SessionDep):
        """Record a milestone done on a day (or withdraw a completion with done_on null)."""
        state = register.record_milestone(
            session, code, body.date, body.done_on, _actor(body.actor), body.text, body.note
        )
        return state.as_dict()

    @router.get("/problems")
    def get_problems(session: SessionDep, project: str | None = None, as_of: date | None = None):
        """Problem files, overdue first (longest overdue first), then open, then solved."""
        codes = [project] if project else None
        return [x.as_dict() for x in register.problems(session, codes, as_of)]

    @router.post("/projects/{code}/problems", status_code=201)
    def post_problem(code: str, body: NewProblem, session: SessionDep):
        x = register.add_problem(
            session, code, body.problem, _actor(body.actor), body.responsible_unit,
            body.person, body.deadline, body.note,
        )  # fmt: skip
        return x.as_dict()

    @router.post("/problems/{problem_id}/status")
    def post_problem_status(problem_id: int, body: ProblemStatus, session: SessionDep):
        x = register.set_problem_status(
            session, problem_id, body.status, _actor(body.actor), body.solved_on, body.note
        )
        return x.as_dict()

    @router.get("/problems/{problem_id}/history")
    def get_problem_history(problem_id: int, session: SessionDep):
        return register.problem_history(session, problem_id)

    return router
