"""Status changes, verification, disputes and a parcel's history."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .. import workflow
from ..settings import get_settings
from .deps import SessionDep

# The version the client saw: a change to a parcel that has moved on since is a 409.
_VERSION = Field(None, ge=1, le=2**31 - 1, description="the parcel version you saw (else 409)")


class StatusChange(BaseModel):
    status: str = Field(description="in_progress, delivered, demolished or disputed")
    actor: str | None = Field(None, description="who makes the change")
    note: str | None = Field(None, description="why; required when leaving disputed")
    version: int | None = _VERSION


class Verification(BaseModel):
    verifier: str = Field(description="the verifier's name")
    group: str = Field(description="土地核验组 for land, 拆迁核验组 for demolition")
    note: str | None = None
    version: int | None = _VERSION


class Dispute(BaseModel):
    reason: str
    actor: str | None = None
    version: int | None = _VERSION


class Withdrawal(BaseModel):
    reason: str = Field(description="why the parcel leaves the register")
    actor: str | None = None
    version: int | None = _VERSION


def workflow_router() -> APIRouter:
    """Status changes, verification, disputes and a parcel's history."""
    router = APIRouter(prefix="/api/parcels", tags=["workflow"])

    @router.get("/{parcel_id}/history")
    def get_history(parcel_id: int, session: SessionDep):
        """Every version, oldest first (geometry_changed is null for the first)."""
        return workflow.history(session, parcel_id)

    @router.post("/{parcel_id}/status")
    def post_status(parcel_id: int, body: StatusChange, session: SessionDep):
        actor = body.actor or get_settings().default_actor
        done = workflow.set_status(
            session, parcel_id, body.status, actor, body.note, expected=body.version
        )
        return done.as_dict()

    @router.post("/{parcel_id}/verify")
    def post_verify(parcel_id: int, body: Verification, session: SessionDep):
        done = workflow.verify(
            session, parcel_id, body.verifier, body.group, body.note, expected=body.version
        )
        return done.as_dict()

    @router.post("/{parcel_id}/dispute")
    def post_dispute(parcel_id: int, body: Dispute, session: SessionDep):
        actor = body.actor or get_settings().default_actor
        done = workflow.dispute(session, parcel_id, body.reason, actor, expected=body.version)
        return done.as_dict()

    @router.post("/{parcel_id}/withdraw")
    def post_withdraw(parcel_id: int, body: Withdrawal, session: SessionDep):
        """Take the parcel off the register (soft delete): history kept, counted nowhere."""
        actor = body.actor or get_settings().default_actor
        done = workflow.withdraw(session, parcel_id, body.reason, actor, expected=body.version)
        return done.as_dict()

    return router
