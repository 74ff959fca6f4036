"""The 演示数据 banner every page may carry: remembered, so that a page makes no query of
its own for it, and shown as soon as the live demo's campaign is written."""

from contextlib import contextmanager
from datetime import timedelta

from conftest import shared_app
from fastapi.testclient import TestClient
from sqlalchemy import event

from geo_service import database
from geo_service.campaign import campaigns
from geo_service.periods import today
from geo_service.settings import get_settings

BANNER = "gs-demo-banner"


@contextmanager
def _statements():
    """The SQL statements sent while the block runs, through every engine pages use."""
    sent = []
    engines = [database.get_engine(), database._read_engine(get_settings().database_url)]

    def count(_conn, _cursor, statement, *_):
        sent.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


def test_the_banner_costs_a_page_no_query_and_follows_the_campaigns(db):
    client = TestClient(shared_app())
    assert BANNER not in client.get("/login").text  # no campaign on record: no banner
    with _statements() as sent:
        page = client.get("/login")
    assert page.status_code == 200 and BANNER not in page.text
    assert sent == []  # the sign-in page reads nothing else: the banner came from memory

    with database.session_scope() as session:
        day = today()
        campaigns.create_campaign(
            session, name="攻坚（演示）", first_day=day - timedelta(days=30),
            last_day=day + timedelta(days=30), actor=campaigns.DEMO_ACTOR,
        )  # fmt: skip
    assert BANNER in client.get("/login").text  # written here: seen at once
    with _statements() as sent:
        assert BANNER in client.get("/login").text
    assert sent == []
