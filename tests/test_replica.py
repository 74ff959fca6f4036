"""Read replicas on real PostgreSQL streaming replication: a throwaway primary cluster and a
hot standby copied from it with pg_basebackup (both made by scripts/replica.sh on free
ports, in a temporary directory, never touching the shared server), and the service run
with DATABASE_URL=primary, DATABASE_REPLICA_URL=standby.

How the tests know where a read went: replay on the standby is paused while the service
writes; a read the service answers from the standby cannot see that write yet, one
answered from the primary would. With the standby stopped, reads must come from the
primary instead (and say so in the log)."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import liveserver
import pytest
from conftest import TEST_PASSWORD, TEST_USERS
from parcelfiles import XINDIAN, frame, rectangle, write
from sqlalchemy import create_engine, text

from geo_service import database, reference
from geo_service.accounts import users

REPLICA_SH = Path(__file__).resolve().parents[1] / "scripts" / "replica.sh"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
_MISSING = [b for b in ("initdb", "pg_ctl", "pg_basebackup") if not (PG_BIN / b).exists()]
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"no PostgreSQL server binaries in {PG_BIN} ({', '.join(_MISSING)})"
)
# A deadline for the standby to replay what the primary wrote (normally well under a second).
REPLAY_DEADLINE = 30
WRITER, READER = "land_all", "leader_city"


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _replica_sh(*args) -> None:
    done = subprocess.run(
        ["bash", str(REPLICA_SH), *map(str, args)],
        env={**os.environ, "PG_BIN": str(PG_BIN)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"replica.sh {' '.join(map(str, args))}: {done.stderr}"


@dataclass
class Clusters:
    home: Path
    primary: str
    standby: str

    def on(self, url: str, sql: str):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def clusters():
    """A migrated primary with the reference units and two test users, and its standby."""
    home = Path(tempfile.mkdtemp(prefix="gs_replica_"))
    home.chmod(0o755)  # the clusters run as the postgres user
    primary_port, standby_port = _free_ports(2)
    url = "postgresql+psycopg://postgres@127.0.0.1:{}/geo_service_replica"
    made = Clusters(home, url.format(primary_port), url.format(standby_port))
    try:
        _replica_sh("primary", home / "primary", primary_port)
        database.migrate(made.primary)
        with database.session_scope(made.primary) as session:
            reference.load_reference(session)
            for username in (WRITER, READER):
                users.create_user(
                    session, username, password=TEST_PASSWORD, by="tests",
                    display_name=username, **TEST_USERS[username],
                )  # fmt: skip
        _replica_sh("standby", "127.0.0.1", primary_port, home / "standby", standby_port)
        yield made
    finally:
        database.get_engine(made.primary).dispose()
        for name in ("standby", "primary"):
            subprocess.run(["bash", str(REPLICA_SH), "stop", home / name], timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def _token(clusters: Clusters, username: str) -> str:
    with database.session_scope(clusters.primary) as session:
        return users.issue_token(session, users.acting_user(session, username), "api", 60)


@pytest.fixture(scope="module")
def service(clusters, tmp_path_factory):
    """`geo-service serve` on the primary with the standby as its read replica."""
    log = tmp_path_factory.mktemp("replica") / "server.log"
    env = {"DATABASE_REPLICA_URL": clusters.standby, "REPLICA_RETRY_SECONDS": "1"}
    with liveserver.running(clusters.primary, log, liveserver.PACKAGE_CLI, env=env) as server:
        yield server.url, log


def _upload(client: httpx.Client, code: str, dx: float, folder: Path) -> None:
    parcels = frame([rectangle(XINDIAN, dx, 0, 80, 60)], code=[code])
    path = write(parcels, folder / f"{code}.geojson")
    with path.open("rb") as payload:
        response = client.post(
            "/api/uploads",
            files={"file": (path.name, payload)},
            data={"kind": "land", "township": "新店镇", "status": "delivered"},
        )
    assert response.status_code == 201, response.text


def _listed(client: httpx.Client, code: str) -> list[dict]:
    response = client.get("/api/parcels", params={"code": code})
    assert response.status_code == 200, response.text
    return response.json()["features"]


def test_reads_come_from_the_standby_and_writes_and_sign_ins_from_the_primary(
    clusters, service, tmp_path
):
    base, _ = service
    writer = httpx.Client(base_url=base, timeout=60, headers=_bearer(_token(clusters, WRITER)))
    reader = httpx.Client(base_url=base, timeout=60, headers=_bearer(_token(clusters, READER)))
    assert clusters.on(clusters.standby, "SELECT pg_is_in_recovery()") is True
    assert reader.get("/healthz").json()["replica"] == "ok"  # signed in: the details
    _wait_for_replay(clusters)
    before = reader.get("/api/changes").json()["token"]

    clusters.on(clusters.standby, "SELECT pg_wal_replay_pause()")
    try:
        _wait_until_paused(clusters)
        # The upload is a write: it goes to the primary (the standby would refuse it).
        _upload(writer, "R-1", 0, tmp_path)
        on_primary = "SELECT id FROM parcels WHERE code = 'R-1'"
        parcel_id = clusters.on(clusters.primary, on_primary)
        assert parcel_id is not None
        assert clusters.on(clusters.standby, "SELECT count(*) FROM parcels") == 0
        # Reads through the service come from the paused standby: not there yet, and the
        # change token has not moved either (it never runs ahead of the data).
        assert _listed(reader, "R-1") == []
        assert reader.get(f"/api/parcels/{parcel_id}").status_code == 404
        assert reader.get("/api/changes").json()["token"] == before
        # Signing in writes a token the standby has not replayed: it is issued and checked
        # on the primary, so it works at once for a read of the standby's data.
        signed_in = httpx.post(
            f"{base}/api/token", data={"username": READER, "password": TEST_PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        fresh = httpx.Client(
            base_url=base, timeout=60, headers=_bearer(signed_in.json()["access_token"])
        )
        assert _listed(fresh, "R-1") == []
    finally:
        clusters.on(clusters.standby, "SELECT pg_wal_replay_resume()")

    deadline = time.monotonic() + REPLAY_DEADLINE
    while not (listed := _listed(fresh, "R-1")):
        assert time.monotonic() < deadline, "the standby did not replay the upload"
        time.sleep(0.1)
    assert [f["id"] for f in listed] == [parcel_id]
    assert reader.get(f"/api/parcels/{parcel_id}").json()["properties"]["code"] == "R-1"
    assert reader.get("/api/changes").json()["token"] != before
    for client in (writer, reader, fresh):
        client.close()


def test_a_standby_that_is_down_leaves_reads_on_the_primary(clusters, service, tmp_path):
    base, log = service
    writer = httpx.Client(base_url=base, timeout=60, headers=_bearer(_token(clusters, WRITER)))
    reader = httpx.Client(base_url=base, timeout=60, headers=_bearer(_token(clusters, READER)))
    assert "read replica unavailable" not in log.read_text()
    _replica_sh("stop", clusters.home / "standby")
    # Written after the standby stopped: only the primary has it, so seeing it through the
    # service's read routes means they were answered by the primary.
    _upload(writer, "R-2", 200, tmp_path)
    listed = _listed(reader, "R-2")
    assert [f["properties"]["code"] for f in listed] == ["R-2"]
    assert reader.get(f"/api/parcels/{listed[0]['id']}").status_code == 200
    assert reader.get("/api/tallies").status_code == 200
    assert "read replica unavailable" in log.read_text()
    health = reader.get("/healthz")
    assert health.status_code == 200
    assert health.json()["replica"] == "the database server cannot be reached"
    writer.close()
    reader.close()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _wait_for_replay(clusters: Clusters) -> None:
    """Until the standby has replayed all the primary has written so far (the set-up)."""
    target = clusters.on(clusters.primary, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + REPLAY_DEADLINE
    sql = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
    while not clusters.on(clusters.standby, sql):
        assert time.monotonic() < deadline, "the standby did not catch up with the primary"
        time.sleep(0.1)


def _wait_until_paused(clusters: Clusters) -> None:
    """A pause is a request: the standby confirms it before replaying anything more."""
    deadline = time.monotonic() + REPLAY_DEADLINE
    while clusters.on(clusters.standby, "SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert time.monotonic() < deadline, "the standby did not pause its replay"
        time.sleep(0.05)
