"""Refusals of the people's pages as pages, in the reader's language: what they asked for
is not theirs to see (403) or does not exist (404), what they may see instead, and a link
to it. The API keeps its JSON refusals."""

from fastapi import Request

from geo_service.accounts.permissions import visible_district_names
from geo_service.web.i18n import gettext_for
from geo_service.web.login import render


def own_districts(session, who) -> list[str] | None:
    """The districts the user may see, by name; None: the whole city."""
    names = visible_district_names(session, who)
    return None if names is None else sorted(names)


def forbidden(request: Request, session, who, page: str = "/board"):
    """A 403 page: the user may see their own districts only; links to `page` for each."""
    _ = gettext_for(request)
    names = own_districts(session, who) or []
    message = _("This page covers more than you may see. You may see: %(districts)s.") % {
        "districts": "、".join(names) or _("no district")
    }
    sep = "&" if "?" in page else "?"
    links = [(f"{page}{sep}district={name}", name) for name in names]
    return render(
        request, "error.html", status_code=403, user=who, message=message, links=links,
        heading=_("Not allowed"),
    )  # fmt: skip


def not_found(request: Request, who, what: str, back: str):
    """A 404 page naming what was not found, with the way back to its list."""
    _ = gettext_for(request)
    message = _("%(what)s was not found.") % {"what": what}
    return render(
        request, "error.html", status_code=404, user=who, message=message,
        links=[(back, _("Back to the list"))], heading=_("Not found"),
    )  # fmt: skip
