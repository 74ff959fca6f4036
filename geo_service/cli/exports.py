"""`geo-service export`: tallies for Excel and the wall, parcel layers for GIS software."""

from enum import StrEnum
from pathlib import Path

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import Kind, _day, _fail, _year, app, lazy, session_scope
from geo_service.errors import GeoServiceError
from geo_service.periods import parse_period

exports = lazy("geo_service.exports")

export_app = typer.Typer(
    help=N_("Tallies as XLSX/CSV/printable HTML, parcel layers as GPKG/SHP/GeoJSON/KML/CSV."),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(export_app, name="export")


class ExportBy(StrEnum):
    district = "district"
    township = "township"
    project = "project"
    quarter = "quarter"
    month = "month"


class TallyFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    html = "html"


class LayerFormat(StrEnum):
    gpkg = "gpkg"
    shp = "shp"
    geojson = "geojson"
    kml = "kml"
    kmz = "kmz"
    csv = "csv"


class Lang(StrEnum):
    zh = "zh"
    en = "en"


class Status(StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    delivered = "delivered"
    demolished = "demolished"
    verified = "verified"
    disputed = "disputed"
    withdrawn = "withdrawn"  # exported only when asked for


_AS_OF_HELP = N_("as it stood at the end of YYYY-MM-DD (China Standard Time)")


@export_app.command("tallies")
def export_tallies(
    fmt: TallyFormat = typer.Option(..., "--format", help=N_("xlsx, csv (UTF-8 with BOM) or html")),
    output: Path = typer.Option(..., help=N_("the file to write")),
    by: ExportBy = typer.Option(
        ExportBy.township, help=N_("district, township, project, or a series by quarter or month")
    ),
    kind: Kind | None = typer.Option(None, help=N_("only land or only demolition")),
    year: int | None = typer.Option(
        None, callback=_year, help=N_("the campaign year (default: --as-of's, else set)")
    ),
    as_of: str | None = typer.Option(None, "--as-of", help=_AS_OF_HELP),
    district: str | None = typer.Option(None, help=N_("one district only (default: all)")),
    lang: Lang = typer.Option(Lang.zh, help=N_("headers in Chinese (zh) or English (en)")),
    campaign: str | None = typer.Option(
        None,
        help=N_("the campaign, e.g. 攻坚2017 (default: the one under way today, else the latest)"),
    ),
    compare: str | None = typer.Option(
        None,
        help=N_(
            "an earlier campaign beside each row (e.g. 2016年百日攻坚), or last_year: this "
            "quarter (or --period) against the same days a year earlier"
        ),
    ),
    period: str | None = typer.Option(
        None, help=N_("with --compare last_year: a quarter (2017Q2) or a month (2017-05)")
    ),
) -> None:
    """Tallies for Excel (a sheet per kind with district totals, a ranking sheet with the
    pace needed per remaining month, 倒排工期), as CSV, or as one printable page per
    district (制表挂图, html).

    Examples:

      geo-service export tallies --by township --format xlsx --output 进度.xlsx

      geo-service export tallies --by quarter --year 2017 --format csv --output q.csv

      geo-service export tallies --format html --district 晋安区 --output 挂图.html

      geo-service export tallies --compare 2016年百日攻坚 --format xlsx --output c.xlsx

      geo-service export tallies --compare last_year --period 2017Q2 --format xlsx --output q.xlsx
    """
    day = _day(as_of)
    try:
        quarter = parse_period(period, "--period")
        with session_scope() as session:
            export = exports.tally_export(
                session, by=by.value, kind=kind.value if kind else None, year=year,
                as_of=day, district=district, campaign=campaign, compare=compare,
                period=quarter,
            )  # fmt: skip
        writer = {"xlsx": exports.tallies_xlsx, "csv": exports.tallies_csv}.get(fmt.value)
        body = writer(export, lang.value) if writer else None
        if body is None:
            body = exports.tallies_html(export, lang.value, home=False).encode("utf-8")
    except GeoServiceError as exc:
        _fail(exc)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(body)
    typer.echo(f"{len(export.rows)} row(s), {len(export.ranking)} ranked, written to {output}")


@export_app.command("parcels")
def export_parcels(
    fmt: LayerFormat = typer.Option(
        ..., "--format", help=N_("gpkg, shp (zipped), geojson, kml, csv")
    ),
    output: Path = typer.Option(..., help=N_("the file to write (a .zip for shp)")),
    crs: str = typer.Option(
        "EPSG:4490",
        help=N_(
            "EPSG:4490 (CGCS2000), 4326, 4527-4529 (GK zones 39-41), 4548-4550 (CM "
            "117/120/123E); geojson and kml are always WGS84 lon/lat"
        ),
    ),
    district: str | None = typer.Option(None, help=N_("district name or code")),
    township: str | None = typer.Option(None, help=N_("township name or code")),
    kind: Kind | None = typer.Option(None),
    status: Status | None = typer.Option(None),
    as_of: str | None = typer.Option(None, "--as-of", help=_AS_OF_HELP),
    encoding: str = typer.Option(
        "UTF-8", help=N_("Shapefile text: UTF-8 or GBK (.cpg says which)")
    ),
) -> None:
    """Parcel layers for QGIS, ArcGIS, Google Earth or Excel, written with GDAL: every
    parcel's code, name, status, township, project, areas and verification, the day its
    state began in the field (field_day) and when and by whom it was entered. A layer
    re-imports unchanged with `geo-service import`, and rebuilds the parcels in a fresh
    system with `geo-service import --migration` (an admin's). Withdrawn parcels are
    exported only with --status withdrawn.

    Examples:

      geo-service export parcels --format gpkg --crs EPSG:4549 --output parcels.gpkg

      geo-service export parcels --format shp --encoding GBK --township 新店镇 --output xd.zip

      geo-service export parcels --format kml --status verified --output verified.kml

    A GeoPackage carries the parcels' photos in its parcel_photos table, a KMZ as images
    shown in each placemark:

      geo-service export parcels --format kmz --township 新店镇 --output xd.kmz
    """
    day = _day(as_of)
    try:
        epsg = exports.parse_crs(crs)
        with session_scope() as session:
            frame = exports.parcel_frame(
                session, district=district, township=township,
                kind=kind.value if kind else None, status=status.value if status else None,
                as_of=day,
            )  # fmt: skip
            kept = exports.layer_photos(session, frame) if fmt in exports.PHOTO_FORMATS else ()
        output.parent.mkdir(parents=True, exist_ok=True)
        exports.write_parcels(frame, fmt.value, epsg, output, encoding=encoding, photos=kept)
    except GeoServiceError as exc:
        _fail(exc)
    with_photos = f", {len(kept)} photo(s)" if kept else ""
    typer.echo(
        f"{len(frame)} parcel(s){with_photos} written to {output} ({fmt.value}, EPSG:{epsg})"
    )
