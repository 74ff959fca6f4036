"""The day a change happened in the field (核验日期) and the moment it was entered (录入时间):
a back-dated sign-off through the API, the CLI, the page and a file column; future days
and days beyond the back-dating window refused; the history shows both; a past day's
tally counts the sign-off on its field day."""

from datetime import date, datetime, timedelta

import pytest
from conftest import auth, shared_app, signed_in_page, with_user
from fastapi.testclient import TestClient
from parcelfiles import CM120E, XINDIAN, frame, rectangle, write
from sqlalchemy import select
from typer.testing import CliRunner

from geo_service import actions
from geo_service.accounts.users import acting_user
from geo_service.campaign.tallies import tally
from geo_service.cli import app
from geo_service.database import session_scope
from geo_service.errors import UploadRefused
from geo_service.models import Parcel
from geo_service.parcels.uploads import ImportOptions, import_file, upload_options
from geo_service.parcels.workflow import history, set_status
from geo_service.periods import CHINA
from geo_service.settings import get_settings

PARCEL = rectangle(XINDIAN, 300, 300, 200, 120, angle_deg=7)
runner = CliRunner()


def _today() -> date:
    return datetime.now(CHINA).date()


def _field_day() -> date:
    """Five days back, with the day two after it in the same year (a tally is for a year)."""
    day = _today() - timedelta(days=5)
    return day if (day + timedelta(days=2)).year == day.year else day - timedelta(days=3)


def _day_of(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(CHINA).date()


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA)


@pytest.fixture
def delivered(db, tmp_path) -> int:
    """A land parcel of 新店镇 surveyed three weeks ago and delivered 18 days ago."""
    start = _field_day() - timedelta(days=15)
    path = write(frame([PARCEL], code=["FD-001"]), tmp_path / "fd.gpkg", CM120E, "GPKG")
    with session_scope() as session:
        options = ImportOptions(kind="land", township="新店镇", actor="测绘队",
                                recorded_at=_at(start))  # fmt: skip
        import_file(session, path, options)
        parcel = session.scalar(select(Parcel).where(Parcel.code == "FD-001"))
        for days, to in ((1, "in_progress"), (2, "delivered")):
            set_status(session, parcel, to, "区征迁办", now=_at(start + timedelta(days=days)))
        return parcel.id


def _verified_m2(day: date) -> float:
    with session_scope() as session:
        rows = tally(session, by="township", kind="land", as_of=day)
    return sum(r.verified_m2 for r in rows if r.township == "新店镇")


@pytest.fixture
def api():
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        yield client


def test_api_back_dated_sign_off_counts_on_its_field_day(api, delivered):
    day = _field_day()
    r = api.post(f"/api/parcels/{delivered}/verify", json={"field_day": day.isoformat()},
                 headers=auth("land_all"))  # fmt: skip
    assert r.status_code == 200, r.text
    done = r.json()
    assert _day_of(done["verified_at"]) == day and _day_of(done["recorded_at"]) == _today()
    area = done["verified_area_m2"]
    # Recorded five days later, it counts on its field day: as of two days after it, yes;
    # as of the day before, no.
    assert _verified_m2(day + timedelta(days=2)) == pytest.approx(area)
    assert _verified_m2(day - timedelta(days=1)) == 0
    steps = api.get(f"/api/parcels/{delivered}/history", headers=auth("land_all")).json()
    last = steps[-1]
    assert _day_of(last["valid_from"]) == day and _day_of(last["recorded_at"]) == _today()
    assert last["recorded_by"] == "land_all"
    # Versions written before the field day existed read as entered when they happened.
    first = steps[0]
    assert first["recorded_at"] == first["valid_from"] and first["recorded_by"] == "测绘队"


def test_api_refuses_future_days_and_days_beyond_the_window(api, delivered):
    window = get_settings().backdate_window_days
    tomorrow = (_today() + timedelta(days=1)).isoformat()
    r = api.post(f"/api/parcels/{delivered}/verify", json={"field_day": tomorrow},
                 headers=auth("land_all"))  # fmt: skip
    assert r.status_code == 400 and "in the future" in r.text, r.text
    old = (_today() - timedelta(days=window + 1)).isoformat()
    r = api.post(f"/api/parcels/{delivered}/status", json={"status": "in_progress",
                 "on": old}, headers=auth("land_all"))  # fmt: skip
    assert r.status_code == 403, r.text
    assert f"back-dating window of {window} days" in r.json()["detail"]
    r = api.post(f"/api/parcels/{delivered}/verify", json={"field_day": "28 June"},
                 headers=auth("land_all"))  # fmt: skip
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    with session_scope() as session:
        assert session.get(Parcel, delivered).status == "delivered"


def test_cli_on_dates_the_change(delivered):
    def run(*args):
        return runner.invoke(app, with_user(["verify", "FD-001", "--township", "新店镇", *args]))

    future = run("--on", (_today() + timedelta(days=2)).isoformat())
    assert future.exit_code != 0 and "in the future" in future.output
    old = run(
        "--on", (_today() - timedelta(days=get_settings().backdate_window_days + 9)).isoformat()
    )
    assert old.exit_code != 0 and "back-dating window" in old.output
    day = _field_day()
    done = run("--on", f"{day.isoformat()}T15:30")
    assert done.exit_code == 0, done.output
    assert f"happened {day.isoformat()} 15:30" in done.stdout
    with session_scope() as session:
        parcel = session.get(Parcel, delivered)
        assert parcel.verified_at == _at(day, 15).replace(minute=30)
        assert parcel.verification_recorded_at.astimezone(CHINA).date() == _today()
        assert parcel.verification_recorded_by == "land_all"


def test_page_takes_the_field_day_and_shows_both_times(delivered):
    page = signed_in_page("land_all")
    act = f"/parcels/{delivered}/act"
    origin = {"Origin": "http://testserver"}
    form = page.get(f"/parcels/%23{delivered}")
    assert f'name="field_day" value="{_today().isoformat()}"' in form.text
    future = (_today() + timedelta(days=1)).isoformat()
    english = {**origin, "Accept-Language": "en"}
    refused = page.post(act, data={"action": "verify", "field_day": future}, headers=english)
    assert refused.status_code == 400 and "in the future" in refused.text
    day = _field_day()
    done = page.post(act, data={"action": "verify", "field_day": day.isoformat()},
                     headers=origin, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text
    shown = page.get(f"/parcels/%23{delivered}", headers={"Accept-Language": "zh-CN"}).text
    assert "核验日期" in shown and "录入时间" in shown and "录入人" in shown
    table = shown[shown.index('id="history"') :]
    row = table[table.index(f"{day.isoformat()} 00:00") :].split("</tr>")[0]
    assert _today().isoformat() in row and "land_all" in row


def test_file_column_dates_each_sign_off(db, tmp_path):
    day, window = _field_day(), get_settings().backdate_window_days
    days = {
        "FD-1": day.isoformat(),
        "FD-2": (_today() + timedelta(days=3)).isoformat(),
        "FD-3": (_today() - timedelta(days=window + 5)).isoformat(),
    }
    shapes = [rectangle(XINDIAN, 300 * i, 900, 150, 100) for i in range(3)]
    layer = frame(shapes, code=list(days), status=["verified"] * 3, 核验日期=list(days.values()))
    path = write(layer, tmp_path / "signed.gpkg", CM120E, "GPKG")
    with session_scope() as session:
        who = acting_user(session, "land_all")
        with pytest.raises(UploadRefused) as refused:
            actions.upload(session, who, path, upload_options("land", "新店镇"))
    rules = {p.code: p.rule for p in refused.value.report.problems if p.severity == "error"}
    assert rules == {"FD-2": "field_day_future", "FD-3": "field_day_window"}
    ok = write(layer.iloc[:1], tmp_path / "one.gpkg", CM120E, "GPKG")
    with session_scope() as session:
        actions.upload(session, acting_user(session, "land_all"), ok,
                       upload_options("land", "新店镇"))  # fmt: skip
    with session_scope() as session:
        parcel = session.scalar(select(Parcel).where(Parcel.code == "FD-1"))
        assert parcel.verified_at.astimezone(CHINA).date() == day
        assert parcel.verification_recorded_at.astimezone(CHINA).date() == _today()
        (only,) = history(session, parcel)
        assert _day_of(only["valid_from"]) == day and _day_of(only["recorded_at"]) == _today()


def test_a_demolition_file_may_say_demolished_and_a_land_file_may_not(db, tmp_path):
    shapes = [rectangle(XINDIAN, 300 * i, -900, 150, 100) for i in range(2)]
    layer = frame(shapes, code=["DM-1", "DM-2"], status=["demolished", "delivered"])
    path = write(layer, tmp_path / "blocks.gpkg", CM120E, "GPKG")
    with session_scope() as session:
        checked = import_file(session, path, ImportOptions("demolition", "新店镇", dry_run=True))
        assert checked.accepted and checked.parcels == 2
        with pytest.raises(UploadRefused) as refused:
            import_file(session, path, ImportOptions("land", "新店镇", dry_run=True))
    (problem,) = refused.value.report.problems
    assert problem.rule == "unknown_status" and problem.code == "DM-1"


def _latest(parcel_id: int) -> dict:
    with session_scope() as session:
        return history(session, session.get(Parcel, parcel_id))[-1]


def test_api_withdrawal_takes_the_field_day_under_the_same_rules(api, delivered):
    window = get_settings().backdate_window_days
    url = f"/api/parcels/{delivered}/withdraw"
    tomorrow = (_today() + timedelta(days=1)).isoformat()
    r = api.post(url, json={"reason": "重复登记", "field_day": tomorrow},
                 headers=auth("land_all"))  # fmt: skip
    assert r.status_code == 400 and "in the future" in r.text, r.text
    old = (_today() - timedelta(days=window + 1)).isoformat()
    r = api.post(url, json={"reason": "重复登记", "on": old}, headers=auth("land_all"))
    assert r.status_code == 403 and f"back-dating window of {window} days" in r.text, r.text
    with session_scope() as session:
        assert session.get(Parcel, delivered).status == "delivered"
    day = _field_day()
    r = api.post(url, json={"reason": "重复登记", "field_day": day.isoformat()},
                 headers=auth("land_all"))  # fmt: skip
    assert r.status_code == 200, r.text
    with session_scope() as session:
        parcel = session.get(Parcel, delivered)
        assert parcel.status == "withdrawn"
        assert parcel.withdrawn_at.astimezone(CHINA).date() == day
    last = _latest(delivered)
    assert _day_of(last["valid_from"]) == day and _day_of(last["recorded_at"]) == _today()
    assert last["recorded_by"] == "land_all"


def test_page_withdrawal_takes_the_field_day(delivered):
    page = signed_in_page("land_all")
    act = f"/parcels/{delivered}/act"
    origin = {"Origin": "http://testserver"}
    form = page.get(f"/parcels/%23{delivered}").text
    assert 'name="action" value="withdraw"' in form
    future = (_today() + timedelta(days=1)).isoformat()
    data = {"action": "withdraw", "note": "重复登记", "field_day": future}
    refused = page.post(act, data=data, headers=origin)
    # The page says it in the reader's language: Chinese by default.
    assert refused.status_code == 400 and f"核验日期 {future} 在未来" in refused.text
    day = _field_day()
    done = page.post(act, data={**data, "field_day": day.isoformat()}, headers=origin)
    assert done.status_code == 200 and "已撤销" in done.text, done.text
    last = _latest(delivered)
    assert last["status"] == "withdrawn" and _day_of(last["valid_from"]) == day
    assert _day_of(last["recorded_at"]) == _today() and last["recorded_by"] == "land_all"
    # Officers do not withdraw: the page does not offer it.
    assert (
        'value="withdraw"' not in signed_in_page("officer_all").get(f"/parcels/%23{delivered}").text
    )


def test_cli_withdraw_on_and_an_admin_beyond_the_window(delivered, monkeypatch):
    def run(*args, as_user="land_all"):
        command = ["withdraw", "FD-001", "--township", "新店镇", "--reason", "重复登记", *args]
        return runner.invoke(app, with_user(command, as_user))

    future = run("--on", (_today() + timedelta(days=1)).isoformat())
    assert future.exit_code != 0 and "in the future" in future.output
    # The parcel was delivered 18 days ago: an admin's day beyond the window must still
    # come after that, so the window is narrowed to 10 days.
    monkeypatch.setattr(get_settings(), "backdate_window_days", 10)
    old = _today() - timedelta(days=12)
    refused = run("--on", old.isoformat())
    assert refused.exit_code != 0 and "back-dating window of 10 days" in refused.output
    done = run("--on", old.isoformat(), as_user="admin_t")
    assert done.exit_code == 0, done.output
    assert f"happened {old.isoformat()}" in done.stdout
    last = _latest(delivered)
    assert _day_of(last["valid_from"]) == old and last["recorded_by"] == "admin_t"


def test_page_bulk_move_takes_one_field_day_for_all(db, tmp_path):
    start = _field_day() - timedelta(days=15)
    shapes = [PARCEL, rectangle(XINDIAN, 700, 300, 200, 120)]
    path = write(frame(shapes, code=["FD-011", "FD-012"]), tmp_path / "two.gpkg", CM120E, "GPKG")
    with session_scope() as session:
        options = ImportOptions(kind="land", township="新店镇", actor="测绘队",
                                recorded_at=_at(start))  # fmt: skip
        import_file(session, path, options)
        parcels = session.scalars(select(Parcel).order_by(Parcel.code)).all()
        for parcel in parcels:
            set_status(session, parcel, "in_progress", "区征迁办", now=_at(start))
        ids = [p.id for p in parcels]
    page = signed_in_page("officer_all")
    origin = {"Origin": "http://testserver"}
    listed = page.get("/parcels")
    assert f'name="field_day" value="{_today().isoformat()}"' in listed.text
    window = get_settings().backdate_window_days

    def move(day: date):
        data = {"ids": ids, "to": "delivered", "note": "交地确认书已签", "field_day": day}
        return page.post("/parcels", data=data, headers=origin)

    future = move(_today() + timedelta(days=1))
    assert future.status_code == 400 and "在未来" in future.text
    old = move(_today() - timedelta(days=window + 1))
    assert old.status_code == 403 and f"超过了 {window} 天的补录期限" in old.text
    with session_scope() as session:
        assert {session.get(Parcel, i).status for i in ids} == {"in_progress"}
    day = _field_day()
    done = move(day)
    assert done.status_code == 200, done.text
    for parcel_id in ids:
        last = _latest(parcel_id)
        assert last["status"] == "delivered" and last["recorded_by"] == "officer_all"
        assert _day_of(last["valid_from"]) == day and _day_of(last["recorded_at"]) == _today()
