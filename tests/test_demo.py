"""The demo set loads through the real import and workflow, and tells the same 2017 twice."""

from datetime import date, timedelta

import pytest
from conftest import load_demo, shared_app
from sqlalchemy import func, select

from geo_service import demo
from geo_service.campaign import due
from geo_service.campaign.tallies import tally
from geo_service.models import Flat, Household, Parcel, ParcelVersion, ResettlementProject
from geo_service.parcels.workflow import history
from geo_service.relocation.demo import load_relocation_demo
from geo_service.relocation.tallies import overdue
from geo_service.relocation.tallies import tally as relocation_tally


def _verified(session, day):
    rows = [
        r for r in tally(session, by="district", kind="land", as_of=day) if r.district == "晋安区"
    ]
    return (rows[0].verified_parcels, rows[0].verified_m2) if rows else (0, 0.0)


def test_demo_replays_2017_and_a_second_load_changes_nothing(db, session):
    # The test session's one real load on an emptied database (the browser tests start from
    # a copy of it): what it said, whichever test made it; then a second load over it.
    first = load_demo()
    assert "2017 replayed for 424 parcel(s)" in first
    versions = session.scalar(select(func.count()).select_from(ParcelVersion))
    # Jin'an's 278 households and 436 flats, and Cangshan's 34 and 61.
    assert "relocation: 312 households, 497 flats" in first
    second = demo.load_demo(published=True)
    assert "2017 replayed for 0 parcel(s)" in second and "new 0, changed 0" in second
    assert "relocation: already loaded" in second
    # The city-wide part: Cangshan and Fuqing, their problem files and milestone records.
    assert "2017 replayed for 160 parcel(s)" in first
    assert "milestone records: 18; problems filed: 10" in first
    assert "milestone records: 0; problems filed: 0" in second
    districts = {r.district for r in tally(session, by="district")}
    assert districts == {"晋安区", "仓山区", "福清市"}
    # Nothing changed, and nothing is reported as updated.
    assert "projects: 0 new, 0 updated, 25 unchanged; targets: 0 set" in second
    assert session.scalar(select(func.count()).select_from(ParcelVersion)) == versions

    quarters = [_verified(session, date(2017, m, d)) for m, d in ((3, 31), (6, 30), (9, 30))]
    end = _verified(session, date(2017, 12, 31))
    assert quarters[0][0] <= quarters[1][0] <= quarters[2][0] <= end[0]
    assert 0 < quarters[1][1] < end[1]
    assert _verified(session, date(2016, 12, 31)) == (0, 0.0)

    verified = session.scalars(
        select(Parcel).where(Parcel.kind == "land", Parcel.status == "verified")
    ).first()
    steps = [(h["status"], h["changed_by"]) for h in history(session, verified)]
    assert [s for s, _ in steps] == ["planned", "in_progress", "delivered", "verified"]
    assert verified.verified_group == "土地核验组"
    assert verified.verified_at.year == 2017

    # Relocation: keys after each project's completion, some households still waiting.
    december_31 = date(2017, 12, 31)
    june, december = (
        {r.project: r for r in relocation_tally(session, by="project", as_of=day)}
        for day in (date(2017, 6, 30), date(2017, 12, 31))
    )
    assert 0 < june["JA-AZ-01"].flats_handed_over < december["JA-AZ-01"].flats_handed_over
    assert june["JA-AZ-02"].flats_handed_over == 0 < december["JA-AZ-02"].flats_handed_over
    assert december["JA-AZ-03"].flats_handed_over == 0  # not completed in 2017
    cases = overdue(session, as_of=date(2017, 12, 31))
    assert {c.project for c in cases if c.kind == "handover"} == {
        "JA-AZ-01",
        "JA-AZ-02",
        "JA-AZ-03",
        "CS-AZ-01",  # some of Cangshan's households still wait at the end of the year
    }
    assert any(c.kind == "title" and c.project == "JA-AZ-01" for c in cases)  # 办证期限 passed

    # Cangshan: households on its demo demolition parcels, one project finished in August
    # 2017 (its households overdue since the end of 2016), signed off by its own verifier.
    townships = {
        r.township: r
        for r in relocation_tally(session, by="township", as_of=december_31)
        if r.district == "仓山区"
    }
    assert set(townships) == {"建新镇", "城门镇"}
    assert all(r.households_planned > 0 for r in townships.values())
    assert june["CS-AZ-01"].flats_handed_over == 0 < december["CS-AZ-01"].flats_handed_over
    parcels = set(
        session.scalars(
            select(Household.parcel_id).where(
                Household.ref.like("JX-%") | Household.ref.like("CM-%")
            )
        )
    )
    codes = set(session.scalars(select(Parcel.code).where(Parcel.id.in_(parcels))))
    assert codes and all(c.startswith(("CS-JX-D-", "CS-CM-D-")) for c in codes)
    start = {
        c.household
        for c in overdue(session, as_of=date(2016, 12, 31), day=date(2017, 1, 1))
        if c.project == "CS-AZ-01"
    }
    assert start  # open 两逾 cases at the start of 2017, for 清零

    # Sign-offs by 回迁核验组, each district's by its own verifier, and counted as of a day.
    verified = {
        r.district: r.households_verified
        for r in relocation_tally(session, by="district", as_of=december_31)
    }
    assert verified["晋安区"] > 0 and verified["仓山区"] > 0
    assert sum(verified.values()) == int(first.split(" households signed off")[0].split()[-1])
    june_verified = sum(
        r.households_verified
        for r in relocation_tally(session, by="district", as_of=date(2017, 6, 30))
    )
    assert june_verified < sum(verified.values())
    signers = set(
        session.scalars(select(Household.signed_off_by).where(Household.signoff.is_not(None)))
    )
    assert signers == {"林秀英", "陶静"}


def _token(username: str) -> dict:
    from geo_service import database
    from geo_service.accounts import users

    with database.session_scope() as own:
        secret = users.issue_token(own, users.acting_user(own, username), "api", 60)
    return {"Authorization": f"Bearer {secret}"}


def test_the_live_demo_is_under_way_today_and_a_sign_off_moves_the_map_and_board(
    db, session, tmp_path
):
    """The README's `geo-service demo`: 攻坚2017（演示） under way today with the published
    targets; a newcomer's sign-off moves 晋安区's figure on the leader's default progress
    map and the board's 最近核验 at once, and the answer says where it counts."""
    from fastapi.testclient import TestClient

    from geo_service.campaign.campaigns import current
    from geo_service.periods import today

    # Live, as the README loads it; Jin'an's part alone (what the newcomer sees), for time.
    summary = demo.load_demo(campaign=None, relocation=False)
    assert f"campaign: {demo.LIVE_NAME}" in summary
    shown = current(session)
    assert shown.name == demo.LIVE_NAME and shown.first_day < today() < shown.last_day
    targets = {r.kind: r for r in tally(session, by="district") if r.district == "晋安区"}
    assert round(targets["land"].target_mu) == 9000
    assert round(targets["demolition"].target_m2) == 3_000_000
    moved = session.scalar(select(func.max(ParcelVersion.valid_from)))
    assert moved.date() <= today()  # nothing of the story lies in the future

    client = TestClient(shared_app())
    leader = _token("周建明")

    def figures():
        data = client.get("/maps/progress/data.json", headers=leader).json()
        board = client.get("/board/data.json", headers=leader).json()
        recent = [r["code"] for c in board["cards"] for r in c["recent"]]
        return data["summary"], recent

    before, recent_before = figures()
    assert before["campaign"] == demo.LIVE_NAME and before["as_at"] == today().isoformat()
    assert before["demo"] and client.get("/board/data.json", headers=leader).json()["demo"]
    assert before["pace_m2_per_month"] is not None  # not 年度已结束: months are left
    # The plans lie in the campaign's own quarters: by the end of the calendar quarter it
    # begins in, that many days of Q1's plan (1,350 亩) were due, not Q1's and Q2's (3,600).
    first = shown.quarters()[0]
    url = f"/maps/progress/data.json?quarter={first}"
    early = client.get(url, headers=leader).json()["summary"]
    start, end = due.quarter_spans(shown)[0]
    gone = (min(first.end, end) - start).days + 1
    assert early["due_mu"] == pytest.approx(1350 * gone / ((end - start).days + 1), abs=0.1)
    assert early["target_mu"] == pytest.approx(early["due_mu"], abs=0.1)
    waiting = session.scalars(
        select(Parcel)
        .join(Parcel.township)
        .where(Parcel.status == "delivered", Parcel.kind == "land")
        .where(Parcel.township.has(name="新店镇"))
        .order_by(Parcel.area_m2.desc())
    ).first()
    assert waiting is not None, "the live story left no delivered parcel to verify"
    answer = client.post(
        f"/api/parcels/{waiting.id}/verify", json={"note": "现场核验"}, headers=_token("林志伟")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts_in"] == [demo.LIVE_NAME]
    assert answer.json()["outside_campaign_shown"] is False
    after, recent_after = figures()
    assert after["verified_m2"] == pytest.approx(before["verified_m2"] + waiting.area_m2, rel=1e-3)
    assert waiting.code in recent_after and waiting.code not in recent_before
    # The register's pages say so too (base.html's banner), and name the live campaign.
    register_page = client.get("/projects", headers=leader).text
    assert (
        "演示数据" in register_page
        and f"<option selected>{demo.LIVE_NAME}</option>" in register_page
    )

    # Relocation moves alike (Jin'an's part, whose parcels are loaded): keys, titles and
    # sign-offs up to today, none after; the targets are the moved campaign's year's, and
    # the relocation map names the live campaign.
    clock = demo.DemoClock.live()
    summary = load_relocation_demo(_jinan_relocation(tmp_path), clock=clock)
    assert "moved to end" in summary, summary
    keys = session.scalars(select(Flat.handed_over_on).where(Flat.handed_over_on.is_not(None)))
    keys = list(keys)
    assert keys and max(keys) <= today() < max(keys) + timedelta(days=60)
    assert min(keys) >= date(2017, 1, 1) + clock.offset
    completions = session.scalars(select(ResettlementProject.actual_completion)).all()
    assert all(day is None or day <= today() for day in completions)
    year = (date(2017, 1, 1) + clock.offset).year
    rows = relocation_tally(session, by="district", year=year)
    jinan = next(r for r in rows if r.district == "晋安区")
    assert jinan.target_households == 240 and jinan.households_handed_over > 0
    params = {"district": "晋安区"}
    shown = client.get("/maps/relocation/data.json", params=params, headers=leader).json()
    shown = shown["summary"]
    assert (shown["campaign"], shown["demo"]) == (demo.LIVE_NAME, True)
    assert shown["households_handed_over"] == jinan.households_handed_over


def _jinan_relocation(folder):
    """The relocation demo set with Jin'an's rows only (Cangshan's need its parcels)."""
    import csv
    import shutil

    source = demo.DATA_DIR / "relocation"
    shutil.copytree(source / "sites", folder / "sites")
    for name, column in (("projects.csv", "code"), ("households.csv", "安置项目"),
                         ("flats.csv", "安置项目")):  # fmt: skip
        with (source / name).open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(r for r in rows if r[column].startswith("JA-"))
    return folder
