"""Large synthetic parcel files: a grid of non-overlapping rectangles in GK CM 120E
(EPSG:4549), as a survey office's GeoPackage would hold them."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer


def grid_frame(center_lonlat, count: int, size_m=10.0, gap_m=2.0, prefix="G") -> gpd.GeoDataFrame:
    """`count` squares of `size_m` metres in rows, `gap_m` apart, centred on a point."""
    x0, y0 = Transformer.from_crs(4490, 4549, always_xy=True).transform(*center_lonlat)
    side = int(np.ceil(np.sqrt(count)))
    pitch = size_m + gap_m
    k = np.arange(count)
    west = x0 - side * pitch / 2 + (k % side) * pitch
    south = y0 - side * pitch / 2 + (k // side) * pitch
    boxes = shapely.box(west, south, west + size_m, south + size_m)
    codes = np.char.add(f"{prefix}-", np.char.zfill(k.astype(str), 7))
    return gpd.GeoDataFrame({"code": codes}, geometry=boxes, crs=4549)


def write_grid(path: Path, center_lonlat, count: int, **kwargs) -> Path:
    grid_frame(center_lonlat, count, **kwargs).to_file(path, driver="GPKG", engine="pyogrio")
    return path
