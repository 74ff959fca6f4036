"""`geo-service campaigns`: the campaigns every view shows, with their days and state."""

from datetime import date

import typer

from geo_service.catalogs import N_
from geo_service.cli.common import (
    _day,
    _fail,
    acting_session,
    as_option,
    group,
    lazy,
    session_scope,
)
from geo_service.errors import GeoServiceError

actions = lazy("geo_service.actions")
campaigns = lazy("geo_service.campaign.campaigns")

campaigns_app = group(
    "campaigns", N_("Campaigns (攻坚2017, 2016年百日攻坚): days, state, the one shown.")
)


def _required_day(value: str, name: str) -> date:
    day = _day(value, name)
    if day is None:
        _fail(GeoServiceError(f"{name} is required, written YYYY-MM-DD"))
    return day


@campaigns_app.command("list")
def campaigns_list() -> None:
    """Every campaign, latest first; * marks the one every view shows by default (the one
    under way today, else the latest).

    Example: geo-service campaigns list
    """
    try:
        with session_scope() as session:
            found = campaigns.all_campaigns(session)
            shown = campaigns.current(session)
    except GeoServiceError as exc:
        _fail(exc)
    for c in found:
        mark = "*" if c.name == shown.name else " "
        state = "closed" if c.state == "closed" else "ended" if c.ended() else "under way"
        demo = " (demo data)" if c.demo else ""
        typer.echo(f"{mark} {c.name}  {c.first_day} to {c.last_day}  {state}{demo}")
    if not found:
        typer.echo(f"no campaign on record: views show the calendar year {shown.name}")


@campaigns_app.command("create")
def campaigns_create(
    name: str = typer.Option(..., help=N_("e.g. 2016年百日攻坚 or 攻坚2018")),
    first_day: str = typer.Option(..., "--first-day", help=N_("YYYY-MM-DD")),
    last_day: str = typer.Option(..., "--last-day", help=N_("YYYY-MM-DD")),
    as_user: str | None = as_option(),
) -> None:
    """Open a campaign of any first and last day; set its targets with
    `geo-service targets set --campaign NAME`.

    Example: geo-service campaigns create --name 2016年百日攻坚 --first-day 2016-09-01
    --last-day 2016-12-09
    """
    first = _required_day(first_day, "--first-day")
    last = _required_day(last_day, "--last-day")
    with acting_session(as_user) as (session, who):
        made = actions.create_campaign(session, who, name=name, first_day=first, last_day=last)
    typer.echo(f"campaign {made.name}: {made.first_day} to {made.last_day}, under way")


@campaigns_app.command("close")
def campaigns_close(
    name: str = typer.Argument(..., help=N_("the campaign's name")),
    as_user: str | None = as_option(),
) -> None:
    """Close a campaign: views show its final figures 截至 its last day, and a campaign
    under way (else the latest) becomes the default.

    Example: geo-service campaigns close 攻坚2017
    """
    with acting_session(as_user) as (session, who):
        closed = actions.close_campaign(session, who, name)
    typer.echo(f"campaign {closed.name} closed (figures 截至 {closed.last_day})")
