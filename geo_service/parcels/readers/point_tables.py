"""Boundary-point tables (界址点成果表) as XLSX or CSV, and CASS coordinate files (.dat).

A table has one row per boundary point: parcel code (宗地号), point number (界址点号),
X (northing), Y (easting) and, optionally, the ring (圈号). Title rows may sit above the
header; rows without coordinates between the points (side lengths, 边长) are passed over;
a code cell left empty (Excel's merged cells) carries the one above; the closing point
may be repeated or not. The header names are recognised in their usual variants
(HEADERS), or given with `columns` ("code=宗地代码,x=北坐标").

A .dat file is CASS's own: 点名,编码,Y(east),X(north),H, no header; its points are one
parcel named after the file, or parcels grouped by the 编码 column when it is filled.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np

from geo_service.errors import InvalidInput
from geo_service.parcels import crs as crsmod
from geo_service.parcels.readers.boundary_points import (
    CLOSE_TOLERANCE_M,
    Parsed,
    _assemble,
    _easting_first,
    as_read,
    crossing_problem,
    self_crossings,
)
from geo_service.parcels.readers.encoding import decode_text, detect_text
from geo_service.problems import Problem

XLSX, CSV, DAT = ".xlsx", ".csv", ".dat"
SUFFIXES = (XLSX, CSV, DAT)
HEADERS = {
    "code": ("宗地号", "宗地编号", "宗地代码", "地块编号", "地块号", "CODE", "PARCEL_CODE", "DKBH"),
    "point": ("界址点号", "点号", "点名", "界址点", "界址点编号", "POINT", "JZDH"),
    "x": ("X", "X坐标", "纵坐标", "北坐标", "NORTHING"),
    "y": ("Y", "Y坐标", "横坐标", "东坐标", "EASTING"),
    "ring": ("圈号", "环号", "RING"),
}
HEADER_ROWS_SEARCHED = 30
_UNIT = re.compile(r"[(（\[【](M|米|公尺)[)）\]】]$")
_TITLE_CODE = re.compile(r"(?:宗地号|宗地编号|宗地代码|地块编号)\s*[:：]\s*([^\s,，;；]+)")


@dataclass
class _Point:
    line: int  # the row of the table, 1-based, as a spreadsheet shows it
    name: str
    north: float
    east: float


@dataclass
class _Parcel:
    code: str
    rings: dict[str, list[_Point]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # the errors' rows, for the pages


def parse_columns(text: str | None) -> dict[str, str]:
    """`code=宗地代码,x=北坐标` -> {"code": "宗地代码", "x": "北坐标"}."""
    mapping = {}
    for part in (text or "").replace("，", ",").split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not part.strip():
            continue
        if not sep or key not in HEADERS or not value.strip():
            raise InvalidInput(
                f"columns: {part.strip()!r} is not <field>=<header> with a field among "
                f"{', '.join(HEADERS)} (e.g. code=宗地代码,x=北坐标)",
                rule="columns_option",
                params={"value": part.strip(), "choices": ", ".join(HEADERS)},
            )
        mapping[key] = value.strip()
    return mapping


def read(
    path: Path,
    name: str,
    override: crsmod.SourceCRS | None,
    encoding: str | None = None,
    sheet: str | None = None,
    columns: str | None = None,
    place: crsmod.Place | None = None,
) -> Parsed:
    """The parcels of a point table in its own coordinates (x = easting, y = northing)."""
    suffix = Path(name).suffix.lower() or Path(path).suffix.lower()
    mapping = parse_columns(columns)
    used = None
    if suffix == XLSX:
        rows = _xlsx_rows(path, name, sheet, mapping)
    else:
        used, text = _text(Path(path).read_bytes(), name, encoding)
        rows = list(csv.reader(io.StringIO(text)))
    if suffix == DAT:
        parcels = _dat_parcels(rows, Path(name).stem)
    else:
        parcels = _table_parcels(rows, name, Path(name).stem, mapping)
    return _parsed(parcels, name, override, used, place)


def _xlsx_rows(path: Path, name: str, sheet: str | None, mapping: dict) -> list[list]:
    # Imported here, as rosters.py does: openpyxl is 0.14 s of every import command's
    # start-up, and only a workbook of boundary points needs it.
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet and sheet not in book.sheetnames:
            raise crsmod.refusal(
                name, "no_parcels",
                f"no sheet {sheet!r} in the workbook (sheets: {', '.join(book.sheetnames)})",
                {"variant": "no_sheet", "sheet": sheet, "sheets": ", ".join(book.sheetnames)},
            )  # fmt: skip
        names = [sheet] if sheet else book.sheetnames
        tables = [[list(r) for r in book[n].iter_rows(values_only=True)] for n in names]
    finally:
        book.close()
    found = [rows for rows in tables if _header_at(rows, mapping) is not None]
    if len(found) > 1 and not sheet:
        raise crsmod.refusal(
            name, "no_parcels",
            f"several sheets hold point tables ({', '.join(book.sheetnames)}); "
            "say which with --layer",
            {"variant": "several_sheets", "sheets": ", ".join(book.sheetnames)},
        )  # fmt: skip
    return found[0] if found else tables[0]


def _text(data: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    if encoding:
        try:
            return encoding, decode_text(data, encoding)
        except UnicodeDecodeError as exc:
            raise crsmod.refusal(
                name,
                "encoding",
                f"the text is not valid {encoding} ({exc})",
                {"variant": "invalid", "encoding": encoding},
            ) from None
    found = detect_text(data)
    if found is None:
        raise crsmod.refusal(
            name, "encoding",
            "the text is neither UTF-8 nor GBK/GB18030; give its encoding with --encoding",
            {"variant": "unknown"},
        )  # fmt: skip
    return found


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header_key(value) -> str:
    key = re.sub(r"\s+", "", _cell(value)).upper()
    return _UNIT.sub("", key)


def _header_at(rows: list[list], mapping: dict[str, str]) -> tuple[int, dict[str, int]] | None:
    """(row index, field -> column) of the header: the first row naming X and Y."""
    wanted = {f: (_header_key(mapping[f]),) if f in mapping else HEADERS[f] for f in HEADERS}
    for index, row in enumerate(rows[:HEADER_ROWS_SEARCHED]):
        keys = [_header_key(v) for v in row]
        found = {}
        for field_name, names in wanted.items():
            column = next((i for i, k in enumerate(keys) if k in names), None)
            if column is not None:
                found[field_name] = column
        if "x" in found and "y" in found:
            return index, found
    return None


def _table_parcels(rows, name: str, stem: str, mapping: dict[str, str]) -> list[_Parcel]:
    header = _header_at(rows, mapping)
    if header is None:
        expected = " / ".join(HEADERS["x"][:3]) + " and " + " / ".join(HEADERS["y"][:3])
        raise crsmod.refusal(
            name, "no_parcels",
            f"no header row with the coordinate columns ({expected}) in the first "
            f"{HEADER_ROWS_SEARCHED} rows; name the columns with --columns "
            "(e.g. code=宗地代码,point=点号,x=北坐标,y=东坐标)",
            {"variant": "no_header", "expected": expected, "rows": HEADER_ROWS_SEARCHED},
        )  # fmt: skip
    at, columns = header
    code = _title_code(rows[:at]) or stem
    ring, parcels = "1", {}
    for index in range(at + 1, len(rows)):
        row = list(rows[index]) + [None] * 8

        def value(field_name, row=row):
            return _cell(row[columns[field_name]]) if field_name in columns else ""

        code = value("code") or code
        ring = value("ring") or ring
        x, y = value("x"), value("y")
        if not x and not y:
            continue  # a side length (边长) or a blank row between the points
        parcel = parcels.setdefault(code, _Parcel(code))
        _add(parcel, ring, value("point") or f"row {index + 1}", x, y, index + 1)
    return list(parcels.values())


def _title_code(rows: list[list]) -> str | None:
    for row in rows:
        for value in row:
            match = _TITLE_CODE.search(_cell(value))
            if match:
                return match.group(1)
    return None


def _dat_parcels(rows, stem: str) -> list[_Parcel]:
    parcels: dict[str, _Parcel] = {}
    for index, row in enumerate(rows):
        fields = [f.strip() for f in row]
        if not any(fields):
            continue
        fields += [""] * (4 - len(fields))
        parcel = parcels.setdefault(fields[1] or stem, _Parcel(fields[1] or stem))
        # 点名,编码,Y(east),X(north): X given to _add as the northing, as tables have it
        _add(parcel, "1", fields[0] or f"line {index + 1}", fields[3], fields[2], index + 1)
    return list(parcels.values())


def _add(parcel: _Parcel, ring: str, point: str, x: str, y: str, line: int) -> None:
    try:
        north, east = float(x), float(y)
    except ValueError:
        north = east = float("nan")
    if not (np.isfinite(north) and np.isfinite(east)):
        parcel.bad_lines.append(line)
        parcel.errors.append(f"row {line} ({point}): coordinates {x!r}, {y!r}")
        return
    parcel.rings.setdefault(ring, []).append(_Point(line, point, north, east))


def _parsed(parcels: list[_Parcel], name: str, override, encoding, place=None) -> Parsed:
    points = np.array([(p.north, p.east) for c in parcels for r in c.rings.values() for p in r])
    if not len(points):
        raise crsmod.refusal(name, "no_parcels", "no boundary points with coordinates",
                             {"variant": "no_points"})  # fmt: skip
    problems: list[Problem] = []
    if _easting_first(points, name):  # X holds the eastings: the columns are swapped
        for parcel in parcels:
            for ring in parcel.rings.values():
                for p in ring:
                    p.north, p.east = p.east, p.north
        problems.append(
            Problem(None, None, "columns_swapped", "warning",
                    "the X column holds eastings and Y northings (X is the northing in "
                    "Gauss-Kruger surveys): they were read the other way round",
                    params={})
        )  # fmt: skip
    rows, geometries = [], []
    for number, parcel in enumerate(parcels, start=1):
        rows.append({"code": parcel.code})
        geometries.append(_geometry(parcel, number, problems))
    east_north = np.array([(p.east, p.north) for c in parcels for r in c.rings.values() for p in r])
    if override is not None:
        source = override
    else:
        bounds = (*east_north.min(axis=0), *east_north.max(axis=0))
        source, inferred = crsmod.infer_from_coordinates(bounds, name, place)
        problems = inferred + problems
    frame = gpd.GeoDataFrame(
        rows, geometry=gpd.GeoSeries(geometries, crs=None if source.gcj02 else source.crs)
    )
    return Parsed(frame=frame, source=source, problems=problems, encoding=encoding)


def _geometry(parcel: _Parcel, number: int, problems: list):
    def error(rule, message, params):
        problems.append(Problem(number, parcel.code, rule, "error", message, params=params))

    if parcel.errors:
        error("bad_coordinate", "unreadable point row(s): " + "; ".join(parcel.errors[:5]),
              {"variant": "rows", "lines": ", ".join(map(str, parcel.bad_lines[:5]))})  # fmt: skip
        return None
    rings, crossed = [], None
    for ring_no, points in parcel.rings.items():
        names = [p.name for p in points]
        xy = np.array([(p.east, p.north) for p in points])
        if len(xy) > 1 and np.all(np.abs(xy[0] - xy[-1]) <= CLOSE_TOLERANCE_M):
            xy, names = xy[:-1], names[:-1]  # the closing point, repeated
        distinct = len(np.unique(np.round(xy, 3), axis=0))
        if distinct < 3:
            error(
                "too_few_points",
                f"ring {ring_no} has {distinct} distinct point(s); a boundary needs at least 3",
                {"ring": ring_no, "count": distinct},
            )
            return None
        crossings = self_crossings(xy, names)
        if crossings and crossed is None:
            crossed = crossing_problem(number, parcel.code, [ring_no], crossings)
        rings.append(np.vstack([xy, xy[:1]]))
    if crossed is not None:
        problems.append(crossed)  # refused, its rings given back as read for the report
        return as_read(rings)
    return _assemble(rings)
