"""Monthly and quarterly rankings (综合考评排名), for signed-in users."""

from typing import Annotated

from fastapi import APIRouter, Query

from geo_service.accounts.permissions import check_read_district, home_district
from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import CampaignQuery, PeriodQuery, ReadSessionDep
from geo_service.campaign import rankings
from geo_service.settings import get_settings
from geo_service.units import find_district


def rankings_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["rankings"])

    @router.get("/rankings", response_model=schemas.Ranking)
    def get_rankings(
        session: ReadSessionDep,
        who: SignedIn,
        period: PeriodQuery = None,
        campaign: CampaignQuery = None,
        level: Annotated[str, Query(pattern="^(township|district)$")] = "township",
        district: str | None = None,
        weights: Annotated[
            str | None,
            Query(description="e.g. land=0.4,demolition=0.3,relocation=0.1,milestones=0.2"),
        ] = None,
    ):
        """Townships within a district (or districts within the city) ranked by progress
        against the period's target; ties share the better rank (1, 2, 2, 4); change is
        the previous period's rank minus this one. Township rankings need the district
        to be one the user may see. The campaign: named, else the one holding the period's
        end, else the one shown by default (the answer's `campaign` says which); the
        period: given, else the quarter of the campaign's day 截至."""
        parsed = rankings.parse_weights(weights)
        if level == "township":
            district = district or home_district(session, who, get_settings().default_district)
            check_read_district(who, find_district(session, district))
        return rankings.rank(
            session, level, period, district=district, weights=parsed, campaign=campaign
        )

    return router
