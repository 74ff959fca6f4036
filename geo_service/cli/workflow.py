"""`geo-service status|verify|dispute|history`: the verification workflow."""

import json
import sys

import typer
from rich.table import Table

from geo_service.catalogs import N_
from geo_service.cli.common import (
    _KIND_HELP,
    _PARCEL_HELP,
    _TOWNSHIP_HELP,
    Kind,
    ListFormat,
    _fail,
    _note,
    _text,
    acting_session,
    app,
    as_option,
    lazy,
    session_scope,
)
from geo_service.cli.language import words
from geo_service.errors import GeoServiceError
from geo_service.periods import CHINA, parse_field_day

actions = lazy("geo_service.actions")
tallies = lazy("geo_service.campaign.tallies")
workflow = lazy("geo_service.parcels.workflow")


def _parcel(session, code: str, township: str | None, kind):
    return workflow.find_parcel(
        session, code, township=township, kind=kind.value if kind else None, lock=True
    )


_ON_HELP = N_(
    "the day it happened in the field (核验日期), YYYY-MM-DD or YYYY-MM-DDTHH:MM (China "
    "time), when entered later; default now. Never in the future; further back than the "
    "back-dating window (90 days) only an admin records it"
)


def _on(value: str | None):
    return parse_field_day(value, "--on")


def _transition(change, as_user: str | None) -> None:
    """Run a workflow action on one parcel as the named user and print what it did."""
    with acting_session(as_user) as (session, who):
        done = change(session, who)
    line = (
        f"{done.code} ({done.township}, {done.kind}): {done.status_before} → {done.status}, "
        f"version {done.version}, by {done.changed_by}"
    )
    if done.status == "verified":
        line += (
            f"; verified area {done.verified_area_m2:,.1f} m² "
            f"({done.verified_area_m2 * 15 / 10000:,.2f} mu) frozen"
        )
    if done.recorded_at and done.changed_at != done.recorded_at:
        line += (
            f"; happened {done.changed_at.astimezone(CHINA):%Y-%m-%d %H:%M}, "
            f"recorded {done.recorded_at.astimezone(CHINA):%Y-%m-%d %H:%M}"
        )
    typer.echo(line + (f"; note: {done.note}" if done.note else ""))


@app.command("status")
def status_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    to: str = typer.Option(..., "--to", help=N_("in_progress, delivered, demolished or disputed")),
    note: str | None = typer.Option(
        None, callback=_note, help=N_("why (required when leaving disputed)")
    ),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    on: str | None = typer.Option(None, "--on", help=_ON_HELP),
    as_user: str | None = as_option(),
) -> None:
    """Move a parcel along the workflow: planned → in_progress → delivered (land) or
    demolished (demolition); a disputed parcel goes back to in_progress or
    delivered/demolished with a reason (a verifier's call). Verifying is `geo-service verify`.

    Examples:

      geo-service status XD-001 --to in_progress --township 新店镇 --as 张伟

      geo-service status XD-001 --to delivered --note "交地确认书已签" --as 张伟

      geo-service status XD-001 --to in_progress --note "边界需重测" --as 林志伟

      geo-service status XD-001 --to delivered --on 2017-06-28 --as 张伟
    """
    _transition(
        lambda s, who: actions.change_status(
            s, who, _parcel(s, code, township, kind), to, note=note, on=_on(on)
        ),
        as_user,
    )


@app.command("verify")
def verify_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    note: str | None = typer.Option(None, callback=_note, help=N_("what was checked")),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    on: str | None = typer.Option(None, "--on", help=_ON_HELP),
    as_user: str | None = as_option(),
) -> None:
    """Verify a delivered (land) or demolished (demolition) parcel as the named verifier,
    for their own group (土地核验组: land, 拆迁核验组: demolition) in their townships; the
    area is frozen.

    Examples:

      geo-service verify XD-001 --township 新店镇 --as 林志伟

      geo-service verify GS-CQ-07 --note "现场核验" --as 王丽琴

      geo-service verify XD-001 --on 2017-06-28 --as 林志伟   (signed on site on 28 June)
    """
    _transition(
        lambda s, who: actions.verify(
            s, who, _parcel(s, code, township, kind), note=note, on=_on(on)
        ),
        as_user,
    )


@app.command("dispute")
def dispute_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    reason: str = typer.Option(..., callback=_note, help=N_("what is disputed")),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    on: str | None = typer.Option(None, "--on", help=_ON_HELP),
    as_user: str | None = as_option(),
) -> None:
    """Dispute a verified parcel: it stops counting as verified until a verifier settles it
    with `geo-service status CODE --to in_progress|delivered|demolished --note REASON`.

    Example: geo-service dispute XD-001 --reason "界址点与批文不符" --township 新店镇 --as 林志伟
    """
    _transition(
        lambda s, who: actions.dispute(
            s, who, _parcel(s, code, township, kind), reason, on=_on(on)
        ),
        as_user,
    )


@app.command("withdraw")
def withdraw_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    reason: str = typer.Option(..., callback=_note, help=N_("why the parcel leaves the register")),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    on: str | None = typer.Option(None, "--on", help=_ON_HELP),
    as_user: str | None = as_option(),
) -> None:
    """Withdraw a parcel (soft delete; an admin, or a verifier of its kind and township):
    its history stays, a `withdrawn` version records who, when and why, and it counts in no
    tally, map or overlap check from then on. Parcels are never deleted.

    Examples:

      geo-service withdraw XD-001 --reason "重复登记" --township 新店镇 --as 林志伟

      geo-service withdraw XD-001 --reason "重复登记" --on 2017-06-28 --as 林志伟
    """
    _transition(
        lambda s, who: actions.withdraw(
            s, who, _parcel(s, code, township, kind), reason, on=_on(on)
        ),
        as_user,
    )


@app.command("history")
def history_command(
    code: str = typer.Argument(..., help=_PARCEL_HELP),
    township: str | None = typer.Option(None, help=_TOWNSHIP_HELP),
    kind: Kind | None = typer.Option(None, help=_KIND_HELP),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """Every version of a parcel, oldest first: status, area, who, when, upload, note.

    Examples:

      geo-service history XD-001 --township 新店镇

      geo-service history XD-001 --format json
    """
    try:
        with session_scope() as session:
            parcel = workflow.find_parcel(
                session, code, township=township, kind=kind.value if kind else None
            )
            summary = workflow.parcel_summary(parcel)
            versions = workflow.history(session, parcel)
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is ListFormat.json:
        typer.echo(json.dumps(versions, ensure_ascii=False, indent=2))
        return
    sys.stdout.write(_history_table(summary, versions))


def _history_table(parcel: dict, versions: list[dict]) -> str:
    from datetime import datetime

    title = f"{parcel['code']} ({parcel['township']}, {parcel['kind']}, id {parcel['id']})"
    table = Table(title=words(N_("History of %(parcel)s"), parcel=title))
    for name in [N_("v"), N_("from (CST)"), N_("change"), N_("status"), N_("area m²"),
                 N_("geometry"), N_("who"), N_("upload"), N_("note"), N_("verified")]:  # fmt: skip
        table.add_column(words(name), justify="right" if name in ("v", "area m²") else "left")
    for v in versions:
        when = datetime.fromisoformat(v["valid_from"]).astimezone(tallies.CAMPAIGN_TZ)
        before, area = v["status_before"], f"{v['area_m2']:,.1f}"
        if v["geometry_changed"]:
            area = f"{v['area_before_m2']:,.1f} → {area}"
        verified = ""
        if v["verified_by"]:
            verified = f"{v['verified_by']} ({v['verified_group']}) {v['verified_area_m2']:,.1f}"
        table.add_row(
            str(v["version"]),
            when.strftime("%Y-%m-%d %H:%M"),
            v["change"],
            f"{before} → {v['status']}" if before and before != v["status"] else v["status"],
            area,
            {None: "new", True: "changed", False: "same"}[v["geometry_changed"]],
            v["changed_by"],
            f"#{v['upload_id']} {v['upload_filename']}" if v["upload_id"] else "",
            v["note"] or "",
            verified,
        )
    return _text(table, width=200)
