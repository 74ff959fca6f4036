"""Status changes, verification, disputes and a parcel's history, as the signed-in user.

Who did it is never taken from the request body: the verifier's name and group, and the
person recorded on every change, are the signed-in user's.
"""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .. import actions, permissions, workflow
from .auth import SignedIn
from .deps import SessionDep


class StatusChange(BaseModel):
    status: str = Field(description="in_progress, delivered, demolished or disputed")
    note: str | None = Field(None, description="why; required when leaving disputed")


class Verification(BaseModel):
    note: str | None = Field(None, description="what was checked")


class Dispute(BaseModel):
    reason: str


def _parcel(session, parcel_id: int, who, lock: bool = True):
    parcel = workflow.get_parcel(session, parcel_id, lock=lock)
    permissions.check_read_district(who, parcel.township.parent)
    return parcel


def workflow_router() -> APIRouter:
    router = APIRouter(prefix="/api/parcels", tags=["workflow"])

    @router.get("/{parcel_id}/history")
    def get_history(parcel_id: int, session: SessionDep, who: SignedIn):
        """Every version, oldest first (geometry_changed is null for the first)."""
        return workflow.history(session, _parcel(session, parcel_id, who, lock=False))

    @router.post("/{parcel_id}/status")
    def post_status(parcel_id: int, body: StatusChange, session: SessionDep, who: SignedIn):
        parcel = _parcel(session, parcel_id, who)
        return actions.change_status(session, who, parcel, body.status, body.note).as_dict()

    @router.post("/{parcel_id}/verify")
    def post_verify(parcel_id: int, body: Verification, session: SessionDep, who: SignedIn):
        """Sign-off by the signed-in verifier, for their group (土地核验组: land,
        拆迁核验组: demolition) in their townships; freezes the area."""
        parcel = _parcel(session, parcel_id, who)
        return actions.verify(session, who, parcel, body.note).as_dict()

    @router.post("/{parcel_id}/dispute")
    def post_dispute(parcel_id: int, body: Dispute, session: SessionDep, who: SignedIn):
        parcel = _parcel(session, parcel_id, who)
        return actions.dispute(session, who, parcel, body.reason).as_dict()

    return router
