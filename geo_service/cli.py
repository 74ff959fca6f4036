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

from . import database, demo, reference, reports, tallies, targets
from .database import session_scope
from .errors import GeoServiceError, UploadRefused
from .projects import import_projects_csv
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
def projects_import(path: Path) -> None:
    """Create or update projects from a CSV with columns code,name,category,district,
    department,first_responsible,direct_responsible.

    Example: geo-service projects import data/parcels/demo_projects.csv
    """
    try:
        with session_scope() as session:
            counts = import_projects_csv(session, path)
    except GeoServiceError as exc:
        _fail(exc)
    typer.echo(f"projects: {counts['created']} created, {counts['updated']} updated")


@app.command("tally")
def tally_command(
    by: By = typer.Option(By.district, help="group by district, township or project"),
    kind: Kind | None = typer.Option(None, help="only land or only demolition"),
    year: int = typer.Option(2017, help="the targets' year"),
    as_of: str | None = typer.Option(None, "--as-of", help="as it stood at the end of YYYY-MM-DD"),
    fmt: Format = typer.Option(Format.table, "--format"),
    output: Path | None = typer.Option(None, help="write to this file instead of the screen"),
) -> None:
    """Verified area (union of verified parcels, geodesic) against targets.

    Examples:

      geo-service tally --by district --kind land --format json

      geo-service tally --by township --format csv --output tally.csv
    """
    try:
        day = date.fromisoformat(as_of) if as_of else None
        with session_scope() as session:
            rows = tallies.tally(
                session, by=by.value, kind=kind.value if kind else None, year=year, as_of=day
            )
    except ValueError:
        _fail(GeoServiceError(f"--as-of must be a date YYYY-MM-DD, not {as_of!r}"))
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
    numbers = ["parcels", "verified m²", "verified mu", "target m²", "target mu", "progress"]
    for name in [*columns, "kind", *numbers]:
        table.add_column(name, justify="right" if name in numbers else "left")
    for r in records:
        table.add_row(
            *[str(r[c] or "") for c in columns],
            r["kind"],
            str(r["parcels"]),
            f"{r['verified_m2']:,.0f}",
            f"{r['verified_mu']:,.1f}",
            "—" if r["target_m2"] is None else f"{r['target_m2']:,.0f}",
            "—" if r["target_mu"] is None else f"{r['target_mu']:,.1f}",
            "—" if r["progress"] is None else f"{r['progress']:.1%}",
        )
    console = Console(file=io.StringIO(), width=160, force_terminal=False)
    console.print(table)
    return console.file.getvalue()


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
