"""Engine, sessions, URL normalisation and the PostGIS bootstrap."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import DatabaseUnavailable
from .settings import get_settings


def normalise_url(url: str) -> str:
    """Accept libpq URLs (postgresql://, postgres://) and give SQLAlchemy the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    # pool_size: one connection per request served at once, kept. With SQLAlchemy's default
    # of 5 a worker under load (FastAPI runs sync routes on up to 40 threads) opened and
    # closed an overflow connection per request, and a new PostgreSQL backend pays ~10 ms
    # loading its catalogue caches and PostGIS on its first query.
    return create_engine(
        normalise_url(url or get_settings().database_url),
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=30,
    )


@lru_cache
def _read_engine(url: str) -> Engine:
    # By the URL itself (not None for "the configured one"): a changed DATABASE_URL gets
    # its own pool. Autocommit, and no ping on checkout: a connection that died is found
    # by the query itself, which read_rows then tries once more on a new one.
    return create_engine(
        normalise_url(url),
        isolation_level="AUTOCOMMIT",
        pool_size=10,
        max_overflow=30,
    )


@lru_cache(maxsize=256)
def _driver_sql(sql: str) -> str:
    """`:name` parameters (as text() takes them) in psycopg's `%(name)s` form, compiled
    once per statement by SQLAlchemy, which knows `::casts` and quoted strings apart."""
    return str(text(sql).compile(dialect=_read_engine(get_settings().database_url).dialect))


def read_rows(sql: str, params: dict | None = None) -> list[tuple]:
    """One read-only statement straight on a pooled psycopg connection, for the requests
    served most (parcel pages, tiles, the change token): no ORM session, no transaction
    to open and commit, no ping, and the statement prepared server-side once it repeats.
    Any other read goes through session_scope."""
    statement = _driver_sql(sql)
    for attempt in (1, 2):
        pooled = _read_engine(get_settings().database_url).raw_connection()
        try:
            return pooled.driver_connection.execute(statement, params or {}).fetchall()
        except psycopg.Error as exc:
            if attempt == 1 and pooled.driver_connection.broken:
                pooled.invalidate()  # the server restarted since: once more, connected anew
                continue
            # As SQLAlchemy would have raised it: the API's handlers map DataError to 400
            # (a NUL in a parameter, say) and an outage to 503, never a 500.
            raise DBAPIError.instance(statement, params, exc, psycopg.Error) from exc
        finally:
            pooled.close()
    raise AssertionError("unreachable")


@lru_cache
def _sessionmaker(url: str | None = None) -> sessionmaker:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    session = _sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ensure_database(url: str | None = None) -> None:
    """Create the database itself when the server has none of that name yet."""
    target = make_url(normalise_url(url or get_settings().database_url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means the same to the user
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL at {target.render_as_string()}: {exc}"
        ) from None
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop a whole database, connections and all: for test and benchmark databases."""
    target = make_url(normalise_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def ensure_postgis(engine: Engine) -> None:
    with engine.begin() as conn:
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except Exception as exc:  # noqa: BLE001
            raise DatabaseUnavailable(
                "PostGIS is not installed on the server "
                "(Debian: apt-get install postgresql-15-postgis-3): " + str(exc).splitlines()[0]
            ) from None


# SQLSTATEs worth telling apart for an operator; the wording names no host, port or database,
# since /healthz and error pages are public.
_REASONS = {
    "3D000": "the database does not exist (run geo-service db upgrade)",
    "28000": "the database refused the service's credentials",
    "28P01": "the database refused the service's credentials",
    "57P03": "the database server is starting up or shutting down",
    "53300": "the database server has too many connections",
    "42P01": "the database schema is missing (run geo-service db upgrade)",
    "42883": "PostGIS is not installed in the database (run geo-service db upgrade)",
}
# A failed connection carries no SQLSTATE in psycopg: libpq's message says what happened.
_CONNECT_HINTS = {
    "does not exist": "3D000",
    "authentication failed": "28P01",
    "no pg_hba.conf entry": "28000",
    "the database system is starting up": "57P03",
    "the database system is shutting down": "57P03",
    "too many clients": "53300",
}
UNREACHABLE = "the database server cannot be reached"


def outage_reason(exc: BaseException) -> str | None:
    """Why the database cannot serve, in words safe to show anyone; None when `exc` is not
    an outage (a bug or a bad value instead)."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    if isinstance(exc, psycopg.Error):  # from read_rows, not wrapped by SQLAlchemy
        if exc.sqlstate in _REASONS:
            return _REASONS[exc.sqlstate]
        return UNREACHABLE if isinstance(exc, psycopg.OperationalError) else None
    if not isinstance(exc, DBAPIError):
        return None
    state = getattr(exc.orig, "sqlstate", None)
    if state is None:
        text_ = str(exc.orig)
        state = next((s for hint, s in _CONNECT_HINTS.items() if hint in text_), None)
    if state in _REASONS:
        return _REASONS[state]
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return UNREACHABLE
    return None


def check(engine: Engine) -> str:
    """Return the PostGIS version, or raise DatabaseUnavailable with a public reason."""
    try:
        with engine.connect() as conn:
            # One round trip: /healthz is polled (load balancers, the maps' status line).
            version, current = conn.execute(
                text(
                    "SELECT postgis_lib_version(), "
                    "(SELECT array_agg(version_num) FROM alembic_version)"
                )
            ).one()
            _check_schema(set(current or ()))
            return version
    except DatabaseUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever failed, the database cannot serve
        raise DatabaseUnavailable(outage_reason(exc) or UNREACHABLE) from None


@lru_cache
def migration_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def _check_schema(current: set[str]) -> None:
    if current != set(migration_heads()):
        at = ", ".join(sorted(current)) or "none"
        raise DatabaseUnavailable(
            f"the database schema is not at the current migration (at {at}, expected "
            f"{', '.join(migration_heads())}): run geo-service db upgrade"
        )


def alembic_config(url: str | None = None):
    from pathlib import Path

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    # ConfigParser interpolates '%': escape it so passwords with '%' survive.
    cfg.set_main_option(
        "sqlalchemy.url", normalise_url(url or get_settings().database_url).replace("%", "%%")
    )
    return cfg


def migrate(url: str | None = None) -> None:
    """Create the database and PostGIS if needed, then apply every migration."""
    from alembic import command

    ensure_database(url)
    ensure_postgis(get_engine(url))
    command.upgrade(alembic_config(url), "head")
