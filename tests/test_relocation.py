"""Relocation (回迁): rosters and flat lists checked whole, allocation rules, tallies
against hand-computed figures, the 两逾 lists for a given day, 清零, and masking."""

import io
import json
from datetime import UTC, date, datetime

import pytest
import shapely
from conftest import auth, count_rows, shared_app
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from parcelfiles import CM120E, XINDIAN, frame, independent_area_m2, rectangle, write
from sqlalchemy import select, text
from typer.testing import CliRunner

from geo_service import database, exports
from geo_service.campaign import rankings
from geo_service.cli import app
from geo_service.errors import InvalidInput, UploadRefused
from geo_service.models import AuditEntry, Flat, Household, Project
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.relocation import households as rel
from geo_service.relocation.rosters import import_flats, import_households
from geo_service.relocation.tallies import clearance, months_paid, overdue, set_target, tally
from geo_service.settings import get_settings

# The sample resident ID of GB 11643's own documentation, and one built on it.
ID_A = "11010519491231002X"
ID_B = "110105194912310029"

HOUSEHOLD_HEADER = (
    "户号,户主姓名,身份证号,地块编号,乡镇,拆除面积,补偿方式,安置项目,应安置套数,应安置面积,"
    "过渡开始日期,月过渡费,承诺交房日期,办证期限"
)
# Four relocation households in 新店镇 and 鼓山镇 plus one cash household.
GOOD_ROSTER = [
    "XD-001,林志伟,11010519491231002X,XD-D1,新店镇,180,产权调换,AZ-1,2,200,2016-03-15,1500,2017-06-30,2018-06-30",
    "XD-002,陈美华,,XD-D1,新店镇,95,混合,AZ-1,1,90,2016-05-01,1000,2017-06-30,",
    "XD-003,黄建国,,XD-D2,新店镇,60,货币补偿,,0,,,,,",
    "GS-001,郑晓东,,GS-D1,鼓山镇,150,产权调换,AZ-1,1,120,2016-01-10,1200,2017-03-31,2017-12-31",
    "GS-002,欧阳娜娜,,GS-D1,鼓山镇,130,产权调换,AZ-2,1,110,2016-02-01,1100,2017-09-30,",
]
FLAT_HEADER = [
    "安置项目",
    "楼栋",
    "房号",
    "户型",
    "建筑面积",
    "户号",
    "分配日期",
    "交房日期",
    "办证日期",
]
GOOD_FLATS = [
    ["AZ-1", "1", "101", "120", 118.5, "XD-001", "2017-03-01", "2017-05-20", "2017-09-01"],
    ["AZ-1", "1", "102", "90", 89.0, "XD-001", "2017-03-01", "2017-07-10", None],
    ["AZ-1", "1", "201", "90", 91.5, "XD-002", "2017-03-02", None, None],
    ["AZ-1", "2", "101", "120", 121.0, "GS-001", "2017-02-01", "2017-03-20", "2017-11-15"],
    ["AZ-1", "2", "102", "120", 119.0, None, None, None, None],
    ["AZ-2", "1", "101", "120", 112.0, "GS-002", "2017-08-01", None, None],
]


BEFORE = datetime(2016, 1, 1, tzinfo=UTC)  # when the projects were put on record


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("RELOCATION_ID_SECRET", "test-secret-not-for-production")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("RELOCATION_ID_SECRET")
    get_settings.cache_clear()


@pytest.fixture
def base(session, tmp_path, secret):
    """Demolition parcels in 新店镇 and 鼓山镇, a responsibility list, two resettlement
    projects (one serving both townships)."""
    for township, codes, dx in (("新店镇", ["XD-D1", "XD-D2"], 0), ("鼓山镇", ["GS-D1"], 0)):
        center = XINDIAN if township == "新店镇" else (119.380, 26.070)
        shapes = [rectangle(center, dx + 300 * i, 0, 100, 80) for i in range(len(codes))]
        path = write(frame(shapes, code=codes), tmp_path / f"{codes[0]}.gpkg", CM120E)
        import_file(session, path, ImportOptions(kind="demolition", township=township))
    session.add(
        Project(
            code="JA-R1",
            name="安置房建设",
            department="区住建局",
            direct_responsible="王丽琴",
            deadline=date(2017, 12, 31),
        )
    )
    session.flush()
    rel.save_project(
        session,
        code="AZ-1",
        name="新店安置房",
        district="晋安区",
        townships=["新店镇", "鼓山镇"],
        flats_by_size={"90": 40, "120": 60},
        floor_area_m2=11000,
        responsibility="JA-R1",
        actor="t",
        now=BEFORE,
    )
    rel.save_project(
        session,
        code="AZ-2",
        name="鼓山安置房",
        district="晋安区",
        townships=["鼓山镇"],
        flats_by_size={"120": 30},
        floor_area_m2=3500,
        actor="t",
        now=BEFORE,
    )
    session.commit()
    return tmp_path


def _roster(path, lines, header=HOUSEHOLD_HEADER):
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _flats(path, rows):
    book = Workbook()
    sheet = book.active
    sheet.append(["房源清单 (2017)"])  # a title above the headers, as offices write them
    sheet.append(FLAT_HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _loaded(session, base, flats=GOOD_FLATS, when=datetime(2017, 12, 1, tzinfo=UTC)):
    roster = _roster(base / "r.csv", GOOD_ROSTER)
    import_households(session, roster, actor="t", now=datetime(2017, 1, 5, tzinfo=UTC))
    import_flats(session, _flats(base / "f.xlsx", flats), actor="t", now=when)
    session.commit()


# --- roster import ----------------------------------------------------------------------


def test_a_good_roster_is_stored_with_the_id_only_as_a_keyed_hash(session, base):
    report = import_households(session, _roster(base / "r.csv", GOOD_ROSTER), actor="林")
    assert (report.accepted, report.rows, report.created) == (True, 5, 5)
    first = session.scalar(select(Household).where(Household.ref == "XD-001"))
    assert first.id_hash and ID_A not in first.id_hash and len(first.id_hash) == 64
    assert first.compensation == "flats" and first.flats_due == 2
    assert first.promised_handover == date(2017, 6, 30)
    cash = session.scalar(select(Household).where(Household.ref == "XD-003"))
    assert (cash.compensation, cash.flats_due) == ("cash", 0)
    history = rel.history(session, "household", first.id)
    assert [(v["change"], v["changed_by"]) for v in history] == [("created", "林")]
    assert ID_A not in json.dumps(history)
    again = import_households(session, _roster(base / "r.csv", GOOD_ROSTER), actor="林")
    assert (again.created, again.changed, again.unchanged) == (0, 0, 5)


REFUSALS = {
    "unknown_parcel": [GOOD_ROSTER[0].replace("XD-D1", "XD-D9")],
    "duplicate_household": [GOOD_ROSTER[1], GOOD_ROSTER[1]],
    "dates_out_of_order": [GOOD_ROSTER[1].replace("2017-06-30,", "2017-06-30,2017-01-01")],
    "bad_id_number": [GOOD_ROSTER[0].replace(ID_A, "110105194912310021")],
    "unknown_project": [GOOD_ROSTER[1].replace("AZ-1", "AZ-9")],
    "over_allocated": [GOOD_ROSTER[2].replace("货币补偿,,0", "货币补偿,,1")],
    "bad_value": [GOOD_ROSTER[1].replace("混合", "以房换房换地")],
    # Issue 20: a head's name with a right-to-left override, a ref with a zero-width space.
    "name_not_printable": [GOOD_ROSTER[1].replace("陈美华", "陈\u202e美华")],
    "code_not_printable": [GOOD_ROSTER[1].replace("XD-002", "XD-002\u200b")],
}


@pytest.mark.parametrize("rule", sorted(REFUSALS))
def test_a_roster_with_one_bad_row_is_refused_whole(session, base, rule):
    lines = [GOOD_ROSTER[3], *REFUSALS[rule], GOOD_ROSTER[4]]
    with pytest.raises(UploadRefused) as refused:
        import_households(session, _roster(base / "bad.csv", lines), actor="t")
    report = refused.value.report
    assert {p.rule for p in report.problems} == {rule}
    assert report.problems[0].row in (3, 4)  # the file's own row number (header is row 1)
    assert "bad.csv" in report.problems_csv() and rule in report.problems_csv()
    session.commit()  # whatever the refused import left in the session would be stored now
    assert count_rows("households") == 0
    assert count_rows("relocation_versions") == 2  # the two projects' own versions only


def test_the_same_id_in_two_households_is_refused_against_the_stored_roster(session, base):
    import_households(session, _roster(base / "a.csv", GOOD_ROSTER[:1]), actor="t")
    other = GOOD_ROSTER[3].replace("GS-001,郑晓东,", f"GS-001,郑晓东,{ID_A.lower()}")
    with pytest.raises(UploadRefused, match="already heads household XD-001"):
        import_households(session, _roster(base / "b.csv", [other]), actor="t")


def test_ids_need_the_secret(session, base, monkeypatch):
    monkeypatch.delenv("RELOCATION_ID_SECRET")
    get_settings.cache_clear()
    with pytest.raises(UploadRefused, match="RELOCATION_ID_SECRET"):
        import_households(session, _roster(base / "r.csv", GOOD_ROSTER[:1]), actor="t")
    monkeypatch.setenv("RELOCATION_ID_SECRET", "x")


# --- flats and allocation ---------------------------------------------------------------


def test_a_flat_list_allocates_and_records_dates(session, base):
    _loaded(session, base)
    flat = session.scalar(select(Flat).where(Flat.building == "2", Flat.unit == "101"))
    assert flat.handed_over_on == date(2017, 3, 20) and flat.certified_on == date(2017, 11, 15)
    assert count_rows("flats") == 6
    free = session.scalar(select(Flat).where(Flat.building == "2", Flat.unit == "102"))
    assert free.household_id is None


FLAT_REFUSALS = {
    "flat_given_twice": [GOOD_FLATS[0], GOOD_FLATS[0]],
    "over_allocated": [GOOD_FLATS[2], [*GOOD_FLATS[4][:5], "XD-002", "2017-03-05", None, None]],
    "unknown_household": [[*GOOD_FLATS[4][:5], "XD-404", "2017-03-05", None, None]],
    "dates_out_of_order": [[*GOOD_FLATS[0][:8], "2017-05-01"]],
    "unknown_project": [["AZ-9", *GOOD_FLATS[0][1:]]],
}


@pytest.mark.parametrize("rule", sorted(FLAT_REFUSALS))
def test_a_flat_list_with_one_bad_row_is_refused_whole(session, base, rule):
    import_households(session, _roster(base / "r.csv", GOOD_ROSTER), actor="t")
    session.commit()
    versions = count_rows("relocation_versions")
    rows = [GOOD_FLATS[3], *FLAT_REFUSALS[rule]]
    with pytest.raises(UploadRefused) as refused:
        import_flats(session, _flats(base / "bad.xlsx", rows), actor="t")
    assert {p.rule for p in refused.value.report.problems} == {rule}
    session.commit()
    assert count_rows("flats") == 0 and count_rows("relocation_versions") == versions


def test_a_flat_is_never_given_twice_nor_a_household_over_allocated(session, base):
    _loaded(session, base)
    flat = session.scalar(select(Flat).where(Flat.building == "1", Flat.unit == "101"))
    other = rel.find_household(session, "GS-002")
    with pytest.raises(InvalidInput, match="already allocated"):
        rel.allocate(session, flat, other, date(2017, 12, 2), "t")
    free = session.scalar(select(Flat).where(Flat.building == "2", Flat.unit == "102"))
    with pytest.raises(InvalidInput, match="due 1 flat"):
        rel.allocate(session, free, other, date(2017, 12, 2), "t")
    with pytest.raises(InvalidInput, match="cash"):
        rel.allocate(session, free, rel.find_household(session, "XD-003"), date(2017, 12, 2), "t")
    # A later list that gives the stored flat to someone else is refused too.
    moved = [[*GOOD_FLATS[0][:5], "GS-002", "2017-12-01", None, None]]
    with pytest.raises(UploadRefused, match="already allocated"):
        import_flats(session, _flats(base / "moved.xlsx", moved), actor="t")
    with pytest.raises(InvalidInput, match="needs the flat handed over"):
        rel.certify(session, free, date(2017, 12, 2), "t")


# --- tallies ----------------------------------------------------------------------------


def test_relocation_tallies_match_hand_counts(session, base):
    _loaded(session, base)
    set_target(
        session,
        district="晋安区",
        township="新店镇",
        year=2017,
        households=4,
        flats=5,
        m2=500,
        actor="t",
    )
    rows = {r.township: r for r in tally(session, by="township", as_of=date(2017, 12, 31))}
    xd, gs = rows["新店镇"], rows["鼓山镇"]
    # 新店镇: XD-001 (2 flats, 200 m² due) and XD-002 (1, 90); XD-003 takes cash.
    assert (xd.households_planned, xd.flats_planned, xd.m2_planned) == (2, 3, 290)
    assert (xd.households_allocated, xd.flats_allocated) == (2, 3)
    assert xd.m2_allocated == pytest.approx(118.5 + 89.0 + 91.5)
    # XD-001 has both keys (20 May, 10 July); XD-002 none.
    assert (xd.households_handed_over, xd.flats_handed_over) == (1, 2)
    assert xd.m2_handed_over == pytest.approx(118.5 + 89.0)
    assert (xd.households_certified, xd.flats_certified, xd.m2_certified) == (0, 1, 118.5)
    assert (xd.target_households, xd.target_flats, xd.target_m2) == (4, 5, 500)
    row = xd.as_dict("township")
    assert row["progress_households"] == pytest.approx(1 / 4)
    assert row["progress_m2"] == pytest.approx((118.5 + 89.0) / 500)
    # 鼓山镇: GS-001 handed over and certified; GS-002 allocated, no keys.
    assert (gs.households_planned, gs.households_handed_over, gs.households_certified) == (2, 1, 1)
    assert (gs.flats_allocated, gs.m2_allocated) == (2, 121.0 + 112.0)
    assert gs.target_households is None and gs.as_dict("township")["progress"] is None
    district = tally(session, by="district", as_of=date(2017, 12, 31))[0]
    assert (district.households_planned, district.flats_handed_over) == (4, 3)
    projects = {r.project: r for r in tally(session, by="project", as_of=date(2017, 12, 31))}
    az1 = projects["AZ-1"]
    assert (az1.flats_planned, az1.m2_planned, az1.households_planned) == (100, 11000, 3)
    assert az1.flats_allocated == 4 and az1.township == "新店镇、鼓山镇"


def test_a_past_day_is_tallied_as_it_was_recorded_then(session, base):
    import_households(
        session,
        _roster(base / "r.csv", GOOD_ROSTER),
        actor="t",
        now=datetime(2017, 1, 5, tzinfo=UTC),
    )
    # The list arrives in December, even though its dates lie earlier in the year.
    import_flats(
        session,
        _flats(base / "f.xlsx", GOOD_FLATS),
        actor="t",
        now=datetime(2017, 12, 1, tzinfo=UTC),
    )
    session.flush()
    june = {r.township: r for r in tally(session, by="township", as_of=date(2017, 6, 30))}
    assert june["新店镇"].households_planned == 2 and june["新店镇"].flats_allocated == 0
    december = {r.township: r for r in tally(session, by="township", as_of=date(2017, 12, 5))}
    assert december["新店镇"].flats_handed_over == 2


def test_cli_tally_relocation_by_township_as_json(session, base):
    _loaded(session, base)
    session.commit()
    runner = CliRunner()
    target = "targets set --district 晋安区 --township 鼓山镇 --kind relocation --year 2017"
    set_result = runner.invoke(
        app, [*target.split(), "--households", "2", "--flats", "2", "--m2", "240"]
    )
    assert set_result.exit_code == 0, set_result.output
    result = runner.invoke(
        app,
        [
            "tally",
            "--kind",
            "relocation",
            "--by",
            "township",
            "--format",
            "json",
            "--as-of",
            "2017-12-31",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["township"]: r for r in json.loads(result.output)}
    gs = rows["鼓山镇"]
    assert (gs["households_planned"], gs["households_handed_over"], gs["target_households"]) == (
        2,
        1,
        2,
    )
    assert gs["progress"] == pytest.approx(0.5)
    assert gs["m2_handed_over"] == pytest.approx(121.0) and gs["progress_m2"] == pytest.approx(
        121.0 / 240
    )
    table = runner.invoke(app, ["tally", "--kind", "relocation", "--by", "township"])
    assert table.exit_code == 0 and "新店镇" in table.output


# --- 两逾, 清零 and masking -----------------------------------------------------------------


def test_overdue_lists_for_a_given_day(session, base):
    _loaded(session, base)
    cases = overdue(session, as_of=date(2017, 12, 31))
    found = {(c.household, c.kind): c for c in cases}
    # Promised 30 June without all keys: XD-002 (none); XD-001's second flat came on
    # 10 July, so it is done. GS-002 was promised 30 September. GS-001's certificate was
    # due 31 December, and came on 15 November.
    assert set(found) == {("XD-002", "handover"), ("GS-002", "handover")}
    late = found[("XD-002", "handover")]
    assert late.days_overdue == (date(2017, 12, 31) - date(2017, 6, 30)).days == 184
    assert found[("GS-002", "handover")].days_overdue == 92
    assert [c.household for c in cases] == ["XD-002", "GS-002"]  # most overdue first
    # Allowance from 1 May 2016, 1000 a month, each month begun: May 2016 … December 2017.
    assert late.allowance_paid == 20 * 1000
    assert (late.responsible_unit, late.responsible_person) == ("区住建局", "王丽琴")
    assert late.deadline == date(2017, 12, 31) and late.head_name == "陈*华"
    assert found[("GS-002", "handover")].responsible_unit is None  # AZ-2 has no list
    # XD-001's certificate deadline is 30 June 2018 and flat 1-102 has no title;
    # XD-002's is 30 June 2017 + 365 days (the configured default); GS-002's 30 Sep 2018.
    later = {(c.household, c.kind) for c in overdue(session, as_of=date(2018, 7, 2))}
    assert {k for k in later if k[1] == "title"} == {("XD-001", "title"), ("XD-002", "title")}
    # Before the flat list was recorded (1 December), XD-001 had no keys on record.
    early = {(c.household, c.kind) for c in overdue(session, as_of=date(2017, 11, 30))}
    assert ("XD-001", "handover") in early


def test_allowance_months_are_counted_as_begun():
    assert months_paid(date(2016, 3, 15), date(2016, 3, 15)) == 1
    assert months_paid(date(2016, 3, 15), date(2016, 4, 14)) == 1
    assert months_paid(date(2016, 3, 15), date(2016, 4, 15)) == 2
    assert months_paid(date(2016, 3, 15), date(2016, 3, 1)) == 0


def test_clearance_counts_open_cases_at_the_start_of_the_year_and_now(session, base):
    roster = [line.replace("2017-06-30", "2016-12-01") for line in GOOD_ROSTER]
    import_households(
        session, _roster(base / "r.csv", roster), actor="t", now=datetime(2016, 6, 1, tzinfo=UTC)
    )
    import_flats(
        session,
        _flats(base / "f.xlsx", GOOD_FLATS),
        actor="t",
        now=datetime(2017, 8, 1, tzinfo=UTC),
    )
    session.flush()
    (row,) = clearance(session, year=2017, as_of=date(2017, 8, 31))
    # At the end of 2016: XD-001 and XD-002 promised for 1 Dec 2016, without keys.
    assert (row["open_handover_at_start"], row["open_at_start"]) == (2, 2)
    # On 31 Aug 2017: XD-001 has its keys, XD-002 still not; GS-001 (31 Mar) has its keys.
    assert row["open_handover_now"] == 1 and (row["cleared"], row["opened"]) == (1, 0)
    assert [h["day"] for h in row["history"]][:2] == ["2016-12-31", "2017-01-31"]
    assert row["history"][-1]["handover"] == 1


def test_names_are_masked_unless_the_role_may_see_them(session, base):
    assert [rel.mask_name(n) for n in ("张三", "林志伟", "欧阳娜娜", "王")] == [
        "张*",
        "林*伟",
        "欧**娜",
        "*",
    ]
    import_households(session, _roster(base / "r.csv", GOOD_ROSTER), actor="t")
    masked = {h["ref"]: h for h in rel.list_households(session)}
    assert masked["XD-001"]["head_name"] == "林*伟" and masked["XD-001"]["id_recorded"]
    assert "id_hash" not in masked["XD-001"]
    full = {h["ref"]: h for h in rel.list_households(session, can_see_personal=True)}
    assert full["GS-002"]["head_name"] == "欧阳娜娜"
    xindian = session.scalar(select(Household).where(Household.ref == "XD-001"))
    # A township's officer sees its households' names, not another township's.
    own = {
        h["ref"]: h["head_name"]
        for h in rel.list_households(session, can_see_personal=frozenset({xindian.township_id}))
    }
    assert (own["XD-001"], own["GS-002"]) == ("林志伟", "欧**娜")
    (version,) = rel.history(session, "household", xindian.id)
    assert version["state"]["head_name"] == "林*伟" and "id_hash" not in version["state"]
    assert version["state"]["id_recorded"] is True


def test_project_site_from_a_file_has_its_geodesic_area(session, base):
    site = rectangle(XINDIAN, 2000, 1000, 220, 150, 10)
    path = write(frame([site], code=["site"]), base / "site.zip", CM120E)
    fields = dict(code="AZ-3", name="三期", district="晋安区", townships=["新店镇"], site=path)
    project, outcome = rel.save_project(session, **fields, actor="t")
    assert outcome == "created"
    assert project.site_m2 == pytest.approx(independent_area_m2(site), rel=1e-4)
    _, again = rel.save_project(session, **fields, actor="t")
    assert again == "unchanged"


# --- HTTP API ---------------------------------------------------------------------------


@pytest.fixture
def client(base):
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


def _upload(client, what, path, user="admin_t", **data):
    files = {"file": (path.name, path.read_bytes())}
    return client.post(f"/api/relocation/{what}", files=files, data=data, headers=auth(user))


def test_api_roster_upload_refusal_tally_and_masked_lists(client, base):
    bad = _roster(base / "bad.csv", [GOOD_ROSTER[0].replace("XD-D1", "XD-D9")])
    refused = _upload(client, "households", bad)
    assert refused.status_code == 422
    (problem,) = refused.json()["report"]["problems"]
    assert (problem["file"], problem["row"], problem["rule"]) == ("bad.csv", 2, "unknown_parcel")
    as_csv = _upload(client, "households", bad, report_format="csv")
    assert as_csv.status_code == 422 and "unknown_parcel" in as_csv.text
    assert count_rows("households") == 0
    created = _upload(client, "households", _roster(base / "r.csv", GOOD_ROSTER))
    assert created.status_code == 201 and created.json()["created"] == 5
    assert _upload(client, "flats", _flats(base / "f.xlsx", GOOD_FLATS)).status_code == 201
    admin = auth("admin_t")
    twice = client.post(
        "/api/relocation/projects/AZ-1/flats/1/101/allocate",
        json={"on": "2017-12-02", "household": "GS-002"},
        headers=admin,
    )
    assert twice.status_code == 400 and "already allocated" in twice.json()["detail"]
    keys = client.post(
        "/api/relocation/projects/AZ-1/flats/1/201/handover",
        json={"on": "2017-12-20"},
        headers=auth("officer_xd"),
    )
    assert keys.status_code == 200 and keys.json()["outcome"] == "changed"
    flat = client.get("/api/relocation/households", params={"township": "新店镇"}, headers=admin)
    assert {f["unit"]: f["handed_over_on"] for f in flat.json()[1]["flats"]} == {
        "201": "2017-12-20"
    }
    leader = auth("leader_jinan")
    rows = client.get(
        "/api/relocation/tallies", params={"by": "township", "year": 2018}, headers=leader
    )
    xd = {r["township"]: r for r in rows.json()}["新店镇"]
    assert (xd["households_handed_over"], xd["flats_handed_over"]) == (0, 0)  # a 2018 tally
    rows = client.get(
        "/api/relocation/tallies", params={"by": "township", "year": 2017}, headers=leader
    )
    xd = {r["township"]: r for r in rows.json()}["新店镇"]
    assert (xd["households_handed_over"], xd["flats_handed_over"]) == (2, 3)
    overdue_cases = client.get("/api/relocation/overdue", headers=leader).json()  # end of 2017
    assert {c["household"] for c in overdue_cases} == {"GS-002"}
    assert overdue_cases[0]["head_name"] == "欧**娜"
    listed = client.get(
        "/api/relocation/households", params={"township": "鼓山镇"}, headers=leader
    ).json()
    assert [h["head_name"] for h in listed] == ["郑*东", "欧**娜"]
    clearance_rows = client.get("/api/relocation/clearance", params={"year": 2017}, headers=leader)
    assert clearance_rows.status_code == 200 and clearance_rows.json()[0]["district"] == "晋安区"
    assert client.get("/api/relocation/tallies").status_code == 401


def test_api_writes_need_the_role_and_the_townships(client, base):
    roster = _roster(base / "r.csv", GOOD_ROSTER)
    # A leader changes nothing; an officer of 新店镇 may not bring in 鼓山镇's households.
    assert _upload(client, "households", roster, user="leader_jinan").status_code == 403
    assert _upload(client, "households", roster, user="officer_xd").status_code == 403
    assert count_rows("households") == 0
    own = _roster(base / "xd.csv", GOOD_ROSTER[:3])
    stored = _upload(client, "households", own, user="officer_xd")
    assert stored.status_code == 201 and stored.json()["created"] == 3
    household = client.get(
        "/api/relocation/households", params={"township": "新店镇"}, headers=auth("officer_xd")
    ).json()
    # The officer reads their townships' names in full; a leader does not.
    assert household[0]["head_name"] == "林志伟"
    masked = client.get(
        "/api/relocation/households", params={"township": "新店镇"}, headers=auth("leader_jinan")
    ).json()
    assert masked[0]["head_name"] == "林*伟"
    _upload(client, "households", _roster(base / "gs.csv", GOOD_ROSTER[3:]))
    flats = _upload(client, "flats", _flats(base / "f.xlsx", GOOD_FLATS), user="officer_xd")
    assert flats.status_code == 403  # the list gives flats to 鼓山镇 households too
    assert count_rows("flats") == 0
    with database.session_scope() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action.like("relocation.%")))
        done = {(e.username, e.action, e.outcome) for e in entries}
    assert ("officer_xd", "relocation.households", "ok") in done
    assert ("officer_xd", "relocation.flats", "refused") in done


def test_cli_writes_are_recorded_under_the_acting_user(base):
    roster = _roster(base / "r.csv", GOOD_ROSTER)
    runner = CliRunner()
    refused = runner.invoke(app, ["relocation", "households", str(roster), "--as", "planner"])
    assert refused.exit_code == 2 and "may not" in refused.output
    done = runner.invoke(app, ["relocation", "households", str(roster), "--as", "admin_t"])
    assert done.exit_code == 0, done.output
    with database.session_scope() as s:
        household = s.scalar(select(Household).where(Household.ref == "XD-001"))
        assert household.updated_by == "admin_t"
    names = runner.invoke(
        app, ["relocation", "list", "--township", "新店镇", "--show-names", "--as", "leader_jinan"]
    )
    assert "林*伟" in names.output and "林志伟" not in names.output


def test_a_list_without_date_columns_keeps_the_dates_on_record(session, base):
    _loaded(session, base)
    book = Workbook()
    book.active.append(["安置项目", "楼栋", "房号", "建筑面积"])
    book.active.append(["AZ-1", "1", "101", 118.5])
    book.save(base / "areas.xlsx")
    report = import_flats(session, base / "areas.xlsx", actor="t")
    assert report.unchanged == 1
    flat = session.scalar(select(Flat).where(Flat.building == "1", Flat.unit == "101"))
    assert flat.handed_over_on == date(2017, 5, 20) and flat.household_id is not None


def _ranked(session, period: str, weights) -> dict:
    result = rankings.rank(session, "township", period, "晋安区", weights)
    return {r["unit"]: r for r in result["rows"]}


def test_rankings_score_households_handed_over_against_the_share_of_the_year(session, base):
    _loaded(session, base, when=datetime(2017, 1, 6, tzinfo=UTC))
    set_target(session, district="晋安区", township="新店镇", year=2017, households=4,
               flats=None, m2=None, actor="t")  # fmt: skip
    only = {"land": 0.0, "demolition": 0.0, "relocation": 1.0, "milestones": 0.0}
    q3 = _ranked(session, "2017Q3", only)
    # XD-001's last key came on 10 July: by 30 September 1 of 4 × 9/12 households were due.
    assert q3["新店镇"]["relocation"]["households_handed_over"] == 1
    assert q3["新店镇"]["relocation"]["period_target_households"] == pytest.approx(3)
    assert q3["新店镇"]["score"] == pytest.approx(1 / 3)
    assert q3["新店镇"]["rank"] == 1 and q3["新店镇"]["previous_rank"] == 1
    # 鼓山镇 has no household target, so no relocation figure and no rank on this weight.
    assert q3["鼓山镇"]["relocation"] is None and q3["鼓山镇"]["rank"] is None
    q2 = _ranked(session, "2017Q2", only)
    assert q2["新店镇"]["relocation"]["households_handed_over"] == 0
    assert q2["新店镇"]["score"] == 0


# Keys over the winter: GS-001's in December 2016, XD-001's in March 2017, XD-002's in May.
WINTER_FLATS = [
    ["AZ-1", "1", "101", "120", 118.5, "XD-001", "2016-11-10", "2017-03-01", None],
    ["AZ-1", "1", "102", "90", 89.0, "XD-001", "2016-11-10", "2017-03-10", None],
    ["AZ-1", "1", "201", "90", 91.5, "XD-002", "2016-11-10", "2017-05-20", None],
    ["AZ-1", "2", "101", "120", 121.0, "GS-001", "2016-11-10", "2016-12-20", "2017-02-10"],
]


def test_a_campaign_across_the_new_year_counts_relocation_over_its_days(session, base):
    """冬春攻坚 (November 2016 – April 2017) counts the keys of December 2016 and of March
    2017, not May's, against its own relocation target (set for the campaign on the command
    line), in the tally, the rankings (its days' share as the plan) and the workbook; the
    year's target, set beside it, stays 2016年百日攻坚's (same year, none of its own)."""
    from geo_service.campaign import campaigns

    _loaded(session, base, flats=WINTER_FLATS, when=datetime(2017, 1, 6, tzinfo=UTC))
    campaigns.create_campaign(
        session, name="冬春攻坚", first_day=date(2016, 11, 1), last_day=date(2017, 4, 30),
        actor="t",
    )  # fmt: skip
    session.commit()
    target = ["targets", "set", "--district", "晋安区", "--township", "新店镇", "--kind",
              "relocation", "--campaign", "冬春攻坚", "--households", "4",
              "--as", "admin_t"]  # fmt: skip
    done = CliRunner().invoke(app, target)
    assert done.exit_code == 0 and "relocation 冬春攻坚: 4 households" in done.output, done.output
    campaigns.create_campaign(
        session, name="2016年百日攻坚", first_day=date(2016, 9, 1), last_day=date(2016, 12, 9),
        actor="t",
    )  # fmt: skip
    set_target(session, district="晋安区", township="新店镇", year=2016, households=9,
               flats=None, m2=None, actor="t")  # fmt: skip
    session.commit()
    hundred = {r.township: r for r in tally(session, by="township", campaign="2016年百日攻坚")}
    assert hundred["新店镇"].target_households == 9
    with TestClient(shared_app()) as client:
        for name, expected in (("冬春攻坚", 4), ("2016年百日攻坚", 9)):
            answer = client.get("/api/relocation/tallies", params={"campaign": name},
                                headers=auth("leader_city"))  # fmt: skip
            row = next(r for r in answer.json() if r["township"] == "新店镇")
            assert row["target_households"] == expected, (name, row)
    # Set again for the campaign: its own target changes, the year's stays.
    CliRunner().invoke(app, [*target[:-4], "--households", "5", "--as", "admin_t"])
    again = {r.township: r for r in tally(session, by="township", campaign="冬春攻坚")}
    assert again["新店镇"].target_households == 5
    assert count_rows("relocation_targets") == 2
    changed = session.execute(
        text("SELECT details FROM audit_log WHERE action = 'relocation.target' ORDER BY id DESC")
    ).scalars().first()  # fmt: skip
    assert (changed["campaign"], changed["households"]) == ("冬春攻坚", 5)
    assert changed["before"]["households"] == 4  # the audit leaves out what is None
    CliRunner().invoke(app, [*target[:-4], "--households", "4", "--as", "admin_t"])
    rows = {r.township: r for r in tally(session, by="township", campaign="冬春攻坚")}
    xd, gs = rows["新店镇"], rows["鼓山镇"]
    assert (xd.households_handed_over, xd.flats_handed_over, xd.target_households) == (1, 2, 4)
    assert (gs.households_handed_over, gs.households_certified) == (1, 1)
    # The calendar years each see their own part only.
    by_year = {r.township: r for r in tally(session, by="township", year=2017)}
    assert (by_year["新店镇"].flats_handed_over, by_year["鼓山镇"].flats_handed_over) == (3, 0)
    only = {"land": 0.0, "demolition": 0.0, "relocation": 1.0, "milestones": 0.0}
    ranked = rankings.rank(session, "township", "2017Q1", "晋安区", only, campaign="冬春攻坚")
    xindian = next(r for r in ranked["rows"] if r["unit"] == "新店镇")["relocation"]
    share = (date(2017, 3, 31) - date(2016, 11, 1)).days + 1
    assert xindian["households_handed_over"] == 1
    assert xindian["period_target_households"] == pytest.approx(4 * share / 181, abs=0.01)
    export = exports.tally_export(session, by="township", campaign="冬春攻坚")
    sheet = {r["township"]: r for r in export.relocation}
    assert (sheet["新店镇"]["flats_handed_over"], sheet["鼓山镇"]["flats_handed_over"]) == (2, 1)


def test_the_tally_workbook_has_a_relocation_sheet_with_the_tally_rows(session, base):
    _loaded(session, base)
    export = exports.tally_export(session, by="township", as_of=date(2017, 12, 31))
    book = load_workbook(io.BytesIO(exports.tallies_xlsx(export)))
    values = list(book["回迁"].iter_rows(values_only=True))
    rows = {row[1]: dict(zip(values[0], row, strict=True)) for row in values[1:]}
    xd = rows["新店镇"]
    assert (xd["应安置户数"], xd["已分配户数"], xd["已交房户数"], xd["已办证户数"]) == (2, 2, 1, 0)
    assert (xd["应安置套数"], xd["已交房套数"], xd["已办证套数"]) == (3, 2, 1)
    assert xd["已交房面积(平方米)"] == pytest.approx(118.5 + 89.0)
    assert rows["鼓山镇"]["已办证户数"] == 1
    assert xd["回迁核验户数"] == 0  # none signed off


def test_the_relocation_map_data_is_rfc_7946(client, base, session):
    _loaded(session, base)
    found = client.get("/maps/relocation/data.json", headers=auth("leader_jinan")).json()
    shapes = [f["geometry"] for f in found["townships"]["features"]]
    assert len(shapes) == 9 and all("crs" not in g for g in shapes)
    exterior = (
        shapely.geometry.shape(shapes[0]).geoms[0]
        if shapes[0]["type"] == "MultiPolygon"
        else shapely.geometry.shape(shapes[0])
    )
    assert exterior.exterior.is_ccw  # counter-clockwise exteriors


# --- sign-off by 回迁核验组 ----------------------------------------------------------------

SIGNED = datetime(2017, 12, 10, 2, tzinfo=UTC)  # 10:00 in Fuzhou
DISPUTED = datetime(2017, 12, 20, 2, tzinfo=UTC)


def _as(session, username):
    from geo_service.accounts.users import acting_user

    return acting_user(session, username, source="test")


def test_a_household_is_signed_off_only_once_every_flat_is_handed_over(session, base):
    from geo_service.relocation import actions

    _loaded(session, base)
    who = _as(session, "relocation_all")
    with pytest.raises(InvalidInput, match=r"not every flat is handed over .*1-201"):
        actions.sign_off(session, who, "XD-002", date(2017, 12, 10), now=SIGNED)
    with pytest.raises(InvalidInput, match="cash compensation"):
        actions.sign_off(session, who, "XD-003", date(2017, 12, 10), now=SIGNED)
    # XD-001's second flat has its keys on 10 July: not signed off before.
    with pytest.raises(InvalidInput, match="by 2017-07-01"):
        actions.sign_off(session, who, "XD-001", date(2017, 7, 1), now=SIGNED)
    with pytest.raises(InvalidInput, match="after today"):
        actions.sign_off(session, who, "XD-001", date(2999, 1, 1), now=SIGNED)
    done = actions.sign_off(session, who, "XD-001", date(2017, 12, 10), "核验通过", now=SIGNED)
    assert (done["signoff"], done["signed_off_by"], done["group"]) == (
        "verified",
        "relocation_all",
        "回迁核验组",
    )
    with pytest.raises(InvalidInput, match="already signed off by relocation_all"):
        actions.sign_off(session, who, "XD-001", date(2017, 12, 11), now=SIGNED)
    # A household with fewer flats than due is refused too.
    session.execute(Flat.__table__.update().where(Flat.unit == "101", Flat.building == "2")
                    .values(household_id=None))  # fmt: skip
    with pytest.raises(InvalidInput, match="holds 0 of the 1 flat"):
        actions.sign_off(session, who, "GS-001", date(2017, 12, 10), now=SIGNED)


def test_dispute_needs_a_reason_and_a_sign_off_and_the_history_is_tallied_as_of(session, base):
    from geo_service.relocation import actions

    _loaded(session, base)
    who = _as(session, "relocation_xd")
    with pytest.raises(InvalidInput, match="not signed off"):
        actions.dispute(session, who, "XD-001", "面积不符", now=SIGNED)
    actions.sign_off(session, who, "XD-001", date(2017, 12, 10), "核验通过", now=SIGNED)
    with pytest.raises(InvalidInput, match="needs a reason"):
        actions.dispute(session, who, "XD-001", "  ", now=DISPUTED)
    disputed = actions.dispute(session, who, "XD-001", "安置面积与协议不符", now=DISPUTED)
    assert disputed["signoff"] == "disputed" and disputed["dispute_reason"] == "安置面积与协议不符"
    session.commit()

    def verified(day, by="township"):
        return {(r.township or r.district): r.households_verified
                for r in tally(session, by=by, as_of=day)}  # fmt: skip

    assert verified(date(2017, 12, 9))["新店镇"] == 0
    assert verified(date(2017, 12, 15)) == {"新店镇": 1, "鼓山镇": 0}
    assert verified(date(2017, 12, 15), by="district") == {"晋安区": 1}
    projects = {r.project: r.households_verified
                for r in tally(session, by="project", as_of=date(2017, 12, 15))}  # fmt: skip
    assert projects == {"AZ-1": 1, "AZ-2": 0}
    assert verified(date(2017, 12, 31))["新店镇"] == 0  # disputed on the 20th
    # Signed off again after the dispute is settled, and counted from then on.
    actions.sign_off(session, who, "XD-001", date(2017, 12, 28), "复核通过",
                     now=datetime(2017, 12, 28, 2, tzinfo=UTC))  # fmt: skip
    assert verified(date(2017, 12, 31))["新店镇"] == 1
    steps = rel.history(session, "household", rel.find_household(session, "XD-001").id)
    assert [(s["change"], s["changed_by"], s["note"]) for s in steps[-3:]] == [
        ("verified", "relocation_xd", "核验通过"),
        ("disputed", "relocation_xd", "安置面积与协议不符"),
        ("verified", "relocation_xd", "复核通过"),
    ]
    assert steps[-2]["before"]["signoff"] == "verified"
    assert steps[-1]["state"]["signed_off_on"] == "2017-12-28"
    session.commit()
    with database.session_scope() as s:
        actions_done = s.scalars(
            select(AuditEntry.action).where(AuditEntry.username == "relocation_xd")
        ).all()
    assert sorted(actions_done) == ["relocation.dispute", "relocation.verify", "relocation.verify"]


def test_four_eyes_keeps_whoever_handed_the_flats_over_from_signing_off(session, base):
    from geo_service.errors import Forbidden
    from geo_service.relocation import actions
    from geo_service.units import find_district

    _loaded(session, base)
    flat = rel.find_flat(session, "AZ-1", "1", "201")
    rel.hand_over(session, flat, date(2017, 12, 5), "relocation_xd",
                  now=datetime(2017, 12, 5, tzinfo=UTC))  # fmt: skip
    find_district(session, "晋安区").four_eyes = True
    session.commit()
    try:
        with pytest.raises(Forbidden, match="four eyes"):
            actions.sign_off(session, _as(session, "relocation_xd"), "XD-002",
                             date(2017, 12, 10), now=SIGNED)  # fmt: skip
        session.rollback()
        done = actions.sign_off(session, _as(session, "relocation_all"), "XD-002",
                                date(2017, 12, 10), now=SIGNED)  # fmt: skip
        assert done["signed_off_by"] == "relocation_all"
    finally:
        session.rollback()
        find_district(session, "晋安区").four_eyes = False
        session.commit()


@pytest.mark.parametrize(
    "user, ref, allowed",
    [
        (None, "XD-001", False),
        ("leader_jinan", "XD-001", False),
        ("planner", "XD-001", False),
        ("admin_t", "XD-001", False),
        ("officer_xd", "XD-001", False),  # officers never sign off
        ("land_xd", "XD-001", False),  # the land group signs parcels, not households
        ("relocation_xd", "GS-001", False),  # not one of its townships
        ("relocation_xd", "XD-001", True),
        ("relocation_all", "GS-001", True),
    ],
)
def test_api_sign_off_by_role_group_and_township(client, base, user, ref, allowed):
    with database.session_scope() as s:
        _loaded(s, base)
    before = count_rows("relocation_versions")
    body = {"on": "2017-12-10", "note": "核验通过", "verifier": "冒名者", "group": "土地核验组"}
    response = client.post(f"/api/relocation/households/{ref}/verify", json=body,
                           headers=auth(user) if user else {})  # fmt: skip
    if not allowed:
        assert response.status_code == (401 if user is None else 403), response.text
        assert count_rows("relocation_versions") == before
        return
    assert response.status_code == 200, response.text
    found = response.json()
    assert (found["signed_off_by"], found["group"], found["changed_by"]) == (
        user,
        "回迁核验组",
        user,
    )
    assert count_rows("relocation_versions") == before + 1
    listed = client.get("/api/relocation/households", headers=auth("leader_jinan")).json()
    assert {h["ref"]: h["signoff"] for h in listed}[ref] == "verified"
    rows = client.get("/api/relocation/tallies", params={"by": "district", "year": 2026},
                      headers=auth("leader_jinan")).json()  # fmt: skip
    assert rows[0]["households_verified"] == 0  # signed off on a 2017 day
    rows = client.get("/api/relocation/tallies", params={"by": "district", "year": 2017},
                      headers=auth("leader_jinan")).json()  # fmt: skip
    assert rows[0]["households_verified"] == 1
    # Disputes: a reason is required; the dispute is recorded under the verifier's name.
    url = f"/api/relocation/households/{ref}/dispute"
    assert client.post(url, json={"reason": ""}, headers=auth(user)).status_code == 422
    assert client.post(url, json={"reason": "x"}, headers=auth("officer_xd")).status_code == 403
    disputed = client.post(url, json={"reason": "面积不符"}, headers=auth(user))
    assert disputed.status_code == 200, disputed.text
    assert (disputed.json()["signoff"], disputed.json()["changed_by"]) == ("disputed", user)
    twice = client.post(url, json={"reason": "面积不符"}, headers=auth(user))
    assert twice.status_code == 400 and "not signed off" in twice.json()["detail"]


def test_api_sign_off_of_an_unknown_household_or_before_the_keys(client, base):
    with database.session_scope() as s:
        _loaded(s, base)
    headers = auth("relocation_all")
    missing = client.post("/api/relocation/households/XX-9/verify", json={}, headers=headers)
    assert missing.status_code == 404
    waiting = client.post("/api/relocation/households/XD-002/verify", json={}, headers=headers)
    assert waiting.status_code == 400 and "not every flat is handed over" in waiting.text


def test_cli_sign_off_and_dispute_as_a_relocation_verifier(base):
    with database.session_scope() as s:
        _loaded(s, base)
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "回迁核验员", "--role", "verifier", "--group",
                                "回迁核验组", "--township", "新店镇", "--password",
                                "temporary-123"])  # fmt: skip
    assert added.exit_code == 0, added.output
    refused = runner.invoke(app, ["relocation", "verify", "XD-001", "--as", "officer_xd"])
    assert refused.exit_code != 0 and "may not sign off" in refused.output
    nobody = runner.invoke(app, ["relocation", "verify", "XD-001"])
    assert nobody.exit_code != 0 and "--as USER" in nobody.output
    done = runner.invoke(
        app, ["relocation", "verify", "XD-001", "--on", "2017-12-10", "--as", "回迁核验员"]
    )
    assert done.exit_code == 0, done.output
    assert "signed off by 回迁核验员 (回迁核验组) on 2017-12-10" in done.output

    def verified():
        args = ["tally", "--kind", "relocation", "--by", "township", "--year", "2017"]
        tallied = runner.invoke(app, [*args, "--format", "json"])
        assert tallied.exit_code == 0, tallied.output
        return {r["township"]: r for r in json.loads(tallied.output)}["新店镇"][
            "households_verified"
        ]

    assert verified() == 1
    disputed = runner.invoke(
        app, ["relocation", "dispute", "XD-001", "--reason", "面积不符", "--as", "回迁核验员"]
    )
    assert disputed.exit_code == 0 and "disputed by 回迁核验员: 面积不符" in disputed.output
    assert verified() == 0
