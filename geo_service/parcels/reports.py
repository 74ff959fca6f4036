"""The upload report as files a verification team can work from: CSV and GeoPackage."""

import csv
import io
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from geo_service.interop import GPKG_OPTIONS, formula_like

COLUMNS = ["file", "feature", "code", "rule", "severity", "message", "lon", "lat"]


def spreadsheet_safe(value):
    """A cell for CSV or XLSX: text that a spreadsheet would run as a formula gets a
    leading apostrophe (OWASP's advice); numbers and everything else stay as they are."""
    if isinstance(value, str) and formula_like(value):
        return "'" + value
    return value


def safe_rows(rows: list[dict]) -> list[dict]:
    return [{k: spreadsheet_safe(v) for k, v in row.items()} for row in rows]


def _records(report) -> list[dict]:
    rows = []
    for p in report.problems:
        lon, lat = p.location if p.location else (None, None)
        rows.append(
            {
                "file": report.filename,
                "feature": p.feature,
                "code": p.code,
                "rule": p.rule,
                "severity": p.severity,
                "message": p.message,
                "lon": lon,
                "lat": lat,
            }
        )
    return rows


def problems_csv(report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(safe_rows(_records(report)))
    return buffer.getvalue()


def write_problems_gpkg(report, path: Path) -> Path:
    """Layer `problem_features`: each problem with its feature's shape, in the file's own CRS,
    so it lies over the team's data in QGIS; layer `problem_points`: where each problem is
    (an overlap's inner point, for instance), in CGCS2000 lon/lat."""
    path = Path(path)
    path.unlink(missing_ok=True)
    records = pd.DataFrame(_records(report), columns=COLUMNS)
    # A file refused while being read has no features to show.
    # The problem features as read, indexed by their number in the file.
    frame = getattr(report, "frame", None)
    shapes = [
        frame.geometry.get(f) if frame is not None and f and not pd.isna(f) else None
        for f in records["feature"]
    ]
    crs = frame.crs if frame is not None else None
    features = gpd.GeoDataFrame(records.drop(columns=["lon", "lat"]), geometry=shapes, crs=crs)
    features["feature"] = features["feature"].astype("Int64")
    features.to_file(path, layer="problem_features", driver="GPKG", **GPKG_OPTIONS)
    located = records.dropna(subset=["lon", "lat"])
    points = gpd.GeoDataFrame(
        located,
        geometry=[Point(xy) for xy in zip(located.lon, located.lat, strict=True)],
        crs=4490,
    )
    points["feature"] = points["feature"].astype("Int64")
    points.to_file(path, layer="problem_points", driver="GPKG")
    return path
