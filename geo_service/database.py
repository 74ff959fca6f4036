"""Engines (the primary and an optional read replica), sessions, URL normalisation and the
PostGIS bootstrap."""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from geo_service.errors import DatabaseUnavailable
from geo_service.settings import get_settings

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """Accept libpq URLs (postgresql://, postgres://) and give SQLAlchemy the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Pools each worker process opens to DATABASE_URL: the ORM's (get_engine) and read_rows'.
POOLS_PER_WORKER = 2


def pool_limits() -> dict:
    """Ten connections kept (up to DATABASE_POOL_MAX), more opened under load up to it."""
    most = get_settings().database_pool_max
    kept = min(10, most)
    return {"pool_size": kept, "max_overflow": most - kept}


def connection_budget() -> int:
    """How many connections the server takes from clients like ours: max_connections less
    those it keeps for superusers. One connection of its own, closed at once."""
    engine = create_engine(normalise_url(get_settings().database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            most = int(conn.scalar(text("SHOW max_connections")))
            reserved = int(conn.scalar(text("SHOW superuser_reserved_connections")))
    finally:
        engine.dispose()
    return most - reserved


def pool_max_for(workers: int, budget: int) -> int:
    """DATABASE_POOL_MAX, lowered if need be so that `workers` processes' pools together
    fit in `budget` connections (0: not even one connection a pool fits)."""
    return min(get_settings().database_pool_max, budget // (workers * POOLS_PER_WORKER))


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    # pool_size: one connection per request served at once, kept. With SQLAlchemy's default
    # of 5 a worker under load (FastAPI runs sync routes on up to 40 threads) opened and
    # closed an overflow connection per request, and a new PostgreSQL backend pays ~10 ms
    # loading its catalogue caches and PostGIS on its first query.
    return create_engine(
        normalise_url(url or get_settings().database_url), pool_pre_ping=True, **pool_limits()
    )


@lru_cache
def _read_engine(url: str) -> Engine:
    # By the URL itself (not None for "the configured one"): a changed DATABASE_URL gets
    # its own pool. Autocommit, and no ping on checkout: a connection that died is found
    # by the query itself, which read_rows then tries once more on a new one.
    args = {}
    if url == get_settings().database_replica_url and "connect_timeout" not in url:
        # As get_replica_engine: past this a read goes to the primary.
        args["connect_timeout"] = get_settings().replica_connect_timeout
    return create_engine(
        normalise_url(url),
        isolation_level="AUTOCOMMIT",
        connect_args=args,
        **pool_limits(),
    )


@lru_cache(maxsize=256)
def _driver_sql(sql: str) -> str:
    """`:name` parameters (as text() takes them) in psycopg's `%(name)s` form, compiled
    once per statement by SQLAlchemy, which knows `::casts` and quoted strings apart."""
    return str(text(sql).compile(dialect=_read_engine(get_settings().database_url).dialect))


def read_rows(sql: str, params: dict | None = None, binary: bool = False) -> list[tuple]:
    """One read-only statement straight on a pooled psycopg connection, for the requests
    served most (parcel pages, tiles, the change token): no ORM session, no transaction
    to open and commit, no ping, and the statement prepared server-side once it repeats.
    Any other read goes through session_scope. `binary`: results in PostgreSQL's binary
    format (a bytea then comes as its bytes, neither escaped nor decoded)."""
    statement = _driver_sql(sql)
    for attempt in (1, 2):
        pooled, on_replica = _read_connection()
        try:
            found = pooled.driver_connection.execute(statement, params or {}, binary=binary)
            return found.fetchall()
        except psycopg.Error as exc:
            # As SQLAlchemy would have raised it: the API's handlers map DataError to 400
            # (a NUL in a parameter, say) and an outage to 503, never a 500.
            error = DBAPIError.instance(statement, params, exc, psycopg.Error)
            if attempt == 1 and on_replica and isinstance(exc, psycopg.OperationalError):
                # A replica that went away under a pooled connection: the primary answers
                # this read, and the next ones until the replica is tried again.
                pooled.invalidate()
                _replica_failed(error)
                continue
            if attempt == 1 and pooled.driver_connection.broken:
                pooled.invalidate()  # the server restarted since: once more, connected anew
                continue
            raise error from exc
        finally:
            pooled.close()
    raise AssertionError("unreachable")


def _read_connection():
    """A pooled connection for read_rows, and whether it is the replica's: on the read
    replica when there is one and it answers (the token and the data of one page or tile
    are then both the replica's, so the token never runs ahead of the data), else on the
    primary."""
    settings = get_settings()
    if settings.database_replica_url and time.monotonic() >= _replica_down_until:
        try:
            return _read_engine(settings.database_replica_url).raw_connection(), True
        except DBAPIError as exc:
            _replica_failed(exc)
    return _read_engine(settings.database_url).raw_connection(), False


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


@lru_cache
def get_replica_engine() -> Engine | None:
    """The read replica's engine (DATABASE_REPLICA_URL), or None when there is none."""
    url = get_settings().database_replica_url
    if not url:
        return None
    url = normalise_url(url)
    args = {}
    if "connect_timeout" not in make_url(url).query:
        # A replica host that drops packets must not hold a request for libpq's default
        # (no timeout): past this the read goes to the primary.
        args["connect_timeout"] = get_settings().replica_connect_timeout
    return create_engine(url, pool_pre_ping=True, connect_args=args)


# Until when (time.monotonic()) a replica that failed is left alone: one failed connection
# attempt per REPLICA_RETRY_SECONDS, not one per request, while it is down.
_replica_down_until = 0.0


def _replica_connection():
    """A connection to the replica, or None when there is none or it does not answer.
    Opened before the route runs, so a replica that is down is found out (and the primary
    used) before anything was read; pool_pre_ping also catches a replica that went away
    since its pooled connection was last used."""
    replica = get_replica_engine()
    if replica is None or time.monotonic() < _replica_down_until:
        return None
    try:
        return replica.connect()
    except DBAPIError as exc:
        _replica_failed(exc)
        return None


def _replica_failed(exc: DBAPIError) -> None:
    global _replica_down_until
    retry = get_settings().replica_retry_seconds
    _replica_down_until = time.monotonic() + retry
    reason = outage_reason(exc) or UNREACHABLE
    log.warning(
        "read replica unavailable (%s): reading from the primary for the next %gs",
        reason, retry,
    )  # fmt: skip


@contextmanager
def replica_session_scope() -> Iterator[Session | None]:
    """A read-only session on the replica for the GET routes of maps, tiles, tallies and
    parcels; None when there is no replica or it is down, and the caller reads in its
    primary session instead. Not a second primary session: the request's own holds
    share locks until the request ends, and a second
    connection waiting behind a TRUNCATE or ALTER that waits for those locks would be a
    deadlock PostgreSQL cannot see."""
    connection = _replica_connection()
    if connection is None:
        yield None
        return
    session = Session(
        bind=connection.execution_options(postgresql_readonly=True), expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()  # rolls back: nothing was written
        connection.close()


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


def replica_status() -> str | None:
    """None without a read replica; "ok" when it answers with PostGIS at the current
    migration; else why not, in public words. The primary alone decides whether the service
    can serve: reads go to it while the replica is down."""
    replica = get_replica_engine()
    if replica is None:
        return None
    try:
        check(replica)
    except DatabaseUnavailable as exc:
        return str(exc)
    return "ok"


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
