"""Area on the ellipsoid, and the units campaign offices count in."""

from functools import lru_cache

import numpy as np
import shapely
from pyproj import Geod, Transformer

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

    Parcel-sized shapes are measured all at once in a Lambert azimuthal equal-area
    projection of GRS80 centred on them: it preserves ellipsoidal area exactly, and over
    a few kilometres a straight edge in it departs from the geodesic by far less than a
    survey's precision (under 1e-7 of the area; tested against pyproj's Geod). Larger
    shapes are measured ring by ring with pyproj's Geod. Orientation is ignored.
    Non-polygonal parts (the lines an intersection can leave) measure 0.
    """
    geoms = np.asarray(geometries, dtype=object)
    out = np.zeros(len(geoms))
    parts, owner = shapely.get_parts(geoms, return_index=True)
    polygonal = (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & ~shapely.is_empty(
        parts
    )
    parts, owner = parts[polygonal], owner[polygonal]
    if len(parts) == 0:
        return out
    bounds = shapely.bounds(parts)
    small = ((bounds[:, 2] - bounds[:, 0]) < _SMALL_DEG) & (
        (bounds[:, 3] - bounds[:, 1]) < _SMALL_DEG
    )
    np.add.at(out, owner[small], _equal_area_m2(parts[small], bounds[small]))
    np.add.at(out, owner[~small], [_geod_polygon_m2(p) for p in parts[~small]])
    return out


# Shapes within this many degrees (a few km) on each side are measured by projection.
_SMALL_DEG = 0.05
# Group shapes by cells of this size (degrees) so each projection centre stays near them.
_CELL_DEG = 0.5


def _equal_area_m2(polygons: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Shoelace areas of the projected rings: holes subtract, whatever their direction."""
    _, xy, (ring_offsets, polygon_offsets) = shapely.to_ragged_array(polygons)
    ring_owner = np.repeat(np.arange(len(polygons)), np.diff(polygon_offsets))
    exterior = np.zeros(len(ring_owner), dtype=bool)
    exterior[polygon_offsets[:-1]] = True
    vertex_ring = np.repeat(np.arange(len(ring_owner)), np.diff(ring_offsets))
    centres = (bounds[:, :2] + bounds[:, 2:]) / 2
    cell = np.floor(centres / _CELL_DEG).astype(np.int64) @ np.array([1 << 20, 1])
    vertex_cell = cell[ring_owner][vertex_ring]
    x, y = np.empty(len(xy)), np.empty(len(xy))
    for key in np.unique(cell):
        members = slice(None) if (cell == key).all() else vertex_cell == key
        lon, lat = xy[members].mean(axis=0)
        x[members], y[members] = _laea(round(lon, 3), round(lat, 3)).transform(
            xy[members, 0], xy[members, 1]
        )
    # Closed rings: each vertex with the next, within the ring (the last one repeats the first).
    same_ring = np.r_[vertex_ring[1:] == vertex_ring[:-1], False]
    cross = np.where(same_ring, x * np.roll(y, -1) - np.roll(x, -1) * y, 0.0)
    ring_area = np.abs(np.bincount(vertex_ring, cross, minlength=len(ring_owner))) / 2
    signed = np.where(exterior, ring_area, -ring_area)
    return np.bincount(ring_owner, signed, minlength=len(polygons))


@lru_cache(maxsize=64)
def _laea(lon: float, lat: float) -> Transformer:
    crs = f"+proj=laea +lat_0={lat} +lon_0={lon} +ellps=GRS80 +units=m +no_defs"
    return Transformer.from_crs("EPSG:4490", crs, always_xy=True)


def _geod_polygon_m2(polygon) -> float:
    rings = [polygon.exterior, *polygon.interiors]
    areas = [abs(GRS80.polygon_area_perimeter(*ring.coords.xy)[0]) for ring in rings]
    return areas[0] - sum(areas[1:])
