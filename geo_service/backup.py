"""Backups of the whole database (pg_dump custom format) and their restore.

The dump holds everything: parcels and their history, uploads with their kept files, the
parcels' photos (kept files too), targets, projects, reference units (and any table added
later). Its summary says how many photos it holds and their images' bytes, counted in the
very snapshot pg_dump reads (an exported snapshot), so a photo sent meanwhile is in both or
in neither. A restore checks the
dump's schema revision first: a dump made by a newer geo_service is refused, an older one
is restored and then migrated to this version's head.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from geo_service import database
from geo_service.errors import GeoServiceError


class BackupFailed(GeoServiceError):
    pass


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size_bytes: int
    revision: str | None
    photos: int = 0
    photo_bytes: int = 0  # the photos' images (display, thumbnail, originals), each once

    def summary(self) -> str:
        return (
            f"{self.path}: {self.size_bytes:,} bytes, schema {self.revision or 'none'}; "
            f"{self.photos:,} photos ({self.photo_bytes:,} bytes of images)"
        )


def backup(url: str, output: Path) -> BackupInfo:
    """Dump the database to `output` (written beside it first, then renamed into place)."""
    target = _url(url)
    server = _server_major(target)
    pg_dump = pg_tool("pg_dump", server)
    output = Path(output)
    partial = output.with_name(output.name + ".partial")
    # The dump holds password hashes: readable by its owner only, from its first byte
    # (pg_dump would create it 0644 under the usual umask).
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with _snapshot(target) as (snapshot, (count, size)):
        _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={partial}",
              _conninfo(target)], target)  # fmt: skip
    partial.chmod(0o600)
    partial.replace(output)
    revision = dump_revision(output, server)
    return BackupInfo(output, output.stat().st_size, revision, count, size)


@contextmanager
def _snapshot(url: URL) -> Iterator[tuple[str, tuple[int, int]]]:
    """A snapshot of the database held open for pg_dump (--snapshot), and the photos and
    their bytes as that snapshot sees them."""
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            yield snapshot, photo_totals(conn)
    finally:
        engine.dispose()


# The photos on record and the bytes of their images (the file sent, the display size,
# the thumbnail, the original), each kept file once however many photos share it.
_PHOTO_TOTALS = text("""
    SELECT (SELECT count(*) FROM parcel_photos),
           (SELECT coalesce(sum(f.size_bytes), 0) FROM upload_files f WHERE f.sha256 IN (
                SELECT sha256 FROM parcel_photos UNION SELECT display_sha256 FROM parcel_photos
                UNION SELECT thumb_sha256 FROM parcel_photos
                UNION SELECT original_sha256 FROM parcel_photos))
""")


def photo_totals(conn) -> tuple[int, int]:
    """(photos, bytes of their images); none in a database from before photos."""
    if not conn.execute(text("SELECT to_regclass('public.parcel_photos')")).scalar():
        return 0, 0
    count, size = conn.execute(_PHOTO_TOTALS).one()
    return int(count), int(size)


def _restored_photos(url: URL) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count, size = photo_totals(conn)
    finally:
        engine.dispose()
    return f"{count:,} photos ({size:,} bytes of images)"


def restore(url: str, dump: Path, replace: bool = False) -> str:
    """Restore `dump` into the database of `url`, which must not hold geo_service tables yet
    (or, with `replace`, is dropped first); returns what was done."""
    target = _url(url)
    dump = Path(dump)
    if not dump.is_file():
        raise BackupFailed(f"{dump}: no such file")
    server = _server_major(target, database="postgres")
    revision = dump_revision(dump, server)
    if revision is None:
        raise BackupFailed(f"{dump}: not a geo_service backup (no schema revision in it)")
    head = _check_revision(revision)
    if _has_schema(target):
        if not replace:
            raise BackupFailed(
                f"database {target.database} already holds geo_service data: restore into "
                "a new database (DATABASE_URL), or give --replace to drop it first"
            )
        database.drop_database(target.render_as_string(hide_password=False))
    database.ensure_database(target.render_as_string(hide_password=False))
    pg_restore = pg_tool("pg_restore", server)
    # Owners and grants are the old server's business: the restoring user owns it all, and
    # the service role is granted again (db app-role / APP_ROLE).
    _run(
        [pg_restore, "--no-owner", "--no-acl", "--exit-on-error",
         f"--dbname={_conninfo(target)}", str(dump)],
        target,
    )  # fmt: skip
    if revision != head:
        database.migrate(target.render_as_string(hide_password=False))
        return (
            f"restored {dump} (schema {revision}), migrated to {head}; {_restored_photos(target)}"
        )
    return f"restored {dump} (schema {revision}); {_restored_photos(target)}"


def _check_revision(revision: str) -> str:
    """This version's head; refuses a dump whose revision this version does not know."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    scripts = ScriptDirectory.from_config(database.alembic_config())
    head = scripts.get_current_head()
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupFailed(
            f"the backup's schema revision {revision} is unknown to this geo_service (head "
            f"{head}): it was made by a newer version; upgrade geo_service, then restore"
        )
    return head


def dump_revision(dump: Path, server_major: int | None = None) -> str | None:
    """The Alembic revision recorded in a dump (read from its alembic_version table)."""
    pg_restore = pg_tool("pg_restore", server_major)
    done = subprocess.run(
        [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(dump)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupFailed(f"{dump}: not a readable backup: {_first_line(done.stderr)}")
    rows = re.search(r"COPY \S*alembic_version \(version_num\) FROM stdin;\n(.*?)\\\.", done.stdout,
                     re.S)  # fmt: skip
    if rows is None:
        return None
    versions = rows.group(1).split()
    return versions[0] if versions else None


def pg_tool(name: str, server_major: int | None = None) -> str:
    """The PostgreSQL client program for the server's major version: Debian installs each
    version's programs under /usr/lib/postgresql/N/bin (postgresql-client-N)."""
    if server_major is not None:
        versioned = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
        if versioned.is_file():
            return str(versioned)
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(
            f"{name} not found: install the PostgreSQL client programs "
            f"(Debian: apt-get install postgresql-client-{server_major or 15})"
        )
    if server_major is not None:
        check_tool_version(name, tool_major(found), server_major)
    return found


def tool_major(program: str) -> int:
    out = subprocess.run([program, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if match is None:
        raise BackupFailed(f"cannot tell the version of {program}: {out.strip()!r}")
    return int(match.group(1))


def check_tool_version(name: str, tool: int, server: int) -> None:
    """pg_dump refuses servers newer than itself; an older dump tool is a clear error here."""
    if tool < server:
        raise BackupFailed(
            f"{name} is version {tool} but the server is PostgreSQL {server}: install "
            f"postgresql-client-{server} (Debian) so that {name} matches the server"
        )


def _url(url: str) -> URL:
    return make_url(database.normalise_url(url))


def _conninfo(url: URL) -> str:
    """A libpq URL without the password (that travels in PGPASSWORD, not on the command line)."""
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _run(command: list[str], url: URL) -> None:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise BackupFailed(f"{Path(command[0]).name} failed: {_first_line(done.stderr)}")


def _server_major(url: URL, database: str | None = None) -> int:
    engine = create_engine(url.set(database=database) if database else url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
    except Exception as exc:  # noqa: BLE001 - any failure to connect means the same here
        raise BackupFailed(f"cannot reach the database: {_first_line(str(exc))}") from None
    finally:
        engine.dispose()


def _has_schema(url: URL) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar())
    except Exception:  # noqa: BLE001 - no such database yet
        return False
    finally:
        engine.dispose()


def _first_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"
