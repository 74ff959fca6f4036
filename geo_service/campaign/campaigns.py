"""Campaigns (攻坚2017, 2016年百日攻坚): what a tally, map or board is about.

A campaign has a first and last day (any days, not only a calendar year), its targets and
a state (under way, closed). What a person sees unless they pick another is the campaign
under way today, else the latest one; a closed campaign shows its figures 截至 its last day.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput, NotFound
from geo_service.models import Campaign
from geo_service.periods import Period, quarter_of, today
from geo_service.settings import get_settings

UNDER_WAY, CLOSED = "under_way", "closed"


@dataclass(frozen=True)
class CampaignView:
    """A campaign as read (detached from the session): id None for a calendar year that
    has no campaign on record (no targets either)."""

    id: int | None
    name: str
    first_day: date
    last_day: date
    state: str = UNDER_WAY
    # Loaded by `geo-service demo`: the pages say the figures are demo data.
    demo: bool = False

    @property
    def year(self) -> int:
        """The year the campaign starts in: its quarters are that year's."""
        return self.first_day.year

    @property
    def calendar_year(self) -> int | None:
        """The year, when the campaign is exactly one calendar year."""
        whole = (self.first_day, self.last_day) == (date(self.year, 1, 1), date(self.year, 12, 31))
        return self.year if whole else None

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def quarters(self) -> list[Period]:
        """The calendar quarters the campaign's days fall in, in order: a campaign across
        the new year has Q4 2016, then Q1 2017 …"""
        found, day = [], self.first_day
        while day <= self.last_day:
            found.append(quarter_of(day))
            day = found[-1].end + timedelta(days=1)
        return found

    def months(self) -> list[Period]:
        """The calendar months the campaign's days fall in, in order."""
        found, day = [], self.first_day
        while day <= self.last_day:
            found.append(Period(day.year, month=day.month))
            day = found[-1].end + timedelta(days=1)
        return found

    def quarter_end(self, number: int) -> date:
        """The last day of the campaign's quarter `number` (1-4: the calendar quarter of
        that number among its quarters, the earlier one if it runs over a year), held
        within the campaign's days."""
        found = next((q for q in self.quarters() if q.quarter == number), None)
        if found is None:
            raise self.no_quarter(f"Q{number}")
        return min(found.end, self.last_day)

    def no_quarter(self, asked: str) -> InvalidInput:
        """The refusal of a quarter the campaign's days do not reach (Q3, 2018Q1)."""
        held = "、".join(str(q) for q in self.quarters())
        return InvalidInput(
            f"campaign {self.name} has no {asked} (its quarters: {held})",
            rule="campaign_quarter", params={"campaign": self.name, "asked": asked, "held": held},
        )  # fmt: skip

    def ended(self, day: date | None = None) -> bool:
        """Over: closed, or past its last day."""
        return self.state == CLOSED or (day or today()) > self.last_day

    def reference_day(self, as_of: date | None = None) -> date:
        """The day figures are 截至: the day asked for, or today held within the campaign
        (a closed campaign: its last day)."""
        if as_of is not None:
            return as_of
        day = today()
        if self.state == CLOSED:
            day = min(day, self.last_day)
        return min(max(day, self.first_day), self.last_day)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "state": self.state,
            "demo": self.demo,
        }


# Who `geo-service demo` records as having made its campaign.
DEMO_ACTOR = "demo"


def _view(c: Campaign) -> CampaignView:
    demo = c.created_by == DEMO_ACTOR
    return CampaignView(c.id, c.name, c.first_day, c.last_day, c.state, demo)


def calendar_name(year: int) -> str:
    return f"攻坚{year}"


def all_campaigns(session: Session) -> list[CampaignView]:
    """Every campaign, latest first."""
    rows = session.scalars(select(Campaign).order_by(Campaign.first_day.desc(), Campaign.id))
    return [_view(c) for c in rows]


def create_campaign(
    session: Session, *, name: str, first_day: date, last_day: date, actor: str
) -> CampaignView:
    name = (name or "").strip()
    if not name:
        raise InvalidInput(
            "a campaign needs a name (e.g. 攻坚2017)", rule="campaign_name", params={}
        )
    if first_day > last_day:
        raise InvalidInput(
            f"campaign {name}: first day {first_day} is after last day {last_day}",
            rule="campaign_days",
            params={"campaign": name, "first": str(first_day), "last": str(last_day)},
        )
    for day in (first_day, last_day):
        if not get_settings().year_ok(day.year):
            years = get_settings().years
            raise InvalidInput(
                f"campaign {name}: {day} is outside the years {years}",
                rule="year_outside", params={"value": str(day), **get_settings().year_figures},
            )  # fmt: skip
    if session.scalar(select(Campaign).where(Campaign.name == name)) is not None:
        raise InvalidInput(
            f"campaign {name} exists already", rule="campaign_exists", params={"campaign": name}
        )
    campaign = Campaign(
        name=name, first_day=first_day, last_day=last_day, state=UNDER_WAY, created_by=actor
    )
    session.add(campaign)
    session.flush()
    return _view(campaign)


def close_campaign(
    session: Session, name: str, *, actor: str, now: datetime | None = None
) -> CampaignView:
    """Close a campaign: its figures stay as they stood on its last day."""
    campaign = _record(session, name)
    if campaign.state == CLOSED:
        raise InvalidInput(
            f"campaign {name} is closed already", rule="campaign_closed", params={"campaign": name}
        )
    campaign.state, campaign.closed_by = CLOSED, actor
    campaign.closed_at = now or datetime.now(UTC)
    session.flush()
    return _view(campaign)


def _record(session: Session, name: str) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.name == name.strip()))
    if campaign is None:
        known = "、".join(c.name for c in all_campaigns(session))
        raise NotFound(
            f"no campaign named {name!r} (campaigns: {known or 'none'})",
            rule="campaign", params={"name": name, "known": known or "—"},
        )  # fmt: skip
    return campaign


def find_campaign(session: Session, name: str) -> CampaignView:
    return _view(_record(session, name))


def for_year(session: Session, year: int, *, create_as: str | None = None) -> CampaignView:
    """The campaign a year names: the one starting in that year, when only one does.
    With `create_as`, a year with none gets its calendar campaign 攻坚<year> (setting a
    target by year, as before campaigns were data); else the calendar year stands alone."""
    found = [c for c in all_campaigns(session) if c.year == year]
    if len(found) > 1:
        exact = [c for c in found if c.calendar_year == year]
        if len(exact) == 1:
            return exact[0]
        names = "、".join(c.name for c in found)
        raise InvalidInput(
            f"the year {year} names several campaigns ({names}): give a campaign",
            rule="campaign_year_several", params={"year": year, "names": names},
        )  # fmt: skip
    if found:
        return found[0]
    if create_as is None:
        return CampaignView(None, str(year), date(year, 1, 1), date(year, 12, 31))
    # Not closed, even for a past year: closing is the office's act (a closed campaign's
    # figures stand as on its last day), and records for that year may still come in.
    return create_campaign(
        session,
        name=calendar_name(year),
        first_day=date(year, 1, 1),
        last_day=date(year, 12, 31),
        actor=create_as,
    )


def current(session: Session, day: date | None = None) -> CampaignView:
    """The campaign under way on `day` (today), else the latest one; with no campaign on
    record, the configured campaign year."""
    day = day or today()
    campaigns = all_campaigns(session)
    under_way = [c for c in campaigns if c.state == UNDER_WAY and c.contains(day)]
    if under_way:
        return under_way[0]
    started = [c for c in campaigns if c.first_day <= day]
    if started or campaigns:
        return (started or campaigns)[0]
    year = get_settings().campaign_year
    return CampaignView(None, str(year), date(year, 1, 1), date(year, 12, 31))


def resolve(
    session: Session,
    campaign: "str | CampaignView | None" = None,
    year: int | None = None,
    as_of: date | None = None,
) -> CampaignView:
    """The campaign a request names: by name, by year, the one holding the as-of day, or
    the default (`current`)."""
    if isinstance(campaign, CampaignView):
        return campaign
    if campaign:
        found = find_campaign(session, campaign)
        if year is not None and found.year != year:
            raise InvalidInput(
                f"campaign {found.name} starts in {found.year}, not {year}",
                rule="target_campaign_year",
                params={"campaign": found.name, "year": found.year, "asked": year},
            )
        return found
    if year is not None:
        return for_year(session, year)
    if as_of is not None:
        holding = [c for c in all_campaigns(session) if c.contains(as_of)]
        return holding[0] if holding else for_year(session, as_of.year)
    return current(session)


def resolve_held(
    session: Session,
    campaign: "str | CampaignView | None" = None,
    year: int | None = None,
    as_of: date | None = None,
    asked: str | None = None,
) -> CampaignView:
    """resolve, for a page or map asked for a year or a period (`asked`, as written, ending
    on `as_of`): one in no campaign's years would be shown as a campaign named after a year
    nobody ran, so it is refused, naming the campaigns' years. With no campaign on record
    the year stands alone."""
    named = campaign is not None and campaign != ""
    # A bare day (a tile's as_of) is held within the campaign shown, not refused.
    day_year = year if year is not None else (as_of.year if as_of and asked else None)
    if not named and day_year is not None:
        held = sorted({y for c in all_campaigns(session)
                       for y in range(c.first_day.year, c.last_day.year + 1)})  # fmt: skip
        if held and day_year not in held:
            years = "、".join(str(y) for y in held)
            value = asked or str(day_year)
            raise InvalidInput(
                f"{value} is in no campaign: the campaigns' years are {years}",
                rule="period_no_campaign", params={"value": value, "years": years},
            )  # fmt: skip
    return resolve(session, campaign, year, as_of)


def as_at(session: Session, as_of: date | None = None) -> date:
    """The day every page is 截至 (pace, overdue days, register, 两逾 list): the day asked
    for, else the one today held within the campaign shown (a closed one: its last day)."""
    return as_of or current(session).reference_day()


def counting_in(session: Session, day: date) -> list[str]:
    """The campaigns a sign-off made on `day` counts in."""
    return [c.name for c in all_campaigns(session) if c.contains(day)]


def where_it_counts(session: Session, day: date | None = None) -> dict:
    """For a sign-off's answer: the campaigns its day counts in, the campaign every view
    shows by default, and whether the day falls outside it (its figures will not move)."""
    day = day or today()
    shown = current(session)
    return {
        "counts_in": counting_in(session, day),
        "campaign_shown": shown.name,
        "outside_campaign_shown": not shown.contains(day),
    }
