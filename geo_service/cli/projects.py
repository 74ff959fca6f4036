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
    typer.echo(
        f"projects: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )


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
    table.add_row("合计", *(str(counts["by_category"][c]) for c in categories),
                  str(counts["total"]))  # fmt: skip
    return _text(table)


def _parcels_text(parcels: list[dict]) -> str:
    return "; ".join(
        f"{x['kind']} {areas.m2_to_mu(x['verified_m2']):,.1f}/"
        f"{areas.m2_to_mu(x['planned_m2']):,.1f} mu"
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
    lines = [
        f"{p['code']} {p['name']} [{p['category']}] {p['district']} {'、'.join(p['townships'])}",
        f"业主单位 {p['owner_unit'] or '—'}; 责任单位 {p['responsible_unit'] or '—'}; "
        f"第一责任人 {p['first_responsible'] or '—'}; 直接责任人 {p['direct_responsible'] or '—'}",
        f"问题 {p['problem'] or '—'}; 目标 {p['target'] or '—'}; as of {p['as_of']}",
        "milestones:",
        *(f"  {m['date']} {m['text']}: {_milestone_text(m)}" for m in p["milestones"]),
        f"parcels: {_parcels_text(p['parcels']) or 'none'}",
        "problems (overdue first):",
        *(
            f"  #{x['id']} {x['problem']} — {x['responsible_unit'] or ''} {x['person'] or ''}, "
            f"deadline {x['deadline'] or '—'}: {_problem_text(x)}"
            for x in p["problems"]
        ),  # fmt: skip
    ]
    typer.echo("\n".join(lines))


def _milestone_text(m: dict) -> str:
    if m["status"] == "done":
        late = f", {m['overdue_days']} day(s) late" if m["overdue_days"] else ", on time"
        return f"done {m['done_on']}{late}"
    if m["status"] == "overdue":
        return f"overdue by {m['overdue_days']} day(s)"
    return "due"


def _problem_text(x: dict) -> str:
    if x["status"] == "solved":
        return f"solved {x['solved_on']}"
    return f"open, overdue by {x['overdue_days']} day(s)" if x["overdue"] else "open"


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
        typer.echo(f"{code} {due_on} {state.text}: completion withdrawn")
    else:
        typer.echo(f"{code} {due_on} {state.text}: {_milestone_text(state.as_dict())}")


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
    typer.echo(f"problem #{x.id} filed for {code}")


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
    typer.echo(f"problem #{x.id}: {_problem_text(x.as_dict())}")


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
    columns = list(rows[0]) if rows else ["id"]
    table = Table(
        title=words(N_("Problem history") if history is not None else N_("Problem files"))
    )
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    sys.stdout.write(_text(table))


def _date_option(value: str, name: str) -> date:
    return _day(value, name)
