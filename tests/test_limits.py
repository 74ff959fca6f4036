"""Issue 20 items 4, 6 and 7: one parser for every period, year and day; limits on the
text a person writes; the small leaks (backup mode, stray upload folders, /docs CSP,
anonymous /healthz)."""

import subprocess
import sys

import pytest
from conftest import auth
from fastapi.testclient import TestClient

from geo_service.api import create_app


@pytest.fixture
def client(db):
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


# --- 4. one parser for every period, year and day ----------------------------------------

# As found: year 0 was a 500 (ValueError: year 0 is out of range) on these.
YEAR_ZERO = [
    "/api/rankings?period=0000Q1",
    "/api/rankings?period=0000-01",
    "/board/data.json?period=0000Q1",
    "/board/data.json?period=0000-01",
    "/board?period=0000Q1",
    "/board?period=0000-01",
]


@pytest.mark.parametrize("url", YEAR_ZERO)
def test_a_period_in_year_zero_is_a_4xx_naming_the_parameter(client, url):
    response = client.get(url, headers=auth("planner"))
    assert response.status_code == 422, response.text
    assert "period" in response.text
    assert "1990 to 2100" in response.text


@pytest.mark.parametrize("period", ["0001Q1", "9999-12", "1989Q4", "2101-01", "2017Q9", "2017-13"])
def test_every_period_outside_the_window_or_malformed_is_refused_alike(client, period):
    for url in ("/api/rankings", "/board/data.json"):
        response = client.get(url, params={"period": period}, headers=auth("planner"))
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"].startswith("query parameter period: ")


def test_a_period_inside_the_window_is_read(client):
    response = client.get("/api/rankings?period=2017Q2", headers=auth("planner"))
    assert response.status_code == 200, response.text
    assert response.json()["period"] == "2017Q2"


@pytest.mark.parametrize(
    "args",
    [
        ["rank", "--period", "0000Q1"],
        ["rank", "--period", "0000-01"],
        ["tally", "--year", "0"],
        ["relocation", "clearance", "--year", "0"],
        ["projects", "problems", "--as-of", "0000-01-01"],
    ],
)
def test_the_cli_refuses_a_period_year_or_day_out_of_range_in_one_line(db, args):
    done = subprocess.run(
        [sys.executable, "-m", "geo_service.cli", *args], capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "1990 to 2100" in lines[0]


def test_one_parser_reads_every_period_year_and_day():
    from datetime import date

    from geo_service import periods
    from geo_service.errors import InvalidInput

    assert str(periods.parse_period("2017q2", "period")) == "2017Q2"
    assert str(periods.parse_period("2017-5", "period")) == "2017-05"
    assert periods.parse_year("2017", "year") == 2017
    assert periods.parse_day("2017-06-30", "as_of") == date(2017, 6, 30)
    for parse, text in [
        (periods.parse_period, "0000Q1"),
        (periods.parse_year, "0"),
        (periods.parse_day, "0000-01-01"),
        (periods.parse_day, "9999-12-31"),
        (periods.parse_day, "0"),
    ]:
        with pytest.raises(InvalidInput, match="^--when: "):
            parse(text, "--when")


# --- 7. small leaks closed ---------------------------------------------------------------


def test_a_backup_is_readable_by_its_owner_only(db, db_url, tmp_path):
    from geo_service import backup

    info = backup.backup(db_url, tmp_path / "geo.dump")
    assert info.path.stat().st_mode & 0o777 == 0o600


def test_anonymous_healthz_says_only_whether_the_service_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_signed_in_healthz_still_tells_the_version_and_worker(client):
    import os

    from geo_service import __version__

    body = client.get("/healthz", headers=auth("admin_t")).json()
    assert body["status"] == "ok" and body["version"] == __version__
    assert body["pid"] == os.getpid() and body["postgis"]


def test_a_wrong_token_on_healthz_reads_as_anonymous(client):
    response = client.get("/healthz", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_docs_csp_names_no_outside_host(client):
    for path in ("/docs", "/redoc"):
        response = client.get(path, headers=auth("planner"))
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "http" not in csp, csp


def test_upload_folders_left_by_a_killed_server_are_swept_at_start_up(db, tmp_path, monkeypatch):
    import os
    import time

    from geo_service import scratch

    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    left = tmp_path / f"geo-upload-{dead}-abc"  # a worker killed mid-upload
    old = tmp_path / "geo-upload-xyz"  # from before folders carried the pid, a day old
    live = tmp_path / f"geo-upload-{os.getpid()}-def"  # a running upload of this worker
    other = tmp_path / "someone-elses"
    for folder in (left, old, live, other):
        folder.mkdir()
        (folder / "parcels.geojson").write_text("{}")
    os.utime(old, (time.time() - 86400, time.time() - 86400))
    with TestClient(create_app()):
        pass
    assert not left.exists() and not old.exists()
    assert live.exists() and other.exists()


def test_an_upload_folder_is_named_after_its_worker_and_removed_after_use(tmp_path, monkeypatch):
    import os

    from geo_service import scratch

    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    with scratch.folder("upload") as path:
        assert path.name.startswith(f"geo-upload-{os.getpid()}-")
        assert path.parent == tmp_path
    assert not path.exists()
