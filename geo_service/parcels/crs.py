"""CRS parsing, the accepted set, inference for files without one, and conversion to the
storage CRS (EPSG:4490), including GCJ-02 input."""

from dataclasses import dataclass

import numpy as np
import prcoords
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo_service.errors import InvalidInput
from geo_service.problems import file_warning, refusal

STORAGE_CRS = CRS.from_epsg(4490)
GCJ02 = "gcj02"

# Datums of Gauss-Kruger survey data in China, with EPSG code arithmetic for 3-degree zones
# 25..45: zone N with the zone number prefixed to the easting, and the "CM" variant
# (central meridian 3*N, false easting 500 000).
CGCS2000, XIAN1980, BEIJING1954 = "CGCS2000", "Xian 1980", "Beijing 1954"
_ZONE_BASE = {CGCS2000: 4488, XIAN1980: 2324, BEIJING1954: 2376}
_CM_BASE = {CGCS2000: 4509, XIAN1980: 2345, BEIJING1954: 2397}
# (semi-major axis, inverse flattening) of each datum's ellipsoid.
_ELLIPSOIDS = {
    CGCS2000: (6378137.0, 298.257222101),
    XIAN1980: (6378140.0, 298.257),
    BEIJING1954: (6378245.0, 298.3),
}
# Fuzhou lies in 3-degree zones 39..41 (central meridians 117E, 120E, 123E).
ACCEPTED_ZONES = (39, 40, 41)
GEOGRAPHIC = {4490: "CGCS2000 lon/lat", 4326: "WGS 84 lon/lat"}
APPROXIMATE_DATUMS = (XIAN1980, BEIJING1954)
ACCEPTED_DATUMS = (CGCS2000, XIAN1980, BEIJING1954)
# Plausible Gauss-Kruger northings for Fuzhou and Fujian (metres from the equator).
NORTHING_RANGE = (2_500_000.0, 3_300_000.0)
PLAIN_EASTING_RANGE = (150_000.0, 850_000.0)


def gk_epsg(datum: str, zone: int, prefixed: bool) -> int:
    """EPSG code of a 3-degree Gauss-Kruger zone (25..45) of a Chinese datum."""
    if not 25 <= zone <= 45:
        raise ValueError(f"3-degree zone {zone} is outside 25..45")
    return (_ZONE_BASE if prefixed else _CM_BASE)[datum] + zone


def _accepted() -> dict[int, tuple[str | None, str]]:
    """EPSG code -> (datum or None for lon/lat, short description)."""
    out: dict[int, tuple[str | None, str]] = {
        code: (None, text) for code, text in GEOGRAPHIC.items()
    }
    for datum in (CGCS2000, XIAN1980, BEIJING1954):
        for zone in ACCEPTED_ZONES:
            out[gk_epsg(datum, zone, True)] = (datum, f"{datum} GK zone {zone}")
            out[gk_epsg(datum, zone, False)] = (datum, f"{datum} GK CM {3 * zone}E")
    return out


ACCEPTED = _accepted()


def accepted_summary() -> str:
    def codes(datum):
        return ", ".join(f"EPSG:{c}" for c, (d, _) in sorted(ACCEPTED.items()) if d == datum)

    return (
        "accepted: CGCS2000 lon/lat EPSG:4490, WGS 84 lon/lat EPSG:4326, GCJ-02 (--crs gcj02), "
        f"CGCS2000 3-degree GK zones 39-41 and CM 117E/120E/123E ({codes(CGCS2000)}), "
        f"Xian 1980 GK ({codes(XIAN1980)}), Beijing 1954 GK ({codes(BEIJING1954)})"
    )


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
    value = str(text).strip()
    if value.lower().replace("-", "").replace("_", "") == GCJ02:
        return SourceCRS(None, gcj02=True)
    if value.isdigit():
        value = f"EPSG:{value}"
    try:
        return SourceCRS(CRS.from_user_input(value))
    except CRSError as exc:
        raise InvalidInput(f"unknown CRS {text!r}: {exc}") from None


def identify(crs: CRS) -> int | None:
    """The accepted EPSG code a CRS is, or None: by EPSG identification first, then by
    parameters (ESRI .prj files name CGCS2000/Xian/Beijing GK zones in their own way)."""
    try:
        code = crs.to_epsg()
    except CRSError:
        code = None
    if code in ACCEPTED:
        return code
    if code is not None:
        return None
    return _match_parameters(crs)


def _datum_of(crs: CRS) -> str | None:
    geodetic = crs.geodetic_crs
    if geodetic is None:
        return None
    ellipsoid = geodetic.ellipsoid
    name = (geodetic.datum.name if geodetic.datum else "").lower()
    for datum, (a, rf) in _ELLIPSOIDS.items():
        if (
            abs(ellipsoid.semi_major_metre - a) < 0.5
            and abs(ellipsoid.inverse_flattening - rf) < 1e-3
        ):
            if datum == CGCS2000 and "2000" not in name:
                return None  # GRS80 alone does not make CGCS2000 (NAD83, ETRS89, GDA94...)
            return datum
    return None


def _match_parameters(crs: CRS) -> int | None:
    datum = _datum_of(crs)
    if crs.is_geographic:
        if datum == CGCS2000:
            return 4490
        name = crs.geodetic_crs.datum.name.lower() if crs.geodetic_crs else ""
        return 4326 if "wgs" in name and "84" in name else None
    if datum is None or not crs.is_projected or crs.coordinate_operation is None:
        return None
    operation = crs.coordinate_operation
    method = operation.method_name.lower()
    if "transverse mercator" not in method and "gauss" not in method:
        return None
    params = {p.name.lower(): p.value for p in operation.params}

    def param(*words):
        for key, value in params.items():
            if all(w in key for w in words):
                return value
        return None

    lat0, lon0 = param("latitude"), param("longitude")
    scale, easting, northing = param("scale"), param("false easting"), param("false northing")
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    if None in (lon0, easting) or abs(unit - 1.0) > 1e-9:
        return None
    if abs(lat0 or 0.0) > 1e-9 or abs((scale or 1.0) - 1.0) > 1e-9 or abs(northing or 0.0) > 1e-6:
        return None
    zone = round(lon0 / 3)
    if abs(lon0 - 3 * zone) > 1e-9 or zone not in ACCEPTED_ZONES:
        return None
    if abs(easting - 500_000) < 1e-6:
        return gk_epsg(datum, zone, prefixed=False)
    if abs(easting - (zone * 1_000_000 + 500_000)) < 1e-6:
        return gk_epsg(datum, zone, prefixed=True)
    return None


def horizontal_part(crs: CRS) -> CRS:
    """The horizontal CRS of a 3D or compound one (WGS 84 3D, CGCS2000 3D, a GK zone plus a
    height system), or the CRS itself. GNSS rovers and phone apps write heights."""
    if crs.is_compound:
        return crs.sub_crs_list[0]
    if len(crs.axis_info) == 3 and (crs.is_geographic or crs.is_projected):
        try:
            return crs.to_2d()
        except CRSError:
            return crs
    return crs


def accept(source: SourceCRS, filename: str) -> tuple[SourceCRS, list]:
    """Check a CRS against the accepted set; return it (as its EPSG code) and its warnings.

    Raises UploadRefused (rule crs_not_accepted) for any other CRS.
    """
    if source.gcj02:
        return source, []
    horizontal = horizontal_part(source.crs)
    code = identify(horizontal)
    if code is None:
        raise refusal(
            filename,
            "crs_not_accepted",
            f"the coordinate reference system {source.crs.name!r} is not accepted for Fuzhou "
            f"data; reproject the file or give its real CRS with --crs ({accepted_summary()})",
            {"variant": "crs", "crs": source.crs.name},
        )
    datum = ACCEPTED[code][0]
    warnings = []
    if horizontal is not source.crs:
        warnings.append(
            file_warning(
                "heights_dropped",
                f"the file's CRS {source.crs.name!r} carries heights: read as its horizontal "
                f"part {ACCEPTED[code][1]} (EPSG:{code}); heights were dropped and areas are "
                "measured on the ellipsoid",
                {"crs": source.crs.name, "horizontal": ACCEPTED[code][1], "code": code},
            )
        )
    if datum in APPROXIMATE_DATUMS:
        warnings.append(
            file_warning(
                "datum_approximate",
                f"{ACCEPTED[code][1]} (EPSG:{code}) is converted to CGCS2000 without official "
                "transformation parameters (PROJ applies a ballpark conversion with no datum "
                "shift): positions may be off by up to about 100 m, areas are unaffected to "
                "better than 0.01%; convert the file with official parameters if positions "
                "matter",
                {"name": ACCEPTED[code][1], "code": code},
            )
        )
    return SourceCRS(CRS.from_epsg(code)), warnings


@dataclass(frozen=True)
class Place:
    """Where an upload's declared township lies, to settle the zone of plain eastings: its
    longitude (a point inside it) and its district's extent, both in CGCS2000 lon/lat."""

    township: str
    longitude: float
    district: str
    district_bounds: tuple[float, float, float, float]


def infer_from_coordinates(bounds, filename: str, place: Place | None = None):
    """A file with no CRS: infer CGCS2000 GK zone N from zone-prefixed eastings, or from
    the declared township's place for plain eastings, or refuse. Returns (SourceCRS,
    [the warning saying so]).

    `bounds` is (min x, min y, max x, max y) with x the easting.
    """
    west, south, east, north = (float(v) for v in bounds)
    if not np.all(np.isfinite([west, south, east, north])):
        raise refusal(
            filename, "crs_missing", _missing_message("the file holds no coordinates"),
            {"variant": "no_coordinates"},
        )  # fmt: skip
    northing_ok = NORTHING_RANGE[0] <= south and north <= NORTHING_RANGE[1]
    zone = int(west // 1_000_000)
    same_zone = int(east // 1_000_000) == zone
    offset_ok = (
        PLAIN_EASTING_RANGE[0] <= west - zone * 1e6 and east - zone * 1e6 <= PLAIN_EASTING_RANGE[1]
    )
    if northing_ok and same_zone and zone in ACCEPTED_ZONES and offset_ok:
        code = gk_epsg(CGCS2000, zone, prefixed=True)
        xian, beijing = gk_epsg(XIAN1980, zone, True), gk_epsg(BEIJING1954, zone, True)
        warning = file_warning(
            "crs_inferred",
            f"the file declares no CRS; from the zone prefix {zone} of its eastings it was "
            f"assumed to be CGCS2000 3-degree GK zone {zone} (EPSG:{code}); if the survey is "
            f"on another datum say so with --crs EPSG:{xian} (Xian 1980) or "
            f"--crs EPSG:{beijing} (Beijing 1954)",
            {"zone": zone, "code": code, "xian": xian, "beijing": beijing},
        )
        return SourceCRS(CRS.from_epsg(code)), [warning]
    if northing_ok and PLAIN_EASTING_RANGE[0] <= west and east <= PLAIN_EASTING_RANGE[1]:
        found, missed = zone_from_place(bounds, place)
        if found is not None:
            return found[0], [found[1]]
        params = {"variant": "plain_eastings", "township": place.township if place else ""}
        detail = (
            "its eastings carry no zone prefix, so the zone cannot be told from the "
            f"numbers{missed}; "
            "give the CRS with --crs (for example --crs EPSG:4549 for CGCS2000 GK CM 120E, "
            "EPSG:4548 for CM 117E)"
        )
    else:
        params = {}
        detail = (
            "give it with --crs (for example --crs EPSG:4549 for CGCS2000 GK CM 120E, "
            "--crs EPSG:4490 for CGCS2000 lon/lat, --crs gcj02 for web-map coordinates)"
        )
    raise refusal(filename, "crs_missing", _missing_message(detail), params)


def zone_from_place(bounds, place: Place | None, datum: str = CGCS2000):
    """Plain eastings taken in the declared township's 3-degree zone: ((SourceCRS,
    warning), "") when the parcels then lie within its district's extent, else (None, why
    not, to add to the refusal). A zone off by one puts them some 300 km away, far outside."""
    if place is None:
        return None, ""
    zone = round(place.longitude / 3)
    if zone not in ACCEPTED_ZONES:
        return None, ""
    code = gk_epsg(datum, zone, prefixed=False)
    west, south, east, north = (float(v) for v in bounds)
    to_lonlat = Transformer.from_crs(code, STORAGE_CRS, always_xy=True)
    lons, lats = to_lonlat.transform([west, east, west, east], [south, south, north, north])
    d_west, d_south, d_east, d_north = place.district_bounds
    inside = d_west <= min(lons) and max(lons) <= d_east
    inside = inside and d_south <= min(lats) and max(lats) <= d_north
    taken = f"{datum} 3-degree GK CM {3 * zone}E (EPSG:{code})"
    if not inside:
        return None, (
            f" (in the zone of the declared township {place.township}, {taken}, the parcels "
            f"would lie outside {place.district})"
        )
    others = ", ".join(
        f"EPSG:{gk_epsg(other, zone, False)} {other}" for other in ACCEPTED_DATUMS if other != datum
    )
    warning = file_warning(
        "crs_zone_from_township",
        f"the file declares no CRS and its eastings carry no zone prefix: the zone was "
        f"taken from the declared township {place.township}, {taken}, in which the parcels "
        f"lie in {place.district}; if the survey is in another zone or datum say so with "
        f"--crs ({others})",
        {"township": place.township, "district": place.district, "zone": 3 * zone, "code": code},
    )
    return (SourceCRS(CRS.from_epsg(code)), warning), ""


def _missing_message(detail: str) -> str:
    return f"the file declares no coordinate reference system; {detail}"


def valid_lonlat_bounds(source: SourceCRS) -> tuple[float, float, float, float]:
    """West, south, east, north where the CRS is meant to be used (China for GCJ-02)."""
    if source.gcj02:
        return (72.0, 0.8, 137.9, 55.9)
    area = source.crs.area_of_use
    if area is None:
        return (-180.0, -90.0, 180.0, 90.0)
    return (area.west, area.south, area.east, area.north)


def to_storage(geometries: np.ndarray, source: SourceCRS) -> np.ndarray:
    """Transform geometries to CGCS2000 lon/lat (EPSG:4490).

    Xian 1980 and Beijing 1954 go through PROJ's ballpark offset (no datum shift: no
    official parameters are published), which is what the datum_approximate warning says.
    """
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
