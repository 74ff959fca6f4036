"""One "due" figure (应完成) a township and day: the progress map's data, the board's
data.json and /api/rankings reckon it by one rule (campaign.due), in the campaign's own
quarters whether or not it is a calendar year."""

from datetime import date

import pytest
from conftest import auth, shared_app
from fastapi.testclient import TestClient

from geo_service import exports
from geo_service.campaign import campaigns, due
from geo_service.campaign.tallies import tally
from geo_service.campaign.targets import set_target

MU = 10000 / 15
MID_YEAR = "年中攻坚"  # 10 June 2016 – 9 June 2017, as the demo's campaign is moved
FIRST, LAST = date(2016, 6, 10), date(2017, 6, 9)


def _campaign(session, plans: dict[int, float] | None):
    campaigns.create_campaign(session, name=MID_YEAR, first_day=FIRST, last_day=LAST,
                              actor="tests")  # fmt: skip
    common = dict(district="晋安区", township="新店镇", kind="land", unit="mu", actor="tests")
    set_target(session, **common, campaign=MID_YEAR, amount=1000)
    for quarter, amount in (plans or {}).items():
        set_target(session, **common, campaign=MID_YEAR, quarter=quarter, amount=amount)
    session.commit()
    return campaigns.find_campaign(session, MID_YEAR)


def _three_figures(client) -> dict:
    """新店镇's due land area (m²) on 30 September 2016 as the map, the board and the
    rankings give it."""
    url = f"/maps/progress/data.json?district=晋安区&kind=land&campaign={MID_YEAR}&quarter=2016Q3"
    township = next(
        f["properties"]
        for f in client.get(url).json()["townships"]["features"]
        if f["properties"]["name"] == "新店镇"
    )
    board = client.get(
        "/board/data.json", params={"campaign": MID_YEAR, "period": "2016Q3", "district": "晋安区"}
    ).json()
    card = next(c for c in board["cards"] if c["unit"] == "新店镇")
    land = next(k for k in card["kinds"] if k["kind"] == "land")
    ranking = client.get(
        "/api/rankings", params={"campaign": MID_YEAR, "period": "2016Q3", "district": "晋安区"}
    ).json()
    row = next(r for r in ranking["rows"] if r["unit"] == "新店镇")
    return {
        "map": township["due_m2"],
        "map_target": township["target_m2"],
        "board": land["period_target"] * MU,
        "rankings": row["land"]["period_target_m2"],
    }


def test_a_campaign_of_its_own_quarters_reckons_its_plans_in_them(session):
    campaign = _campaign(session, {1: 100, 2: 200, 3: 300, 4: 400})
    assert due.quarter_spans(campaign) == [
        (date(2016, 6, 10), date(2016, 9, 9)), (date(2016, 9, 10), date(2016, 12, 9)),
        (date(2016, 12, 10), date(2017, 3, 9)), (date(2017, 3, 10), date(2017, 6, 9)),
    ]  # fmt: skip
    client = TestClient(shared_app(), headers=auth("planner"))
    figures = _three_figures(client)
    # Q1's plan, and 21 of Q2's 91 days (10 to 30 September) of its 200 mu.
    expected = (100 + 200 * 21 / 91) * MU
    assert figures["rankings"] == pytest.approx(expected, abs=0.01)
    assert figures["map"] == pytest.approx(expected, abs=0.01)
    assert figures["map_target"] == pytest.approx(expected, abs=0.01)
    assert figures["board"] == pytest.approx(expected, abs=0.1 * MU)  # the board shows 0.1 mu
    # The quarter series export and a tally of that quarter measure it alike.
    export = exports.tally_export(session, by="quarter", kind="land", campaign=MID_YEAR)
    q3 = next(r for r in export.rows if r.get("township") == "新店镇" and r["period"] == "2016-Q3")
    assert (q3["target_m2"], q3["target_basis"]) == (pytest.approx(expected, abs=0.01), "due")
    rows = tally(session, by="township", kind="land", campaign=MID_YEAR, quarter=3)
    row = next(r for r in rows if r.township == "新店镇")
    assert row.target_m2 == pytest.approx(expected, abs=0.01)
    # Its first day: a day of Q1's 92; its last day: the whole plan.
    assert due.due_share(campaign, FIRST, [0.1, 0.3, 0.6, 1.0]) == pytest.approx(0.1 / 92)
    assert due.due_share(campaign, LAST, [0.1, 0.3, 0.6, 1.0]) == pytest.approx(1.0)
    assert due.due_share(campaign, date(2016, 6, 9), [0.1, 0.3, 0.6, 1.0]) == 0.0


def test_a_campaign_without_plans_is_due_its_share_of_days(session):
    campaign = _campaign(session, None)
    figures = _three_figures(TestClient(shared_app(), headers=auth("planner")))
    days = (LAST - FIRST).days + 1
    expected = 1000 * MU * ((date(2016, 9, 30) - FIRST).days + 1) / days
    assert due.elapsed(campaign, date(2016, 9, 30)) == pytest.approx(113 / 365)
    assert figures["rankings"] == pytest.approx(expected, abs=0.01)
    assert figures["map"] == pytest.approx(expected, abs=0.01)
    assert figures["board"] == pytest.approx(expected, abs=0.1 * MU)
    # Without a plan the map's target stays the annual one (年度目标).
    assert figures["map_target"] == pytest.approx(1000 * MU, abs=0.01)


def test_a_calendar_year_is_reckoned_in_months_as_before(session):
    year = campaigns.find_campaign(session, "攻坚2017")
    shares = [0.15, 0.4, 0.7, 1.0]
    assert due.quarter_spans(year)[1] == (date(2017, 4, 1), date(2017, 6, 30))
    assert due.due_share(year, date(2017, 5, 31), shares) == pytest.approx(0.15 + 0.25 * 2 / 3)
    assert due.due_share(year, date(2017, 6, 30), shares) == pytest.approx(0.4)
    assert due.elapsed(year, date(2017, 2, 28)) == pytest.approx(2 / 12)
    assert due.elapsed(year, date(2018, 1, 5)) == 1.0
