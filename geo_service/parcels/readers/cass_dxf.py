"""南方CASS drawings (DXF) through GDAL's DXF driver: parcels are the closed polylines on
the parcel layers (JZX, 宗地, ZD ...), each one's code the text placed inside it (on ZDH or
a similar layer). Map frames, titles, roads and every other layer are left out.

What a drawing does not say, and how it is settled:
- its CRS: none is written, so --crs, or the zone told by the eastings' prefix;
- its text encoding: GBK for drawings older than AutoCAD 2007 (AC1021) saved with code page
  ANSI_936, UTF-8 otherwise (GDAL would take a 2007 drawing's ANSI_1252 for its text's),
  unless --encoding says;
- arcs (bulges): GDAL tessellates them with ARC_OPTIONS, so that no chord strays more than
  1 cm from the true arc, whatever its radius.

DWG: pyogrio's GDAL has no DWG driver, Debian's (gdal-bin) has the CAD driver (libopencad),
which reads AutoCAD 2000 (AC1015) drawings only. Such a drawing goes through the system's
ogr2ogr into a GeoPackage (one table per drawing layer, the text in a `text` field) and
then through the same rules as a DXF. The CAD driver does not say whether a polyline is
closed (a closed one without arcs comes without its closing vertex), so every polyline on
the parcel layers is read as closed, with a warning. Any other version, or a machine
without the CAD driver, is refused with a request for a DXF, naming the version.
"""

import functools
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo_service.errors import UploadRefused
from geo_service.parcels import crs as crsmod
from geo_service.parcels.readers.boundary_points import Parsed
from geo_service.problems import Problem
from geo_service.settings import get_settings

DXF, DWG = ".dxf", ".dwg"
# 0.5° steps keep the chord within 1 cm of arcs up to 1,050 m in radius (r(1-cos 0.25°));
# chords of at most 8 m keep it within 8²/(8r) < 1 cm beyond that.
ARC_OPTIONS = {"OGR_ARC_STEPSIZE": "0.5", "OGR_ARC_MAX_GAP": "8"}
ARC_MAX_DEVIATION_M = 0.01
CLOSE_TOLERANCE_M = 0.001  # CASS writes coordinates to the millimetre
# An open polyline on a parcel layer whose ends are closer than this share of its length
# is an outline someone failed to close; a longer gap is a line of another kind.
NEARLY_CLOSED_SHARE = 0.05
UTF8_SINCE = "AC1021"  # AutoCAD 2007: DXF text is UTF-8 whatever $DWGCODEPAGE says
_HEADER_BYTES = 1 << 18
# DXF_ENCODING is a process-wide GDAL setting: set and read under one lock, so two uploads
# at once each read with their own.
_GDAL_SETTINGS = threading.Lock()
_RAW_CODES = {"DXF_INCLUDE_RAW_CODE_VALUES": "TRUE"}  # XDATA among them
_UNICODE_ESCAPE = re.compile(r"\\U\+([0-9A-Fa-f]{4})")
_MTEXT_FORMAT = re.compile(r"\\[A-Za-z][^;\\{}]*;|\\P|[{}]")
_POLYGONAL = ("Polygon", "MultiPolygon")
_LINEAR = ("LineString", "MultiLineString")


# The version string a DWG starts with, and the AutoCAD release that writes it.
DWG_VERSIONS = {
    "AC1009": "R11/R12",
    "AC1012": "R13",
    "AC1014": "R14",
    "AC1015": "2000",
    "AC1018": "2004",
    "AC1021": "2007",
    "AC1024": "2010",
    "AC1027": "2013",
    "AC1032": "2018",
}
CAD_DRIVER_READS = ("AC1015",)  # libopencad reads AutoCAD 2000 drawings only
DWG_TIMEOUT_S = 120
_DWG_LINES = ("CADLWPolyline", "CADPolyline3D")


def dwg_version(path: Path) -> str | None:
    """The AC10xx version string of a DWG's first 6 bytes, or None for no DWG header."""
    with Path(path).open("rb") as handle:
        head = handle.read(6).decode("latin-1")
    return head if re.fullmatch(r"AC\d{4}", head) else None


def dwg_refusal(name: str, version: str | None = None, why: str = "") -> UploadRefused:
    if version is None:
        what, said = "the file has no DWG header (AC10xx)", "该文件不是有效的 DWG 图形文件"
        params = {"variant": "no_header"}
    else:
        release = DWG_VERSIONS.get(version, "unknown")
        what = f"a DWG of AutoCAD {release} ({version}) {why or 'cannot be read here'}"
        said = f"该 DWG 图形为 AutoCAD {release} 版本（{version}），本系统无法直接读取"
        params = {"release": release, "version": version}
    # The command line shows both languages; the pages say it in the reader's language
    # from `params` (geo_service/web/problems.py).
    return crsmod.refusal(
        name,
        "dwg_not_read",
        f"{what}: only AutoCAD 2000 (AC1015) drawings are read; in 南方CASS or AutoCAD "
        "save the drawing as DXF (另存为 DXF) and upload the .dxf. "
        f"{said}，请在南方CASS或AutoCAD中将图形另存为 DXF 格式后再上传。",
        params,
    )


@functools.cache
def cad_driver() -> str | None:
    """The system's ogr2ogr when its GDAL has the CAD driver, else None."""
    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr is None:
        return None
    listed = subprocess.run(
        [ogr2ogr, "--formats"], capture_output=True, text=True, timeout=60, check=False
    )
    return ogr2ogr if re.search(r"^\s*CAD -", listed.stdout, re.MULTILINE) else None


def read_dwg(path, name, override, layer=None, place=None) -> Parsed:
    """An AutoCAD 2000 drawing through GDAL's CAD driver, by the rules of `read`."""
    version = dwg_version(path)
    if version not in CAD_DRIVER_READS:
        raise dwg_refusal(name, version)
    ogr2ogr = cad_driver()
    if ogr2ogr is None:
        raise dwg_refusal(name, version, "cannot be read on this server (no GDAL CAD driver)")
    with tempfile.TemporaryDirectory(prefix="dwg-") as folder:
        converted = Path(folder) / "drawing.gpkg"
        arcs = [arg for key, value in ARC_OPTIONS.items() for arg in ("--config", key, value)]
        done = subprocess.run(
            [ogr2ogr, *arcs, "-f", "GPKG", "-nlt", "CONVERT_TO_LINEAR", "-dim", "XY",
             str(converted), str(path)],
            capture_output=True, text=True, timeout=DWG_TIMEOUT_S, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not converted.exists():
            errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
            detail = re.sub(r"^ERROR \d+: ", "", (errors or ["no output"])[0])
            detail = detail.replace(str(path), name)
            raise dwg_refusal(name, version, f"could not be read by GDAL's CAD driver ({detail})")
        return read_converted(converted, name, override, layer, place)


def read_converted(converted: Path, name, override, layer=None, place=None) -> Parsed:
    """The parcels of a DWG that ogr2ogr's CAD driver wrote to a GeoPackage, one table per
    drawing layer."""
    entities = _dwg_entities(converted)
    closed = _close_polylines(entities, layers_wanted(layer)[0])
    parsed = _parcels(entities, name, override, layer, place, "UTF-8")
    if closed:
        parsed.problems.append(
            _file_problem(
                "dwg_closed_assumed",
                "warning",
                f"GDAL's CAD driver does not tell closed polylines from open ones: {closed} "
                "polyline(s) whose ends do not meet were read as closed; check the outlines, "
                "or upload a DXF export, in which open outlines are found",
                {"count": closed},
            )
        )
    return parsed


def _dwg_entities(converted: Path) -> pd.DataFrame:
    frames = []
    for layer_name, _kind in pyogrio.list_layers(str(converted)):
        frame = pyogrio.read_dataframe(str(converted), layer=layer_name)
        if not len(frame):
            continue
        frame["Layer"] = layer_name
        frame["Text"] = frame["text"] if "text" in frame.columns else None
        frame["cadgeom_type"] = frame.get("cadgeom_type")
        frames.append(frame[["Layer", "Text", "cadgeom_type", "geometry"]])
    if not frames:
        frame = gpd.GeoDataFrame(columns=["Layer", "Text", "cadgeom_type"], geometry=[])
    else:
        frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry")
    frame["RawCodeValues"] = None
    frame = frame[frame.geometry.notna().to_numpy()].reset_index(drop=True)
    return _prepared(frame)


def _close_polylines(entities: pd.DataFrame, parcel_layers: set[str]) -> int:
    """Give each open polyline its closing vertex; how many on the parcel layers were open."""
    count = 0
    on_parcel_layer = entities["layer_key"].isin(parcel_layers).to_numpy()
    geometries = entities.geometry.to_numpy().copy()
    for i, (geom, kind) in enumerate(zip(geometries, entities["cadgeom_type"], strict=True)):
        if kind not in _DWG_LINES or geom.geom_type != "LineString":
            continue
        coords = np.asarray(geom.coords)
        if len(coords) >= 3 and float(np.hypot(*(coords[-1] - coords[0]))) > CLOSE_TOLERANCE_M:
            geometries[i] = shapely.LineString(np.vstack([coords, coords[:1]]))
            count += int(on_parcel_layer[i])
    entities["geometry"] = geometries
    return count


def layers_wanted(layer: str | None) -> tuple[set[str], set[str]]:
    """(parcel layers, code layers), upper-cased: --layer names the parcel layers
    (comma separated), else the settings do."""
    settings = get_settings()
    parcels = layer if layer else settings.cass_parcel_layers
    return _names(parcels), _names(settings.cass_code_layers)


def xdata_code(raw_codes, apps: set[str]) -> str | None:
    """The first string (group 1000) of the XDATA of one of `apps`, from GDAL's raw codes
    ["1001 ZDH", "1000 JA-001", ...]."""
    if raw_codes is None:
        return None
    inside = False
    for item in raw_codes:
        group, _sep, value = str(item).partition(" ")
        if group == "1001":
            inside = value.strip().upper() in apps
        elif inside and group == "1000" and value.strip():
            return value.strip()
    return None


def _names(text: str) -> set[str]:
    return {n.strip().upper() for n in text.replace("，", ",").split(",") if n.strip()}


def read(
    path: Path,
    name: str,
    override: crsmod.SourceCRS | None,
    layer: str | None = None,
    encoding: str | None = None,
    place: crsmod.Place | None = None,
) -> Parsed:
    """The parcels of a CASS drawing in its own coordinates, one row per outline (an open
    one with no geometry and its problem), with the drawing's text encoding."""
    encoding = encoding or text_encoding(path)
    return _parcels(_entities(path, encoding), name, override, layer, place, encoding)


def _parcels(entities, name, override, layer, place, encoding) -> Parsed:
    parcel_layers, code_layers = layers_wanted(layer)
    on_parcel_layer = entities["layer_key"].isin(parcel_layers).to_numpy()
    outlines = entities[on_parcel_layer & _kinds(entities, _POLYGONAL + _LINEAR)]
    texts = entities[_kinds(entities, ("Point",)) & entities["text"].ne("").to_numpy()]
    code_texts = texts[texts["layer_key"].isin(code_layers).to_numpy()]
    if not len(code_texts):  # some draw the code on the outline's own layer
        code_texts = texts[texts["layer_key"].isin(parcel_layers).to_numpy()]
    shapes, skipped = _outlines(outlines)
    if not shapes:
        raise crsmod.refusal(name, "no_parcels", *_no_outline(entities, parcel_layers))
    frame, problems = _with_codes(shapes, code_texts, _names(get_settings().cass_code_xdata_apps))
    if skipped:
        problems.append(_file_problem("skipped_features", "warning", *_skipped(skipped)))
    source, inferred = _source(shapes, override, name, place)
    frame = frame.set_crs(None if source.gcj02 else source.crs, allow_override=True)
    return Parsed(frame=frame, source=source, problems=inferred + problems, encoding=encoding)


def _entities(path: Path, encoding: str) -> pd.DataFrame:
    with _GDAL_SETTINGS:
        options = {**ARC_OPTIONS, **_RAW_CODES, "DXF_ENCODING": encoding}
        pyogrio.set_gdal_config_options(options)
        try:
            frame = pyogrio.read_dataframe(
                str(path), columns=["Layer", "PaperSpace", "Text", "RawCodeValues"]
            )
        finally:  # other formats' curves keep GDAL's defaults
            pyogrio.set_gdal_config_options(dict.fromkeys(options))
    model = ~frame["PaperSpace"].eq(1)  # paper space holds the printed sheet
    return _prepared(frame[model.to_numpy()].reset_index(drop=True))


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    frame["geometry"] = shapely.force_2d(frame.geometry.to_numpy())
    frame["layer_key"] = frame["Layer"].fillna("").astype(str).str.strip().str.upper()
    frame["text"] = [_plain_text(t) for t in frame["Text"]]
    frame["position"] = np.arange(1, len(frame) + 1)
    return frame


def _kinds(frame: pd.DataFrame, kinds: tuple[str, ...]) -> np.ndarray:
    return frame.geometry.geom_type.isin(kinds).to_numpy()


def _plain_text(value) -> str:
    """A TEXT or MTEXT string without \\U+ escapes and MTEXT formatting codes."""
    if not isinstance(value, str):
        return ""
    text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return _MTEXT_FORMAT.sub(" ", text).strip()


def text_encoding(path: Path) -> str:
    """GBK for a drawing older than AutoCAD 2007 saved with code page ANSI_936, else UTF-8:
    what GDAL decoded the text as."""
    with Path(path).open("rb") as handle:
        head = handle.read(_HEADER_BYTES).decode("latin-1")
    version = _header_value(head, "$ACADVER")
    page = _header_value(head, "$DWGCODEPAGE")
    if page and page.upper() == "ANSI_936" and (version or "") < UTF8_SINCE:
        return "GBK"
    return "UTF-8"


def _header_value(head: str, variable: str) -> str | None:
    match = re.search(re.escape(variable) + r"\s*\n\s*\d+\s*\n([^\r\n]*)", head)
    return match.group(1).strip() if match else None


def _outlines(outlines: pd.DataFrame):
    """[(shape, closed, row or (row, gap))], and the open lines that are no outline."""
    shapes, skipped = [], []
    for row in outlines.itertuples():
        geom = row.geometry
        if geom.geom_type in _POLYGONAL:
            shapes.append((geom, True, row))
            continue
        line = shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom
        if line.geom_type != "LineString" or len(np.unique(np.round(line.coords, 3), axis=0)) < 3:
            skipped.append(row)
            continue
        coords = np.asarray(line.coords)
        gap = float(np.hypot(*(coords[-1] - coords[0])))
        if gap <= CLOSE_TOLERANCE_M:
            shapes.append((shapely.Polygon(coords[:-1]), True, row))
        elif gap <= NEARLY_CLOSED_SHARE * line.length:
            shapes.append((shapely.Polygon(coords), False, (row, gap)))
        else:
            skipped.append(row)
    return shapes, skipped


def _with_codes(shapes, texts: pd.DataFrame, xdata_apps: set[str]):
    """A frame of the outlines (open ones without geometry) with each one's code: from its
    XDATA, else the text inside it (a text inside nested outlines belongs to the smallest)."""
    polygons = np.array([shape for shape, _closed, _row in shapes], dtype=object)
    points = texts.geometry.to_numpy()
    owner = np.full(len(points), -1)
    if len(points):
        tree = shapely.STRtree(polygons)
        pairs = tree.query(points, predicate="within")
        areas = shapely.area(polygons)
        for text_i, outline_i in zip(*pairs, strict=True):
            mine = owner[text_i]
            if mine < 0 or areas[outline_i] < areas[mine]:
                owner[text_i] = outline_i
    rows, problems = [], []
    for i, (shape, closed, row) in enumerate(shapes):
        feature = i + 1
        inside = [texts["text"].iloc[t] for t in np.flatnonzero(owner == i)]
        entity, gap = (row, None) if closed else row
        carried = xdata_code(entity.RawCodeValues, xdata_apps)
        if carried:
            inside = [carried]
        code = inside[0] if len(inside) == 1 else None
        where = f"the outline on layer {entity.Layer} (entity {entity.position} of the drawing)"
        at = {"layer": entity.Layer, "entity": entity.position}
        rows.append({"code": code, "layer": entity.Layer, "geometry": shape if closed else None})
        if not closed:
            problems.append(
                Problem(feature, code, "unclosed_outline", "error",
                        f"{where} does not close: its ends are {gap:.3f} m apart; close the "
                        "polyline in CASS (it was not closed here)",
                        params={**at, "gap": f"{gap:.3f}"})
            )  # fmt: skip
        if len(inside) > 1:
            listed = ", ".join(inside)
            problems.append(
                Problem(feature, None, "several_codes", "error",
                        f"{where} holds {len(inside)} code texts ({listed}); keep one",
                        params={**at, "count": len(inside), "codes": listed})
            )  # fmt: skip
        elif not inside and closed:
            problems.append(
                Problem(feature, None, "code_missing", "warning",
                        f"{where} holds no code text (宗地号); it was named after the file",
                        params=at)
            )  # fmt: skip
    for t in np.flatnonzero(owner < 0):
        text = texts.iloc[t]
        x, y = text.geometry.x, text.geometry.y
        problems.append(
            _file_problem("code_outside_outlines", "warning",
                          f"the code text {text['text']} on layer {text['Layer']} at "
                          f"({x:.3f}, {y:.3f}) lies inside no parcel outline",
                          {"text": text["text"], "layer": text["Layer"], "x": f"{x:.3f}",
                           "y": f"{y:.3f}"})
        )  # fmt: skip
    frame = gpd.GeoDataFrame(rows, columns=["code", "layer", "geometry"], geometry="geometry")
    return frame, problems


def _source(shapes, override, name, place):
    if override is not None:
        return override, []
    bounds = shapely.total_bounds(np.array([s for s, _c, _r in shapes], dtype=object))
    return crsmod.infer_from_coordinates(bounds, name, place)


def _file_problem(rule: str, severity: str, message: str, params: dict) -> Problem:
    return Problem(None, None, rule, severity, message, params=params)


def _skipped(skipped) -> tuple[str, dict]:
    """The message and its figures (the pages say it from these)."""
    by_layer: dict[str, int] = {}
    for row in skipped:
        by_layer[row.Layer] = by_layer.get(row.Layer, 0) + 1
    listed = ", ".join(f"{n} on {layer}" for layer, n in by_layer.items())
    message = (
        f"{len(skipped)} open line(s) on the parcel layers are not outlines and were "
        f"skipped ({listed})"
    )
    layers = ", ".join(f"{layer} ({n})" for layer, n in by_layer.items())
    return message, {"variant": "open_lines", "count": len(skipped), "layers": layers}


def _no_outline(entities: pd.DataFrame, parcel_layers: set[str]) -> tuple[str, dict]:
    counts = entities.groupby("Layer").size().sort_values(ascending=False)
    listed = ", ".join(f"{layer} ({n})" for layer, n in counts.head(15).items()) or "—"
    wanted = ", ".join(sorted(parcel_layers))
    message = (
        f"no closed polylines on the parcel layers ({wanted}); the drawing's layers "
        f"(entities): {listed}; name the parcel layer with --layer"
    )
    return message, {"variant": "no_outlines", "wanted": wanted, "layers": listed}
