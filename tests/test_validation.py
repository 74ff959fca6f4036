"""Each upload rule with its expected outcome; a refused file leaves no row behind."""

import csv
import io

import geopandas as gpd
import pyogrio
import pytest
import shapely
from conftest import count_rows
from parcelfiles import CM120E, GUSHAN, XINDIAN, frame, independent_area_m2, rectangle, write

from geo_service.errors import UploadRefused
from geo_service.parcels.reports import problems_csv, write_problems_gpkg
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.reference import import_township_boundaries
from geo_service.settings import get_settings


def _options(**kw):
    return ImportOptions(**{"kind": "land", "township": "新店镇", **kw})


def _file(tmp_path, polygons, name="f.gpkg", **columns):
    columns.setdefault("code", [f"C{i + 1}" for i in range(len(polygons))])
    return write(frame(polygons, **columns), tmp_path / name, CM120E, "GPKG")


def _stored():
    return tuple(count_rows(t) for t in ("parcels", "parcel_versions", "uploads"))


def _refused(session, path, **kw) -> UploadRefused:
    before = _stored()
    with pytest.raises(UploadRefused) as caught:
        import_file(session, path, _options(**kw))
    session.rollback()
    assert _stored() == before
    return caught.value


def _rules(problems) -> set[tuple]:
    return {(p.feature, p.rule, p.severity) for p in problems}


def test_a_parcel_outside_fuzhou_is_refused(session, tmp_path):
    xiamen = rectangle((118.10, 24.48), 0, 0, 100, 100)
    error = _refused(session, _file(tmp_path, [rectangle(XINDIAN, 0, 0, 90, 90), xiamen]))
    assert (2, "outside_fuzhou", "error") in _rules(error.report.problems)


def test_a_share_outside_an_approximate_township_under_the_setting_is_a_warning(
    session, tmp_path, monkeypatch
):
    monkeypatch.setenv("ELSEWHERE_TOWNSHIP_TOLERANCE", "1")  # nothing counts as elsewhere
    get_settings.cache_clear()
    in_gushan = rectangle(GUSHAN, 0, 0, 100, 100)
    report = import_file(session, _file(tmp_path, [in_gushan]), _options())
    get_settings.cache_clear()
    (problem,) = [p for p in report.problems if p.rule == "outside_township"]
    assert problem.severity == "warning"
    assert "100.0% of the parcel lies outside 新店镇" in problem.message
    assert "approximate" in problem.message


def test_a_parcel_mostly_in_another_township_is_refused_naming_it(session, tmp_path):
    in_gushan = rectangle(GUSHAN, 0, 0, 100, 100)
    error = _refused(session, _file(tmp_path, [in_gushan]))
    (problem,) = [p for p in error.report.problems if p.rule == "elsewhere_township"]
    assert problem.severity == "error"
    assert "100.0% of the parcel lies outside 新店镇: it lies in 鼓山镇" in problem.message
    report = import_file(session, _file(tmp_path, [in_gushan], name="o.gpkg"),
                         _options(override_reason="界线为示意"))  # fmt: skip
    (warned,) = [p for p in report.problems if p.rule == "elsewhere_township"]
    assert warned.severity == "warning" and "界线为示意" in warned.message


def test_identical_geometries_in_one_file_are_refused(session, tmp_path):
    parcel = rectangle(XINDIAN, 0, 0, 100, 100)
    error = _refused(session, _file(tmp_path, [parcel, parcel]))
    assert _rules(error.report.problems) == {(2, "duplicate_geometry", "error")}
    assert "feature 1 (C1)" in error.report.problems[0].message


def test_overlaps_within_a_file_name_both_codes_and_the_area(session, tmp_path):
    a, b = rectangle(XINDIAN, 0, 0, 100, 100), rectangle(XINDIAN, 60, 0, 100, 100)
    expected = independent_area_m2(shapely.intersection(a, b))
    report = import_file(session, _file(tmp_path, [a, b]), _options(status="delivered"))
    (problem,) = report.problems
    assert (problem.feature, problem.code, problem.rule, problem.severity) == (
        1,
        "C1",
        "overlap",
        "warning",
    )
    assert "feature 2 (C2)" in problem.message
    assert float(problem.message.split(" by ")[1].split(" m²")[0].replace(",", "")) == (
        pytest.approx(expected, rel=1e-3)
    )
    lon, lat = problem.location
    assert shapely.Point(lon, lat).within(shapely.intersection(a, b))
    # Both verified: refused unless accepted.
    error = _refused(
        session, _file(tmp_path, [a, b], "v.gpkg", code=["V1", "V2"]), status="verified"
    )
    assert (1, "overlap_verified", "error") in _rules(error.report.problems)


def test_overlap_with_a_stored_verified_parcel_is_refused_then_accepted_and_flagged(
    session, tmp_path
):
    stored = rectangle(XINDIAN, 0, 0, 200, 200)
    import_file(
        session, _file(tmp_path, [stored], "a.gpkg", code=["OLD"]), _options(status="verified")
    )
    session.commit()
    resurvey = _file(tmp_path, [rectangle(XINDIAN, 150, 0, 200, 200)], "b.gpkg", code=["NEW"])
    error = _refused(session, resurvey, status="verified")
    (problem,) = error.report.problems
    assert (problem.rule, problem.code) == ("overlap_verified", "NEW")
    assert "stored parcel OLD (新店镇)" in problem.message
    report = import_file(session, resurvey, _options(status="verified", accept_overlaps=True))
    assert _rules(report.problems) == {(1, "overlap_verified", "warning")}
    # A planned parcel overlapping a verified one is only a warning.
    planned = _file(tmp_path, [rectangle(XINDIAN, 0, 150, 100, 100)], "c.gpkg", code=["P"])
    assert {p.rule for p in import_file(session, planned, _options()).problems} == {"overlap"}


def test_reimporting_a_parcel_does_not_overlap_itself(session, tmp_path):
    path = _file(tmp_path, [rectangle(XINDIAN, 0, 0, 100, 100)])
    import_file(session, path, _options(status="verified"))
    assert import_file(session, path, _options(status="verified")).problems == []


def test_declared_area_differing_from_the_boundary_is_a_warning(session, tmp_path):
    parcel = rectangle(XINDIAN, 0, 0, 100, 100)
    true_m2 = independent_area_m2(parcel)
    path = _file(
        tmp_path,
        [parcel, rectangle(XINDIAN, 300, 0, 100, 100)],
        declared_m2=[true_m2 * 1.02, true_m2 * 1.0001],
    )
    report = import_file(session, path, _options())
    assert _rules(report.problems) == {(1, "declared_area_mismatch", "warning")}
    assert "+2.00%" in report.problems[0].message


def test_accept_valid_stores_the_good_features_and_reports_the_rest(session, tmp_path):
    good = [rectangle(XINDIAN, 0, 0, 100, 100), rectangle(XINDIAN, 300, 0, 80, 80)]
    bad = shapely.Point(*XINDIAN)
    path = write(
        frame([good[0], bad, good[1]], code=["G1", "BAD", "G2"]),
        tmp_path / "mixed.gpkg",
        None,
        "GPKG",
    )
    _refused(session, path)
    report = import_file(session, path, _options(accept_valid=True))
    assert (report.parcels, report.rejected) == (2, 1)
    assert report.area_m2 == pytest.approx(sum(independent_area_m2(p) for p in good), 1e-3)
    assert _rules(report.problems) == {(2, "not_polygon", "error")}
    session.commit()
    assert count_rows("parcels") == 2


def test_report_as_csv_and_as_a_geopackage_of_problem_features(session, tmp_path):
    a, b = rectangle(XINDIAN, 0, 0, 100, 100), rectangle(XINDIAN, 60, 0, 100, 100)
    path = _file(tmp_path, [a, b, shapely.Point(*XINDIAN)], code=["A", "B", "PT"])
    error = _refused(session, path, status="verified")
    rows = list(csv.DictReader(io.StringIO(problems_csv(error.report))))
    assert {(r["feature"], r["code"], r["rule"], r["severity"]) for r in rows} == {
        ("1", "A", "overlap_verified", "error"),
        ("3", "PT", "not_polygon", "error"),
    }
    assert all(r["file"] == "f.gpkg" and r["lon"] and r["lat"] for r in rows)
    gpkg = write_problems_gpkg(error.report, tmp_path / "problems.gpkg")
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert layers == {"problem_features", "problem_points"}
    features = gpd.read_file(gpkg, layer="problem_features")
    assert features.crs.to_epsg() == 4549, "in the team's own CRS, to overlay in QGIS"
    assert sorted(features["rule"]) == ["not_polygon", "overlap_verified"]
    overlap = features[features.rule == "overlap_verified"].to_crs(4490).geometry.iloc[0]
    assert overlap.equals_exact(a, tolerance=1e-7)
    points = gpd.read_file(gpkg, layer="problem_points")
    assert points.crs.to_epsg() == 4490 and len(points) == 2


def test_the_accepted_area_counts_a_files_own_overlaps_once(session, tmp_path):
    a, b = rectangle(XINDIAN, 0, 0, 100, 100), rectangle(XINDIAN, 60, 0, 100, 100)
    report = import_file(session, _file(tmp_path, [a, b]), _options(status="delivered"))
    assert report.area_m2 == pytest.approx(independent_area_m2(shapely.union(a, b)), rel=1e-6)


def test_a_parcel_outside_its_townships_district_is_refused(session, tmp_path):
    # 新店镇 parcels declared as 仓山区's 金山街道: wholly outside 仓山区.
    path = _file(tmp_path, [rectangle(XINDIAN, 0, 0, 100, 100)])
    error = _refused(session, path, township="仓山区/金山街道")
    (problem,) = [p for p in error.report.problems if p.rule == "outside_district"]
    assert problem.severity == "error"
    assert "100.0% of the parcel lies outside 仓山区" in problem.message
    assert not [p for p in error.report.problems if p.rule == "outside_township"]


def _exact_township(session, tmp_path, name, polygon):
    path = tmp_path / "townships.gpkg"
    gpd.GeoDataFrame({"XZQMC": [name]}, geometry=[polygon], crs=4490).to_file(path)
    import_township_boundaries(session, path, "晋安区", name_field="XZQMC")
    session.flush()


def test_outside_an_exact_township_outline_beyond_the_tolerance_is_refused(session, tmp_path):
    try:
        _straddle_an_exact_outline(session, tmp_path)
    finally:
        session.rollback()  # reference units are shared by the whole test session


def _straddle_an_exact_outline(session, tmp_path):
    # An imported outline: a 1 km square; parcels straddling its east edge.
    outline = rectangle(XINDIAN, 0, 0, 1000, 1000)
    _exact_township(session, tmp_path, "新店镇", outline)
    slightly = rectangle(XINDIAN, 910, 0, 100, 100)  # 10 m of 100 m: 10% outside
    barely = rectangle(XINDIAN, 803, 300, 200, 100)  # 3 m of 200 m: 1.5% outside
    report = import_file(session, _file(tmp_path, [barely], name="b.gpkg"), _options())
    (warned,) = [p for p in report.problems if p.rule == "outside_township"]
    assert warned.severity == "warning" and "1.5% of the parcel" in warned.message
    error = _refused(session, _file(tmp_path, [slightly], name="s.gpkg", code=["S1"]))
    (refused,) = [p for p in error.report.problems if p.rule == "outside_township"]
    assert refused.severity == "error" and "10.0% of the parcel" in refused.message
    share = independent_area_m2(shapely.difference(slightly, outline)) / independent_area_m2(
        slightly
    )
    assert share == pytest.approx(0.10, abs=0.002)
