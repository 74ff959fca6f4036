"""Builds parcel files for tests: shapes given in metres around a point in Jin'an,
written in any CRS and format, with the independent geodesic area of each."""

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import Polygon

# Inside 新店镇 (north of the city centre) and 鼓山镇 (east).
XINDIAN = (119.300, 26.150)
GUSHAN = (119.380, 26.070)
CM120E = CRS.from_epsg(4549)
ZONE40 = CRS.from_epsg(4528)
WGS84 = Geod(ellps="WGS84")  # deliberately not the code's GRS80: an independent route


def rectangle(center_lonlat, dx_m, dy_m, width_m, height_m, angle_deg=0.0) -> Polygon:
    """A rectangle in lon/lat, placed and sized in metres in GK CM 120E around a point."""
    to_gk = Transformer.from_crs(4490, CM120E, always_xy=True)
    x0, y0 = to_gk.transform(*center_lonlat)
    box = shapely.box(0, 0, width_m, height_m)
    box = shapely.affinity.rotate(box, angle_deg, origin=(0, 0))
    box = shapely.affinity.translate(box, x0 + dx_m, y0 + dy_m)
    back = Transformer.from_crs(CM120E, 4490, always_xy=True)
    return shapely.transform(box, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def independent_area_m2(lonlat_polygon) -> float:
    """Area from pyproj's Geod on raw lon/lat rings: no geo_service code involved."""
    total = 0.0
    for poly in getattr(lonlat_polygon, "geoms", [lonlat_polygon]):
        lons, lats = poly.exterior.coords.xy
        area, _ = WGS84.polygon_area_perimeter(lons, lats)
        total += abs(area)
        for ring in poly.interiors:
            lons, lats = ring.coords.xy
            total -= abs(WGS84.polygon_area_perimeter(lons, lats)[0])
    return total


def write(frame_lonlat: gpd.GeoDataFrame, path: Path, crs=None, driver=None, **kwargs) -> Path:
    """Write lon/lat features reprojected to `crs` (a zipped Shapefile when path ends .zip)."""
    frame = frame_lonlat.set_crs(4490, allow_override=True)
    if crs is not None:
        frame = frame.to_crs(crs)
    path = Path(path)
    if path.suffix == ".zip":
        folder = path.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        shp = folder / (path.stem + ".shp")
        frame.to_file(shp, driver="ESRI Shapefile", **kwargs)
        with zipfile.ZipFile(path, "w") as archive:
            for member in folder.iterdir():
                archive.write(member, member.name)
        return path
    frame.to_file(path, driver=driver, **kwargs)
    return path


def frame(polygons, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=list(polygons), crs=4490)
