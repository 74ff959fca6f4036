"""Crash safety: the importing command and the server are killed (SIGKILL) in the middle of
storing a large upload; nothing of it is left, the service comes back, and the same upload
then succeeds."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import httpx
import liveserver
import numpy as np
import pytest
import shapely
from conftest import auth, count_rows
from parcelfiles import CM120E, XINDIAN
from pyproj import Transformer
from sqlalchemy import text

from geo_service import database
from geo_service.parcels.uploads import UPLOAD_LOCK

PARCELS = 3000
TABLES = ("uploads", "upload_files", "parcels", "parcel_versions", "parcel_support")


@pytest.fixture(scope="module")
def large_file(tmp_path_factory) -> Path:
    """PARCELS disjoint 20 m squares on a grid in 新店镇, in GK CM 120E."""
    x0, y0 = Transformer.from_crs(4490, CM120E, always_xy=True).transform(*XINDIAN)
    side = int(np.ceil(np.sqrt(PARCELS)))
    i = np.arange(PARCELS)
    boxes = shapely.box(x0 + 25 * (i % side), y0 + 25 * (i // side),
                        x0 + 25 * (i % side) + 20, y0 + 25 * (i // side) + 20)  # fmt: skip
    frame = gpd.GeoDataFrame({"code": [f"BIG-{k:05d}" for k in i]}, geometry=boxes, crs=CM120E)
    path = tmp_path_factory.mktemp("large") / "large.gpkg"
    frame.to_file(path, driver="GPKG")
    return path


def _counts() -> dict[str, int]:
    return {t: count_rows(t) for t in TABLES}


def _lock_holders() -> list[int]:
    """Backends holding (or waiting for) an upload lock."""
    with database.get_engine().connect() as conn:
        return (
            conn.execute(
                # This database's locks only: the server may hold other databases' uploads.
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"ns": UPLOAD_LOCK},
            )
            .scalars()
            .all()
        )


def _storing() -> bool:
    """Some backend is writing parcels or versions right now."""
    with database.get_engine().connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND datname = current_database() "
                    "AND state = 'active' AND query ~* '^\\s*(INSERT|UPDATE) (INTO )?parcel'"
                )
            ).scalar()
        )


def _wait_until_storing(process_alive, timeout=120.0) -> None:
    """Until the upload holds its township lock and, if it can be seen, is writing rows."""
    deadline = time.monotonic() + timeout
    while not _lock_holders():
        assert process_alive(), "the import ended before it took its lock"
        assert time.monotonic() < deadline, "the import never took its lock"
        time.sleep(0.01)
    until = time.monotonic() + 2.0
    while time.monotonic() < until and not _storing():
        time.sleep(0.005)


def _wait_for_rollback(timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while _lock_holders():
        assert time.monotonic() < deadline, "the killed upload's transaction is still open"
        time.sleep(0.05)


def _import_command(path: Path) -> list[str]:
    cli = str(Path(sys.executable).parent / "geo-service")
    return [cli, "import", str(path), "--kind", "land", "--township", "新店镇", "--as", "land_all"]


def test_killing_the_import_command_leaves_nothing_and_it_then_succeeds(db, large_file):
    before = _counts()
    env = {"DATABASE_URL": database.get_engine().url.render_as_string(hide_password=False)}
    process = subprocess.Popen(
        _import_command(large_file),
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _wait_until_storing(lambda: process.poll() is None)
    process.kill()
    process.wait(timeout=30)
    assert process.returncode == -9, "the import finished before it was killed"
    _wait_for_rollback()
    assert _counts() == before

    again = subprocess.run(
        _import_command(large_file),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"new {PARCELS}" in again.stdout
    counts = _counts()
    assert counts["parcels"] == counts["parcel_versions"] == PARCELS
    assert counts["uploads"] == counts["upload_files"] == 1


def test_killing_the_server_mid_upload_leaves_nothing_and_it_restarts(
    db, app_url, large_file, tmp_path
):
    before = _counts()
    log = tmp_path / "server.log"
    server = liveserver.start(app_url, log)
    outcome: dict = {}

    headers = auth("land_all")

    def send():
        try:
            outcome["response"] = _post(server.url, large_file, headers)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    try:
        sender.start()
        _wait_until_storing(lambda: server.process.poll() is None and sender.is_alive())
        server.kill()
        sender.join(timeout=60)
        assert "error" in outcome, "the request was answered before the server was killed"
        _wait_for_rollback()
        assert _counts() == before
    finally:
        liveserver.stop(server)

    with liveserver.running(app_url, log) as restarted:
        health = httpx.get(restarted.url + "/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        response = _post(restarted.url, large_file, headers)
        assert response.status_code == 201, response.text[:500]
        assert response.json()["created"] == PARCELS
    counts = _counts()
    assert counts["parcels"] == counts["parcel_versions"] == PARCELS
    assert counts["uploads"] == counts["upload_files"] == 1


def _post(url: str, path: Path, headers: dict) -> httpx.Response:
    with path.open("rb") as handle:
        return httpx.post(
            url + "/api/uploads",
            files={"file": (path.name, handle)},
            data={"kind": "land", "township": "新店镇"},
            headers=headers,
            timeout=600,
        )
