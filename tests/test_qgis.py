"""docs/qgis.md followed by QGIS 3.22 itself (Debian's QGIS, PyQGIS), against the running
service: the OAuth2 Resource Owner configuration, the OGC API - Features layer and a filter on
its queryables, the vector tiles, an exported GeoPackage. Runs where Debian's QGIS is
installed (`WITH_QGIS=1 scripts/bootstrap.sh`); REQUIRE_QGIS=1 makes its absence a failure."""

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import TEST_PASSWORD, auth
from test_layers_validate import GUSHAN_PARCELS, XINDIAN_PARCELS, _store

pytest_plugins = ["browser"]
DEBIAN_PYTHON = "/usr/bin/python3"
STEPS = Path(__file__).with_name("qgis_steps.py")


def _qgis_version() -> str | None:
    try:
        done = subprocess.run(
            [DEBIAN_PYTHON, "-c", "from qgis.core import Qgis; print(Qgis.version())"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except FileNotFoundError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture(scope="module")
def qgis_version():
    version = _qgis_version()
    if version is None:
        if os.environ.get("REQUIRE_QGIS"):
            pytest.fail("Debian's QGIS is missing: WITH_QGIS=1 scripts/bootstrap.sh installs it")
        pytest.skip("Debian's QGIS (python3-qgis) is not installed")
    return version


def test_qgis_follows_the_guide(qgis_version, live_server, tmp_path):
    _store(tmp_path)
    gpkg = tmp_path / "parcels.gpkg"
    answer = httpx.get(f"{live_server}/api/exports/parcels.gpkg", headers=auth("planner"))
    assert answer.status_code == 200, answer.text
    gpkg.write_bytes(answer.content)
    done = subprocess.run(
        [DEBIAN_PYTHON, str(STEPS), live_server, "planner", TEST_PASSWORD, str(gpkg)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    stored = len(XINDIAN_PARCELS) + len(GUSHAN_PARCELS)
    assert found["parcels_valid"], (qgis_version, done.stderr)
    # QGIS fetched its token from /api/token and every page of items was let through.
    assert found["parcels"] == stored, found
    assert found["xindian_land"] == len(XINDIAN_PARCELS), found
    assert {"code", "kind", "status", "township", "area_m2"} <= set(found["fields"])
    assert found["tiles_valid"], found
    assert found["gpkg_valid"] and found["gpkg"] == stored, found


def test_a_wrong_password_gets_qgis_nothing(qgis_version, live_server, tmp_path):
    """The layer is only there through the sign-in: the same steps with a wrong password
    leave QGIS without items."""
    _store(tmp_path)
    done = subprocess.run(
        [DEBIAN_PYTHON, str(STEPS), live_server, "planner", "not the password", "/nonexistent"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert not found["parcels_valid"] and found["tiles_valid"] in (True, False), found
    assert "AuthenticationRequiredError" in done.stderr
