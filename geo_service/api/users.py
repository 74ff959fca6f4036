"""Users, for admins: clearing the sign-in delays a user's name is under."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from geo_service.accounts import users
from geo_service.accounts.permissions import require_role
from geo_service.api.auth import SignedIn
from geo_service.api.deps import SessionDep


class Unlocked(BaseModel):
    username: str
    address: str | None
    cleared: int


def users_router() -> APIRouter:
    router = APIRouter(prefix="/api/users", tags=["accounts"])

    @router.post("/{username}/unlock", response_model=Unlocked)
    def post_unlock(
        session: SessionDep,
        who: SignedIn,
        username: Annotated[str, Path(max_length=64)],
        address: Annotated[
            str | None, Query(max_length=64, description="only from this client address")
        ] = None,
    ):
        """Clear the failed sign-ins counted against a user, from every address or from
        one: they may sign in again at once (admin only; audited as user.unlock)."""
        require_role(who, "admin", doing="unlock users")
        cleared = users.unlock(
            session, username, address=address, by=who.username, source=who.source
        )
        return Unlocked(username=username, address=address, cleared=cleared)

    return router
