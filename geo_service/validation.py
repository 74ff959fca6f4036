"""Checks run over the whole file before anything is stored; every problem is reported."""

from dataclasses import asdict, dataclass, field

import numpy as np
import shapely

from .crs import SourceCRS, to_storage, valid_lonlat_bounds

ERROR = "error"
WARNING = "warning"
POLYGONAL = {shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON}
# Coordinates may sit a little past a CRS's official area of use (zone edges, coastlines).
BOUNDS_MARGIN_DEG = 0.5


@dataclass
class Problem:
    feature: int | None  # 1-based position in the file; None for the file as a whole
    code: str | None
    rule: str
    severity: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    filename: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, feature, code, rule, message, severity=ERROR) -> None:
        self.problems.append(Problem(feature, code, rule, severity, message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def summary(self) -> str:
        lines = [f"{self.filename}: {len(self.errors)} error(s)"]
        lines += [f"  {_where(p)}: {p.message} [{p.rule}]" for p in self.problems]
        return "\n".join(lines)


def _where(problem: Problem) -> str:
    if problem.feature is None:
        return "file"
    return f"feature {problem.feature}" + (f" ({problem.code})" if problem.code else "")


def check_geometries(geoms: np.ndarray, codes: list, source: SourceCRS, report: Report):
    """Report what cannot be a parcel; return the geometries in EPSG:4490 (None where refused)."""
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(np.where(missing, None, geoms))
    types = shapely.get_type_id(geoms)
    already = {p.feature for p in report.problems}
    for i in np.flatnonzero(missing | empty):
        if i + 1 in already:
            continue
        report.add(i + 1, codes[i], "empty_geometry", "the feature has no geometry")
    usable = ~(missing | empty)
    for i in np.flatnonzero(usable & ~np.isin(types, list(POLYGONAL))):
        kind = shapely.GeometryType(types[i]).name.title()
        report.add(i + 1, codes[i], "not_polygon", f"a {kind} is not a parcel boundary (polygon)")
    usable &= np.isin(types, list(POLYGONAL))
    out = np.full(len(geoms), None, dtype=object)
    if usable.any():
        flat = shapely.force_2d(geoms[usable])
        out[usable] = _transform_checked(flat, np.flatnonzero(usable), codes, source, report)
    return out


def _transform_checked(geoms, positions, codes, source: SourceCRS, report: Report):
    west, south, east, north = valid_lonlat_bounds(source)
    m = BOUNDS_MARGIN_DEG
    not_lonlat = (
        _report_bad_lonlat(geoms, positions, codes, report)
        if source.is_geographic
        else (np.zeros(len(geoms), dtype=bool))
    )
    stored = to_storage(geoms, source)
    bounds = shapely.bounds(stored)
    inside = (
        np.isfinite(bounds).all(axis=1)
        & (bounds[:, 0] >= west - m)
        & (bounds[:, 2] <= east + m)
        & (bounds[:, 1] >= south - m)
        & (bounds[:, 3] <= north + m)
    )
    for j in np.flatnonzero(~inside & ~not_lonlat):
        report.add(
            positions[j] + 1,
            codes[positions[j]],
            "outside_crs_area",
            f"coordinates fall outside the valid area of {source.label} "
            f"(lon {west:.1f}..{east:.1f}, lat {south:.1f}..{north:.1f}); "
            "is the CRS right? give it with --crs",
        )
    stored[~inside | not_lonlat] = None
    return stored


def _report_bad_lonlat(geoms, positions, codes, report: Report) -> np.ndarray:
    bounds = shapely.bounds(geoms)
    bad = (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1) | (np.abs(bounds[:, [1, 3]]) > 90).any(
        axis=1
    )
    for j in np.flatnonzero(bad):
        report.add(
            positions[j] + 1,
            codes[positions[j]],
            "coordinates_out_of_range",
            "coordinates are not longitude/latitude (projected numbers in a lon/lat file?); "
            "give the file's CRS with --crs, for example EPSG:4549",
        )
    return bad


def repair_invalid(geoms: np.ndarray, codes: list, report: Report, tolerance: float = 0.01):
    """Repair self-intersections with make_valid; refuse a repair that changes the area
    by more than `tolerance` (a share), since then the surveyed shape is in doubt."""
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return geoms
    out = geoms.copy()
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        fixed = _polygonal_part(shapely.make_valid(geoms[i]))
        before, after = geoms[i].area, fixed.area if fixed is not None else 0.0
        change = abs(after - before) / before if before else 1.0
        if fixed is None or change > tolerance:
            report.add(
                i + 1,
                codes[i],
                "invalid_geometry",
                f"invalid geometry ({reason}); repairing it would change the area by "
                f"{change:.1%}: fix the boundary and upload again",
            )
            continue
        report.add(
            i + 1,
            codes[i],
            "repaired_geometry",
            f"invalid geometry ({reason}) repaired; area changed by {change:.3%}",
            severity=WARNING,
        )
        out[i] = fixed
    return out


def _polygonal_part(geom):
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = shapely.get_parts(np.array(parts, dtype=object)) if parts else []
    return shapely.MultiPolygon(list(polygons)) if len(polygons) else None
