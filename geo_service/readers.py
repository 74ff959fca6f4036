"""Files in, features out: format, layer, source CRS and text encoding. No database here."""

import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from .crs import SourceCRS, parse_crs
from .errors import UploadRefused

VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json")
# Some writers use short names or Chinese headers for the same fields.
FIELD_ALIASES = {
    "code": ("code", "parcel_code", "dkbh", "地块编号", "编号", "宗地编号"),
    "name": ("name", "dkmc", "地块名称", "名称"),
    "project": ("project", "project_code", "xmbh", "项目编号"),
    "status": ("status", "zt", "状态"),
    "support": ("support", "支援乡镇"),
    # Shapefile field names stop at 10 characters: declared_m2 arrives as declared_m.
    "declared_m2": ("declared_m2", "declared_m", "area_m2", "mj", "面积"),
}


@dataclass
class ReadResult:
    frame: gpd.GeoDataFrame
    source: SourceCRS
    encoding: str | None
    filename: str
    # Problems found while reading (e.g. an unclosed ring): their features come back
    # with no geometry, and the checks do not report them a second time.
    problems: list = field(default_factory=list)


def read_features(
    path: Path, crs: str | None = None, encoding: str | None = None, layer: str | None = None
) -> ReadResult:
    path = Path(path)
    name = path.name
    if not path.exists():
        raise UploadRefused(f"{name}: file not found")
    dataset, dbf_bytes = _locate_dataset(path)
    if encoding is None and dbf_bytes is not None:
        encoding = detect_dbf_encoding(dbf_bytes)
    try:
        layer = layer or _single_layer(dataset, name)
        frame = pyogrio.read_dataframe(dataset, layer=layer, encoding=encoding)
    except (DataSourceError, DataLayerError, ValueError) as exc:
        raise UploadRefused(f"{name}: not a readable vector file ({_first_line(exc)})") from None
    source = parse_crs(crs) if crs else _file_crs(frame, name)
    frame = frame.rename(columns=_canonical_columns(frame.columns))
    return ReadResult(frame=frame, source=source, encoding=encoding or "UTF-8", filename=name)


def _locate_dataset(path: Path) -> tuple[str, bytes | None]:
    """GDAL path of the dataset, and the .dbf bytes when a Shapefile has no .cpg."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _locate_in_zip(path)
    if suffix not in VECTOR_SUFFIXES:
        raise UploadRefused(
            f"{path.name}: unsupported file type {suffix or '(none)'}; "
            "send a zipped Shapefile, a GeoPackage or a GeoJSON file"
        )
    if suffix == ".shp":
        dbf, cpg = path.with_suffix(".dbf"), path.with_suffix(".cpg")
        if dbf.exists() and not cpg.exists():
            return str(path), dbf.read_bytes()
    return str(path), None


def _locate_in_zip(path: Path) -> tuple[str, bytes | None]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            found = [n for n in names if Path(n).suffix.lower() in VECTOR_SUFFIXES]
            if len(found) != 1:
                listed = ", ".join(found) or "none"
                raise UploadRefused(
                    f"{path.name}: the archive must hold exactly one Shapefile, GeoPackage "
                    f"or GeoJSON layer (found: {listed})"
                )
            inner = found[0]
            dbf_bytes = None
            if inner.lower().endswith(".shp"):
                stem = inner[:-4]
                lowered = {n.lower(): n for n in names}
                dbf = lowered.get(stem.lower() + ".dbf")
                if dbf and (stem.lower() + ".cpg") not in lowered:
                    dbf_bytes = archive.read(dbf)
    except zipfile.BadZipFile:
        raise UploadRefused(f"{path.name}: not a valid zip archive") from None
    return f"/vsizip/{path.resolve()}/{inner}", dbf_bytes


def _single_layer(dataset: str, name: str) -> str | None:
    layers = pyogrio.list_layers(dataset)
    polygon_layers = [row[0] for row in layers if row[1] is None or "Polygon" in str(row[1])]
    if len(layers) <= 1:
        return None
    if len(polygon_layers) == 1:
        return polygon_layers[0]
    listed = ", ".join(str(row[0]) for row in layers)
    raise UploadRefused(f"{name}: several layers ({listed}); say which one with --layer")


def _file_crs(frame: gpd.GeoDataFrame, name: str) -> SourceCRS:
    if frame.crs is None:
        raise UploadRefused(
            f"{name}: the file declares no coordinate reference system; "
            "give it with --crs (for example --crs EPSG:4549 for CGCS2000 GK CM 120E)"
        )
    return SourceCRS(frame.crs)


def detect_dbf_encoding(dbf: bytes) -> str | None:
    """Strict UTF-8 first, then GB18030 (a superset of GBK); None if the text is plain ASCII."""
    if len(dbf) < 32:
        return None
    header_length = struct.unpack("<H", dbf[8:10])[0]
    records = dbf[header_length:]
    if records.isascii():
        return None
    for candidate in ("UTF-8", "GB18030"):
        try:
            records.decode(candidate)
            return candidate
        except UnicodeDecodeError:
            continue
    return "ISO-8859-1"


def _canonical_columns(columns) -> dict[str, str]:
    renames = {}
    for canonical, aliases in FIELD_ALIASES.items():
        for column in columns:
            taken = column in renames or canonical in renames.values()
            if column != "geometry" and str(column).lower() in aliases and not taken:
                renames[column] = canonical
    return renames


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
