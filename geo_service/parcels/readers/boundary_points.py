"""Boundary-point coordinate files (界址点坐标文件): the text format of land surveys and
construction-land approvals.

    [属性描述]
    坐标系=2000国家大地坐标系
    几度分带=3
    带号=40
    ...
    [地块坐标]
    <点数>,<面积(公顷)>,<地块编号>,<地块名称>,面,<图幅号>,<地块用途>,<地类编码>,@
    J1,1,<X northing>,<Y easting>
    ...

Variants handled: GBK or UTF-8 (with or without BOM; decoding is the caller's), CRLF or
LF, easting first (told by magnitude), eastings with or without the zone prefix, point
counts with or without the closing points, extra header fields before '@', several
parcels, holes and multi-part parcels (a ring after the first that lies inside an earlier
outer ring is a hole, one outside is another part).
"""

import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geo_service.parcels import crs as crsmod
from geo_service.problems import Problem, refusal

HEADER_SECTION, COORDINATE_SECTION = "属性描述", "地块坐标"
_SECTION = re.compile(r"^\s*\[\s*(.+?)\s*\]\s*$")
_GEOMETRY_WORDS = {"面": "polygon", "线": "line", "点": "point"}
CLOSE_TOLERANCE_M = 0.0005  # coordinates are given to the millimetre
# Plain Gauss-Kruger eastings are below 1 000 km; zone-prefixed ones are zone * 1e6 + that;
# northings in China are between 1 000 and 10 000 km.
PLAIN_EASTING_MAX = 1_000_000.0
NORTHING_RANGE = (1_000_000.0, 10_000_000.0)


def looks_like(text: str) -> bool:
    """Whether decoded text is a boundary-point file (it has one of the two sections)."""
    head = text[:4096]
    return any(f"[{s}]" in head.replace(" ", "") for s in (HEADER_SECTION, COORDINATE_SECTION))


@dataclass
class _Parcel:
    line: int
    fields: list[str]
    rings: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # Each ring's point numbers (J1, J2…), as the surveyor wrote them: problems name them.
    names: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # the errors' lines, for the pages


@dataclass
class Parsed:
    frame: gpd.GeoDataFrame
    source: crsmod.SourceCRS
    problems: list[Problem]
    encoding: str | None = None  # what the text was read as, when the reader decoded it


def parse(
    text: str,
    filename: str,
    override: crsmod.SourceCRS | None = None,
    place: crsmod.Place | None = None,
) -> Parsed:
    """Parcels of a boundary-point file in the file's CRS (x = easting, y = northing).

    `override` (from --crs) replaces the CRS the header describes; `place`, the declared
    township's, gives the zone when neither the eastings nor the header do. Raises UploadRefused for
    a file that cannot be read as a whole; per-parcel problems come back in `problems`
    with the parcel's geometry None.
    """
    header, parcels = _sections(text, filename)
    points = np.array([pt for p in parcels for ring in p.rings.values() for pt in ring])
    if not parcels or not len(points):
        raise refusal(
            filename,
            "no_parcels",
            f"no parcel coordinates in the [{COORDINATE_SECTION}] section",
            {"variant": "no_section", "section": COORDINATE_SECTION},
        )
    easting_first = _easting_first(points, filename)
    problems: list[Problem] = []
    if override is not None:
        source = override
    else:
        east_north = points if easting_first else points[:, ::-1]
        source, found = _header_crs(header, east_north, filename, place)
        problems.extend(found)
    rows, geometries = [], []
    for number, parcel in enumerate(parcels, start=1):
        row = _attributes(parcel.fields)
        rows.append(row)
        geometries.append(_geometry(parcel, number, row["code"], easting_first, problems))
    frame = gpd.GeoDataFrame(
        rows,
        geometry=gpd.GeoSeries(geometries, crs=None if source.gcj02 else source.crs),
    )
    return Parsed(frame=frame, source=source, problems=problems)


def _sections(text: str, filename: str) -> tuple[dict[str, str], list[_Parcel]]:
    header: dict[str, str] = {}
    parcels: list[_Parcel] = []
    section = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().replace("，", ",")
        if not line:
            continue
        match = _SECTION.match(line)
        if match:
            section = match.group(1).replace(" ", "")
            continue
        if section == HEADER_SECTION:
            key, sep, value = line.partition("=")
            if sep:
                header[key.strip()] = value.strip()
        elif section == COORDINATE_SECTION:
            fields = [f.strip() for f in line.split(",")]
            if _is_parcel_header(fields):
                parcels.append(_Parcel(number, fields))
                continue
            if not parcels:
                raise refusal(
                    filename,
                    "malformed_file",
                    f"line {number}: a point before any parcel header line "
                    "(<点数>,<面积>,<地块编号>,<地块名称>,面,...,@)",
                    {"variant": "point_before_header", "line": number},
                )
            _add_point(parcels[-1], fields, number)
    return header, parcels


def _is_parcel_header(fields: list[str]) -> bool:
    return fields[-1] == "@" or (len(fields) >= 5 and fields[4] in _GEOMETRY_WORDS)


def _add_point(parcel: _Parcel, fields: list[str], number: int) -> None:
    if len(fields) < 4:
        parcel.bad_lines.append(number)
        parcel.errors.append(f"line {number}: expected <点号>,<圈号>,<X>,<Y>")
        return
    ring = fields[1]
    try:
        x, y = float(fields[2]), float(fields[3])
    except ValueError:
        parcel.bad_lines.append(number)
        parcel.errors.append(f"line {number}: coordinates {fields[2]!r}, {fields[3]!r}")
        return
    if not (np.isfinite(x) and np.isfinite(y)):
        parcel.bad_lines.append(number)
        parcel.errors.append(f"line {number}: coordinates {fields[2]!r}, {fields[3]!r}")
        return
    parcel.rings.setdefault(ring, []).append((x, y))
    parcel.names.setdefault(ring, []).append(fields[0])


def _easting_first(points: np.ndarray, filename: str) -> bool:
    """Whether the file lists easting before northing, judged over all its points."""

    def northing(column):
        return bool(np.all((column >= NORTHING_RANGE[0]) & (column < NORTHING_RANGE[1])))

    def easting(column):
        return bool(np.all((column < PLAIN_EASTING_MAX) | (column >= NORTHING_RANGE[1])))

    first, second = points[:, 0], points[:, 1]
    if northing(first) and easting(second):
        return False
    if northing(second) and easting(first):
        return True
    raise refusal(
        filename,
        "coordinates_unrecognised",
        "cannot tell the northing (X, about 2.8-3.0 million metres in Fuzhou) from the "
        "easting (Y) in the point lines: are these Gauss-Kruger coordinates in metres?",
        {"variant": "northing"},
    )


def _datum(system: str | None) -> str | None:
    if not system:
        return None
    text = system.upper().replace(" ", "")
    if "2000" in text or "CGCS" in text:
        return crsmod.CGCS2000
    if "西安" in text or "XIAN" in text or "80" in text:
        return crsmod.XIAN1980
    if "北京" in text or "BEIJING" in text or "54" in text:
        return crsmod.BEIJING1954
    return ""


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _header_crs(header: dict, east_north: np.ndarray, filename: str, place=None):
    """The CRS the header and the eastings describe (else the township's zone), and any
    warnings about it."""
    problems = []
    eastings = east_north[:, 0]
    system = header.get("坐标系")
    datum = _datum(system)
    if datum == "":
        raise refusal(
            filename,
            "crs_not_accepted",
            f"坐标系={system} is not a datum this service knows (2000国家大地坐标系, "
            "1980西安坐标系, 1954北京坐标系); give the CRS with --crs "
            f"({crsmod.accepted_summary()})",
            {"variant": "datum", "system": system},
        )
    width = _int(header.get("几度分带")) or 3
    if width != 3:
        raise refusal(
            filename,
            "crs_not_accepted",
            f"几度分带={width}: only 3-degree Gauss-Kruger zones are accepted; give the CRS "
            f"with --crs ({crsmod.accepted_summary()})",
            {"variant": "zone_width", "width": width},
        )
    header_zone = _int(header.get("带号"))
    meridian = _int(header.get("中央子午线"))
    if header_zone and header_zone > 60 and header_zone % 3 == 0:
        header_zone = header_zone // 3  # some writers give the central meridian here
    if header_zone is None and meridian and meridian % 3 == 0:
        header_zone = meridian // 3
    prefixed = eastings >= PLAIN_EASTING_MAX
    if prefixed.any() and not prefixed.all():
        raise refusal(
            filename,
            "coordinates_unrecognised",
            "some eastings carry a zone prefix and some do not",
            {"variant": "mixed_prefixes"},
        )
    if prefixed.all():
        zones = np.unique(np.floor(eastings / 1_000_000).astype(int))
        if len(zones) > 1:
            listed = ", ".join(str(z) for z in zones)
            raise refusal(
                filename,
                "coordinates_unrecognised",
                f"eastings in several zones ({listed})",
                {"variant": "zones", "zones": listed},
            )
        zone = int(zones[0])
        if header_zone and header_zone != zone:
            problems.append(
                _file_warning(
                    "zone_mismatch",
                    f"带号={header_zone} in the header, but the eastings carry zone prefix "
                    f"{zone}: zone {zone} was used",
                    {"header": header_zone, "zone": zone},
                )
            )
        how = f"the zone prefix {zone} of the eastings"
    else:
        if header_zone is None:
            bounds = (*east_north.min(axis=0), *east_north.max(axis=0))
            found, missed = crsmod.zone_from_place(bounds, place, datum or crsmod.CGCS2000)
            if found is not None:
                return found[0], [*problems, found[1]]
            raise refusal(
                filename,
                "crs_missing",
                "the eastings carry no zone prefix and the header gives no 带号, so the zone "
                f"is unknown{missed}; give the CRS with --crs (for example --crs EPSG:4549 "
                "for CGCS2000 GK CM 120E)",
                {"variant": "no_zone"},
            )
        zone = header_zone
        how = f"带号={zone} in the header"
    if not 25 <= zone <= 45:
        raise refusal(
            filename,
            "crs_not_accepted",
            f"3-degree zone {zone} is not a zone of China's Gauss-Kruger grid (25..45); "
            f"give the CRS with --crs ({crsmod.accepted_summary()})",
            {"variant": "zone", "zone": zone},
        )
    if datum is None:
        datum = crsmod.CGCS2000
        code = crsmod.gk_epsg(datum, zone, bool(prefixed.all()))
        xian = crsmod.gk_epsg(crsmod.XIAN1980, zone, bool(prefixed.all()))
        beijing = crsmod.gk_epsg(crsmod.BEIJING1954, zone, bool(prefixed.all()))
        problems.append(
            _file_warning(
                "crs_inferred",
                f"the header gives no 坐标系; from {how} CGCS2000 3-degree GK zone {zone} "
                f"(EPSG:{code}) was assumed; if the survey is on another datum say so with "
                f"--crs EPSG:{xian} (Xian 1980) or --crs EPSG:{beijing} (Beijing 1954)",
                {"zone": zone, "code": code, "xian": xian, "beijing": beijing},
            )
        )
    code = crsmod.gk_epsg(datum, zone, bool(prefixed.all()))
    return crsmod.SourceCRS(CRS.from_epsg(code)), problems


def _file_warning(rule: str, message: str, params: dict) -> Problem:
    return Problem(None, None, rule, "warning", message, params=params)


def _attributes(fields: list[str]) -> dict:
    """<点数>,<面积(公顷)>,<地块编号>,<地块名称>,面,<图幅号>,<地块用途>,<地类编码>,[extra...]@"""
    values = fields[:-1] if fields and fields[-1] == "@" else list(fields)
    values += [""] * (8 - len(values))

    def text(i):
        return values[i] or None

    try:
        hectares = float(values[1]) if values[1] else None
    except ValueError:
        hectares = None
    return {
        "code": text(2),
        "name": text(3),
        "use": text(6),
        "declared_m2": hectares * 10_000 if hectares is not None else None,
        "sheet": text(5),
        "land_class": text(7),
        "points": _int(values[0]),
    }


def _geometry(parcel: _Parcel, number: int, code, easting_first: bool, problems: list):
    def error(rule, message, params):
        problems.append(Problem(number, code, rule, "error", message, params=params))

    if parcel.errors:
        error("bad_coordinate", "unreadable point line(s): " + "; ".join(parcel.errors[:5]),
              {"lines": ", ".join(map(str, parcel.bad_lines[:5]))})  # fmt: skip
        return None
    kind = parcel.fields[4] if len(parcel.fields) > 4 else "面"
    if _GEOMETRY_WORDS.get(kind, "polygon") != "polygon":
        error("not_polygon", f"the parcel is marked {kind} ({_GEOMETRY_WORDS[kind]}), not 面",
              {"variant": "marked", "kind": kind})  # fmt: skip
        return None
    if not parcel.rings:
        error("too_few_points", "the parcel has no points", {"variant": "none"})
        return None
    rings, crossings = [], []
    for ring_no, points in parcel.rings.items():
        xy = np.array(points)[:, ::-1] if not easting_first else np.array(points)
        closed = len(xy) > 1 and np.all(np.abs(xy[0] - xy[-1]) <= CLOSE_TOLERANCE_M)
        open_ring = xy[:-1] if closed else xy
        names = parcel.names[ring_no][: len(open_ring)]
        distinct = len(np.unique(np.round(open_ring, 3), axis=0))
        if distinct < 3:
            error(
                "too_few_points",
                f"ring {ring_no} has {distinct} distinct point(s); a boundary needs at least 3",
                {"ring": ring_no, "count": distinct},
            )
            return None
        if not closed:
            problems.append(
                Problem(
                    number,
                    code,
                    "unclosed_ring",
                    "warning",
                    f"ring {ring_no} does not end on its first point; it was closed",
                    params={"ring": ring_no},
                )
            )
        crossings += [(ring_no, found) for found in self_crossings(open_ring, names)]
        rings.append(np.vstack([open_ring, open_ring[:1]]))
    if crossings:
        # Refused here, where the point numbers are known (the checks would only have a
        # coordinate); the rings come back as read, so the report can draw them.
        problems.append(_crossing_problem(number, code, crossings))
        return as_read(rings)
    return _assemble(rings)


def _crossing_problem(number: int, code, crossings: list[tuple[str, tuple[str, str]]]):
    return crossing_problem(number, code, sorted({r for r, _ in crossings}, key=str),
                            [sides for _r, sides in crossings])  # fmt: skip


def crossing_problem(number: int, code, rings: list[str], crossings: list[tuple[str, str]]):
    """The error of a boundary crossing itself, naming the sides by their point numbers
    ("J2–J3 crosses J5–J6"); its params say them without English words, for the pages."""
    shown = crossings[:5]
    more = "; ..." if len(crossings) > 5 else ""
    ring = ", ".join(str(r) for r in rings)
    listed = "; ".join(f"{a} crosses {b}" for a, b in shown) + more
    return Problem(
        number, code, "ring_crosses_itself", "error",
        f"ring {ring} crosses itself: {listed}; check the order and coordinates of these points",
        params={"ring": ring, "crossings": "; ".join(f"{a} × {b}" for a, b in shown) + more},
    )  # fmt: skip


def as_read(rings: list[np.ndarray]):
    """The rings as the file gives them, each a polygon of its own (not checked, not
    repaired): what the report draws of a parcel refused while reading."""
    polygons = [shapely.Polygon(ring) for ring in rings]
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def self_crossings(xy: np.ndarray, names: list[str]) -> list[tuple[str, str]]:
    """Where the closed ring through `xy` crosses itself, as pairs of sides named by their
    points: [("J2–J3", "J5–J6"), ...]. Neighbouring sides share a point and do not count."""
    count = len(xy)
    ends = np.roll(xy, -1, axis=0)
    sides = shapely.linestrings(np.stack([xy, ends], axis=1))
    left, right = shapely.STRtree(sides).query(sides, predicate="intersects")
    found = []
    for i, j in zip(left, right, strict=True):
        if j <= i or j - i == 1 or (i == 0 and j == count - 1):
            continue
        found.append(
            (f"{names[i]}–{names[(i + 1) % count]}", f"{names[j]}–{names[(j + 1) % count]}")
        )
    return found


def _assemble(rings: list[np.ndarray]):
    """Ring 1 is an outer ring; each later ring is a hole of the earlier outer ring that
    contains it (and none of whose holes does), or else an outer ring of another part."""
    parts: list[tuple[np.ndarray, list[np.ndarray]]] = []
    for ring in rings:
        shape = shapely.Polygon(ring)
        host = None
        for outer, holes in parts:
            if _covers(outer, shape) and not any(_covers(h, shape) for h in holes):
                host = holes
                break
        if host is None:
            parts.append((ring, []))
        else:
            host.append(ring)
    polygons = [shapely.Polygon(outer, holes) for outer, holes in parts]
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _covers(ring: np.ndarray, shape) -> bool:
    try:
        return bool(shapely.covers(shapely.Polygon(ring), shape))
    except shapely.errors.GEOSException:  # a self-intersecting ring: the checks report it
        return False
