"""The service's own database role: it may add to the history, never rewrite it.

Migrations run as the database owner; the service runs as this role. What it may do is
decided here, table by table, and granted again after every migration (`db upgrade` with
APP_ROLE set, or `geo-service db app-role`), so new tables get their grants too:

- history (every version table, milestone records, uploads and their files, parcels'
  photos, the audit log): read and append, nothing else. A version is closed by the
  database itself when the next one is appended (migration 0023), so the service never
  updates one; the tables' triggers refuse UPDATE, DELETE and TRUNCATE to whoever connects;
- append-only (overlapped_parcels): read and append;
- kept (parcels, admin_units): no DELETE: a parcel is withdrawn, never deleted;
- read-only (alembic_version, spatial_ref_sys);
- any other table: read and write.
"""

import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from geo_service.database import normalise_url
from geo_service.errors import InvalidInput

HISTORY = {
    "parcel_versions",
    "target_versions",
    "relocation_versions",
    "relocation_target_versions",
    "project_problem_versions",
    "milestone_records",
    "uploads",
    "upload_files",
    "parcel_photos",
    "audit_log",
    "version_positions",
}
APPEND_ONLY = HISTORY | {"overlapped_parcels"}
KEPT = {"parcels", "admin_units"}
READ_ONLY = {"alembic_version", "spatial_ref_sys"}


@dataclass(frozen=True)
class AppRole:
    name: str
    created: bool
    url: str  # the DATABASE_URL the service should use (password shown only when set now)


def privileges(table: str) -> list[str]:
    """The GRANT clauses for one table."""
    if table in APPEND_ONLY:
        return ["SELECT", "INSERT"]
    if table in READ_ONLY:
        return ["SELECT"]
    if table in KEPT:
        return ["SELECT", "INSERT", "UPDATE"]
    return ["SELECT", "INSERT", "UPDATE", "DELETE"]


def ensure_app_role(
    engine: Engine, name: str, password: str | None = None, new_password: bool = False
) -> AppRole:
    """Create the login role when missing (with a generated password unless one is given),
    then grant it exactly what `privileges` says on every table of the schema."""
    if not name.replace("_", "").isalnum() or not name[0].isalpha() or len(name) > 63:
        raise InvalidInput(f"a role name is letters, digits and _, not {name!r}")
    with engine.begin() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name})
        if not exists or new_password or password:
            password = password or secrets.token_urlsafe(24)
        if not exists:
            conn.execute(text(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'))
        if password:
            # Quoted by the server itself, so any password is safe in the statement.
            quoted = conn.scalar(text("SELECT quote_literal(:p)"), {"p": password})
            conn.execute(text(f'ALTER ROLE "{name}" PASSWORD {quoted}'))
        _grant(conn, name)
    url = make_url(normalise_url(str(engine.url.render_as_string(hide_password=False))))
    url = url.set(username=name, password=password)
    rendered = url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    return AppRole(name=name, created=not exists, url=rendered)


def _grant(conn, name: str) -> None:
    database = conn.scalar(text("SELECT current_database()"))
    conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"'))
    conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{name}"'))
    conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{name}"'))
    tables = conn.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    ).all()
    for table in tables:
        grants = ", ".join(privileges(table))
        conn.execute(text(f'GRANT {grants} ON TABLE public."{table}" TO "{name}"'))
    conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{name}"'))
