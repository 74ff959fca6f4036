"""`geo-service serve --workers N` against the server's max_connections: N workers' pools
that could open more connections than PostgreSQL lets clients have are said in the log and
sized to fit (PostgreSQL refuses a connection past its limit; a full pool only waits)."""

import pytest
import sqlalchemy as sa
import typer

from geo_service import database, settings
from geo_service.cli.serve import fit_pools


@pytest.fixture
def pool_max(db_url, monkeypatch):
    """DATABASE_POOL_MAX set to 40 for the test, and the settings read afresh after it."""
    monkeypatch.setenv("DATABASE_POOL_MAX", "40")
    settings.get_settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def _server_budget() -> int:
    with database.get_engine().connect() as conn:
        most = conn.scalar(
            sa.text("SELECT setting::int FROM pg_settings WHERE name = 'max_connections'")
        )
        reserved = conn.scalar(
            sa.text(
                "SELECT setting::int FROM pg_settings WHERE name = 'superuser_reserved_connections'"
            )
        )
    return most - reserved


def test_pools_that_cannot_fit_are_said_and_sized_to_fit(pool_max, capsys):
    budget = database.connection_budget()
    assert budget == _server_budget()
    workers = budget // (database.POOLS_PER_WORKER * 40) + 1  # 40 each would not fit
    fitted = budget // (workers * database.POOLS_PER_WORKER)
    assert 1 <= fitted < 40

    fit_pools(workers)

    said = capsys.readouterr().err
    assert f"{workers} workers × 2 pools × 40 connections" in said, said
    assert f"more than the {budget}" in said and f"each pool opens at most {fitted}" in said
    assert settings.get_settings().database_pool_max == fitted
    assert database.pool_limits() == {
        "pool_size": min(10, fitted),
        "max_overflow": fitted - min(10, fitted),
    }
    assert workers * database.POOLS_PER_WORKER * fitted <= budget


def test_pools_that_fit_are_left_as_configured(pool_max, capsys):
    fit_pools(1)
    assert capsys.readouterr().err == ""
    assert settings.get_settings().database_pool_max == 40
    assert database.pool_limits() == {"pool_size": 10, "max_overflow": 30}


def test_more_workers_than_connections_is_refused(pool_max, capsys):
    with pytest.raises(typer.Exit):
        fit_pools(database.connection_budget())
    assert "serve fewer workers or raise max_connections" in capsys.readouterr().err
