"""The audit log: every write, refusal and failed sign-in, append-only.

The table refuses UPDATE, DELETE and TRUNCATE by trigger (migration 0003), so not even an
admin can rewrite it through the service or by hand without dropping the trigger."""

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_service import database
from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.models import AuditEntry


def record(
    session: Session,
    username: str | None,
    action: str,
    target: str | None = None,
    *,
    outcome: str = "ok",
    source: str | None = None,
    **details,
) -> AuditEntry:
    entry = AuditEntry(
        username=username,
        action=action,
        target=target,
        outcome=outcome,
        source=source,
        details=_jsonable(details),
    )
    session.add(entry)
    session.flush()
    return entry


def record_apart(username: str | None, action: str, target: str | None = None, **kwargs) -> None:
    """Record in a transaction of its own: for refusals, whose request's own transaction
    is rolled back."""
    with database.session_scope() as own:
        record(own, username, action, target, **kwargs)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def entries(
    session: Session,
    *,
    username: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 200,
) -> list[dict]:
    """Newest first; days are China Standard Time, `until` inclusive."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if username:
        query = query.where(AuditEntry.username == username)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    if since:
        query = query.where(AuditEntry.at >= datetime.combine(since, time(), CAMPAIGN_TZ))
    if until:
        end = datetime.combine(until + timedelta(days=1), time(), CAMPAIGN_TZ)
        query = query.where(AuditEntry.at < end)
    return [_row(e) for e in session.scalars(query)]


def _row(e: AuditEntry) -> dict:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "username": e.username,
        "action": e.action,
        "target": e.target,
        "outcome": e.outcome,
        "source": e.source,
        "details": e.details,
    }
