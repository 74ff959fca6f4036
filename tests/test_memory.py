"""A server that takes large uploads and serves the maps over and over comes back to its
memory baseline: nothing from one request is kept for good."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import shapely
from conftest import auth
from parcelfiles import XINDIAN, frame, write
from pyproj import Transformer

ROUNDS = 3
# What a settled Python process may still grow by after its first large requests
# (allocator arenas, caches warmed later); a leak of one upload per round is far more.
ALLOWED_GROWTH_MB = 60


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(db):
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "geo_service.api.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],  # fmt: skip
        env={**os.environ},
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not start")
    yield base, process.pid
    process.terminate()
    process.wait(timeout=10)


def _dense_parcels(count: int, vertices: int, offset_m: float):
    """`count` round parcels of `vertices` points each, in a row east of 新店镇's centre."""
    to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
    back = Transformer.from_crs(4549, 4490, always_xy=True)
    x0, y0 = to_gk.transform(*XINDIAN)
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    shapes = []
    for i in range(count):
        cx, cy = x0 - 2000 + 120 * i, y0 + offset_m
        lon, lat = back.transform(cx + 50 * np.cos(angles), cy + 50 * np.sin(angles))
        shapes.append(shapely.Polygon(np.column_stack([lon, lat])))
    return shapes


def test_memory_returns_near_baseline_after_large_uploads_and_reads(server, tmp_path):
    base, pid = server
    shapes = _dense_parcels(15, 15_000, offset_m=0)
    codes = [f"M-{i}" for i in range(len(shapes))]
    path = write(frame(shapes, code=codes), tmp_path / "big.geojson", 4326, "GeoJSON")
    assert path.stat().st_size > 4_000_000  # 225,000 vertices

    reader = auth("leader_city")

    def one_round(path: Path):
        """The same file each round: what the server holds stays the same, so must its
        memory."""
        with path.open("rb") as handle:
            response = httpx.post(
                f"{base}/api/uploads",
                files={"file": (path.name, handle)},
                data={"kind": "land", "township": "新店镇"},
                headers=auth("land_all"),
                timeout=300,
            )
        assert response.status_code == 201, response.text  # stored once, then unchanged
        for url in ("/maps/progress/data.json", "/maps/progress", "/api/parcels?limit=5000"):
            response = httpx.get(f"{base}{url}", headers=reader, timeout=120)
            assert response.status_code == 200

    one_round(path)  # warm-up: imports, caches, allocator arenas
    baseline = _rss_mb(pid)
    peaks = []
    for _ in range(ROUNDS):
        one_round(path)
        peaks.append(_rss_mb(pid))
    time.sleep(1)
    after = _rss_mb(pid)
    print(f"RSS MB: baseline {baseline:.0f}, rounds {peaks}, after {after:.0f}")
    assert after - baseline < ALLOWED_GROWTH_MB, (baseline, peaks, after)
