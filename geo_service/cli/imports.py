"""`geo-service import`: check a parcel file and store it, all or nothing."""

import gc
import json
from pathlib import Path

import typer
from rich.progress import Progress

from geo_service.catalogs import N_
from geo_service.cli.common import (
    Kind,
    acting,
    app,
    as_option,
    err,
    fail_acting,
    lazy,
    refused,
    session_scope,
)
from geo_service.cli.language import ACCEPTED, CHECKED, COUNTS, _, problem_line
from geo_service.errors import GeoServiceError, UploadRefused

actions = lazy("geo_service.actions")
reports = lazy("geo_service.parcels.reports")


@app.command("import")
def import_command(
    path: Path = typer.Argument(
        ...,
        help=N_(
            "zipped Shapefile (or .shp), GeoPackage, GeoJSON, KML/KMZ, a boundary-point "
            "coordinate file (界址点坐标文件, .txt), a 南方CASS drawing (.dxf), a boundary-point "
            "table (界址点成果表, .xlsx/.csv) or a CASS coordinate file (.dat)"
        ),
    ),
    kind: Kind = typer.Option(..., help=N_("land (交地) or demolition (拆迁)")),
    township: str = typer.Option(..., help=N_("host township, e.g. 新店镇 or 晋安区/新店镇")),
    project: str | None = typer.Option(None, help=N_("project code for every parcel of the file")),
    status: str | None = typer.Option(
        None,
        help=N_(
            "status for every parcel (default: the file's status column, else planned): "
            "planned, delivered, verified; in --migration any status"
        ),
    ),
    crs: str | None = typer.Option(None, help=N_("override the file's CRS, e.g. EPSG:4549")),
    encoding: str | None = typer.Option(None, help=N_("attribute text encoding, e.g. GBK")),
    layer: str | None = typer.Option(
        None,
        help=N_(
            "layer name, for files with several; for a CASS drawing the parcel layers "
            "(comma separated, default JZX,界址线,宗地,ZD,ZDX,宗地界线); for a workbook the sheet"
        ),
    ),
    columns: str | None = typer.Option(
        None,
        help=N_(
            "a point table's column names when not the usual ones, e.g. "
            "code=宗地代码,point=点号,x=北坐标,y=东坐标,ring=圈号"
        ),
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help=N_("check and report, store nothing")),
    accept_valid: bool = typer.Option(
        False,
        "--accept-valid",
        help=N_("store the valid features, report the rest; takes --store-reason"),
    ),
    accept_overlaps: bool = typer.Option(
        False,
        "--accept-overlaps",
        help=N_("accept overlaps between verified parcels, flagged; takes --store-reason"),
    ),
    store_reason: str | None = typer.Option(
        None,
        help=N_(
            "why overlaps are kept or only the valid features stored (needed with "
            "--accept-overlaps and --accept-valid); on record with the upload and in the audit "
            "(at most 2000 characters)"
        ),
    ),
    override_reason: str | None = typer.Option(
        None,
        help=N_(
            "store parcels lying mostly outside --township anyway, with this reason on "
            "record (a verifier of the kind; at most 2000 characters)"
        ),
    ),
    migration: bool = typer.Option(
        False,
        "--migration",
        help=N_(
            "an admin's migration from another system (e.g. a layer from `export parcels`): "
            "every status, the file's sign-offs (verifier, group, field day, recorded moment) "
            "and flags are taken as they are; recorded in the history as a migration"
        ),
    ),
    bulk: bool = typer.Option(
        False,
        "--bulk",
        help=N_(
            "an admin's first load of a district: no MAX_FEATURES_PER_FILE limit, every "
            "check of an upload, read and written in batches (parcels come in up to delivered; "
            "with --migration, as the file records them)"
        ),
    ),
    report_csv: Path | None = typer.Option(None, help=N_("write the problem report as CSV")),
    report_gpkg: Path | None = typer.Option(
        None, help=N_("write the problem features as a GeoPackage, to fix in QGIS")
    ),
    output_json: bool = typer.Option(False, "--json", help=N_("print the report as JSON")),
    as_user: str | None = as_option(),
) -> None:
    """Check a file of parcel boundaries and store it, all or nothing.

    Formats: zipped Shapefile (or .shp with its .shx/.dbf/.prj), GeoPackage, GeoJSON,
    KML/KMZ (from phones and Google Earth) and boundary-point coordinate files
    (界址点坐标文件, .txt, GBK or UTF-8).

    Examples:

      geo-service import survey.zip --kind land --township 新店镇 --status verified --as 林志伟

      geo-service import blocks.gpkg --kind demolition --township 鼓山镇 --crs EPSG:4528 --dry-run
      --as 马丽

      geo-service import 界址点.txt --kind land --township 新店镇 --dry-run --json

      geo-service import 新店镇-land.gpkg --kind land --township 新店镇 --migration --as admin

      geo-service import 晋安区-all.gpkg --kind land --township 新店镇 --bulk --as admin

    A verifier's upload with --status verified (or a file whose status column says
    verified) is signed by the verifier's own group, never under four eyes; a township
    officer uploads planned or delivered parcels of their townships. A parcel lying mostly
    in another township is refused, naming it, unless --override-reason is given. A
    `field_day` (verified_on, 核验日期) column dates each feature's status change on the day
    it happened in the field.
    """
    from geo_service.parcels.uploads import upload_options

    _spare_the_collector()
    try:
        options = upload_options(
            kind.value,
            township,
            project,
            status,
            crs,
            encoding,
            layer,
            columns,
            dry_run=dry_run,
            accept_valid=accept_valid,
            accept_overlaps=accept_overlaps,
            store_reason=store_reason,
            override_reason=override_reason,
            migration=migration,
            bulk=bulk,
        )
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    try:
        with session_scope() as session, _progress() as advance:
            report = actions.upload(session, acting(session, as_user), path, options, advance)
    except UploadRefused as exc:
        if exc.report is not None:
            _write_reports(exc.report, report_csv, report_gpkg)
        if output_json and exc.report is not None:
            typer.echo(json.dumps(exc.report.as_dict(), ensure_ascii=False, indent=2))
        refused(exc)
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    _write_reports(report, report_csv, report_gpkg)
    if output_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    verb = _(CHECKED) if report.dry_run else _(ACCEPTED)
    said = _(
        "%(file)s: %(verb)s: %(parcels)s parcel(s), %(m2)s m², %(mu)s mu [%(crs)s, %(encoding)s]"
    )
    typer.echo(said % {
        "file": report.filename, "verb": verb, "parcels": report.parcels,
        "m2": f"{report.area_m2:,.1f}", "mu": f"{report.area_mu:,.2f}",
        "crs": report.source_crs, "encoding": report.encoding,
    })  # fmt: skip
    if not report.dry_run:
        typer.echo(f"  {_(COUNTS) % vars(report)}")
    if report.rejected:
        said = _("%(count)s feature(s) with errors were not stored (--accept-valid)")
        typer.echo(f"  {said % {'count': report.rejected}}")
    for p in report.problems:
        typer.echo(f"  {problem_line(p.as_dict())}")


def _spare_the_collector() -> None:
    """Move what is loaded by now (the libraries: pandas, SQLAlchemy, GDAL's bindings, ...)
    out of the cyclic garbage collector's sight, and collect the young generation less
    often. Every full collection walked all of those objects again: a third of the CPU of
    an import of 100,000 parcels (6.2 s -> 4.0 s). Objects made from here on are collected
    as before, so memory stays as it was."""
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


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
