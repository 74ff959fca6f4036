"""`geo-service rank`: monthly and quarterly rankings (综合考评排名)."""

import json
import sys

import typer
from rich.table import Table

from geo_service.catalogs import N_
from geo_service.cli.common import ListFormat, _fail, _text, app, lazy, session_scope
from geo_service.cli.language import words
from geo_service.errors import GeoServiceError
from geo_service.periods import parse_period

rankings = lazy("geo_service.campaign.rankings")
# The components' headings (rankings.COMPONENTS), for the catalogs.
_COMPONENTS = (N_("land"), N_("demolition"), N_("relocation"), N_("milestones"))


@app.command("rank")
def rank_command(
    level: str = typer.Option(
        "township", help=N_("township (within a district) or district (within the city)")
    ),
    period: str | None = typer.Option(
        None,
        help=N_(
            "a month (2017-05) or a quarter (2017Q2) (default: the quarter of the "
            "campaign's day 截至, i.e. today held within it)"
        ),
    ),
    campaign: str | None = typer.Option(
        None,
        help=N_(
            "the campaign, e.g. 攻坚2017 (default: the one holding the period's end, else "
            "the one under way today, else the latest)"
        ),
    ),
    district: str | None = typer.Option(
        None, help=N_("the district whose townships are ranked (default: the configured one)")
    ),
    weights: str | None = typer.Option(
        None,
        help=N_(
            "composite weights, e.g. land=0.4,demolition=0.3,relocation=0.1,milestones=0.2 "
            "(the default)"
        ),
    ),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """Rank townships within a district, or districts within the city, by progress
    against the period's target (a weighted composite of land, demolition, relocation and
    milestones on time), with the change since the previous period. Ties share the better
    rank and the next rank skips (1, 2, 2, 4). A past period is as it stood at the end of
    its last day (China Standard Time).

    Examples:

      geo-service rank --level township --district 晋安区 --period 2017Q2

      geo-service rank --level district --period 2017-05 --weights land=1,demolition=1,milestones=0
    """
    try:
        parsed = rankings.parse_weights(weights)
        if level not in rankings.LEVELS:
            raise GeoServiceError(f"--level must be one of {', '.join(rankings.LEVELS)}")
        with session_scope() as session:
            result = rankings.rank(
                session, level, parse_period(period, "--period"), district=district,
                weights=parsed, campaign=campaign,
            )  # fmt: skip
    except GeoServiceError as exc:
        _fail(exc)
    if fmt is ListFormat.json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    where = f"{result['district']} " if result["district"] else ""
    table = Table(
        title=f"{result['campaign']}: {where}{level} ranking {result['period']} "
        f"(as of {result['as_of']}; "
        f"change since {result['previous_period']})",
        caption=f"ties: {result['tie_rule']}",
    )
    numbers = (N_("rank"), N_("change"), N_("score"), *rankings.COMPONENTS)
    for name in (N_("rank"), N_("change"), N_("unit"), N_("score"), *rankings.COMPONENTS):
        table.add_column(words(name), justify="right" if name in numbers else "left")
    for row in result["rows"]:
        table.add_row(
            "—" if row["rank"] is None else f"{row['rank']}{'=' if row['tied'] else ''}",
            _change(row["change"]),
            row["unit"],
            "—" if row["score"] is None else f"{row['score']:.1%}",
            *(_part(row[name]) for name in rankings.COMPONENTS),
        )
    sys.stdout.write(_text(table))


def _change(change: int | None) -> str:
    if change is None:
        return "new"
    return f"↑{change}" if change > 0 else f"↓{-change}" if change < 0 else "–"


def _part(part: dict | None) -> str:
    if part is None or part.get("value") is None:
        return "—"
    return f"{part['value']:.1%}"
