"""`geo-service users` and `geo-service audit`: accounts, roles and the audit log."""

import json
import sys

import typer
from rich.table import Table

from geo_service.catalogs import N_
from geo_service.cli.common import (
    ListFormat,
    _day,
    _name,
    _text,
    acting,
    app,
    as_option,
    fail_acting,
    group,
    lazy,
    session_scope,
)
from geo_service.cli.language import words
from geo_service.errors import GeoServiceError

accounts = lazy("geo_service.accounts.users")
audit = lazy("geo_service.accounts.audit")

users_app = group("users", N_("Users and roles: admin, leader, planner, verifier, officer."))
_TOWNSHIPS_HELP = N_("a township the user works in (repeat for several); verifiers and officers")


def _as_admin(session, as_user: str | None):
    from geo_service.accounts.permissions import require_role

    return require_role(acting(session, as_user), "admin", doing="manage users")


def _run(change, as_user: str | None):
    try:
        with session_scope() as session:
            return change(session, _as_admin(session, as_user))
    except GeoServiceError as exc:
        fail_acting(exc, as_user)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(
        ..., callback=_name, help=N_("the sign-in name, e.g. 林志伟 or linzw")
    ),
    role: str = typer.Option(..., help=N_("admin, leader, planner, verifier or officer")),
    name: str | None = typer.Option(
        None, callback=_name, help=N_("the person's name as shown (default: username)")
    ),
    group: str | None = typer.Option(
        None, help=N_("a verifier's group: 土地核验组, 拆迁核验组 or 回迁核验组 (relocation)")
    ),
    district: str | None = typer.Option(
        None, help=N_("a leader's or planner's district (none: city)")
    ),
    township: list[str] = typer.Option([], help=_TOWNSHIPS_HELP),
    password: str | None = typer.Option(
        None, help=N_("the first password (default: generated and printed once)")
    ),
    as_user: str | None = as_option(),
) -> None:
    """Add a user. Without --password one is generated and printed once.

    Examples:

      geo-service users add 林志伟 --role verifier --group 土地核验组 --township 新店镇
      --township 岳峰镇

      geo-service users add 周建明 --role leader --district 晋安区
    """
    secret = password or accounts.generate_password()

    def add(session, who):
        return accounts.create_user(
            session, username, role=role, password=secret, display_name=name, group=group,
            district=district, townships=township, by=who.username, source="cli",
        )  # fmt: skip

    user = _run(add, as_user)
    shown = "as given" if password else f"{secret} (shown once)"
    typer.echo(f"user {user.username} added as {user.role}; password {shown}")


@users_app.command("list")
def users_list(fmt: ListFormat = typer.Option(ListFormat.table, "--format")) -> None:
    """Every user with role, group, district and townships.

    Example: geo-service users list --format json
    """
    with session_scope() as session:
        rows = accounts.list_users(session)
    if fmt is ListFormat.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=words(N_("Users")))
    for column in (N_("username"), N_("name"), N_("role"), N_("group"), N_("district"),
                   N_("townships"), N_("active")):  # fmt: skip
        table.add_column(words(column))
    for r in rows:
        table.add_row(
            r["username"], r["display_name"], r["role"], r["group"] or "", r["district"] or "",
            "、".join(r["townships"]), words(N_("yes") if r["active"] else N_("no")),
        )  # fmt: skip
    sys.stdout.write(_text(table))


@users_app.command("set-role")
def users_set_role(
    username: str,
    role: str = typer.Option(..., help=N_("admin, leader, planner, verifier or officer")),
    group: str | None = typer.Option(None, help=N_("a verifier's group")),
    district: str | None = typer.Option(None, help=N_("a leader's or planner's district")),
    township: list[str] = typer.Option([], help=_TOWNSHIPS_HELP),
    as_user: str | None = as_option(),
) -> None:
    """Change a user's role and scope; their sign-ins are revoked.

    Example: geo-service users set-role 张伟 --role officer --township 新店镇 --township 宦溪镇
    """

    def change(session, who):
        return accounts.set_role(
            session, username, role=role, group=group, district=district, townships=township,
            by=who.username, source="cli",
        )  # fmt: skip

    user = _run(change, as_user)
    typer.echo(f"user {user.username} is now {user.role}")


@users_app.command("disable")
def users_disable(username: str, as_user: str | None = as_option()) -> None:
    """Disable a user: they can no longer sign in, and every sign-in of theirs is revoked.

    Example: geo-service users disable 张伟
    """
    _set_active(username, False, as_user)


@users_app.command("enable")
def users_enable(username: str, as_user: str | None = as_option()) -> None:
    """Enable a disabled user again.

    Example: geo-service users enable 张伟
    """
    _set_active(username, True, as_user)


def _set_active(username: str, active: bool, as_user: str | None) -> None:
    _run(lambda s, who: accounts.set_active(s, username, active, by=who.username, source="cli"),
         as_user)  # fmt: skip
    typer.echo(f"user {username} {'enabled' if active else 'disabled'}")


@users_app.command("reset-password")
def users_reset_password(
    username: str,
    password: str | None = typer.Option(None, help=N_("the new password (default: generated)")),
    as_user: str | None = as_option(),
) -> None:
    """Set a new password (printed once when generated); the user is signed out everywhere.

    Example: geo-service users reset-password admin
    """
    secret = _run(
        lambda s, who: accounts.reset_password(s, username, password, by=who.username,
                                               source="cli"),
        as_user,
    )  # fmt: skip
    shown = "as given" if password else f"{secret} (shown once)"
    typer.echo(f"password of {username} reset; {shown}")


@users_app.command("unlock")
def users_unlock(
    username: str,
    address: str | None = typer.Option(None, help=N_("only the attempts from this client address")),
    as_user: str | None = as_option(),
) -> None:
    """Clear the failed sign-ins counted against a user (from every address, or one), so
    they can sign in again at once. Audited as user.unlock.

    Example: geo-service users unlock 林志伟 --address 10.2.3.4
    """
    cleared = _run(
        lambda s, who: accounts.unlock(s, username, address=address, by=who.username,
                                       source="cli"),
        as_user,
    )  # fmt: skip
    typer.echo(f"user {username} unlocked; {cleared} address(es) cleared")


@users_app.command("four-eyes")
def users_four_eyes(
    district: str = typer.Argument(..., help=N_("the district, e.g. 晋安区")),
    on: bool = typer.Option(..., "--on/--off", help=N_("switch the rule on or off")),
    as_user: str | None = as_option(),
) -> None:
    """Four eyes: in this district, whoever uploaded or delivered a parcel may not also
    verify it.

    Example: geo-service users four-eyes 晋安区 --on
    """
    _run(lambda s, who: accounts.set_four_eyes(s, district, on, by=who.username, source="cli"),
         as_user)  # fmt: skip
    typer.echo(f"four eyes {'on' if on else 'off'} in {district}")


@app.command("audit")
def audit_command(
    user: str | None = typer.Option(None, help=N_("only this user's entries")),
    action: str | None = typer.Option(None, help=N_("actions starting with this, e.g. parcel.")),
    outcome: str | None = typer.Option(None, help=N_("ok, refused or locked")),
    since: str | None = typer.Option(None, help=N_("from this day YYYY-MM-DD (China time)")),
    until: str | None = typer.Option(None, help=N_("up to this day YYYY-MM-DD, inclusive")),
    limit: int = typer.Option(200, min=1, max=100_000),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """The audit log, newest first: every write, refusal and failed sign-in, with who,
    when, from where and what changed. Nobody can edit or delete it.

    Examples:

      geo-service audit --action parcel.verify --since 2017-06-01

      geo-service audit --outcome refused --format json
    """
    with session_scope() as session:
        rows = audit.entries(
            session, username=user, action=action, outcome=outcome, since=_day(since),
            until=_day(until), limit=limit,
        )  # fmt: skip
    if fmt is ListFormat.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=words(N_("Audit log (newest first)")))
    for column in (N_("id"), N_("at (UTC)"), N_("user"), N_("action"), N_("target"),
                   N_("outcome"), N_("from"), N_("details")):  # fmt: skip
        table.add_column(words(column))
    for r in rows:
        details = json.dumps(r["details"], ensure_ascii=False)
        table.add_row(str(r["id"]), r["at"][:19], r["username"] or "", r["action"],
                      r["target"] or "", r["outcome"], r["source"] or "", details[:80])  # fmt: skip
    sys.stdout.write(_text(table, width=220))
