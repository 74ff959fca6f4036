"""Tallies and cross-township support links."""

from typing import Annotated

from fastapi import APIRouter, Query

from geo_service.accounts.permissions import visible_district_names
from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import (
    CampaignQuery,
    DayQuery,
    KindFilter,
    PeriodQuery,
    ReadSessionDep,
    YearQuery,
)
from geo_service.campaign import tallies
from geo_service.errors import InvalidInput


def _visible(session, who, rows):
    names = visible_district_names(session, who)
    return [r for r in rows if names is None or r.district in names]


def tallies_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["tallies"])

    @router.get("/tallies", response_model=list[schemas.TallyRow])
    def get_tallies(
        session: ReadSessionDep,
        who: SignedIn,
        by: Annotated[str, Query(pattern="^(city|district|township|project)$")] = "district",
        kind: KindFilter = None,
        year: YearQuery = None,
        as_of: DayQuery = None,
        credit: Annotated[str, Query(pattern="^(host|helpers|all)$")] = "host",
        campaign: CampaignQuery = None,
        compare: CampaignQuery = None,
        period: PeriodQuery = None,
    ):
        """Verified, planned and delivered per group against the campaign's targets: the
        campaign named, else the one a year names, else the one under way today (else
        the latest); each row names it. `compare`: an earlier campaign beside it
        (compare_* fields) with the differences (*_change); `compare=last_year`: this
        quarter (or the `period` given, 2017Q2 or 2017-05) against the same days a year
        earlier, each row the period's own figures."""
        if period is not None and compare != tallies.LAST_YEAR:
            raise InvalidInput(
                "period: only with compare=last_year", rule="period_alone", params={}
            )
        if compare:
            rows = tallies.compared(
                session, compare, by=by, kind=kind, campaign=campaign, year=year,
                credit=credit, as_of=as_of, period=period,
            )  # fmt: skip
            names = visible_district_names(session, who)
            return [r for r in rows if names is None or r.get("district") in names]
        rows = tallies.tally(
            session, by=by, kind=kind, year=year, as_of=as_of, credit=credit, campaign=campaign
        )
        return [r.as_dict(by) for r in _visible(session, who, rows)]

    return router


def support_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["tallies"])

    @router.get("/support-links", response_model=list[schemas.SupportLink])
    def get_support_links(
        session: ReadSessionDep,
        who: SignedIn,
        kind: KindFilter = None,
        as_of: DayQuery = None,
    ):
        """Cross-township support: host → helper pairs, parcels, verified area together."""
        links = tallies.support_links(session, kind=kind, as_of=as_of)
        return [x.as_dict() for x in _visible(session, who, links)]

    return router
