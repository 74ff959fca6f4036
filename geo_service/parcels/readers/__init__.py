"""Files in, features out: format, layer, source CRS and text encoding. No database here.

`read_features` dispatches by suffix, or by content when the suffix says nothing:

- `vector`: Shapefile (.shp, or zipped, also in a sub-folder), GeoPackage, GeoJSON,
  KML and KMZ, through pyogrio/GDAL;
- `boundary_points`: 界址点坐标文件 (.txt, or any text with a [属性描述] section);
- `cass_dxf`: 南方CASS drawings (.dxf; .dwg of AutoCAD 2000 through the system GDAL's CAD
  driver, other versions refused with a request for DXF);
- `point_tables`: boundary-point tables (界址点成果表, .xlsx, .csv) and CASS .dat files;
- `archives`: .zip and .kmz, checked member by member before anything is extracted;
- `encoding`: strict UTF-8, then GB18030, for .dbf tables without .cpg and text files.

Each format's reader returns what it read (features, the CRS it found, the encoding) and
never calls back here; `_finish` then runs what every file goes through once: the limits
(`validation.check_limits`) and the source CRS checked against the accepted set
(`crs.accept`; a file with none gets one inferred from zone-prefixed eastings, or is
refused). Any failure to read is an UploadRefused that names the file.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo_service.errors import GeoServiceError, UploadRefused
from geo_service.parcels import crs as crsmod
from geo_service.parcels.crs import SourceCRS, parse_crs
from geo_service.parcels.readers import archives, boundary_points, cass_dxf, point_tables, vector
from geo_service.parcels.readers.encoding import (
    decode_text,
    detect_dbf_encoding,
    detect_text,
    normalise,
)
from geo_service.parcels.validation import check_count, check_limits, check_vertices
from geo_service.problems import Problem, refusal
from geo_service.settings import get_settings

__all__ = [
    "ReadResult",
    "FeatureStream",
    "read_features",
    "open_features",
    "detect_dbf_encoding",
    "FIELD_ALIASES",
]

ARCHIVE_SUFFIXES = (".zip", ".kmz")
TEXT_SUFFIX = ".txt"
SURVEYOR_SUFFIXES = (cass_dxf.DXF, cass_dxf.DWG, *point_tables.SUFFIXES)
MAX_TEXT_BYTES = 256 * (1 << 20)  # a boundary-point file of a whole county is a few MB
# Some writers use short names or Chinese headers for the same fields.
FIELD_ALIASES = {
    "code": ("code", "parcel_code", "dkbh", "地块编号", "编号", "宗地编号"),
    "name": ("name", "dkmc", "地块名称", "名称"),
    "project": ("project", "project_code", "xmbh", "项目编号"),
    "status": ("status", "zt", "状态"),
    "support": ("support", "支援乡镇"),
    # Shapefile field names stop at 10 characters: declared_m2 arrives as declared_m.
    "declared_m2": ("declared_m2", "declared_m", "area_m2", "mj", "面积"),
    "use": ("use", "dkyt", "地块用途", "用途"),
    # The day a feature's status change happened in the field (核验日期): README's table.
    "field_day": ("field_day", "verified_on", "verified_o", "核验日期"),
    # Read back in an admin's migration (the names `export parcels` writes, and their
    # Shapefile forms).
    "verified_by": ("verified_by", "verif_by", "核验人"),
    "verified_group": ("verified_group", "verif_grp", "核验组"),
    "verified_at": ("verified_at", "verif_at"),
    "verified_area_m2": ("verified_area_m2", "verif_m2"),
    "verification_recorded_at": ("verification_recorded_at", "verif_rat"),
    "verification_recorded_by": ("verification_recorded_by", "verif_rby"),
    "recorded_at": ("recorded_at", "record_at", "录入时间"),
    "recorded_by": ("recorded_by", "record_by", "录入人"),
    "dispute_reason": ("dispute_reason", "dispute_r"),
    "note": ("note", "verification_note", "verif_note"),
}
_SIGNATURES = (
    (b"PK\x03\x04", ".zip"),
    (b"PK\x05\x06", ".zip"),  # an empty archive
    (b"SQLite format 3\x00", vector.GEOPACKAGE),
)
_SUPPORTED = (
    "send a zipped Shapefile, a GeoPackage, GeoJSON, KML/KMZ, a boundary-point "
    "coordinate file (界址点坐标文件, .txt), a 南方CASS drawing (.dxf), a boundary-point "
    "table (界址点成果表, .xlsx or .csv), a CSV with a WKT geometry column or a CASS "
    "coordinate file (.dat)"
)


@dataclass
class ReadResult:
    frame: gpd.GeoDataFrame
    source: SourceCRS
    encoding: str | None
    filename: str
    # Problems found while reading (e.g. an unclosed ring): their features come back
    # with no geometry, and the checks do not report them a second time.
    problems: list = field(default_factory=list)


@dataclass
class _Raw:
    """What one format's reader read, before the checks every file goes through: features
    in the file's CRS, the CRS the reader settled (None: the frame's own, or inferred), the
    encoding used and the problems found while reading."""

    frame: gpd.GeoDataFrame
    encoding: str | None
    kind: str
    source: SourceCRS | None = None
    problems: list = field(default_factory=list)


@dataclass
class FeatureStream:
    """A file's features in batches, for files too large to hold at once: each batch is
    (position of its first feature in the file, 0-based; a frame with canonical columns)."""

    source: SourceCRS
    encoding: str | None
    filename: str
    count: int
    crs: object  # the file's own CRS: problem features are shown in it
    # (west, south, east, north) of the whole file in its own CRS, NaN when unknown.
    bounds: tuple = (float("nan"),) * 4
    problems: list = field(default_factory=list)
    _batches: Callable[[bool], Iterator] = field(default=None, repr=False)

    def batches(self) -> Iterator[tuple[int, gpd.GeoDataFrame]]:
        return self._guarded(read_ahead(self._batches(False)))

    def codes(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """The same batches with the code column alone (no geometry read)."""
        return self._guarded(read_ahead(self._batches(True)))

    def _guarded(self, batches):
        try:
            yield from batches
        except GeoServiceError:
            raise
        except Exception as exc:  # GDAL failing halfway through a file: still a refusal
            detail = vector.first_line(exc)
            raise UploadRefused(
                f"{self.filename}: could not be read ({detail})",
                rule="file_unreadable",
                params={"file": self.filename, "reason": detail},
            ) from None


_END = object()


def read_ahead(items: Iterator) -> Iterator:
    """`items`, each next one made in a thread while the caller works on the one before:
    GDAL reads a batch with the GIL released, so on a second core it overlaps the checks
    and the database writes of the batch before (ogr2ogr reads and writes on one core).
    One batch ahead at most: memory holds the caller's batch and the one being read."""
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as reader:
        coming = reader.submit(next, items, _END)
        while (item := coming.result()) is not _END:
            coming = reader.submit(next, items, _END)
            yield item
            del item


def open_features(
    path: Path,
    crs: str | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    batch_size: int = 20_000,
    columns: str | None = None,
    place: crsmod.Place | None = None,
    limit: int | None = -1,
) -> FeatureStream:
    """Like read_features, in batches of `batch_size` features. GeoPackages and Shapefiles
    are read batch by batch, so memory stays flat whatever the file's size; other formats
    are read whole (they are small in practice) and then cut. `place`: the declared
    township's, which settles the zone of plain eastings in a file with no CRS. `limit`:
    the most features a file may hold (-1: MAX_FEATURES_PER_FILE; None: no limit, an
    admin's bulk load)."""
    path, name, override, encoding = _asked(path, crs, encoding)
    with _unreadable_refused(path, name):
        kind = _kind(path, name)
        if kind in (vector.GEOPACKAGE, vector.SHAPEFILE):
            stream = _stream_vector(
                path, kind, name, override, encoding, layer, batch_size, place, limit
            )
            if stream is not None:
                return stream
        read = _read(path, name, override, encoding, layer, None, columns, place, limit=limit)
    return _frame_stream(read, batch_size)


def _frame_stream(read: ReadResult, batch_size: int) -> FeatureStream:
    frame = read.frame

    def batches(codes_only: bool):
        for first in range(0, len(frame), batch_size):
            part = frame.iloc[first : first + batch_size].reset_index(drop=True)
            yield first, (part[[c for c in ("code",) if c in part.columns]] if codes_only else part)

    geoms = frame.geometry.to_numpy() if len(frame) else None
    return FeatureStream(
        source=read.source,
        encoding=read.encoding,
        filename=read.filename,
        count=len(frame),
        crs=frame.crs,
        bounds=tuple(shapely.total_bounds(geoms)) if geoms is not None else (float("nan"),) * 4,
        problems=read.problems,
        _batches=batches,
    )


def _stream_vector(
    path, kind, name, override, encoding, layer, batch_size, place=None, limit: int | None = -1
):
    """A GeoPackage or Shapefile read batch by batch; None when GDAL cannot count it."""
    used, read_encoding, chosen, info = vector.layer_info(path, kind, name, encoding, layer)
    count = info["features"]
    if count is None or count < 0:
        return None
    check_count(count, name, limit)
    renames = _canonical_columns(list(info["fields"]))
    declared = SourceCRS(CRS.from_user_input(info["crs"])) if info["crs"] else None

    def bounds():
        return info.get("total_bounds") or [float("nan")] * 4

    source, warnings, problems = _source_crs(override, declared, bounds, name, place)
    file_crs = CRS.from_user_input(info["crs"]) if info["crs"] else None
    code_field = next((f for f, c in renames.items() if c == "code"), None)
    if code_field is None and "code" in list(info["fields"]):
        code_field = "code"

    def batches(codes_only: bool):
        if codes_only and code_field is None:
            for first in range(0, count, batch_size):
                yield first, pd.DataFrame(index=range(min(batch_size, count - first)))
            return
        reader = vector.read_batches(
            path, chosen, read_encoding, count, batch_size, [code_field] if codes_only else None
        )
        first = 0
        for frame in reader:
            frame = frame.rename(columns=renames)
            if not codes_only:
                check_vertices(frame, name, first)
            yield first, frame
            first += len(frame)

    return FeatureStream(
        source=source,
        encoding=used,
        filename=name,
        count=count,
        crs=file_crs,
        bounds=tuple(info.get("total_bounds") or (float("nan"),) * 4),
        problems=warnings + problems,
        _batches=batches,
    )


def _check_path(path: Path, name: str) -> None:
    if not path.exists():
        raise UploadRefused(f"{name}: file not found", rule="file_missing", params={"file": name})
    if not path.is_file():
        raise UploadRefused(f"{name}: not a file", rule="file_missing", params={"file": name})
    if path.stat().st_size == 0:
        raise UploadRefused(f"{name}: the file is empty", rule="file_empty", params={"file": name})


def read_features(
    path: Path,
    crs: str | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    limits: archives.Limits | None = None,
    columns: str | None = None,
    place: crsmod.Place | None = None,
) -> ReadResult:
    """Read a file of parcels. `crs` and `encoding` override what the file says;
    `layer` picks a layer (or, in a zip, a dataset by name; in a CASS drawing, the parcel
    layers; in a workbook, the sheet); `limits` the archive limits; `columns` names the
    columns of a boundary-point table ("code=宗地代码,x=北坐标"); `place` the declared
    township's (see open_features)."""
    path, name, override, encoding = _asked(path, crs, encoding)
    with _unreadable_refused(path, name):
        return _read(path, name, override, encoding, layer, limits, columns, place)


def _asked(path, crs: str | None, encoding: str | None):
    """The file (checked to be there) and its name, the --crs and --encoding parsed."""
    path = Path(path)
    _check_path(path, path.name)
    override = parse_crs(crs) if crs else None
    return path, path.name, override, normalise(encoding) if encoding else None


@contextmanager
def _unreadable_refused(path: Path, name: str):
    try:
        yield
    except GeoServiceError:
        raise
    except Exception as exc:  # GDAL, zlib, struct...: a malformed file is a refusal
        detail = vector.first_line(exc).replace(str(path), name)
        raise UploadRefused(
            f"{name}: could not be read ({detail})",
            rule="file_unreadable",
            params={"file": name, "reason": detail},
        ) from None


def _read(path, name, override, encoding, layer, limits, columns=None, place=None, limit=-1):
    kind = _kind(path, name)
    if kind in SURVEYOR_SUFFIXES:  # the only readers that take a table's column names
        raw = _read_surveyor_file(path, name, kind, override, encoding, layer, columns, place)
    else:
        raw = _READERS[kind](path, name, kind, override, encoding, layer, limits, place)
    return _finish(raw, name, override, place, limit)


def _kind(path: Path, name: str) -> str:
    suffix = path.suffix.lower()
    if suffix == point_tables.DAT and _looks_like_boundary_points(path):
        return TEXT_SUFFIX  # a 界址点坐标文件 saved as .dat, not CASS's point list
    if suffix == point_tables.CSV and _names_wkt_column(path):
        return vector.WKT_CSV  # a parcel layer (what `export parcels` writes), read by GDAL
    if suffix in ARCHIVE_SUFFIXES or suffix == TEXT_SUFFIX or suffix in SURVEYOR_SUFFIXES:
        return suffix
    if suffix in vector.SUFFIXES:
        return vector.SUFFIXES[suffix]
    with path.open("rb") as handle:
        head = handle.read(4096)
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return vector.GEOJSON
    if stripped.startswith(b"<") and b"<kml" in head:
        return vector.KML
    found = detect_text(head[:4000])
    if found and boundary_points.looks_like(found[1]):
        return TEXT_SUFFIX
    raise UploadRefused(
        f"{name}: unsupported file type {suffix or '(none)'}; {_SUPPORTED}",
        rule="unsupported_file",
        params={"file": name, "suffix": suffix or "—"},
    )


def _read_vector_file(path, name, kind, override, encoding, layer, limits, place=None) -> _Raw:
    if kind == vector.GEOJSON:
        check_nesting(path, name)
    frame, used, notes = vector.read_vector(path, kind, name, encoding, layer)
    skipped = [
        Problem(None, None, "skipped_features", "warning", note, params=params)
        for note, params in notes
    ]
    return _Raw(frame, used, kind, problems=skipped + _geojson_problems(path, kind, name, override))


def _geojson_problems(path, kind, name, override) -> list[Problem]:
    """Refuse a declared CRS nobody knows; report codes that are not plain text."""
    if kind != vector.GEOJSON:
        return []
    codes, names = FIELD_ALIASES["code"], FIELD_ALIASES["name"]
    declared, odd = vector.geojson_declarations(path, codes, names)
    if declared is not None and override is None:
        try:
            parse_crs(declared)
        except GeoServiceError:
            raise refusal(
                name,
                "crs_unknown",
                f"the file declares the coordinate reference system {declared!r}, which is "
                "not a known CRS; correct it in the file or give the real one with --crs",
                {"declared": str(declared)},
            ) from None
    return [
        Problem(
            i + 1,
            None,
            "code_not_text",
            "error",
            f"the parcel code ({key}) must be plain text or a number, not {_shown(value)}",
            params={"key": key, "value": repr(value)},
        )
        if str(key).lower() in codes
        else Problem(
            i + 1,
            None,
            "name_not_printable",
            "error",
            f"the parcel name ({key}) holds a NUL character (U+0000), which would cut it "
            "short; correct it in the file",
            params={"key": key},
        )
        for i, key, value in odd
    ]


def _shown(value) -> str:
    if isinstance(value, str):
        return f"text with control characters {value!r}"
    return f"{type(value).__name__} {value!r}"


def _looks_like_boundary_points(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4000)
    # a character cut at 4000 bytes: be lenient, as for archive members
    text = (detect_text(head) or ("", head.decode("gb18030", "replace")))[1]
    return boundary_points.looks_like(text)


def _names_wkt_column(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4000)
    text = (detect_text(head) or ("", head.decode("gb18030", "replace")))[1]
    return vector.has_wkt_column(text.partition("\n")[0])


def _read_surveyor_file(path, name, kind, override, encoding, layer, columns, place) -> _Raw:
    """A CASS drawing, a point table or a .dat file: features with the problems met."""
    if kind == cass_dxf.DWG:
        parsed = cass_dxf.read_dwg(path, name, override, layer, place)
    elif kind == cass_dxf.DXF:
        parsed = cass_dxf.read(path, name, override, layer, encoding, place)
    else:
        parsed = point_tables.read(path, name, override, encoding, layer, columns, place)
    return _Raw(parsed.frame, parsed.encoding, kind, parsed.source, parsed.problems)


def _read_text(path, name, kind, override, encoding, layer, limits, place=None) -> _Raw:
    data = path.read_bytes()[: MAX_TEXT_BYTES + 1]
    return _boundary_points(data, name, override, encoding, place)


def _boundary_points(data: bytes, name, override, encoding, place=None) -> _Raw:
    if len(data) > MAX_TEXT_BYTES:
        raise UploadRefused(
            f"{name}: larger than {MAX_TEXT_BYTES >> 20} MB for a text file",
            rule="text_too_large",
            params={"file": name, "limit": MAX_TEXT_BYTES >> 20},
        )
    if encoding:
        try:
            text, used = decode_text(data, encoding), encoding
        except UnicodeDecodeError as exc:
            raise UploadRefused(
                f"{name}: the text is not valid {encoding} ({exc})",
                rule="text_encoding_invalid",
                params={"file": name, "encoding": encoding},
            ) from None
    else:
        found = detect_text(data)
        if found is None:
            raise UploadRefused(
                f"{name}: the text is neither UTF-8 nor GBK/GB18030; "
                "give its encoding with --encoding",
                rule="text_encoding_unknown",
                params={"file": name},
            )
        used, text = found
    if not boundary_points.looks_like(text):
        raise UploadRefused(
            f"{name}: not a boundary-point coordinate file (界址点坐标文件): no "
            f"[{boundary_points.HEADER_SECTION}] or [{boundary_points.COORDINATE_SECTION}] "
            f"section; {_SUPPORTED}",
            rule="not_boundary_points",
            params={"file": name},
        )
    parsed = boundary_points.parse(text, name, override, place)
    return _Raw(parsed.frame, used, TEXT_SUFFIX, parsed.source, parsed.problems)


def _read_archive(path, name, kind, override, encoding, layer, limits, place=None) -> _Raw:
    members = archives.inspect(path, limits, filename=name)
    chosen, group = _choose_dataset(path, name, kind, members, layer)
    if chosen.suffix == TEXT_SUFFIX:
        data = archives.read_member(path, chosen, filename=name)
        return _boundary_points(data, name, override, encoding, place)
    with archives.extracted(path, group, filename=name) as folder:
        inner = folder / chosen.path.name
        inner_layer = layer if layer and _stem(chosen) != layer else None
        inner_kind = vector.SUFFIXES[chosen.suffix]
        return _read_vector_file(inner, name, inner_kind, override, encoding, inner_layer, None)


def _stem(member: archives.Member) -> str:
    return member.path.stem


def _choose_dataset(path, name, kind, members, layer):
    """The one dataset of an archive, and the members to extract for it."""
    wanted = (".kml",) if kind == ".kmz" else tuple(vector.SUFFIXES)
    found = [m for m in members if m.suffix in wanted]
    if not found and kind == ".zip":
        texts = [m for m in members if m.suffix == TEXT_SUFFIX and m.size <= MAX_TEXT_BYTES]
        found = [m for m in texts if _is_boundary_text(path, m, name)]
    if kind == ".kmz" and len(found) > 1:
        # A KMZ's main document is doc.kml, or the first .kml at the root.
        root = [m for m in found if len(m.path.parts) == 1]
        doc = [m for m in root if m.path.name.lower() == "doc.kml"]
        found = doc or root[:1] or found[:1]
    if layer and len(found) > 1:
        named = [m for m in found if layer in (_stem(m), m.name)]
        found = named or found
    if len(found) != 1:
        listed = ", ".join(m.name for m in found) or "none"
        what = (
            "KML document"
            if kind == ".kmz"
            else ("Shapefile, GeoPackage, GeoJSON, KML or boundary-point file")
        )
        hint = "; say which with --layer" if len(found) > 1 else ""
        raise UploadRefused(
            f"{name}: the archive must hold exactly one {what} (found: {listed}){hint}",
            rule="archive_kmz" if kind == ".kmz" else "archive_members",
            params={"file": name, "found": listed if found else "—"},
        )
    chosen = found[0]
    group = [chosen]
    if chosen.suffix == ".shp":
        stem = str(chosen.path.with_suffix("")).lower()
        group += [
            m
            for m in members
            if m is not chosen
            and str(m.path.with_suffix("")).lower() == stem
            and m.suffix in vector.SHAPEFILE_SIDECARS
        ]
    return chosen, group


def _is_boundary_text(path, member, name) -> bool:
    head = archives.read_member(path, archives.Member(member.name, min(member.size, 4096)), name)
    found = detect_text(head[:4000])
    if found is None:  # a multi-byte character cut at 4000 bytes: be lenient
        found = ("GB18030", head.decode("gb18030", "replace"))
    return boundary_points.looks_like(found[1])


def _finish(raw: _Raw, name, override, place=None, limit: int | None = -1) -> ReadResult:
    """What every format's features go through once read: the file-level limits, the CRS
    (--crs, else the file's, else inferred) checked against the accepted set, canonical
    columns and 2D shapes."""
    frame = raw.frame
    check_limits(frame.rename(columns=_canonical_columns(frame.columns)), name, limit)
    declared = raw.source or (SourceCRS(frame.crs) if frame.crs is not None else None)

    def bounds():
        return shapely.total_bounds(frame.geometry.to_numpy()) if len(frame) else [float("nan")] * 4

    source, warnings, inferred = _source_crs(override, declared, bounds, name, place)
    problems = warnings + raw.problems + inferred
    frame = frame.rename(columns=_canonical_columns(frame.columns))
    if raw.kind == vector.KML and "code" not in frame.columns and "name" in frame.columns:
        frame["code"] = frame["name"]
    if len(frame):
        frame = frame.set_geometry(
            gpd.GeoSeries(
                shapely.force_2d(frame.geometry.to_numpy()), crs=frame.crs, index=frame.index
            )
        )
    return ReadResult(
        frame=frame, source=source, encoding=raw.encoding, filename=name, problems=problems
    )


def _source_crs(override, declared, bounds, name, place=None) -> tuple[SourceCRS, list, list]:
    """The CRS the features are in, its warnings, and the note when it was inferred from
    `bounds()` because neither --crs nor the file gives one; refused when not accepted."""
    inferred = []
    if override is not None:
        source = override
    elif declared is not None:
        source = declared
    else:
        source, inferred = crsmod.infer_from_coordinates(bounds(), name, place)
    source, warnings = crsmod.accept(source, name)
    return source, warnings, inferred


# One reader per format, chosen once by `_kind`: (path, name, kind, override, encoding, layer,
# limits, place) -> _Raw. A new format adds a reader here and its detection in `_kind`.
_READERS: dict[str, Callable[..., _Raw]] = {
    ".zip": _read_archive,
    ".kmz": _read_archive,
    TEXT_SUFFIX: _read_text,
    **dict.fromkeys(vector.SUFFIXES.values(), _read_vector_file),
    vector.WKT_CSV: _read_vector_file,
}


def check_nesting(path: Path, name: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH (a GeoJSON parcel needs 7 levels).
    Brackets inside strings count too: harmless, real files stay far below the limit."""
    limit = get_settings().max_json_depth
    depth = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            codes = np.frombuffer(chunk, dtype=np.uint8)
            steps = np.zeros(len(codes), dtype=np.int32)
            steps[(codes == ord("[")) | (codes == ord("{"))] = 1
            steps[(codes == ord("]")) | (codes == ord("}"))] = -1
            levels = depth + np.cumsum(steps)
            if len(levels) and levels.max() > limit:
                raise UploadRefused(
                    f"{name}: JSON nested more than {limit} levels deep (MAX_JSON_DEPTH)",
                    rule="json_depth",
                    params={"file": name, "limit": limit},
                )
            depth = int(levels[-1]) if len(levels) else depth


def _canonical_columns(columns) -> dict[str, str]:
    renames = {}
    for canonical, aliases in FIELD_ALIASES.items():
        if canonical in columns:
            continue  # the canonical column itself wins over any alias
        for column in columns:
            taken = column in renames or canonical in renames.values()
            if column != "geometry" and str(column).lower() in aliases and not taken:
                renames[column] = canonical
    return renames
