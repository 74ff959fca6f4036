"""City-sized files: no statement may grow with the file past PostgreSQL's limits."""

import gc
from dataclasses import replace

import geopandas as gpd
import pyogrio
import pytest
import shapely
from conftest import count_rows
from gridfiles import grid_frame, write_grid
from parcelfiles import XINDIAN, independent_area_m2
from sqlalchemy import text

from geo_service import actions, database
from geo_service.accounts import users
from geo_service.errors import Forbidden, UploadRefused
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.settings import get_settings

# Over 65,535: one bind parameter per code used to break the import outright.
FEATURES = 70_000


@pytest.fixture
def grid_file(tmp_path, monkeypatch):
    # Past the default MAX_FEATURES_PER_FILE (50,000): an operator raises it for a city's
    # files; the database must then take them in one go.
    monkeypatch.setenv("MAX_FEATURES_PER_FILE", str(FEATURES))
    get_settings.cache_clear()
    yield write_grid(tmp_path / "grid.gpkg", XINDIAN, FEATURES)
    monkeypatch.delenv("MAX_FEATURES_PER_FILE")
    get_settings.cache_clear()


def test_a_70000_feature_file_imports_in_one_go_and_again_unchanged(session, grid_file, tmp_path):
    options = ImportOptions(kind="land", township="新店镇", status="delivered", actor="测绘队")
    report = import_file(session, grid_file, options)
    session.commit()
    assert (report.created, report.changed, report.unchanged) == (FEATURES, 0, 0)
    assert count_rows("parcels") == count_rows("parcel_versions") == FEATURES
    stored = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE status = 'delivered' AND version = 1 "
            "AND created_by = '测绘队'), sum(area_m2) FROM parcels"
        )
    ).one()
    assert stored[0] == FEATURES
    # Every stored area against pyproj's Geod on the file's own squares, sampled.
    sample = session.execute(
        text("SELECT code, area_m2, ST_AsBinary(geom) FROM parcels ORDER BY random() LIMIT 200")
    ).all()
    for code, area, wkb in sample:
        assert area == pytest.approx(independent_area_m2(shapely.from_wkb(bytes(wkb))), rel=1e-4)
        assert code.startswith("G-")
    # 10 m squares: the total is about 70,000 × 100 m² (GK scale distortion is tiny here).
    assert stored[1] == pytest.approx(FEATURES * 100.0, rel=2e-3)
    assert report.area_m2 == pytest.approx(stored[1], rel=1e-9)
    # Again, with no status: 70,000 codes looked up at once, nothing changes.
    options = ImportOptions(kind="land", township="新店镇", actor="测绘队")
    again = import_file(session, grid_file, options)
    assert (again.created, again.changed, again.unchanged) == (0, 0, FEATURES)
    frame = gpd.read_file(grid_file)
    # The file is in GK metres: move one square 1 m east.
    frame.loc[5, "geometry"] = shapely.affinity.translate(frame.geometry[5], xoff=1.0)
    moved = tmp_path / "moved.gpkg"
    frame.to_file(moved, driver="GPKG", engine="pyogrio")
    report = import_file(session, moved, options)
    session.commit()
    assert (report.created, report.changed, report.unchanged) == (0, 1, FEATURES - 1)
    versions = session.execute(
        text(
            "SELECT v.version, v.valid_to IS NULL FROM parcel_versions v "
            "JOIN parcels p ON p.id = v.parcel_id WHERE p.code = :code ORDER BY v.version"
        ),
        {"code": frame.code[5]},
    ).all()
    assert [tuple(v) for v in versions] == [(1, False), (2, True)]
    assert (
        session.execute(
            text("SELECT status FROM parcels WHERE code = :code"), {"code": frame.code[5]}
        ).scalar()
        == "delivered"
    )
    assert count_rows("parcel_versions") == FEATURES + 1


@pytest.fixture
def small_batches(monkeypatch):
    # Batches of 40 features: a file of a few hundred crosses many batch boundaries.
    monkeypatch.setenv("IMPORT_BATCH_FEATURES", "40")
    get_settings.cache_clear()
    yield 40
    monkeypatch.delenv("IMPORT_BATCH_FEATURES")
    get_settings.cache_clear()


def _stored_counts() -> tuple:
    return tuple(count_rows(t) for t in ("parcels", "parcel_versions", "uploads", "tally_totals"))


def test_a_problem_in_a_late_batch_refuses_the_whole_file(session, small_batches, tmp_path):
    grid = grid_frame(XINDIAN, 230)
    # In batch 6 (features 201-230): a point, a code first used in batch 1, and a copy of
    # a batch-2 square moved 1.5 m east (overlapping it by 8.5 × 10 m).
    grid.loc[205, "geometry"] = shapely.Point(grid.geometry[205].centroid)
    grid.loc[210, "code"] = grid.code[2]
    grid.loc[220, "geometry"] = shapely.affinity.translate(grid.geometry[50], xoff=1.5)
    path = tmp_path / "late.gpkg"
    grid.to_file(path, driver="GPKG", engine="pyogrio")
    before = _stored_counts()
    options = ImportOptions(kind="land", township="新店镇", status="verified", actor="测绘队")
    with pytest.raises(UploadRefused) as caught:
        import_file(session, path, options)
    session.rollback()
    assert _stored_counts() == before, "nothing of a refused file is stored"
    report = caught.value.report
    found = {(p.feature, p.rule, p.severity) for p in report.problems}
    assert found == {
        (206, "not_polygon", "error"),
        (211, "duplicate_code", "error"),
        # Reported on the earlier feature (51, batch 2), as within a batch.
        (51, "overlap_verified", "error"),
    }
    problems = {p.feature: p for p in report.problems}
    assert "first at feature 3" in problems[211].message
    assert "feature 221 (G-0000220) of this file by 85.0 m²" in problems[51].message
    assert "late.gpkg" in str(caught.value) and "feature 206 (G-0000205)" in str(caught.value)
    # The report's map shows every feature of a file this small, a problem feature as it
    # was read even when it is no parcel (the point); the problems file has the features
    # with problems, as read.
    assert len(report.shapes) == 230 and report.shapes[206]["type"] == "Point"
    assert set(report.frame.index) == {51, 206, 211}
    assert report.frame.geometry[206].geom_type == "Point"
    assert report.features == 230 and report.valid == 227

    # Accepting the valid features stores the other 227, flags and counts them once.
    options.accept_valid = True
    stored = import_file(session, path, options)
    session.commit()
    assert (stored.created, stored.rejected, stored.parcels) == (227, 3, 227)
    assert count_rows("parcels") == count_rows("parcel_versions") == 227
    codes = {c for (c,) in session.execute(text("SELECT code FROM parcels"))}
    assert {"G-0000050", "G-0000205"}.isdisjoint(codes) and "G-0000220" in codes
    assert "G-0000002" in codes  # the first use of a code repeated later stays
    total = session.execute(text("SELECT sum(area_m2) FROM parcels")).scalar()
    assert stored.area_m2 == pytest.approx(total, rel=1e-9)


def test_overlaps_across_batches_are_flagged_like_within_one(session, small_batches, tmp_path):
    grid = grid_frame(XINDIAN, 100)
    grid.loc[90, "geometry"] = shapely.affinity.translate(grid.geometry[5], xoff=1.0)
    path = tmp_path / "overlap.gpkg"
    grid.to_file(path, driver="GPKG", engine="pyogrio")
    options = ImportOptions(kind="land", township="新店镇", status="delivered", actor="测绘队")
    report = import_file(session, path, options)
    session.commit()
    assert report.created == 100
    flags = session.execute(
        text("SELECT flags, overlapping FROM parcels WHERE code = 'G-0000005'")
    ).one()
    assert [(f["rule"], f["with"]) for f in flags[0]] == [("overlap", "G-0000090")]
    assert flags[0][0]["overlap_m2"] == pytest.approx(90.0, rel=1e-3)
    assert flags[1] is True
    # The two overlapping squares cover 110 m², not 200: counted once.
    areas = session.execute(text("SELECT sum(area_m2) FROM parcels")).scalar()
    one = areas / 100
    assert report.area_m2 == pytest.approx(areas - one * 0.9, rel=1e-4)


# An admin's first load of a district (`import --bulk`): no file-size limit, every check.
MILLION = 1_000_000


def test_bulk_mode_is_an_admins_and_lifts_only_the_file_size_limit(db, tmp_path, monkeypatch):
    monkeypatch.setenv("MAX_FEATURES_PER_FILE", "50")
    get_settings.cache_clear()
    path = write_grid(tmp_path / "sixty.gpkg", XINDIAN, 60)
    with database.session_scope() as session:
        refused = ImportOptions(kind="land", township="新店镇", actor="测绘队")
        with pytest.raises(UploadRefused, match="more than the limit of 50"):
            import_file(session, path, refused)
        bulk = replace(refused, bulk=True)
        with pytest.raises(Forbidden):
            actions.upload(session, users.acting_user(session, "land_xd"), path, bulk)
        # An admin does not sign off: a bulk load asking for verified parcels is refused.
        admin = users.acting_user(session, "admin_t")
        with pytest.raises(UploadRefused) as caught:
            actions.upload(session, admin, path, replace(bulk, status="verified"))
        assert {p.rule for p in caught.value.report.problems} == {"signoff"}
        report = actions.upload(session, admin, path, bulk)
    assert (report.created, report.rejected) == (60, 0)
    assert count_rows("parcels") == count_rows("parcel_versions") == 60
    monkeypatch.delenv("MAX_FEATURES_PER_FILE")
    get_settings.cache_clear()


def test_a_million_feature_file_loads_in_bulk_mode(db, tmp_path):
    # 2 m squares 1 m apart (3 km a side, inside 新店镇), written straight from arrays.
    grid = grid_frame(XINDIAN, MILLION, size_m=2.0, gap_m=1.0, prefix="M")
    path = tmp_path / "million.gpkg"
    pyogrio.write_dataframe(grid, path, driver="GPKG", layer="parcels")
    del grid
    # The import collects its spent batches (uploads._release): the test process's own
    # objects kept out of the collector's sight, as the CLI keeps its own.
    gc.freeze()
    try:
        with database.session_scope() as session:
            admin = users.acting_user(session, "admin_t")
            options = ImportOptions(kind="land", township="新店镇", bulk=True)
            report = actions.upload(session, admin, path, options)
    finally:
        gc.unfreeze()
    assert (report.features, report.created, report.rejected) == (MILLION, MILLION, 0)
    with database.get_engine().connect() as conn:
        stored = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE overlapping), sum(area_m2), "
                "count(DISTINCT code), min(created_by), max(created_by) FROM parcels"
            )
        ).one()
        versions = conn.execute(text("SELECT count(*) FROM parcel_versions")).scalar()
        totals = conn.execute(
            text("SELECT sum(parcels), sum(area_m2) FROM tally_totals WHERE status = 'planned'")
        ).one()
    assert stored[:2] == (MILLION, 0) and stored[3] == MILLION
    assert stored[4] == stored[5] == "admin_t"
    assert stored[2] == pytest.approx(MILLION * 4.0, rel=2e-3)  # 4 m² each
    assert versions == MILLION
    # The running totals took every parcel, set-wise, to the last square metre.
    assert totals[0] == MILLION and float(totals[1]) == pytest.approx(stored[2], rel=1e-12)
