"""Tallies: union of verified parcels, geodesic, against targets; reproducible for past days."""

from datetime import date, datetime, timedelta

import pytest
import shapely
from conftest import IN_2017, redate, rewriting_history
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
from sqlalchemy import select, text

from geo_service.campaign.tallies import CAMPAIGN_TZ, tally
from geo_service.campaign.targets import find_target, set_target, target_history
from geo_service.errors import UploadRefused
from geo_service.models import Parcel
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import set_status, verify

MU = 10000 / 15


def _row(rows, **match):
    found = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one row matching {match}, got {found}"
    return found[0]


def _import(session, polygons, path, township="新店镇", kind="land", status="verified", **kw):
    codes = kw.pop("codes", [f"{path.stem}-{i}" for i in range(len(polygons))])
    write(frame(polygons, code=codes), path, kw.pop("crs", CM120E), kw.pop("driver", None))
    options = ImportOptions(kind=kind, township=township, status=status, **kw)
    report = import_file(session, path, options)
    redate(IN_2017, session)  # tallies below are for 2017
    return report


def test_zipped_shapefile_in_cm120e_tallies_within_a_thousandth(session, tmp_path):
    parcels = [rectangle(XINDIAN, 0, 0, 250, 180, 12), rectangle(XINDIAN, 600, 300, 90, 400, -30)]
    _import(session, parcels, tmp_path / "verified.zip")
    session.flush()
    row = _row(tally(session, by="township", kind="land"), township="新店镇")
    expected = sum(independent_area_m2(p) for p in parcels)
    assert row.verified_parcels == 2
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
        assert row.verified_parcels == 2
        assert row.verified_m2 == pytest.approx(union, rel=1e-3)


def test_district_progress_against_the_seed_target(session, tmp_path):
    parcels = [rectangle(XINDIAN, 0, 0, 1000, 800), rectangle(GUSHAN, 0, 0, 600, 500)]
    _import(session, parcels[:1], tmp_path / "x.gpkg", driver="GPKG")
    _import(session, parcels[1:], tmp_path / "g.gpkg", township="鼓山镇", driver="GPKG")
    _import(
        session,
        [rectangle(GUSHAN, 0, 2000, 300, 300)],
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
    assert (demolition.verified_parcels, demolition.verified_m2) == (0, 0.0)
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
    assert (gushan.verified_parcels, gushan.target_m2) == (0, pytest.approx(1_000_000))


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
    assert [
        (r.verified_parcels, r.verified_m2, r.planned_parcels, r.delivered_parcels) for r in rows
    ] == [(0, 0.0, 2, 1)]
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
    assert [(r.verified_parcels, r.verified_m2, r.planned_parcels) for r in in_2018] == [
        (0, 0.0, 1)
    ]


def _surveyed_in(session, tmp_path, polygons, codes, when, **kw):
    """Parcels imported as planned, their first version dated `when` (a survey back then)."""
    _import(session, polygons, tmp_path / f"{codes[0]}.gpkg", driver="GPKG", codes=codes,
            status="planned", **kw)  # fmt: skip
    with rewriting_history(session):
        session.execute(text("UPDATE parcel_versions SET valid_from = :w"), {"w": when})
    session.flush()
    return {p.code: p for p in session.scalars(select(Parcel))}


def _verify_on(session, parcel, when):
    set_status(session, parcel, "in_progress", actor="t", now=when)
    set_status(session, parcel, "delivered", actor="t", now=when)
    verify(session, parcel, "林志伟", "土地核验组", now=when + timedelta(hours=1))
    session.flush()


def test_a_years_tally_ends_on_31_december(session, tmp_path):
    a, b = rectangle(XINDIAN, 0, 0, 300, 200), rectangle(XINDIAN, 800, 0, 200, 200)
    parcels = _surveyed_in(
        session, tmp_path, [a, b], ["A", "B"], datetime(2017, 1, 5, tzinfo=CAMPAIGN_TZ)
    )
    _verify_on(session, parcels["A"], datetime(2017, 6, 1, 10, tzinfo=CAMPAIGN_TZ))

    def verified(**kw):
        rows = tally(session, by="township", kind="land", **kw)
        return (rows[0].verified_parcels, rows[0].verified_m2) if rows else (0, 0.0)

    expected = (1, pytest.approx(independent_area_m2(a), rel=1e-3))
    assert verified(year=2017) == expected
    assert verified(year=2016) == (0, 0.0)
    assert verified(year=2018) == (0, 0.0)
    # A verification today counts for this year, never for 2017 nor for 2018.
    _verify_on(session, parcels["B"], datetime.now(CAMPAIGN_TZ) - timedelta(hours=2))
    assert verified(year=2017) == expected
    assert verified(year=2018) == (0, 0.0)
    this_year = datetime.now(CAMPAIGN_TZ).year
    assert verified(year=this_year) == (1, pytest.approx(independent_area_m2(b), rel=1e-3))
    # Capped at --as-of within the year.
    assert verified(as_of=date(2017, 5, 31)) == (0, 0.0)
    assert verified(as_of=date(2017, 6, 1)) == expected


def test_a_past_day_uses_the_target_in_force_then(session):
    def target(on=None):
        rows = tally(session, by="township", kind="land", year=2017, as_of=on)
        return _row(rows, township="新店镇").target_m2

    march, july = (datetime(2017, m, 1, 9, tzinfo=CAMPAIGN_TZ) for m in (3, 7))
    common = {"district": "晋安区", "township": "新店镇", "kind": "land", "year": 2017}
    assert set_target(session, **common, amount=500, unit="mu", actor="王主任", now=march) == 1
    assert set_target(session, **common, amount=800, unit="mu", actor="李科长", now=july) == 1
    # The same value again is no change: no new version, nobody recorded.
    assert set_target(session, **common, amount=800, unit="mu", actor="张三") == 0
    session.flush()
    assert target(date(2017, 6, 30)) == pytest.approx(500 * MU)
    assert target(date(2017, 7, 1)) == pytest.approx(800 * MU)
    assert target() == pytest.approx(800 * MU)
    # Before it was first set, the target's first value stands for the year.
    assert target(date(2017, 1, 31)) == pytest.approx(500 * MU)
    found = find_target(session, "晋安区", "新店镇", "land", 2017)
    history = target_history(session, found)
    assert [(h["amount_m2"], h["changed_by"], h["valid_from"]) for h in history] == [
        (pytest.approx(500 * MU), "王主任", march),
        (pytest.approx(800 * MU), "李科长", july),
    ]
    assert history[0]["valid_to"] == july and history[1]["valid_to"] is None
    assert (found.updated_by, found.updated_at) == ("李科长", july)
