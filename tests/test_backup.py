"""Backup and restore round trip through the command, compared row by row, and the checks
that keep a restore safe (newer schema, non-empty target, pg_dump version)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import scratch_database
from parcelfiles import GUSHAN, XINDIAN, frame, rectangle, write
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from geo_service import backup, database
from geo_service.campaign.projects import import_projects
from geo_service.campaign.targets import set_target
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import dispute, set_status, verify, withdraw

CLI = str(Path(sys.executable).parent / "geo-service")


def _cli(url: str, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([CLI, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


@pytest.fixture
def restored_url(db_url):
    with scratch_database(db_url, "restored") as url:
        yield url


def _populate(tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text("code,name,deadline\nJA-1,新店安置房,2017-06-30\n", encoding="utf-8")
    land = [rectangle(XINDIAN, 0, 0, 200, 100), rectangle(XINDIAN, 300, 0, 80, 80)]
    path = write(frame(land, code=["B1", "B2"], project=["JA-1", "JA-1"]),
                 tmp_path / "land.geojson", 4326, "GeoJSON")  # fmt: skip
    blocks = write(frame([rectangle(GUSHAN, 0, 0, 50, 50)], code=["D1"], support=["新店镇"]),
                   tmp_path / "blocks.gpkg", 4326, "GPKG")  # fmt: skip
    with database.session_scope() as session:
        import_projects(session, projects)
        set_target(session, district="晋安区", township="新店镇", kind="land", year=2017,
                   quarter=2, amount=300, unit="mu", actor="规划")  # fmt: skip
        import_file(
            session, path, ImportOptions(kind="land", township="新店镇", status="delivered")
        )
        import_file(session, blocks, ImportOptions(kind="demolition", township="鼓山镇"))
    with database.session_scope() as session:
        verify(session, 1, "林志伟", "土地核验组", note="核验")
        dispute(session, 1, "界址不符", "李四")
        withdraw(session, 2, "重复登记", "王五")
        set_status(session, 3, "in_progress", "鼓山镇")


def _tables(url: str) -> dict[str, list[str]]:
    """Every row of every table of the schema, as PostgreSQL prints it (geometry as EWKB)."""
    engine = create_engine(database.normalise_url(url))
    try:
        with engine.connect() as conn:
            names = conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'spatial_ref_sys' ORDER BY 1"
                )  # fmt: skip
            ).scalars()
            return {
                n: conn.execute(text(f'SELECT t::text FROM public."{n}" t ORDER BY 1'))
                .scalars()
                .all()
                for n in list(names)
            }
    finally:
        engine.dispose()


def test_a_backup_restores_every_row_into_a_fresh_database(db, tmp_path, restored_url):
    _populate(tmp_path)
    dump = tmp_path / "geo.dump"
    made = _cli(db, "backup", "--output", dump)
    assert made.returncode == 0, made.stderr
    assert dump.stat().st_size > 0 and not dump.with_name("geo.dump.partial").exists()

    done = _cli(restored_url, "restore", dump)
    assert done.returncode == 0, done.stderr
    original, restored = _tables(db), _tables(restored_url)
    for table in ("parcels", "parcel_versions", "targets", "projects", "uploads", "users",
                  "upload_files", "parcel_support", "admin_units", "alembic_version"):  # fmt: skip
        assert original[table], f"{table} is empty: the round trip would prove nothing"
    assert restored == original

    # The history stays append-only in the restored database.
    engine = create_engine(database.normalise_url(restored_url))
    with engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("DELETE FROM parcel_versions"))
    engine.dispose()

    again = _cli(restored_url, "restore", dump)
    assert again.returncode == 2 and "--replace" in again.stderr
    replaced = _cli(restored_url, "restore", dump, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert _tables(restored_url) == original


def test_a_backup_from_a_newer_schema_is_refused(db, tmp_path, restored_url):
    future = make_url(db).set(database=f"{make_url(db).database}_future")
    future_url = future.render_as_string(hide_password=False)
    database.drop_database(future_url)
    database.ensure_database(future_url)
    engine = create_engine(future_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('9999_from_the_future')"))
    engine.dispose()
    dump = tmp_path / "future.dump"
    try:
        assert _cli(future_url, "backup", "--output", dump).returncode == 0
    finally:
        database.drop_database(future_url)
    refused = _cli(restored_url, "restore", dump)
    assert refused.returncode == 2
    assert "9999_from_the_future" in refused.stderr and "newer" in refused.stderr
    assert not backup._has_schema(make_url(restored_url))


def test_a_file_that_is_not_a_backup_is_refused(db, tmp_path, restored_url):
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a dump at all")
    refused = _cli(restored_url, "restore", junk)
    assert refused.returncode == 2 and "not a readable backup" in refused.stderr


def test_the_dump_tool_matches_the_server():
    server = backup._server_major(make_url(database.normalise_url(os.environ["DATABASE_URL"])))
    tool = backup.pg_tool("pg_dump", server)
    assert backup.tool_major(tool) >= server
    with pytest.raises(backup.BackupFailed, match="postgresql-client-15"):
        backup.check_tool_version("pg_dump", 14, 15)
