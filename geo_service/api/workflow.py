"""Status changes, verification, disputes and a parcel's history."""

import logging

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .. import workflow
from ..settings import get_settings
from .deps import IdPath, SessionDep

log = logging.getLogger("geo_service.api")


class StatusChange(BaseModel):
    status: str = Field(description="in_progress, delivered, demolished or disputed")
    actor: str | None = Field(None, description="who makes the change")
    note: str | None = Field(None, description="why; required when leaving disputed")


class Verification(BaseModel):
    verifier: str = Field(description="the verifier's name")
    group: str = Field(description="土地核验组 for land, 拆迁核验组 for demolition")
    note: str | None = None


class Dispute(BaseModel):
    reason: str
    actor: str | None = None


def workflow_router() -> APIRouter:
    """Status changes, verification, disputes and a parcel's history."""
    router = APIRouter(prefix="/api/parcels", tags=["workflow"])

    @router.get("/{parcel_id}/history")
    def get_history(parcel_id: IdPath, session: SessionDep):
        """Every version, oldest first (geometry_changed is null for the first)."""
        return workflow.history(session, parcel_id)

    @router.post("/{parcel_id}/status")
    def post_status(parcel_id: IdPath, body: StatusChange, session: SessionDep):
        actor = body.actor or get_settings().default_actor
        return workflow.set_status(session, parcel_id, body.status, actor, body.note).as_dict()

    @router.post("/{parcel_id}/verify")
    def post_verify(parcel_id: IdPath, body: Verification, session: SessionDep):
        done = workflow.verify(session, parcel_id, body.verifier, body.group, body.note)
        log.info(
            "verified %s (%s, %s) by %s (%s): %.1f m²",
            done.code,
            done.township,
            done.kind,
            done.changed_by,
            body.group,
            done.verified_area_m2,
            extra={"event": "verification", "parcel": parcel_id},
        )
        return done.as_dict()

    @router.post("/{parcel_id}/dispute")
    def post_dispute(parcel_id: IdPath, body: Dispute, session: SessionDep):
        actor = body.actor or get_settings().default_actor
        return workflow.dispute(session, parcel_id, body.reason, actor).as_dict()

    return router
