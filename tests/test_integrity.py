"""Nothing lost, nothing rewritten: kept upload files, refusals that leave no row, an
append-only history enforced by the database, the service's own role, withdrawal instead
of deletion, and stale changes refused with 409."""

import hashlib
from datetime import datetime

import pytest
from conftest import auth, count_rows, shared_app
from fastapi.testclient import TestClient
from parcelfiles import CM120E, XINDIAN, frame, independent_area_m2, rectangle, write
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from geo_service import app_role, database
from geo_service.campaign.tallies import CAMPAIGN_TZ, tally
from geo_service.cli import app as cli_app
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import set_status, withdraw

SQUARE = rectangle(XINDIAN, 0, 0, 200, 200)
NEIGHBOUR = rectangle(XINDIAN, 500, 0, 100, 100)
TABLES = ("uploads", "upload_files", "parcels", "parcel_versions")


@pytest.fixture
def client(db):
    # Signed in as the land verifier of every Jin'an township (uploads, withdrawals).
    with TestClient(shared_app(), raise_server_exceptions=False, headers=auth("land_all")) as c:
        yield c


def _admin():
    return auth("admin_t")


def _post(client, path, name=None, **fields):
    data = {"kind": "land", "township": "新店镇", **fields}
    files = {"file": (name or path.name, path.read_bytes())}
    return client.post("/api/uploads", files=files, data=data)


def _counts() -> dict[str, int]:
    return {t: count_rows(t) for t in TABLES}


def _geojson(tmp_path, polygons=(SQUARE,), codes=("K1",), name="kept.geojson"):
    return write(frame(list(polygons), code=list(codes)), tmp_path / name, 4326, "GeoJSON")


# --- kept files -----------------------------------------------------------------------------


def test_an_accepted_upload_keeps_its_file_once_per_content(client, tmp_path):
    path = _geojson(tmp_path)
    first = _post(client, path, status="verified")
    assert first.status_code == 201, first.text
    # The same bytes again under another name: a second upload, one kept file.
    again = _post(client, path, name="again.geojson", status="verified")
    assert again.status_code == 201 and again.json()["unchanged"] == 1
    assert count_rows("uploads") == 2 and count_rows("upload_files") == 1

    # What a team sent is for admins to read, not for the team or anyone else.
    assert client.get(f"/api/uploads/{first.json()['upload_id']}/file").status_code == 403
    for upload in (first.json()["upload_id"], again.json()["upload_id"]):
        kept = client.get(f"/api/uploads/{upload}/file", headers=_admin())
        assert kept.status_code == 200
        assert kept.content == path.read_bytes()
        assert kept.headers["x-checksum-sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    again_file = client.get(f"/api/uploads/{again.json()['upload_id']}/file", headers=_admin())
    assert "again.geojson" in again_file.headers["content-disposition"]

    out = tmp_path / "out.geojson"
    result = CliRunner().invoke(
        cli_app, ["uploads", "file", str(first.json()["upload_id"]), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == path.read_bytes()
    assert hashlib.sha256(out.read_bytes()).hexdigest() in result.output


def test_a_bare_shapefile_is_kept_with_its_side_files(session, tmp_path):
    folder = tmp_path / "shp"
    folder.mkdir()
    shp = write(frame([SQUARE], code=["S1"]), folder / "survey.shp", CM120E, "ESRI Shapefile")
    report = import_file(session, shp, ImportOptions(kind="land", township="新店镇"))
    session.commit()
    result = CliRunner().invoke(
        cli_app, ["uploads", "file", str(report.upload_id), "--output", str(tmp_path / "k.zip")]
    )
    assert result.exit_code == 0, result.output
    import zipfile

    with zipfile.ZipFile(tmp_path / "k.zip") as archive:
        names = set(archive.namelist())
        assert {"survey.shp", "survey.dbf", "survey.prj", "survey.shx"} <= names
        assert archive.read("survey.dbf") == (folder / "survey.dbf").read_bytes()


def test_a_missing_upload_file_is_404_and_a_bad_id_422(client):
    assert client.get("/api/uploads/7/file", headers=_admin()).status_code == 404
    assert client.get("/api/uploads/0/file", headers=_admin()).status_code == 422
    assert client.get(f"/api/uploads/{2**31}/file", headers=_admin()).status_code == 422


@pytest.mark.parametrize(
    "name, content",
    [
        ("survey.gpkg", "geojson"),  # GeoJSON text behind a GeoPackage name
        ("survey.kml", "geojson"),
        ("survey.zip", "geojson"),
        ("survey.shp", "random"),
        ("survey.geojson", "random"),
        ("survey.txt", "random"),
    ],
)
def test_a_refused_file_with_a_misleading_name_leaves_no_row(client, tmp_path, name, content):
    stored = _post(client, _geojson(tmp_path, (NEIGHBOUR,), ("N1",)), status="verified")
    assert stored.status_code == 201
    before = _counts()
    path = tmp_path / "payload"
    if content == "random":
        path.write_bytes(bytes(range(256)) * 50)
    else:  # readable, but every feature overlaps the verified parcel: refused
        path = _geojson(tmp_path, (NEIGHBOUR,), ("N2",), name="overlap.geojson")
    response = _post(client, path, name=name, status="verified")
    assert 400 <= response.status_code < 500, response.text
    assert _counts() == before


# --- the database keeps the history ---------------------------------------------------------


def _stored_parcel(session, tmp_path):
    path = _geojson(tmp_path, name="h.geojson")
    import_file(session, path, ImportOptions(kind="land", township="新店镇"))
    set_status(session, 1, "in_progress", actor="测试")
    session.commit()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE parcel_versions SET status = 'verified' WHERE version = 1",
        "UPDATE parcel_versions SET area_m2 = area_m2 * 2 WHERE version = 2",
        # closed once already: closing again is a rewrite
        "UPDATE parcel_versions SET valid_to = now() WHERE version = 1",
        # closing the open version and changing anything else with it
        "UPDATE parcel_versions SET valid_to = now(), note = 'x' WHERE version = 2",
        "DELETE FROM parcel_versions",
        "DELETE FROM parcels",  # cascades into the versions
        "UPDATE upload_files SET size_bytes = 0",
        "DELETE FROM upload_files",
    ],
)
def test_the_history_refuses_rewrites_even_from_the_owner(session, tmp_path, statement):
    _stored_parcel(session, tmp_path)
    before = _counts()
    with database.get_engine().connect() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(text(statement))
    assert "append-only" in str(caught.value)
    assert _counts() == before


def test_only_the_database_closes_the_open_version(session, tmp_path):
    """The close is made when the next version is appended (tests/test_append_only.py),
    never by a statement of its own, not even the owner's."""
    _stored_parcel(session, tmp_path)
    with database.get_engine().begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("UPDATE parcel_versions SET valid_to = now() WHERE valid_to IS NULL"))


def test_the_service_role_works_but_cannot_rewrite_or_delete(db, app_url, tmp_path):
    path = _geojson(tmp_path, name="role.geojson")
    with database.session_scope(app_url) as session:
        report = import_file(session, path, ImportOptions(kind="land", township="新店镇"))
        set_status(session, 1, "in_progress", actor="测试")
        withdraw(session, 1, "登记重复", actor="测试")
    assert report.created == 1 and count_rows("parcel_versions") == 3
    engine = database.get_engine(app_url)
    assert make_url(str(engine.url)).username.endswith("_app")
    for statement in (
        "UPDATE parcel_versions SET note = 'rewritten'",
        "DELETE FROM parcel_versions",
        "DELETE FROM parcels",
        "DELETE FROM uploads",
        "UPDATE upload_files SET size_bytes = 0",
        "DELETE FROM audit_log",
        "TRUNCATE parcel_versions",
        "DROP TABLE parcels",
        "ALTER TABLE parcel_versions DISABLE TRIGGER parcel_versions_append_only",
    ):
        with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
            conn.execute(text(statement))
        message = str(caught.value).lower()
        assert "permission denied" in message or "must be owner" in message, statement
    assert count_rows("parcel_versions") == 3 and count_rows("parcels") == 1
    engine.dispose()


def test_grants_follow_the_table_lists():
    assert app_role.privileges("parcel_versions") == ["SELECT", "INSERT"]
    assert "DELETE" not in app_role.privileges("parcels")
    assert app_role.privileges("upload_files") == ["SELECT", "INSERT"]
    assert "DELETE" in app_role.privileges("parcel_support")


def test_a_role_name_that_is_not_an_identifier_is_refused(db):
    from geo_service.errors import InvalidInput

    with pytest.raises(InvalidInput):
        app_role.ensure_app_role(create_engine(database.get_engine().url), 'x"; DROP ROLE postgres')


# --- withdrawal -----------------------------------------------------------------------------


def test_a_withdrawn_parcel_counts_nowhere_and_keeps_its_history(client, tmp_path):
    both = _geojson(tmp_path, (SQUARE, NEIGHBOUR), ("W1", "W2"), name="two.geojson")
    assert _post(client, both, status="verified").status_code == 201
    before = {r.township: r.verified_m2 for r in _tally()}
    assert before["新店镇"] == pytest.approx(
        independent_area_m2(SQUARE) + independent_area_m2(NEIGHBOUR), rel=1e-3
    )

    officer = client.post(
        "/api/parcels/1/withdraw", json={"reason": "重复登记"}, headers=auth("officer_all")
    )
    assert officer.status_code == 403
    response = client.post("/api/parcels/1/withdraw", json={"reason": "重复登记"})
    assert response.status_code == 200, response.text
    assert (response.json()["status_before"], response.json()["status"]) == (
        "verified",
        "withdrawn",
    )
    after = {r.township: r for r in _tally()}
    assert after["新店镇"].verified_m2 == pytest.approx(independent_area_m2(NEIGHBOUR), rel=1e-3)
    assert after["新店镇"].planned_parcels == 1

    listed = client.get("/api/parcels").json()
    assert [f["properties"]["code"] for f in listed["features"]] == ["W2"]
    gone = client.get("/api/parcels", params={"status": "withdrawn"}).json()["features"]
    assert [
        (f["properties"]["withdrawn_by"], f["properties"]["withdrawn_reason"]) for f in gone
    ] == [("land_all", "重复登记")]
    history = client.get("/api/parcels/1/history").json()
    assert [(h["status"], h["note"]) for h in history] == [
        ("verified", None),
        ("withdrawn", "重复登记"),
    ]
    data = client.get("/maps/progress/data.json", params={"kind": "land"}).json()
    assert "W1" not in str(data)

    assert client.post("/api/parcels/1/withdraw", json={"reason": "again"}).status_code == 400
    assert client.post("/api/parcels/2/withdraw", json={"reason": " "}).status_code == 400


def test_a_withdrawn_code_is_not_reused_and_its_area_is_free(client, tmp_path):
    assert _post(client, _geojson(tmp_path), status="verified").status_code == 201
    assert client.post("/api/parcels/1/withdraw", json={"reason": "测绘错误"}).status_code == 200
    same_code = _post(client, _geojson(tmp_path, name="again.geojson"), status="verified")
    assert same_code.status_code == 422
    assert "withdrawn" in {p["rule"] for p in same_code.json()["report"]["problems"]}
    # A new code over the withdrawn parcel's ground is no overlap.
    new_code = _post(
        client, _geojson(tmp_path, codes=("K2",), name="new.geojson"), status="verified"
    )
    assert new_code.status_code == 201, new_code.text
    assert new_code.json()["problems"] == []


def test_withdraw_from_the_command_line(db, tmp_path):
    with database.session_scope() as session:
        import_file(session, _geojson(tmp_path), ImportOptions(kind="land", township="新店镇"))
    assert [r.planned_parcels for r in _tally()] == [1]
    result = CliRunner().invoke(
        cli_app,
        ["withdraw", "K1", "--reason", "重复登记", "--township", "新店镇", "--as", "land_xd"],
    )
    assert result.exit_code == 0, result.output
    assert "planned → withdrawn" in result.output
    assert sum(r.planned_parcels for r in _tally()) == 0
    again = CliRunner().invoke(cli_app, ["withdraw", "K1", "--reason", "x", "--as", "admin_t"])
    assert again.exit_code == 2 and "already withdrawn" in again.output
    history = CliRunner().invoke(cli_app, ["history", "K1", "--format", "json"])
    assert '"changed_by": "land_xd"' in history.output


def _tally():
    """This year's tally: the parcels here are verified today."""
    with database.session_scope() as session:
        year = datetime.now(CAMPAIGN_TZ).year
        return tally(session, by="township", kind="land", year=year)


# --- stale changes --------------------------------------------------------------------------


def test_a_change_made_on_a_stale_version_is_409_and_writes_nothing(client, tmp_path):
    assert _post(client, _geojson(tmp_path)).status_code == 201
    ok = client.post("/api/parcels/1/status", json={"status": "in_progress", "version": 1})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    versions = count_rows("parcel_versions")
    stale = client.post("/api/parcels/1/status", json={"status": "delivered", "version": 1})
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"]
    assert count_rows("parcel_versions") == versions
    withdraw_stale = client.post("/api/parcels/1/withdraw", json={"reason": "x", "version": 1})
    assert withdraw_stale.status_code == 409
