"""The Jinja2 environments pages render with (autoescaped: uploaded names are text), one
per language, each with its gettext catalog installed (jinja2.ext.i18n)."""

from datetime import datetime
from pathlib import Path

import jinja2
from fastapi.templating import Jinja2Templates

from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.maps.assets import own_url
from geo_service.web import i18n

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/web"


def asset(name: str) -> str:
    """A file of static/ by its content-hashed URL (cached for a year, see assets.own_url)."""
    return own_url(STATIC_PREFIX, STATIC_DIR, name)


def local_time(value: datetime | str | None) -> str:
    """A moment as people in the campaign read it: China Standard Time, to the minute."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(CAMPAIGN_TZ).strftime("%Y-%m-%d %H:%M")


# Figures on the board and the public page: a dash for "no figure", never a zero.
def percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def number(value, places: int = 0) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def change(value) -> str:
    if value is None:
        return "新"
    return f"↑{value}" if value > 0 else f"↓{-value}" if value < 0 else "—"


def language_link(request, locale: str) -> str:
    """The same page (path and query, on this site) in another language."""
    if request is None:
        return f"?lang={locale}"
    url = request.url.include_query_params(lang=locale)
    return f"{url.path}?{url.query}"


def _templates(locale: str) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    # newstyle: {{ _("%(n)s parcels", n=total) }} formats and escapes its parameters.
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)
    env.globals.update(
        static=STATIC_PREFIX,
        asset=asset,
        language_link=language_link,
        lang=i18n.HTML_LANG[locale],
        locale=locale,
    )
    env.filters.update(cst=local_time, percent=percent, number=number, change=change)
    return Jinja2Templates(env=env)


TEMPLATES = {locale: _templates(locale) for locale in i18n.LOCALES}
templates = TEMPLATES[i18n.DEFAULT]


def for_request(request) -> Jinja2Templates:
    return TEMPLATES[i18n.choose(request)]


def respond(request, name: str, context: dict, status_code: int = 200):
    """A page in the request's language; a ?lang= choice is kept in the cookie."""
    page = for_request(request).TemplateResponse(request, name, context, status_code=status_code)
    return i18n.remember(request, page)


def render_page(request, name: str, **context) -> str:
    """A page as a string, in the request's language (the board and the public page)."""
    return for_request(request).env.get_template(name).render(request=request, **context)
