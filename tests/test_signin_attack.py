"""Sign-in as an attacker would use it (issue 20, item 3): a flood of wrong passwords at a
running server, concurrent attempts racing the limit, a stranger trying to lock the owner
out, an admin unlocking, and addresses claimed through X-Forwarded-For."""

import asyncio
import threading
import time
from datetime import timedelta

import anyio
import httpx
import liveserver
import pytest
from conftest import TEST_PASSWORD, auth, shared_app
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from geo_service import database
from geo_service.accounts import users
from geo_service.api.app import create_app
from geo_service.cli import app as cli
from geo_service.errors import TooManyAttempts, Unauthorized
from geo_service.settings import get_settings


def _run_apart(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API (the browser tests) leaves
    an event loop running in the main thread, where asyncio.run refuses to start."""
    result = {}

    def run():
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as error:  # raised again in the test's own thread
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


OWNER = "planner"  # a test user; every test user signs in with TEST_PASSWORD
ATTACKER = "127.0.0.1"
# Linux routes all of 127/8 to the loopback: a second client address on this machine.
ELSEWHERE = "127.0.0.2"
FLOOD = 200
# Long enough that no delay ends during a test: what is checked is the count alone.
LONG_DELAY = {"LOGIN_DELAY_SECONDS": "600", "PASSWORD_CHECKS": "2"}
runner = CliRunner()


def _client(server, address: str = ATTACKER, **options) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.url, transport=transport, **options)


async def _sign_in(client, password: str, **headers) -> httpx.Response:
    return await client.post(
        "/api/token", data={"username": OWNER, "password": password}, headers=headers
    )


def _peak_memory_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))


def _audited(outcome: str, source: str | None = None) -> int:
    sql = "SELECT count(*) FROM audit_log WHERE action = 'login' AND target = :u AND outcome = :o"
    params = {"u": OWNER, "o": outcome}
    if source is not None:
        sql += " AND source = :s"
        params["s"] = source
    with database.get_engine().connect() as conn:
        return conn.execute(text(sql), params).scalar()


async def _flood(server, headers_for=lambda i: {}) -> tuple[list[int], list[float]]:
    """FLOOD wrong passwords at once, /healthz polled meanwhile: statuses and its latencies."""
    limits = httpx.Limits(max_connections=FLOOD + 10)
    async with _client(server, limits=limits, timeout=60) as client:
        attempts = [_sign_in(client, "wrong password", **headers_for(i)) for i in range(FLOOD)]
        flood = asyncio.gather(*attempts)
        latencies = []
        while not flood.done():
            started = time.monotonic()
            assert (await client.get("/healthz")).status_code == 200
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.05)
        return [r.status_code for r in await flood], latencies


@pytest.fixture
def server(db, tmp_path):
    with liveserver.running(db, tmp_path / "server.log", env=LONG_DELAY) as running:
        yield running


def test_a_flood_of_wrong_passwords_locks_only_the_strangers_address(server):
    before_kib = _peak_memory_kib(server.process.pid)
    refused, locked = _audited("refused"), _audited("locked")
    # Each attempt claims another address: without a trusted proxy none is believed.
    statuses, latencies = _run_apart(
        _flood(server, lambda i: {"X-Forwarded-For": f"198.51.100.{i % 250}"})
    )
    assert not [s for s in statuses if s >= 500], statuses
    # Counted atomically: exactly LOGIN_MAX_FAILURES were checked, all others held back.
    max_failures = get_settings().login_max_failures
    assert statuses.count(401) == max_failures, statuses
    assert statuses.count(429) == FLOOD - max_failures
    assert _audited("refused", ATTACKER) == refused + max_failures
    assert _audited("locked", ATTACKER) == locked + FLOOD - max_failures
    assert max(latencies) < 10, latencies
    # At most PASSWORD_CHECKS argon2 checks (64 MiB each) at a time, not one per attempt.
    grown_mib = (_peak_memory_kib(server.process.pid) - before_kib) / 1024
    assert grown_mib < 400, grown_mib

    async def afterwards():
        async with _client(server) as here, _client(server, ELSEWHERE) as elsewhere:
            again = await _sign_in(here, TEST_PASSWORD)
            owner = await _sign_in(elsewhere, TEST_PASSWORD)
            return again, owner

    again, owner = _run_apart(afterwards())
    # Even the right password waits at the stranger's address, and says for how long ...
    assert again.status_code == 429
    assert 0 < int(again.headers["Retry-After"]) <= 600
    # ... while the owner, from another address, signs in at once.
    assert owner.status_code == 200, owner.text
    assert owner.json()["access_token"]


def test_concurrent_attempts_cannot_pass_the_limit(db):
    """Twenty attempts started together from one address: the count is taken under the
    pair's row lock, so exactly LOGIN_MAX_FAILURES go on to a password check."""
    barrier = threading.Barrier(20)
    outcomes = []

    def attempt():
        barrier.wait()
        try:
            users.begin_sign_in(OWNER, "192.0.2.1")
            outcomes.append("counted")
        except TooManyAttempts:
            outcomes.append("held")

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("counted") == get_settings().login_max_failures
    assert outcomes.count("held") == 20 - get_settings().login_max_failures


def _throttle(address: str):
    with database.get_engine().connect() as conn:
        return conn.execute(
            text(
                "SELECT attempts, locked_until - last_attempt_at FROM signin_throttles "
                "WHERE username = :u AND address = :a"
            ),
            {"u": OWNER, "a": address},
        ).one()


def _end_the_wait(address: str) -> None:
    with database.get_engine().begin() as conn:
        conn.execute(
            text("UPDATE signin_throttles SET locked_until = now() - interval '1 second' "
                 "WHERE username = :u AND address = :a"),
            {"u": OWNER, "a": address},
        )  # fmt: skip


def test_the_delay_grows_with_each_failure_and_a_success_clears_it(db):
    settings = get_settings()
    address = "192.0.2.2"
    for _ in range(settings.login_max_failures):
        attempt = users.begin_sign_in(OWNER, address)
        with pytest.raises(Unauthorized), database.session_scope() as s:
            users.finish_sign_in(s, attempt, users.password_matches(attempt, "wrong"))
    attempts, delay = _throttle(address)
    assert attempts == settings.login_max_failures
    assert delay == timedelta(seconds=settings.login_delay_seconds)
    with pytest.raises(TooManyAttempts) as held:
        users.begin_sign_in(OWNER, address)
    assert 0 < held.value.retry_after <= settings.login_delay_seconds
    for doubled in (2, 4, 8):
        _end_the_wait(address)
        users.begin_sign_in(OWNER, address)
        assert _throttle(address)[1] == timedelta(seconds=settings.login_delay_seconds * doubled)
    # The longest wait is LOGIN_LOCKOUT_MINUTES, however many failures.
    assert users.signin_delay(1000) == settings.login_lockout_minutes * 60
    # Another address is not slowed at all, and a success clears only its own address.
    other = users.begin_sign_in(OWNER, "192.0.2.3")
    with database.session_scope() as s:
        who = users.finish_sign_in(s, other, users.password_matches(other, TEST_PASSWORD))
    assert who.username == OWNER
    assert _throttle(address)[0] == settings.login_max_failures + 3


def _lock_out(address: str) -> None:
    for _ in range(get_settings().login_max_failures):
        users.begin_sign_in(OWNER, address)


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


def test_an_admin_unlocks_through_the_api_audited(client):
    _lock_out("testclient")
    form = {"username": OWNER, "password": TEST_PASSWORD}
    assert client.post("/api/token", data=form).status_code == 429
    refused = client.post(f"/api/users/{OWNER}/unlock", headers=auth("officer_xd"))
    assert refused.status_code == 403
    assert client.post("/api/token", data=form).status_code == 429
    done = client.post(f"/api/users/{OWNER}/unlock", headers=auth("admin_t"))
    assert done.status_code == 200, done.text
    assert done.json() == {"username": OWNER, "address": None, "cleared": 1}
    assert client.post("/api/token", data=form).status_code == 200
    entries = client.get("/api/audit?action=user.unlock", headers=auth("admin_t")).json()
    assert entries[0]["username"] == "admin_t" and entries[0]["target"] == OWNER
    assert entries[0]["details"]["before"][0]["attempts"] == get_settings().login_max_failures
    unknown = client.post("/api/users/nobody/unlock", headers=auth("admin_t"))
    assert unknown.status_code == 404


def test_an_admin_unlocks_one_address_from_the_cli(db):
    _lock_out("192.0.2.4")
    _lock_out("192.0.2.5")
    result = runner.invoke(cli, ["users", "unlock", OWNER, "--address", "192.0.2.4"])
    assert result.exit_code == 0, result.output
    assert "1 address(es) cleared" in result.output
    users.begin_sign_in(OWNER, "192.0.2.4")  # free again
    with pytest.raises(TooManyAttempts):
        users.begin_sign_in(OWNER, "192.0.2.5")
    refused = runner.invoke(cli, ["users", "unlock", OWNER, "--as", "officer_xd"])
    assert refused.exit_code != 0
    with database.get_engine().connect() as conn:
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'user.unlock' "
                 "AND target = :u AND source = 'cli' AND details->>'address' = '192.0.2.4'"),
            {"u": OWNER},
        ).scalar()  # fmt: skip
    assert audited >= 1


def test_forwarded_addresses_are_believed_only_from_a_trusted_proxy(db, tmp_path):
    env = {**LONG_DELAY, "TRUSTED_PROXIES": f'["{ATTACKER}"]'}
    with liveserver.running(db, tmp_path / "proxied.log", env=env) as server:

        async def attempts():
            async with _client(server) as proxy, _client(server, ELSEWHERE) as untrusted:
                for _ in range(get_settings().login_max_failures):
                    await _sign_in(proxy, "wrong", **{"X-Forwarded-For": "203.0.113.9"})
                # Through the proxy, the client's address is what it forwarded ...
                held = await _sign_in(proxy, TEST_PASSWORD, **{"X-Forwarded-For": "203.0.113.9"})
                owner = await _sign_in(proxy, TEST_PASSWORD, **{"X-Forwarded-For": "10.9.8.7"})
                # ... but a peer that is no trusted proxy cannot claim an address.
                spoofed = await _sign_in(untrusted, "wrong", **{"X-Forwarded-For": "10.9.8.7"})
                return held, owner, spoofed

        held, owner, spoofed = _run_apart(attempts())
    assert held.status_code == 429
    assert owner.status_code == 200, owner.text
    assert spoofed.status_code == 401
    assert _audited("refused", "203.0.113.9") == get_settings().login_max_failures
    assert _audited("refused", ELSEWHERE) >= 1
    assert _audited("refused", "10.9.8.7") == 0


def test_beyond_the_queue_a_sign_in_is_told_to_come_back_and_nothing_is_counted(db, monkeypatch):
    monkeypatch.setenv("PASSWORD_CHECKS", "1")
    monkeypatch.setenv("PASSWORD_CHECK_QUEUE", "0")
    get_settings.cache_clear()
    app = create_app()
    form = {"username": OWNER, "password": "wrong"}
    refused = _audited("refused")
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            checks = client.portal.call(anyio.CapacityLimiter, 1)
            app.state.password_checks = checks
            client.portal.call(checks.acquire_on_behalf_of_nowait, "another sign-in")
            busy = client.post("/api/token", data=form)
            # The checks' bound is their own: the health check answers beside them.
            health = client.get("/healthz")
            page = client.post("/login", data=form, headers={"Origin": "http://testserver"})
            client.portal.call(checks.release_on_behalf_of, "another sign-in")
            checked = client.post("/api/token", data=form)
    finally:
        get_settings.cache_clear()
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == str(get_settings().password_busy_retry_seconds)
    assert "1 checking, 0 waiting" in busy.json()["detail"]
    assert health.status_code == 200, health.text
    assert page.status_code == 503 and page.headers["Retry-After"]
    # Neither was counted against the owner's address nor audited as a failure.
    assert checked.status_code == 401
    assert _throttle("testclient")[0] == 1
    assert _audited("refused") == refused + 1
