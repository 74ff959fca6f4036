"""`geo-service targets`: annual and quarterly targets."""

from enum import StrEnum
from pathlib import Path

import typer

from geo_service.catalogs import N_
from geo_service.cli import language
from geo_service.cli.common import (
    _fail,
    _year,
    acting_session,
    as_option,
    group,
    lazy,
    session_scope,
)
from geo_service.errors import GeoServiceError

actions = lazy("geo_service.actions")
areas = lazy("geo_service.areas")
reference = lazy("geo_service.reference")
relocation_actions = lazy("geo_service.relocation.actions")
relocation_tallies = lazy("geo_service.relocation.tallies")
tallies = lazy("geo_service.campaign.tallies")
targets = lazy("geo_service.campaign.targets")


class TargetKind(StrEnum):
    land = "land"
    demolition = "demolition"
    relocation = "relocation"


targets_app = group("targets", N_("Targets per district or township."))


@targets_app.command("set")
def targets_set(
    district: str = typer.Option(
        ..., help=N_("district name, e.g. 晋安区, or the city (福州市) for a city-wide target")
    ),
    township: str | None = typer.Option(None, help=N_("township name; omit for the district")),
    kind: TargetKind = typer.Option(..., help=N_("land, demolition or relocation (回迁)")),
    year: int | None = typer.Option(
        None, callback=_year, help=N_("the campaign's year, when it names one campaign")
    ),
    campaign: str | None = typer.Option(
        None, help=N_("the campaign, e.g. 2016年百日攻坚 (instead of --year)")
    ),
    quarter: int | None = typer.Option(None, min=1, max=4, help=N_("1-4; omit for the year")),
    mu: float | None = typer.Option(None, help=N_("amount in mu")),
    m2: float | None = typer.Option(None, help=N_("amount in m² (relocation: floor area)")),
    households: int | None = typer.Option(None, help=N_("relocation: households (户数)")),
    flats: int | None = typer.Option(None, help=N_("relocation: flats (套数)")),
    as_user: str | None = as_option(),
) -> None:
    """Set (or change) a target; its earlier values stay in its history (who set what,
    when), and a tally for a past day uses the value in force then.

    Examples:

      geo-service targets set --district 晋安区 --kind land --year 2017 --mu 9000

      geo-service targets set --district 晋安区 --kind land --campaign 2016年百日攻坚 --mu 2500

      geo-service targets set --district 晋安区 --township 新店镇 --kind demolition
      --year 2017 --m2 400000

      geo-service targets set --district 仓山区 --kind relocation --year 2017
      --households 1200 --flats 1800 --m2 180000

      geo-service targets set --district 晋安区 --kind relocation --campaign 冬春攻坚
      --households 300   (the campaign's own; without one, a campaign counts against the
      relocation target of the year it starts in)
    """
    if kind is TargetKind.relocation:
        goal = (households, flats, m2)
        _relocation_target(district, township, year, campaign, quarter, mu, goal, as_user)
        return
    if (year is None) == (campaign is None):
        _fail(GeoServiceError("give exactly one of --year and --campaign"))
    if households is not None or flats is not None:
        _fail(GeoServiceError("--households and --flats are for --kind relocation"))
    if (mu is None) == (m2 is None):
        _fail(GeoServiceError("give exactly one of --mu and --m2"))
    with acting_session(as_user) as (session, who):
        changed = actions.set_target(
            session,
            who,
            district=district,
            township=township,
            kind=kind.value,
            year=year,
            campaign=campaign,
            quarter=quarter,
            amount=mu if mu is not None else m2,
            unit="mu" if mu is not None else "m2",
        )
    where = f"{district}/{township}" if township else district
    amount = _MU if mu is not None else _M2
    what = _SET if changed else _UNCHANGED
    period = f"{campaign or year}{f' Q{quarter}' if quarter else ''}"
    said = language.words(amount, amount=mu if mu is not None else m2)
    kind_said = language.words(kind.value)
    typer.echo(language.words(what, where=where, kind=kind_said, period=period, amount=said))


_SET = N_("target set: %(where)s %(kind)s %(period)s: %(amount)s")
_UNCHANGED = N_("target unchanged: %(where)s %(kind)s %(period)s: %(amount)s")
_MU = N_("%(amount)s mu")
_M2 = N_("%(amount)s m²")


def _relocation_target(district, township, year, campaign, quarter, mu, goal, as_user):
    """A relocation target is a --campaign's own, or a --year's: the fallback of every
    campaign starting in that year that has none of its own."""
    if quarter is not None or mu is not None:
        _fail(GeoServiceError("a relocation target is for a year, in households, flats and m²"))
    households, flats, m2 = goal
    with acting_session(as_user) as (session, who):
        found = relocation_actions.set_target(
            session,
            who,
            district=district,
            township=township,
            year=year,
            campaign=campaign,
            households=households,
            flats=flats,
            m2=m2,
        )
        period = campaign or found.year
    where = f"{district}/{township}" if township else district
    value = language.words(_RELOCATION_VALUE, households=_or_dash(households),
                           flats=_or_dash(flats), m2=_or_dash(m2, "{:,.2f}"))  # fmt: skip
    kind = language.words("relocation")
    typer.echo(language.words(_SET, where=where, kind=kind, period=period, amount=value))


@targets_app.command("import")
def targets_import(path: Path, as_user: str | None = as_option()) -> None:
    """Set targets from a CSV: district,township,kind,year,quarter,amount,unit (mu|m2).

    Example: geo-service targets import geo_service/data/parcels/demo_targets.csv
    """
    with acting_session(as_user) as (session, who):
        count = actions.import_targets(session, who, path)
    typer.echo(language.words(N_("%(count)s target(s) set (the others unchanged)"), count=count))


@targets_app.command("history")
def targets_history(
    district: str = typer.Option(..., help=N_("district name, e.g. 晋安区")),
    township: str | None = typer.Option(None, help=N_("township name; omit for the district")),
    kind: TargetKind = typer.Option(..., help=N_("land, demolition or relocation (回迁)")),
    year: int | None = typer.Option(
        None, callback=_year, help=N_("the campaign's year, when it names one campaign")
    ),
    campaign: str | None = typer.Option(
        None, help=N_("the campaign, e.g. 2016年百日攻坚 (instead of --year)")
    ),
    quarter: int | None = typer.Option(None, min=1, max=4, help=N_("1-4; omit for the year")),
) -> None:
    """Every value a target had: amount, who set it, from when.

    Examples:

      geo-service targets history --district 晋安区 --kind land --year 2017

      geo-service targets history --district 仓山区 --kind relocation --year 2017
      (the year's relocation target; --campaign for a campaign's own)
    """
    if kind is TargetKind.relocation and quarter is not None:
        _fail(GeoServiceError("a relocation target is for a year, not a quarter"))
    try:
        with session_scope() as session:
            if kind is TargetKind.relocation:
                rows = relocation_tallies.target_history(
                    session, district, township, year, campaign
                )
                lines = [_relocation_version(r) for r in rows]
            else:
                owning = targets.target_campaign(session, campaign, year)
                found = targets.find_target(
                    session, district, township, kind.value, owning, quarter
                )
                lines = [_land_version(r) for r in targets.target_history(session, found)]
    except GeoServiceError as exc:
        _fail(exc)
    for line in lines:
        typer.echo(line)


def _since(r) -> str:
    return r["valid_from"].astimezone(tallies.CAMPAIGN_TZ).strftime("%Y-%m-%d %H:%M")


def _land_version(r) -> str:
    """A land or demolition target's version, in the command's language (its relocation
    lines are said alike)."""
    if r["unit"] == "mu":
        amount = language.words(_MU, amount=f"{areas.m2_to_mu(r['amount_m2']):,.4f}")
    else:
        amount = language.words(_M2, amount=f"{r['amount_m2']:,.2f}")
    return f"v{r['version']}  {_since(r)}  {amount}  {_by(r['changed_by'])}"


_RELOCATION_VALUE = N_("%(households)s households, %(flats)s flats, %(m2)s m²")
_BY = N_("by %(who)s")
# The seed's targets are set by reference.ACTOR, a name the command says in its language.
_REFERENCE = N_("reference data")


def _by(who: str) -> str:
    said = language.words(_REFERENCE) if who == reference.ACTOR else who
    return language.words(_BY, who=said)


def _relocation_version(r) -> str:
    value = language.words(
        _RELOCATION_VALUE,
        households=_or_dash(r["households"]),
        flats=_or_dash(r["flats"]),
        m2=_or_dash(r["m2"], "{:,.2f}"),
    )
    return f"v{r['version']}  {_since(r)}  {value}  {_by(r['changed_by'])}"


def _or_dash(value, shape: str = "{:,}") -> str:
    return "—" if value is None else shape.format(value)
