"""Tests run against a real PostGIS: a fresh database per test session, emptied per test."""

import gc
import json
import os
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from geo_service import database
from geo_service.accounts import users
from geo_service.settings import get_settings

# The command speaks Chinese unless asked (cli/language.py); the suite's command-line
# checks read its English, and the tests of the language itself ask with --lang.
os.environ.setdefault("GEO_SERVICE_LANG", "en")
TEST_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/geo_service_test"
)
# Everything a test may write; reference units survive, reference targets are reloaded.
_MUTABLE = (
    "project_problem_versions, project_problems, milestone_records, project_townships, "
    "parcel_support, parcel_versions, parcels, parcel_features, overlapped_parcels, "
    "overlap_members, overlap_areas, tally_totals, parcel_photos, uploads, "
    "upload_files, projects, "
    "target_versions, targets, campaigns, auth_tokens, signin_throttles, relocation_versions, "
    "flats, households, "
    "resettlement_project_townships, resettlement_projects, relocation_target_versions, "
    "relocation_targets, "
    "version_positions, replayed_requests"
)
# Tables kept as they are between tests (reference data, the people, the schema's own);
# every other table must be in _MUTABLE (tests/test_fixtures.py checks), or a table added
# later is neither emptied between tests nor brought back with the demo.
KEPT_TABLES = {
    "admin_units",
    "alembic_version",
    "audit_log",
    "spatial_ref_sys",
    "user_townships",
    "users",
}
# People the tests act as; made once per test session (argon2 hashing is slow on purpose)
# and kept between tests. Every one of them signs in with TEST_PASSWORD.
TEST_PASSWORD = "correct horse battery"
JINAN = ["新店镇", "岳峰镇", "茶园街道", "王庄街道", "象园街道"]
JINAN += ["鼓山镇", "宦溪镇", "寿山乡", "日溪乡"]
TEST_USERS = {
    "land_all": dict(role="verifier", group="土地核验组", townships=JINAN),
    "demolition_all": dict(role="verifier", group="拆迁核验组", townships=JINAN),
    "officer_all": dict(role="officer", townships=JINAN),
    "land_xd": dict(role="verifier", group="土地核验组", townships=["新店镇"]),
    "officer_xd": dict(role="officer", townships=["新店镇"]),
    "relocation_all": dict(role="verifier", group="回迁核验组", townships=JINAN),
    "relocation_xd": dict(role="verifier", group="回迁核验组", townships=["新店镇"]),
    "leader_jinan": dict(role="leader", district="晋安区"),
    "leader_city": dict(role="leader"),
    "planner": dict(role="planner"),
    "admin_t": dict(role="admin"),
}


def _reset_caches():
    get_settings.cache_clear()
    database.get_engine.cache_clear()
    database.get_replica_engine.cache_clear()
    database._sessionmaker.cache_clear()
    database._read_engine.cache_clear()
    _forget_remembered()


def _forget_remembered():
    """What the service remembers by change token or token hash: a test empties the tables
    and restarts their ids, so the same token could come back meaning other data."""
    from geo_service.api import parcels
    from geo_service.maps import tiles
    from geo_service.web import login

    users.forget_resolved_tokens()
    parcels.forget_counts()
    login.forget_demo()  # the demo banner's answer
    tiles.forget_kept()


@pytest.fixture(scope="session")
def db_url():
    database.drop_database(TEST_URL)
    os.environ["DATABASE_URL"] = database.normalise_url(TEST_URL)
    _reset_caches()
    from geo_service import reference

    database.migrate()
    with database.session_scope() as session:
        reference.load_reference(session)
        _create_test_users(session)
    _freeze_what_lasts()
    yield os.environ["DATABASE_URL"]
    database.get_engine().dispose()


def _freeze_what_lasts() -> None:
    """What the session has made by now (modules, test modules, the app's objects) lives as
    long as the session: the cyclic collector stops walking it. Each import frees its spent
    batches with a full collection (parcels.uploads._release), which in a test process of
    that size took a second on a loaded machine; now it walks what the tests made since."""
    gc.collect()
    gc.freeze()


# The seed's targets (and their history) as load_reference wrote them, copied aside once a
# day (they are dated the day they were set): each test gets them back by copying, which
# is a tenth of what reading the reference files and setting the targets again took.
_REFERENCE_COPY = "test_reference_copy"
_reference = {"day": None, "tables": []}


@pytest.fixture
def db(db_url):
    """An emptied database with the reference units and the seed's targets."""
    from geo_service import reference

    engine = database.get_engine()
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    if _reference["day"] != day:
        with engine.begin() as conn:
            _empty(conn)
        _forget_remembered()
        with database.session_scope() as session:
            reference.load_reference(session)
        with engine.begin() as conn:
            _reference["tables"] = _keep(conn, _REFERENCE_COPY)
        _reference["day"] = day
        return db_url
    with engine.begin() as conn:
        _bring_back(conn, _REFERENCE_COPY, _reference["tables"])
    _forget_remembered()
    return db_url


def _empty(conn) -> None:
    """Empty every table a test may write, history included, ids restarting at 1: the
    history tables refuse TRUNCATE by trigger (migration 0023), so as the owner, with
    triggers off for it. Only the tables that hold rows are truncated (a TRUNCATE makes
    new files for the table and each index: most of what emptying took, for tables that
    were empty); every sequence restarts, as a rolled-back insert moves one on too."""
    tables = [t.strip() for t in _MUTABLE.split(",")]
    held = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})" for t in tables)
    full = conn.scalars(text(held)).all()
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    if full:
        conn.execute(text(f"TRUNCATE {', '.join(full)} RESTART IDENTITY CASCADE"))
    conn.execute(
        text("SELECT setval(s, 1, false) FROM unnest(CAST(:sequences AS regclass[])) s"),
        {"sequences": _sequences(conn, tables)},
    )
    conn.execute(text("SET LOCAL session_replication_role = origin"))


def _sequences(conn, tables: list[str]) -> list[str]:
    return [sequence for sequence, _table, _column in _owned_sequences(conn, tables)]


@pytest.fixture
def session(db):
    with database.session_scope() as s:
        yield s


@pytest.fixture(scope="session")
def app_url(db_url):
    """The test database as the service's own role (named after the database: roles are
    shared by every database of the server)."""
    from sqlalchemy.engine import make_url

    from geo_service import app_role

    name = f"{make_url(db_url).database}_app"
    return app_role.ensure_app_role(database.get_engine(), name).url


def beside(db_url: str, suffix: str) -> str:
    """The URL of a database named after the test database and `suffix` (not made here)."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    return url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)


@contextmanager
def scratch_database(db_url: str, suffix: str):
    """A database's URL beside the test database (`beside`): none there before, dropped
    after (connections and all)."""
    url = beside(db_url, suffix)
    database.drop_database(url)
    try:
        yield url
    finally:
        database.drop_database(url)


def count_rows(table: str) -> int:
    with database.get_engine().connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


@contextmanager
def rewriting_history(session):
    """Tests that fake the passage of time back-date versions, which the database refuses
    (parcel_versions is append-only): as the owner, with triggers off for these statements."""
    session.execute(text("SET LOCAL session_replication_role = replica"))
    try:
        yield
    finally:
        session.execute(text("SET LOCAL session_replication_role = origin"))
        # The maintained tallies' triggers were off too: count them afresh, and find the
        # parcels that overlapped in the history as it now reads.
        session.execute(text("SELECT tally_rebuild()"))
        session.execute(text("SELECT overlapped_rebuild()"))
        session.execute(text("SELECT overlap_groups_rebuild()"))


# A day in the 2017 campaign, for tests that tally 2017 what they verified today.
IN_2017 = datetime(2017, 5, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


def redate(when, session=None) -> None:
    """Move everything recorded so far (uploads, versions, verifications) to `when`: a
    campaign year's tally counts only what was verified within that year, so a test that
    imports verified parcels today and tallies 2017 dates them in 2017."""
    if session is not None:
        with rewriting_history(session):
            for sql in _REDATE:
                session.execute(text(sql), {"w": when})
            session.flush()
        return
    with database.session_scope() as own, rewriting_history(own):
        for sql in _REDATE:
            own.execute(text(sql), {"w": when})


_REDATE = (
    "UPDATE parcel_versions SET valid_from = :w, "
    "valid_to = CASE WHEN valid_to IS NULL THEN NULL ELSE :w END, "
    "verified_at = CASE WHEN verified_at IS NULL THEN NULL ELSE :w END",
    "UPDATE parcels SET created_at = :w, updated_at = :w, "
    "verified_at = CASE WHEN verified_at IS NULL THEN NULL ELSE :w END",
    "UPDATE uploads SET created_at = :w",
)


def _create_test_users(session):

    for username, scope in TEST_USERS.items():
        users.create_user(
            session, username, password=TEST_PASSWORD, by="tests", display_name=f"测试{username}",
            **scope,
        )  # fmt: skip


# Apps by the settings they were made with: making one builds its ~300 routes (about a
# second on a loaded machine), the same for every test that keeps the settings.
_apps: dict[str, object] = {}


def shared_app():
    """The service's app, made once for the settings as they are now (a test that changes
    them gets an app of its own)."""
    from geo_service import logs
    from geo_service.api.app import create_app

    key = get_settings().model_dump_json()
    if key not in _apps:
        _apps[key] = create_app()
    # As a new app would: the log handler writes to this test's stderr (pytest swaps it per
    # test; a handler left on a closed one fails) in the format the settings name.
    logs.configure()
    return _apps[key]


def signed_in_page(username: str, **client_options):
    """A client signed in as a person is, through the sign-in page (a session cookie); it
    sends the service's own Origin, as a browser on its pages does."""
    from fastapi.testclient import TestClient

    client = TestClient(shared_app(), raise_server_exceptions=False, **client_options)
    form = {"username": username, "password": TEST_PASSWORD, "next": "/"}
    origin = {"Origin": "http://testserver"}
    response = client.post("/login", data=form, headers=origin, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def token_for(username: str) -> str:
    """A fresh API token for a test user (issued directly: no password hashing)."""

    with database.session_scope() as session:
        who = users.acting_user(session, username)
        return users.issue_token(session, who, "api", 60)


def auth(username: str) -> dict:
    """Request headers that sign in as a test user."""
    return {"Authorization": f"Bearer {token_for(username)}"}


# Who signs off each kind of work in the tests.
VERIFIER = {"land": "land_all", "demolition": "demolition_all"}


PARCEL_WRITES = {"import", "status", "verify", "dispute"}


def with_user(args: list[str], as_user: str | None = "auto") -> list[str]:
    """CLI arguments acting as a test user: by default the verifier of the kind named in
    a parcel write (land unless 'demolition' is among the arguments)."""
    args = [str(a) for a in args]
    if as_user == "auto":
        as_user = None
        if args and args[0] in PARCEL_WRITES:
            as_user = VERIFIER["demolition" if "demolition" in args else "land"]
    return args + ["--as", as_user] if as_user else args


# The demo's rows, copied aside the first time a test session loads the demo, and what
# that load said.
_DEMO_COPY = "test_demo_copy"
_demo: dict = {"tables": None, "summary": None}


def load_demo() -> str:
    """The demo, as `demo.load_demo()` leaves it on an emptied database (the `db`
    fixture's): loaded for real once per test session, then copied back from that first
    load, because a load replays 2017 through the workflow (seconds) and every browser
    test starts from it. Returns what the real load said, which `tests/test_demo.py`
    checks, whichever test loaded it first."""
    from geo_service import demo

    if _demo["tables"] is None:
        _demo["summary"] = demo.load_demo(published=True)
        with database.get_engine().begin() as conn:
            _demo["tables"] = _keep(conn, _DEMO_COPY)
        return _demo["summary"]
    with database.get_engine().begin() as conn:
        _bring_back(conn, _DEMO_COPY, _demo["tables"])
    _forget_remembered()
    return _demo["summary"]


def _keep(conn, schema: str) -> list[str]:
    """Copies every table a test may write into `schema`; returns those that hold rows."""
    conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    conn.execute(text(f"CREATE SCHEMA {schema}"))
    kept = []
    for table in (t.strip() for t in _MUTABLE.split(",")):
        conn.execute(text(f"CREATE TABLE {schema}.{table} AS TABLE public.{table}"))
        if conn.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {schema}.{table})")):
            kept.append(table)
    return kept


def _bring_back(conn, schema: str, tables: list[str]) -> None:
    """Empties every table a test may write, then puts back the rows `_keep` copied."""
    _empty(conn)
    # The rows as they were, history included: no trigger may judge them again.
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    for table in tables:
        conn.execute(
            text(
                f"INSERT INTO public.{table} OVERRIDING SYSTEM VALUE SELECT * FROM {schema}.{table}"
            )
        )
    _restart_sequences(conn, tables)  # the others' restarted with the TRUNCATE


def _owned_sequences(conn, tables: list[str]) -> list[tuple[str, str, str]]:
    """Each id sequence of `tables`: its name, its table and its column."""
    return conn.execute(
        text("""
            SELECT s.oid::regclass::text, t.relname, a.attname
            FROM pg_class s
            JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
            WHERE s.relkind = 'S' AND t.relname = ANY(:tables)"""),
        {"tables": tables},
    ).all()


def _restart_sequences(conn, tables: list[str]) -> None:
    """Each copied table's id sequence continues after its highest id."""
    for sequence, table, column in _owned_sequences(conn, tables):
        conn.execute(
            text(f"SELECT setval('{sequence}', coalesce(max({column}), 0) + 1, false) FROM {table}")
        )


def api_get(url: str, user: str = "leader_city"):
    """A live server's JSON, as a signed-in user sees it (Chinese in the address allowed)."""
    from urllib.parse import quote
    from urllib.request import Request, urlopen

    with urlopen(Request(quote(url, safe=":/?&=,%"), headers=auth(user))) as response:
        return json.loads(response.read())


def api_post(url: str, body: dict, user: str):
    """A JSON write to a live server, signed in as `user`."""
    from urllib.request import Request, urlopen

    headers = {"Content-Type": "application/json", **auth(user)}
    request = Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urlopen(request) as response:
        return json.loads(response.read())
