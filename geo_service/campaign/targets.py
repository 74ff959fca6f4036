"""Targets: what the city, a district or a township must deliver in a campaign (or a
quarter of it)."""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_service.areas import mu_to_m2
from geo_service.campaign.campaigns import CampaignView, find_campaign, for_year
from geo_service.errors import InvalidInput, NotFound
from geo_service.models import KINDS, Target, TargetVersion
from geo_service.units import find_district_or_city, find_township

UNITS = ("mu", "m2")


def set_target(
    session: Session,
    *,
    district: str,
    township: str | None,
    kind: str,
    year: int | None = None,
    amount: float,
    unit: str,
    quarter: int | None = None,
    actor: str,
    source: str | None = None,
    only_if_missing: bool = False,
    now: datetime | None = None,
    campaign: str | None = None,
) -> int:
    """Create or change one target of a campaign (named, or the one a year names: a year
    with none gets its calendar campaign 攻坚<year>), keeping the value it had as a
    version (who, when); returns 1 when something changed, 0 for the same value again."""
    if kind not in KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(KINDS)}, not {kind!r}",
            rule="target_kind", params={"value": kind, "choices": ", ".join(KINDS)},
        )  # fmt: skip
    if unit not in UNITS:
        raise InvalidInput(
            f"unit must be mu or m2, not {unit!r}", rule="target_unit", params={"value": unit}
        )
    if amount < 0:
        raise InvalidInput("a target cannot be negative", rule="target_negative", params={})
    if quarter is not None and not 1 <= quarter <= 4:
        raise InvalidInput(
            "quarter must be 1 to 4", rule="target_quarter", params={"value": quarter}
        )
    owning = target_campaign(session, campaign, year, actor)
    existing = find_target(session, district, township, kind, owning, quarter, missing_ok=True)
    if existing is not None and only_if_missing:
        return 0
    amount_m2 = mu_to_m2(amount) if unit == "mu" else amount
    if existing is not None and (existing.amount_m2, existing.unit) == (amount_m2, unit):
        return 0  # the same target again: no new version
    now = now or datetime.now(UTC)
    target = existing or Target(
        admin_unit=_owner(session, district, township),
        kind=kind,
        campaign_id=owning.id,
        year=owning.year,
        quarter=quarter,
    )
    target.amount_m2, target.unit, target.source = amount_m2, unit, source
    target.updated_by, target.updated_at = actor, now
    session.add(target)
    session.flush()
    values = {"amount_m2": target.amount_m2, "unit": target.unit, "source": target.source}
    record_version(session, TargetVersion, target, actor, now, target.kind, values)
    return 1


def target_campaign(
    session: Session, campaign: str | None, year: int | None, actor: str | None = None
) -> CampaignView:
    """The campaign a target is set for: by name, or the one its year names."""
    if campaign:
        found = find_campaign(session, campaign)
        if year is not None and found.year != year:
            raise InvalidInput(
                f"campaign {found.name} starts in {found.year}, not {year}",
                rule="target_campaign_year",
                params={"campaign": found.name, "year": found.year, "asked": year},
            )
        return found
    if year is None:
        raise InvalidInput(
            "give the campaign (or its year) the target is for",
            rule="target_campaign_missing", params={},
        )  # fmt: skip
    return for_year(session, year, create_as=actor)


def find_target(
    session: Session,
    district: str,
    township: str | None,
    kind: str,
    campaign: "CampaignView | int",
    quarter: int | None = None,
    missing_ok: bool = False,
) -> Target | None:
    """A campaign's target (a year: the campaign that year names)."""
    if isinstance(campaign, int):
        campaign = for_year(session, campaign)
    owner = _owner(session, district, township)
    found = session.scalar(
        select(Target).where(
            Target.admin_unit_id == owner.id,
            Target.kind == kind,
            Target.campaign_id == campaign.id,
            Target.quarter.is_(None) if quarter is None else Target.quarter == quarter,
        )
    )
    if found is None and not missing_ok:
        raise NotFound(
            f"no {kind} target for {owner.name} in {campaign.name}",
            rule="target", params={"kind": kind, "unit": owner.name, "campaign": campaign.name},
        )  # fmt: skip
    return found


def record_version(
    session: Session, versions, target, actor: str, now: datetime, kind: str, values: dict
) -> None:
    """The target's value (`values`) from `now`, a row of `versions` (TargetVersion, or
    RelocationTargetVersion for a relocation target); the database closes the version
    before (0023, 0032r)."""
    opened = session.scalar(
        select(versions.valid_from).where(
            versions.target_id == target.id, versions.valid_to.is_(None)
        )
    )
    if opened is not None and now < opened:
        # History must run forwards: a change cannot be dated before the value it ends.
        at, current = f"{now:%Y-%m-%d %H:%M}", f"{opened:%Y-%m-%d %H:%M}"
        raise InvalidInput(
            f"target {target.year} {kind}: a change at {at} is earlier than its current "
            f"value ({current})",
            rule="target_earlier",
            params={"year": target.year, "kind": kind, "at": at, "current": current},
        )
    last = session.scalar(
        select(func.coalesce(func.max(versions.version), 0)).where(versions.target_id == target.id)
    )
    session.add(
        versions(target_id=target.id, version=last + 1, changed_by=actor, valid_from=now,
                 **values)
    )  # fmt: skip
    session.flush()


def _owner(session: Session, district: str, township: str | None):
    owner = find_district_or_city(session, district)
    return find_township(session, township, district=owner) if township else owner


def target_history(session: Session, target: Target) -> list[dict]:
    """Every value the target had: amount, who set it, from when until when."""
    return [
        {
            "version": v.version,
            "amount_m2": v.amount_m2,
            "unit": v.unit,
            "changed_by": v.changed_by,
            "valid_from": v.valid_from,
            "valid_to": v.valid_to,
        }
        for v in session.scalars(
            select(TargetVersion)
            .where(TargetVersion.target_id == target.id)
            .order_by(TargetVersion.version)
            # valid_to is written by the database (closing a version): not what was loaded.
            .execution_options(populate_existing=True)
        )
    ]


def target_for(annual: float | None, quarters: dict[int, float], quarter: int | None = None):
    """The one rule for what a group is measured against.

    For the year: the annual target, or else the sum of the quarters planned. Up to a
    quarter: the quarters' plan, cumulatively, when every quarter up to it has one;
    otherwise the annual target (never a mixture of the two).
    """
    return target_and_basis(annual, quarters, quarter)[0]


# What a target figure is, for labels: 年度目标, or the quarterly plan cumulated to Qn.
ANNUAL, QUARTERS_SUMMED = "annual", "quarters"
# The quarterly plan reckoned to a day that ends none of the campaign's quarters (campaign.due).
DUE = "due"
QUARTER_NAMES = {1: "一", 2: "二", 3: "三", 4: "四"}


def target_and_basis(annual, quarters: dict[int, float], quarter: int | None = None):
    """(amount, basis) by target_for's rule; basis is 'annual', 'quarters' (the year's
    quarterly plans summed) or 'plan_q<n>' (the plan cumulated up to quarter n)."""
    if quarter is not None:
        wanted = range(1, quarter + 1)
        if all(q in quarters for q in wanted):
            return sum(quarters[q] for q in wanted), f"plan_q{quarter}"
    if annual is not None:
        return annual, ANNUAL
    if quarter is None and quarters:
        return sum(quarters.values()), QUARTERS_SUMMED
    return None, None


def basis_label(basis: str | None) -> str:
    """The label a map or table shows beside a target figure."""
    if basis is None or basis == ANNUAL:
        return "年度目标"
    if basis == QUARTERS_SUMMED:
        return "年度目标（各季度计划合计）"
    if basis == DUE:
        return "截至当日应完成（按季度计划）"
    return f"截至{QUARTER_NAMES[int(basis.removeprefix('plan_q'))]}季度计划"
