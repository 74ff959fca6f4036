"""`geo-service tally` and `geo-service support`: verified areas and support links."""

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from geo_service.catalogs import N_
from geo_service.cli.common import (
    By,
    Credit,
    Format,
    Kind,
    ListFormat,
    _day,
    _fail,
    _text,
    _year,
    app,
    err,
    lazy,
    session_scope,
)
from geo_service.cli.language import words
from geo_service.cli.relocation import tally_table as relocation_table
from geo_service.errors import GeoServiceError
from geo_service.periods import parse_period

relocation_tallies = lazy("geo_service.relocation.tallies")
reports = lazy("geo_service.parcels.reports")
tallies = lazy("geo_service.campaign.tallies")


class TallyKind(StrEnum):
    land = "land"
    demolition = "demolition"
    relocation = "relocation"


@app.command("tally")
def tally_command(
    by: By = typer.Option(By.district, help=N_("group by district, township or project")),
    kind: TallyKind | None = typer.Option(
        None, help=N_("only land or only demolition; relocation: households, flats and m² (回迁)")
    ),
    year: int | None = typer.Option(
        None,
        callback=_year,
        help=N_("the campaign year (default: the --as-of day's, else the configured one)"),
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help=N_("as it stood at the end of YYYY-MM-DD")
    ),
    campaign: str | None = typer.Option(
        None,
        help=N_(
            "the campaign, e.g. 攻坚2017 (default: the one a --year names, else the one "
            "under way today, else the latest)"
        ),
    ),
    compare: str | None = typer.Option(
        None,
        help=N_(
            "an earlier campaign beside it, e.g. 2016年百日攻坚: its figures and the "
            "differences as columns (json or csv); last_year: this quarter (or --period) "
            "against the same days a year earlier"
        ),
    ),
    period: str | None = typer.Option(
        None, help=N_("with --compare last_year: a quarter (2017Q2) or a month (2017-05)")
    ),
    fmt: Format | None = typer.Option(
        None, "--format", help=N_("table (default), json or csv; with --output, from its extension")
    ),
    output: Path | None = typer.Option(
        None, help=N_("write to this file instead of the screen (.txt, .json or .csv)")
    ),
    credit: Credit = typer.Option(
        Credit.host,
        help=N_(
            "who a parcel counts for: host township, the townships that supported it "
            "(helpers), or all of them"
        ),
    ),
) -> None:
    """Verified area (union of verified parcels, geodesic) against targets, beside the
    planned scope (every parcel) and what is delivered/demolished (done, verified or not).

    Examples:

      geo-service tally --by district --kind land --format json

      geo-service tally --by township --format csv --output tally.csv

      geo-service tally --by township --credit helpers --as-of 2017-06-30

      geo-service tally --kind relocation --by township --format json

      geo-service tally --by township --compare last_year --period 2017Q2 --format csv
    """
    day = _day(as_of)
    fmt = _output_format(fmt, output)
    if kind is TallyKind.relocation:
        _relocation(by.value, year, day, fmt, output, campaign)
        return
    if compare or period:
        query = dict(by=by.value, kind=kind.value if kind else None, year=year,
                     campaign=campaign, credit=credit.value, as_of=day)  # fmt: skip
        _compare(compare, period, query, fmt, output)
        return
    try:
        with session_scope() as session:
            rows = tallies.tally(
                session,
                by=by.value,
                kind=kind.value if kind else None,
                year=year,
                as_of=day,
                credit=credit.value,
                campaign=campaign,
            )
    except GeoServiceError as exc:
        _fail(exc)
    records = [r.as_dict(by.value) for r in rows]
    if not records and fmt is Format.table:
        err.print(_nothing_recorded(kind, year, day), markup=False, highlight=False)
        return
    _emit(_render(records, fmt, by.value, credit.value), records, output)


def _compare(compare, period, query: dict, fmt, output) -> None:
    """The campaign beside an earlier one (or this quarter beside the same quarter last
    year): each row with compare_* and *_change columns."""
    try:
        quarter = parse_period(period, "--period")
        tallies.check_period_compared(compare, quarter)
        if fmt is Format.table:
            raise GeoServiceError("--compare writes --format json or csv (the columns are many)")
        with session_scope() as session:
            records = tallies.compared(session, compare, period=quarter, **query)
    except GeoServiceError as exc:
        _fail(exc)
    _emit(_render(records, fmt, query["by"]), records, output)


def _relocation(by: str, year, day, fmt: Format, output: Path | None, campaign=None) -> None:
    try:
        with session_scope() as session:
            rows = relocation_tallies.tally(session, by=by, year=year, as_of=day, campaign=campaign)
    except GeoServiceError as exc:
        _fail(exc)
    records = [r.as_dict(by) for r in rows]
    text = relocation_table(records, by) if fmt is Format.table else _render(records, fmt, by)
    _emit(text, records, output)


def _emit(text: str, records: list, output: Path | None) -> None:
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{len(records)} row(s) written to {output}")
    else:
        sys.stdout.write(text)


# What --output's extension says the file is; xlsx workbooks are `geo-service export`'s.
_EXTENSIONS = {".txt": Format.table, ".json": Format.json, ".csv": Format.csv}


def _output_format(fmt: Format | None, output: Path | None) -> Format:
    """The format asked for, or the one --output's extension names; never a file whose
    extension says one kind while it holds another."""
    if output is None:
        return fmt or Format.table
    suffix = output.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        _fail(GeoServiceError(
            f"--output {output.name}: tally writes table text, JSON or CSV, not a workbook; "
            "for Excel use `geo-service export tallies`"
        ))  # fmt: skip
    named = _EXTENSIONS.get(suffix)
    if named is None:
        _fail(GeoServiceError(
            f"--output {output.name}: unknown extension {suffix or '(none)'}; "
            "use .txt (table), .json or .csv"
        ))  # fmt: skip
    if fmt is not None and fmt is not named:
        _fail(GeoServiceError(
            f"--output {output.name} is a {suffix} file but --format is {fmt.value}; "
            "give a matching extension or leave out --format"
        ))  # fmt: skip
    return named


def _nothing_recorded(kind, year: int | None, day) -> str:
    what = f"{kind.value} " if kind else ""
    if day is not None:
        return f"nothing recorded by the end of {day}: no {what}parcels or targets on record"
    return f"nothing recorded: no {what}parcels or targets on record" + (
        f" for {year}" if year else ""
    )


# What each credit rule shows: the table says which, and progress only where it means
# something (a helper's credit is not progress toward the helper's own target).
CREDIT_TITLES = {
    "host": N_("credit: host township (each parcel counts for the township it lies in)"),
    "helpers": N_(
        "credit: helpers (each township credited with the parcels it helped other "
        "townships deliver; not progress toward its own target)"
    ),
    "all": N_(
        "credit: host and helpers (a supported parcel counts in full for each; rows do not add up)"
    ),
}


def _render(records: list[dict], fmt: Format, by: str, credit: str = "host") -> str:
    if fmt is Format.json:
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if fmt is Format.csv:
        buffer = io.StringIO()
        fields = list(records[0]) if records else ["district", "kind"]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(reports.safe_rows(records))
        return buffer.getvalue()
    return _table(records, by, credit)


def _table(records: list[dict], by: str, credit: str = "host") -> str:
    named = records[0].get("campaign") if records else None
    title = words(
        N_("Verified area by %(by)s; %(credit)s"), by=words(by), credit=words(CREDIT_TITLES[credit])
    )
    table = Table(title=f"{named}: {title}" if named else title)
    columns = ["district", "township", "project"][: {"district": 1, "township": 2}.get(by, 3)]
    if by == "city":
        columns = ["city"]
    numbers = [N_("verified parcels"), N_("planned mu"), N_("delivered mu"), N_("verified m²"),
               N_("verified mu"), N_("target m²"), N_("target mu"), N_("progress")]  # fmt: skip
    for name in [*columns, N_("kind"), *numbers]:
        table.add_column(words(name), justify="right" if name in numbers else "left")
    for r in records:
        table.add_row(
            *[str(r[c] or "") for c in columns],
            words(r["kind"]),
            str(r["verified_parcels"]),
            f"{r['planned_mu']:,.1f}",
            f"{r['delivered_mu']:,.1f}",
            f"{r['verified_m2']:,.0f}",
            f"{r['verified_mu']:,.1f}",
            "—" if r["target_m2"] is None else f"{r['target_m2']:,.0f}",
            "—" if r["target_mu"] is None else f"{r['target_mu']:,.1f}",
            "—" if r["progress"] is None else f"{r['progress']:.1%}",
        )
    return _text(table)


@app.command("support")
def support_command(
    kind: Kind | None = typer.Option(None, help=N_("only land or only demolition")),
    as_of: str | None = typer.Option(
        None, "--as-of", help=N_("as it stood at the end of YYYY-MM-DD")
    ),
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
    table = Table(title=words(N_("Cross-township support (host ← helper)")))
    numbers = (N_("parcels"), N_("verified parcels"), N_("verified m²"), N_("verified mu"))
    for name in (N_("district"), N_("host"), N_("helper"), N_("kind"), *numbers):
        table.add_column(words(name), justify="right" if name in numbers else "left")
    for x in links:
        table.add_row(x.district, x.host, x.helper, words(x.kind), str(x.parcels),
                      str(x.verified_parcels), f"{x.verified_m2:,.0f}",
                      f"{x.verified_mu:,.1f}")  # fmt: skip
    sys.stdout.write(_text(table))
