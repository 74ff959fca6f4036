"""Tallies: union of verified parcels, geodesic, against targets; reproducible for past days."""

from datetime import date, datetime, timedelta

import pytest
import shapely
from conftest import rewriting_history
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
from sqlalchemy import text

from geo_service.errors import UploadRefused
from geo_service.tallies import CAMPAIGN_TZ, tally
from geo_service.targets import set_target
from geo_service.uploads import ImportOptions, import_file

MU = 10000 / 15


def _row(rows, **match):
    found = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one row matching {match}, got {found}"
    return found[0]


def _import(session, polygons, path, township="新店镇", kind="land", status="verified", **kw):
    codes = kw.pop("codes", [f"{path.stem}-{i}" for i in range(len(polygons))])
    write(frame(polygons, code=codes), path, kw.pop("crs", CM120E), kw.pop("driver", None))
    options = ImportOptions(kind=kind, township=township, status=status, **kw)
    return import_file(session, path, options)


def test_zipped_shapefile_in_cm120e_tallies_within_a_thousandth(session, tmp_path):
    parcels = [rectangle(XINDIAN, 0, 0, 250, 180, 12), rectangle(XINDIAN, 600, 300, 90, 400, -30)]
    _import(session, parcels, tmp_path / "verified.zip")
    session.flush()
    row = _row(tally(session, by="township", kind="land"), township="新店镇")
    expected = sum(independent_area_m2(p) for p in parcels)
    assert row.parcels == 2
    assert row.verified_m2 == pytest.approx(expected, rel=1e-3)
    assert row.verified_mu == pytest.approx(expected / MU, rel=1e-3)


def test_overlapping_verified_files_count_the_overlap_once(session, tmp_path):
    first = rectangle(XINDIAN, 0, 0, 200, 200)
    resurvey = rectangle(XINDIAN, 100, 50, 200, 200)  # overlaps `first` by 100 x 150 m
    _import(session, [first], tmp_path / "a.gpkg", driver="GPKG")
    # Both verified: refused by default, counted once when accepted.
    with pytest.raises(UploadRefused, match="overlaps stored parcel a-0"):
        _import(session, [resurvey], tmp_path / "b.zip", crs=ZONE40)
    session.rollback()
    _import(session, [first], tmp_path / "a.gpkg", driver="GPKG")
    _import(session, [resurvey], tmp_path / "b.zip", crs=ZONE40, accept_overlaps=True)
    session.flush()
    union = independent_area_m2(shapely.union(first, resurvey))
    both = independent_area_m2(first) + independent_area_m2(resurvey)
    assert both - union == pytest.approx(15_000, rel=1e-3)
    for by in ("township", "district"):
        row = tally(session, by=by, kind="land")[0]
        assert row.parcels == 2
        assert row.verified_m2 == pytest.approx(union, rel=1e-3)


def test_district_progress_against_the_seed_target(session, tmp_path):
    parcels = [rectangle(XINDIAN, 0, 0, 1000, 800), rectangle(GUSHAN, 0, 0, 600, 500)]
    _import(session, parcels[:1], tmp_path / "x.gpkg", driver="GPKG")
    _import(session, parcels[1:], tmp_path / "g.gpkg", township="鼓山镇", driver="GPKG")
    _import(
        session,
        [rectangle(GUSHAN, 2000, 0, 300, 300)],
        tmp_path / "p.gpkg",
        township="鼓山镇",
        status="planned",
        driver="GPKG",
    )
    session.flush()
    rows = tally(session, by="district")
    land = _row(rows, district="晋安区", kind="land")
    verified = sum(independent_area_m2(p) for p in parcels)
    assert land.target_mu == pytest.approx(9000)
    assert land.progress == pytest.approx(verified / 6_000_000, rel=1e-3)
    assert land.remaining_m2 == pytest.approx(6_000_000 - verified, rel=1e-3)
    demolition = _row(rows, district="晋安区", kind="demolition")
    assert (demolition.parcels, demolition.verified_m2) == (0, 0.0)
    assert demolition.target_m2 == pytest.approx(3_000_000)
    assert demolition.as_dict("district")["progress"] == 0.0


def test_township_targets_in_mu_or_m2_and_quarters_summed(session, tmp_path):
    set_target(
        session,
        district="晋安区",
        township="新店镇",
        kind="land",
        year=2017,
        amount=1500,
        unit="mu",
        actor="test",
    )
    for quarter, amount in enumerate([100_000, 200_000, 300_000, 400_000], start=1):
        set_target(
            session,
            district="晋安区",
            township="鼓山镇",
            kind="demolition",
            year=2017,
            quarter=quarter,
            amount=amount,
            unit="m2",
            actor="test",
        )
    # Setting the same target again replaces it rather than adding a second row.
    set_target(
        session,
        district="晋安区",
        township="新店镇",
        kind="land",
        year=2017,
        amount=2000,
        unit="mu",
        actor="test",
    )
    parcel = rectangle(XINDIAN, 0, 0, 400, 300)
    _import(session, [parcel], tmp_path / "x.gpkg", driver="GPKG")
    rows = tally(session, by="township")
    xindian = _row(rows, township="新店镇", kind="land")
    assert xindian.target_mu == pytest.approx(2000)
    assert xindian.progress == pytest.approx(independent_area_m2(parcel) / (2000 * MU), rel=1e-3)
    gushan = _row(rows, township="鼓山镇", kind="demolition")
    assert (gushan.parcels, gushan.target_m2) == (0, pytest.approx(1_000_000))


def test_only_verified_parcels_count(session, tmp_path):
    for status in ("planned", "delivered"):
        _import(
            session,
            [rectangle(XINDIAN, 0, 0, 100, 100)],
            tmp_path / f"{status}.gpkg",
            status=status,
            driver="GPKG",
            codes=[status],
        )
    session.flush()
    rows = tally(session, by="township", kind="land")
    # The township has a row (its planned scope) but nothing verified counts.
    assert [(r.parcels, r.verified_m2, r.planned_parcels, r.delivered_parcels) for r in rows] == [
        (0, 0.0, 2, 1)
    ]
    expected = independent_area_m2(rectangle(XINDIAN, 0, 0, 100, 100))
    assert rows[0].planned_m2 == pytest.approx(expected, rel=1e-3)


def test_project_tally_spans_townships(session, tmp_path):
    session.execute(text("INSERT INTO projects (code, name) VALUES ('JA-T1', '测试项目')"))
    a, b = rectangle(XINDIAN, 0, 0, 300, 300), rectangle(GUSHAN, 0, 0, 200, 200)
    _import(session, [a], tmp_path / "a.gpkg", project="JA-T1", driver="GPKG")
    _import(session, [b], tmp_path / "b.gpkg", township="鼓山镇", project="JA-T1", driver="GPKG")
    session.flush()
    row = _row(tally(session, by="project"), project="JA-T1")
    assert row.township == "新店镇、鼓山镇" or row.township == "鼓山镇、新店镇"
    assert row.verified_m2 == pytest.approx(independent_area_m2(a) + independent_area_m2(b), 1e-3)


def test_as_of_a_past_day_uses_the_versions_valid_then(session, tmp_path):
    """Back-date the history rows, then ask for each day's tally."""
    small, large = rectangle(XINDIAN, 0, 0, 100, 100), rectangle(XINDIAN, 0, 0, 200, 100)
    _import(session, [small], tmp_path / "v1.gpkg", status="planned", driver="GPKG", codes=["P"])
    _import(session, [small], tmp_path / "v2.gpkg", driver="GPKG", codes=["P"])
    _import(session, [large], tmp_path / "v3.gpkg", driver="GPKG", codes=["P"])
    day = date(2017, 3, 1)
    noon = [datetime(2017, 3, d, 12, tzinfo=CAMPAIGN_TZ) for d in (1, 2, 3)]
    with rewriting_history(session):
        session.execute(
            text("""
            UPDATE parcel_versions SET
              valid_from = CASE version WHEN 1 THEN :a WHEN 2 THEN :b ELSE :c END,
              valid_to = CASE version WHEN 1 THEN :b WHEN 2 THEN :c ELSE NULL END"""),
            {"a": noon[0], "b": noon[1], "c": noon[2]},
        )
    session.flush()

    def verified(on):
        rows = tally(session, by="township", kind="land", as_of=on)
        return rows[0].verified_m2 if rows else 0.0

    assert verified(day - timedelta(days=1)) == 0.0
    assert verified(day) == 0.0  # planned at the end of 1 March
    assert verified(day + timedelta(days=1)) == pytest.approx(independent_area_m2(small), 1e-3)
    assert verified(day + timedelta(days=2)) == pytest.approx(independent_area_m2(large), 1e-3)
    assert verified(None) == pytest.approx(independent_area_m2(large), 1e-3)


def test_a_district_tally_equals_the_citys_rows_for_that_district(session, tmp_path):
    _import(session, [rectangle(XINDIAN, 0, 0, 300, 200)], tmp_path / "x.gpkg", driver="GPKG")
    session.flush()
    for by in ("district", "township"):
        city = [r for r in tally(session, by=by) if r.district == "晋安区"]
        assert tally(session, by=by, district="晋安区") == city
    assert all(r.district == "晋安区" for r in tally(session, by="township", district="晋安区"))


def test_a_years_tally_leaves_out_verifications_of_earlier_years(session, tmp_path):
    parcel = rectangle(XINDIAN, 0, 0, 300, 200)
    _import(session, [parcel], tmp_path / "x.gpkg", driver="GPKG", codes=["Y"])
    # Verified on 31 December 2017, 23:30 in Fuzhou.
    with rewriting_history(session):
        session.execute(
            text(
                "UPDATE parcel_versions SET verified_at = '2017-12-31 15:30+00', "
                "valid_from = '2017-12-31 15:30+00'"
            )
        )
    session.flush()
    in_2017 = tally(session, by="township", kind="land", year=2017)
    assert in_2017[0].verified_m2 == pytest.approx(independent_area_m2(parcel), rel=1e-3)
    in_2018 = tally(session, by="township", kind="land", year=2018)
    assert [(r.parcels, r.verified_m2, r.planned_parcels) for r in in_2018] == [(0, 0.0, 1)]
