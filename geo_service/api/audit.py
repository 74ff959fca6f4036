"""The audit log, for admins: read-only (the database refuses any change to it)."""

from typing import Annotated

from fastapi import APIRouter, Query

from geo_service.accounts import audit
from geo_service.accounts.permissions import require_role
from geo_service.api.auth import SignedIn
from geo_service.api.deps import DayQuery, SessionDep


def audit_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["accounts"])

    @router.get("/audit")
    def get_audit(
        session: SessionDep,
        who: SignedIn,
        user: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=48)] = None,
        outcome: Annotated[str | None, Query(pattern="^(ok|refused|locked)$")] = None,
        since: DayQuery = None,
        until: DayQuery = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ):
        """Every write, refusal and failed sign-in, newest first (admin only)."""
        require_role(who, "admin", doing="read the audit log")
        return audit.entries(
            session, username=user, action=action, outcome=outcome, since=since, until=until,
            limit=limit,
        )  # fmt: skip

    return router
