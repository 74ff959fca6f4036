"""The test set-up itself: every table is either emptied between tests (and brought back
with the demo) or kept on purpose."""

from conftest import _MUTABLE, KEPT_TABLES
from sqlalchemy import text

from geo_service import database


def test_every_table_is_emptied_between_tests_or_kept_on_purpose(db):
    with database.get_engine().connect() as conn:
        tables = set(
            conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        )
    mutable = {t.strip() for t in _MUTABLE.split(",")}
    assert tables - mutable - KEPT_TABLES == set(), "add them to conftest._MUTABLE or KEPT_TABLES"
    assert mutable <= tables
