"""The Jinja2 environment every page renders with (autoescaped: uploaded names are text)."""

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.maps.assets import own_url

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/web"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["static"] = STATIC_PREFIX


def asset(name: str) -> str:
    """A file of static/ by its content-hashed URL (cached for a year, see assets.own_url)."""
    return own_url(STATIC_PREFIX, STATIC_DIR, name)


templates.env.globals["asset"] = asset


def local_time(value: datetime | str | None) -> str:
    """A moment as people in the campaign read it: China Standard Time, to the minute."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(CAMPAIGN_TZ).strftime("%Y-%m-%d %H:%M")


templates.env.filters["cst"] = local_time


# Figures on the board and the public page: a dash for "no figure", never a zero.
def percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def number(value, places: int = 0) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def change(value) -> str:
    if value is None:
        return "新"
    return f"↑{value}" if value > 0 else f"↓{-value}" if value < 0 else "—"


templates.env.filters.update(percent=percent, number=number, change=change)


def render_page(name: str, **context) -> str:
    """A page as a string, outside a request (the board and public page need none)."""
    return templates.env.get_template(name).render(**context)
