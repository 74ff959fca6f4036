"""`geo-service relocation`: resettlement projects, rosters, flats, 两逾 lists, 清零."""

import csv
import io
import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from geo_service.catalogs import N_
from geo_service.cli.common import (
    Format,
    _day,
    _fail,
    _note,
    _text,
    _year,
    acting,
    acting_session,
    as_option,
    fail_acting,
    group,
    lazy,
    refused,
    session_scope,
)
from geo_service.cli.language import ACCEPTED, CHECKED, COUNTS, OUTCOMES, _, words
from geo_service.errors import GeoServiceError, UploadRefused

permissions = lazy("geo_service.accounts.permissions")
relocation = lazy("geo_service.relocation.households")
relocation_actions = lazy("geo_service.relocation.actions")
relocation_tallies = lazy("geo_service.relocation.tallies")

relocation_app = group(
    "relocation", N_("Relocation (回迁): resettlement projects, households, flats, overdue lists.")
)


class OverdueKind(StrEnum):
    handover = "handover"
    title = "title"


def _date_option(value: str | None, name: str) -> date | None:
    return _day(value, name)


def _flats_by_size(value: str | None) -> dict[str, int]:
    """'90:120,120:80' → {'90': 120, '120': 80}."""
    if not value:
        return {}
    found = {}
    for item in value.replace("，", ",").split(","):
        size, sep, count = item.partition(":")
        if not sep or not count.strip().isdigit():
            _fail(
                GeoServiceError(f"--flats takes size:count pairs like 90:120,120:80, not {item!r}")
            )
        found[size.strip()] = int(count)
    return found


@relocation_app.command("project")
def project_command(
    code: str = typer.Argument(..., help=N_("resettlement project code, e.g. JA-AZ-01")),
    name: str = typer.Option(..., help=N_("project name, e.g. 新店安置房一期")),
    district: str = typer.Option(..., help=N_("district, e.g. 晋安区")),
    townships: str = typer.Option(..., help=N_("townships served, comma-separated: 新店镇,鼓山镇")),
    site: Path | None = typer.Option(None, help=N_("site outline: any file `import` accepts")),
    site_crs: str | None = typer.Option(None, help=N_("override the site file's CRS")),
    flats: str | None = typer.Option(None, help=N_("flats planned per size class: 90:120,120:80")),
    floor_area: float | None = typer.Option(None, "--floor-area", help=N_("total floor area, m²")),
    planned_completion: str | None = typer.Option(None, help=N_("YYYY-MM-DD")),
    actual_completion: str | None = typer.Option(None, help=N_("YYYY-MM-DD")),
    responsibility: str | None = typer.Option(
        None, help=N_("code of the responsibility list (projects) naming unit, person, deadline")
    ),
    as_user: str | None = as_option(),
) -> None:
    """Create or update a resettlement project (安置房项目); admins only.

    Example:

      geo-service relocation project JA-AZ-01 --name 新店安置房一期 --district 晋安区
      --townships 新店镇,鼓山镇 --site site.gpkg --flats 90:120,120:80 --floor-area 24000
      --planned-completion 2017-09-30 --responsibility JA-2017-003
    """
    with acting_session(as_user) as (session, who):
        project, outcome = relocation_actions.save_project(
            session,
            who,
            code=code,
            name=name,
            district=district,
            townships=[t.strip() for t in townships.replace("，", ",").split(",") if t.strip()],
            flats_by_size=_flats_by_size(flats),
            floor_area_m2=floor_area,
            planned_completion=_date_option(planned_completion, "--planned-completion"),
            actual_completion=_date_option(actual_completion, "--actual-completion"),
            responsibility=responsibility,
            site=site,
            site_crs=site_crs,
        )
        site_m2 = project.site_m2
    site_text = _(", site %(m2)s m²") % {"m2": f"{site_m2:,.1f}"} if site_m2 else ""
    typer.echo(f"{code}: {_(OUTCOMES.get(outcome, outcome))}{site_text}")


def _import(importer, path: Path, dry_run: bool, output_json: bool, report_csv, as_user) -> None:
    try:
        with session_scope() as session:
            report = importer(session, acting(session, as_user), path, dry_run=dry_run)
    except UploadRefused as exc:
        report = exc.report
        if report is not None and report_csv:
            report_csv.write_text(report.problems_csv(), encoding="utf-8")
        if output_json and report is not None:
            typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        refused(exc)
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    if output_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    verb = _(CHECKED) if dry_run else _(ACCEPTED)
    said = {"households": _("%(count)s household(s)"), "flats": _("%(count)s flat(s)")}
    rows = said[report.kind] % {"count": report.rows}
    typer.echo(
        _("%(file)s: %(verb)s: %(rows)s") % {"file": report.filename, "verb": verb, "rows": rows}
    )
    if not dry_run:
        typer.echo(f"  {_(COUNTS) % vars(report)}")


_DRY = typer.Option(False, "--dry-run", help=N_("check and report, store nothing"))
_JSON = typer.Option(False, "--json", help=N_("print the report as JSON"))
_CSV = typer.Option(
    None, "--report-csv", help=N_("write the problems as CSV (file,row,ref,rule,message)")
)


@relocation_app.command("households")
def households_command(
    path: Path = typer.Argument(..., help=N_("household roster (被征迁户花名册), .csv or .xlsx")),
    dry_run: bool = _DRY,
    output_json: bool = _JSON,
    report_csv: Path | None = _CSV,
    as_user: str | None = as_option(),
) -> None:
    """Import a household roster, all or nothing.

    Headers: 户号, 户主姓名, 身份证号 (kept only as a keyed hash), 地块编号, 乡镇, 拆除面积,
    补偿方式 (产权调换/货币补偿/混合), 安置项目, 应安置套数, 应安置面积, 过渡开始日期,
    月过渡费, 承诺交房日期, 办证期限.

    Example: geo-service relocation households 花名册.xlsx --report-csv problems.csv
    """
    _import(relocation_actions.import_households, path, dry_run, output_json, report_csv, as_user)


@relocation_app.command("flats")
def flats_command(
    path: Path = typer.Argument(..., help=N_("flat list (房源清单), .csv or .xlsx")),
    dry_run: bool = _DRY,
    output_json: bool = _JSON,
    report_csv: Path | None = _CSV,
    as_user: str | None = as_option(),
) -> None:
    """Import a flat list with allocations, hand-over and title dates, all or nothing.

    Headers: 安置项目, 楼栋, 房号, 户型, 建筑面积, 户号 (allocated to), 分配日期, 交房日期,
    办证日期.

    Example: geo-service relocation flats 房源清单.csv
    """
    _import(relocation_actions.import_flats, path, dry_run, output_json, report_csv, as_user)


def _flat_step(step: str, project, building, unit, day: str, as_user, household=None):
    on = _date_option(day, "--on")
    with acting_session(as_user) as (session, who):
        outcome = relocation_actions.flat_step(
            session, who, step, project, building, unit, on, household
        )
    said = _(OUTCOMES.get(outcome, outcome))
    typer.echo(f"{project} {building}-{unit}: {said}")


@relocation_app.command("allocate")
def allocate_command(
    project: str,
    building: str,
    unit: str,
    household: str = typer.Option(..., help=N_("household 户号")),
    on: str = typer.Option(..., help=N_("allocation day YYYY-MM-DD")),
    as_user: str | None = as_option(),
) -> None:
    """Allocate a flat to a household (房源调度): never a flat twice, never more than due.

    Example: geo-service relocation allocate JA-AZ-01 3 1201 --household XD-0001 --on 2017-05-02
    """
    _flat_step("allocate", project, building, unit, on, as_user, household=household)


@relocation_app.command("handover")
def handover_command(
    project: str,
    building: str,
    unit: str,
    on: str = typer.Option(..., help=N_("hand-over (交房) day YYYY-MM-DD")),
    as_user: str | None = as_option(),
) -> None:
    """Record a flat's hand-over (交房).

    Example: geo-service relocation handover JA-AZ-01 3 1201 --on 2017-08-15
    """
    _flat_step("handover", project, building, unit, on, as_user)


@relocation_app.command("certify")
def certify_command(
    project: str,
    building: str,
    unit: str,
    on: str = typer.Option(..., help=N_("title certificate (办证) day YYYY-MM-DD")),
    as_user: str | None = as_option(),
) -> None:
    """Record a flat's title certificate (办证).

    Example: geo-service relocation certify JA-AZ-01 3 1201 --on 2017-11-30
    """
    _flat_step("certify", project, building, unit, on, as_user)


def _signoff(action, as_user, ref: str, *args) -> None:
    with acting_session(as_user) as (session, who):
        found = action(session, who, ref, *args)
    if found["signoff"] == "verified":
        said = _("%(ref)s: signed off by %(signed_off_by)s (%(group)s) on %(signed_off_on)s, "
                 "version %(version)s")  # fmt: skip
    else:
        said = _("%(ref)s: disputed by %(changed_by)s: %(dispute_reason)s")
    typer.echo(said % {**found, "ref": ref})


@relocation_app.command("verify")
def verify_command(
    household: str = typer.Argument(..., help=N_("household 户号")),
    on: str | None = typer.Option(None, help=N_("sign-off day YYYY-MM-DD (default: today)")),
    note: str | None = typer.Option(None, callback=_note, help=N_("the verifier's remark")),
    as_user: str | None = as_option(),
) -> None:
    """Sign a household's relocation off (回迁核验): a verifier of 回迁核验组 in the
    household's township, once every flat it is due is handed over.

    Example: geo-service relocation verify XD-H0001 --on 2017-08-20 --as 林秀英
    """
    _signoff(relocation_actions.sign_off, as_user, household, _date_option(on, "--on"), note)


@relocation_app.command("dispute")
def dispute_command(
    household: str = typer.Argument(..., help=N_("household 户号")),
    reason: str = typer.Option(
        ..., callback=_note, help=N_("why the sign-off is disputed (returned)")
    ),
    as_user: str | None = as_option(),
) -> None:
    """Dispute (return) a signed-off household, with a reason: 回迁核验组 only.

    Example: geo-service relocation dispute XD-H0001 --reason "面积与合同不符" --as 林秀英
    """
    _signoff(relocation_actions.dispute, as_user, household, reason)


@relocation_app.command("list")
def list_command(
    township: str | None = typer.Option(None),
    project: str | None = typer.Option(None, help=N_("resettlement project code")),
    show_names: bool = typer.Option(
        False, "--show-names", help=N_("names in full where your role may see them (else 林*伟)")
    ),
    as_user: str | None = as_option(),
) -> None:
    """Households with their flats, as JSON; names masked unless --show-names.

    Example: geo-service relocation list --township 新店镇
    """
    try:
        with session_scope() as session:
            names = show_names and permissions.personal_townships(acting(session, as_user))
            rows = relocation.list_households(session, township, project, names)
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))


@relocation_app.command("history")
def history_command(
    household: str = typer.Argument(..., help=N_("household 户号")),
    show_names: bool = typer.Option(
        False, "--show-names", help=N_("names in full where your role may see them (else masked)")
    ),
    as_user: str | None = as_option(),
) -> None:
    """Every version of a household and of its flats: who, when, before and after.

    Example: geo-service relocation history XD-H0001
    """
    try:
        with session_scope() as session:
            names = show_names and permissions.personal_townships(acting(session, as_user))
            found = relocation.find_household(session, household)
            rows = {"household": relocation.history(session, "household", found.id, names)}
            rows["flats"] = [
                relocation.history(session, "flat", flat_id)
                for flat_id in relocation.flat_ids(session, found.id)
            ]
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))


@relocation_app.command("overdue")
def overdue_command(
    as_of: str | None = typer.Option(
        None, "--as-of", help=N_("as it stood at the end of YYYY-MM-DD")
    ),
    kind: OverdueKind | None = typer.Option(
        None, help=N_("handover (逾期未回迁) or title (逾期未办证)")
    ),
    district: str | None = typer.Option(None),
    fmt: Format = typer.Option(Format.table, "--format"),
    show_names: bool = typer.Option(
        False, "--show-names", help=N_("names in full where your role may see them (else masked)")
    ),
    as_user: str | None = as_option(),
) -> None:
    """The 两逾 lists: households past their promised hand-over without keys (逾期未回迁)
    and past their certificate deadline without titles (逾期未办证), days overdue, the
    transition allowance paid so far, and who is responsible.

    Example: geo-service relocation overdue --as-of 2017-12-31 --format csv
    """
    day = _day(as_of)
    try:
        with session_scope() as session:
            names = show_names and permissions.personal_townships(acting(session, as_user))
            cases = relocation_tallies.overdue(
                session, day, district, kind.value if kind else None, names
            )
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    records = [c.as_dict() for c in cases]
    if fmt is not Format.table:
        sys.stdout.write(_dump(records, fmt))
        return
    table = Table(title=words(N_("两逾 (%(count)s case(s))"), count=len(records)))
    columns = (
        N_("label"),
        N_("household"),
        N_("head_name"),
        N_("township"),
        N_("project"),
        "due",
        N_("days_overdue"),
        N_("allowance_paid"),
        N_("responsible_unit"),
        N_("responsible_person"),
        N_("deadline"),
    )
    for name in columns:
        # "due" is also a milestone's state (未到期): the column is the day it was due.
        table.add_column(words(N_("due day") if name == "due" else name))
    for r in records:
        table.add_row(*["" if r[c] is None else str(r[c]) for c in columns])
    sys.stdout.write(_text(table, width=200))


@relocation_app.command("clearance")
def clearance_command(
    year: int | None = typer.Option(None, callback=_year),
    as_of: str | None = typer.Option(None, "--as-of", help=N_("YYYY-MM-DD")),
    fmt: Format = typer.Option(Format.table, "--format"),
) -> None:
    """清零: open 两逾 cases per district at the start of the year and now, with the
    month-end history.

    Example: geo-service relocation clearance --as-of 2017-12-31 --format json
    """
    day = _day(as_of)
    try:
        with session_scope() as session:
            rows = relocation_tallies.clearance(session, year, day)
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is Format.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    flat = [{k: v for k, v in r.items() if k != "history"} for r in rows]
    if fmt is Format.csv:
        sys.stdout.write(_dump(flat, fmt))
        return
    table = Table(title=words(N_("清零: open 两逾 cases")))
    columns = (
        N_("district"),
        N_("open_at_start"),
        N_("cleared"),
        N_("opened"),
        N_("open_now"),
        N_("open_handover_now"),
        N_("open_title_now"),
    )
    for name in columns:
        table.add_column(words(name))
    for r in flat:
        table.add_row(*[str(r[c]) for c in columns])
    sys.stdout.write(_text(table))


def _dump(records: list[dict], fmt: Format) -> str:
    if fmt is Format.json:
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    buffer = io.StringIO()
    fields = list(records[0]) if records else ["district"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


# The relocation tally's headings: planned, handed over, certified and target of each count.
_STAGE_HEADINGS = {
    "households": (N_("households planned"), N_("households handed over"),
                   N_("households certified"), N_("households target")),
    "flats": (N_("flats planned"), N_("flats handed over"), N_("flats certified"),
              N_("flats target")),
    "m2": (N_("m² planned"), N_("m² handed over"), N_("m² certified"), N_("m² target")),
}  # fmt: skip


def tally_table(records: list[dict], by: str) -> str:
    """The relocation tally as a table (`geo-service tally --kind relocation`)."""
    table = Table(title=words(N_("Relocation (回迁) by %(by)s"), by=words(by)))
    columns = ["district", "township", "project"][: {"district": 1, "township": 2}.get(by, 3)]
    numbers = ["households", "flats", "m2"]
    for name in columns:
        table.add_column(words(name))
    for key in numbers:
        for heading in _STAGE_HEADINGS[key]:
            table.add_column(words(heading), justify="right")
    table.add_column(words(N_("signed off")), justify="right")  # households, by 回迁核验组
    table.add_column(words(N_("progress")), justify="right")
    for r in records:
        cells = [str(r[c] or "") for c in columns]
        for key in numbers:
            for stage in ("planned", "handed_over", "certified"):
                cells.append(_number(r[f"{key}_{stage}"]))
            cells.append("—" if r[f"target_{key}"] is None else _number(r[f"target_{key}"]))
        cells.append(_number(r["households_verified"]))
        cells.append("—" if r["progress"] is None else f"{r['progress']:.1%}")
        table.add_row(*cells)
    return _text(table, width=220)


def _number(value) -> str:
    return f"{value:,.0f}" if isinstance(value, float) else str(value)
