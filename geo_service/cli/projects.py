"""`geo-service projects`: responsibility lists, the register, milestones, problem files."""

import json
import sys
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from geo_service.campaign.categories import CATEGORIES
from geo_service.catalogs import N_
from geo_service.cli.common import (
    ListFormat,
    _day,
    _fail,
    _name,
    _note,
    _text,
    acting_session,
    as_option,
    group,
    lazy,
    session_scope,
)
from geo_service.cli.language import words
from geo_service.errors import GeoServiceError

actions = lazy("geo_service.actions")
areas = lazy("geo_service.areas")
register = lazy("geo_service.campaign.register")

projects_app = group("projects", N_("Projects and their responsibility lists."))


@projects_app.command("import")
def projects_import(
    path: Path = typer.Argument(..., help=N_("a .csv (UTF-8) or .xlsx responsibility list")),
    sheet: str | None = typer.Option(None, help=N_("the workbook's sheet (default: the first)")),
    as_user: str | None = as_option(),
) -> None:
    """Create or update projects (matched by code) from a CSV or XLSX responsibility list,
    all or nothing.

    Headers in English or Chinese: code/项目编号, name/项目名称, category/类别,
    district/所属区县, problem/存在问题, target/目标, deadline/完成时限,
    milestones/时间节点 ("2017-03-31 完成征迁; 2017-06-30 交地"), department/责任单位,
    first_responsible/第一责任人, direct_responsible/直接责任人.

    Examples:

      geo-service projects import geo_service/data/parcels/demo_projects.csv

      geo-service projects import 责任清单.xlsx --sheet 晋安区
    """
    with acting_session(as_user) as (session, who):
        counts = actions.import_project_list(session, who, path, sheet)
    said = N_("projects: %(created)s created, %(updated)s updated, %(unchanged)s unchanged")
    typer.echo(words(said, **counts))


def _json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@projects_app.command("list")
def projects_list(
    as_of: str | None = typer.Option(
        None, "--as-of", help=N_("milestones as at the end of this day")
    ),
    district: str | None = typer.Option(None, help=N_("only this district's projects")),
    category: str | None = typer.Option(None, help=f"only one of {', '.join(CATEGORIES)}"),
    campaign: str | None = typer.Option(
        None,
        help=N_("parcels verified in this campaign (default: the one under way, else the latest)"),
    ),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """The project register: counts by category and district, then each project with its
    milestones (done / due / overdue by N days), open problems and parcels' progress;
    the most overdue first.

    Examples:

      geo-service projects list --as-of 2017-06-30

      geo-service projects list --district 仓山区 --category 两逾 --format json
    """
    day = _day(as_of)
    try:
        with session_scope() as session:
            found = register.register(
                session, as_of=day, district=district, category=category, campaign=campaign
            )
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is ListFormat.json:
        _json(found)
        return
    sys.stdout.write(_counts_table(found["counts"]))
    title = words(N_("%(campaign)s: projects as of %(day)s"), campaign=found["campaign"],
                  day=found["as_of"])  # fmt: skip
    table = Table(title=title)
    for name in (N_("code"), N_("name"), N_("category"), N_("district"), N_("milestones"),
                 N_("overdue"), N_("problems"), N_("verified / planned")):  # fmt: skip
        table.add_column(words(name))
    for p in found["projects"]:
        table.add_row(
            p["code"],
            p["name"],
            p["category"] or "",
            p["district"] or "",
            words(
                N_("%(done)s done, %(due)s due, %(overdue)s overdue"),
                done=p["milestones_done"],
                due=p["milestones_due"],
                overdue=p["milestones_overdue"],
            ),
            words(N_("%(days)s d"), days=p["most_overdue_days"]) if p["most_overdue_days"] else "",
            words(
                N_("%(open)s open (%(overdue)s overdue)"),
                open=p["open_problems"],
                overdue=p["overdue_problems"],
            ),
            _parcels_text(p["parcels"]),
        )
    sys.stdout.write(_text(table))


def _counts_table(counts: dict) -> str:
    table = Table(title=words(N_("%(count)s project(s) by category and district"),
                              count=counts["total"]))  # fmt: skip
    categories = list(counts["by_category"])
    for name in (N_("district"), *categories, N_("total")):
        table.add_column(words(name), justify="left" if name == "district" else "right")
    for district, row in counts["by_district"].items():
        table.add_row(district, *(str(row.get(c, 0)) for c in categories), str(row["total"]))
    table.add_row(words(N_("total")), *(str(counts["by_category"][c]) for c in categories),
                  str(counts["total"]))  # fmt: skip
    return _text(table)


def _parcels_text(parcels: list[dict]) -> str:
    return "; ".join(
        words(
            N_("%(kind)s %(verified)s/%(planned)s mu"),
            kind=words(x["kind"]),
            verified=f"{areas.m2_to_mu(x['verified_m2']):,.1f}",
            planned=f"{areas.m2_to_mu(x['planned_m2']):,.1f}",
        )
        for x in parcels
    )


@projects_app.command("show")
def projects_show(
    code: str = typer.Argument(..., help=N_("project code")),
    as_of: str | None = typer.Option(None, "--as-of", help=N_("as at the end of this day")),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """One project: responsibility list, milestones with their status, parcels' progress
    and the problem file (overdue first).

    Example: geo-service projects show JA2017-001 --as-of 2017-06-30
    """
    day = _day(as_of)
    try:
        with session_scope() as session:
            p = register.project_detail(session, code, as_of=day)
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is ListFormat.json:
        _json(p)
        return
    typer.echo("\n".join(_detail_lines(p)))


def _detail_lines(p: dict) -> list[str]:
    """`projects show` in the command's language (names and texts as they are)."""
    keys = ("owner_unit", "responsible_unit", "first_responsible", "direct_responsible")
    dash = {k: p[k] or "—" for k in (*keys, "problem", "target")}
    milestones = [_milestone_line(m["date"], m["text"], _milestone_text(m))
                  for m in p["milestones"]]  # fmt: skip
    return [
        f"{p['code']} {p['name']} [{p['category']}] {p['district']} {'、'.join(p['townships'])}",
        words(_PEOPLE, **dash),
        words(
            N_("problem %(problem)s; target %(target)s; as of %(as_of)s"), **dash, as_of=p["as_of"]
        ),
        words(N_("milestones:")),
        *(f"  {line}" for line in milestones),
        words(N_("parcels: %(parcels)s"), parcels=_parcels_text(p["parcels"]) or words(N_("none"))),
        words(N_("problems (overdue first):")),
        *(f"  {_problem_line(x)}" for x in p["problems"]),
    ]


_PEOPLE = N_(
    "owner unit %(owner_unit)s; responsible unit %(responsible_unit)s; first "
    "responsible %(first_responsible)s; direct responsible %(direct_responsible)s"
)


def _problem_line(x: dict) -> str:
    return words(
        N_("#%(id)s %(problem)s — %(unit)s %(person)s, deadline %(deadline)s: %(state)s"),
        id=x["id"],
        problem=x["problem"],
        unit=x["responsible_unit"] or "",
        person=x["person"] or "",
        deadline=x["deadline"] or "—",
        state=_problem_text(x),
    )


def _milestone_line(day, text: str, state: str) -> str:
    return words(N_("%(day)s %(milestone)s: %(state)s"), day=day, milestone=text, state=state)


def _milestone_text(m: dict) -> str:
    if m["status"] == "done" and m["overdue_days"]:
        return words(N_("done %(day)s, %(days)s day(s) late"), day=m["done_on"],
                     days=m["overdue_days"])  # fmt: skip
    if m["status"] == "done":
        return words(N_("done %(day)s, on time"), day=m["done_on"])
    if m["status"] == "overdue":
        return words(N_("overdue by %(days)s day(s)"), days=m["overdue_days"])
    return words(N_("due"))


def _problem_text(x: dict) -> str:
    if x["status"] == "solved":
        return words(N_("solved %(day)s"), day=x["solved_on"])
    if x["overdue"]:
        return words(N_("open, overdue by %(days)s day(s)"), days=x["overdue_days"])
    return words(N_("open"))


@projects_app.command("milestone")
def projects_milestone(
    code: str = typer.Argument(..., help=N_("project code")),
    due: str = typer.Option(..., "--date", help=N_("the milestone's date, YYYY-MM-DD")),
    done: str | None = typer.Option(None, "--done", help=N_("the day it was done (default today)")),
    text: str | None = typer.Option(None, help=N_("the milestone's text, when a date has two")),
    withdraw: bool = typer.Option(False, help=N_("withdraw a completion recorded by mistake")),
    note: str | None = typer.Option(None, callback=_note),
    as_user: str | None = as_option(),
) -> None:
    """Record a milestone done (kept with who and when; a withdrawal is a record too).

    Example: geo-service projects milestone JA2017-001 --date 2017-03-31 --done 2017-03-25
    """
    due_on = _date_option(due, "--date")
    done_on = None if withdraw else (_date_option(done, "--done") if done else register.today())
    with acting_session(as_user) as (session, who):
        state = actions.record_milestone(session, who, code, due_on, done_on, text, note)
    if done_on is None:
        said = words(N_("completion withdrawn"))
    else:
        said = _milestone_text(state.as_dict())
    typer.echo(f"{code} {_milestone_line(due_on, state.text, said)}")


@projects_app.command("problem-add")
def projects_problem_add(
    code: str = typer.Argument(..., help=N_("project code")),
    problem: str = typer.Option(..., callback=_note, help=N_("the problem to solve")),
    unit: str | None = typer.Option(None, callback=_name, help=N_("responsible unit (责任单位)")),
    person: str | None = typer.Option(None, callback=_name, help=N_("responsible person (责任人)")),
    deadline: str | None = typer.Option(None, help=N_("YYYY-MM-DD")),
    note: str | None = typer.Option(None, callback=_note),
    as_user: str | None = as_option(),
) -> None:
    """File a problem in the project's problem file (问题档案).

    Example: geo-service projects problem-add JA2017-024 --problem 开发商未完成竣工验收
    --unit 区住建局 --person 沈国平 --deadline 2017-08-31
    """
    day = _date_option(deadline, "--deadline") if deadline else None
    with acting_session(as_user) as (session, who):
        x = actions.file_problem(session, who, code, problem, unit, person, day, note)
    typer.echo(words(N_("problem #%(id)s filed for %(code)s"), id=x.id, code=code))


@projects_app.command("problem-solve")
def projects_problem_solve(
    problem_id: int = typer.Argument(..., help=N_("the problem's number (#ID)")),
    on: str | None = typer.Option(None, help=N_("the day it was solved (default today)")),
    reopen: bool = typer.Option(False, help=N_("reopen a solved problem instead")),
    note: str | None = typer.Option(None, callback=_note),
    as_user: str | None = as_option(),
) -> None:
    """Mark a problem solved (or reopen it); every change is a new version.

    Example: geo-service projects problem-solve 3 --on 2017-09-12 --note 已补缴
    """
    day = _date_option(on, "--on") if on else None
    with acting_session(as_user) as (session, who):
        status = "open" if reopen else "solved"
        x = actions.set_problem_status(session, who, problem_id, status, day, note)
    said = words(N_("problem #%(id)s: %(state)s"), id=x.id, state=_problem_text(x.as_dict()))
    typer.echo(said)


@projects_app.command("problems")
def projects_problems(
    code: str | None = typer.Argument(None, help=N_("one project's file (default: every project)")),
    as_of: str | None = typer.Option(None, "--as-of", help=N_("as at the end of this day")),
    history: int | None = typer.Option(None, help=N_("every version of problem #ID instead")),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """Problem files, overdue first (longest overdue first), then open, then solved.

    Examples:

      geo-service projects problems --as-of 2017-06-30

      geo-service projects problems --history 3 --format json
    """
    day = _day(as_of)
    try:
        with session_scope() as session:
            if history is not None:
                rows = register.problem_history(session, history)
            else:
                rows = [
                    x.as_dict() for x in register.problems(session, [code] if code else None, day)
                ]
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is ListFormat.json:
        _json(rows)
        return
    columns = list(rows[0]) if rows else ["id", "problem"]
    table = Table(
        title=words(N_("Problem history") if history is not None else N_("Problem files"))
    )
    for name in columns:
        table.add_column(words(_PROBLEM_HEADINGS.get(name, name)))
    for row in rows:
        table.add_row(*(_problem_cell(c, row[c]) for c in columns))
    sys.stdout.write(_text(table))


# The problem file's columns (its JSON keys), as the table heads them.
_PROBLEM_HEADINGS = {
    "id": N_("id"), "project": N_("project"), "problem": N_("problem"),
    "responsible_unit": N_("responsible_unit"), "person": N_("person"),
    "deadline": N_("deadline"), "status": N_("status"), "solved_on": N_("solved_on"),
    "overdue": N_("overdue"), "overdue_days": N_("days_overdue"), "note": N_("note"),
    "version": N_("version"), "changed_by": N_("changed_by"), "changed_at": N_("changed_at"),
}  # fmt: skip


def _problem_cell(column: str, value) -> str:
    if value is None:
        return ""
    if column == "status":
        return words(value)  # open, solved
    if isinstance(value, bool):
        return words(N_("yes")) if value else words(N_("no"))
    return str(value)


def _date_option(value: str, name: str) -> date:
    return _day(value, name)
