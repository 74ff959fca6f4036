"""The `geo-service` command: thin Typer commands over the use cases."""

import csv
import io
import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from . import database, demo, reference, reports, tallies, targets, workflow
from .database import session_scope
from .errors import GeoServiceError, UploadRefused
from .projects import import_projects
from .settings import get_settings
from .uploads import ImportOptions, import_file

app = typer.Typer(
    help="geo_service: verified land-delivery and demolition areas on PostGIS.\n\n"
    "DATABASE_URL selects the database (default: local PostgreSQL, database geo_service).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema and reference data.", no_args_is_help=True)
targets_app = typer.Typer(help="Targets per district or township.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects and their responsibility lists.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(targets_app, name="targets")
app.add_typer(projects_app, name="projects")
# soft_wrap: messages stay one line each, whatever the terminal width, for logs and grep.
err = Console(stderr=True, soft_wrap=True)


class Kind(StrEnum):
    land = "land"
    demolition = "demolition"


class ImportStatus(StrEnum):
    planned = "planned"
    delivered = "delivered"
    verified = "verified"


class By(StrEnum):
    district = "district"
    township = "township"
    project = "project"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Credit(StrEnum):
    host = "host"
    helpers = "helpers"
    all = "all"


def _day(value: str | None) -> date | None:
    """An --as-of day, or a clear error (never a traceback) for anything else."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(GeoServiceError(f"--as-of must be a date YYYY-MM-DD, not {value!r}"))


def _text(table: Table, width: int = 160) -> str:
    """A rich table as plain text, the same on a terminal, in a pipe and in a file."""
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(table)
    return console.file.getvalue()


def _fail(exc: GeoServiceError) -> None:
    err.print(f"error: {exc}", markup=False, highlight=False)
    raise typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database and PostGIS if missing, apply migrations, load reference data.

    Safe to run again: nothing already there is changed.

    Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/geo_service geo-service db upgrade
    """
    try:
        database.migrate()
        with session_scope() as session:
            added = reference.load_reference(session)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(
        f"database up to date; reference data: {added['units']} unit(s), "
        f"{added['targets']} target(s) added"
    )


@app.command("import")
def import_command(
    path: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile or zipped Shapefile"),
    kind: Kind = typer.Option(..., help="land (交地) or demolition (拆迁)"),
    township: str = typer.Option(..., help="host township, e.g. 新店镇 or 晋安区/新店镇"),
    project: str | None = typer.Option(None, help="project code for every parcel of the file"),
    status: ImportStatus | None = typer.Option(
        None, help="status for every parcel (default: the file's status column, else planned)"
    ),
    crs: str | None = typer.Option(None, help="override the file's CRS, e.g. EPSG:4549"),
    encoding: str | None = typer.Option(None, help="attribute text encoding, e.g. GBK"),
    layer: str | None = typer.Option(None, help="layer name, for files with several"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check and report, store nothing"),
    accept_valid: bool = typer.Option(
        False, "--accept-valid", help="store the valid features, report the rest"
    ),
    accept_overlaps: bool = typer.Option(
        False, "--accept-overlaps", help="accept overlaps between verified parcels, flagged"
    ),
    report_csv: Path | None = typer.Option(None, help="write the problem report as CSV"),
    report_gpkg: Path | None = typer.Option(
        None, help="write the problem features as a GeoPackage, to fix in QGIS"
    ),
    output_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    actor: str = typer.Option(None, help="who is importing (recorded in the history)"),
    group: str | None = typer.Option(
        None, help="verification group signing a --status verified upload, e.g. 土地核验组"
    ),
) -> None:
    """Check a file of parcel boundaries and store it, all or nothing.

    Examples:

      geo-service import survey.zip --kind land --township 新店镇 --status verified

      geo-service import blocks.gpkg --kind demolition --township 鼓山镇 --crs EPSG:4528 --dry-run
    """
    options = ImportOptions(
        kind=kind.value,
        township=township,
        project=project,
        status=status.value if status else None,
        crs=crs,
        encoding=encoding,
        layer=layer,
        dry_run=dry_run,
        accept_valid=accept_valid,
        accept_overlaps=accept_overlaps,
        actor=actor or get_settings().default_actor,
        verifier_group=group,
    )
    try:
        with session_scope() as session, _progress() as advance:
            report = import_file(session, path, options, progress=advance)
    except UploadRefused as exc:
        if exc.report is not None:
            _write_reports(exc.report, report_csv, report_gpkg)
        if output_json and exc.report is not None:
            typer.echo(json.dumps(exc.report.as_dict(), ensure_ascii=False, indent=2))
        err.print(f"refused: {exc}", markup=False, highlight=False)
        raise typer.Exit(code=1) from None
    except GeoServiceError as exc:
        _fail(exc)
    _write_reports(report, report_csv, report_gpkg)
    if output_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    verb = "checked (dry run, nothing stored)" if report.dry_run else "accepted"
    typer.echo(
        f"{report.filename}: {verb}: {report.parcels} parcel(s), "
        f"{report.area_m2:,.1f} m², {report.area_mu:,.2f} mu "
        f"[{report.source_crs}, {report.encoding}]"
    )
    if not report.dry_run:
        typer.echo(
            f"  new {report.created}, changed {report.changed}, unchanged {report.unchanged}"
        )
    if report.rejected:
        typer.echo(f"  {report.rejected} feature(s) with errors were not stored (--accept-valid)")
    for p in report.problems:
        where = f"feature {p.feature} ({p.code})" if p.feature else "file"
        typer.echo(f"  {p.severity}: {where}: {p.message} [{p.rule}]")


def _write_reports(report, csv_path: Path | None, gpkg_path: Path | None) -> None:
    if csv_path:
        csv_path.write_text(reports.problems_csv(report), encoding="utf-8")
        err.print(f"problem report written to {csv_path}", markup=False, highlight=False)
    if gpkg_path:
        reports.write_problems_gpkg(report, gpkg_path)
        err.print(f"problem features written to {gpkg_path}", markup=False, highlight=False)


class _progress:
    """A progress bar on a terminal; silent when output is piped."""

    def __enter__(self):
        self._bar = Progress(console=err, transient=True) if err.is_terminal else None
        if self._bar is None:
            return None
        self._bar.start()
        self._task = self._bar.add_task("storing parcels", total=None)
        return lambda n: self._bar.advance(self._task, n)

    def __exit__(self, *exc_info):
        if self._bar is not None:
            self._bar.stop()
        return False


@targets_app.command("set")
def targets_set(
    district: str = typer.Option(..., help="district name, e.g. 晋安区"),
    township: str | None = typer.Option(None, help="township name; omit for the district"),
    kind: Kind = typer.Option(...),
    year: int = typer.Option(...),
    quarter: int | None = typer.Option(None, min=1, max=4, help="1-4; omit for the year"),
    mu: float | None = typer.Option(None, help="amount in mu"),
    m2: float | None = typer.Option(None, help="amount in m²"),
) -> None:
    """Set (or replace) a target.

    Examples:

      geo-service targets set --district 晋安区 --kind land --year 2017 --mu 9000

      geo-service targets set --district 晋安区 --township 新店镇 --kind demolition
      --year 2017 --m2 400000
    """
    if (mu is None) == (m2 is None):
        _fail(GeoServiceError("give exactly one of --mu and --m2"))
    try:
        with session_scope() as session:
            targets.set_target(
                session,
                district=district,
                township=township,
                kind=kind.value,
                year=year,
                quarter=quarter,
                amount=mu if mu is not None else m2,
                unit="mu" if mu is not None else "m2",
                actor=get_settings().default_actor,
            )
    except GeoServiceError as exc:
        _fail(exc)
    where = f"{district}/{township}" if township else district
    amount = f"{mu} mu" if mu is not None else f"{m2} m²"
    typer.echo(
        f"target set: {where} {kind.value} {year}{f' Q{quarter}' if quarter else ''}: {amount}"
    )


@targets_app.command("import")
def targets_import(path: Path) -> None:
    """Set targets from a CSV: district,township,kind,year,quarter,amount,unit (mu|m2).

    Example: geo-service targets import data/parcels/demo_targets.csv
    """
    try:
        with session_scope() as session:
            count = reference.load_targets_csv(session, path)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(f"{count} target(s) set")


@projects_app.command("import")
def projects_import(
    path: Path = typer.Argument(..., help="a .csv (UTF-8) or .xlsx responsibility list"),
    sheet: str | None = typer.Option(None, help="the workbook's sheet (default: the first)"),
) -> None:
    """Create or update projects (matched by code) from a CSV or XLSX responsibility list,
    all or nothing.

    Headers in English or Chinese: code/项目编号, name/项目名称, category/类别,
    district/所属区县, problem/存在问题, target/目标, deadline/完成时限,
    milestones/时间节点 ("2017-03-31 完成征迁; 2017-06-30 交地"), department/责任单位,
    first_responsible/第一责任人, direct_responsible/直接责任人.

    Examples:

      geo-service projects import data/parcels/demo_projects.csv

      geo-service projects import 责任清单.xlsx --sheet 晋安区
    """
    try:
        with session_scope() as session:
            counts = import_projects(session, path, sheet=sheet)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(f"projects: {counts['created']} created, {counts['updated']} updated")


@app.command("tally")
def tally_command(
    by: By = typer.Option(By.district, help="group by district, township or project"),
    kind: Kind | None = typer.Option(None, help="only land or only demolition"),
    year: int | None = typer.Option(
        None, help="the campaign year (default: the --as-of day's, else the configured one)"
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="as it stood at the end of YYYY-MM-DD"),
    fmt: Format = typer.Option(Format.table, "--format"),
    output: Path | None = typer.Option(None, help="write to this file instead of the screen"),
    credit: Credit = typer.Option(
        Credit.host,
        help="who a parcel counts for: host township, the townships that supported it "
        "(helpers), or all of them",
    ),
) -> None:
    """Verified area (union of verified parcels, geodesic) against targets, beside the
    planned scope (every parcel) and what is delivered/demolished (done, verified or not).

    Examples:

      geo-service tally --by district --kind land --format json

      geo-service tally --by township --format csv --output tally.csv

      geo-service tally --by township --credit helpers --as-of 2017-06-30
    """
    day = _day(as_of)
    try:
        with session_scope() as session:
            rows = tallies.tally(
                session,
                by=by.value,
                kind=kind.value if kind else None,
                year=year,
                as_of=day,
                credit=credit.value,
            )
    except GeoServiceError as exc:
        _fail(exc)
    records = [r.as_dict(by.value) for r in rows]
    text = _render(records, fmt, by.value)
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{len(records)} row(s) written to {output}")
    else:
        sys.stdout.write(text)


def _render(records: list[dict], fmt: Format, by: str) -> str:
    if fmt is Format.json:
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if fmt is Format.csv:
        buffer = io.StringIO()
        fields = list(records[0]) if records else ["district", "kind"]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue()
    return _table(records, by)


def _table(records: list[dict], by: str) -> str:
    table = Table(title=f"Verified area by {by}")
    columns = ["district", "township", "project"][: {"district": 1, "township": 2}.get(by, 3)]
    numbers = ["parcels", "planned mu", "delivered mu", "verified m²", "verified mu",
               "target m²", "target mu", "progress"]  # fmt: skip
    for name in [*columns, "kind", *numbers]:
        table.add_column(name, justify="right" if name in numbers else "left")
    for r in records:
        table.add_row(
            *[str(r[c] or "") for c in columns],
            r["kind"],
            str(r["parcels"]),
            f"{r['planned_mu']:,.1f}",
            f"{r['delivered_mu']:,.1f}",
            f"{r['verified_m2']:,.0f}",
            f"{r['verified_mu']:,.1f}",
            "—" if r["target_m2"] is None else f"{r['target_m2']:,.0f}",
            "—" if r["target_mu"] is None else f"{r['target_mu']:,.1f}",
            "—" if r["progress"] is None else f"{r['progress']:.1%}",
        )
    return _text(table)


@app.command("demo")
def demo_command() -> None:
    """Load the synthetic Jin'an demo set from data/parcels/ (projects, targets, parcels).

    Example: geo-service db upgrade && geo-service demo
    """
    try:
        summary = demo.load_demo()
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(summary)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
) -> None:
    """Serve the API (and its docs at /docs).

    Example: geo-service serve --host 0.0.0.0 --port 8000
    """
    import uvicorn

    typer.echo(f"geo_service on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run("geo_service.api:create_app", factory=True, host=host, port=port)


boundaries_app = typer.Typer(help="Administrative boundaries.", no_args_is_help=True)
app.add_typer(boundaries_app, name="boundaries")


@boundaries_app.command("import")
def boundaries_import(
    path: Path,
    district: str = typer.Option(..., help="the district whose townships the file holds"),
    name_field: str = typer.Option("name", help="column with the township names"),
    code_field: str | None = typer.Option(None, help="column with official township codes"),
    crs: str | None = typer.Option(None, help="override the file's CRS"),
) -> None:
    """Replace the approximate township outlines with real ones, matched by name.

    Example: geo-service boundaries import jinan_townships.gpkg --district 晋安区 --code-field XZQDM
    """
    try:
        with session_scope() as session:
            counts = reference.import_township_boundaries(
                session, path, district, name_field=name_field, code_field=code_field, crs=crs
            )
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(f"townships: {counts['replaced']} replaced, {counts['added']} added")


# --- status workflow, verification, history ----------------------------------------------

_PARCEL_HELP = "parcel code (or #ID)"
_TOWNSHIP_HELP = "the parcel's township, when the code is used in several"
_KIND_HELP = "land or demolition, when the code is used for both"


def _parcel(session, code: str, township: str | None, kind):
    return workflow.find_parcel(
        session, code, township=township, kind=kind.value if kind else None, lock=True
    )


def _transition(change) -> None:
    """Run a workflow use case on one parcel and print what it did."""
    try:
        with session_scope() as session:
            done = change(session)
    except GeoServiceError as exc:
        _fail(exc)
    line = (
        f"{done.code} ({done.township}, {done.kind}): {done.status_before} → {done.status}, "
        f"version {done.version}, by {done.changed_by}"
    )
    if done.status == "verified":
        line += (
            f"; verified area {done.verified_area_m2:,.1f} m² "
            f"({done.verified_area_m2 * 15 / 10000:,.2f} mu) frozen"
        )
    typer.echo(line + (f"; note: {done.note}" if done.note else ""))


@app.command("status")
def status_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    to: str = typer.Option(..., "--to", help="in_progress, delivered, demolished or disputed"),
    note: str | None = typer.Option(None, help="why (required when leaving disputed)"),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    actor: str | None = typer.Option(None, help="who is making the change"),
) -> None:
    """Move a parcel along the workflow: planned → in_progress → delivered (land) or
    demolished (demolition); a disputed parcel goes back to in_progress or
    delivered/demolished with a reason. Verifying is `geo-service verify`.

    Examples:

      geo-service status XD-001 --to in_progress --township 新店镇

      geo-service status XD-001 --to delivered --note "交地确认书已签"

      geo-service status XD-001 --to in_progress --note "边界需重测"
    """
    who = actor or get_settings().default_actor
    _transition(
        lambda s: workflow.set_status(s, _parcel(s, code, township, kind), to, who, note=note)
    )


@app.command("verify")
def verify_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    verifier: str = typer.Option(..., help="the verifier's name"),
    group: str = typer.Option(..., help="土地核验组 for land, 拆迁核验组 for demolition"),
    note: str | None = typer.Option(None, help="what was checked"),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
) -> None:
    """Verify a delivered (land) or demolished (demolition) parcel; its area is frozen.

    Examples:

      geo-service verify XD-001 --verifier 林志伟 --group 土地核验组 --township 新店镇

      geo-service verify GS-CQ-07 --verifier 王海峰 --group 拆迁核验组 --note "现场核验"
    """
    _transition(
        lambda s: workflow.verify(
            s, _parcel(s, code, township, kind), verifier=verifier, group=group, note=note
        )
    )


@app.command("dispute")
def dispute_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    reason: str = typer.Option(..., help="what is disputed"),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    actor: str | None = typer.Option(None, help="who raises the dispute"),
) -> None:
    """Dispute a verified parcel: it stops counting as verified until it is settled with
    `geo-service status CODE --to in_progress|delivered|demolished --note REASON`.

    Example: geo-service dispute XD-001 --reason "界址点与批文不符" --township 新店镇
    """
    who = actor or get_settings().default_actor
    _transition(lambda s: workflow.dispute(s, _parcel(s, code, township, kind), reason, who))


class ListFormat(StrEnum):
    table = "table"
    json = "json"


@app.command("history")
def history_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """Every version of a parcel, oldest first: status, area, who, when, upload, note.

    Examples:

      geo-service history XD-001 --township 新店镇

      geo-service history XD-001 --format json
    """
    try:
        with session_scope() as session:
            parcel = workflow.find_parcel(
                session, code, township=township, kind=kind.value if kind else None
            )
            summary = workflow.parcel_summary(parcel)
            versions = workflow.history(session, parcel)
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is ListFormat.json:
        typer.echo(json.dumps(versions, ensure_ascii=False, indent=2))
        return
    sys.stdout.write(_history_table(summary, versions))


def _history_table(parcel: dict, versions: list[dict]) -> str:
    from datetime import datetime

    title = f"{parcel['code']} ({parcel['township']}, {parcel['kind']}, id {parcel['id']})"
    table = Table(title=f"History of {title}")
    for name in ["v", "from (CST)", "change", "status", "area m²", "geometry", "who", "upload",
                 "note", "verified"]:  # fmt: skip
        table.add_column(name, justify="right" if name in ("v", "area m²") else "left")
    for v in versions:
        when = datetime.fromisoformat(v["valid_from"]).astimezone(tallies.CAMPAIGN_TZ)
        before, area = v["status_before"], f"{v['area_m2']:,.1f}"
        if v["geometry_changed"]:
            area = f"{v['area_before_m2']:,.1f} → {area}"
        verified = ""
        if v["verified_by"]:
            verified = f"{v['verified_by']} ({v['verified_group']}) {v['verified_area_m2']:,.1f}"
        table.add_row(
            str(v["version"]),
            when.strftime("%Y-%m-%d %H:%M"),
            v["change"],
            f"{before} → {v['status']}" if before and before != v["status"] else v["status"],
            area,
            {None: "new", True: "changed", False: "same"}[v["geometry_changed"]],
            v["changed_by"],
            f"#{v['upload_id']} {v['upload_filename']}" if v["upload_id"] else "",
            v["note"] or "",
            verified,
        )
    return _text(table, width=200)


@app.command("support")
def support_command(
    kind: Kind | None = typer.Option(None, help="only land or only demolition"),
    as_of: str | None = typer.Option(None, "--as-of", help="as it stood at the end of YYYY-MM-DD"),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """Cross-township support (跨界支援): host → helper pairs, the parcels helped on and
    the verified area (union) they delivered together.

    Example: geo-service support --kind land --as-of 2017-06-30 --format json
    """
    day = _day(as_of)
    try:
        with session_scope() as session:
            links = tallies.support_links(session, kind=kind.value if kind else None, as_of=day)
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is ListFormat.json:
        typer.echo(json.dumps([x.as_dict() for x in links], ensure_ascii=False, indent=2))
        return
    table = Table(title="Cross-township support (host ← helper)")
    numbers = ("parcels", "verified parcels", "verified m²", "verified mu")
    for name in ("district", "host", "helper", "kind", *numbers):
        table.add_column(name, justify="right" if name in numbers else "left")
    for x in links:
        table.add_row(x.district, x.host, x.helper, x.kind, str(x.parcels),
                      str(x.verified_parcels), f"{x.verified_m2:,.0f}",
                      f"{x.verified_mu:,.1f}")  # fmt: skip
    sys.stdout.write(_text(table))


class MapName(StrEnum):
    progress = "progress"
    support = "support"


@app.command("map")
def map_command(
    name: MapName = typer.Argument(..., help="progress or support"),
    output: Path = typer.Option(..., help="the HTML file to write, e.g. maps/progress.html"),
    district: str | None = typer.Option(None, help="district (default: the configured one)"),
    kind: Kind = typer.Option(Kind.land),
    year: int | None = typer.Option(None, help="the campaign year (default: configured)"),
    quarter: int | None = typer.Option(None, min=1, max=4, help="as at the end of a quarter"),
) -> None:
    """Write a self-contained map (every script, style and datum inside) for briefings:
    it opens from a USB stick on a laptop with no network.

    Examples:

      geo-service map progress --district 晋安区 --kind land --output maps/progress.html

      geo-service map support --output maps/support.html
    """
    from .maps import data as maps_data
    from .maps import pages as maps_pages

    try:
        view = maps_data.View(
            district=district or get_settings().default_district,
            kind=kind.value,
            year=year,
            quarter=quarter,
        )
        with session_scope() as session:
            pages = {"progress": maps_pages.progress_page, "support": maps_pages.support_page}
            html = pages[name.value](session, view, static=True)
    except GeoServiceError as exc:
        _fail(exc)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    typer.echo(f"{output}: {len(html.encode('utf-8')) / 1e6:.2f} MB, self-contained")
