"""The project register as pages for leaders: 项目台账 (/projects, with 仅看逾期), one
project (/projects/{code}), the problem files (问题清单, /problems) and the quantified
assessment of each responsible person (干部量化考核, /assessment).

Each page shows what the matching API returns (/api/projects, /api/projects/{code},
/api/problems) for the districts the user may see; overdue days are the register's
(``register.most_overdue_days``, counted to its today)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from geo_service.api.auth import PageUser
from geo_service.api.deps import SessionDep
from geo_service.api.projects import check_project, visible_problems, visible_register
from geo_service.campaign import assessment, register
from geo_service.campaign.projects import CATEGORIES
from geo_service.errors import Forbidden, NotFound
from geo_service.web import export_page, refusals
from geo_service.web.i18n import N_
from geo_service.web.login import campaign_choice, render
from geo_service.web.parcels import KIND_LABELS

ROLE_WORDS = {"first": N_("first responsible"), "direct": N_("direct responsible")}
MILESTONE_WORDS = {"done": N_("done"), "due": N_("due"), "overdue": N_("overdue")}
PROBLEM_WORDS = {"open": N_("open"), "solved": N_("solved")}
# The assessment's columns a reader may sort by: key → (label, value, largest first).
SORTS = {
    "person": (N_("Person"), lambda c: c["person"], False),
    "projects": (N_("Projects"), lambda c: len(c["projects"]), True),
    "overdue": (N_("Projects overdue"), lambda c: c["projects_overdue"], True),
    "on_time": (N_("Milestones on time"), lambda c: c["milestones_on_time"], True),
    "land": (N_("Land delivered"), lambda c: c["land_share"] or 0, True),
    "problems": (N_("Open problems"), lambda c: c["problems_open"], True),
}


def _filtered(projects: list[dict], township: str, overdue: bool) -> list[dict]:
    if township:
        projects = [p for p in projects if township in p["townships"]]
    return register.overdue_projects(projects) if overdue else projects


def register_pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/projects")
    def projects_page(
        request: Request,
        session: SessionDep,
        who: PageUser,
        district: str = "",
        township: str = "",
        category: str = "",
        overdue: bool = False,
        campaign: str = "",
    ):
        """项目台账: every project the user may see, most overdue first, in the campaign
        shown by default or picked."""
        allowed = refusals.own_districts(session, who)
        if district and allowed is not None and district not in allowed:
            return refusals.forbidden(request, session, who, "/projects")
        if category and category not in CATEGORIES:
            category = ""
        try:
            whole = register.register(
                session, district=district or None, category=category or None,
                campaign=campaign or None,
            )  # fmt: skip
        except NotFound:
            return refusals.not_found(request, who, campaign, "/projects")
        found = visible_register(session, who, whole)
        rows = _filtered(found["projects"], township, overdue)
        return render(
            request, "projects.html", user=who, rows=rows, as_of=found["as_of"],
            places=export_page._places(session, who), categories=CATEGORIES,
            **campaign_choice(session, whole["campaign"]),
            f={"district": district, "township": township, "category": category,
               "overdue": overdue},
        )  # fmt: skip

    @router.get("/projects/{code}")
    def project_page(
        request: Request, code: str, session: SessionDep, who: PageUser, campaign: str = ""
    ):
        """One project: responsibility list, milestones, parcels, problem file."""
        try:
            check_project(session, who, code)
            detail = register.project_detail(session, code, campaign=campaign or None)
        except NotFound:
            return refusals.not_found(request, who, campaign or code, "/projects")
        except Forbidden:
            return refusals.forbidden(request, session, who, "/projects")
        return render(
            request, "project.html", user=who, p=detail, milestone_words=MILESTONE_WORDS,
            problem_words=PROBLEM_WORDS, kind_names=KIND_LABELS,
            **campaign_choice(session, detail["campaign"]),
        )  # fmt: skip

    @router.get("/problems")
    def problems_page(
        request: Request, session: SessionDep, who: PageUser, open_only: bool = False
    ):
        """问题清单: the problem files, overdue first (what /api/problems returns)."""
        found = [x.as_dict() for x in visible_problems(session, who)]
        if open_only:
            found = [x for x in found if x["status"] == "open"]
        names = {p.code: p.name for p in register.projects(session)}
        return render(
            request, "problems.html", user=who, rows=found, names=names, open_only=open_only,
            problem_words=PROBLEM_WORDS, as_of=register.today().isoformat(),
        )  # fmt: skip

    @router.get("/assessment")
    def assessment_page(
        request: Request,
        session: SessionDep,
        who: PageUser,
        sort: Annotated[str, Query(pattern="^(" + "|".join(SORTS) + ")$")] = "overdue",
        desc: bool | None = None,
    ):
        """干部量化考核: one line per responsible person, sortable, printable."""
        allowed = refusals.own_districts(session, who)
        cards = assessment.scorecards(session, districts=None if allowed is None else set(allowed))
        _label, key, largest_first = SORTS[sort]
        descending = largest_first if desc is None else desc
        cards.sort(key=lambda c: c["person"])
        cards.sort(key=key, reverse=descending)  # stable: ties stay by name
        return render(
            request, "assessment.html", user=who, cards=cards, sorts=SORTS, sort=sort,
            descending=descending, role_words=ROLE_WORDS, as_of=register.today().isoformat(),
        )  # fmt: skip

    return router
