"""History the service cannot rewrite: every history table is append-only for the
service's own role (by privilege and by trigger), and a version is closed only by the
database, when the next version of the same record is appended."""

from datetime import date, timedelta

import pytest
from parcelfiles import XINDIAN, frame, rectangle, write
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from geo_service import app_role, database
from geo_service.accounts import audit
from geo_service.campaign import register, targets
from geo_service.models import Project
from geo_service.parcels import field
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import set_status
from geo_service.relocation import households
from geo_service.relocation import tallies as relocation_tallies

# Each history table, and a column an UPDATE could try to rewrite.
HISTORY = {
    "parcel_versions": "note",
    "target_versions": "amount_m2",
    "relocation_versions": "note",
    "relocation_target_versions": "households",
    "project_problem_versions": "note",
    "milestone_records": "note",
    "uploads": "filename",
    "upload_files": "size_bytes",
    "audit_log": "action",
    "version_positions": "accuracy_m",
}
# The versioned ones: how a record's versions are told apart from another record's.
VERSIONED = {
    "parcel_versions": ("parcel_id",),
    "target_versions": ("target_id",),
    "relocation_versions": ("entity", "entity_id"),
    "relocation_target_versions": ("target_id",),
}


def _write_history(session, tmp_path) -> None:
    """Two versions of a parcel, a target, a relocation target and a resettlement
    project, a problem with two versions, a milestone record, an upload with its file, and
    audit entries."""
    square = rectangle(XINDIAN, 0, 0, 200, 200)
    path = write(frame([square], code=["A1"]), tmp_path / "a.geojson", 4326, "GeoJSON")
    import_file(session, path, ImportOptions(kind="land", township="新店镇"))
    set_status(session, 1, "in_progress", actor="测试")
    field.record_position(session, 1, 2, field.Position(119.3, 26.15, 4.0))
    for amount in (100, 120):
        targets.set_target(session, district="晋安区", township="新店镇", kind="land",
                           year=2017, amount=amount, unit="mu", actor="测试")  # fmt: skip
    for count in (4, 6):
        relocation_tallies.set_target(
            session, district="晋安区", township="新店镇", year=2017, households=count,
            flats=None, m2=None, actor="测试",
        )  # fmt: skip
    for name in ("安置一期", "安置一期（改）"):
        households.save_project(session, code="R1", name=name, district="晋安区",
                                townships=["新店镇"], actor="测试")  # fmt: skip
    session.add(
        Project(code="P1", name="项目", milestones=[{"date": "2017-03-31", "text": "征迁"}])
    )
    session.flush()
    problem = register.add_problem(session, "P1", "拆迁未完成", actor="测试")
    register.set_problem_status(session, problem.id, "solved", actor="测试")
    register.record_milestone(session, "P1", date(2017, 3, 31), date(2017, 3, 30), actor="测试")
    audit.record(session, "测试", "test.append_only")


@pytest.fixture
def history(db, app_url, tmp_path):
    """The history, written through the service's own code as the service's own role."""
    with database.session_scope(app_url) as session:
        _write_history(session, tmp_path)
    for table in HISTORY:
        assert _rows(table), f"{table} is empty: the test would prove nothing"
    engine = create_engine(app_url)
    yield engine
    engine.dispose()


def _rows(table: str) -> list:
    with database.get_engine().connect() as conn:
        return conn.execute(text(f"SELECT md5(t::text) FROM {table} t ORDER BY 1")).all()


def _refused(engine, statement: str) -> str:
    with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(text(statement))
    return str(caught.value)


@pytest.mark.parametrize("table", HISTORY)
def test_the_service_role_cannot_update_delete_or_truncate(history, table):
    before = _rows(table)
    column = HISTORY[table]
    for statement in (
        f"UPDATE {table} SET {column} = {column}",
        f"DELETE FROM {table}",
        f"TRUNCATE {table}",
        f"TRUNCATE {table} CASCADE",
    ):
        message = _refused(history, statement)
        assert "permission denied" in message, statement
    assert _rows(table) == before


@pytest.mark.parametrize("table", HISTORY)
def test_not_even_the_owner_rewrites_history(history, table):
    """The triggers hold for whoever connects: a role granted too much, or the owner."""
    before = _rows(table)
    column = HISTORY[table]
    for statement in (
        f"UPDATE {table} SET {column} = {column}",
        f"DELETE FROM {table}",
        f"TRUNCATE {table} CASCADE",
    ):
        assert "append-only" in _refused(database.get_engine(), statement), statement
    assert _rows(table) == before


def test_the_grants_are_read_and_append():
    for table in HISTORY:
        assert app_role.privileges(table) == ["SELECT", "INSERT"], table


@pytest.mark.parametrize("table", VERSIONED)
def test_closing_a_version_by_hand_is_refused(history, table):
    """valid_to is the database's to set: not twenty years back, not at all by hand."""
    before = _rows(table)
    for statement in (
        f"UPDATE {table} SET valid_to = now() - interval '20 years' WHERE valid_to IS NULL",
        f"UPDATE {table} SET valid_to = now() WHERE valid_to IS NULL",
        f"UPDATE {table} SET valid_to = valid_to + interval '1 day' WHERE valid_to IS NOT NULL",
    ):
        assert "permission denied" in _refused(history, statement), statement
        assert "append-only" in _refused(database.get_engine(), statement), statement
    assert _rows(table) == before


def test_a_version_that_ends_before_it_starts_is_refused(history):
    statement = (
        "UPDATE parcel_versions SET valid_to = now() - '20 years'::interval WHERE valid_to IS NULL"
    )
    assert "permission denied" in _refused(history, statement)
    assert "append-only" in _refused(database.get_engine(), statement)
    with database.get_engine().connect() as conn:
        assert not conn.scalar(
            text("SELECT count(*) FROM parcel_versions WHERE valid_to < valid_from")
        )


def _append(conn, table: str, later: timedelta, valid_to: str = "NULL"):
    """A new version of the first record, copied from its open version, `later` after it,
    inserted as a plain INSERT (nothing closes the open version but the database)."""
    columns = [
        c
        for c in conn.scalars(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                "ORDER BY ordinal_position"
            ),
            {"t": table},
        )
        if c not in ("id", "version", "valid_from", "valid_to", "district_id")
    ]
    keys = " AND ".join(f"o.{k} = f.{k}" for k in VERSIONED[table])
    listed = ", ".join(columns)
    return conn.execute(
        text(f"""
            INSERT INTO {table} ({listed}, version, valid_from, valid_to)
            SELECT {", ".join(f"o.{c}" for c in columns)}, o.version + 1,
                   o.valid_from + :later, {valid_to}
            FROM {table} o, (SELECT * FROM {table} ORDER BY id LIMIT 1) f
            WHERE {keys} AND o.valid_to IS NULL
            RETURNING id, valid_from"""),
        {"later": later},
    ).one()


@pytest.mark.parametrize("table", VERSIONED)
def test_appending_a_version_closes_the_open_one(history, table):
    with history.begin() as conn:
        new_id, new_from = _append(conn, table, timedelta(hours=1))
    with database.get_engine().connect() as conn:
        keys = ", ".join(VERSIONED[table])
        rows = conn.execute(
            text(f"""
                SELECT id, version, valid_from, valid_to FROM {table}
                WHERE ({keys}) = (SELECT {keys} FROM {table} WHERE id = :id)
                ORDER BY version"""),
            {"id": new_id},
        ).all()
        assert rows[-1].id == new_id and rows[-1].valid_to is None
        assert rows[-2].valid_to == new_from
        for earlier, later in zip(rows, rows[1:], strict=False):
            assert earlier.valid_to == later.valid_from, rows
        # One open version per record, in the whole table.
        keys = ", ".join(VERSIONED[table])
        assert not conn.execute(
            text(
                f"SELECT {keys} FROM {table} WHERE valid_to IS NULL "
                f"GROUP BY {keys} HAVING count(*) > 1"
            )
        ).all()


@pytest.mark.parametrize("table", VERSIONED)
def test_the_service_versions_close_each_other(history, table):
    """What the service's own code wrote (as its role, without closing anything itself)."""
    keys = ", ".join(VERSIONED[table])
    with database.get_engine().connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {keys}, version, valid_from, valid_to FROM {table} "
                f"ORDER BY {keys}, version"
            )
        ).all()
    assert len(rows) >= 2
    for earlier, later in zip(rows, rows[1:], strict=False):
        if earlier[: len(VERSIONED[table])] == later[: len(VERSIONED[table])]:
            assert earlier.valid_to == later.valid_from, rows
    assert rows[-1].valid_to is None


@pytest.mark.parametrize("table", VERSIONED)
def test_history_runs_forwards_and_opens(history, table):
    before = _rows(table)
    with history.connect() as conn, pytest.raises(DBAPIError, match="earlier than"):
        _append(conn, table, timedelta(hours=-1))
    with history.connect() as conn, pytest.raises(DBAPIError, match="valid_to"):
        _append(conn, table, timedelta(hours=1), valid_to="now() + interval '1 day'")
    assert _rows(table) == before
