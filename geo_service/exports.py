"""What planners and GIS staff take away: tally workbooks (XLSX), CSV for any spreadsheet,
a printable table per district for the wall (制表挂图), and the parcel layers in the
formats their own software opens.

Every number comes from `tallies.tally` (unions of verified parcels, geodesic, as of the end
of a day); a quarter or month series is the tally at the end of each period. Spreadsheet
cells hold the exact figures; rounding is only the cells' display format.
"""

import calendar
import csv
import html
import io
import re
import sqlite3
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from pyproj import CRS
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import scratch
from geo_service.areas import m2_to_mu
from geo_service.campaign import rankings, tallies
from geo_service.campaign.campaigns import CampaignView
from geo_service.catalogs import N_, translations
from geo_service.errors import InvalidInput
from geo_service.interop import GPKG_OPTIONS, LONLAT_DIGITS, SAFE_TEXT_COLUMNS, oriented
from geo_service.models import KINDS, STATUSES
from geo_service.parcels import photos
from geo_service.parcels.reports import spreadsheet_safe
from geo_service.periods import Period
from geo_service.relocation import tallies as relocation_tallies
from geo_service.units import find_district

EXPORT_GROUPINGS = ("district", "township", "project", "quarter", "month")
LANGS = ("zh", "en")
# The headers, sheet names and labels are gettext msgids, said in the export's language
# (geo_service/locale; Chinese unless lang=en).
_LOCALES = {"zh": "zh_CN", "en": "en"}
KIND_LABELS = {"land": N_("land"), "demolition": N_("demolition")}
TOTAL_LABEL = N_("Total")
# Land is counted in mu, demolition in m² (the seed: 9,000 mu of land, 3,000,000 m² demolished).
WALL_UNIT = {"land": "mu", "demolition": "m2"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # a msgid
    style: str  # text, count, area, percent, months, date

    def header(self, _, csv_file: bool = False, compare: str | None = None) -> str:
        label = _(self.label)
        if "%(campaign)s" in self.label:
            label = label % {"campaign": compare or ""}
        # A CSV has no cell formats: its progress is written as a percentage number.
        if csv_file and self.style == "percent":
            return _("%(label)s (%%)") % {"label": label}
        return label


_C = Column
_MEASURES = (
    _C("verified_parcels", N_("Verified parcels (count)"), "count"),
    _C("verified_m2", N_("Verified area (m²)"), "area"),
    _C("verified_mu", N_("Verified area (mu)"), "area"),
    _C("target_m2", N_("Target (m²)"), "area"),
    _C("target_mu", N_("Target (mu)"), "area"),
    _C("progress", N_("Completion"), "percent"),
    _C("remaining_m2", N_("Remaining (m²)"), "area"),
    _C("remaining_mu", N_("Remaining (mu)"), "area"),
    _C("planned_parcels", N_("Parcels on record (count)"), "count"),
    _C("planned_m2", N_("Area on record (m²)"), "area"),
    _C("planned_mu", N_("Area on record (mu)"), "area"),
    _C("delivered_parcels", N_("Delivered/demolished parcels"), "count"),
    _C("delivered_m2", N_("Delivered/demolished area (m²)"), "area"),
    _C("delivered_mu", N_("Delivered/demolished area (mu)"), "area"),
)
_PERIOD = _C("period", N_("Time period"), "text")
_AS_OF = _C("as_of", N_("As of"), "date")
_DISTRICT = _C("district", N_("District or county"), "text")
_TOWNSHIP = _C("township", N_("Township or subdistrict"), "text")
_PROJECT = _C("project", N_("Project code"), "text")
_PROJECT_NAME = _C("project_name", N_("Project name"), "text")
_KIND = _C("kind", N_("Kind"), "text")
_LEADING = {
    "district": (_DISTRICT, _KIND),
    "township": (_DISTRICT, _TOWNSHIP, _KIND),
    "project": (_DISTRICT, _PROJECT, _PROJECT_NAME, _TOWNSHIP, _KIND),
    "quarter": (_PERIOD, _AS_OF, _DISTRICT, _TOWNSHIP, _KIND),
    "month": (_PERIOD, _AS_OF, _DISTRICT, _TOWNSHIP, _KIND),
}
RANKING_COLUMNS = (
    _C("rank", N_("Rank"), "count"),
    _DISTRICT,
    _TOWNSHIP,
    _KIND,
    _C("verified_mu", N_("Verified area (mu)"), "area"),
    _C("verified_m2", N_("Verified area (m²)"), "area"),
    _C("target_mu", N_("Target (mu)"), "area"),
    _C("target_m2", N_("Target (m²)"), "area"),
    _C("progress", N_("Completion"), "percent"),
    _C("remaining_mu", N_("Remaining (mu)"), "area"),
    _C("remaining_m2", N_("Remaining (m²)"), "area"),
    _C("months_left", N_("Months left"), "months"),
    _C("pace_mu", N_("Needed per month (mu/month)"), "area"),
    _C("pace_m2", N_("Needed per month (m²/month)"), "area"),
)
_FORMATS = {"count": "#,##0", "area": "#,##0.00", "percent": "0.00%", "months": "0.0"}


# Beside an earlier campaign (or the same period a year earlier): its figures and the
# differences (this − earlier); `%(campaign)s` names the earlier one.
COMPARED_COLUMNS = (
    _C("compare_verified_m2", N_("%(campaign)s: verified area (m²)"), "area"),
    _C("compare_verified_mu", N_("%(campaign)s: verified area (mu)"), "area"),
    _C("compare_target_m2", N_("%(campaign)s: target (m²)"), "area"),
    _C("compare_progress", N_("%(campaign)s: completion"), "percent"),
    _C("verified_m2_change", N_("Change in verified area (m²)"), "area"),
    _C("verified_mu_change", N_("Change in verified area (mu)"), "area"),
    _C("progress_change", N_("Change in completion"), "percent"),
)


def columns(by: str, compare: bool = False) -> tuple[Column, ...]:
    return (*_LEADING[by], *_MEASURES, *(COMPARED_COLUMNS if compare else ()))


# The composite ranking (综合考评排名) of the quarter the export is as of.
COMPOSITE_COLUMNS = (
    _C("level", N_("Level"), "text"),
    _C("ranked_period", N_("Assessment period"), "text"),
    _C("rank", N_("Rank"), "count"),
    _C("change", N_("Rank change (+ up)"), "count"),
    _C("parent", N_("Within"), "text"),
    _C("unit", N_("Unit"), "text"),
    _C("score", N_("Composite score"), "percent"),
    _C("land", N_("Land progress"), "percent"),
    _C("demolition", N_("Demolition progress"), "percent"),
    _C("relocation", N_("Relocation households progress"), "percent"),
    _C("milestones", N_("Milestones on time"), "percent"),
)
LEVEL_LABELS = {"township": N_("township"), "district": N_("district")}
# Relocation (回迁) is counted in households, flats and floor area, not parcel area.
RELOCATION_COLUMNS = (
    _DISTRICT,
    _TOWNSHIP,
    _PROJECT,
    _PROJECT_NAME,
    _C("households_planned", N_("Households planned"), "count"),
    _C("households_allocated", N_("Households allocated"), "count"),
    _C("households_handed_over", N_("Households handed over"), "count"),
    _C("households_certified", N_("Households certified"), "count"),
    _C("flats_planned", N_("Flats planned"), "count"),
    _C("flats_allocated", N_("Flats allocated"), "count"),
    _C("flats_handed_over", N_("Flats handed over"), "count"),
    _C("flats_certified", N_("Flats certified"), "count"),
    _C("m2_planned", N_("Floor area planned (m²)"), "area"),
    _C("m2_allocated", N_("Floor area allocated (m²)"), "area"),
    _C("m2_handed_over", N_("Floor area handed over (m²)"), "area"),
    _C("m2_certified", N_("Floor area certified (m²)"), "area"),
    _C("households_verified", N_("Households signed off"), "count"),
    _C("target_households", N_("Target households"), "count"),
    _C("progress_households", N_("Households progress"), "percent"),
    _C("target_flats", N_("Target flats"), "count"),
    _C("target_m2", N_("Target floor area (m²)"), "area"),
)


@dataclass
class TallyExport:
    """The rows of a tally export, ready for any of the writers."""

    by: str
    year: int
    as_of: date | None
    kinds: list[str]
    rows: list[dict]  # the columns' keys, plus "total": True on district total rows
    ranking: list[dict] = field(default_factory=list)
    reference_day: date | None = None
    composite: list[dict] = field(default_factory=list)
    relocation: list[dict] = field(default_factory=list)
    # The campaign's name (攻坚2017): what the headings say.
    campaign: str | None = None
    # What the rows are set beside: an earlier campaign's name, or the period a year
    # earlier (2016Q2) with compare=last_year; None for no comparison.
    compare: str | None = None

    @property
    def columns(self) -> tuple[Column, ...]:
        return columns(self.by, self.compare is not None)


def tally_export(
    session: Session,
    by: str = "township",
    kind: str | None = None,
    year: int | None = None,
    as_of: date | None = None,
    district: str | None = None,
    campaign: str | None = None,
    compare: str | None = None,
    period: Period | None = None,
) -> TallyExport:
    """Tally rows for `by` (district, township, project, or a township series by quarter or
    month) with each district's total after its rows, and the township ranking with the
    pace needed per remaining month; for the campaign named (else the one a year names,
    else the one shown by default). `compare`: an earlier campaign beside each row, or
    last_year (this quarter, or `period`, against the same days a year earlier: the rows
    are then the period's own figures), as `tallies.compared` gives them."""
    if by not in EXPORT_GROUPINGS:
        raise InvalidInput(
            f"--by must be one of {', '.join(EXPORT_GROUPINGS)}",
            rule="grouping", params={"choices": ", ".join(EXPORT_GROUPINGS), "value": by},
        )  # fmt: skip
    if kind is not None and kind not in KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(KINDS)}",
            rule="choice", params={"option": "kind", "choices": ", ".join(KINDS), "value": kind},
        )  # fmt: skip
    if as_of is not None and year is not None and as_of.year != year:
        raise InvalidInput(
            f"--as-of {as_of} is not in {year}: an export is for one year",
            rule="as_of_year", params={"day": str(as_of), "year": year},
        )  # fmt: skip
    if compare and by in ("quarter", "month"):
        raise InvalidInput(
            f"--compare: group by district, township or project, not by {by}",
            rule="compare_grouping", params={"value": by},
        )  # fmt: skip
    tallies.check_period_compared(compare, period)
    chosen, _ = tallies.campaign_and_day(session, campaign, year, as_of)
    year = chosen.year
    if district:
        district = find_district(session, district).name
    day = tallies.reference_day(chosen, as_of)
    if compare:
        query = dict(kind=kind, campaign=chosen, district=district, as_of=as_of, period=period)
        rows = _compared_with_totals(session, by, compare, query)
    elif by in ("quarter", "month"):
        rows = _series(session, by, kind, chosen, day, district)
    else:
        rows = _with_totals(session, by, kind, chosen, as_of, district)
    kinds = [kind] if kind else sorted({r["kind"] for r in rows} or KINDS, key=KINDS.index)
    export = TallyExport(by=by, year=year, as_of=as_of, kinds=kinds, rows=rows, reference_day=day)
    export.campaign = rows[0]["campaign"] if compare and rows else chosen.name
    export.compare = rows[0]["compare_campaign"] if compare and rows else compare
    export.ranking = ranking(session, kind, chosen, as_of, district)
    names = [r["district"] for r in rows]
    export.composite = composite_ranking(session, day, district, names, chosen)
    if kind is None:
        export.relocation = relocation_rows(session, by, chosen, as_of, district)
    return export


def _compared_with_totals(session, by: str, compare: str, query: dict) -> list[dict]:
    """The compared rows, each district's compared total after its rows."""

    def rows(grouping):
        found = tallies.compared(session, compare, by=grouping, exact=True, **query)
        return [{**r, "total": False} for r in found]

    if by == "district":
        return rows("district")
    found, out = rows(by), []
    for total in rows("district"):
        key = (total["district"], total["kind"])
        out += [r for r in found if (r["district"], r["kind"]) == key]
        out.append({**total, "total": True})
    seen = {(r["district"], r["kind"]) for r in out}
    return out + [r for r in found if (r["district"], r["kind"]) not in seen]


def composite_ranking(
    session, day: date, district: str | None, districts: list, campaign=None
) -> list[dict]:
    """The quarter of `day` ranked as `geo-service rank` does (in the campaign given): the
    townships of each district in the export, then (for a city-wide export) the districts
    of the city."""
    period = rankings.Period(day.year, quarter=(day.month - 1) // 3 + 1)
    names = [district] if district else list(dict.fromkeys(d for d in districts if d))
    out = []
    for name in names:
        result = rankings.rank(session, "township", period, district=name, campaign=campaign)
        out += [_composite_row(r, "township", name, period) for r in result["rows"]]
    if not district:
        result = rankings.rank(session, "district", period, campaign=campaign)
        out += [_composite_row(r, "district", None, period) for r in result["rows"]]
    return out


def _composite_row(row: dict, level: str, parent: str | None, period) -> dict:
    parts = {k: (row[k] or {}).get("value") for k in rankings.COMPONENTS}
    return {
        "level": level,
        "ranked_period": str(period),
        "rank": row["rank"],
        "change": row["change"],
        "parent": parent,
        "unit": row["unit"],
        "score": row["score"],
        **parts,
    }


def relocation_rows(session, by: str, campaign, as_of, district) -> list[dict]:
    """Relocation tallied like the export's rows (a series is tallied by township), over
    the campaign's days."""
    grouping = by if by in ("district", "township", "project") else "township"
    rows = relocation_tallies.tally(
        session, by=grouping, as_of=as_of, district=district, campaign=campaign
    )
    return [r.as_dict(grouping) for r in rows]


def _tally(session, by, kind, year, as_of, district, quarter=None) -> list:
    """`year`: a year, or the campaign itself."""
    chosen = year if isinstance(year, CampaignView) else None
    return tallies.tally(
        session,
        by=by,
        kind=kind,
        year=None if chosen else year,
        as_of=as_of,
        quarter=quarter,
        district=district,
        campaign=chosen,
    )


def _record(row: tallies.TallyRow, **extra) -> dict:
    data = row.as_dict("project", exact=True)
    data.pop("credit", None)
    return {**data, "total": False, **extra}


def _with_totals(session, by, kind, year, as_of, district) -> list[dict]:
    rows = [_record(r) for r in _tally(session, by, kind, year, as_of, district)]
    if by == "district":
        return rows
    totals = _tally(session, "district", kind, year, as_of, district)
    return _interleave(rows, totals)


def _interleave(rows: list[dict], totals: list, **extra) -> list[dict]:
    """Each district's rows, then its total (the district's own union, not a sum)."""
    out = []
    for total in totals:
        out += [r for r in rows if (r["district"], r["kind"]) == (total.district, total.kind)]
        out.append(_record(total, total=True, **extra))
    seen = {(t.district, t.kind) for t in totals}
    return out + [r for r in rows if (r["district"], r["kind"]) not in seen]


def periods(by: str, campaign: "CampaignView | int", day: date) -> list[tuple]:
    """(key, last day, quarter) of each quarter or month of the campaign begun by `day`,
    across the new year when the campaign is (2016-Q4, 2017-Q1 …); the current period
    ends at `day` itself. A year stands for its calendar campaign."""
    if isinstance(campaign, int):
        campaign = CampaignView(None, str(campaign), date(campaign, 1, 1), date(campaign, 12, 31))
    if by == "quarter":
        parts = [(f"{q.year}-Q{q.quarter}", q.start, q.end, q.quarter) for q in campaign.quarters()]
    else:
        parts, start = [], date(campaign.first_day.year, campaign.first_day.month, 1)
        while start <= campaign.last_day:
            end = _month_end(start.year, start.month)
            parts.append((f"{start.year}-{start.month:02d}", start, end, None))
            start = end + timedelta(days=1)
    last = min(day, campaign.last_day)
    return [(key, min(end, last), q) for key, start, end, q in parts if start <= last]


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _series(session, by, kind, year, day, district) -> list[dict]:
    out = []
    for key, end, quarter in periods(by, year, day):
        extra = {"period": key, "as_of": end}
        rows = [
            _record(r, **extra)
            for r in _tally(session, "township", kind, year, end, district, quarter)
        ]
        totals = _tally(session, "district", kind, year, end, district, quarter)
        out += _interleave(rows, totals, **extra)
    return out


def ranking(session, kind, year, as_of, district=None) -> list[dict]:
    """Townships of each district and kind by progress (those without a target last), each
    with the pace needed per remaining month to meet its target (倒排工期), then the
    district's own line."""
    day = tallies.reference_day(year, as_of)
    left = tallies.months_left(day, year)
    townships = _tally(session, "township", kind, year, as_of, district)
    out = []
    for total in _tally(session, "district", kind, year, as_of, district):
        group = [r for r in townships if (r.district, r.kind) == (total.district, total.kind)]
        group.sort(key=lambda r: (r.progress is None, -(r.progress or 0), r.township or ""))
        out += [_ranked(r, i + 1, day, year, left) for i, r in enumerate(group)]
        out.append(_ranked(total, None, day, year, left, total=True))
    return out


def _ranked(row, rank, day, year, left, total=False) -> dict:
    pace = tallies.pace_per_month(row.remaining_m2, day, year)
    return {
        "rank": rank,
        "district": row.district,
        "township": row.township,
        "kind": row.kind,
        "verified_m2": row.verified_m2,
        "verified_mu": row.verified_mu,
        "target_m2": row.target_m2,
        "target_mu": row.target_mu,
        "progress": row.progress,
        "remaining_m2": row.remaining_m2,
        "remaining_mu": m2_to_mu(row.remaining_m2),
        "months_left": left,
        "pace_m2": pace,
        "pace_mu": m2_to_mu(pace),
        "total": total,
    }


# --- writers ------------------------------------------------------------------------------


def _label(row: dict, col: Column, _):
    value = row.get(col.key)
    if col.key == "kind":
        return _(KIND_LABELS[value]) if value in KIND_LABELS else value
    if col.key == "township" and row.get("total"):
        return _(TOTAL_LABEL)
    if col.key == "period" and value:
        return _period_label(value, _)
    if col.key == "ranked_period" and value:  # 2017Q2: named as a series names its quarters
        return _period_label(value.replace("Q", "-Q"), _)
    if col.key == "level":
        return _(LEVEL_LABELS[value]) if value in LEVEL_LABELS else value
    return value


def _period_label(key: str, _) -> str:
    year, part = key.split("-")
    if part.startswith("Q"):
        return _("%(year)s Q%(q)s") % {"year": year, "q": part[1]}
    return _("%(year)s-%(mm)s") % {"year": year, "mm": part, "month": int(part)}


def words(lang: str):
    """The gettext of an export's language ("zh" or "en")."""
    _check_lang(lang)
    return translations(_LOCALES[lang]).gettext


def tallies_csv(export: TallyExport, lang: str = "zh") -> bytes:
    """UTF-8 with a byte-order mark, so Excel on a Chinese Windows reads it as UTF-8 (not
    GBK); m² and mu rounded to 0.01, progress as a percentage to 0.01."""
    _ = words(lang)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.header(_, True, export.compare) for c in export.columns])
    for row in export.rows:
        writer.writerow([_csv_value(_label(row, c, _), c) for c in export.columns])
    return buffer.getvalue().encode("utf-8-sig")


def _csv_value(value, col: Column):
    if value is None:
        return ""
    if col.style == "area":
        return f"{value:.2f}"
    if col.style == "percent":
        return f"{value * 100:.2f}"
    if col.style == "date":
        return value.isoformat()
    return spreadsheet_safe(value)


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise InvalidInput(
            f"--lang must be zh or en, not {lang!r}",
            rule="choice", params={"option": "lang", "choices": "zh, en", "value": lang},
        )  # fmt: skip


_RELOCATION_SHEET = N_("relocation")
_RANKING_SHEET = N_("Ranking and pace")
_COMPOSITE_SHEET = N_("Composite ranking")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")


def tallies_xlsx(export: TallyExport, lang: str = "zh") -> bytes:
    """A sheet per kind (the rows, each district's total after its townships), a ranking
    sheet with the pace needed per remaining month, and a sheet saying what was counted."""
    _ = words(lang)
    book = Workbook()
    book.remove(book.active)
    for kind in export.kinds:
        rows = [r for r in export.rows if r["kind"] == kind]
        _sheet(book, _(KIND_LABELS[kind]), export.columns, rows, _, export.compare)
    if export.relocation:
        _sheet(book, _(_RELOCATION_SHEET), RELOCATION_COLUMNS, export.relocation, _)
    _sheet(book, _(_RANKING_SHEET), RANKING_COLUMNS, export.ranking, _)
    _sheet(book, _(_COMPOSITE_SHEET), COMPOSITE_COLUMNS, export.composite, _)
    _about_sheet(book, export, _)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet(book, title: str, cols, rows: list[dict], _, compare: str | None = None) -> None:
    sheet = book.create_sheet(title)
    sheet.append([c.header(_, compare=compare) for c in cols])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        sheet.append([_xlsx_value(_label(row, c, _)) for c in cols])
        if row.get("total"):
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
                cell.fill = _TOTAL_FILL
    for i, col in enumerate(cols, start=1):
        letter = get_column_letter(i)
        sheet.column_dimensions[letter].width = 14 if col.style != "text" else 16
        if col.style in _FORMATS or col.style == "date":
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = _FORMATS.get(col.style, "yyyy-mm-dd")
    sheet.row_dimensions[1].height = 32
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = sheet.dimensions
    _print_setup(sheet, title, _)
    sheet.print_title_rows = "1:1"


def _print_setup(sheet, title: str, _) -> None:
    """On paper a sheet is as wide as an A4 landscape page, however many pages long, with
    its title and page number on each page (a 17-column sheet otherwise prints 5 pages wide)."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.oddHeader.center.text = title.replace("&", "&&")
    sheet.oddFooter.center.text = _("Page &P of &N")


def _xlsx_value(value):
    # openpyxl stores a string that starts with "=" as a formula: escape it, as for CSV.
    return spreadsheet_safe(value)


# What each `by` of a tally export is, as the export form and the About sheet name it.
GROUPINGS = {
    "township": N_("by township"),
    "district": N_("by district"),
    "project": N_("by project"),
    "quarter": N_("townships by quarter"),
    "month": N_("townships by month"),
}

_ABOUT = {
    "sheet": N_("About"),
    "campaign": N_("Campaign"),
    "compare": N_("Compared with"),
    "as_of": N_("As of (end of day, China Standard Time)"),
    "now": N_("now"),
    "by": N_("Grouped by"),
    "generated": N_("Generated"),
    "rule": N_("Counting rule"),
    "rule_text": N_(
        "Union of verified parcels (geodesic, CGCS2000); a total is the district's own "
        "union, not the sum of its rows; 1 mu = 10000/15 m²"
    ),
}


def _about_sheet(book, export: TallyExport, _) -> None:
    said = {key: _(msgid) for key, msgid in _ABOUT.items()}
    sheet = book.create_sheet(said["sheet"])
    day = export.as_of.isoformat() if export.as_of else said["now"]
    lines = [
        (said["campaign"], export.campaign or export.year),
        (said["as_of"], day),
        *([(said["compare"], export.compare)] if export.compare else []),
        (said["by"], _(GROUPINGS[export.by]) if export.by in GROUPINGS else export.by),
        (said["generated"], datetime.now(tallies.CAMPAIGN_TZ).isoformat("T", "minutes")),
        (said["rule"], said["rule_text"]),
    ]
    for key, value in lines:
        sheet.append([key, spreadsheet_safe(value)])
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 90
    _print_setup(sheet, sheet.title, _)


def _wall_number(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


# On paper each district is one A4 landscape page: a section never breaks inside, a kind's
# heading stays with its table, and the table's type shrinks (--fit, set per section from its
# row count) so that a district with many townships still fits its page.
_PRINT_CSS = """
@page { size: A4 landscape; margin: 10mm; }
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif;
       color: #000; margin: 0; }
section.district { page-break-after: always; break-after: page; padding: 8mm; }
section.district:last-child { page-break-after: auto; break-after: auto; }
div.kind { break-inside: avoid; page-break-inside: avoid; }
h2 { font-size: 20pt; margin: 0 0 2mm; }
p.meta { font-size: 10pt; margin: 0 0 4mm; }
h3 { font-size: 14pt; margin: 4mm 0 2mm; break-after: avoid; page-break-after: avoid; }
header.top { padding: 2mm 8mm; }
header.top h1 { display: inline; font-size: 12pt; margin-left: 4mm; }
table { border-collapse: collapse; width: 100%; font-size: 11pt; page-break-inside: avoid; }
th, td { border: 1px solid #000; padding: 1.2mm 2mm; }
th { background: #ddebf7; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; background: #f2f2f2; }
@media screen { section.district { max-width: 277mm; margin: 0 auto 10mm;
                                    box-shadow: 0 0 4px #999; } }
/* A phone: the same tables narrower (smaller type, tighter cells, headings that wrap);
   a table still too wide scrolls in its own box, never the page. */
@media screen and (max-width: 700px) {
  header.top { padding: 0 2mm; }
  header.top a { display: inline-block; min-height: 44px; line-height: 44px; }
  section.district { padding: 2mm; }
  h2 { font-size: 16pt; }
  table { font-size: 12px; }
  th, td { padding: 1mm; overflow-wrap: anywhere; }
  div.kind { overflow-x: auto; }
}
@media print {
  header.top { display: none; }
  section.district { padding: 0; break-inside: avoid; page-break-inside: avoid; }
  h2 { font-size: 16pt; margin: 0 0 1mm; line-height: 1.2; }
  p.meta { font-size: 9pt; margin: 0 0 2mm; line-height: 1.2; }
  h3 { font-size: 12pt; margin: 2mm 0 1mm; line-height: 1.2; }
  table { font-size: var(--fit, 11pt); }
  div.kinds.side { display: grid; grid-template-columns: 1fr 1fr; gap: 4mm; align-items: start; }
  th, td { padding: 0.25em 0.5em; line-height: 1.25; }
  th, tr.total td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
# A4 landscape less the margins is 190 mm high; the district heading, its note and each
# kind's heading take about WALL_HEADINGS_MM and WALL_KIND_MM of it, a table row about
# WALL_ROW_MM_PER_PT per point of type (1.25 lines and 0.5 em of padding) plus its border.
WALL_PAGE_MM = 190
WALL_HEADINGS_MM = 26
WALL_KIND_MM = 10
WALL_ROW_MM_PER_PT = 0.62
WALL_MAX_PT, WALL_MIN_PT = 11.0, 5.5
# Below this size the kinds' tables go side by side instead (half the height, half the width).
WALL_STACKED_MIN_PT = 8.0
WALL_SIDE_MAX_PT = 9.0


def _fitting_size(lines: int, room: float) -> float:
    return (room - 0.3 * lines) / (WALL_ROW_MM_PER_PT * lines)


def wall_layout(table_lines: list[int]) -> tuple[bool, float]:
    """(side by side, point size) at which tables of these many lines (a header counts two)
    fit one page: one above the other while the type stays readable, else side by side."""
    if not table_lines:
        return False, WALL_MAX_PT
    room = WALL_PAGE_MM - WALL_HEADINGS_MM
    stacked = _fitting_size(sum(table_lines), room - WALL_KIND_MM * len(table_lines))
    if stacked >= WALL_STACKED_MIN_PT or len(table_lines) == 1:
        return False, round(max(WALL_MIN_PT, min(WALL_MAX_PT, stacked)), 1)
    side = _fitting_size(max(table_lines), room - WALL_KIND_MM)
    return True, round(max(WALL_MIN_PT, min(WALL_SIDE_MAX_PT, side)), 1)


def tallies_html(export: TallyExport, lang: str = "zh", home: bool = True) -> str:
    """One printable page per district (A4 landscape): each kind's townships ranked by
    progress, with target, remaining and the pace needed per remaining month. `home`: a
    link back to the service (not in a file saved to disk)."""
    _ = words(lang)
    districts = list(dict.fromkeys(r["district"] for r in export.ranking))
    sections = [_wall_section(export, d, _) for d in districts]
    title = html.escape(_("Progress tables"))
    # On screen a page like the others (a way home, one h1, a main); on paper the sections.
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        f'<meta charset="utf-8"><title>{title} {export.year}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        + ('<link rel="icon" href="/favicon.ico">' if home else "")
        + f"<style>{_PRINT_CSS}</style></head><body>"
        '<header class="top">'
        + (f'<a href="/">{html.escape(_(_HOME))}</a>' if home else "")
        + f"<h1>{title} {export.year}</h1></header>"
        f"<main>{''.join(sections)}</main></body></html>"
    )


_HOME = N_("geo_service campaign progress")


def _wall_section(export: TallyExport, district: str, _) -> str:
    day = export.reference_day.isoformat() if export.reference_day else ""
    heading = _("%(district)s %(campaign)s progress table") % {
        "district": district,
        "campaign": export.campaign or export.year,
    }
    meta = _(
        "As of the end of %(day)s (China Standard Time) · verified area is a union · a "
        "total is the district's own union"
    ) % {"day": day}
    tables, lines = [], []
    for kind in export.kinds:
        rows = [r for r in export.ranking if r["district"] == district and r["kind"] == kind]
        if rows:
            tables.append(_wall_table(rows, kind, _))
            lines.append(len(rows) + 2)
    side, size = wall_layout(lines)
    return (
        f'<section class="district" style="--fit: {size}pt">'
        f"<h2>{html.escape(heading)}</h2>"
        f'<p class="meta">{html.escape(meta)}</p>'
        f'<div class="{"kinds side" if side else "kinds"}">{"".join(tables)}</div></section>'
    )


_WALL_UNITS = {"mu": N_("mu"), "m2": N_("square metres")}
_WALL_HEADS = (
    N_("Rank"), N_("Township or subdistrict"), N_("Verified area (%(unit)s)"),
    N_("Target area (%(unit)s)"), N_("Completion"), N_("Remaining area (%(unit)s)"),
    N_("Needed per month (%(unit)s/month)"),
)  # fmt: skip


def _wall_table(rows: list[dict], kind: str, _) -> str:
    unit = WALL_UNIT[kind]
    unit_label = _(_WALL_UNITS[unit])
    heads = [_(head) % {"unit": unit_label} for head in _WALL_HEADS]
    body = []
    for r in rows:
        cells = [
            "" if r["rank"] is None else str(r["rank"]),
            _(TOTAL_LABEL) if r["total"] else (r["township"] or ""),
        ]
        numbers = [
            _wall_number(r[f"verified_{unit}"]),
            _wall_number(r[f"target_{unit}"]),
            "—" if r["progress"] is None else f"{r['progress']:.1%}",
            _wall_number(r[f"remaining_{unit}"]),
            _wall_number(r[f"pace_{unit}"]),
        ]
        tds = [f"<td>{html.escape(c)}</td>" for c in cells]
        tds += [f'<td class="n">{html.escape(n)}</td>' for n in numbers]
        body.append(f"<tr{' class=total' if r['total'] else ''}>{''.join(tds)}</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    return (
        f'<div class="kind"><h3>{html.escape(_(KIND_LABELS[kind]))}</h3>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


# --- parcel layers --------------------------------------------------------------------------

PARCEL_FORMATS = ("gpkg", "shp", "geojson", "kml", "kmz", "csv")
# The formats that carry the parcels' photos: a KMZ holds them as files (images/...) shown
# in each placemark's description, a GeoPackage in an attributes table (parcel_photos).
PHOTO_FORMATS = ("gpkg", "kmz")
# CGCS2000 lon/lat, WGS84, and the CGCS2000 3-degree Gauss-Kruger zones and central
# meridians Fuzhou's surveys use (zone 39-41 with prefixed eastings; CM 117/120/123°E).
EXPORT_CRS = (4490, 4326, 4527, 4528, 4529, 4548, 4549, 4550)
LONLAT_ONLY = ("geojson", "kml", "kmz")  # RFC 7946 and KML: WGS84 lon/lat by definition
SHP_ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "CP936", "cp936": "CP936"}
MEDIA_TYPES = {
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "geojson": "application/geo+json",
    "kml": "application/vnd.google-earth.kml+xml",
    "kmz": "application/vnd.google-earth.kmz",
    "csv": "text/csv; charset=utf-8",
}
SUFFIXES = {"gpkg": ".gpkg", "shp": ".zip", "geojson": ".geojson", "kml": ".kml",
            "kmz": ".kmz", "csv": ".csv"}  # fmt: skip
# The fields of every parcel layer, in order. The names are the ones `geo-service import`
# reads back (code, name, status, project, support, declared_m2, field_day), so an exported
# layer re-imports unchanged; in an admin's migration the rest of each parcel's state too
# (README: the fields a parcel file may carry). Shapefile (DBF) names stop at 10
# characters: SHP_FIELD_NAMES.
PARCEL_FIELDS = (
    "code", "name", "kind", "status", "district", "township", "project", "project_name",
    "support", "declared_m2", "area_m2", "area_mu", "verified_by", "verified_group",
    "verified_at", "verified_area_m2", "verification_recorded_at", "verification_recorded_by",
    "field_day", "recorded_at", "recorded_by", "note",
    "dispute_reason", "flags", "version", "parcel_id",
)  # fmt: skip
SHP_FIELD_NAMES = {
    "project_name": "proj_name",
    "declared_m2": "declared_m",
    "verified_by": "verif_by",
    "verified_group": "verif_grp",
    "verified_at": "verif_at",
    "verified_area_m2": "verif_m2",
    "verification_recorded_at": "verif_rat",
    "verification_recorded_by": "verif_rby",
    "recorded_at": "record_at",
    "recorded_by": "record_by",
    "dispute_reason": "dispute_r",
    "parcel_id": "parcel_id",
}
# The fields that are moments: a GeoPackage keeps them as DateTime (China time with its
# offset), a Shapefile (DBF has no time of day) as the Date in China; the text formats
# write them as _MOMENT does.
MOMENT_FIELDS = ("verified_at", "verification_recorded_at", "field_day", "recorded_at")
# A moment as the layers write it: China time with its offset, to the second.
_MOMENT = """to_char({} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS+08:00')"""
STATUS_COLOURS = {  # the progress map's status colours (maps/static/geo_service_maps.js)
    "planned": "9e9e9e",
    "in_progress": "42a5f5",
    "delivered": "ff9800",
    "demolished": "ff9800",
    "verified": "1b5e20",
    "disputed": "d32f2f",
}

_PARCELS_SQL = f"""
    SELECT v.parcel_id, v.code, p.name, v.kind, v.status, d.name AS district,
           t.name AS township, pr.code AS project, pr.name AS project_name,
           (SELECT string_agg(s.name, '、' ORDER BY s.name) FROM admin_units s
             WHERE s.id = ANY(v.support_ids)) AS support,
           p.declared_m2, v.area_m2, v.area_m2 / {10000 / 15!r} AS area_mu,
           v.verified_by, v.verified_group, {_MOMENT.format("v.verified_at")} AS verified_at,
           v.verified_area_m2,
           {_MOMENT.format("s.recorded_at")} AS verification_recorded_at,
           s.recorded_by AS verification_recorded_by,
           {_MOMENT.format("v.valid_from")} AS field_day,
           {_MOMENT.format("coalesce(v.recorded_at, v.valid_from)")} AS recorded_at,
           coalesce(v.recorded_by, v.changed_by) AS recorded_by,
           CASE WHEN v.verified_at IS NOT NULL THEN p.verification_note END AS note,
           CASE WHEN v.status IN ('disputed', 'withdrawn') THEN v.note END AS dispute_reason,
           CASE WHEN v.flags <> '[]'::jsonb THEN v.flags::text END AS flags,
           v.version, v.geom
    FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id
    JOIN admin_units t ON t.id = v.township_id JOIN admin_units d ON d.id = t.parent_id
    LEFT JOIN projects pr ON pr.id = v.project_id
    -- When and by whom the sign-off in force was entered: the version that brought it.
    LEFT JOIN LATERAL (
        SELECT coalesce(w.recorded_at, w.valid_from) AS recorded_at,
               coalesce(w.recorded_by, w.changed_by) AS recorded_by
        FROM parcel_versions w
        WHERE w.parcel_id = v.parcel_id AND w.verified_at = v.verified_at
        ORDER BY w.version LIMIT 1
    ) s ON true
    WHERE {tallies.VALID_DURING.format(v="v")}
      AND (v.status <> 'withdrawn' OR CAST(:status AS text) = 'withdrawn')
      AND (CAST(:district AS text) IS NULL OR d.name = :district OR d.code = :district)
      AND (CAST(:township AS text) IS NULL OR t.name = :township OR t.code = :township)
      AND (CAST(:kind AS text) IS NULL OR v.kind = :kind)
      AND (CAST(:status AS text) IS NULL OR v.status = :status)
    ORDER BY d.name, t.name, v.kind, v.code
"""


def parse_crs(value: str | int | None) -> int:
    """EPSG:4549, 4549 or the OGC URI → 4549, among the CRSs offered."""
    if value is None or value == "":
        return 4490
    text = str(value).strip().upper().rstrip("/")
    for prefix in ("HTTP://WWW.OPENGIS.NET/DEF/CRS/EPSG/0/", "EPSG:"):
        text = text.removeprefix(prefix)
    if text in ("CRS84", "HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84"):
        return 4326
    if not text.isdigit() or int(text) not in EXPORT_CRS:
        offered = ", ".join(f"EPSG:{c}" for c in EXPORT_CRS)
        raise InvalidInput(
            f"--crs must be one of {offered}, not {value!r}",
            rule="choice", params={"option": "crs", "choices": offered, "value": value},
        )  # fmt: skip
    return int(text)


def parcel_frame(
    session: Session,
    district: str | None = None,
    township: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    as_of: date | None = None,
):
    """The parcels as they stood at the end of `as_of` (now when None), in EPSG:4490."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(KINDS)}",
            rule="choice", params={"option": "kind", "choices": ", ".join(KINDS), "value": kind},
        )  # fmt: skip
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUSES)}",
            rule="choice",
            params={"option": "status", "choices": ", ".join(STATUSES), "value": status},
        )
    if district:
        find_district(session, district)
    params = {
        "as_of": tallies.end_of_day(as_of) if as_of else None,
        "district": district,
        "township": township,
        "kind": kind,
        "status": status,
    }
    frame = gpd.read_postgis(
        text(_PARCELS_SQL), session.connection(), geom_col="geom", params=params, crs=4490
    )
    return frame.rename_geometry("geometry")[[*PARCEL_FIELDS, "geometry"]]


def layer_photos(session: Session, frame) -> list[photos.ExportedPhoto]:
    """The photos a layer of these parcels carries (PHOTO_FORMATS): each parcel's photos of
    the version exported or before."""
    versions = dict(zip(frame["parcel_id"].astype(int), frame["version"].astype(int), strict=True))
    return photos.exported_photos(session, versions)


def write_parcels(frame, fmt: str, crs: int, path, encoding: str = "UTF-8", photos=()):
    """Writes the layer with GDAL (pyogrio) to `path`; a Shapefile becomes a zip of its
    .shp, .shx, .dbf, .prj and .cpg; `photos` (layer_photos) go into a GeoPackage's
    parcel_photos table or a KMZ's images/. Returns the path written."""
    if fmt not in PARCEL_FORMATS:
        raise InvalidInput(
            f"--format must be one of {', '.join(PARCEL_FORMATS)}",
            rule="choice",
            params={"option": "format", "choices": ", ".join(PARCEL_FORMATS), "value": fmt},
        )
    if fmt in LONLAT_ONLY and crs not in (4326, 4490):
        raise InvalidInput(
            f"{fmt} is lon/lat (WGS84) by definition: leave out --crs",
            rule="crs_lonlat_only", params={"format": fmt},
        )  # fmt: skip
    _check_area_of_use(frame, crs)
    path = Path(path)
    path.unlink(missing_ok=True)
    frame = frame.to_crs(4326 if fmt in LONLAT_ONLY else crs)
    if fmt == "gpkg":
        pyogrio.write_dataframe(
            _with_moments(frame), path, layer="parcels", driver="GPKG",
            dataset_options=GPKG_OPTIONS,
        )  # fmt: skip
        _gpkg_photos(path, frame, photos)
    elif fmt == "geojson":
        # RFC 7946: WGS84 lon/lat, counter-clockwise exteriors, no "crs" member.
        pyogrio.write_dataframe(
            frame, path, driver="GeoJSON", layer_options={"RFC7946": "YES",
                                                          "COORDINATE_PRECISION": LONLAT_DIGITS}
        )  # fmt: skip
    elif fmt == "csv":
        # A CSV is opened in a spreadsheet: names that look like formulas stay text.
        for column in SAFE_TEXT_COLUMNS:  # the importer takes the apostrophes off again
            frame[column] = frame[column].map(spreadsheet_safe)
        pyogrio.write_dataframe(
            frame, path, driver="CSV", layer_options={"GEOMETRY": "AS_WKT", "WRITE_BOM": "YES"}
        )
    elif fmt == "kml":
        _write_kml(frame, path)
    elif fmt == "kmz":
        _write_kmz(frame, path, photos)
    else:
        codepage = SHP_ENCODINGS.get(encoding.lower())
        if codepage is None:
            raise InvalidInput(
                f"--encoding must be UTF-8 or GBK, not {encoding!r}",
                rule="choice",
                params={"option": "encoding", "choices": "UTF-8, GBK", "value": encoding},
            )
        with scratch.folder("export") as folder:
            _write_shapefile(frame, Path(folder) / "parcels.shp", codepage)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in sorted(Path(folder).iterdir()):
                    archive.write(part, part.name)
    return path


def _with_moments(frame):
    """The moment fields as datetimes in China time (the frame holds them as text)."""
    frame = frame.copy()
    for column in MOMENT_FIELDS:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame


def _write_shapefile(frame, path: Path, codepage: str) -> None:
    """pyogrio writes a datetime as DateTime, which the Shapefile driver turns into text: the
    moments go down as numpy days (datetime64[D]), GDAL's Date, through the raw writer."""
    frame = _with_moments(frame)
    columns = [c for c in frame.columns if c != "geometry"]
    data, masks = [], []
    for column in columns:
        values = frame[column]
        if column in MOMENT_FIELDS:
            # China time, the offset dropped: its day is the day in China.
            data.append(values.dt.tz_localize(None).to_numpy().astype("datetime64[D]"))
            masks.append(values.isna().to_numpy())
        elif isinstance(values.array, pd.api.extensions.ExtensionArray) and not isinstance(
            values.array, pd.arrays.NumpyExtensionArray
        ):
            data.append(np.asarray(values.astype(object).where(values.notna(), None)))
            masks.append(values.isna().to_numpy())
        else:
            data.append(values.to_numpy())
            masks.append(None)
    kinds = set(frame.geometry.geom_type.dropna())
    pyogrio.raw.write(
        path, geometry=shapely.to_wkb(frame.geometry.values), field_data=data,
        field_mask=masks, fields=[SHP_FIELD_NAMES.get(c, c) for c in columns],
        crs=f"EPSG:{frame.crs.to_epsg()}", driver="ESRI Shapefile", encoding=codepage,
        geometry_type="MultiPolygon" if "MultiPolygon" in kinds else "Polygon",
        promote_to_multi="MultiPolygon" in kinds,
    )  # fmt: skip


def _check_area_of_use(frame, epsg: int) -> None:
    """A Gauss-Kruger zone distorts outside its 3 degrees, and a re-import refuses such
    coordinates: parcels outside the zone are refused here, naming the zones that fit."""
    if frame.empty:
        return
    west, south, east, north = frame.total_bounds
    area = CRS.from_epsg(epsg).area_of_use
    if west < area.west or east > area.east or south < area.south or north > area.north:
        raise InvalidInput(
            f"the parcels (lon {west:.2f}..{east:.2f}) lie outside EPSG:{epsg}'s area "
            f"(lon {area.west}..{area.east}): choose the zone that holds them, e.g. "
            "EPSG:4528 or EPSG:4549 for Fuzhou",
            rule="crs_export_area",
            params={"west": f"{west:.2f}", "east": f"{east:.2f}", "crs": f"EPSG:{epsg}",
                    "area_west": area.west, "area_east": area.east},
        )  # fmt: skip


def _write_kml(frame, path) -> None:
    """LIBKML with the parcel name as each placemark's name (empty when it has none, so a
    re-import reads no name), code, township and status in its description, and one style
    per status (the map's colours) referenced by styleUrl."""
    frame = frame.copy()
    # KML 2.2 wants outer boundaries counter-clockwise; LIBKML writes rings as they are.
    frame["geometry"] = oriented(frame.geometry.values)
    frame["name"] = frame["name"].fillna("")
    frame["description"] = [
        f"{c} · {t} · {s}" for c, t, s in zip(frame.code, frame.township, frame.status, strict=True)
    ]
    pyogrio.write_dataframe(frame, path, driver="LIBKML", layer="parcels")
    text = path.read_text(encoding="utf-8")
    styles = "".join(
        f'<Style id="status_{s}"><LineStyle><color>ff{_kml_colour(c)}</color><width>2</width>'
        f"</LineStyle><PolyStyle><color>80{_kml_colour(c)}</color></PolyStyle></Style>"
        for s, c in STATUS_COLOURS.items()
    )
    # pyogrio cannot set a feature's style: each placemark gets its styleUrl from the
    # status that ends its description.
    text = _KML_DESCRIPTION.sub(
        lambda m: f"{m.group(0)}<styleUrl>#status_{m.group(1).rsplit(' · ', 1)[1]}</styleUrl>",
        text,
    )
    # Shared styles belong at the top of the Document, before its folders and placemarks.
    head, sep, rest = text.partition("<Document")
    tag_end = rest.index(">") + 1
    path.write_text(head + sep + rest[:tag_end] + styles + rest[tag_end:], encoding="utf-8")


_KML_DESCRIPTION = re.compile(r"<description>([^<]*)</description>")


def _kml_colour(rgb: str) -> str:
    # KML colours are aabbggrr.
    return rgb[4:6] + rgb[2:4] + rgb[0:2]


# --- photos in the layers -------------------------------------------------------------------

_GPKG_PHOTOS = """
CREATE TABLE parcel_photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id INTEGER NOT NULL,
    parcel_id INTEGER NOT NULL,
    parcel_code TEXT NOT NULL,
    township TEXT,
    kind TEXT,
    version INTEGER NOT NULL,
    taken_at DATETIME,
    lon DOUBLE,
    lat DOUBLE,
    mime TEXT NOT NULL,
    photo BLOB NOT NULL
)"""


def _gpkg_photos(path: Path, frame, photos) -> None:
    """The photos as a GeoPackage attributes table (a non-spatial table registered in
    gpkg_contents), one row per photo naming its parcel by code, township and kind (a
    code alone may repeat across townships)."""
    if not photos:
        return
    parcels = {
        int(r.parcel_id): (r.code, r.township, r.kind)
        for r in frame[["parcel_id", "code", "township", "kind"]].itertuples()
    }
    with sqlite3.connect(path) as db:
        db.execute(_GPKG_PHOTOS)
        db.executemany(
            "INSERT INTO parcel_photos (photo_id, parcel_id, parcel_code, township, kind, "
            "version, taken_at, lon, lat, mime, photo) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(p.id, p.parcel_id, *parcels[p.parcel_id], p.version, p.taken_at, p.lon, p.lat,
              p.mime, p.content) for p in photos],
        )  # fmt: skip
        db.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change) VALUES ('parcel_photos', 'attributes', 'parcel_photos', "
            "'photos of the parcels taken on site (parcel_id, version: the parcels layer)', "
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
        )
    db.close()


def _write_kmz(frame, path: Path, photos) -> None:
    """The KML of _write_kml as doc.kml, with the photos as images/<parcel>-<photo>.jpg,
    shown in the description of their parcel's placemark."""
    with scratch.folder("export") as folder:
        kml = Path(folder) / "doc.kml"
        _write_kml(frame, kml)
        text = kml.read_text(encoding="utf-8")
    names = {p.id: f"images/{p.parcel_id}-{p.id}{p.suffix}" for p in photos}
    by_parcel: dict[int, list] = {}
    for photo in photos:
        by_parcel.setdefault(photo.parcel_id, []).append(photo)
    text = _PLACEMARK.sub(lambda m: _with_photos(m.group(0), by_parcel, names), text)
    # A KMZ is a zip whose first entry is the KML (Google Earth reads the first .kml).
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", text)
        for photo in photos:
            archive.writestr(names[photo.id], photo.content, zipfile.ZIP_STORED)


_PLACEMARK = re.compile(r"<Placemark[ >].*?</Placemark>", re.S)
_PARCEL_ID = re.compile(r'<SimpleData name="parcel_id">(\d+)</SimpleData>')


def _with_photos(placemark: str, by_parcel: dict, names: dict) -> str:
    found = _PARCEL_ID.search(placemark)
    shown = by_parcel.get(int(found.group(1))) if found else None
    if not shown:
        return placemark

    def described(match: re.Match) -> str:
        images = "".join(
            f'<br><img src="{names[p.id]}" width="320">'
            + (f"<br>{html.escape(p.taken_at)}" if p.taken_at else "")
            for p in shown
        )
        return f"<description><![CDATA[{match.group(1)}{images}]]></description>"

    return _KML_DESCRIPTION.sub(described, placemark, count=1)
