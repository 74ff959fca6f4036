"""Area on the ellipsoid, and the units campaign offices count in."""

import numpy as np
import shapely
from pyproj import Geod

# 1 mu = 10000/15 m², exactly; keep m² as the stored figure and derive mu.
M2_PER_MU = 10000 / 15

# CGCS2000 uses the GRS80 ellipsoid; WGS84's differs from it by 0.1 mm in the semi-minor axis.
GRS80 = Geod(ellps="GRS80")


# Decimal places shown, by the unit a figure's name holds (verified_m2, pace_mu_per_month):
# m² to 0.01, mu to 0.0001, a progress
# ratio to 0.0001%. Stored figures stay exact; only what people and files see is rounded.
ROUNDING = {"m2": 2, "mu": 4, "progress": 6}


def rounded(data: dict) -> dict:
    """Figures for people and files: float noise (99.99999999999999) rounded away."""
    out = {}
    for key, value in data.items():
        if isinstance(value, float):
            places = [ROUNDING[w] for w in key.split("_") if w in ROUNDING]
            value = round(value, places[0]) if places else value
        out[key] = value
    return out


def m2_to_mu(m2):
    return None if m2 is None else m2 / M2_PER_MU


def mu_to_m2(mu):
    return None if mu is None else mu * M2_PER_MU


def geodesic_area_m2(geometries) -> np.ndarray:
    """Area in m² of each lon/lat geometry (EPSG:4490 or 4326), on the GRS80 ellipsoid.

    Orientation is ignored: pyproj signs an area by ring direction, and input rings
    come in either direction.
    """
    geoms = np.asarray(geometries, dtype=object)
    out = np.zeros(len(geoms))
    for i, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom):
            continue
        out[i] = sum(abs(_polygon_area(p)) for p in getattr(geom, "geoms", [geom]))
    return out


def _polygon_area(polygon) -> float:
    polygon = shapely.geometry.polygon.orient(polygon, sign=1.0)
    area, _ = GRS80.geometry_area_perimeter(polygon)
    return area
