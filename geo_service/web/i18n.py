"""The language of a page: Chinese first, English on request, from the gettext catalogs
(geo_service/catalogs.py; docs/translations.md)."""

from geo_service.catalogs import DEFAULT, LOCALE_DIR, LOCALES, N_, known_locale, translations

__all__ = ["DEFAULT", "LOCALE_DIR", "LOCALES", "N_", "translations"]
COOKIE = "lang"
# What the <html lang> attribute and the switch say for each catalog.
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
_YEAR = 365 * 24 * 3600


def _from_header(header: str) -> str | None:
    """The first language of Accept-Language we have, by the weights the browser gives."""
    asked = []
    for n, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if weight > 0:
            asked.append((-weight, n, tag))
    for _weight, _n, tag in sorted(asked):
        if found := known_locale(tag):
            return found
    return None


def choose(request) -> str:
    """An explicit choice (?lang=, then the lang cookie), else Accept-Language, else zh_CN."""
    return (
        known_locale(request.query_params.get("lang"))
        or known_locale(request.cookies.get(COOKIE))
        or _from_header(request.headers.get("accept-language", ""))
        or DEFAULT
    )


def gettext_for(request):
    return translations(choose(request)).gettext


def remember(request, response):
    """Keep a ?lang= choice in the cookie, so the next page speaks the same language."""
    asked = known_locale(request.query_params.get("lang"))
    if asked:
        response.set_cookie(COOKIE, asked, max_age=_YEAR, path="/", samesite="lax")
    return response
