"""Everything GDAL reads, through pyogrio: Shapefile, GeoPackage, GeoJSON, KML/KMZ and a CSV
with a WKT geometry column (what `export parcels --format csv` writes)."""

import csv
import io
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from geo_service.errors import UploadRefused
from geo_service.interop import SAFE_TEXT_COLUMNS, unescaped
from geo_service.parcels.readers.encoding import UTF8, detect_dbf_encoding, detect_text

SHAPEFILE, GEOPACKAGE, GEOJSON, KML = ".shp", ".gpkg", ".geojson", ".kml"
SUFFIXES = {".shp": SHAPEFILE, ".gpkg": GEOPACKAGE, ".geojson": GEOJSON, ".json": GEOJSON}
SUFFIXES[".kml"] = KML
# Not a suffix: a .csv is a boundary-point table unless its header names a WKT column.
WKT_CSV = ".csv+wkt"
# The geometry column's names GDAL's CSV driver looks for (GEOM_POSSIBLE_NAMES), lower case.
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "wkt_geom")
SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj", ".cpg")
# Columns LIBKML adds to every Placemark; the name and description are kept.
KML_STYLE_COLUMNS = (
    "id",
    "timestamp",
    "begin",
    "end",
    "altitudeMode",
    "tessellate",
    "extrude",
    "visibility",
    "drawOrder",
    "icon",
)
_CPG_NAMES = {"936": "GBK", "cp936": "GBK", "gbk": "GBK", "65001": UTF8, "utf8": UTF8}
_POLYGONAL = ("Polygon", "MultiPolygon")


def read_vector(
    path: Path, kind: str, filename: str, encoding: str | None, layer: str | None
) -> tuple[gpd.GeoDataFrame, str | None, list[tuple[str, dict]]]:
    """The features of a local file, the text encoding used, and notes on skipped features
    (each its message and its figures).

    `encoding` (from --encoding) applies to Shapefiles and GeoJSON; GeoPackage and KML
    declare their own (UTF-8 in practice).
    """
    used, read_encoding = _encodings(path, kind, filename, encoding)
    try:
        if kind == KML:
            frame, notes = _read_kml(str(path), filename, layer)
        elif kind == WKT_CSV:
            frame, notes = _read_wkt_csv(path, read_encoding), []
        else:
            chosen = layer or _single_layer(str(path), filename)
            frame = pyogrio.read_dataframe(str(path), layer=chosen, encoding=read_encoding)
            notes = []
    except (DataSourceError, DataLayerError) as exc:
        detail = first_line(exc).replace(str(path), path.name)
        raise UploadRefused(
            f"{filename}: not a readable vector file ({_label(kind)}: {detail})",
            rule="vector_unreadable",
            params={"file": filename, "format": _FORMATS[kind], "reason": detail},
        ) from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry is None:
        raise UploadRefused(
            f"{filename}: the {_label(kind)} holds no geometry column",
            rule="no_geometry_column", params={"file": filename, "format": _FORMATS[kind]},
        )  # fmt: skip
    return frame, used, notes


def _encodings(path: Path, kind: str, filename: str, encoding: str | None):
    """(encoding reported, encoding given to pyogrio)."""
    if kind == SHAPEFILE:
        return _shapefile_encoding(path, encoding, filename)
    if kind in (GEOJSON, WKT_CSV) and encoding:
        return encoding, encoding
    if kind == WKT_CSV:
        # Excel saves a CSV in GBK: the whole text is checked, as for a boundary-point table.
        found = detect_text(path.read_bytes())
        if found is None:
            raise UploadRefused(
                f"{filename}: the text is neither UTF-8 nor GBK/GB18030; "
                "give its encoding with --encoding",
                rule="text_encoding_unknown",
                params={"file": filename},
            )
        return found[0], None if found[0] == UTF8 else found[0]
    return UTF8, None


def layer_info(path: Path, kind: str, filename: str, encoding: str | None, layer: str | None):
    """What a streamed read needs before the first feature: (encoding reported, encoding
    given to GDAL, the layer, pyogrio's layer info with the feature count and extent)."""
    used, read_encoding = _encodings(path, kind, filename, encoding)
    try:
        chosen = layer or _single_layer(str(path), filename)
        info = pyogrio.read_info(str(path), layer=chosen, encoding=read_encoding)
    except (DataSourceError, DataLayerError) as exc:
        detail = first_line(exc).replace(str(path), path.name)
        raise UploadRefused(
            f"{filename}: not a readable vector file ({_label(kind)}: {detail})",
            rule="vector_unreadable",
            params={"file": filename, "format": _FORMATS[kind], "reason": detail},
        ) from None
    if info.get("geometry_type") is None:
        raise UploadRefused(
            f"{filename}: the {_label(kind)} holds no geometry column",
            rule="no_geometry_column", params={"file": filename, "format": _FORMATS[kind]},
        )  # fmt: skip
    return used, read_encoding, chosen, info


def read_batches(path: Path, layer, encoding, count: int, batch_size: int, columns=None):
    """Frames of up to `batch_size` features, one after the other (GeoPackage and Shapefile
    seek to a feature by its position, so each batch reads only its own features).
    `columns` given: those alone, no geometry."""
    for first in range(0, count, batch_size):
        frame = pyogrio.read_dataframe(
            str(path), layer=layer, encoding=encoding, skip_features=first,
            max_features=min(batch_size, count - first), columns=columns,
            read_geometry=columns is None,
        )  # fmt: skip
        if columns is None:
            frame["geometry"] = shapely.force_2d(frame.geometry.to_numpy())
        yield pd.DataFrame(frame) if columns is not None else frame


# The format's name as the pages say it (a name: the same in every language).
_FORMATS = {
    SHAPEFILE: "Shapefile",
    GEOPACKAGE: "GeoPackage",
    GEOJSON: "GeoJSON",
    KML: "KML",
    WKT_CSV: "CSV (WKT)",
}


def _label(kind: str) -> str:
    return {
        SHAPEFILE: "Shapefile",
        GEOPACKAGE: "GeoPackage",
        GEOJSON: "GeoJSON file",
        KML: "KML file",
        WKT_CSV: "CSV file with a WKT geometry column",
    }[kind]


def has_wkt_column(header: str) -> bool:
    """Whether a CSV's first line names a WKT geometry column (a parcel layer, not a
    boundary-point table)."""
    cells = next(csv.reader(io.StringIO(header)), [])
    return any(c.strip().strip("\ufeff").lower() in WKT_COLUMNS for c in cells)


def _read_wkt_csv(path: Path, encoding: str | None) -> gpd.GeoDataFrame:
    # Every field stays text, as in a spreadsheet: a code like 0012 keeps its zeros; the
    # upload's checks read the numbers and days. (pyogrio passes keywords as open options.)
    frame = pyogrio.read_dataframe(
        str(path), encoding=encoding, GEOM_POSSIBLE_NAMES=",".join(WKT_COLUMNS),
        KEEP_GEOM_COLUMNS="NO", AUTODETECT_TYPE="NO",
    )  # fmt: skip
    if set(SAFE_TEXT_COLUMNS) <= set(frame.columns):  # written by `export parcels`
        for column in SAFE_TEXT_COLUMNS:
            frame[column] = frame[column].map(unescaped)
    return frame


def _shapefile_encoding(path: Path, encoding: str | None, filename: str) -> tuple[str, str | None]:
    """(encoding reported, encoding given to pyogrio) for a Shapefile's attribute table."""
    if not _sidecar(path, ".shx"):
        raise UploadRefused(
            f"{path.name}: the Shapefile's .shx index is missing; send the .shp, .shx, .dbf "
            "and .prj together (zipped)",
            rule="shx_missing", params={"file": path.name},
        )  # fmt: skip
    if not _sidecar(path, ".dbf"):
        raise UploadRefused(
            f"{filename}: the .dbf attribute table of {path.name} is missing, so its parcels "
            "have no codes; send the .shp, .shx, .dbf and .prj together (zipped)",
            rule="dbf_missing", params={"file": filename, "member": path.name},
        )  # fmt: skip
    if encoding:
        return encoding, encoding
    cpg = _sidecar(path, ".cpg")
    if cpg is not None:
        text = cpg.read_bytes().decode("ascii", "replace").strip()
        return _CPG_NAMES.get(text.lower().replace("-", ""), text or UTF8), None
    dbf = _sidecar(path, ".dbf")
    detected = detect_dbf_encoding(dbf.read_bytes()) if dbf is not None else None
    return (detected or UTF8), detected


def _sidecar(path: Path, suffix: str) -> Path | None:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return None


def _single_layer(dataset: str, name: str) -> str | None:
    layers = pyogrio.list_layers(dataset)
    if len(layers) == 0:
        raise UploadRefused(
            f"{name}: the file holds no layer", rule="no_layer", params={"file": name}
        )
    if len(layers) == 1:
        return None
    polygon_layers = [row[0] for row in layers if row[1] is None or "Polygon" in str(row[1])]
    if len(polygon_layers) == 1:
        return polygon_layers[0]
    listed = ", ".join(str(row[0]) for row in layers)
    raise UploadRefused(
        f"{name}: several layers ({listed}); say which one with --layer",
        rule="several_layers", params={"file": name, "layers": listed},
    )  # fmt: skip


def _read_kml(dataset: str, name: str, layer: str | None):
    """Every folder of a KML (phone apps nest Placemarks in folders), polygons only when
    there are any: the waypoints and tracks next to them are reported and skipped."""
    layers = [layer] if layer else [str(row[0]) for row in pyogrio.list_layers(dataset)]
    frames = [pyogrio.read_dataframe(dataset, layer=lyr) for lyr in layers]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise UploadRefused(
            f"{name}: the KML holds no placemarks", rule="kml_empty", params={"file": name}
        )
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    frame = frame.drop(columns=[c for c in KML_STYLE_COLUMNS if c in frame.columns])
    types = frame.geometry.geom_type
    polygonal = types.isin(_POLYGONAL).to_numpy()
    notes = []
    if polygonal.any() and not polygonal.all():
        names = frame.get("Name", pd.Series([None] * len(frame)))
        skipped = [
            f"{names.iloc[i] or '(unnamed)'} ({types.iloc[i]})"
            for i in range(len(frame))
            if not polygonal[i]
        ]
        names = ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        message = f"{len(skipped)} placemark(s) that are not polygons were skipped: {names}"
        notes.append((message, {"variant": "placemarks", "count": len(skipped), "names": names}))
        frame = frame[polygonal].reset_index(drop=True)
    frame["geometry"] = shapely.force_2d(frame.geometry.to_numpy())
    return frame, notes


def geojson_declarations(
    path: Path, code_fields: tuple[str, ...], name_fields: tuple[str, ...] = ()
) -> tuple[str | None, list]:
    """What GDAL smooths over in a GeoJSON, read from the text itself: the CRS name it
    declares (GDAL falls back to WGS 84 for one it does not know), the features whose
    code is not plain text (GDAL cuts a string at a NUL byte and prints an array as text),
    and those whose name holds a NUL (GDAL would keep only what comes before it).
    Returns (declared CRS name or None, [(feature position, field, value), ...])."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return None, []  # GDAL read it; leave the judgement to what it read
    if not isinstance(data, dict):
        return None, []
    crs = data.get("crs")
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    features = data.get("features") if data.get("type") == "FeatureCollection" else None
    odd = []
    for i, feature in enumerate(features if isinstance(features, list) else []):
        props = feature.get("properties") if isinstance(feature, dict) else None
        for key, value in (props or {}).items():
            field = str(key).lower()
            bad_code = field in code_fields and not _plain_text(value)
            cut_name = field in name_fields and isinstance(value, str) and "\x00" in value
            if bad_code or cut_name:
                odd.append((i, key, value))
    return (str(name) if name is not None else None), odd


def _plain_text(value) -> bool:
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and not any(ord(c) < 32 or ord(c) == 127 for c in value)


def first_line(exc: Exception) -> str:
    """The first line of an error's message: GDAL's are long."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
