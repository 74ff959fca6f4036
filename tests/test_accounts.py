"""Accounts, roles and accountable sign-off: every write endpoint and CLI write command,
for every role; refusals change nothing; the audit log records both."""

import pytest
from conftest import TEST_PASSWORD, auth, count_rows, shared_app, token_for, with_user
from fastapi.testclient import TestClient
from parcelfiles import XINDIAN, ZONE40, frame, rectangle, write
from sqlalchemy import text
from typer.testing import CliRunner

from geo_service import database
from geo_service.cli import app as cli
from geo_service.database import session_scope
from geo_service.models import Parcel
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import set_status
from geo_service.settings import get_settings

GUSHAN = (119.385, 26.085)
ROLES = [None, "leader_jinan", "leader_city", "planner", "admin_t", "officer_xd", "land_xd",
         "land_all", "demolition_all"]  # fmt: skip
runner = CliRunner()


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


def _parcel(tmp_path, code="P-1", status="planned", where=XINDIAN, township="新店镇") -> int:
    path = write(frame([rectangle(where, 0, 0, 120, 80)], code=[code]), tmp_path / f"{code}.gpkg",
                 ZONE40, "GPKG")  # fmt: skip
    with session_scope() as s:
        options = ImportOptions(kind="land", township=township, status="planned", actor="测绘队")
        import_file(s, path, options)
        parcel = s.query(Parcel).filter_by(code=code).one()
        steps = {"planned": [], "delivered": ["in_progress", "delivered"]}
        for step in steps.get(status, ["in_progress", "delivered"]):
            set_status(s, parcel, step, actor="测绘队")
        if status == "verified":
            from geo_service.parcels.workflow import verify

            verify(s, parcel, "测试", "土地核验组")
        return parcel.id


def _written() -> tuple[int, ...]:
    return tuple(count_rows(t) for t in ("parcels", "parcel_versions", "uploads"))


def _audit(outcome: str) -> int:
    with database.get_engine().connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM audit_log WHERE outcome = :o"), {"o": outcome}
        ).scalar()


def _headers(role):
    return auth(role) if role else {}


def _expect(response, role, allowed: set, before):
    """Allowed roles succeed, attributed to them; the others are 401/403 and write nothing."""
    if role in allowed:
        assert response.status_code in (200, 201), (role, response.text)
        return
    assert response.status_code == (401 if role is None else 403), (role, response.text)
    assert _written() == before, role


# --- the API matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "status, allowed",
    [("planned", {"officer_xd", "land_xd", "land_all"}), ("verified", {"land_xd", "land_all"})],
)
def test_upload_by_role(client, tmp_path, role, status, allowed):
    path = write(frame([rectangle(XINDIAN, 0, 0, 90, 60)], code=["U-1"]), tmp_path / "u.gpkg",
                 ZONE40, "GPKG")  # fmt: skip
    before, refused = _written(), _audit("refused")
    response = client.post(
        "/api/uploads",
        files={"file": ("u.gpkg", path.read_bytes())},
        data={"kind": "land", "township": "新店镇", "status": status},
        headers=_headers(role),
    )
    _expect(response, role, allowed, before)
    if role in allowed:
        with session_scope() as s:
            parcel = s.query(Parcel).filter_by(code="U-1").one()
            assert (parcel.created_by, parcel.upload_id is not None) == (role, True)
            if status == "verified":
                assert (parcel.verified_by, parcel.verified_group) == (role, "土地核验组")
    elif role is not None:
        assert _audit("refused") == refused + 1


@pytest.mark.parametrize("role", ROLES)
def test_status_change_by_role(client, tmp_path, role):
    pid = _parcel(tmp_path)
    before = _written()
    response = client.post(
        f"/api/parcels/{pid}/status", json={"status": "in_progress"}, headers=_headers(role)
    )
    _expect(response, role, {"officer_xd", "land_xd", "land_all"}, before)
    if role in {"officer_xd", "land_xd", "land_all"}:
        assert response.json()["changed_by"] == role


@pytest.mark.parametrize("role", ROLES)
def test_verify_by_role(client, tmp_path, role):
    pid = _parcel(tmp_path, status="delivered")
    before = _written()
    body = {"verifier": "冒名者", "group": "土地核验组", "note": "现场核验"}
    response = client.post(f"/api/parcels/{pid}/verify", json=body, headers=_headers(role))
    _expect(response, role, {"land_xd", "land_all"}, before)
    if response.status_code == 200:
        assert (response.json()["verified_by"], response.json()["changed_by"]) == (role, role)


@pytest.mark.parametrize("role", ROLES)
def test_dispute_by_role(client, tmp_path, role):
    pid = _parcel(tmp_path, status="verified")
    before = _written()
    response = client.post(
        f"/api/parcels/{pid}/dispute", json={"reason": "界址不符"}, headers=_headers(role)
    )
    _expect(response, role, {"land_xd", "land_all"}, before)


@pytest.mark.parametrize("role", ROLES)
def test_a_township_officer_never_settles_a_dispute(client, tmp_path, role):
    pid = _parcel(tmp_path, status="verified")
    assert client.post(f"/api/parcels/{pid}/dispute", json={"reason": "x"},
                       headers=auth("land_all")).status_code == 200  # fmt: skip
    before = _written()
    response = client.post(
        f"/api/parcels/{pid}/status",
        json={"status": "delivered", "note": "复核无误"},
        headers=_headers(role),
    )
    _expect(response, role, {"land_xd", "land_all"}, before)


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_read_the_audit_log(client, role):
    response = client.get("/api/audit", headers=_headers(role))
    if role == "admin_t":
        assert response.status_code == 200 and isinstance(response.json(), list)
    else:
        assert response.status_code == (401 if role is None else 403)


def test_scope_a_xindian_verifier_cannot_verify_in_gushan(client, tmp_path):
    pid = _parcel(tmp_path, "GS-9", "delivered", where=GUSHAN, township="鼓山镇")
    before = _written()
    response = client.post(f"/api/parcels/{pid}/verify", json={}, headers=auth("land_xd"))
    assert response.status_code == 403 and "鼓山镇" in response.json()["detail"]
    assert _written() == before
    response = client.post(f"/api/parcels/{pid}/verify", json={}, headers=auth("demolition_all"))
    assert response.status_code == 403 and "土地核验组" in response.json()["detail"]
    assert client.post(f"/api/parcels/{pid}/verify", json={},
                       headers=auth("land_all")).status_code == 200  # fmt: skip


def test_reads_need_a_sign_in_and_stay_in_the_users_district(client, tmp_path):
    pid = _parcel(tmp_path)
    for path in (
        "/api/parcels",
        f"/api/parcels/{pid}",
        f"/api/parcels/{pid}/history",
        "/api/tallies",
        "/api/support-links",
        "/api/changes",
        "/maps/progress/data.json",
    ):
        assert client.get(path).status_code == 401, path  # fmt: skip
    page = client.get("/maps/progress", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    assert client.get("/docs", follow_redirects=False).status_code == 303
    cangshan = ["targets", "set", "--district", "仓山区", "--kind", "land", "--year", "2017"]
    assert runner.invoke(cli, [*cangshan, "--mu", "100"]).exit_code == 0
    leader = auth("leader_jinan")
    assert client.get("/api/parcels", headers=leader).json()["numberMatched"] == 1
    assert client.get("/maps/progress?district=仓山区", headers=leader).status_code == 403
    districts = {r["district"] for r in client.get("/api/tallies", headers=leader).json()}
    assert districts == {"晋安区"}
    everywhere = {r["district"] for r in client.get("/api/tallies", headers=auth("planner")).json()}
    assert {"晋安区", "仓山区"} <= everywhere


def test_four_eyes_keeps_who_delivered_from_verifying(client, tmp_path):
    pid = _parcel(tmp_path)
    land_xd = auth("land_xd")
    for to in ("in_progress", "delivered"):
        response = client.post(f"/api/parcels/{pid}/status", json={"status": to}, headers=land_xd)
        assert response.status_code == 200
    result = runner.invoke(cli, ["users", "four-eyes", "晋安区", "--on"])
    assert result.exit_code == 0, result.output
    try:
        refused = client.post(f"/api/parcels/{pid}/verify", json={}, headers=land_xd)
        assert refused.status_code == 403 and "four eyes" in refused.json()["detail"]
        other = client.post(f"/api/parcels/{pid}/verify", json={}, headers=auth("land_all"))
        assert other.status_code == 200
    finally:
        runner.invoke(cli, ["users", "four-eyes", "晋安区", "--off"])


# --- sign-in, tokens, sessions -----------------------------------------------------------------


def test_password_flow_token_me_and_logout(client):
    response = client.post("/api/token", data={"username": "planner", "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).json()["role"] == "planner"
    assert client.post("/api/logout", headers=headers).status_code == 204
    assert client.get("/api/me", headers=headers).status_code == 401


TEMP = "temporary-123"


def _add_user(username, role, *scope):
    args = ["users", "add", username, "--role", role, *scope, "--password", TEMP]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output


def test_wrong_passwords_are_audited_and_lock_the_name(client):
    _add_user("lock_me", "planner")
    refused = _audit("refused")
    for _ in range(5):
        response = client.post("/api/token", data={"username": "lock_me", "password": "nope"})
        assert response.status_code == 401
    assert _audit("refused") == refused + 5
    # Even the right password is refused while the name is locked.
    locked = client.post("/api/token", data={"username": "lock_me", "password": TEMP})
    assert locked.status_code == 429
    unknown = client.post("/api/token", data={"username": "nobody", "password": "x" * 12})
    assert unknown.status_code == 401


def test_disabling_a_user_revokes_their_tokens(client):
    _add_user("temp_officer", "officer", "--township", "新店镇")
    headers = auth("temp_officer")
    assert client.get("/api/me", headers=headers).status_code == 200
    assert runner.invoke(cli, ["users", "disable", "temp_officer"]).exit_code == 0
    assert client.get("/api/me", headers=headers).status_code == 401
    signed = client.post(
        "/api/token", data={"username": "temp_officer", "password": "temporary-123"}
    )
    assert signed.status_code == 401


def test_an_expired_token_is_refused(client):
    from geo_service.accounts import users

    with session_scope() as s:
        who = users.acting_user(s, "planner")
        expired = users.issue_token(s, who, "api", minutes=-1)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_the_session_cookie_is_httponly_and_samesite(client):
    response = client.post(
        "/login",
        data={"username": "leader_jinan", "password": TEST_PASSWORD, "next": "/maps/progress"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/maps/progress"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    wrong = client.post("/login", data={"username": "leader_jinan", "password": "bad"},
                        headers={"Origin": "http://testserver"})  # fmt: skip
    assert wrong.status_code == 401 and "登录失败" in wrong.text


@pytest.mark.parametrize("origin", ["http://evil.example", "http://testserver:8001", None])
def test_a_cross_origin_post_with_the_cookie_is_refused(client, tmp_path, origin):
    client.post("/login", data={"username": "officer_xd", "password": TEST_PASSWORD},
                headers={"Origin": "http://testserver"})  # fmt: skip
    assert client.cookies.get("gs_session")
    path = write(frame([rectangle(XINDIAN, 0, 0, 90, 60)], code=["C-1"]), tmp_path / "c.gpkg",
                 ZONE40, "GPKG")  # fmt: skip
    before = _written()
    headers = {"Origin": origin} if origin else {}
    response = client.post(
        "/api/uploads",
        files={"file": ("c.gpkg", path.read_bytes())},
        data={"kind": "land", "township": "新店镇"},
        headers=headers,
    )
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert _written() == before
    same = client.post(
        "/api/uploads",
        files={"file": ("c.gpkg", path.read_bytes())},
        data={"kind": "land", "township": "新店镇"},
        headers={"Origin": "http://testserver"},
    )
    assert same.status_code == 201, same.text


# --- the CLI -------------------------------------------------------------------------------


def _cli(*args, as_user):
    return runner.invoke(cli, with_user([str(a) for a in args], as_user))


@pytest.mark.parametrize("role", ROLES)
def test_cli_writes_by_role(db, tmp_path, role):
    pid = _parcel(tmp_path, status="delivered")
    path = write(frame([rectangle(XINDIAN, 500, 0, 90, 60)], code=["L-1"]), tmp_path / "l.gpkg",
                 ZONE40, "GPKG")  # fmt: skip
    cases = [
        (["import", path, "--kind", "land", "--township", "新店镇"],
         {"officer_xd", "land_xd", "land_all"}),
        (["verify", f"#{pid}"], {"land_xd", "land_all"}),
        (["dispute", f"#{pid}", "--reason", "界址不符"], {"land_xd", "land_all"}),
        (["targets", "set", "--district", "晋安区", "--kind", "land", "--year", "2017",
          "--mu", "9100"], {"admin_t", None}),
    ]  # fmt: skip
    for args, allowed in cases:
        before = _written()
        result = _cli(*args, as_user=role)
        if role in allowed:
            assert result.exit_code == 0, (role, args, result.output)
        else:
            assert result.exit_code == 2, (role, args, result.output)
            assert "may not" in result.stderr, result.stderr
            assert _written() == before
            if args[0] == "verify":
                break  # nothing verified: the dispute that follows has nothing to dispute


def test_cli_records_the_named_user_and_the_local_operator(db, tmp_path):
    pid = _parcel(tmp_path, status="delivered")
    assert _cli("verify", f"#{pid}", as_user="land_xd").exit_code == 0
    result = _cli("targets", "set", "--district", "晋安区", "--kind", "land", "--year", "2017",
                  "--mu", "9000", as_user=None)  # fmt: skip
    assert result.exit_code == 0, result.output
    log = runner.invoke(cli, ["audit", "--format", "json", "--limit", "5"])
    entries = __import__("json").loads(log.stdout)
    actions = {(e["username"].split(":")[0], e["action"]) for e in entries}
    assert ("land_xd", "parcel.verify") in actions and ("local", "target.set") in actions


def test_the_audit_log_cannot_be_changed(db):
    with database.get_engine().begin() as conn:
        conn.execute(text("INSERT INTO audit_log (action, outcome) VALUES ('test', 'ok')"))
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
                      "TRUNCATE audit_log"):  # fmt: skip
        with pytest.raises(Exception, match="append-only"), database.get_engine().begin() as c:
            c.execute(text(statement))


def test_db_upgrade_creates_the_first_admin_only_once(db_url, monkeypatch):
    from geo_service.accounts import users

    with session_scope() as s:
        # There are users already (the tests'): nothing is created.
        assert users.ensure_first_admin(s) is None
    assert token_for("admin_t")


# --- tokens remembered for a few seconds -----------------------------------------------------


def _revoke_in_the_database(token: str) -> None:
    """Revoke as another worker would: in the database, unseen by this process."""
    import hashlib

    with database.get_engine().begin() as conn:
        conn.execute(
            text("UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = :h"),
            {"h": hashlib.sha256(token.encode()).hexdigest()},
        )


def test_a_token_revoked_by_another_worker_is_refused_once_no_longer_remembered(
    client, monkeypatch
):
    from geo_service.accounts import users

    token = token_for("planner")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200  # now remembered
    _revoke_in_the_database(token)
    # Within TOKEN_CACHE_SECONDS (2 s by default) this worker still knows the token ...
    assert client.get("/api/me", headers=headers).status_code == 200
    # ... and once they have passed, it asks the database again and refuses it.
    later = users._clock() + get_settings().token_cache_seconds + 0.001
    monkeypatch.setattr(users, "_clock", lambda: later)
    assert client.get("/api/me", headers=headers).status_code == 401
    assert client.get("/api/parcels", headers=headers).status_code == 401


def test_with_no_remembering_a_revocation_elsewhere_is_refused_at_once(client, monkeypatch):
    monkeypatch.setenv("TOKEN_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    try:
        token = token_for("planner")
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/me", headers=headers).status_code == 200
        _revoke_in_the_database(token)
        assert client.get("/api/me", headers=headers).status_code == 401
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_remembered_token_is_forgotten_at_once_by_this_workers_own_revocations(client):
    _add_user("temp_leader", "leader", "--district", "晋安区")
    token = token_for("temp_leader")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).json()["role"] == "leader"
    # Disabling the user revokes their tokens here, in this process: refused at once.
    result = runner.invoke(cli, ["users", "disable", "temp_leader"])
    assert result.exit_code == 0, result.output
    assert client.get("/api/me", headers=headers).status_code == 401
