"""Areas stored at import agree with an independent geodesic computation, in every CRS."""

import pytest
import shapely
from parcelfiles import CM120E, XINDIAN, ZONE40, frame, independent_area_m2, rectangle, write
from pyproj import Transformer

from geo_service.areas import M2_PER_MU, geodesic_area_m2, m2_to_mu, mu_to_m2
from geo_service.uploads import ImportOptions, import_file


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
