"""Every period, year and day a person writes (query parameter, form field, CLI option)
is read here, one way: a month (2017-05), a quarter (2017Q2), a year (2017) or a day
(2017-06-30), inside the window YEAR_MIN..YEAR_MAX (settings).

Outside the window a period's last day or a year's first may not even exist (year 0,
9999-12-31 plus a day), so it is refused here, before anything computes a date with it.

The `check_*` functions raise ValueError with the problem alone, for pydantic (which
names the parameter); the `parse_*` functions raise InvalidInput naming the parameter,
for the CLI and the domain.

`today()` is the one clock: the campaign office's day (China Standard Time), fixed for a
whole request (`one_day`), so pace, overdue days and 截至 on every page agree even across
midnight.
"""

import calendar
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from geo_service.errors import InvalidInput, RuleBroken
from geo_service.settings import get_settings

CAMPAIGN_TZ = ZoneInfo("Asia/Shanghai")
_TODAY: ContextVar[date | None] = ContextVar("geo_service_today", default=None)


def today() -> date:
    """The day of the request (or command) under way, in China Standard Time."""
    return _TODAY.get() or datetime.now(CAMPAIGN_TZ).date()


@contextmanager
def one_day(day: date | None = None) -> Iterator[date]:
    """Everything inside sees the same today: `day`, or the day it started."""
    token = _TODAY.set(day or datetime.now(CAMPAIGN_TZ).date())
    try:
        yield _TODAY.get()
    finally:
        _TODAY.reset(token)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_QUARTER = re.compile(r"(\d{4})-?Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
# A field day with its time: 2017-06-28T15:30, 2017-06-28 15:30:00, …+08:00.
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?")
# Days people write are days in China (China Standard Time, no summer time).
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Period:
    """A month (2017-05) or a quarter (2017Q2) of a campaign year."""

    year: int
    month: int | None = None
    quarter: int | None = None

    @classmethod
    def parse(cls, text: str, name: str = "period") -> "Period":
        return parse_period(text, name)

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}" if self.month else f"{self.year}Q{self.quarter}"

    @property
    def end(self) -> date:
        month = self.month or self.quarter * 3
        return date(self.year, month, calendar.monthrange(self.year, month)[1])

    @property
    def start(self) -> date:
        return date(self.year, self.month or self.quarter * 3 - 2, 1)

    def a_year_earlier(self) -> "Period":
        return Period(self.year - 1, self.month, self.quarter)

    @property
    def months(self) -> int:
        """Months of the year elapsed at the period's end."""
        return self.month or self.quarter * 3

    def previous(self) -> "Period":
        if self.month:
            return (
                Period(self.year - 1, month=12)
                if self.month == 1
                else Period(self.year, month=self.month - 1)
            )
        if self.quarter == 1:
            return Period(self.year - 1, quarter=4)
        return Period(self.year, quarter=self.quarter - 1)


def quarter_of(day: date) -> Period:
    return Period(day.year, quarter=(day.month - 1) // 3 + 1)


def a_year_before(day: date) -> date:
    """The same day a year earlier (29 February: the 28th)."""
    return day.replace(year=day.year - 1, day=min(day.day, 28 if day.month == 2 else 31))


# A value outside the years, by what it is (the rule says it on a page): its message.
_WINDOWS = {
    "period_years": "must be in the years %(years)s",
    "year_window": "must be a year from %(years)s",
    "day_window": "must be a day in the years %(years)s",
}


def _in_window(year: int, rule: str = "period_years") -> None:
    if not get_settings().year_ok(year):
        raise Miswritten(rule, _WINDOWS[rule], value=year, **get_settings().year_figures)


def check_year(value: int | str | None) -> int | None:
    if value is None:
        return None
    try:
        year = int(value)
    except (TypeError, ValueError):
        raise Miswritten("year_form", "must be a year written YYYY", value=repr(value)) from None
    _in_window(year, "year_window")
    return year


def check_day(value: date | str | None) -> date | None:
    """A day written YYYY-MM-DD (never a number: pydantic would read 0 as 1970-01-01)."""
    if value is None or isinstance(value, date):
        day = value
    elif not isinstance(value, str) or not _DAY.fullmatch(value):
        raise Miswritten("day_form", "must be a day written YYYY-MM-DD", value=repr(value))
    else:
        # 0000-01-01 and 2017-02-30 are written right but are no day.
        _in_window(int(value[:4]), "day_window")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise Miswritten("day_calendar", "%(value)s is no day of the calendar",
                             value=value) from None  # fmt: skip
    if day is not None:
        _in_window(day.year, "day_window")
    return day


def check_field_day(value: date | datetime | str | None) -> date | datetime | None:
    """The day a sign-off or status change happened in the field (核验日期): a day
    (2017-06-28) or a moment (2017-06-28T15:30, China time unless an offset is given)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=CHINA)
    elif isinstance(value, str) and _MOMENT.fullmatch(value.strip()):
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise Miswritten("moment_calendar", "%(value)s is no moment of the calendar",
                             value=value) from None  # fmt: skip
        moment = moment if moment.tzinfo else moment.replace(tzinfo=CHINA)
    else:
        if isinstance(value, str):
            value = value.strip() or None
        try:
            return check_day(value)
        except ValueError:
            raise Miswritten("field_day_form", _FIELD_DAY_FORM, value=repr(value)) from None
    _in_window(moment.year, "day_window")
    return moment


def field_moment(day: date | datetime, recorded: datetime, since: datetime | None) -> datetime:
    """The moment a change entered at `recorded` happened, from the field day given: a
    moment as given; today (in China) the moment of entry; an earlier day its first moment,
    or the start of the state it ends (`since`) when that began later the same day."""
    if isinstance(day, datetime):
        return day
    if day == recorded.astimezone(CHINA).date():
        return recorded
    start = datetime.combine(day, time.min, tzinfo=CHINA)
    if since is not None and start < since < start + timedelta(days=1):
        return since
    return start


class Miswritten(RuleBroken):
    """A period or quarter written wrong: the message in English for programs, its rule and
    parameters for a page to say it in the reader's language (web/problems.py REFUSALS)."""

    def __init__(self, rule: str, message: str, **params):
        super().__init__(message % params, rule, params)


_PERIOD_FORM = "write a month as 2017-05 or a quarter as 2017Q2, not %(value)s"
_QUARTER_FORM = "write a quarter as 2 or 2017Q2, not %(value)s"
_FIELD_DAY_FORM = "must be a day written YYYY-MM-DD (or YYYY-MM-DDTHH:MM)"


def check_period(value: "Period | str | None") -> Period | None:
    if value is None or isinstance(value, Period):
        found = value
    elif not isinstance(value, str):
        raise ValueError("write a month as 2017-05 or a quarter as 2017Q2")
    else:
        text = value.strip().upper()
        if m := _QUARTER.fullmatch(text):
            found = Period(int(m[1]), quarter=int(m[2]))
        elif (m := _MONTH.fullmatch(text)) and 1 <= int(m[2]) <= 12:
            found = Period(int(m[1]), month=int(m[2]))
        else:
            raise Miswritten("period_form", _PERIOD_FORM, value=repr(value))
    if found is not None:
        _in_window(found.year)
    return found


def check_quarter(value: "int | str | Period | None") -> "int | Period | None":
    """A map's quarter: its number among the campaign's quarters (1-4), or a calendar
    quarter written as a period is (2017Q2, 2017-Q2); a month is no quarter."""
    if value is None or isinstance(value, Period | int):
        found = value
    elif isinstance(value, str) and value.strip().isdigit():
        found = int(value.strip())
    else:
        try:
            found = check_period(value)
        except ValueError:
            found = None
        if found is None or found.quarter is None:
            raise Miswritten("quarter_form", _QUARTER_FORM, value=repr(value))
    if isinstance(found, int) and not 1 <= found <= 4:
        raise Miswritten("quarter_number", "a quarter's number is 1 to 4, not %(value)s",
                         value=found)  # fmt: skip
    return found


def _named(check, value, name: str):
    try:
        return check(value)
    except Miswritten as exc:
        raise InvalidInput(
            f"{name}: {exc}", rule=exc.rule, params={"field": name, **exc.params}
        ) from None
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def parse_year(value: int | str | None, name: str = "year") -> int | None:
    return _named(check_year, value, name)


def parse_day(value: date | str | None, name: str = "as_of") -> date | None:
    return _named(check_day, value, name)


def parse_field_day(
    value: date | datetime | str | None, name: str = "field day"
) -> date | datetime | None:
    return _named(check_field_day, value, name)


def parse_period(value: "Period | str | None", name: str = "period") -> Period | None:
    return _named(check_period, value, name)


def parse_quarter(
    value: "int | str | Period | None", name: str = "quarter"
) -> "int | Period | None":
    return _named(check_quarter, value, name)
