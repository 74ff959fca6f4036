"""What is due (应完成) by a day of a campaign: the one rule the progress map, the board,
the rankings and the exports share, so that a township has one "due" figure a day.

A campaign's quarters are its own: its first three months, the next three and so on, the
fourth running to its last day (a calendar-year campaign's are the calendar quarters; a
campaign begun 2026-06-10 has Q1 2026-06-10 to 2026-09-09). Quarterly plans (target
quarter 1 to 4) are plans for those quarters.

- With quarterly plans: the plans of the quarters ended, plus the running quarter's plan
  times the share of that quarter gone.
- Without: the annual target times the share of the campaign gone.

A share gone is counted in months for a calendar-year campaign (the end of May is two
thirds of Q2, five twelfths of the year, whatever the months' lengths), else in days.
"""

import calendar
from datetime import date, timedelta

from geo_service.campaign.campaigns import CampaignView
from geo_service.campaign.targets import target_for

QUARTERS = (1, 2, 3, 4)


def _months_later(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def quarter_spans(campaign: CampaignView) -> list[tuple[date, date]]:
    """(first day, last day) of the campaign's quarters 1 to 4, held within its days."""
    spans = []
    for n in QUARTERS:
        start = min(_months_later(campaign.first_day, 3 * (n - 1)), campaign.last_day)
        end = _months_later(campaign.first_day, 3 * n) - timedelta(days=1)
        spans.append((start, campaign.last_day if n == 4 else min(end, campaign.last_day)))
    return spans


def quarter_end(campaign: CampaignView, number: int) -> date:
    """The last day of the campaign's own quarter `number` (1 to 4)."""
    return quarter_spans(campaign)[number - 1][1]


def _clock(campaign: CampaignView, day: date) -> float:
    """How far into the campaign the end of `day` is: months (calendar year) or days."""
    day = min(max(day, campaign.first_day - timedelta(days=1)), campaign.last_day)
    if campaign.calendar_year is not None:
        if day < campaign.first_day:
            return 0.0
        return day.month - 1 + day.day / calendar.monthrange(day.year, day.month)[1]
    return float((day - campaign.first_day).days + 1)


def _bounds(campaign: CampaignView) -> list[tuple[float, float]]:
    """Each quarter's start and end on the campaign's clock."""
    return [
        (_clock(campaign, start - timedelta(days=1)), _clock(campaign, end))
        for start, end in quarter_spans(campaign)
    ]


def elapsed(campaign: CampaignView, day: date) -> float:
    """The share of the campaign gone by the end of `day` (0 before it, 1 after it)."""
    return _clock(campaign, day) / _clock(campaign, campaign.last_day)


def cumulative_shares(annual: float | None, plans: dict) -> list[float] | None:
    """Shares of the annual target planned by the end of quarters 1 to 4, or None when
    there is no full plan (a quarter missing, or every quarter's plan the whole target).
    `plans`: quarter → the plan cumulated up to it (what tallies give for a quarter)."""
    if not annual:
        return None
    cumulated = [plans.get(q) for q in (1, 2, 3)]
    if any(c is None for c in cumulated) or all(abs(c - annual) < 1e-6 for c in cumulated):
        return None
    return [c / annual for c in cumulated] + [1.0]


def due_share(campaign: CampaignView, day: date, shares: list[float] | None) -> float:
    """The share of the annual target due by the end of `day` (see the module's doc);
    `shares` from cumulative_shares, None for the straight share of the campaign gone."""
    if shares is None:
        return elapsed(campaign, day)
    now = _clock(campaign, day)
    before = 0.0
    for (low, high), share in zip(_bounds(campaign), shares, strict=True):
        if now <= high:
            gone = (now - low) / (high - low) if high > low else 1.0
            return before + (share - before) * max(gone, 0.0)
        before = share
    return 1.0


def plan_shares(annual: float | None, quarters: dict[int, float]) -> list[float] | None:
    """cumulative_shares from a unit's annual target and its quarters' own plans (raw, as
    tallies.plans gives them), each quarter cumulated by targets.target_for."""
    return cumulative_shares(
        target_for(annual, quarters), {q: target_for(annual, quarters, q) for q in (1, 2, 3)}
    )


def shares_of(own: tuple | None, parent: tuple | None) -> list[float] | None:
    """The plan a unit is measured by, from its (annual, {quarter: plan}, …) and its
    parent's: its own, else its parent's shares, else None (the straight share)."""
    for figures in (own, parent):
        shares = plan_shares(figures[0], figures[1]) if figures else None
        if shares is not None:
            return shares
    return None


def due_m2(campaign: CampaignView, day: date, own: tuple, parent: tuple | None = None):
    """The area due by the end of `day` from a unit's (annual, {quarter: plan}) and its
    parent's (shares_of). None when the unit has no target."""
    whole = target_for(own[0], own[1])
    if whole is None:
        return None
    return whole * due_share(campaign, day, shares_of(own, parent))
