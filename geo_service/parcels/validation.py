"""Checks run over the whole file before anything is stored; every problem is reported."""

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from geo_service.areas import geodesic_area_m2
from geo_service.errors import UploadRefused
from geo_service.parcels.crs import SourceCRS, to_storage, valid_lonlat_bounds

# Problem is re-exported for callers that still import it from here.
from geo_service.problems import ERROR, WARNING, Report
from geo_service.problems import Problem as Problem
from geo_service.problems import inner_point as _point
from geo_service.settings import Tolerances, get_settings

_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    4: "MultiPoint",
    5: "MultiLineString",
    7: "GeometryCollection",
}
POLYGONAL = {shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON}
# Coordinates may sit a little past a CRS's official area of use (zone edges, coastlines).
BOUNDS_MARGIN_DEG = 0.5
# Shapes a reader refused but gave back as read, for the report to draw: not checked again.
REFUSED_WHILE_READING = frozenset({"ring_crosses_itself"})


def _located_in_storage(geom, source: SourceCRS) -> list[float] | None:
    """Where a feature the checks refuse lies, in lon/lat, if its coordinates make sense."""
    try:
        surface = shapely.point_on_surface(geom)
    except shapely.errors.GEOSException:  # NaN or degenerate coordinates: nowhere to point
        return None
    if shapely.is_empty(surface):
        return None
    point = to_storage(np.array([surface], dtype=object), source)[0]
    if point is None or shapely.is_empty(point):
        return None
    inside = np.isfinite([point.x, point.y]).all() and abs(point.x) <= 180 and abs(point.y) <= 90
    return _point(point) if inside else None


def check_geometries(
    geoms: np.ndarray, codes: list, source: SourceCRS, report: Report, first: int = 0
):
    """Report what cannot be a parcel; return the geometries in EPSG:4490 (None where refused).
    `first`: the position in the file of the first of `geoms`."""
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(np.where(missing, None, geoms))
    types = shapely.get_type_id(geoms)
    already = {p.feature for p in report.problems}
    for i in np.flatnonzero(missing | empty):
        if first + i + 1 in already:
            continue
        report.add(first + i + 1, codes[i], "empty_geometry", "the feature has no geometry",
                   params={})  # fmt: skip
    usable = ~(missing | empty)
    refused = [p.feature for p in report.errors if p.rule in REFUSED_WHILE_READING]
    usable &= ~np.isin(first + np.arange(len(geoms)) + 1, refused)
    for i in np.flatnonzero(usable & ~np.isin(types, list(POLYGONAL))):
        kind = _TYPE_NAMES.get(int(types[i]), "geometry")
        report.add(
            first + i + 1,
            codes[i],
            "not_polygon",
            f"a {kind} is not a parcel boundary (polygon)",
            location=_located_in_storage(geoms[i], source),
            params={"type": kind},
        )
    usable &= np.isin(types, list(POLYGONAL))
    out = np.full(len(geoms), None, dtype=object)
    if usable.any():
        flat = shapely.force_2d(geoms[usable])
        out[usable] = _transform_checked(flat, np.flatnonzero(usable), codes, source, report, first)
    return out


def _transform_checked(geoms, positions, codes, source: SourceCRS, report: Report, first=0):
    west, south, east, north = valid_lonlat_bounds(source)
    m = BOUNDS_MARGIN_DEG
    not_lonlat = (
        _report_bad_lonlat(geoms, positions, codes, report, first)
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
            first + positions[j] + 1,
            codes[positions[j]],
            "outside_crs_area",
            f"coordinates fall outside the valid area of {source.label} "
            f"(lon {west:.1f}..{east:.1f}, lat {south:.1f}..{north:.1f}); "
            "is the CRS right? give it with --crs",
            params={"crs": source.label, "west": round(west, 1), "east": round(east, 1),
                    "south": round(south, 1), "north": round(north, 1)},
        )  # fmt: skip
    stored[~inside | not_lonlat] = None
    return stored


def _report_bad_lonlat(geoms, positions, codes, report: Report, first=0) -> np.ndarray:
    bounds = shapely.bounds(geoms)
    bad = (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1) | (np.abs(bounds[:, [1, 3]]) > 90).any(
        axis=1
    )
    for j in np.flatnonzero(bad):
        report.add(
            first + positions[j] + 1,
            codes[positions[j]],
            "coordinates_out_of_range",
            "coordinates are not longitude/latitude (projected numbers in a lon/lat file?); "
            "give the file's CRS with --crs, for example EPSG:4549",
            params={},
        )
    return bad


def repair_invalid(
    geoms: np.ndarray, codes: list, report: Report, tolerance: float = 0.01, positions=None
):
    """Repair self-intersections with make_valid; refuse a repair that changes the area
    by more than `tolerance` (a share), since then the surveyed shape is in doubt."""
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return geoms
    feature = _numbering(positions, len(geoms))
    out = geoms.copy()
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        fixed = _polygonal_part(shapely.make_valid(geoms[i]))
        change = _area_change(geoms[i], fixed)
        if fixed is None or change > tolerance:
            report.add(
                feature[i],
                codes[i],
                "invalid_geometry",
                f"invalid geometry ({reason}); repairing it would change the area by "
                f"{change:.1%}: fix the boundary and upload again",
                location=_point(shapely.point_on_surface(geoms[i].envelope)),
                params={"reason": reason, "change": f"{change:.1%}"},
            )
            out[i] = None
            continue
        report.add(
            feature[i],
            codes[i],
            "repaired_geometry",
            f"invalid geometry ({reason}) repaired; area changed by {change:.3%}",
            severity=WARNING,
            params={"reason": reason, "change": f"{change:.3%}"},
        )
        out[i] = fixed
    return out


def _area_change(before, after) -> float:
    """The repair's change in area as a share of the larger of the two areas: a bow-tie's
    signed area nearly cancels out, so measured against it the change would be absurd."""
    old = abs(shapely.area(before))
    new = shapely.area(after) if after is not None else 0.0
    larger = max(old, new)
    return abs(new - old) / larger if larger else 1.0


def _polygonal_part(geom):
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = shapely.get_parts(np.array(parts, dtype=object)) if parts else []
    return shapely.MultiPolygon(list(polygons)) if len(polygons) else None


@dataclass
class StoredParcel:
    id: int
    code: str
    township: str
    status: str
    geom: object


@dataclass
class Context:
    """What the checks need to know beyond the file, fetched by the caller."""

    township_name: str
    township: object | None = None
    township_approximate: bool = False
    district_name: str | None = None
    district: object | None = None
    city: object | None = None
    # The city's outline widened by tolerances.outside_city_deg, when the caller checks
    # several batches against it (made once, not per batch); else made here.
    city_around: object | None = None
    stored: list[StoredParcel] = field(default_factory=list)
    accept_overlaps: bool = False
    tolerances: Tolerances = field(default_factory=Tolerances)
    # Every township's (name, outline): to name the one a parcel lies in.
    townships: list[tuple[str, object]] = field(default_factory=list)
    # Given (and allowed by the caller): parcels mostly outside the declared township are
    # stored, warned with this reason, instead of refused.
    override_reason: str | None = None


def check_in_place(
    geoms, areas, codes, declared, context: Context, report: Report, positions=None
) -> None:
    """Location rules: inside Fuzhou, inside the declared township, declared area."""
    tol = context.tolerances
    feature = _numbering(positions, len(geoms))
    if context.city is not None:
        around = context.city_around
        if around is None:
            around = shapely.buffer(context.city, tol.outside_city_deg)
        shapely.prepare(around)  # one outline against every feature: prepared once
        near = shapely.intersects(around, geoms)
        for i in np.flatnonzero(~near):
            report.add(
                feature[i],
                codes[i],
                "outside_fuzhou",
                "the parcel lies outside Fuzhou: is the CRS or the zone right?",
                params={},
            )
    in_district = _check_district(geoms, areas, codes, feature, context, report)
    if context.township is not None:
        _check_township(geoms, areas, codes, feature, context, report, skip=~in_district)
    for i, value in enumerate(declared):
        if value and abs(value - areas[i]) / areas[i] > tol.declared_share:
            report.add(
                feature[i],
                codes[i],
                "declared_area_mismatch",
                f"declared {value:,.1f} m² but the boundary measures {areas[i]:,.1f} m² "
                f"({(value - areas[i]) / areas[i]:+.2%})",
                severity=WARNING,
                params={
                    "declared": f"{value:,.1f}",
                    "measured": f"{areas[i]:,.1f}",
                    "difference": f"{(value - areas[i]) / areas[i]:+.2%}",
                },  # fmt: skip
            )


def _outside_share(geoms, areas, outline) -> np.ndarray:
    """The share of each parcel's area outside `outline`. Only the parcels not wholly inside
    need the (costly) difference measured: at city scale that is a handful."""
    shapely.prepare(outline)
    outside = np.zeros(len(geoms))
    crossing = np.flatnonzero(~shapely.covers(outline, geoms))
    pieces = shapely.difference(geoms[crossing], outline)
    outside[crossing] = geodesic_area_m2(pieces) / np.asarray(areas, dtype=float)[crossing]
    return outside


def _check_district(geoms, areas, codes, feature, context: Context, report: Report):
    """A parcel mostly outside its township's district would be counted for the wrong
    district: refused. District outlines are real, unlike the approximate townships."""
    inside = np.ones(len(geoms), dtype=bool)
    if context.district is None:
        return inside
    outside = _outside_share(geoms, areas, context.district)
    for i in np.flatnonzero(outside > context.tolerances.outside_district_share):
        inside[i] = False
        report.add(
            feature[i],
            codes[i],
            "outside_district",
            f"{outside[i]:.1%} of the parcel lies outside {context.district_name}, the "
            f"district of {context.township_name}: is the township (or the CRS) right?",
            params={"share": f"{outside[i]:.1%}", "district": context.district_name,
                    "township": context.township_name},
        )  # fmt: skip
    return inside


def _check_township(geoms, areas, codes, feature, context: Context, report: Report, skip):
    """Mostly outside (beyond elsewhere_township_share): refused, naming where it lies, as
    it would be credited to the wrong township; an override reason stores it, warned.
    Otherwise outside an approximate outline: a warning naming the share; outside an exact
    (imported) outline beyond the tolerance: refused."""
    tol = context.tolerances
    outside = _outside_share(geoms, areas, context.township)
    elsewhere = (outside > tol.elsewhere_township_share) & ~skip
    elsewhere &= tol.elsewhere_township_share < 1  # 1: the rule is off (rounding would bite)
    for i in np.flatnonzero(elsewhere):
        _report_elsewhere(geoms[i], outside[i], codes[i], feature[i], context, report)
    for i in np.flatnonzero((outside > tol.outside_township_share) & ~skip & ~elsewhere):
        message = f"{outside[i]:.1%} of the parcel lies outside {context.township_name}"
        params = {"share": f"{outside[i]:.1%}", "township": context.township_name}
        if context.township_approximate:
            report.add(feature[i], codes[i], "outside_township",
                       message + " (approximate township boundary)", severity=WARNING,
                       params=params)  # fmt: skip
        elif outside[i] > tol.outside_exact_township_share:
            report.add(feature[i], codes[i], "outside_township",
                       message + f" (imported boundary; more than "
                       f"{tol.outside_exact_township_share:.0%} is refused)",
                       params=params)  # fmt: skip
        else:
            report.add(feature[i], codes[i], "outside_township", message, severity=WARNING,
                       params=params)  # fmt: skip


def _report_elsewhere(geom, share, code, feature, context: Context, report: Report) -> None:
    where = _township_of(geom, context.townships)
    message = (
        f"{share:.1%} of the parcel lies outside {context.township_name}: it lies in "
        f"{where or 'no township on record'}, so it would be credited to the wrong township "
        f"(declare {where or 'its township'}, or a verifier gives an override reason)"
    )
    params = {"share": f"{share:.1%}", "township": context.township_name, "where": where or ""}
    if context.override_reason:
        report.add(feature, code, "elsewhere_township",
                   f"{message}; stored by override: {context.override_reason}",
                   severity=WARNING,
                   params={**params, "reason": context.override_reason})  # fmt: skip
    else:
        report.add(feature, code, "elsewhere_township", message, params=params)


def _township_of(geom, townships) -> str | None:
    """The township holding most of the parcel (planar shares rank well enough)."""
    best, most = None, 0.0
    for name, outline in townships:
        if shapely.intersects(outline, geom):
            shared = shapely.area(shapely.intersection(outline, geom))
            if shared > most:
                best, most = name, shared
    return best


def check_duplicates_and_overlaps(
    geoms, codes, statuses, context: Context, report: Report, positions=None
):
    """Identical shapes and overlaps, within the file and with stored parcels.

    Returns, per feature, the overlaps accepted with --accept-overlaps (to flag the parcel).
    """
    flags: list[list[dict]] = [[] for _ in range(len(geoms))]
    feature = _numbering(positions, len(geoms))
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    same = shapely.equals(geoms[left], geoms[right])
    for i, j in zip(left[same], right[same], strict=True):
        report.add(
            feature[j],
            codes[j],
            "duplicate_geometry",
            f"the same boundary as feature {feature[i]} ({codes[i]})",
        )
    pairs = [
        (i, j, codes[j], statuses[j], f"feature {feature[j]} ({codes[j]}) of this file", False)
        for i, j in zip(left[~same], right[~same], strict=True)
    ]
    if context.stored:
        stored_geoms = np.array([s.geom for s in context.stored], dtype=object)
        new, old = shapely.STRtree(stored_geoms).query(geoms, predicate="intersects")
        pairs += [
            (
                i,
                None,
                context.stored[k].code,
                context.stored[k].status,
                f"stored parcel {context.stored[k].code} ({context.stored[k].township})",
                True,
            )
            for i, k in zip(new, old, strict=True)
        ]
        others = stored_geoms[old]
    else:
        others = np.array([], dtype=object)
    within = [geoms[j] for _, j, *_ in pairs if j is not None]
    partners = np.array(within + list(others), dtype=object)
    firsts = np.array([geoms[i] for i, *_ in pairs], dtype=object)
    overlaps = shapely.intersection(firsts, partners) if len(pairs) else np.array([])
    overlap_m2 = geodesic_area_m2(overlaps)
    for (i, _j, other_code, other_status, label, stored), shape, m2 in zip(
        pairs, overlaps, overlap_m2, strict=True
    ):
        found = _overlap(feature[i], codes[i], statuses[i], other_code, other_status, label,
                         shape, m2, context, report, stored=stored)  # fmt: skip
        if found is not None:
            flags[i].append(found)
    return flags


def _overlap(feature, code, status, other_code, other_status, label, shape, m2, context,
             report: Report, stored: bool = False) -> dict | None:  # fmt: skip
    """Report one overlap of a feature (unless a sliver); the flag its parcel carries."""
    if m2 < context.tolerances.overlap_min_m2:
        return None
    verified = status == "verified" and other_status == "verified"
    refused = verified and not context.accept_overlaps
    kind = "overlap_verified" if verified else "overlap"
    message = f"overlaps {label} by {m2:,.1f} m²"
    if verified:
        message += (
            " (both verified: counted once in tallies)"
            if context.accept_overlaps
            else "; both are verified: fix it, or accept it with --accept-overlaps"
        )
    report.add(
        feature, code, kind, message, severity=ERROR if refused else WARNING,
        location=_point(shape),
        params={"other": other_code, "area": f"{m2:,.1f}", **({"stored": True} if stored else {})},
    )  # fmt: skip
    return {"rule": kind, "with": other_code, "overlap_m2": round(m2, 2)}


def check_pairs_across_batches(pairs, context: Context, report: Report) -> dict[int, list]:
    """The rules of check_duplicates_and_overlaps for pairs of features of one file read in
    different batches: (feature, code, status, shape) of the earlier, then of the later.
    Returns the flags of the earlier features, by feature number."""
    flags: dict[int, list] = {}
    if not pairs:
        return flags
    firsts = np.array([p[3] for p in pairs], dtype=object)
    seconds = np.array([p[7] for p in pairs], dtype=object)
    same = shapely.equals(firsts, seconds)
    for (fi, ci, _si, _gi, fj, cj, _sj, _gj), equal in zip(pairs, same, strict=True):
        if equal:
            report.add(fj, cj, "duplicate_geometry", f"the same boundary as feature {fi} ({ci})",
                       params={"feature": fi, "code": ci})  # fmt: skip
    overlaps = shapely.intersection(firsts[~same], seconds[~same])
    overlap_m2 = geodesic_area_m2(overlaps)
    others = [p for p, equal in zip(pairs, same, strict=True) if not equal]
    for (fi, ci, si, _gi, fj, cj, sj, _gj), shape, m2 in zip(
        others, overlaps, overlap_m2, strict=True
    ):
        label = f"feature {fj} ({cj}) of this file"
        found = _overlap(fi, ci, si, cj, sj, label, shape, m2, context, report)
        if found is not None:
            flags.setdefault(fi, []).append(found)
    return flags


def _numbering(positions, count: int) -> list[int]:
    """1-based feature numbers in the file for a subset of its features."""
    return [int(p) + 1 for p in (range(count) if positions is None else positions)]


def check_limits(frame: gpd.GeoDataFrame, name: str, limit: int | None = -1) -> None:
    """Refuse a file with more features, or a feature with more vertices, than anyone
    surveys: one such parcel would make every map page heavy for everyone."""
    check_count(len(frame), name, limit)
    check_vertices(frame, name)


def check_count(count: int, name: str, limit: int | None = -1) -> None:
    """`limit`: -1 for MAX_FEATURES_PER_FILE, None for none (an admin's bulk load)."""
    if limit is None:
        return
    limit = get_settings().max_features_per_file if limit == -1 else limit
    if count > limit:
        raise UploadRefused(
            f"{name}: {count:,} features, more than the limit of "
            f"{limit:,} per file (MAX_FEATURES_PER_FILE); split the file, "
            "or an administrator loads it in bulk mode"
        )


def check_vertices(frame: gpd.GeoDataFrame, name: str, first: int = 0) -> None:
    """`first`: the position in the file of the frame's first feature."""
    settings = get_settings()
    counts = shapely.get_num_coordinates(frame.geometry.to_numpy())
    over = np.flatnonzero(counts > settings.max_vertices_per_parcel)
    if len(over):
        codes = frame["code"] if "code" in frame.columns else None
        listed = ", ".join(
            f"feature {first + i + 1}"
            + (f" ({codes.iloc[i]})" if codes is not None and codes.iloc[i] else "")
            + f" has {counts[i]:,}"
            for i in over[:5]
        )
        more = f" and {len(over) - 5} more" if len(over) > 5 else ""
        raise UploadRefused(
            f"{name}: {listed}{more} vertices, more than the limit of "
            f"{settings.max_vertices_per_parcel:,} per parcel (MAX_VERTICES_PER_PARCEL); "
            "simplify the boundary"
        )
