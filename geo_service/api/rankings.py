"""Monthly and quarterly rankings (综合考评排名)."""

from typing import Annotated

from fastapi import APIRouter, Query

from .. import rankings
from .deps import SessionDep


def rankings_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["rankings"])

    @router.get("/rankings")
    def get_rankings(
        session: SessionDep,
        period: Annotated[str, Query(description="a month (2017-05) or a quarter (2017Q2)")],
        level: Annotated[str, Query(pattern="^(township|district)$")] = "township",
        district: str | None = None,
        weights: Annotated[
            str | None,
            Query(description="e.g. land=0.4,demolition=0.3,relocation=0.1,milestones=0.2"),
        ] = None,
    ):
        """Townships within a district (or districts within the city) ranked by progress
        against the period's target; ties share the better rank (1, 2, 2, 4); change is
        the previous period's rank minus this one."""
        parsed = rankings.parse_weights(weights)
        return rankings.rank(session, level, period, district=district, weights=parsed)

    return router
