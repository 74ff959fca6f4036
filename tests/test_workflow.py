"""Status workflow, verification and disputes on a real PostGIS: the legal moves are
spelled out here independently of geo_service.parcels.workflow.TRANSITIONS."""

import itertools
from datetime import datetime

import pytest
import shapely
from conftest import auth, count_rows, shared_app, with_user
from fastapi.testclient import TestClient
from parcelfiles import CM120E, GUSHAN, XINDIAN, frame, independent_area_m2, rectangle, write
from sqlalchemy import select, text
from typer.testing import CliRunner

from geo_service.campaign.tallies import CAMPAIGN_TZ, tally
from geo_service.cli import app
from geo_service.errors import InvalidInput, NotFound
from geo_service.models import Parcel, ParcelVersion
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import dispute, find_parcel, history, set_status, verify

STATUSES = ("planned", "in_progress", "delivered", "demolished", "verified", "disputed")
# Every legal move, by kind: written out by hand from the brief, not read from the code.
LEGAL = {
    "land": {
        ("planned", "in_progress"),
        ("in_progress", "delivered"),
        ("delivered", "verified"),
        ("verified", "disputed"),
        ("disputed", "in_progress"),
        ("disputed", "delivered"),
    },
    "demolition": {
        ("planned", "in_progress"),
        ("in_progress", "demolished"),
        ("demolished", "verified"),
        ("verified", "disputed"),
        ("disputed", "in_progress"),
        ("disputed", "demolished"),
    },
}
GROUP = {"land": "土地核验组", "demolition": "拆迁核验组"}
LAND_PARCEL = rectangle(XINDIAN, 0, 0, 240, 150, angle_deg=11)
BLOCK = rectangle(GUSHAN, 0, 0, 120, 80, angle_deg=-6)

runner = CliRunner()


def _import(session, tmp_path, polygons, codes, township="新店镇", kind="land", status=None,
            name="parcels.gpkg", **columns):  # fmt: skip
    path = write(frame(polygons, code=codes, **columns), tmp_path / name, CM120E, "GPKG")
    options = ImportOptions(kind=kind, township=township, status=status, actor="测绘队")
    return import_file(session, path, options)


@pytest.fixture
def land(session, tmp_path):
    _import(session, tmp_path, [LAND_PARCEL], ["XD-001"])
    return session.scalar(select(Parcel).where(Parcel.code == "XD-001"))


@pytest.fixture
def block(session, tmp_path):
    _import(session, tmp_path, [BLOCK], ["GS-07"], township="鼓山镇", kind="demolition",
            name="block.gpkg")  # fmt: skip
    return session.scalar(select(Parcel).where(Parcel.code == "GS-07"))


def _move(session, parcel, to):
    """The use case a user would call to reach `to`."""
    if to == "verified":
        return verify(session, parcel, "林志伟", GROUP[parcel.kind], note="现场核验")
    if to == "disputed":
        return dispute(session, parcel, "界址点与批文不符", actor="区攻坚办")
    return set_status(session, parcel, to, actor="区征迁办", note="理由")


def _versions(session, parcel) -> int:
    return session.scalar(
        select(text("count(*)"))
        .select_from(ParcelVersion)
        .where(ParcelVersion.parcel_id == parcel.id)
    )


@pytest.mark.parametrize("kind", ["land", "demolition"])
def test_every_move_is_legal_exactly_when_the_table_says(session, land, block, kind):
    parcel = land if kind == "land" else block
    for frm, to in itertools.product(STATUSES, STATUSES):
        savepoint = session.begin_nested()
        parcel.status = frm
        session.flush()
        before = _versions(session, parcel)
        if (frm, to) in LEGAL[kind]:
            done = _move(session, parcel, to)
            assert (done.status_before, done.status) == (frm, to)
            assert _versions(session, parcel) == before + 1
        else:
            with pytest.raises(InvalidInput) as caught:
                _move(session, parcel, to)
            message = str(caught.value)
            assert frm in message and to in message, message
            assert _versions(session, parcel) == before
        savepoint.rollback()
        session.expire_all()


def test_the_whole_land_path_appends_one_version_per_change(session, land):
    assert (land.status, land.version) == ("planned", 1)
    set_status(session, land, "in_progress", actor="新店镇征迁组")
    set_status(session, land, "delivered", actor="新店镇征迁组", note="交地确认书已签")
    done = verify(session, land, "林志伟", "土地核验组", note="现场核验")
    assert (done.version, done.status_before, done.status) == (4, "delivered", "verified")
    rows = session.scalars(
        select(ParcelVersion).where(ParcelVersion.parcel_id == land.id).order_by("version")
    ).all()
    assert [r.status for r in rows] == ["planned", "in_progress", "delivered", "verified"]
    assert [r.change for r in rows] == ["created", "status", "status", "verified"]
    assert [r.changed_by for r in rows] == ["测绘队", "新店镇征迁组", "新店镇征迁组", "林志伟"]
    assert [r.note for r in rows] == [None, None, "交地确认书已签", "现场核验"]
    # Each version is valid until the next one starts; only the last is open.
    for earlier, later in itertools.pairwise(rows):
        assert earlier.valid_to == later.valid_from
    assert rows[-1].valid_to is None
    assert land.version == 4


def test_an_illegal_move_names_from_and_to_and_writes_nothing(session, land):
    with pytest.raises(InvalidInput, match="from planned to delivered"):
        set_status(session, land, "delivered", actor="x")
    with pytest.raises(InvalidInput, match="from planned to verified"):
        verify(session, land, "林志伟", "土地核验组")
    with pytest.raises(InvalidInput, match="unknown status 'done'"):
        set_status(session, land, "done", actor="x")
    # Land is never "demolished", demolition never "delivered".
    set_status(session, land, "in_progress", actor="x")
    with pytest.raises(InvalidInput, match="from in_progress to demolished"):
        set_status(session, land, "demolished", actor="x")
    assert (land.status, _versions(session, land)) == ("in_progress", 2)


def test_verified_is_reached_only_through_verify(session, land):
    set_status(session, land, "in_progress", actor="x")
    set_status(session, land, "delivered", actor="x")
    with pytest.raises(InvalidInput, match="use verify"):
        set_status(session, land, "verified", actor="x")
    assert land.status == "delivered"


@pytest.mark.parametrize(
    ("kind", "wrong"), [("land", "拆迁核验组"), ("demolition", "土地核验组"), ("land", "")]
)
def test_verification_by_the_wrong_group_is_refused(session, land, block, kind, wrong):
    parcel = land if kind == "land" else block
    for to in ("in_progress", "delivered" if kind == "land" else "demolished"):
        set_status(session, parcel, to, actor="x")
    before = _versions(session, parcel)
    with pytest.raises(InvalidInput) as caught:
        verify(session, parcel, "林志伟", wrong)
    assert GROUP[kind] in str(caught.value)
    assert parcel.status in ("delivered", "demolished")
    assert (parcel.verified_by, parcel.verified_area_m2) == (None, None)
    assert _versions(session, parcel) == before
    with pytest.raises(InvalidInput, match="verifier"):
        verify(session, parcel, "  ", GROUP[kind])


def test_verification_records_who_when_note_and_freezes_the_area(session, land, tmp_path):
    set_status(session, land, "in_progress", actor="x")
    set_status(session, land, "delivered", actor="x")
    done = verify(session, land, "林志伟", "土地核验组", note="现场核验，界址清楚")
    frozen = independent_area_m2(LAND_PARCEL)
    assert land.verified_area_m2 == land.area_m2
    assert land.verified_area_m2 == pytest.approx(frozen, rel=1e-3)
    assert (land.verified_by, land.verified_group) == ("林志伟", "土地核验组")
    assert land.verification_note == "现场核验，界址清楚"
    assert land.verified_at == done.changed_at
    verification = session.scalar(
        select(ParcelVersion).where(ParcelVersion.parcel_id == land.id, ParcelVersion.version == 4)
    )
    assert (verification.verified_by, verification.verified_group) == ("林志伟", "土地核验组")
    assert verification.verified_area_m2 == pytest.approx(frozen, rel=1e-3)
    assert verification.verified_at == done.changed_at

    # A resurvey re-uploads a larger boundary without a status: the verification no longer
    # matches the boundary, so the parcel goes back for re-verification, flagged; the
    # verified version keeps its frozen area, and tallies stop counting the parcel.
    larger = rectangle(XINDIAN, 0, 0, 300, 150, angle_deg=11)
    report = _import(session, tmp_path, [larger], ["XD-001"], name="re.gpkg")
    assert report.changed == 1
    session.refresh(land)
    assert land.area_m2 == pytest.approx(independent_area_m2(larger), rel=1e-3)
    assert (land.status, land.verified_area_m2, land.verified_by) == ("delivered", None, None)
    (flag,) = land.flags
    assert flag["rule"] == "changed_after_verification"
    assert flag["verified_area_m2"] == pytest.approx(frozen, rel=1e-3)
    session.refresh(verification)
    assert verification.verified_area_m2 == pytest.approx(frozen, rel=1e-3)
    assert verification.area_m2 == pytest.approx(frozen, rel=1e-3)
    latest = history(session, land)[-1]
    assert (latest["version"], latest["change"], latest["geometry_changed"]) == (5, "changed", True)
    assert latest["area_m2"] == pytest.approx(independent_area_m2(larger), rel=1e-3)
    assert tally(session, by="township", kind="land")[0].verified_m2 == 0.0

    # The same boundary uploaded as verified is a new verification, by the uploading team,
    # frozen at the new area.
    _import(session, tmp_path, [larger], ["XD-001"], status="verified", name="re2.gpkg")
    session.refresh(land)
    assert (land.status, land.verified_by) == ("verified", "测绘队")
    assert land.verified_area_m2 == pytest.approx(independent_area_m2(larger), rel=1e-3)


def test_a_disputed_parcel_stops_counting_as_verified_until_settled(session, land, tmp_path):
    other = rectangle(XINDIAN, 600, 0, 100, 100)
    _import(session, tmp_path, [other], ["XD-002"], status="verified", name="other.gpkg")
    for to in ("in_progress", "delivered"):
        set_status(session, land, to, actor="x")
    verify(session, land, "林志伟", "土地核验组")
    a, b = independent_area_m2(LAND_PARCEL), independent_area_m2(other)

    def row():
        # Verified today: this year's tally.
        rows = tally(session, by="township", kind="land", year=datetime.now(CAMPAIGN_TZ).year)
        assert len(rows) == 1
        return rows[0]

    assert (row().verified_parcels, row().verified_m2) == (2, pytest.approx(a + b, rel=1e-3))
    done = dispute(session, land, "  界址点与批文不符  ", actor="区攻坚办")
    assert (done.status, land.dispute_reason) == ("disputed", "界址点与批文不符")
    now = row()
    assert (now.verified_parcels, now.verified_m2) == (1, pytest.approx(b, rel=1e-3))
    assert now.delivered_m2 == pytest.approx(b, rel=1e-3)  # disputed is not done either
    assert now.planned_m2 == pytest.approx(a + b, rel=1e-3)

    with pytest.raises(InvalidInput, match="needs a reason"):
        set_status(session, land, "delivered", actor="x")
    with pytest.raises(InvalidInput, match="from disputed to verified"):
        verify(session, land, "林志伟", "土地核验组")
    set_status(session, land, "delivered", actor="区攻坚办", note="重新测量后再核验")
    assert (land.verified_by, land.verified_area_m2, land.dispute_reason) == (None, None, None)
    assert row().delivered_m2 == pytest.approx(a + b, rel=1e-3)
    assert row().verified_m2 == pytest.approx(b, rel=1e-3)
    verify(session, land, "陈建国", "土地核验组")
    assert row().verified_m2 == pytest.approx(a + b, rel=1e-3)
    assert [v["status"] for v in history(session, land)] == [
        "planned", "in_progress", "delivered", "verified", "disputed", "delivered", "verified",
    ]  # fmt: skip


def test_a_dispute_needs_a_reason_and_a_verified_parcel(session, land):
    with pytest.raises(InvalidInput, match="from planned to disputed"):
        dispute(session, land, "理由", actor="x")
    for to in ("in_progress", "delivered"):
        set_status(session, land, to, actor="x")
    verify(session, land, "林志伟", "土地核验组")
    with pytest.raises(InvalidInput, match="needs a reason"):
        dispute(session, land, "   ", actor="x")
    assert land.status == "verified"


def test_parcels_are_found_by_id_or_code_and_township(session, tmp_path, land):
    _import(session, tmp_path, [BLOCK], ["XD-001"], township="鼓山镇", name="same-code.gpkg")
    with pytest.raises(InvalidInput, match="used by 2 parcels") as caught:
        find_parcel(session, "XD-001")
    assert "新店镇" in str(caught.value) and "鼓山镇" in str(caught.value)
    assert find_parcel(session, "XD-001", township="新店镇").id == land.id
    assert find_parcel(session, f"#{land.id}").id == land.id
    assert find_parcel(session, land.id).id == land.id
    with pytest.raises(NotFound, match="no parcel with code 'XD-404'"):
        find_parcel(session, "XD-404")
    with pytest.raises(NotFound, match="no parcel with id 99999"):
        set_status(session, 99999, "in_progress", actor="x")


# --- HTTP API -------------------------------------------------------------------------------


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False, headers=auth("leader_city")) as c:
        yield c


def _stored_land(tmp_path) -> int:
    from geo_service.database import session_scope

    with session_scope() as s:
        _import(s, tmp_path, [LAND_PARCEL], ["XD-001"])
        return s.scalar(select(Parcel.id).where(Parcel.code == "XD-001"))


def test_api_status_verify_dispute_and_history(client, tmp_path):
    pid = _stored_land(tmp_path)
    officer, land, demolition = auth("officer_xd"), auth("land_xd"), auth("demolition_all")
    for to in ("in_progress", "delivered"):
        r = client.post(f"/api/parcels/{pid}/status", json={"status": to}, headers=officer)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == to
    wrong = client.post(f"/api/parcels/{pid}/verify", json={}, headers=demolition)
    assert wrong.status_code == 403
    assert "土地核验组" in wrong.json()["detail"]
    # A forged verifier and group in the body are ignored: the sign-in says who signs.
    forged = {"verifier": "冒名者", "group": "拆迁核验组", "note": "现场核验"}
    r = client.post(f"/api/parcels/{pid}/verify", json=forged, headers=land)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status_before"], body["status"], body["version"]) == ("delivered", "verified", 4)
    assert (body["verified_by"], body["verified_group"]) == ("land_xd", "土地核验组")
    assert body["verified_area_m2"] == pytest.approx(independent_area_m2(LAND_PARCEL), rel=1e-3)
    assert body["verified_area_mu"] == pytest.approx(body["verified_area_m2"] * 15 / 10000)
    r = client.post(f"/api/parcels/{pid}/dispute", json={"reason": "面积有误"}, headers=land)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["dispute_reason"]) == ("disputed", "面积有误")

    versions = client.get(f"/api/parcels/{pid}/history", headers=land).json()
    assert [v["version"] for v in versions] == [1, 2, 3, 4, 5]
    assert [v["status_before"] for v in versions] == [
        None, "planned", "in_progress", "delivered", "verified",
    ]  # fmt: skip
    assert [v["changed_by"] for v in versions] == [
        "测绘队",
        "officer_xd",
        "officer_xd",
        "land_xd",
        "land_xd",
    ]
    assert versions[3]["verified_by"] == "land_xd"
    assert "冒名者" not in str(versions)
    assert versions[4]["note"] == "面积有误"
    assert versions[0]["upload_filename"] == "parcels.gpkg"
    assert versions[0]["geometry_changed"] is None
    assert not any(v["geometry_changed"] for v in versions[1:])


def test_api_errors_come_from_the_error_table(client, tmp_path):
    pid = _stored_land(tmp_path)
    land = auth("land_all")
    before = count_rows("parcel_versions")
    r = client.post(f"/api/parcels/{pid}/status", json={"status": "verified"}, headers=land)
    assert r.status_code == 400
    r = client.post(f"/api/parcels/{pid}/status", json={"status": "delivered"}, headers=land)
    assert r.status_code == 400
    assert "from planned to delivered" in r.json()["detail"]
    r = client.post(f"/api/parcels/{pid}/dispute", json={"reason": "x"}, headers=land)
    assert r.status_code == 400
    r = client.post("/api/parcels/99999/status", json={"status": "x"}, headers=land)
    assert r.status_code == 404
    assert client.get("/api/parcels/99999/history", headers=land).status_code == 404
    r = client.post(f"/api/parcels/{pid}/status", json={"status": "in_progress"})
    assert r.status_code == 403  # the client's default sign-in is a leader: reads only
    assert count_rows("parcel_versions") == before


# --- CLI ------------------------------------------------------------------------------------


def _run(*args, as_user: str | None = "auto"):
    return runner.invoke(app, with_user(list(args), as_user))


def test_cli_status_verify_dispute_history(db, tmp_path):
    _stored_land(tmp_path)
    result = _run(
        "status", "XD-001", "--to", "in_progress", "--township", "新店镇", as_user="officer_xd"
    )
    assert result.exit_code == 0, result.output
    assert "planned → in_progress" in result.stdout
    assert _run("status", "XD-001", "--to", "delivered").exit_code == 0
    wrong = _run("verify", "XD-001", as_user="demolition_all")
    assert wrong.exit_code == 2
    assert "土地核验组" in wrong.stderr
    nobody = _run("verify", "XD-001", as_user=None)
    assert nobody.exit_code == 2 and "--as USER" in nobody.stderr
    unknown = _run("verify", "XD-001", as_user="冒名者")
    assert unknown.exit_code == 2 and "no user named" in unknown.stderr
    result = _run("verify", "XD-001", as_user="land_xd")
    assert result.exit_code == 0, result.output
    assert "delivered → verified" in result.stdout and "frozen" in result.stdout
    result = _run("dispute", "XD-001", "--reason", "面积有误")
    assert result.exit_code == 0, result.output
    illegal = _run("status", "XD-001", "--to", "planned", "--note", "x")
    assert illegal.exit_code == 2
    assert "from disputed to planned" in " ".join(illegal.stderr.split())

    result = _run("history", "XD-001", "--format", "json")
    assert result.exit_code == 0, result.output
    import json

    versions = json.loads(result.stdout)
    assert [v["status"] for v in versions] == [
        "planned", "in_progress", "delivered", "verified", "disputed",
    ]  # fmt: skip
    assert versions[1]["changed_by"] == "officer_xd"
    assert (versions[3]["changed_by"], versions[3]["verified_by"]) == ("land_xd", "land_xd")
    table = _run("history", "XD-001", "--township", "新店镇")
    assert table.exit_code == 0, table.output
    assert "History of XD-001" in table.stdout and "面积有误" in table.stdout
    missing = _run("history", "XD-404")
    assert missing.exit_code == 2 and "XD-404" in missing.stderr


@pytest.mark.parametrize("command", ["status", "verify", "dispute", "history", "support"])
def test_cli_help_has_examples(command):
    result = _run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_a_reupload_without_status_keeps_each_parcels_status(session, tmp_path):
    a, b = rectangle(XINDIAN, 0, 0, 100, 100), rectangle(XINDIAN, 300, 0, 100, 100)
    _import(session, tmp_path, [a], ["K-1"], name="k1.gpkg", status="planned")
    _import(session, tmp_path, [b], ["K-2"], name="k2.gpkg", status="verified")
    # The team sends its whole file again with a new parcel and no status column.
    c = rectangle(XINDIAN, 600, 0, 100, 100)
    report = _import(session, tmp_path, [a, b, c], ["K-1", "K-2", "K-3"], name="all.gpkg")
    assert (report.created, report.changed, report.unchanged) == (1, 0, 2)
    statuses = dict(session.execute(select(Parcel.code, Parcel.status)).all())
    assert statuses == {"K-1": "planned", "K-2": "verified", "K-3": "planned"}


def test_the_parcel_api_shows_the_verification_and_flags(db, session, land):
    from fastapi.testclient import TestClient

    for to in ("in_progress", "delivered"):
        set_status(session, land, to, actor="x")
    verify(session, land, "林志伟", "土地核验组", note="界址清楚")
    session.commit()
    props = (
        TestClient(shared_app(), headers=auth("leader_city"))
        .get(f"/api/parcels/{land.id}")
        .json()["properties"]
    )
    assert (props["status"], props["verified_by"], props["verified_group"]) == (
        "verified",
        "林志伟",
        "土地核验组",
    )
    assert props["verified_area_m2"] == pytest.approx(independent_area_m2(LAND_PARCEL), 1e-3)
    assert props["verification_note"] == "界址清楚" and props["verified_at"]
    assert props["flags"] == [] and props["dispute_reason"] is None


def test_an_upload_cannot_move_a_parcel_back_or_out_of_a_dispute(session, tmp_path, land):
    from geo_service.errors import UploadRefused

    for to in ("in_progress", "delivered"):
        set_status(session, land, to, actor="x")
    verify(session, land, "林志伟", "土地核验组")
    session.commit()
    with pytest.raises(UploadRefused, match="cannot move it back to planned"):
        _import(session, tmp_path, [LAND_PARCEL], ["XD-001"], status="planned", name="b.gpkg")
    session.rollback()
    dispute(session, land, "界址与现场不符", actor="督查组")
    session.commit()
    with pytest.raises(UploadRefused, match="is disputed: settle it"):
        _import(session, tmp_path, [LAND_PARCEL], ["XD-001"], status="verified", name="c.gpkg")
    session.rollback()
    assert session.get(Parcel, land.id).status == "disputed"


def test_an_upload_verifies_only_with_its_kinds_group(session, tmp_path):
    from geo_service.errors import UploadRefused

    path = write(frame([LAND_PARCEL], code=["G-1"]), tmp_path / "g.gpkg", CM120E, "GPKG")
    wrong = ImportOptions(
        kind="land", township="新店镇", status="verified", verifier_group="拆迁核验组"
    )
    with pytest.raises(UploadRefused, match="verified by 土地核验组"):
        import_file(session, path, wrong)
    import_file(session, path, ImportOptions(kind="land", township="新店镇", status="verified"))
    parcel = session.scalar(select(Parcel).where(Parcel.code == "G-1"))
    assert parcel.verified_group == "土地核验组"


def test_the_same_boundary_reversed_or_rotated_is_unchanged(session, tmp_path, land):
    for to in ("in_progress", "delivered"):
        set_status(session, land, to, actor="x")
    verify(session, land, "林志伟", "土地核验组")
    ring = list(LAND_PARCEL.exterior.coords)[:-1]
    rotated = shapely.Polygon(ring[2:] + ring[:2])
    for variant in (LAND_PARCEL.reverse(), rotated):
        report = _import(session, tmp_path, [variant], ["XD-001"], name="same.gpkg")
        assert (report.changed, report.unchanged) == (0, 1)
    assert session.get(Parcel, land.id).status == "verified"


def test_history_cannot_be_written_backwards(session, land):
    from datetime import UTC, datetime

    set_status(session, land, "in_progress", actor="x")
    with pytest.raises(InvalidInput, match="earlier than its current state"):
        set_status(session, land, "delivered", actor="x", now=datetime(2017, 1, 1, tzinfo=UTC))
