"""Targets: what the city, a district or a township must deliver in a year or quarter."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from .areas import mu_to_m2
from .errors import InvalidInput
from .models import KINDS, Target
from .units import find_district_or_city, find_township

UNITS = ("mu", "m2")


def set_target(
    session: Session,
    *,
    district: str,
    township: str | None,
    kind: str,
    year: int,
    amount: float,
    unit: str,
    quarter: int | None = None,
    actor: str,
    source: str | None = None,
    only_if_missing: bool = False,
) -> int:
    """Create or replace one target; returns 1 when a row was written."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if unit not in UNITS:
        raise InvalidInput(f"unit must be mu or m2, not {unit!r}")
    if amount < 0:
        raise InvalidInput("a target cannot be negative")
    if quarter is not None and not 1 <= quarter <= 4:
        raise InvalidInput("quarter must be 1 to 4")
    owner = find_district_or_city(session, district)
    if township:
        owner = find_township(session, township, district=owner)
    existing = session.scalar(
        select(Target).where(
            Target.admin_unit_id == owner.id,
            Target.kind == kind,
            Target.year == year,
            Target.quarter.is_(None) if quarter is None else Target.quarter == quarter,
        )
    )
    if existing is not None and only_if_missing:
        return 0
    target = existing or Target(admin_unit_id=owner.id, kind=kind, year=year, quarter=quarter)
    target.amount_m2 = mu_to_m2(amount) if unit == "mu" else amount
    target.unit = unit
    target.updated_by = actor
    target.source = source
    session.add(target)
    session.flush()
    return 1


def target_for(annual: float | None, quarters: dict[int, float], quarter: int | None = None):
    """The one rule for what a group is measured against.

    For the year: the annual target, or else the sum of the quarters planned. Up to a
    quarter: the quarters' plan, cumulatively, when every quarter up to it has one;
    otherwise the annual target (never a mixture of the two).
    """
    if quarter is None:
        return annual if annual is not None else (sum(quarters.values()) if quarters else None)
    wanted = range(1, quarter + 1)
    if all(q in quarters for q in wanted):
        return sum(quarters[q] for q in wanted)
    return annual
