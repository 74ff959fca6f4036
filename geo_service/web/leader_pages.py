"""Rankings (排名, /rankings) with a month / quarter / year picker, and the 两逾 lists
with relocation's progress and 清零 by district (/relocation/overdue): what
/api/rankings, /api/relocation/tallies, /api/relocation/clearance and
/api/relocation/overdue return, as pages for the districts the user may see."""

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request

from geo_service.accounts import permissions
from geo_service.api.auth import PageUser
from geo_service.api.deps import SessionDep
from geo_service.campaign import campaigns, rankings
from geo_service.campaign.campaigns import CampaignView
from geo_service.errors import NotFound
from geo_service.periods import Period, parse_period
from geo_service.relocation import tallies as relocation
from geo_service.settings import get_settings
from geo_service.web import export_page, refusals
from geo_service.web.i18n import N_, gettext_for
from geo_service.web.login import campaign_choice, render

PARTS = {
    "land": N_("land delivery"),
    "demolition": N_("demolition"),
    "relocation": N_("relocation"),
    "milestones": N_("milestones on time"),
}
CASE_KINDS = {"handover": N_("overdue, not resettled"), "title": N_("overdue, no title")}


def period_choices(request, campaign: CampaignView) -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's options: (group, [(value, label)]), the campaign's quarters and months
    as explicit periods (2016Q4, 2017-01: a campaign across the new year offers both
    years'), then the whole year for a calendar-year campaign (any other ends with its last
    quarter already)."""
    _ = gettext_for(request)
    quarters = [(str(q), _("%(year)s Q%(quarter)s") % {"year": q.year, "quarter": q.quarter})
                for q in campaign.quarters()]  # fmt: skip
    months = [(str(m), _("%(year)s, month %(month)s") % {"year": m.year, "month": m.month})
              for m in campaign.months()]  # fmt: skip
    choices = [(_("Quarter"), quarters), (_("Month"), months)]
    if (year := campaign.calendar_year) is not None:
        choices.append((_("Year"), [(str(year), _("%(year)s, whole year") % {"year": year})]))
    return choices


def period_name(request, text: str) -> str:
    """A period (2017Q2, 2017-05) as the picker names it, for headings and sentences."""
    _ = gettext_for(request)
    period = parse_period(text)
    if period.month:
        return _("%(year)s, month %(month)s") % {"year": period.year, "month": period.month}
    return _("%(year)s Q%(quarter)s") % {"year": period.year, "quarter": period.quarter}


def weights_text(request, weights: dict[str, float]) -> str:
    """The composite's weights under the names of the table's columns (交地=0.4, ...)."""
    _ = gettext_for(request)
    return ", ".join(f"{_(PARTS[k]) if k in PARTS else k}={w:g}" for k, w in weights.items())


def chosen_period(text: str | None) -> tuple[Period | None, str]:
    """A picked period and its value in the picker: a year is ranked at its end (Q4);
    none picked: None (the quarter of the campaign's day 截至)."""
    if not text:
        return None, ""
    if re.fullmatch(r"\d{4}", text.strip()):
        year = parse_period(f"{text.strip()}Q4").year
        return Period(year, quarter=4), str(year)
    period = parse_period(text)
    return period, str(period)


def leader_pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/rankings")
    def rankings_page(
        request: Request,
        session: SessionDep,
        who: PageUser,
        level: Annotated[str, Query(pattern="^(township|district)$")] = "township",
        district: str = "",
        period: str = "",
        campaign: str = "",
    ):
        """排名: townships of a district, or districts of the city, by the composite, in
        the campaign shown by default or picked."""
        allowed = refusals.own_districts(session, who)
        if level == "district" and allowed is not None:
            return refusals.forbidden(request, session, who, "/rankings")
        if level == "township":
            district = district or permissions.home_district(
                session, who, get_settings().default_district
            )
            if allowed is not None and district not in allowed:
                return refusals.forbidden(request, session, who, "/rankings")
        picked, value = chosen_period(period)
        try:
            chosen = campaigns.resolve_held(
                session, campaign or None, as_of=picked.end if picked else None, asked=value
            )
            place = district or None
            found = rankings.rank(session, level, picked, district=place, campaign=chosen)
        except NotFound:
            return refusals.not_found(request, who, campaign, "/rankings")
        return render(
            request, "rankings.html", user=who, data=found, level=level, district=district,
            period=value or found["period"], choices=period_choices(request, chosen), parts=PARTS,
            period_name=period_name(request, found["period"]),
            previous_name=period_name(request, found["previous_period"]),
            weights=weights_text(request, found["weights"]),
            **campaign_choice(session, found["campaign"]),
            districts=[d for d, _t in export_page._places(session, who)], city_wide=allowed is None,
        )  # fmt: skip

    @router.get("/relocation/overdue")
    def overdue_page(
        request: Request,
        session: SessionDep,
        who: PageUser,
        district: str = "",
        kind: Annotated[str, Query(pattern="^(handover|title|)$")] = "",
    ):
        """两逾: households not yet resettled and 清零 per district, then every case."""
        allowed = refusals.own_districts(session, who)
        if district and allowed is not None and district not in allowed:
            return refusals.forbidden(request, session, who, "/relocation/overdue")

        def seen(name: str) -> bool:
            return (allowed is None or name in allowed) and (not district or name == district)

        rows = [r for r in relocation.tally(session, by="district") if seen(r.district)]
        clearance = {c["district"]: c for c in relocation.clearance(session)}
        names = permissions.personal_townships(who)
        cases = relocation.overdue(session, None, district or None, kind or None, names)
        return render(
            request, "relocation_overdue.html", user=who, rows=rows, clearance=clearance,
            cases=[c for c in cases if seen(c.district)], case_kinds=CASE_KINDS,
            district=district, kind=kind, districts=allowed or sorted(clearance),
            as_of=relocation.today().isoformat(),
        )  # fmt: skip

    return router
