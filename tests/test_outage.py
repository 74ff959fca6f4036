"""Database outages: /healthz says 503 and why (naming no host, port or database), every
other request is a 503 (not a bare 500), the CLI prints one line, and a running app
recovers by itself when the database is back."""

import os
import subprocess
import sys

import pytest
from conftest import _reset_caches, auth, beside
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service import database
from geo_service.api.app import create_app

SECRET_WORDS = ("127.0.0.1", "5432", "localhost", "postgres@", "gs_", "geo_service_test")


@pytest.fixture
def pointed_at(db_url, monkeypatch):
    """Point the service at another database URL; the test database again afterwards."""

    def point(url: str) -> str:
        monkeypatch.setenv("DATABASE_URL", url)
        _reset_caches()
        return url

    yield point
    database.get_engine().dispose()
    monkeypatch.setenv("DATABASE_URL", db_url)
    _reset_caches()


def _assert_public(body: str):
    for word in SECRET_WORDS:
        assert word not in body, f"{word!r} in {body}"


def _client(headers: dict | None = None):
    return TestClient(create_app(), raise_server_exceptions=False, headers=headers or {})


def test_a_port_nothing_listens_on_is_503_everywhere(db, pointed_at):
    headers = auth("leader_city")  # issued while the database was there
    pointed_at("postgresql+psycopg://postgres@127.0.0.1:9/geo_service")
    with _client(headers) as client:
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["detail"] == "the database server cannot be reached"
        _assert_public(health.text)
        for url in ("/api/tallies", "/api/parcels", "/maps/progress", "/api/parcels/1/history"):
            response = client.get(url)
            assert response.status_code == 503, url
            assert response.json() == {
                "detail": "service unavailable: the database server cannot be reached"
            }


def test_a_missing_database_then_created_recovers_without_restart(db, db_url, pointed_at):
    headers = auth("leader_city")
    url = pointed_at(beside(db_url, "outage"))
    database.drop_database(url)
    try:
        with _client(headers) as client:
            health = client.get("/healthz")
            assert health.status_code == 503
            assert "does not exist" in health.json()["detail"]
            _assert_public(health.text)
            assert client.get("/api/tallies").status_code == 503

            database.migrate(url)  # the database comes back: the same app serves again
            assert client.get("/healthz").status_code == 200
            # Serving again: that new database has no users yet, so the token is unknown.
            assert client.get("/api/changes").status_code == 401
    finally:
        database.get_engine().dispose()
        database.drop_database(url)


def test_a_schema_behind_the_current_migration_is_503(db, db_url, pointed_at):
    headers = auth("leader_city")
    url = pointed_at(beside(db_url, "outage"))
    database.drop_database(url)
    try:
        database.migrate(url)
        with database.get_engine().begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            conn.execute(text("DROP TABLE parcel_versions, auth_tokens CASCADE"))
        with _client(headers) as client:
            health = client.get("/healthz")
            assert health.status_code == 503
            assert "not at the current migration" in health.json()["detail"]
            assert "geo-service db upgrade" in health.json()["detail"]
            response = client.get("/api/changes")
            assert response.status_code == 503
            assert "schema" in response.json()["detail"]
    finally:
        database.get_engine().dispose()
        database.drop_database(url)


def test_connections_killed_by_the_server_are_replaced(db):
    """pool_pre_ping: after the server drops every connection, the next request works."""
    with _client(auth("leader_city")) as client:
        assert client.get("/api/changes").status_code == 200
        with database.get_engine().connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert client.get("/api/changes").status_code == 200
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "args", [["tally"], ["history", "#1"], ["support"], ["tally", "--by", "township"]]
)
def test_the_cli_says_one_line_when_the_database_is_unreachable(args):
    env = {**os.environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/geo_service"}
    done = subprocess.run(
        [sys.executable, "-m", "geo_service.cli", *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 3
    assert done.stderr.strip() == "error: the database server cannot be reached"
