"""Status changes, verification, disputes and a parcel's history.

A parcel moves planned → in_progress → delivered (land) or demolished (demolition) →
verified. A verified parcel may be disputed (with a reason), and a disputed one goes back
to in_progress or delivered/demolished (with a reason). TRANSITIONS is the one place that
says which moves are legal. Every change appends a parcel_versions row (see
uploads.append_version), so a past day is always reproducible.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo_service.areas import m2_to_mu
from geo_service.errors import Conflict, InvalidInput, NotFound
from geo_service.models import KINDS, STATUSES, VERIFICATION_GROUPS, Parcel, ParcelVersion
from geo_service.parcels.uploads import append_version
from geo_service.periods import field_moment
from geo_service.units import find_township

# The verification group that may verify each kind (晋安区's campaign office).
# What "done" is called for each kind.
DONE = {"land": "delivered", "demolition": "demolished"}

LAND, DEMOLITION, BOTH = frozenset({"land"}), frozenset({"demolition"}), frozenset(KINDS)


@dataclass(frozen=True)
class Rule:
    kinds: frozenset[str]
    via: str  # the use case that makes the move: "status", "verify" or "dispute"
    reason: bool = False  # the move needs a reason (the note)


# (from, to) → rule. Anything not listed (or listed for the other kind) is refused.
TRANSITIONS: dict[tuple[str, str], Rule] = {
    ("planned", "in_progress"): Rule(BOTH, "status"),
    ("in_progress", "delivered"): Rule(LAND, "status"),
    ("in_progress", "demolished"): Rule(DEMOLITION, "status"),
    ("delivered", "verified"): Rule(LAND, "verify"),
    ("demolished", "verified"): Rule(DEMOLITION, "verify"),
    ("verified", "disputed"): Rule(BOTH, "dispute", reason=True),
    ("disputed", "in_progress"): Rule(BOTH, "status", reason=True),
    ("disputed", "delivered"): Rule(LAND, "status", reason=True),
    ("disputed", "demolished"): Rule(DEMOLITION, "status", reason=True),
}


def allowed_targets(status: str, kind: str) -> list[str]:
    """The statuses a parcel of this kind may move to from `status`."""
    return [to for (frm, to), rule in TRANSITIONS.items() if frm == status and kind in rule.kinds]


def status_moves(kinds) -> list[str]:
    """The statuses a plain status change (not a sign-off or a dispute) reaches for a parcel
    of one of `kinds`, in the workflow's order: what a bulk move may offer."""
    reached = {
        to for (_, to), rule in TRANSITIONS.items() if rule.via == "status" and rule.kinds & kinds
    }
    return [s for s in STATUSES if s in reached]


@dataclass
class Transition:
    """What a status change did: the parcel after it and the version it wrote."""

    parcel_id: int
    code: str
    township: str
    kind: str
    version: int
    status_before: str
    status: str
    changed_by: str
    changed_at: datetime
    note: str | None
    verified_by: str | None
    verified_group: str | None
    verified_at: datetime | None
    verified_area_m2: float | None
    dispute_reason: str | None
    area_m2: float
    # changed_at is when it happened in the field (核验日期); recorded_at when it was entered.
    recorded_at: datetime | None = None

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("changed_at", "verified_at", "recorded_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["verified_area_mu"] = m2_to_mu(self.verified_area_m2)
        data["area_mu"] = m2_to_mu(self.area_m2)
        return data


# --- finding a parcel -------------------------------------------------------------------


def get_parcel(session: Session, parcel_id: int, lock: bool = False) -> Parcel:
    if not 0 < parcel_id < 2**31:  # beyond PostgreSQL's integer: no such id can exist
        raise NotFound(f"no parcel with id {parcel_id}", rule="parcel_id", params={"id": parcel_id})
    query = select(Parcel).where(Parcel.id == parcel_id)
    if lock:
        # Locked, and read again: an already loaded parcel gets the state it has now.
        query = query.with_for_update().execution_options(populate_existing=True)
    parcel = session.scalar(query)
    if parcel is None:
        raise NotFound(f"no parcel with id {parcel_id}", rule="parcel_id", params={"id": parcel_id})
    return parcel


def find_parcel(
    session: Session,
    ref: int | str,
    township: str | None = None,
    kind: str | None = None,
    lock: bool = False,
) -> Parcel:
    """A parcel by id (an int, or '#17'), or by code; a code used in several townships or
    kinds needs `township` (name, code or 'district/township') or `kind` to settle it."""
    if isinstance(ref, int):
        return get_parcel(session, ref, lock)
    ref = ref.strip()
    if ref.startswith("#") and ref[1:].isdigit():
        return get_parcel(session, int(ref[1:]), lock)
    query = select(Parcel).where(Parcel.code == ref)
    where = ""
    if township:
        unit = find_township(session, township)
        query = query.where(Parcel.township_id == unit.id)
        where = f" in {unit.name}"
    if kind:
        if kind not in KINDS:
            raise InvalidInput(
                f"kind must be one of {', '.join(KINDS)}, not {kind!r}",
                rule="choice",
                params={"option": "kind", "choices": ", ".join(KINDS), "value": kind},
            )
        query = query.where(Parcel.kind == kind)
        where += f" ({kind})"
    found = session.scalars(query.order_by(Parcel.id)).all()
    if not found:
        raise NotFound(
            f"no parcel with code {ref!r}{where}", rule="parcel_code", params={"code": ref}
        )
    if len(found) > 1:
        places = "; ".join(f"{p.township.name} {p.kind} (id {p.id})" for p in found)
        raise InvalidInput(
            f"parcel code {ref!r} is used by {len(found)} parcels: {places}; "
            "give the township (and kind) or the id",
            rule="parcel_code_several",
            params={"code": ref, "count": len(found),
                    "places": [[p.township.name, p.kind, p.id] for p in found]},
        )  # fmt: skip
    return get_parcel(session, found[0].id, lock) if lock else found[0]


def _load(session: Session, parcel: int | Parcel, expected: int | None = None) -> Parcel:
    """The parcel, row-locked for the rest of the transaction so changes do not interleave.

    A change decided on a state that is no longer the parcel's is a Conflict (409), never a
    lost update: when the caller names the version it saw (`expected`) and it is not the
    current one, or when another change was committed while this one waited for the lock.
    """
    if isinstance(parcel, Parcel):  # the state the caller decided (and checked rights) on
        parcel_id, seen = parcel.id, parcel.version
    else:
        parcel_id = parcel
        seen = session.scalar(select(Parcel.version).where(Parcel.id == parcel_id))
    locked = get_parcel(session, parcel_id, lock=True)
    if expected is not None and locked.version != expected:
        raise Conflict(
            f"{_label(locked)} is at version {locked.version}, not {expected}: "
            "it changed since you looked; nothing was written, reload and retry",
            rule="stale", params={"code": locked.code},
        )  # fmt: skip
    if seen is not None and locked.version != seen:
        raise Conflict(
            f"{_label(locked)} was changed by another request while this one waited "
            f"(now version {locked.version}, {locked.status}); nothing was written, retry",
            rule="stale", params={"code": locked.code},
        )  # fmt: skip
    return locked


def _label(parcel: Parcel) -> str:
    return f"parcel {parcel.code} ({parcel.township.name}, {parcel.kind}, id {parcel.id})"


# --- the use cases ----------------------------------------------------------------------


def _check(parcel: Parcel, to: str, via: str) -> Rule:
    if to not in STATUSES:
        raise InvalidInput(
            f"unknown status {to!r}; statuses are {', '.join(STATUSES)}",
            rule="status_unknown", params={"value": to, "allowed": list(STATUSES)},
        )  # fmt: skip
    rule = TRANSITIONS.get((parcel.status, to))
    if rule is None or parcel.kind not in rule.kinds:
        allowed = allowed_targets(parcel.status, parcel.kind)
        raise InvalidInput(
            f"{_label(parcel)}: cannot change status from {parcel.status} to {to}; "
            f"from {parcel.status} it may go to {', '.join(allowed) or 'nothing'}",
            rule="transition",
            params={"code": parcel.code, "current": parcel.status, "status": to,
                    "allowed": list(allowed)},
        )  # fmt: skip
    if rule.via == "verify" and via != "verify":
        group = VERIFICATION_GROUPS[parcel.kind]
        raise InvalidInput(
            f"{_label(parcel)}: from {parcel.status} to {to} is a verification: "
            f"use verify, with the verifier and the group ({group})",
            rule="verify_needed",
            params={"code": parcel.code, "current": parcel.status, "status": to, "group": group},
        )  # fmt: skip
    return rule


def set_status(
    session: Session,
    parcel: int | Parcel,
    to: str,
    actor: str,
    note: str | None = None,
    now: datetime | None = None,
    expected: int | None = None,
    on: date | datetime | None = None,
    recorded_at: datetime | None = None,
) -> Transition:
    """Move a parcel along TRANSITIONS; leaving `disputed` needs a reason (the note).

    `now` (default: this moment) is when the change happened and was entered, for
    replaying a history; `on` the day (or moment) it happened in the field when it is
    entered later (核验日期, see field_moment); `recorded_at` when it was entered (default:
    `now`); `expected` the version the caller saw (a Conflict when the parcel has moved on)."""
    parcel = _load(session, parcel, expected)
    when = {"now": now, "on": on, "recorded_at": recorded_at}
    if to == "disputed":
        return dispute(session, parcel, note or "", actor, **when)
    if to == "withdrawn":
        return withdraw(session, parcel, note or "", actor, **when)
    rule = _check(parcel, to, "status")
    note = _text(note)
    if rule.reason and not note:
        raise InvalidInput(
            f"{_label(parcel)}: from {parcel.status} to {to} needs a reason (the note)",
            rule="reason_needed",
            params={"code": parcel.code, "current": parcel.status, "status": to},
        )
    if parcel.status == "disputed":
        # The disputed verification no longer stands; the versions keep it.
        parcel.verified_by = parcel.verified_group = parcel.verified_at = None
        parcel.verification_note = parcel.verified_area_m2 = parcel.dispute_reason = None
        parcel.verification_recorded_at = parcel.verification_recorded_by = None
    return _record(session, parcel, to, "status", actor, note, _moments(session, parcel, **when))


def verify(
    session: Session,
    parcel: int | Parcel,
    verifier: str,
    group: str,
    note: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
    expected: int | None = None,
    on: date | datetime | None = None,
    recorded_at: datetime | None = None,
) -> Transition:
    """Record a verification and freeze the parcel's area as verified_area_m2.

    Only from delivered (land) or demolished (demolition), and only by that kind's group.
    `verified_at` is when it happened in the field (`on`, see set_status), what tallies count.
    """
    parcel = _load(session, parcel, expected)
    _check(parcel, "verified", "verify")
    verifier, group = _text(verifier), _text(group)
    if not verifier:
        raise InvalidInput(
            f"{_label(parcel)}: a verification needs the verifier's name",
            rule="verifier_name", params={"code": parcel.code},
        )  # fmt: skip
    expected = VERIFICATION_GROUPS[parcel.kind]
    if group != expected:
        raise InvalidInput(
            f"{_label(parcel)}: {parcel.kind} parcels are verified by {expected}, "
            f"not {group or 'an unnamed group'}",
            rule="verify_group",
            params={"code": parcel.code, "kind": parcel.kind, "owner": expected,
                    "group": group or "—"},
        )  # fmt: skip
    moments = _moments(session, parcel, now, on, recorded_at)
    parcel.verified_by, parcel.verified_group, parcel.verified_at = verifier, group, moments[0]
    parcel.verification_recorded_at = moments[1]
    parcel.verification_recorded_by = _text(actor) or verifier
    parcel.verification_note = _text(note)
    parcel.verified_area_m2 = parcel.area_m2
    parcel.dispute_reason = None
    return _record(session, parcel, "verified", "verified", actor or verifier, _text(note), moments)


def dispute(
    session: Session,
    parcel: int | Parcel,
    reason: str,
    actor: str,
    now: datetime | None = None,
    expected: int | None = None,
    on: date | datetime | None = None,
    recorded_at: datetime | None = None,
) -> Transition:
    """A verified parcel is challenged: it stops counting as verified until settled."""
    parcel = _load(session, parcel, expected)
    _check(parcel, "disputed", "dispute")
    reason = _text(reason)
    if not reason:
        raise InvalidInput(
            f"{_label(parcel)}: a dispute needs a reason",
            rule="dispute_reason", params={"code": parcel.code},
        )  # fmt: skip
    parcel.dispute_reason = reason
    moments = _moments(session, parcel, now, on, recorded_at)
    return _record(session, parcel, "disputed", "disputed", actor, reason, moments)


def withdraw(
    session: Session,
    parcel: int | Parcel,
    reason: str,
    actor: str,
    now: datetime | None = None,
    expected: int | None = None,
    on: date | datetime | None = None,
    recorded_at: datetime | None = None,
) -> Transition:
    """Take a parcel off the register (soft delete, from any status): it keeps its whole
    history, gets a `withdrawn` version, and counts in no tally, map or overlap check."""
    parcel = _load(session, parcel, expected)
    if parcel.status == "withdrawn":
        raise InvalidInput(
            f"{_label(parcel)} is already withdrawn",
            rule="withdrawn_already", params={"code": parcel.code},
        )  # fmt: skip
    reason = _text(reason)
    if not reason:
        raise InvalidInput(
            f"{_label(parcel)}: a withdrawal needs a reason",
            rule="withdrawal_reason", params={"code": parcel.code},
        )  # fmt: skip
    moments = _moments(session, parcel, now, on, recorded_at)
    parcel.withdrawn_at, parcel.withdrawn_by = moments[0], _text(actor)
    parcel.withdrawn_reason = reason
    return _record(session, parcel, "withdrawn", "withdrawn", actor, reason, moments)


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _moments(session, parcel: Parcel, now=None, on=None, recorded_at=None):
    """(when it happened, when it was entered) for a change of `parcel`."""
    recorded = recorded_at or now or datetime.now(UTC)
    if on is None:
        return now or recorded, recorded
    since = session.scalar(
        select(ParcelVersion.valid_from).where(
            ParcelVersion.parcel_id == parcel.id, ParcelVersion.valid_to.is_(None)
        )
    )
    return field_moment(on, recorded, since), recorded


def _record(session, parcel: Parcel, to: str, change: str, actor, note, moments) -> Transition:
    actor = _text(actor)
    if not actor:
        raise InvalidInput(f"{_label(parcel)}: say who is making the change (actor)")
    now, recorded = moments
    before = parcel.status
    parcel.status = to
    parcel.updated_by, parcel.updated_at = actor, recorded
    parcel.version += 1
    append_version(session, parcel, change, None, actor, now, note=note, recorded=(recorded, actor))
    session.flush()
    return Transition(
        parcel_id=parcel.id,
        code=parcel.code,
        township=parcel.township.name,
        kind=parcel.kind,
        version=parcel.version,
        status_before=before,
        status=to,
        changed_by=actor,
        changed_at=now,
        note=note,
        verified_by=parcel.verified_by,
        verified_group=parcel.verified_group,
        verified_at=parcel.verified_at,
        verified_area_m2=parcel.verified_area_m2,
        dispute_reason=parcel.dispute_reason,
        area_m2=parcel.area_m2,
        recorded_at=recorded,
    )


# --- history ----------------------------------------------------------------------------

_HISTORY = """
    SELECT v.version, v.change, lag(v.status) OVER w AS status_before, v.status,
           lag(v.area_m2) OVER w AS area_before_m2, v.area_m2,
           CASE WHEN v.version = min(v.version) OVER () THEN NULL
                ELSE NOT ST_Equals(v.geom, lag(v.geom) OVER w) END AS geometry_changed,
           v.changed_by, v.valid_from, v.valid_to, v.upload_id, u.filename AS upload_filename,
           coalesce(v.recorded_at, v.valid_from) AS recorded_at,
           coalesce(v.recorded_by, v.changed_by) AS recorded_by,
           v.note, v.verified_by, v.verified_group, v.verified_at, v.verified_area_m2,
           pr.code AS project, v.flags,
           ARRAY(SELECT a.name FROM admin_units a WHERE a.id = ANY(v.support_ids)
                 ORDER BY a.name) AS supporters,
           ST_X(vp.geom) AS position_lon, ST_Y(vp.geom) AS position_lat,
           vp.accuracy_m AS position_accuracy_m
    FROM parcel_versions v
    LEFT JOIN uploads u ON u.id = v.upload_id
    LEFT JOIN version_positions vp ON vp.parcel_id = v.parcel_id AND vp.version = v.version
    LEFT JOIN projects pr ON pr.id = v.project_id
    WHERE v.parcel_id = :id
    WINDOW w AS (ORDER BY v.version)
    ORDER BY v.version
"""


def history(session: Session, parcel: int | Parcel) -> list[dict]:
    """Every version of a parcel, oldest first, with what changed against the previous one.

    geometry_changed and the *_before fields are None for the first version.
    """
    parcel_id = parcel.id if isinstance(parcel, Parcel) else get_parcel(session, parcel).id
    rows = session.execute(text(_HISTORY), {"id": parcel_id}).mappings().all()
    out = []
    for r in rows:
        item = dict(r)
        item["area_mu"] = m2_to_mu(r["area_m2"])
        item["area_before_mu"] = m2_to_mu(r["area_before_m2"])
        item["area_change_m2"] = (
            None if r["area_before_m2"] is None else r["area_m2"] - r["area_before_m2"]
        )
        item["verified_area_mu"] = m2_to_mu(r["verified_area_m2"])
        item["supporters"] = list(r["supporters"] or [])
        for key in ("valid_from", "valid_to", "verified_at", "recorded_at"):
            item[key] = r[key].isoformat() if r[key] else None
        out.append(item)
    return out


def parcel_summary(parcel: Parcel) -> dict:
    """Who the parcel is, for presenting history."""
    return {
        "id": parcel.id,
        "code": parcel.code,
        "name": parcel.name,
        "township": parcel.township.name,
        "district": parcel.township.parent.name if parcel.township.parent else None,
        "kind": parcel.kind,
        "status": parcel.status,
        "version": parcel.version,
        "area_m2": parcel.area_m2,
        "verified_area_m2": parcel.verified_area_m2,
        "dispute_reason": parcel.dispute_reason,
        "withdrawn_at": parcel.withdrawn_at.isoformat() if parcel.withdrawn_at else None,
        "withdrawn_by": parcel.withdrawn_by,
        "withdrawn_reason": parcel.withdrawn_reason,
    }
