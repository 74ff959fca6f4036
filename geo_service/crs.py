"""CRS parsing and conversion to the storage CRS, including GCJ-02 input."""

from dataclasses import dataclass

import numpy as np
import prcoords
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from .errors import InvalidInput

STORAGE_CRS = CRS.from_epsg(4490)
GCJ02 = "gcj02"


@dataclass(frozen=True)
class SourceCRS:
    """A pyproj CRS, or the GCJ-02 obfuscated datum which no EPSG code describes."""

    crs: CRS | None
    gcj02: bool = False

    @property
    def label(self) -> str:
        if self.gcj02:
            return "GCJ-02"
        code = self.crs.to_epsg()
        return f"EPSG:{code}" if code else self.crs.name

    @property
    def is_geographic(self) -> bool:
        return self.gcj02 or self.crs.is_geographic


def parse_crs(text: str) -> SourceCRS:
    """'EPSG:4549', '4549', 'gcj02', a WKT or PROJ string."""
    value = text.strip()
    if value.lower().replace("-", "").replace("_", "") == GCJ02:
        return SourceCRS(None, gcj02=True)
    if value.isdigit():
        value = f"EPSG:{value}"
    try:
        return SourceCRS(CRS.from_user_input(value))
    except CRSError as exc:
        raise InvalidInput(f"unknown CRS {text!r}: {exc}") from None


def valid_lonlat_bounds(source: SourceCRS) -> tuple[float, float, float, float]:
    """West, south, east, north where the CRS is meant to be used (China for GCJ-02)."""
    if source.gcj02:
        return (72.0, 0.8, 137.9, 55.9)
    area = source.crs.area_of_use
    if area is None:
        return (-180.0, -90.0, 180.0, 90.0)
    return (area.west, area.south, area.east, area.north)


def to_storage(geometries: np.ndarray, source: SourceCRS) -> np.ndarray:
    """Transform geometries to CGCS2000 lon/lat (EPSG:4490)."""
    if source.gcj02:
        return shapely.transform(geometries, _gcj02_to_wgs84)
    transformer = Transformer.from_crs(source.crs, STORAGE_CRS, always_xy=True)
    return shapely.transform(
        geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def _gcj02_to_wgs84(xy: np.ndarray) -> np.ndarray:
    # WGS84 and CGCS2000 agree to centimetres, far below GCJ-02's ~600 m offset.
    out = np.empty_like(xy)
    for i, (lon, lat) in enumerate(xy):
        wgs = prcoords.gcj_wgs_bored(prcoords.Coords(lat, lon))
        out[i] = (wgs.lon, wgs.lat)
    return out
