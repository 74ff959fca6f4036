"""What every command shares: the app, option types, error exit and table rendering."""

import importlib
import io
import sys
from contextlib import contextmanager
from datetime import date
from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from geo_service import __version__, texts
from geo_service.catalogs import N_, known_locale
from geo_service.cli import clickwords, language
from geo_service.errors import GeoServiceError
from geo_service.periods import parse_day, parse_year

# The command modules import the use cases (and through them SQLAlchemy, GDAL, openpyxl
# ...) only when a command runs: `geo-service --version` or `import` starts without the
# libraries of the commands it does not run.


class _LazyModule:
    """A module imported on first attribute access (monkeypatching the real module still
    works: every access reads through to it)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)


def lazy(name: str) -> _LazyModule:
    return _LazyModule(name)


def session_scope(*args, **kwargs):
    from geo_service.database import session_scope as scope

    return scope(*args, **kwargs)


def get_settings():
    from geo_service.settings import get_settings as settings

    return settings()


# soft_wrap: messages stay one line each, whatever the terminal width, for logs and grep.
err = Console(stderr=True, soft_wrap=True)


class _Commands(TyperGroup):
    """Every command: its help in the command's language, and a database that cannot serve
    is one line on stderr and exit code 3, never a traceback (the same words /healthz gives)."""

    def main(self, args=None, *rest, **kwargs):
        # Typer builds the commands afresh for each run, so their help is said here, once
        # the language is known (from the arguments, before Click parses them).
        words = sys.argv[1:] if args is None else list(args)
        language.choose(language.asked(words))
        language.say_help(self)
        clickwords.take_over(self)
        return super().main(words, *rest, **kwargs)

    def make_context(self, *args, **kwargs):
        with clickwords.in_our_words():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        try:
            with clickwords.in_our_words():
                return super().invoke(ctx)
        except Exception as exc:
            # Only a command that used the database can have failed on it.
            dbapi = sys.modules.get("sqlalchemy.exc")
            if dbapi is None or not isinstance(exc, dbapi.DBAPIError):
                raise
            from geo_service import database

            reason = database.outage_reason(exc)
            if reason is None:
                raise
            err.print(language.error_line(reason), markup=False, highlight=False)
            raise typer.Exit(code=3) from None


app = typer.Typer(
    cls=_Commands,
    help=N_(
        "geo_service: verified land-delivery and demolition areas on PostGIS.\n\n"
        "DATABASE_URL selects the database (default: local PostgreSQL, database geo_service)."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"geo-service {__version__}")
        raise typer.Exit()


def _lang(value: str | None) -> str | None:
    if value and known_locale(value) is None:
        raise typer.BadParameter(f"{value!r}: zh_CN or en")
    language.choose(value)
    return value


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help=N_("print the version and exit")
    ),
    lang: str | None = typer.Option(
        None,
        "--lang",
        envvar=language.ENV,
        callback=_lang,
        is_eager=True,
        help=N_(
            "the language of messages and refusals: zh_CN (简体中文) or en; default: the "
            "shell's locale (LC_ALL, LC_MESSAGES, LANG) when it is zh or en, else zh_CN"
        ),
    ),
) -> None:
    """geo_service: verified land-delivery and demolition areas on PostGIS.

    DATABASE_URL selects the database (default: local PostgreSQL, database geo_service).
    """


def group(name: str, help: str) -> typer.Typer:
    """The commands `geo-service NAME ...`, registered on the app."""
    commands = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(commands, name=name)
    return commands


class Kind(StrEnum):
    land = "land"
    demolition = "demolition"


class ImportStatus(StrEnum):
    planned = "planned"
    delivered = "delivered"
    verified = "verified"


class By(StrEnum):
    city = "city"
    district = "district"
    township = "township"
    project = "project"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Credit(StrEnum):
    host = "host"
    helpers = "helpers"
    all = "all"


def _day(value: str | None, name: str = "--as-of") -> date | None:
    """A day option, read by the one parser (periods), or a clear error (never a traceback)."""
    try:
        return parse_day(value, name)
    except GeoServiceError as exc:
        _fail(exc)


def _year(value: int | None) -> int | None:
    """A --year option's callback: refused before the command runs, as the API refuses it
    (year 0 would otherwise read as "not given")."""
    try:
        return parse_year(value, "--year")
    except GeoServiceError as exc:
        _fail(exc)


def _checked_text(kind: str):
    """A callback that holds an option or argument to the text rule (texts.py), naming it."""

    def callback(param: typer.CallbackParam, value: str | None) -> str | None:
        opts = [o for o in param.opts if o.startswith("--")]
        try:
            return texts.check(value, kind, opts[0] if opts else param.name)
        except GeoServiceError as exc:
            _fail(exc)

    return callback


_note = _checked_text("note")
_name = _checked_text("name")


def _text(table: Table, width: int = 160) -> str:
    """A rich table as plain text, the same on a terminal, in a pipe and in a file."""
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(table)
    return console.file.getvalue()


def _fail(exc: GeoServiceError, hint: bool = False) -> None:
    """The refusal on stderr in the command's language (cli/language.py), exit code 2;
    `hint`: name --as, for a local operator refused."""
    err.print(language.error_line(exc, hint), markup=False, highlight=False)
    raise typer.Exit(code=2)


def refused(exc: GeoServiceError) -> None:
    """A refused file: its problems on stderr in the command's language, exit code 1."""
    err.print(language.refused_lines(exc), markup=False, highlight=False)
    raise typer.Exit(code=1)


class ListFormat(StrEnum):
    table = "table"
    json = "json"


_PARCEL_HELP = N_("parcel code (or #ID)")
_TOWNSHIP_HELP = N_("the parcel's township, when the code is used in several")
_KIND_HELP = N_("land or demolition, when the code is used for both")


# --- who is acting ---------------------------------------------------------------------------

AS_HELP = N_(
    "the user you act as (see `geo-service users list`); recorded on every change. "
    "Also read from GEO_SERVICE_USER"
)


def as_option():
    return typer.Option(None, "--as", envvar="GEO_SERVICE_USER", help=AS_HELP)


def acting(session, username: str | None):
    """The named user, checked against the users table; without --as, the local operator:
    whoever can reach the database from this host may run admin commands (users, targets,
    reference data), recorded as local:<login name>, but never sign a parcel off."""
    import getpass

    from geo_service.accounts.users import Principal, acting_user

    if username:
        return acting_user(session, username, source="cli")
    return Principal(
        id=0,
        username=f"local:{getpass.getuser()}",
        display_name="本机操作员",
        role="admin",
        source="cli",
    )


def fail_acting(exc: GeoServiceError, username: str | None) -> None:
    """A refusal, with the hint a local operator needs."""
    from geo_service.errors import Forbidden

    _fail(exc, hint=isinstance(exc, Forbidden) and not username)


@contextmanager
def acting_session(username: str | None):
    """One transaction as the named user (see acting): (session, who). A refusal inside it
    rolls the transaction back and ends the command, with the hint a local operator needs."""
    try:
        with session_scope() as session:
            yield session, acting(session, username)
    except GeoServiceError as exc:
        fail_acting(exc, username)
