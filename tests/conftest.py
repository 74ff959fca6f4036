"""Tests run against a real PostGIS: a fresh database per test session, emptied per test."""

import os

import pytest
from sqlalchemy import text

from geo_service import database
from geo_service.settings import get_settings

TEST_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/geo_service_test"
)
# Everything a test may write; reference units survive, reference targets are reloaded.
_MUTABLE = (
    "project_problem_versions, project_problems, milestone_records, project_townships, "
    "parcel_support, parcel_versions, parcels, uploads, projects, targets"
)


def _reset_caches():
    get_settings.cache_clear()
    database.get_engine.cache_clear()
    database._sessionmaker.cache_clear()


@pytest.fixture(scope="session")
def db_url():
    database.drop_database(TEST_URL)
    os.environ["DATABASE_URL"] = database.normalise_url(TEST_URL)
    _reset_caches()
    from geo_service import reference

    database.migrate()
    with database.session_scope() as session:
        reference.load_reference(session)
    yield os.environ["DATABASE_URL"]
    database.get_engine().dispose()


@pytest.fixture
def db(db_url):
    """An emptied database with the reference units and the seed's targets."""
    from geo_service import reference

    with database.get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {_MUTABLE} RESTART IDENTITY CASCADE"))
    with database.session_scope() as session:
        reference.load_reference(session)
    return db_url


@pytest.fixture
def session(db):
    with database.session_scope() as s:
        yield s


def count_rows(table: str) -> int:
    with database.get_engine().connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
