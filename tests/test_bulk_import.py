"""City-sized files: no statement may grow with the file past PostgreSQL's limits."""

import geopandas as gpd
import pytest
import shapely
from conftest import count_rows
from gridfiles import write_grid
from parcelfiles import XINDIAN, independent_area_m2
from sqlalchemy import text

from geo_service.settings import get_settings
from geo_service.uploads import ImportOptions, import_file

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
