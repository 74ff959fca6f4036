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
# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...)):
# CSV and XLSX exports put an apostrophe before such text (OWASP's advice).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The text columns `export parcels --format csv` writes so; a CSV whose header holds all of
# them (and a WKT column) is taken for one the export wrote, and its apostrophes come off
# on import, so the parcel comes back as it left.
SAFE_TEXT_COLUMNS = ("code", "name", "project", "project_name", "support", "verified_by",
                     "recorded_by", "note", "dispute_reason")  # fmt: skip


def formula_like(text: str) -> bool:
    """Text a spreadsheet would run, or that is such text already escaped ('=…, ''=…): the
    export escapes both, so that taking one apostrophe off on import gives it back."""
    return text.lstrip("'").startswith(FORMULA_START)


def unescaped(value):
    """A cell as it was before the export made it spreadsheet-safe: one leading apostrophe
    off, only where the export put one (a plain 'quoted' text stays as it is)."""
    if isinstance(value, str) and value.startswith("'") and formula_like(value[1:]):
        return value[1:]
    return value


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
