"""The built wheel, installed in a fresh virtual environment outside the repository, runs
`db upgrade`, `demo` and `serve` against a fresh database: reference data, demo data,
migrations and map assets all come from the installed package."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import liveserver
import pytest
from conftest import scratch_database

ROOT = Path(__file__).resolve().parent.parent


def _run(args, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding only the wheel; its dependencies are the test venv's, reached through a
    .pth file (no index needed for them), and the wheel's own geo_service comes first."""
    work = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", ROOT],
         cwd=work)  # fmt: skip
    (wheel,) = (work / "dist").glob("geo_service-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work
        ).stdout.strip()  # fmt: skip
    )
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=work)
    where = _run([python, "-c", "import geo_service; print(geo_service.__file__)"], cwd=work)
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    return venv


@pytest.fixture
def fresh_url(db_url):
    with scratch_database(db_url, "wheel") as url:
        yield url


def test_the_installed_wheel_upgrades_loads_the_demo_and_serves(installed, fresh_url, tmp_path):
    cli = installed / "bin" / "geo-service"
    password = "wheel-test-admin-2017"
    env = {**os.environ, "DATABASE_URL": fresh_url, "GEO_SERVICE_ADMIN_PASSWORD": password}
    upgraded = _run([cli, "db", "upgrade"], cwd=tmp_path, env=env)
    assert "reference data: 69 unit(s)" in upgraded.stdout
    demo = _run([cli, "demo"], cwd=tmp_path, env=env)
    assert "replayed for 424 parcel(s)" in demo.stdout  # the live demo: moved to today

    with liveserver.running(fresh_url, tmp_path / "server.log", command=[str(cli)]) as server:
        health = httpx.get(server.url + "/healthz", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert httpx.get(server.url + "/login", timeout=30).status_code == 200
        token = httpx.post(
            server.url + "/api/token", data={"username": "admin", "password": password}
        )
        assert token.status_code == 200, token.text
        signed = {"Authorization": f"Bearer {token.json()['access_token']}"}
        page = httpx.get(server.url + "/maps/progress", headers=signed, timeout=60)
        assert page.status_code == 200 and "晋安区" in page.text
        leaflet = next(
            line.split('"')[1]
            for line in page.text.splitlines()
            if "leaflet.js" in line and "src=" in line
        )
        asset = httpx.get(server.url + leaflet, timeout=30)
        assert asset.status_code == 200 and "Leaflet" in asset.text[:500]
        own = httpx.get(server.url + "/maps/static/geo_service_maps.js", timeout=30)
        assert own.status_code == 200


def test_missing_map_assets_are_named_and_fetched_by_the_command(installed, tmp_path):
    cli = installed / "bin" / "geo-service"
    python = installed / "bin" / "python"
    vendor = Path(
        _run(
            [python, "-c", "from geo_service.maps import assets; print(assets.NODE_MODULES)"],
            cwd=tmp_path,
        ).stdout.strip()  # fmt: skip
    )
    assert vendor.is_relative_to(installed)
    import shutil

    shutil.rmtree(vendor)
    missing = subprocess.run([cli, "assets", "check"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 2
    assert "geo-service assets install" in missing.stderr and "leaflet.js" in missing.stderr
    _run([cli, "assets", "install"], cwd=tmp_path)
    assert "present" in _run([cli, "assets", "check"], cwd=tmp_path).stdout
