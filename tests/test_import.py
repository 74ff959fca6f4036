"""Import: formats, CRS from the file, encodings, refusals that leave nothing behind."""

import json

import geopandas as gpd
import pytest
import shapely
from conftest import count_rows
from parcelfiles import (
    CM120E,
    GUSHAN,
    XINDIAN,
    ZONE40,
    frame,
    independent_area_m2,
    rectangle,
    write,
)
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from geo_service.errors import InvalidInput, UploadRefused
from geo_service.parcels.readers import read_features
from geo_service.parcels.uploads import ImportOptions, import_file, upload_options

LAND_XINDIAN = ImportOptions(kind="land", township="新店镇")


def _stored() -> dict[str, int]:
    return {t: count_rows(t) for t in ("parcels", "parcel_versions", "uploads")}


def _refusal(session, path, options=LAND_XINDIAN) -> UploadRefused:
    before = _stored()
    with pytest.raises(UploadRefused) as caught:
        import_file(session, path, options)
    session.rollback()
    assert _stored() == before, "a refused file must leave nothing behind"
    return caught.value


def test_gbk_shapefile_without_cpg_keeps_its_chinese_names(session, tmp_path):
    names = ["新店镇赤桥村地块", "岳峰镇上洋安置房"]
    parcels = [rectangle(XINDIAN, 0, 0, 100, 80), rectangle(XINDIAN, 300, 0, 90, 70)]
    path = write(
        frame(parcels, code=["X-1", "X-2"], name=names),
        tmp_path / "gbk.zip",
        CM120E,
        encoding="GBK",
    )
    # Remove the .cpg so the file looks like those Chinese CAD offices hand over.
    _rezip_without(path, ".cpg")
    read = read_features(path)
    assert read.encoding == "GB18030"
    assert list(read.frame["name"]) == names
    import_file(session, path, LAND_XINDIAN)
    stored = session.execute(shapely_free("SELECT name FROM parcels ORDER BY code")).scalars()
    assert list(stored) == names


def shapely_free(sql):
    from sqlalchemy import text

    return text(sql)


def _rezip_without(path, suffix):
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if not n.endswith(suffix)}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_crs_comes_from_the_file_and_can_be_overridden(session, tmp_path):
    parcel = rectangle(XINDIAN, 0, 0, 120, 120)
    path = write(frame([parcel], code=["Z-1"]), tmp_path / "zone40.gpkg", ZONE40, "GPKG")
    assert read_features(path).source.label == "EPSG:4528"
    geojson = write(frame([parcel], code=["G-1"]), tmp_path / "plain.geojson", 4326, "GeoJSON")
    assert read_features(geojson).source.crs.to_epsg() == 4326
    # The same GK numbers declared as the wrong zone land far from Fuzhou: refused.
    error = _refusal(session, path, ImportOptions(kind="land", township="新店镇", crs="EPSG:4549"))
    assert error.report.problems[0].rule == "outside_crs_area"


def test_file_without_crs_is_refused_with_a_hint(session, tmp_path):
    parcel = rectangle(XINDIAN, 0, 0, 100, 100)
    path = write(frame([parcel]), tmp_path / "nocrs.zip", CM120E)
    _rezip_without(path, ".prj")
    with pytest.raises(UploadRefused) as caught:  # no township to take the zone from
        read_features(path)
    assert "--crs" in str(caught.value) and "nocrs.zip" in str(caught.value)
    report = import_file(
        session, path, ImportOptions(kind="land", township="新店镇", crs="EPSG:4549")
    )
    assert report.area_m2 == pytest.approx(independent_area_m2(parcel), rel=1e-3)
    # an upload names its township: plain eastings take its zone (40, CM 120E)
    session.rollback()
    zoned = import_file(session, path, ImportOptions(kind="land", township="新店镇"))
    assert zoned.source_crs.startswith("EPSG:4549")
    assert [p.rule for p in zoned.problems if p.rule == "crs_zone_from_township"]


def test_projected_numbers_in_a_lonlat_file_are_refused(session, tmp_path):
    gk = shapely.box(500_000, 2_890_000, 500_100, 2_890_100)
    path = tmp_path / "swapped.geojson"
    gpd.GeoDataFrame({"code": ["P-1"]}, geometry=[gk]).to_file(path, driver="GeoJSON")
    error = _refusal(session, path)
    problem = error.report.problems[0]
    assert (problem.feature, problem.code, problem.rule) == (1, "P-1", "coordinates_out_of_range")
    assert "--crs" in problem.message


def test_every_bad_feature_is_reported_and_nothing_is_written(session, tmp_path):
    good = rectangle(XINDIAN, 0, 0, 100, 100)
    features = [
        good,
        Point(119.3, 26.15),
        LineString([(119.3, 26.15), (119.31, 26.16)]),
        Polygon(),
        rectangle(XINDIAN, 300, 0, 50, 50),
    ]
    path = write(
        frame(features, code=["OK-1", "PT", "LN", "EMPTY", "OK-1"]),
        tmp_path / "mixed.gpkg",
        None,
        "GPKG",
    )
    error = _refusal(session, path)
    found = {(p.feature, p.rule) for p in error.report.problems}
    assert found == {
        (2, "not_polygon"),
        (3, "not_polygon"),
        (4, "empty_geometry"),
        (5, "duplicate_code"),
    }
    assert "mixed.gpkg" in str(error) and "feature 2 (PT)" in str(error)


def test_z_is_dropped_and_multipolygons_are_kept(session, tmp_path):
    a, b = rectangle(XINDIAN, 0, 0, 100, 100), rectangle(XINDIAN, 500, 0, 100, 100)
    multi = shapely.force_3d(shapely.MultiPolygon([a, b]), z=12.5)
    path = write(frame([multi], code=["M-1"]), tmp_path / "z.gpkg", CM120E, "GPKG")
    report = import_file(session, path, LAND_XINDIAN)
    assert report.area_m2 == pytest.approx(independent_area_m2(a) + independent_area_m2(b), 1e-6)
    dims = session.execute(
        shapely_free("SELECT ST_NDims(geom), ST_NumGeometries(geom) FROM parcels")
    ).one()
    assert tuple(dims) == (2, 2)


def test_self_intersection_is_repaired_with_a_warning_or_refused(session, tmp_path):
    # A 100 m square whose last edge runs from (0, 100) to (1, -1), crossing the first edge
    # at x = 100/101: the repair keeps the square less a 49.5 m² sliver, plus a tiny
    # triangle below the first edge; the area changes by 0.5%.
    x0, y0 = Transformer.from_crs(4490, CM120E, always_xy=True).transform(*XINDIAN)
    twisted = Polygon(
        [(x0, y0), (x0 + 100, y0), (x0 + 100, y0 + 100), (x0, y0 + 100), (x0 + 1, y0 - 1), (x0, y0)]
    )
    path = tmp_path / "twisted.gpkg"
    gpd.GeoDataFrame({"code": ["TW"]}, geometry=[twisted], crs=CM120E).to_file(path)
    report = import_file(session, path, LAND_XINDIAN)
    assert [(p.rule, p.severity) for p in report.problems] == [("repaired_geometry", "warning")]
    crossing = 100 / 101
    expected = 10_000 - 0.5 * 100 * crossing + 0.5 * crossing * 1
    assert report.area_m2 == pytest.approx(expected, rel=2e-4)
    # A bow-tie's two lobes cancel out: the surveyed shape is in doubt, so it is refused.
    bowtie = Polygon([(x0, y0), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0 + 100), (x0, y0)])
    path = tmp_path / "bowtie.gpkg"
    gpd.GeoDataFrame({"code": ["BT"]}, geometry=[bowtie], crs=CM120E).to_file(path)
    error = _refusal(session, path)
    assert [(p.feature, p.code, p.rule) for p in error.report.problems] == [
        (1, "BT", "invalid_geometry")
    ]


def test_dry_run_checks_everything_and_stores_nothing(session, tmp_path):
    path = write(
        frame([rectangle(XINDIAN, 0, 0, 100, 100)], code=["D-1"]),
        tmp_path / "dry.geojson",
        4326,
        "GeoJSON",
    )
    report = import_file(session, path, ImportOptions(kind="land", township="新店镇", dry_run=True))
    assert report.accepted and report.parcels == 1
    assert _stored() == {"parcels": 0, "parcel_versions": 0, "uploads": 0}


def test_unknown_township_and_garbage_files_are_refused_clearly(session, tmp_path):
    path = write(frame([rectangle(XINDIAN, 0, 0, 100, 100)]), tmp_path / "t.gpkg", None, "GPKG")
    error = _refusal(session, path, ImportOptions(kind="land", township="新店"))
    assert "新店镇" in str(error), "should suggest the full name"
    garbage = tmp_path / "random.gpkg"
    garbage.write_bytes(b"\x00\x17not a geopackage" * 100)
    assert "random.gpkg" in str(_refusal(session, garbage))
    bad_zip = tmp_path / "broken.zip"
    bad_zip.write_bytes(b"PK\x03\x04 truncated")
    assert "broken.zip" in str(_refusal(session, bad_zip))


def test_reimport_records_versions_and_identical_files_change_nothing(session, tmp_path):
    first = rectangle(GUSHAN, 0, 0, 100, 100)
    path = write(frame([first], code=["R-1"]), tmp_path / "r.gpkg", CM120E, "GPKG")
    options = ImportOptions(kind="demolition", township="鼓山镇", status="planned", actor="组A")
    assert import_file(session, path, options).created == 1
    assert import_file(session, path, options).unchanged == 1
    bigger = rectangle(GUSHAN, 0, 0, 150, 100)
    path2 = write(frame([bigger], code=["R-1"]), tmp_path / "r2.gpkg", CM120E, "GPKG")
    options.status, options.actor = "verified", "拆迁核验组"
    assert import_file(session, path2, options).changed == 1
    session.commit()
    history = session.execute(
        shapely_free(
            "SELECT version, status, area_m2, changed_by, valid_to IS NULL AS current "
            "FROM parcel_versions ORDER BY version"
        )
    ).all()
    assert [(h.version, h.status, h.changed_by, h.current) for h in history] == [
        (1, "planned", "组A", False),
        (2, "verified", "拆迁核验组", True),
    ]
    assert history[0].area_m2 == pytest.approx(independent_area_m2(first), rel=1e-3)
    assert history[1].area_m2 == pytest.approx(independent_area_m2(bigger), rel=1e-3)


def test_report_serialises_to_json(session, tmp_path):
    path = write(
        frame([rectangle(XINDIAN, 0, 0, 100, 100)], code=["J-1"]),
        tmp_path / "j.geojson",
        4326,
        "GeoJSON",
    )
    data = json.loads(json.dumps(import_file(session, path, LAND_XINDIAN).as_dict()))
    assert data["parcels"] == 1
    assert data["area_mu"] == pytest.approx(data["area_m2"] * 15 / 1e4, abs=1e-4)


def test_a_repair_is_measured_against_the_larger_area_and_problems_come_in_feature_order(
    session, tmp_path
):
    # A bow-tie that is nearly symmetric: its signed lobes almost cancel, so against the
    # original (net) area a repair's change would read in the millions of per cent.
    x0, y0 = Transformer.from_crs(4490, CM120E, always_xy=True).transform(*XINDIAN)
    bowtie = Polygon([(x0, y0), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0 + 100.001), (x0, y0)])
    lobes = shapely.make_valid(bowtie).area
    net = abs(shapely.area(bowtie))
    assert abs(lobes - net) / net > 1000  # the old figure, for the record
    twin = rectangle(XINDIAN, 500, 0, 50, 50)
    square = shapely.Polygon(
        [
            Transformer.from_crs(4490, CM120E, always_xy=True).transform(x, y)
            for x, y in twin.exterior.coords
        ]
    )
    path = tmp_path / "bowtie.gpkg"
    # Feature 2 repeats feature 1's code: a rule checked before geometry repairs.
    gpd.GeoDataFrame({"code": ["BT", "BT"]}, geometry=[bowtie, square], crs=CM120E).to_file(path)
    problems = _refusal(session, path).report.problems
    assert [(p.feature, p.rule) for p in problems] == [
        (1, "invalid_geometry"),
        (2, "duplicate_code"),
    ]
    change = abs(lobes - net) / lobes
    assert f"change the area by {change:.1%}" in problems[0].message
    assert change == pytest.approx(1.0, abs=1e-4)


def test_upload_options_blank_fields_are_not_given_and_a_bad_status_is_refused():
    """The API form, the upload page and the CLI build an upload's options here: a form
    sends blank fields as empty text, which means "not given"."""
    options = upload_options(
        "land", "新店镇", "", "", crs="", encoding="GBK", layer="", dry_run=True, filename="a.zip"
    )
    assert options == ImportOptions(
        kind="land", township="新店镇", encoding="GBK", dry_run=True, filename="a.zip"
    )
    assert upload_options("demolition", "鼓山镇", "P-1", "verified").status == "verified"
    with pytest.raises(InvalidInput, match="status must be one of planned, delivered, verified"):
        upload_options("land", "新店镇", status="done")
