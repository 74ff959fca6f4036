"""Areas stored at import agree with an independent geodesic computation, in every CRS."""

import numpy as np
import pytest
import shapely
import shapely.affinity
from parcelfiles import CM120E, XINDIAN, ZONE40, frame, independent_area_m2, rectangle, write
from pyproj import Transformer

from geo_service.areas import GRS80, M2_PER_MU, geodesic_area_m2, m2_to_mu, mu_to_m2
from geo_service.parcels.uploads import ImportOptions, import_file


def test_mu_is_exactly_ten_thousand_fifteenths_of_a_square_metre():
    assert pytest.approx(666.6666666666666, abs=1e-12) == M2_PER_MU
    assert m2_to_mu(10000) == pytest.approx(15.0)
    assert mu_to_m2(9000) == pytest.approx(6_000_000.0)


def test_geodesic_area_matches_pyproj_on_a_one_hectare_square():
    square = rectangle(XINDIAN, 0, 0, 100, 100)
    assert geodesic_area_m2([square])[0] == pytest.approx(independent_area_m2(square), rel=1e-6)


def test_ring_direction_and_holes_do_not_change_the_sign():
    outer = rectangle(XINDIAN, 0, 0, 300, 200)
    hole = rectangle(XINDIAN, 100, 50, 50, 50)
    with_hole = outer.difference(hole)
    reversed_ring = outer.reverse()
    got = geodesic_area_m2([with_hole, reversed_ring])
    assert got[0] == pytest.approx(independent_area_m2(outer) - independent_area_m2(hole), rel=1e-6)
    assert got[1] == pytest.approx(independent_area_m2(outer), rel=1e-6)


def test_web_mercator_would_inflate_fuzhou_areas_by_about_a_quarter():
    """The reason areas are never taken from EPSG:3857: shows the error the code avoids."""
    square = rectangle(XINDIAN, 0, 0, 500, 500)
    to_mercator = Transformer.from_crs(4490, 3857, always_xy=True).transform
    mercator = shapely.transform(square, to_mercator, interleaved=False).area
    assert mercator / independent_area_m2(square) == pytest.approx(1.24, abs=0.02)


@pytest.mark.parametrize(
    ("crs", "suffix", "driver"),
    [(CM120E, ".zip", None), (ZONE40, ".gpkg", "GPKG"), (4326, ".geojson", "GeoJSON")],
    ids=["EPSG:4549-shapefile", "EPSG:4528-geopackage", "EPSG:4326-geojson"],
)
def test_imported_area_within_a_thousandth_of_independent_geodesic(
    session, tmp_path, crs, suffix, driver
):
    parcels = [
        rectangle(XINDIAN, 0, 0, 180, 95, angle_deg=17),
        rectangle(XINDIAN, 400, 0, 60, 420, angle_deg=-8),
        rectangle(XINDIAN, -900, 600, 1200, 800, angle_deg=33),
    ]
    path = write(frame(parcels, code=["A", "B", "C"]), tmp_path / f"p{suffix}", crs, driver)
    report = import_file(session, path, ImportOptions(kind="land", township="新店镇"))
    expected = sum(independent_area_m2(p) for p in parcels)
    assert report.parcels == 3
    assert report.area_m2 == pytest.approx(expected, rel=1e-3)
    # And tighter than the 0.1% promise: GK reprojection is exact to well below a mm.
    assert report.area_m2 == pytest.approx(expected, rel=1e-6)


def test_vectorised_area_matches_geod_ring_by_ring_for_every_shape():
    """The equal-area projection route against pyproj's Geod on each ring, for parcels
    spread over the city (several projection cells), holes, multipolygons, a shape too
    large for the projection route, and the lines an intersection can leave."""
    rng = np.random.default_rng(7)
    shapes = []
    for lon, lat in zip(rng.uniform(118.5, 120.5, 300), rng.uniform(25.3, 26.8, 300), strict=True):
        size = rng.uniform(0.0002, 0.01)
        outer = shapely.box(lon, lat, lon + size, lat + size * 0.7)
        hole = shapely.box(lon + size * 0.2, lat + size * 0.2, lon + size * 0.4, lat + size * 0.4)
        shapes.append(shapely.affinity.rotate(outer.difference(hole), rng.uniform(0, 90)))
    shapes.append(shapely.MultiPolygon([shapes[0], shapes[1]]))
    shapes.append(shapely.Point(119.3, 26.1).buffer(0.2))  # ~40 km across: the Geod route
    shapes.append(shapely.GeometryCollection([shapes[2], shapely.LineString([(0, 0), (1, 1)])]))
    expected = [_geod_rings(s) for s in shapes]
    assert geodesic_area_m2(shapes) == pytest.approx(expected, rel=1e-7)
    assert list(geodesic_area_m2([None, shapely.Polygon()])) == [0.0, 0.0]


def _geod_rings(geom) -> float:
    total = 0.0
    for part in shapely.get_parts(geom):
        if part.geom_type != "Polygon":
            continue
        rings = [part.exterior, *part.interiors]
        areas = [abs(GRS80.polygon_area_perimeter(*r.coords.xy)[0]) for r in rings]
        total += areas[0] - sum(areas[1:])
    return total
