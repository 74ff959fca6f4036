"""What GIS clients and validators expect of every layer the service writes.

GeoJSON (RFC 7946): counter-clockwise exterior rings, clockwise holes, no `crs` member, and
coordinates rounded to 1e-7 degrees (about 1 cm in Fuzhou) or 1 mm in projected CRSs:
validators flag more decimals than the data can hold. KML 2.2 winds rings the same way.
GeoPackage: GDAL 3.6 and QGIS 3.22 warn on the user_version 1.4 newer GDALs write by
default, so files are written as GeoPackage 1.2.
"""

import numpy as np
import shapely
from shapely.geometry import mapping, shape

LONLAT_DIGITS = 7
PROJECTED_DIGITS = 3
GPKG_OPTIONS = {"VERSION": "1.2"}


def geojson_sql(expr: str, digits: int = LONLAT_DIGITS, as_text: bool = False) -> str:
    """SQL for an RFC 7946 GeoJSON geometry of a lon/lat `expr`. Option 0 of ST_AsGeoJSON:
    no `crs` member (PostGIS adds one for any SRID but 4326, and ours is 4490). As text
    when the caller embeds it without parsing it."""
    sql = f"ST_AsGeoJSON(ST_ForcePolygonCCW({expr}), {digits}, 0)"
    return sql if as_text else sql + "::json"


def oriented(geoms):
    """Shapely geometries (one or an array) with counter-clockwise exteriors and
    clockwise holes."""
    return shapely.orient_polygons(geoms, exterior_cw=False)


def rfc7946(geometry, digits: int = LONLAT_DIGITS) -> dict:
    """A shapely geometry, or a GeoJSON geometry as kept, as an RFC 7946 geometry."""
    geom = shape(geometry) if isinstance(geometry, dict) else geometry
    geom = shapely.transform(oriented(geom), lambda xy: np.round(xy, digits))
    return mapping(geom)
