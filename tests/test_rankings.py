"""City roll-up and rankings (综合考评排名) against hand-computed values."""

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from conftest import auth, rewriting_history, shared_app
from fastapi.testclient import TestClient
from parcelfiles import CM120E, frame, independent_area_m2, rectangle, write
from sqlalchemy import select, text
from typer.testing import CliRunner

from geo_service.campaign import rankings
from geo_service.campaign.register import record_milestone
from geo_service.campaign.tallies import CAMPAIGN_TZ, tally
from geo_service.campaign.targets import set_target
from geo_service.cli import app
from geo_service.models import Parcel, ParcelVersion, Project
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import set_status, verify

MU = 10000 / 15
LAND_ONLY = {"land": 1.0, "demolition": 0.0, "relocation": 0.0, "milestones": 0.0}


def _inside(session, district: str, township: str) -> tuple[float, float]:
    """A point well inside a township's (approximate) outline."""
    point = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Buffer(t.geom::geography,"
            " -800)::geometry) AS p FROM admin_units t JOIN admin_units d ON d.id = t.parent_id"
            " WHERE t.name = :t AND d.name = :d) q"
        ),
        {"t": township, "d": district},
    ).one()
    return tuple(point)


def _parcel(session, tmp_path, district, township, code, width, height, verified_at=None, dx=0):
    """One land parcel surveyed on 2 January 2017 and, when given, verified at that moment
    (China Standard Time), `dx` metres east of a point inside the township; returns its
    independent geodesic area."""
    shape = rectangle(_inside(session, district, township), dx, 0, width, height)
    path = write(frame([shape], code=[code]), tmp_path / f"{code}.gpkg", CM120E, "GPKG")
    options = ImportOptions(kind="land", township=f"{district}/{township}", status="planned")
    import_file(session, path, options)
    parcel = session.scalar(select(Parcel).where(Parcel.code == code))
    surveyed = datetime(2017, 1, 2, tzinfo=UTC)
    with rewriting_history(session):
        session.execute(
            ParcelVersion.__table__.update()
            .where(ParcelVersion.parcel_id == parcel.id)
            .values(valid_from=surveyed)
        )
    if verified_at is not None:
        set_status(session, parcel, "in_progress", "测试", now=verified_at - timedelta(days=2))
        set_status(session, parcel, "delivered", "测试", now=verified_at - timedelta(days=1))
        verify(session, parcel, "林志伟", "土地核验组", now=verified_at)
    session.flush()
    return independent_area_m2(shape)


def _cst(y, m, d, hour=12, minute=0) -> datetime:
    return datetime.combine(date(y, m, d), time(hour, minute), tzinfo=CAMPAIGN_TZ)


def _target(session, district, township, m2, quarter=None):
    set_target(session, district=district, township=township, kind="land", year=2017,
               quarter=quarter, amount=m2, unit="m2", actor="测试")  # fmt: skip


# --- city roll-up ------------------------------------------------------------------------


def test_the_city_row_is_every_district_and_uses_its_own_target(session, tmp_path):
    areas = {
        "晋安区": _parcel(session, tmp_path, "晋安区", "新店镇", "A1", 300, 200, _cst(2017, 3, 1))
        + _parcel(session, tmp_path, "晋安区", "鼓山镇", "A2", 100, 100, _cst(2017, 4, 1)),
        "仓山区": _parcel(session, tmp_path, "仓山区", "城门镇", "B1", 250, 120, _cst(2017, 5, 1)),
        "福清市": _parcel(session, tmp_path, "福清市", "龙田镇", "C1", 400, 300, _cst(2017, 6, 1)),
    }
    _parcel(session, tmp_path, "福清市", "江阴镇", "C2", 100, 100)  # planned only
    city = tally(session, by="city", kind="land")
    assert len(city) == 1
    assert city[0].district == "福州市"
    assert city[0].verified_m2 == pytest.approx(sum(areas.values()), rel=1e-6)
    assert city[0].planned_parcels == 5
    districts = tally(session, by="district", kind="land")
    assert {r.district: r.verified_m2 for r in districts} == pytest.approx(areas, rel=1e-6)
    # No city target: no progress for the city, however many district targets there are.
    assert city[0].target_m2 is None and city[0].progress is None
    _target(session, "福州市", None, 50_000)
    _target(session, "仓山区", None, 10_000)
    city = tally(session, by="city", kind="land")[0]
    assert city.target_m2 == 50_000
    assert city.progress == pytest.approx(sum(areas.values()) / 50_000, rel=1e-6)
    as_dict = city.as_dict("city")
    assert as_dict["city"] == "福州市" and "district" not in as_dict
    # A past day: only what was verified by the end of 30 April (CST).
    april = tally(session, by="city", kind="land", as_of=date(2017, 4, 30))[0]
    assert april.verified_m2 == pytest.approx(areas["晋安区"], rel=1e-6)


def test_tally_by_city_in_the_cli_and_the_api(session, tmp_path):
    area = _parcel(session, tmp_path, "仓山区", "盖山镇", "B9", 200, 200, _cst(2017, 5, 1))
    _target(session, "福州市", None, 80_000)
    session.commit()
    result = CliRunner().invoke(app, ["tally", "--by", "city", "--kind", "land",
                                      "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["city"] == "福州市"
    assert rows[0]["verified_m2"] == pytest.approx(area, rel=1e-6)
    assert rows[0]["progress"] == pytest.approx(area / 80_000, rel=1e-6)
    got = TestClient(shared_app()).get("/api/tallies?by=city&kind=land", headers=auth("planner"))
    got = got.json()
    assert got[0]["verified_m2"] == pytest.approx(area, rel=1e-6)


# --- rankings ---------------------------------------------------------------------------


@pytest.fixture
def two_townships(session, tmp_path):
    """新店镇 (target 20,000 m²) and 鼓山镇 (50,000 m²) in 晋安区, whose plan is
    15 / 25 / 30 / 30 % of the year by quarter (cumulative 15 / 40 / 70 / 100 %)."""
    annual = 9000 * MU  # the seed's district target
    for q, share in enumerate((0.15, 0.25, 0.30, 0.30), start=1):
        _target(session, "晋安区", None, annual * share, quarter=q)
    _target(session, "晋安区", "新店镇", 20_000)
    _target(session, "晋安区", "鼓山镇", 50_000)
    areas = {
        # verified 10 May, and one at 00:30 on 1 July CST (16:30 UTC on 30 June)
        "X1": _parcel(session, tmp_path, "晋安区", "新店镇", "X1", 100, 100, _cst(2017, 5, 10)),
        "X2": _parcel(
            session, tmp_path, "晋安区", "新店镇", "X2", 100, 50, _cst(2017, 7, 1, 0, 30), dx=300
        ),  # fmt: skip
        # verified 20 March, and one at 23:30 on 30 June CST
        "G1": _parcel(session, tmp_path, "晋安区", "鼓山镇", "G1", 100, 100, _cst(2017, 3, 20)),
        "G2": _parcel(
            session, tmp_path, "晋安区", "鼓山镇", "G2", 100, 100, _cst(2017, 6, 30, 23, 30), dx=300
        ),  # fmt: skip
    }
    return areas


def _rows(result) -> dict:
    return {r["unit"]: r for r in result["rows"]}


def test_a_quarter_ranked_by_progress_against_the_cumulative_plan(session, two_townships):
    a = two_townships
    result = rankings.rank(session, "township", "2017Q2", district="晋安区", weights=LAND_ONLY)
    rows = _rows(result)
    # By 30 June 40% of each annual target was due; X2 came after the end of that day.
    xindian = a["X1"] / (20_000 * 0.40)
    gushan = (a["G1"] + a["G2"]) / (50_000 * 0.40)
    assert rows["新店镇"]["land"]["planned_share"] == pytest.approx(0.40)
    assert rows["新店镇"]["land"]["period_target_m2"] == pytest.approx(8_000)
    assert rows["新店镇"]["score"] == pytest.approx(xindian, abs=1e-6)
    assert rows["鼓山镇"]["score"] == pytest.approx(gushan, abs=1e-6)
    assert (rows["新店镇"]["rank"], rows["鼓山镇"]["rank"]) == (1, 2)  # 1.25 > 1.0
    # In Q1 (15% due) 鼓山镇 led and 新店镇 had nothing verified: both changed places.
    assert (rows["新店镇"]["previous_rank"], rows["新店镇"]["change"]) == (2, 1)
    assert (rows["鼓山镇"]["previous_rank"], rows["鼓山镇"]["change"]) == (1, -1)
    # Townships with no figure at all are listed, unranked, after the ranked ones.
    assert [r["unit"] for r in result["rows"][:2]] == ["新店镇", "鼓山镇"]
    assert len(result["rows"]) == 9 and all(r["rank"] is None for r in result["rows"][2:])
    assert result["as_of"] == "2017-06-30" and result["previous_period"] == "2017Q1"
    # Today's 2017Q3 counts X2: the past quarter stayed as it was.
    q3 = _rows(rankings.rank(session, "township", "2017Q3", "晋安区", LAND_ONLY))
    assert q3["新店镇"]["land"]["verified_m2"] == pytest.approx(a["X1"] + a["X2"], abs=0.01)
    again = _rows(rankings.rank(session, "township", "2017Q2", "晋安区", LAND_ONLY))
    assert again["新店镇"]["land"]["verified_m2"] == pytest.approx(a["X1"], abs=0.01)


def test_a_month_spreads_the_quarter_evenly(session, two_townships):
    a = two_townships
    may = _rows(rankings.rank(session, "township", "2017-05", "晋安区", LAND_ONLY))
    share = 0.15 + 0.25 * 2 / 3  # Q1's plan and two months of Q2's
    assert may["新店镇"]["land"]["planned_share"] == pytest.approx(share, abs=1e-6)
    assert may["新店镇"]["score"] == pytest.approx(a["X1"] / (20_000 * share), abs=1e-6)
    assert may["鼓山镇"]["score"] == pytest.approx(a["G1"] / (50_000 * share), abs=1e-6)
    assert (may["新店镇"]["rank"], may["鼓山镇"]["rank"]) == (1, 2)
    # In April 新店镇 had nothing verified (X1 came on 10 May): it rose one place.
    assert (may["新店镇"]["previous_rank"], may["新店镇"]["change"]) == (2, 1)


def test_districts_in_the_city_without_any_quarterly_plan_use_a_quarter_per_quarter(
    session, tmp_path
):
    jinan = _parcel(session, tmp_path, "晋安区", "新店镇", "J1", 300, 300, _cst(2017, 4, 2))
    cangshan = _parcel(session, tmp_path, "仓山区", "盖山镇", "K1", 200, 100, _cst(2017, 2, 2))
    _target(session, "仓山区", None, 40_000)
    result = rankings.rank(session, "district", "2017Q2", weights=LAND_ONLY)
    rows = _rows(result)
    assert rows["晋安区"]["land"]["planned_share"] == pytest.approx(0.5)
    assert rows["晋安区"]["score"] == pytest.approx(jinan / (9000 * MU * 0.5), abs=1e-6)
    assert rows["仓山区"]["score"] == pytest.approx(cangshan / (40_000 * 0.5), abs=1e-6)
    assert (rows["仓山区"]["rank"], rows["晋安区"]["rank"]) == (1, 2)
    # In Q1 晋安区 had nothing verified but a target: ranked 2nd then too.
    assert rows["晋安区"]["previous_rank"] == 2 and rows["晋安区"]["change"] == 0
    assert rows["福清市"]["rank"] is None  # no target, no parcels, no milestones


def _project(session, code, township, milestones):
    from geo_service.units import find_district, find_township

    district = find_district(session, "晋安区")
    project = Project(code=code, name=code, category="征迁交地", district=district,
                      milestones=[{"date": d, "text": ""} for d in milestones])  # fmt: skip
    project.townships = [find_township(session, township, district=district)]
    session.add(project)
    session.flush()


def test_a_tie_shares_the_better_rank_and_the_next_rank_skips(session):
    only_milestones = {"land": 0, "demolition": 0, "relocation": 0, "milestones": 1}
    _project(session, "T-1", "茶园街道", ["2017-03-31"])
    _project(session, "T-2", "王庄街道", ["2017-03-31", "2017-05-31"])
    _project(session, "T-3", "象园街道", ["2017-04-30", "2017-06-30"])
    _project(session, "T-4", "岳峰镇", ["2017-06-30", "2017-12-31"])
    done = [("T-1", "2017-03-31", "2017-03-30"), ("T-2", "2017-03-31", "2017-03-31"),
            ("T-2", "2017-05-31", "2017-06-05"), ("T-3", "2017-06-30", "2017-06-29")]  # fmt: skip
    for code, due, day in done:
        when = datetime.combine(date.fromisoformat(day), time(18), tzinfo=CAMPAIGN_TZ)
        record_milestone(session, code, date.fromisoformat(due), date.fromisoformat(day), "x",
                         now=when)  # fmt: skip
    result = rankings.rank(session, "township", "2017Q2", "晋安区", only_milestones)
    ranked = [(r["unit"], r["rank"], r["tied"], r["score"]) for r in result["rows"][:4]]
    # On time by 30 June: 茶园 1/1; 王庄 1/2 (one late); 象园 1/2 (one overdue);
    # 岳峰 0/1 (the December milestone is not due yet).
    assert ranked == [
        ("茶园街道", 1, False, 1.0), ("王庄街道", 2, True, 0.5), ("象园街道", 2, True, 0.5),
        ("岳峰镇", 4, False, 0.0),
    ]  # fmt: skip
    assert "1, 2, 2, 4" in result["tie_rule"]


def test_the_composite_is_a_weighted_mean_of_the_parts_a_unit_has():
    parts = {"land": {"value": 0.5}, "demolition": {"value": 1.0}, "relocation": None,
             "milestones": {"value": 0.25}}  # fmt: skip
    # Default weights 0.4 / 0.3 / 0.1 / 0.2; relocation has no figure and drops out.
    assert rankings.composite(parts, rankings.DEFAULT_WEIGHTS) == pytest.approx(0.55 / 0.9)
    weights = rankings.parse_weights("land=1,demolition=1,milestones=0")
    assert rankings.composite(parts, weights) == pytest.approx(0.75)
    assert rankings.composite({"land": None}, rankings.DEFAULT_WEIGHTS) is None


def test_bad_periods_and_weights_are_refused_clearly(session):
    from geo_service.errors import InvalidInput

    for bad in ("2017-13", "2017Q5", "Q2", "2017"):
        with pytest.raises(InvalidInput, match="write a month as 2017-05"):
            rankings.Period.parse(bad)
    with pytest.raises(InvalidInput, match="components are"):
        rankings.parse_weights("speed=1")
    with pytest.raises(InvalidInput, match="at least one weight"):
        rankings.parse_weights("land=0,demolition=0,relocation=0,milestones=0")
    assert str(rankings.Period.parse("2017q2").previous()) == "2017Q1"
    assert str(rankings.Period.parse("2017-01").previous()) == "2016-12"


def test_rank_command_and_api(session, two_townships):
    session.commit()
    result = CliRunner().invoke(app, ["rank", "--level", "township", "--district", "晋安区",
                                      "--period", "2017Q2", "--weights", "land=1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "新店镇" in line or "鼓山镇" in line]
    assert "新店镇" in lines[0] and "↑1" in lines[0] and "鼓山镇" in lines[1]
    bad = CliRunner().invoke(app, ["rank", "--period", "2017-13"])
    assert bad.exit_code == 2 and "write a month as 2017-05" in bad.output
    client = TestClient(shared_app())
    url = "/api/rankings?level=township&district=晋安区&period=2017Q2&weights=land=1"
    assert client.get(url).status_code == 401
    got = client.get(url, headers=auth("leader_jinan"))
    assert got.status_code == 200
    assert [r["unit"] for r in got.json()["rows"][:2]] == ["新店镇", "鼓山镇"]
    assert client.get("/api/rankings?period=2017Q9", headers=auth("planner")).status_code == 422
    # A district's leader ranks its own townships only.
    other = client.get("/api/rankings?district=仓山区&period=2017Q2", headers=auth("leader_jinan"))
    assert other.status_code == 403
