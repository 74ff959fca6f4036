"""Issue 20, items 1 and 2: one sign-off rule on every path (the form, the API, the pages,
the CLI and a file's own status column), and parcels credited where they lie."""

import json
import re

import pytest
from conftest import auth, count_rows, shared_app, signed_in_page
from fastapi.testclient import TestClient
from parcelfiles import GUSHAN, XINDIAN, frame, rectangle, write
from sqlalchemy import text
from typer.testing import CliRunner

from geo_service import database
from geo_service.cli import app as cli
from geo_service.database import session_scope
from geo_service.models import Parcel

ORIGIN = {"Origin": "http://testserver"}
runner = CliRunner()


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


def _file(tmp_path, shapes, codes, name="survey.geojson", **columns):
    return write(frame(shapes, code=codes, **columns), tmp_path / name, 4326, "GeoJSON")


def _says_verified(tmp_path, code="JA-XD-L-0007", where=XINDIAN):
    """A file whose own status column signs its parcel off; the form names no status."""
    return _file(tmp_path, [rectangle(where, 0, 0, 120, 80)], [code], status=["verified"])


def _post(client, path, user, **form):
    data = {"kind": "land", "township": "新店镇", **form}
    return client.post(
        "/api/uploads",
        files={"file": (path.name, path.read_bytes())},
        data=data,
        headers=auth(user),
    )


def _written() -> tuple[int, ...]:
    return tuple(count_rows(t) for t in ("parcels", "parcel_versions", "uploads"))


def _problems(response, rule):
    return [p for p in response.json()["report"]["problems"] if p["rule"] == rule]


def _parcel(code) -> Parcel:
    with session_scope() as s:
        parcel = s.query(Parcel).filter_by(code=code).one()
        s.expunge(parcel)
        return parcel


def _delivered(client, tmp_path, user="officer_xd", code="JA-XD-L-0007") -> int:
    """A parcel uploaded planned and moved to delivered by `user` through the API."""
    path = _file(tmp_path, [rectangle(XINDIAN, 0, 0, 120, 80)], [code], name="first.geojson")
    assert _post(client, path, user, status="planned").status_code == 201
    pid = _parcel(code).id
    for to in ("in_progress", "delivered"):
        moved = client.post(f"/api/parcels/{pid}/status", json={"status": to}, headers=auth(user))
        assert moved.status_code == 200, moved.text
    return pid


# --- an officer's file that says "verified" ------------------------------------------------


def test_an_officers_file_saying_verified_is_refused_through_the_api(client, tmp_path):
    before = _written()
    response = _post(client, _says_verified(tmp_path), "officer_xd")
    assert response.status_code in (403, 422), response.text
    assert _written() == before
    (problem,) = _problems(response, "signoff")
    assert (problem["feature"], problem["code"], problem["severity"]) == (
        1, "JA-XD-L-0007", "error",
    )  # fmt: skip
    assert "officer_xd" in problem["message"] and "土地核验组" in problem["message"]
    # the dry run shows the same problem
    dry = _post(client, _says_verified(tmp_path), "officer_xd", dry_run="true")
    assert [p["message"] for p in _problems(dry, "signoff")] == [problem["message"]]


def test_an_officers_file_cannot_verify_a_delivered_parcel(client, tmp_path):
    pid = _delivered(client, tmp_path)
    before = _written()
    response = _post(client, _says_verified(tmp_path), "officer_xd")
    assert response.status_code == 422, response.text
    assert _problems(response, "signoff")
    assert _written() == before
    parcel = _parcel("JA-XD-L-0007")
    assert (parcel.id, parcel.status, parcel.verified_by) == (pid, "delivered", None)


def test_the_whole_file_is_refused_even_when_only_valid_features_are_asked_for(client, tmp_path):
    shapes = [rectangle(XINDIAN, 0, 0, 120, 80), rectangle(XINDIAN, 400, 0, 120, 80)]
    path = _file(tmp_path, shapes, ["OK-1", "SIGN-2"], status=["delivered", "verified"])
    before = _written()
    response = _post(client, path, "officer_xd", accept_valid="true", store_reason="其余待改正")
    assert response.status_code == 422, response.text
    assert [(p["feature"], p["code"]) for p in _problems(response, "signoff")] == [(2, "SIGN-2")]
    assert _written() == before


def _page_check(page, path, **form):
    data = {"kind": "land", "township": "新店镇", **form}
    files = {"file": (path.name, path.read_bytes())}
    checked = page.post(
        "/uploads/check", data=data, files=files, headers=ORIGIN, follow_redirects=False
    )
    assert checked.status_code == 303, checked.text
    location = checked.headers["location"]
    return location.rsplit("/", 1)[1], page.get(location)


def test_an_officers_file_saying_verified_is_refused_on_the_pages(db, tmp_path):
    page = signed_in_page("officer_xd")
    token, report = _page_check(page, _says_verified(tmp_path))
    assert "JA-XD-L-0007" in report.text and "核验" in report.text
    assert 'id="store-button"' not in report.text
    before = _written()
    stored = page.post("/uploads/store", data={"token": token, "mode": "all"}, headers=ORIGIN,
                       follow_redirects=False)  # fmt: skip
    assert 400 <= stored.status_code < 500
    assert _written() == before


def test_an_officers_file_saying_verified_is_refused_by_the_cli(db, tmp_path):
    path = _says_verified(tmp_path)
    before = _written()
    args = ["import", str(path), "--kind", "land", "--township", "新店镇", "--as", "officer_xd"]
    result = runner.invoke(cli, args)
    assert result.exit_code != 0, result.output
    assert "JA-XD-L-0007" in result.output and "signoff" in result.output
    assert _written() == before


# --- four eyes ------------------------------------------------------------------------------


def test_four_eyes_holds_for_an_upload_as_for_the_verify_api(client, tmp_path):
    pid = _delivered(client, tmp_path, user="land_xd")
    assert runner.invoke(cli, ["users", "four-eyes", "晋安区", "--on"]).exit_code == 0
    try:
        refused = client.post(f"/api/parcels/{pid}/verify", json={}, headers=auth("land_xd"))
        assert refused.status_code == 403 and "four eyes" in refused.json()["detail"]
        before = _written()
        path = _file(tmp_path, [rectangle(XINDIAN, 0, 0, 120, 80)], ["JA-XD-L-0007"])
        response = _post(client, path, "land_xd", status="verified")
        assert response.status_code == 422, response.text
        (problem,) = _problems(response, "signoff")
        assert "four eyes" in problem["message"] and problem["code"] == "JA-XD-L-0007"
        assert _written() == before
        assert _parcel("JA-XD-L-0007").status == "delivered"
        # a new parcel in the file is the uploader's own too
        fresh = _says_verified(tmp_path, code="NEW-1")
        assert _problems(_post(client, fresh, "land_xd"), "signoff")
        assert _written() == before
    finally:
        runner.invoke(cli, ["users", "four-eyes", "晋安区", "--off"])
    # without four eyes the verifier's own upload signs off as before
    path = _file(tmp_path, [rectangle(XINDIAN, 0, 0, 120, 80)], ["JA-XD-L-0007"])
    assert _post(client, path, "land_xd", status="verified").status_code == 201
    parcel = _parcel("JA-XD-L-0007")
    assert (parcel.status, parcel.verified_by, parcel.verified_group) == (
        "verified", "land_xd", "土地核验组",
    )  # fmt: skip


def test_a_verifiers_own_upload_still_signs_off_outside_four_eyes(client, tmp_path):
    response = _post(client, _says_verified(tmp_path, code="V-1"), "land_xd")
    assert response.status_code == 201, response.text
    parcel = _parcel("V-1")
    assert (parcel.status, parcel.verified_by) == ("verified", "land_xd")


# --- parcels credited where they lie --------------------------------------------------------


def _in_gushan(tmp_path, name="gushan.geojson"):
    return _file(tmp_path, [rectangle(GUSHAN, 0, 0, 100, 100)], ["GS-1"], name=name)


def test_a_parcel_wholly_in_another_township_is_refused_naming_it(client, tmp_path):
    before = _written()
    response = _post(client, _in_gushan(tmp_path), "land_xd", status="verified")
    assert response.status_code == 422, response.text
    (problem,) = _problems(response, "elsewhere_township")
    assert problem["severity"] == "error" and problem["feature"] == 1
    assert "新店镇" in problem["message"] and "鼓山镇" in problem["message"]
    assert _written() == before
    # the dry run suggests where the parcels lie
    dry = _post(client, _in_gushan(tmp_path), "land_xd", dry_run="true")
    assert dry.json()["report"]["lies_in"] == [{"township": "鼓山镇", "parcels": 1}]


def test_a_verifier_may_override_the_township_with_a_reason_on_record(client, tmp_path):
    reason = "乡镇界线为示意，该地块属新店镇（2017年区划调整）"
    response = _post(client, _in_gushan(tmp_path), "officer_xd", override_reason=reason)
    assert response.status_code == 403, response.text
    assert count_rows("parcels") == 0
    response = _post(client, _in_gushan(tmp_path), "land_xd", override_reason="x" * 2001)
    assert response.status_code == 422 and count_rows("parcels") == 0
    response = _post(client, _in_gushan(tmp_path), "land_xd", override_reason=reason)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["override_reason"] == reason
    (warned,) = [p for p in body["problems"] if p["rule"] == "elsewhere_township"]
    assert warned["severity"] == "warning" and reason in warned["message"]
    with database.get_engine().connect() as conn:
        details = conn.execute(
            text(
                "SELECT details FROM audit_log WHERE action = 'upload' AND outcome = 'ok' "
                "ORDER BY id DESC LIMIT 1"
            )
        ).scalar_one()
        kept = conn.execute(text("SELECT report FROM uploads")).scalar_one()
    assert details["override_reason"] == reason and kept["override_reason"] == reason
    assert _parcel("GS-1").township_id is not None


def test_the_cli_takes_an_override_reason(db, tmp_path):
    path = _in_gushan(tmp_path)
    base = ["import", str(path), "--kind", "land", "--township", "新店镇", "--as", "land_xd"]
    refused = runner.invoke(cli, base)
    assert refused.exit_code != 0 and "鼓山镇" in refused.output
    assert count_rows("parcels") == 0
    done = runner.invoke(cli, [*base, "--override-reason", "界线为示意"])
    assert done.exit_code == 0, done.output
    assert count_rows("parcels") == 1


def test_the_upload_form_has_no_silent_default_township(db, tmp_path):
    def township_select(user):
        page = signed_in_page(user).get("/uploads").text
        return re.search(r'<select name="township".*?</select>', page, re.S).group(0)

    several = township_select("land_all")
    options = re.findall(r"<option([^>]*)>([^<]*)</option>", several)
    assert options[0] == (' value=""', "请选择乡镇")
    assert "required" in several and not any("selected" in attrs for attrs, _ in options[1:])
    own = township_select("officer_xd")
    assert re.search(r"<option[^>]*selected[^>]*>新店镇</option>", own)
    # a dry run on the pages says where the parcels lie
    page = signed_in_page("land_all")
    _token, report = _page_check(page, _in_gushan(tmp_path), township="茶园街道")
    assert "鼓山镇" in report.text and "这些地块位于" in report.text


def test_lies_in_is_in_the_json_of_a_good_dry_run(client, tmp_path):
    path = _file(tmp_path, [rectangle(XINDIAN, 0, 0, 100, 80)], ["D-1"])
    dry = _post(client, path, "land_xd", dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["lies_in"] == [{"township": "新店镇", "parcels": 1}]
    assert json.loads(json.dumps(dry.json()))["accepted"] is True
