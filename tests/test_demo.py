"""The demo set loads through the real import and workflow, and tells the same 2017 twice."""

from datetime import date

from sqlalchemy import func, select

from geo_service import demo
from geo_service.models import Parcel, ParcelVersion
from geo_service.relocation_tallies import overdue
from geo_service.relocation_tallies import tally as relocation_tally
from geo_service.tallies import tally
from geo_service.workflow import history


def _verified(session, day):
    rows = [
        r for r in tally(session, by="district", kind="land", as_of=day) if r.district == "晋安区"
    ]
    return (rows[0].verified_parcels, rows[0].verified_m2) if rows else (0, 0.0)


def test_demo_replays_2017_and_a_second_load_changes_nothing(db, session):
    first = demo.load_demo()
    assert "2017 replayed for 424 parcel(s)" in first
    versions = session.scalar(select(func.count()).select_from(ParcelVersion))
    assert "relocation: 278 households, 436 flats" in first
    second = demo.load_demo()
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
    }
    assert any(c.kind == "title" and c.project == "JA-AZ-01" for c in cases)  # 办证期限 passed
