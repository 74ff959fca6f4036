"""Engine, sessions, URL normalisation and the PostGIS bootstrap."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
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
    return create_engine(normalise_url(url or get_settings().database_url), pool_pre_ping=True)


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


def check(engine: Engine) -> str:
    """Return the PostGIS version, or raise DatabaseUnavailable."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT postgis_lib_version()")).scalar()
    except Exception as exc:  # noqa: BLE001
        raise DatabaseUnavailable(str(exc).splitlines()[0]) from None


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
