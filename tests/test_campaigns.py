"""Campaigns as data: two campaigns in one database (a hundred days of 2016 and 攻坚2017),
each with its own targets and figures; the campaign every view shows by default; and one
"today" that the register, the 两逾 list and the pace agree on."""

import io
import re
from datetime import date, datetime, time

import pytest
from conftest import shared_app
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from parcelfiles import XINDIAN, frame, rectangle, write
from typer.testing import CliRunner

from geo_service import periods
from geo_service.campaign import campaigns, register
from geo_service.campaign.tallies import CAMPAIGN_TZ, tally
from geo_service.campaign.targets import set_target
from geo_service.cli import app
from geo_service.maps import data as maps_data
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.periods import Period, one_day, quarter_of
from geo_service.relocation import tallies as relocation_tallies

HUNDRED_DAYS = "2016年百日攻坚"
FIRST, LAST = date(2016, 9, 1), date(2016, 12, 9)


@pytest.fixture
def two_campaigns(session, tmp_path):
    """2016年百日攻坚 (1 September – 9 December 2016) beside 攻坚2017 (the seed's), each with
    its own 新店镇 land target; a parcel verified in each, and one in between (in neither)."""
    campaigns.create_campaign(
        session, name=HUNDRED_DAYS, first_day=FIRST, last_day=LAST, actor="tests"
    )
    common = dict(district="晋安区", township="新店镇", kind="land", unit="mu", actor="tests")
    set_target(session, **common, campaign=HUNDRED_DAYS, amount=300)
    set_target(session, **{**common, "township": None}, campaign=HUNDRED_DAYS, amount=2500)
    set_target(session, **common, year=2017, amount=500)
    for code, x, day in (("A", 0, date(2016, 10, 10)), ("C", 200, date(2016, 12, 20)),
                         ("B", 400, date(2017, 3, 1))):  # fmt: skip
        path = write(
            frame([rectangle(XINDIAN, x, 0, 80, 60)], code=[code]), tmp_path / f"{code}.geojson"
        )
        when = datetime.combine(day, time(10), tzinfo=CAMPAIGN_TZ)
        options = ImportOptions(kind="land", township="新店镇", status="verified", recorded_at=when)
        import_file(session, path, options)
    session.flush()
    return session


def _xindian(rows):
    return next(r for r in rows if r.township == "新店镇" and r.kind == "land")


def test_two_campaigns_have_their_own_targets_and_figures(two_campaigns):
    session = two_campaigns
    hundred = _xindian(tally(session, by="township", campaign=HUNDRED_DAYS))
    year = _xindian(tally(session, by="township", campaign="攻坚2017"))
    assert (hundred.verified_parcels, round(hundred.target_mu)) == (1, 300)
    assert (year.verified_parcels, round(year.target_mu)) == (1, 500)
    assert hundred.verified_m2 == pytest.approx(80 * 60, rel=1e-2)
    assert (hundred.campaign, year.campaign) == (HUNDRED_DAYS, "攻坚2017")
    # The year names the one campaign that starts in it; the day between counts in neither.
    assert _xindian(tally(session, by="township", year=2016)).campaign == HUNDRED_DAYS
    assert campaigns.counting_in(session, date(2016, 12, 20)) == []
    # Past days of the 100-day campaign, from the history, agree with its totals.
    last = _xindian(tally(session, by="township", campaign=HUNDRED_DAYS, as_of=LAST))
    assert last.verified_parcels == 1
    with pytest.raises(Exception, match="outside campaign"):
        tally(session, by="township", campaign=HUNDRED_DAYS, as_of=date(2017, 1, 5))


def test_the_api_and_cli_name_and_pick_the_campaign(two_campaigns):
    session = two_campaigns
    session.commit()
    from conftest import token_for

    client = TestClient(shared_app(), headers={"Authorization": f"Bearer {token_for('planner')}"})
    rows = client.get("/api/tallies", params={"by": "township", "campaign": HUNDRED_DAYS}).json()
    xindian = next(r for r in rows if r["township"] == "新店镇" and r["kind"] == "land")
    assert (xindian["campaign"], xindian["verified_parcels"]) == (HUNDRED_DAYS, 1)
    default = client.get("/api/tallies", params={"by": "district"}).json()
    assert {r["campaign"] for r in default} == {"攻坚2017"}  # the latest: none under way
    unknown = client.get("/api/tallies", params={"campaign": "攻坚1999"})
    assert unknown.status_code == 404 and HUNDRED_DAYS in unknown.text
    listed = CliRunner().invoke(app, ["campaigns", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"  {HUNDRED_DAYS}  2016-09-01 to 2016-12-09  ended" in listed.output
    assert "* 攻坚2017  2017-01-01 to 2017-12-31  ended" in listed.output  # not closed
    board = client.get("/board/data.json", params={"campaign": HUNDRED_DAYS}).json()
    assert board["campaign"] == HUNDRED_DAYS and HUNDRED_DAYS in board["title"]
    assert board["as_of"] == LAST.isoformat()  # Q4 2016 held within its last day


def test_the_default_campaign_is_the_one_under_way_today(two_campaigns):
    session = two_campaigns
    days = {date(2016, 10, 1): HUNDRED_DAYS, date(2016, 12, 20): HUNDRED_DAYS,
            date(2017, 5, 1): "攻坚2017", date(2026, 12, 7): "攻坚2017"}  # fmt: skip
    for today, shown in days.items():
        with one_day(today):
            assert campaigns.current(session).name == shown, today
    campaigns.close_campaign(session, HUNDRED_DAYS, actor="tests")
    with one_day(date(2016, 10, 1)):
        # Closed: no longer under way; the latest begun is shown, 截至 its last day.
        chosen = campaigns.current(session)
        assert chosen.name == HUNDRED_DAYS and chosen.ended()
        assert chosen.reference_day() == date(2016, 10, 1)


def test_one_today_for_the_register_the_two_overdue_lists_and_the_pace(two_campaigns):
    session = two_campaigns

    def summary(name):
        view = maps_data.View(district="晋安区", campaign=campaigns.find_campaign(session, name))
        return maps_data.district_summary(session, view)

    # Under way: every default day is today, and the pace counts the months to its end.
    with one_day(date(2016, 10, 1)) as today:
        shown = summary(HUNDRED_DAYS)
        assert register.register(session)["as_of"] == today.isoformat()
        assert relocation_tallies.default_day(session=session) == today
        assert shown["as_at"] == today.isoformat()
        assert shown["months_left"] == pytest.approx((LAST - today).days / 30.44, abs=0.01)
        assert shown["pace_m2_per_month"] is not None and not shown["campaign_ended"]
    # Over: all of them stand on its last day, and only now is the pace over (年度已结束).
    with one_day(date(2026, 12, 7)):
        shown = summary("攻坚2017")
        assert register.register(session)["as_of"] == "2017-12-31"
        assert relocation_tallies.default_day(session=session) == date(2017, 12, 31)
        assert shown["as_at"] == "2017-12-31" and shown["campaign_ended"]
        assert shown["pace_m2_per_month"] is None


def test_a_campaign_beside_an_earlier_one_in_the_api_and_on_the_board(two_campaigns):
    session = two_campaigns
    session.commit()
    from conftest import token_for

    client = TestClient(shared_app(), headers={"Authorization": f"Bearer {token_for('planner')}"})
    params = {"by": "township", "kind": "land", "campaign": "攻坚2017", "compare": HUNDRED_DAYS}
    rows = client.get("/api/tallies", params=params).json()
    xindian = next(r for r in rows if r["township"] == "新店镇")
    assert (xindian["campaign"], xindian["compare_campaign"]) == ("攻坚2017", HUNDRED_DAYS)
    assert xindian["compare_verified_m2"] == pytest.approx(xindian["verified_m2"], rel=1e-2)
    assert xindian["verified_m2_change"] == pytest.approx(
        xindian["verified_m2"] - xindian["compare_verified_m2"], abs=0.01
    )
    assert xindian["progress_change"] == pytest.approx(
        xindian["progress"] - xindian["compare_progress"], abs=1e-6
    )
    board = client.get(
        "/board/data.json", params={"campaign": "攻坚2017", "compare": HUNDRED_DAYS}
    ).json()
    card = next(c for c in board["cards"] if c["unit"] == "新店镇")
    land = next(k for k in card["kinds"] if k["kind"] == "land")
    assert board["compare"] == HUNDRED_DAYS
    assert land["compare"]["verified"] == pytest.approx(80 * 60 / 666.667, abs=0.2)
    assert land["compare"]["change"] == pytest.approx(
        land["verified"] - land["compare"]["verified"], abs=0.11
    )


def test_a_sign_off_outside_the_campaign_shown_says_where_it_counts(two_campaigns, tmp_path):
    """Today (2026) falls in no campaign here: 攻坚2017, the latest, is shown everywhere,
    and the verifier is told his sign-off does not move its figures."""
    session = two_campaigns
    shape = frame([rectangle(XINDIAN, 800, 0, 80, 60)], code=["D1"])
    path = write(shape, tmp_path / "d.geojson")
    import_file(session, path, ImportOptions(kind="land", township="新店镇", status="delivered"))
    session.commit()
    from conftest import signed_in_page
    from sqlalchemy import select

    from geo_service.models import Parcel

    parcel_id = session.scalar(select(Parcel.id).where(Parcel.code == "D1"))
    page = signed_in_page("land_xd")
    done = page.post(
        f"/parcels/{parcel_id}/act",
        data={"action": "verify", "note": "现场核验"},
        headers={"Origin": "http://testserver"},
    )
    assert done.status_code == 200, done.text  # followed to the parcel's page
    assert "地图和看板显示的攻坚2017" in done.text and "不在任何攻坚期内" in done.text


def _sheet_rows(body: bytes, sheet: str) -> list[dict]:
    book = load_workbook(io.BytesIO(body))
    rows = list(book[sheet].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_the_workbook_sets_a_campaign_beside_an_earlier_one(two_campaigns):
    session = two_campaigns
    session.commit()
    from conftest import token_for

    client = TestClient(shared_app(), headers={"Authorization": f"Bearer {token_for('planner')}"})
    params = {"by": "township", "kind": "land", "campaign": "攻坚2017", "compare": HUNDRED_DAYS}
    body = client.get("/api/exports/tallies.xlsx", params={**params, "lang": "en"}).content
    xindian = next(r for r in _sheet_rows(body, "land") if r["Township or subdistrict"] == "新店镇")
    then = f"{HUNDRED_DAYS}: verified area (m²)"
    assert xindian["Verified area (m²)"] == pytest.approx(80 * 60, rel=1e-2)  # B, in 2017
    assert xindian[then] == pytest.approx(80 * 60, rel=1e-2)  # A, in the hundred days
    assert xindian[f"{HUNDRED_DAYS}: target (m²)"] == pytest.approx(300 * 10000 / 15)
    assert xindian["Change in completion"] == pytest.approx(
        xindian["Completion"] - xindian[f"{HUNDRED_DAYS}: completion"]
    )
    assert xindian["Change in completion"] < 0  # the same area against a larger target
    total = next(r for r in _sheet_rows(body, "land") if r["Township or subdistrict"] == "Total")
    assert total[then] == pytest.approx(80 * 60, rel=1e-2)
    assert total[f"{HUNDRED_DAYS}: target (m²)"] == pytest.approx(2500 * 10000 / 15)
    about = dict((k, v) for k, v, *_ in load_workbook(io.BytesIO(body))["About"].values)
    assert about["Compared with"] == HUNDRED_DAYS
    chinese = client.get("/api/exports/tallies.xlsx", params=params).content
    headers = next(load_workbook(io.BytesIO(chinese))["交地"].values)
    assert f"{HUNDRED_DAYS}：已核验面积(平方米)" in headers


def test_this_quarter_against_the_same_quarter_last_year(two_campaigns, tmp_path):
    """A and C were verified in Q4 2016, B on 1 March 2017: the API, the CLI and the
    workbook set a quarter beside the same days a year earlier."""
    session = two_campaigns
    session.commit()
    from conftest import token_for

    client = TestClient(shared_app(), headers={"Authorization": f"Bearer {token_for('planner')}"})
    base = {"by": "township", "kind": "land", "compare": "last_year"}
    rows = client.get("/api/tallies", params={**base, "period": "2017Q4"}).json()
    xindian = next(r for r in rows if r["township"] == "新店镇")
    assert (xindian["campaign"], xindian["compare_campaign"]) == ("2017Q4", "2016Q4")
    assert xindian["verified_m2"] == 0
    assert xindian["compare_verified_m2"] == pytest.approx(2 * 80 * 60, rel=1e-2)
    assert xindian["verified_m2_change"] == pytest.approx(-xindian["compare_verified_m2"])
    # No period: the quarter of the day asked, up to that day, against the same days.
    rows = client.get("/api/tallies", params={**base, "as_of": "2017-03-01"}).json()
    xindian = next(r for r in rows if r["township"] == "新店镇")
    assert (xindian["campaign"], xindian["compare_campaign"]) == ("2017Q1", "2016Q1")
    assert (xindian["verified_parcels"], xindian["compare_verified_m2"]) == (1, 0)
    early = client.get("/api/tallies", params={**base, "as_of": "2017-02-28"}).json()
    assert next(r for r in early if r["township"] == "新店镇")["verified_parcels"] == 0
    # A period without compare=last_year: one refusal, one wording, wherever it is asked.
    said = "period: only with compare=last_year (--period only with --compare last_year)"
    asked = (
        ("/api/tallies", {"period": "2017Q4"}),
        ("/api/tallies", {"period": "2017Q4", "compare": HUNDRED_DAYS}),
        ("/api/exports/tallies.csv", {"period": "2017Q4"}),
        ("/api/exports/tallies.xlsx", {"period": "2017-05", "compare": ""}),
    )
    for path, params in asked:
        refused = client.get(path, params=params, headers={"Accept-Language": "zh-CN"})
        assert refused.status_code == 400 and refused.json()["detail"] == said, (path, params)
        assert "只有与去年同期对比" in refused.json()["said"], refused.json()
    for compare in ((), ("--compare", HUNDRED_DAYS)):
        written = tmp_path / "never.csv"
        for args in (("tally", "--by", "township"),
                     ("export", "tallies", "--format", "csv", "--output", written)):  # fmt: skip
            bare = CliRunner().invoke(
                app, ["--lang", "en", *map(str, args), *compare, "--period", "2017Q4"]
            )  # fmt: skip
            assert bare.exit_code == 2 and f"error: {said}" in bare.stderr, bare.output
            assert not written.exists()
    cli = CliRunner().invoke(
        app, ["tally", "--by", "township", "--kind", "land", "--compare", "last_year",
              "--period", "2017Q4", "--format", "json"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert '"compare_campaign": "2016Q4"' in cli.output
    params = {**base, "period": "2017Q4", "lang": "en"}
    body = client.get("/api/exports/tallies.xlsx", params=params).content
    row = next(r for r in _sheet_rows(body, "land") if r["Township or subdistrict"] == "新店镇")
    assert row["2016Q4: verified area (m²)"] == pytest.approx(2 * 80 * 60, rel=1e-2)
    assert row["Change in verified area (m²)"] == pytest.approx(-2 * 80 * 60, rel=1e-2)
    board = client.get(
        "/board/data.json", params={"compare": "last_year", "period": "2017Q4"}
    ).json()
    land = next(
        k
        for c in board["cards"]
        if c["unit"] == "新店镇"
        for k in c["kinds"]
        if k["kind"] == "land"
    )
    assert board["compare"] == "2016Q4" and board["compare_choice"] == "last_year"
    assert land["compare"]["verified"] == pytest.approx(2 * 80 * 60 / 666.667, abs=0.2)
    assert land["compare"]["change"] == pytest.approx(-land["compare"]["verified"], abs=0.11)


def test_rankings_and_the_register_show_pick_and_name_the_campaign(two_campaigns):
    """/rankings, /projects, /projects/{code} and the rankings API/CLI read the campaign
    shown by default (攻坚2017, the latest), say which, and take campaign=."""
    session = two_campaigns
    from conftest import signed_in_page, token_for

    from geo_service.campaign.projects import import_projects
    from geo_service.settings import DATA_DIR

    import_projects(session, DATA_DIR / "parcels" / "demo_projects.csv")
    session.commit()
    client = TestClient(shared_app(), headers={"Authorization": f"Bearer {token_for('planner')}"})
    ranked = client.get("/api/rankings", params={"district": "晋安区"}).json()
    assert (ranked["campaign"], ranked["period"], ranked["as_of"]) == (
        "攻坚2017",
        "2017Q4",
        "2017-12-31",
    )
    ranked = client.get("/api/rankings", params={"district": "晋安区", "campaign": HUNDRED_DAYS})
    ranked = ranked.json()
    assert (ranked["campaign"], ranked["period"], ranked["as_of"]) == (
        HUNDRED_DAYS,
        "2016Q4",
        "2016-12-09",
    )
    xindian = next(r for r in ranked["rows"] if r["unit"] == "新店镇")
    assert xindian["land"]["verified_m2"] == pytest.approx(80 * 60, rel=1e-2)  # A only
    assert xindian["land"]["annual_target_m2"] == pytest.approx(300 * 10000 / 15)
    cli = CliRunner().invoke(app, ["rank", "--campaign", HUNDRED_DAYS, "--format", "json"])
    assert cli.exit_code == 0 and f'"campaign": "{HUNDRED_DAYS}"' in cli.output, cli.output
    register_rows = client.get("/api/projects", params={"campaign": HUNDRED_DAYS}).json()
    assert (register_rows["campaign"], register_rows["as_of"]) == (HUNDRED_DAYS, "2016-12-09")

    page = signed_in_page("leader_city")
    shown = page.get("/rankings").text
    assert "攻坚2017 · 晋安区" in shown and 'name="campaign"' in shown
    picked = page.get("/rankings", params={"campaign": HUNDRED_DAYS}).text
    assert f"{HUNDRED_DAYS} · 晋安区 · 2016年第4季度" in picked
    assert f"<option selected>{HUNDRED_DAYS}</option>" in picked
    projects = page.get("/projects").text
    assert "攻坚：攻坚2017" in projects and "截至 2017-12-31" in projects
    assert "演示数据" not in projects  # not the live demo: no banner
    hundred = page.get("/projects", params={"campaign": HUNDRED_DAYS}).text
    assert f"攻坚：{HUNDRED_DAYS}" in hundred and "截至 2016-12-09" in hundred
    one = page.get("/projects/JA2017-008", params={"campaign": HUNDRED_DAYS})
    assert one.status_code == 200 and f"<option selected>{HUNDRED_DAYS}</option>" in one.text
    assert page.get("/projects", params={"campaign": "攻坚1999"}).status_code == 404


def test_a_campaign_across_the_new_year_has_its_own_quarters(two_campaigns):
    """冬春攻坚 (1 November 2016 – 30 April 2017): its quarters are Q4 2016, Q1 and Q2
    2017, in the quarterly workbook and for tally(quarter=); C (20 December 2016) and B
    (1 March 2017) count, A (10 October 2016) is before it."""
    session = two_campaigns
    winter = campaigns.create_campaign(
        session, name="冬春攻坚", first_day=date(2016, 11, 1), last_day=date(2017, 4, 30),
        actor="tests",
    )  # fmt: skip
    assert [str(q) for q in winter.quarters()] == ["2016Q4", "2017Q1", "2017Q2"]
    assert winter.quarter_end(1) == date(2017, 3, 31) and winter.quarter_end(2) == winter.last_day
    with pytest.raises(Exception, match="no Q3"):
        tally(session, by="township", campaign="冬春攻坚", quarter=3)
    at_q1 = _xindian(tally(session, by="township", campaign="冬春攻坚", quarter=1))
    assert at_q1.verified_parcels == 2
    view = maps_data.View(district="晋安区", campaign=winter)
    assert [(d["period"], d["as_of"]) for d in maps_data.timeline_days(view)] == [
        ("2016Q4", "2016-12-31"), ("2017Q1", "2017-03-31"), ("2017Q2", "2017-04-30")
    ]  # fmt: skip
    assert maps_data.View(district="晋安区", campaign=winter, quarter=1).as_of == date(2017, 3, 31)
    # A map's calendar quarter names the campaign holding its last day, unless one is named.
    assert maps_data.campaign_and_quarter(session, None, None, Period(2016, quarter=4)) == (
        winter, 4, date(2016, 12, 31)
    )  # fmt: skip
    assert maps_data.campaign_and_quarter(session, "冬春攻坚", None, Period(2017, quarter=2)) == (
        winter, 2, date(2017, 4, 30)
    )  # fmt: skip
    with pytest.raises(Exception, match="no 2017Q3"):
        maps_data.campaign_and_quarter(session, "冬春攻坚", None, Period(2017, quarter=3))
    from geo_service import exports

    export = exports.tally_export(session, by="quarter", kind="land", campaign="冬春攻坚")
    xindian = [r for r in export.rows if r.get("township") == "新店镇"]
    assert [(r["period"], r["as_of"], r["verified_parcels"]) for r in xindian] == [
        ("2016-Q4", date(2016, 12, 31), 1),
        ("2017-Q1", date(2017, 3, 31), 2),
        ("2017-Q2", date(2017, 4, 30), 2),
    ]
    months = exports.tally_export(session, by="month", kind="land", campaign="冬春攻坚")
    assert [r["period"] for r in months.rows if r.get("township") == "新店镇"] == [
        "2016-11", "2016-12", "2017-01", "2017-02", "2017-03", "2017-04"
    ]  # fmt: skip


def test_the_period_pickers_offer_a_campaign_across_the_new_year_its_own_periods(two_campaigns):
    """跨年攻坚 (October 2016 – June 2017): /rankings and the board offer 2016Q4, 2017Q1,
    2017Q2 and its nine months (no whole year: it is none), as explicit periods, so its
    2017 quarters are reached; 攻坚2017 keeps its four quarters and its whole year."""
    session = two_campaigns
    campaigns.create_campaign(
        session, name="跨年攻坚", first_day=date(2016, 10, 1), last_day=date(2017, 6, 30),
        actor="tests",
    )  # fmt: skip
    session.commit()
    from conftest import signed_in_page

    page = signed_in_page("leader_city")
    winter = {"campaign": "跨年攻坚", "district": "晋安区"}
    months = [f"2016-{m}" for m in (10, 11, 12)] + [f"2017-0{m}" for m in range(1, 7)]
    for path in ("/rankings", "/board"):
        shown = page.get(path, params={**winter, "period": "2017Q2"}).text
        offered = re.findall(r'<option value="([^"]+)"', shown)
        assert [v for v in offered if v[0].isdigit()] == ["2016Q4", "2017Q1", "2017Q2", *months]
        assert '<option value="2017Q2" selected>' in shown, path
        assert "跨年攻坚" in shown and "2017Q2" in shown
    year = re.findall(r'<option value="(\d[^"]*)"', page.get("/board").text)
    assert year[:4] == ["2017Q1", "2017Q2", "2017Q3", "2017Q4"] and year[-1] == "2017"
    assert len(year) == 4 + 12 + 1


def test_a_closed_campaign_stands_as_on_its_last_day(two_campaigns, tmp_path):
    """Closed, the hundred days show what was on record on 9 December 2016 — A alone,
    verified — in tally(), the API and the workbook; a parcel added and A withdrawn after
    the close change nothing there. Not closed, the figures are today's."""
    session = two_campaigns
    from geo_service.parcels import workflow

    path = write(frame([rectangle(XINDIAN, 800, 0, 80, 60)], code=["D2"]), tmp_path / "d2.geojson")
    import_file(session, path, ImportOptions(kind="land", township="新店镇"))
    open_now = _xindian(tally(session, by="township", campaign=HUNDRED_DAYS))
    assert (open_now.planned_parcels, open_now.verified_parcels) == (4, 1)
    campaigns.close_campaign(session, HUNDRED_DAYS, actor="tests")
    workflow.withdraw(
        session, workflow.find_parcel(session, "A", "新店镇", "land"), "重复登记", "admin_t"
    )
    closed = _xindian(tally(session, by="township", campaign=HUNDRED_DAYS))
    assert (closed.planned_parcels, closed.verified_parcels) == (1, 1)
    assert closed.planned_m2 == pytest.approx(80 * 60, rel=1e-2)
    session.commit()
    from conftest import token_for

    client = TestClient(shared_app(), headers={"Authorization": f"Bearer {token_for('planner')}"})
    params = {"by": "township", "kind": "land", "campaign": HUNDRED_DAYS}
    rows = client.get("/api/tallies", params=params).json()
    xindian = next(r for r in rows if r["township"] == "新店镇")
    assert (xindian["planned_parcels"], xindian["verified_parcels"]) == (1, 1)
    body = client.get("/api/exports/tallies.xlsx", params={**params, "lang": "en"}).content
    row = next(r for r in _sheet_rows(body, "land") if r["Township or subdistrict"] == "新店镇")
    assert (row["Parcels on record (count)"], row["Verified parcels (count)"]) == (1, 1)


def test_the_quarter_under_way_is_ranked_as_of_today_and_named_as_the_picker_names_it(
    two_campaigns,
):
    """A campaign under way: its ranking and board say 截至 today (not the quarter's last day,
    still to come), name the quarters as the picker does (2026年第4季度, not 2026Q4) and the
    composite's weights by the table's columns (交地=0.4, not land=0.4)."""
    session = two_campaigns
    now = periods.today()
    name = "攻坚进行中"
    campaigns.create_campaign(
        session, name=name, first_day=date(now.year - 1, 1, 1), last_day=date(now.year + 1, 12, 31),
        actor="tests",
    )  # fmt: skip
    session.commit()
    from conftest import signed_in_page

    from geo_service.campaign import rankings

    quarter = quarter_of(now)
    ranked = rankings.rank(session, "township", campaign=name, district="晋安区")
    assert (ranked["period"], ranked["as_of"]) == (str(quarter), now.isoformat())
    page = signed_in_page("leader_city")
    shown = page.get("/rankings", params={"campaign": name, "district": "晋安区"}).text
    said = f"{quarter.year}年第{quarter.quarter}季度"
    assert f"截至 {now.isoformat()}" in shown and f"· {said}</h1>" in shown
    assert "交地=0.4, 拆迁=0.3, 回迁=0.1, 节点按时=0.2" in shown and "land=0.4" not in shown
    board = page.get("/board", params={"campaign": name, "district": "晋安区"}).text
    assert f"<b>{said}</b>" in board and f"截至 {now.isoformat()}" in board
