"""Status changes, verification, disputes and a parcel's history, as the signed-in user.

Who did it is never taken from the request body: the verifier's name and group, and the
person recorded on every change, are the signed-in user's.
"""

import logging
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from pydantic import AliasChoices, BaseModel, BeforeValidator, Field

from geo_service import actions, periods
from geo_service.accounts import permissions
from geo_service.api import once, schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import IdPath, NoteText, SessionDep
from geo_service.campaign import campaigns
from geo_service.parcels import field, workflow

log = logging.getLogger("geo_service.api")

# The version the client saw: a change to a parcel that has moved on since is a 409.
_VERSION = Field(None, ge=1, le=2**31 - 1, description="the parcel version you saw (else 409)")
# The day (or moment) the change happened in the field (核验日期), when entered later.
FieldDay = Annotated[
    date | datetime | None,
    BeforeValidator(periods.check_field_day),
    Field(
        None,
        # `on`, as the relocation sign-off's body names its day.
        validation_alias=AliasChoices("field_day", "on"),
        description="the day it happened in the field (核验日期), YYYY-MM-DD or "
        "YYYY-MM-DDTHH:MM (China time unless an offset is given); default now. Never in the "
        "future; further back than the back-dating window (90 days) only an admin records it",
    ),
]


class Position(BaseModel):
    """Where the phone was when the change was made (the field app's GNSS fix)."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float | None = Field(None, ge=0, le=100_000, description="as the phone reports")


_POSITION = Field(None, description="where it was done from: kept on the version it writes")


class StatusChange(BaseModel):
    status: str = Field(description="in_progress, delivered, demolished or disputed")
    note: NoteText | None = Field(None, description="why; required when leaving disputed")
    version: int | None = _VERSION
    field_day: FieldDay = None
    position: Position | None = _POSITION


class Verification(BaseModel):
    note: NoteText | None = Field(None, description="what was checked")
    version: int | None = _VERSION
    field_day: FieldDay = None
    position: Position | None = _POSITION


class Dispute(BaseModel):
    reason: NoteText
    version: int | None = _VERSION
    field_day: FieldDay = None
    position: Position | None = _POSITION


class Withdrawal(BaseModel):
    reason: NoteText = Field(description="why the parcel leaves the register")
    version: int | None = _VERSION
    field_day: FieldDay = None


def _parcel(session, parcel_id: int, who):
    """The parcel as it is now, not yet locked: the use case locks it and answers 409 when it
    changed between this read (what the permissions were checked on) and the lock."""
    parcel = workflow.get_parcel(session, parcel_id)
    permissions.check_read_district(who, parcel.township.parent)
    return parcel


def _once(request: Request, session, who, key: str | None, body: BaseModel, act):
    """Run `act` (a change that returns its answer) once per Idempotency-Key."""
    if key is None:
        return act()
    asked = once.asked(request, who, key, body.model_dump(mode="json"))
    replayed = once.earlier(session, asked)
    if replayed is not None:
        return replayed
    answer = jsonable_encoder(act())
    once.keep(session, asked, 200, answer)
    return answer


def _with_position(session, done: workflow.Transition, position: Position | None) -> dict:
    answer = done.as_dict()
    if position is not None:
        where = field.Position(position.lon, position.lat, position.accuracy_m)
        field.record_position(session, done.parcel_id, done.version, where)
        answer["position"] = position.model_dump()
    return answer


def _step(router: APIRouter, step: str, body_type: type[BaseModel], act, doc=None) -> None:
    """POST /api/parcels/{id}/<step>: `act(session, who, parcel, body)` once per
    Idempotency-Key. Named post_<step>, as the operation has always been in the OpenAPI
    document (its operationId and summary come from the name)."""

    def post(
        parcel_id: IdPath,
        body: body_type,
        request: Request,
        session: SessionDep,
        who: SignedIn,
        idempotency_key: once.IdempotencyKey = None,
    ):
        def change():
            return act(session, who, _parcel(session, parcel_id, who), body)

        return _once(request, session, who, idempotency_key, body, change)

    router.post(
        f"/{{parcel_id}}/{step}",
        response_model=schemas.WorkflowStep,
        name=f"post_{step}",
        description=doc,
    )(post)


def _change_status(session, who, parcel, body: StatusChange) -> dict:
    done = actions.change_status(
        session, who, parcel, body.status, body.note, expected=body.version, on=body.field_day
    )
    return _with_position(session, done, body.position)


_VERIFY_DOC = """Sign-off by the signed-in verifier, for their group (土地核验组: land,
拆迁核验组: demolition) in their townships; freezes the area."""


def _verify(session, who, parcel, body: Verification) -> dict:
    done = actions.verify(session, who, parcel, body.note, expected=body.version, on=body.field_day)
    log.info(
        "verified %s (%s, %s) by %s: %.1f m²",
        done.code,
        done.township,
        done.kind,
        done.changed_by,
        done.verified_area_m2,
        extra={"event": "verification", "parcel": parcel.id},
    )
    # Where the sign-off counts: a day outside the campaign shown moves none of its figures.
    return {**_with_position(session, done, body.position), **campaigns.where_it_counts(session)}


def _dispute(session, who, parcel, body: Dispute) -> dict:
    done = actions.dispute(
        session, who, parcel, body.reason, expected=body.version, on=body.field_day
    )
    return _with_position(session, done, body.position)


def workflow_router() -> APIRouter:
    router = APIRouter(prefix="/api/parcels", tags=["workflow"])

    @router.get("/{parcel_id}/history", response_model=list[schemas.ParcelVersion])
    def get_history(parcel_id: IdPath, session: SessionDep, who: SignedIn):
        """Every version, oldest first (geometry_changed is null for the first)."""
        return workflow.history(session, _parcel(session, parcel_id, who))

    _step(router, "status", StatusChange, _change_status)
    _step(router, "verify", Verification, _verify, _VERIFY_DOC)
    _step(router, "dispute", Dispute, _dispute)

    @router.post("/{parcel_id}/withdraw", response_model=schemas.WorkflowStep)
    def post_withdraw(parcel_id: int, body: Withdrawal, session: SessionDep, who: SignedIn):
        """Take the parcel off the register (soft delete, by an admin or the verifier of its
        kind and township): its history stays, it counts in no tally, map or overlap check."""
        parcel = _parcel(session, parcel_id, who)
        done = actions.withdraw(
            session, who, parcel, body.reason, expected=body.version, on=body.field_day
        )
        return done.as_dict()

    return router
