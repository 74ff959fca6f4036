"""Reference data: Fuzhou's districts and townships, idempotent loading, replaceable outlines."""

import re

import geopandas as gpd
import pytest
from sqlalchemy import text

from geo_service.database import normalise_url
from geo_service.errors import InvalidInput
from geo_service.reference import import_township_boundaries, load_reference

JINAN = [
    "茶园街道",
    "王庄街道",
    "象园街道",
    "新店镇",
    "岳峰镇",
    "鼓山镇",
    "宦溪镇",
    "寿山乡",
    "日溪乡",
]
OFFICIAL_DISTRICTS = {
    "350111": "晋安区",
    "350104": "仓山区",
    "350112": "长乐区",
    "350181": "福清市",
}


def _units(session, sql, **params):
    return session.execute(text(sql), params).all()


def test_districts_have_official_codes_and_townships_as_in_the_yearbook(session):
    rows = _units(session, "SELECT code, name FROM admin_units WHERE level = 'district'")
    assert dict(rows) == OFFICIAL_DISTRICTS
    counts = dict(
        _units(
            session,
            """
        SELECT d.name, count(*) FROM admin_units t JOIN admin_units d ON d.id = t.parent_id
        WHERE t.level = 'township' GROUP BY d.name""",
        )
    )
    assert counts == {"晋安区": 9, "仓山区": 13, "长乐区": 18, "福清市": 24}
    names = [
        r.name
        for r in _units(
            session,
            """
        SELECT t.name FROM admin_units t JOIN admin_units d ON d.id = t.parent_id
        WHERE d.code = '350111'""",
        )
    ]
    assert sorted(names) == sorted(JINAN)


def test_invented_township_codes_cannot_pass_for_official_ones(session):
    rows = _units(
        session,
        "SELECT code, code_official, boundary_approximate FROM admin_units "
        "WHERE level = 'township'",
    )
    for code, official, approximate in rows:
        assert not re.fullmatch(r"\d{9}|\d{12}", code), code
        assert (official, approximate) == (False, True)


def test_jinan_outline_is_about_552_km2_and_its_townships_tile_it(session):
    district_km2, townships_km2, overlap_km2 = _units(
        session,
        """
        SELECT ST_Area(d.geom::geography) / 1e6,
               (SELECT sum(ST_Area(t.geom::geography)) / 1e6 FROM admin_units t
                 WHERE t.parent_id = d.id),
               (SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
                       / 1e6
                  FROM admin_units a JOIN admin_units b ON a.id < b.id
                   AND a.parent_id = d.id AND b.parent_id = d.id AND a.geom && b.geom)
        FROM admin_units d WHERE d.code = '350111'""",
    )[0]
    assert district_km2 == pytest.approx(552, rel=0.03)
    assert townships_km2 == pytest.approx(district_km2, rel=1e-4)
    assert overlap_km2 < 0.01


def test_loading_twice_adds_nothing(session):
    assert load_reference(session) == {"units": 0, "targets": 0}


def test_real_township_outlines_replace_the_approximate_ones(session, tmp_path):
    try:
        _replace_shoushan(session, tmp_path)
    finally:
        session.rollback()  # reference units are shared by the whole test session


def test_outlines_are_an_admins_to_replace_and_on_record(session, tmp_path):
    from geo_service import actions
    from geo_service.accounts.users import acting_user
    from geo_service.errors import Forbidden
    from geo_service.models import AuditEntry

    path = _shoushan_file(tmp_path)
    try:
        verifier = acting_user(session, "land_xd", source="cli")
        with pytest.raises(Forbidden, match="may not"):
            actions.import_boundaries(session, verifier, path, "晋安区")
        admin = acting_user(session, "admin_t", source="cli")
        counts = actions.import_boundaries(session, admin, path, "晋安区", code_field="XZQDM")
        assert counts == {"replaced": 1, "added": 0}
        entry = session.query(AuditEntry).filter_by(action="boundaries.import", outcome="ok").one()
        assert (entry.username, entry.target) == ("admin_t", "real.gpkg")
    finally:
        session.rollback()  # reference units are shared by the whole test session


def _shoushan_file(tmp_path):
    real = gpd.GeoDataFrame(
        {"XZQMC": ["寿山乡"], "XZQDM": ["350111205000"]},
        geometry=gpd.GeoSeries.from_wkt(
            ["POLYGON((119.2 26.25, 119.3 26.25, 119.3 26.35, 119.2 26.35, 119.2 26.25))"]
        ),
        crs=4490,
    ).to_crs(4549)
    path = tmp_path / "real.gpkg"
    real.to_file(path)
    return path


def _replace_shoushan(session, tmp_path):
    path = _shoushan_file(tmp_path)
    # No --name-field: the file's XZQMC column (国土调查's 行政区名称) is found.
    counts = import_township_boundaries(session, path, "晋安区", code_field="XZQDM")
    assert counts == {"replaced": 1, "added": 0}
    code, official, approximate, west = _units(
        session,
        """
        SELECT code, code_official, boundary_approximate, ST_XMin(geom) FROM admin_units
        WHERE name = '寿山乡'""",
    )[0]
    assert (code, official, approximate) == ("350111205000", True, False)
    assert west == pytest.approx(119.2, abs=1e-6)
    # An upgrade afterwards keeps the imported outline.
    load_reference(session)
    assert _units(session, "SELECT code FROM admin_units WHERE name = '寿山乡'")[0][0] == (
        "350111205000"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
    ],
)
def test_plain_libpq_urls_get_a_driver(given, expected):
    assert normalise_url(given) == expected


def test_a_township_file_without_a_name_column_names_its_columns(session, tmp_path):
    path = tmp_path / "odd.gpkg"
    gpd.GeoDataFrame(
        {"MC": ["寿山乡"]}, geometry=gpd.GeoSeries.from_wkt(["POINT(119.25 26.3)"]).buffer(0.01),
        crs=4490,
    ).to_file(path)  # fmt: skip
    with pytest.raises(InvalidInput, match="no column with township names.*columns: MC"):
        import_township_boundaries(session, path, "晋安区")
    session.rollback()
