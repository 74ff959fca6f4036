"""The set-up's database step on a PostgreSQL that keeps Debian's default authentication
(scram-sha-256 on 127.0.0.1): a second local cluster, made for the test and dropped after."""

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("pg_createcluster") is None, reason="needs Debian's postgresql-common"
)


def _free_port() -> int:
    for port in range(5480, 5500):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.fail("no free port in 5480-5499 for a second cluster")


def _as_root(args: list[str]) -> list[str]:
    return args if os.geteuid() == 0 else ["sudo", "-n", *args]


@pytest.fixture
def scram_cluster():
    version = sorted(os.listdir("/usr/lib/postgresql"), key=int)[-1]
    name, port = f"gs_scram_{uuid.uuid4().hex[:6]}", _free_port()
    subprocess.run(
        _as_root(["pg_createcluster", version, name, "--port", str(port), "--start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield version, name, port
    finally:
        subprocess.run(
            _as_root(["pg_dropcluster", version, name, "--stop"]), check=True, capture_output=True
        )


def _step(url: str, home: Path, mode: str = "database") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HOME": str(home),
        "PGPASSFILE": str(home / ".pgpass"),
        "VENV": str(VENV),
    }
    return subprocess.run(
        ["bash", str(BOOTSTRAP), mode], env=env, capture_output=True, text=True, timeout=600
    )


def _password_less(port: int, pgpass: Path, database: str = "postgres"):
    return psycopg.connect(
        f"host=127.0.0.1 port={port} user=postgres dbname={database} "
        f"passfile={pgpass} connect_timeout=10"
    )


def _main_role_password() -> bool:
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as conn:
        return conn.execute(
            "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'postgres'"
        ).fetchone()[0]


def test_the_database_step_works_on_debians_default_authentication(scram_cluster, tmp_path):
    version, name, port = scram_cluster
    hba = Path(f"/etc/postgresql/{version}/{name}/pg_hba.conf").read_text()
    assert any(
        line.split()[:4] == ["host", "all", "all", "127.0.0.1/32"] and "scram-sha-256" in line
        for line in hba.splitlines()
        if line.strip() and not line.startswith("#")
    ), "the new cluster should keep Debian's scram-sha-256 on 127.0.0.1"
    pgpass = tmp_path / ".pgpass"
    with pytest.raises(psycopg.OperationalError, match="password"):
        _password_less(port, pgpass)
    main_before = _main_role_password()

    url = f"postgresql://postgres@127.0.0.1:{port}/geo_service_scram"
    done = _step(url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generated password" in done.stdout
    assert oct(pgpass.stat().st_mode & 0o777) == "0o600"
    with _password_less(port, pgpass, "geo_service_scram") as conn:
        assert conn.execute("SELECT count(*) FROM admin_units").fetchone()[0] > 0
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
    # Again: nothing to change, the same password file.
    lines = pgpass.read_text()
    again = _step(url, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "generated password" not in again.stdout and pgpass.read_text() == lines
    # The server DATABASE_URL did not name is as it was.
    assert _main_role_password() == main_before


def test_a_remote_database_url_is_left_alone(tmp_path):
    script = (
        f"source {BOOTSTRAP} functions; local_server && echo local; start_postgresql; "
        "local_password; echo done"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@db.campaign.example:5432/geo_service",
        "PGPASSFILE": str(tmp_path / ".pgpass"),
        "VENV": str(VENV),
    }
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done"]
    assert not (tmp_path / ".pgpass").exists()
