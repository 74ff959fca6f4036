"""`geo-service serve --workers 2`: what one process changes, the other serves at once,
because no worker keeps state of its own (the change token comes from the database)."""

import socket
import time

import httpx
import liveserver
import pytest
from conftest import auth
from parcelfiles import XINDIAN, frame, rectangle, write


@pytest.fixture
def two_workers(db, tmp_path):
    with liveserver.running(
        db, tmp_path / "server.log", liveserver.PACKAGE_CLI, serve_args=("--workers", "2")
    ) as server:
        yield server.url


def _clients_on_two_processes(base: str) -> tuple[httpx.Client, httpx.Client]:
    """Kept-alive connections stay with the worker that accepted them: open connections
    until two are served by different processes. The first writes (as a land verifier),
    the second reads (as the city's leader)."""
    by_pid: dict[int, httpx.Client] = {}
    for _ in range(60):
        user = "land_all" if not by_pid else "leader_city"
        client = httpx.Client(base_url=base, timeout=60, headers=auth(user))
        pid = client.get("/healthz").json()["pid"]
        if pid in by_pid:
            client.close()
        else:
            by_pid[pid] = client
        if len(by_pid) == 2:
            return tuple(by_pid.values())
        time.sleep(0.05)
    pytest.fail(f"only saw worker(s) {list(by_pid)}")


def test_a_change_through_one_worker_is_seen_polling_the_other(two_workers, tmp_path):
    writer, reader = _clients_on_two_processes(two_workers)
    assert writer.get("/healthz").json()["pid"] != reader.get("/healthz").json()["pid"]
    before = reader.get("/api/changes").json()["token"]
    path = write(frame([rectangle(XINDIAN, 0, 0, 80, 60)], code=["W-1"]), tmp_path / "w.geojson")
    with path.open("rb") as payload:
        response = writer.post(
            "/api/uploads",
            files={"file": ("w.geojson", payload)},
            data={"kind": "land", "township": "新店镇", "status": "delivered"},
        )
    assert response.status_code == 201, response.text
    assert reader.get("/api/changes").json()["token"] != before
    listed = reader.get("/api/parcels", params={"code": "W-1"}).json()["features"]
    assert [f["properties"]["status"] for f in listed] == ["delivered"]
    parcel_id = listed[0]["id"]
    token = reader.get("/api/changes").json()["token"]
    verified = writer.post(f"/api/parcels/{parcel_id}/verify", json={"note": "现场核验"})
    assert verified.status_code == 200, verified.text
    assert reader.get("/api/changes").json()["token"] != token
    assert reader.get(f"/api/parcels/{parcel_id}").json()["properties"]["status"] == "verified"
    writer.close()
    reader.close()


def test_a_logout_through_one_worker_is_honoured_by_the_other_within_seconds(two_workers):
    """Each worker remembers a resolved token for TOKEN_CACHE_SECONDS (2 s): a token
    revoked through one worker is refused by the other once that has passed."""
    from conftest import token_for

    first, second = _clients_on_two_processes(two_workers)
    token = token_for("planner")
    signed = {"Authorization": f"Bearer {token}"}
    assert second.get("/api/me", headers=signed).status_code == 200  # remembered there
    assert first.post("/api/logout", headers=signed).status_code == 204
    assert first.get("/api/me", headers=signed).status_code == 401  # at once where revoked
    deadline = time.monotonic() + 30  # generous on a loaded machine; the bound is 2 s
    while second.get("/api/me", headers=signed).status_code != 401:
        assert time.monotonic() < deadline, "the other worker still accepts a revoked token"
        time.sleep(0.2)
    first.close()
    second.close()


def test_each_worker_socket_is_tcp_so_responses_leave_without_nagle(tmp_path):
    """`serve --workers N` binds each worker's socket as IPPROTO_TCP: asyncio then turns
    Nagle's algorithm off on every connection (a socket of protocol 0 it leaves alone, and
    every small response waited 40 ms for the client's delayed ACK)."""
    import asyncio

    from geo_service.cli.server import _listening_socket

    first = _listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = _listening_socket("127.0.0.1", port)  # SO_REUSEPORT: the same port again
    try:
        first.listen()
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = first.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
                asyncio.base_events._set_nodelay(accepted)  # what asyncio does to it
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        first.close()
        second.close()
