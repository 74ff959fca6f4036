"""Monthly and quarterly rankings (综合考评排名) of townships within a district and of
districts within the city.

**The period's target.** A unit is measured against what was due (`due.due_share`, the
rule the map and the board share) by the end of the period, held within the campaign:
by its own quarterly plan when it has one, otherwise its annual target times the share
its parent (district, or the city) planned by then; when neither has a quarterly plan,
the share of the campaign gone. Plans are for the campaign's own quarters; a running
quarter's plan is spread evenly over it (in a calendar year the end of May is Q1's plan
plus two thirds of Q2's).

**Progress** per kind is the area verified within the year by the end of the period's
last day (China Standard Time; `tallies.tally` with `as_of`, so a past period is exactly
what was on record then) divided by the period's target. It is not capped: 120% counts
as 1.2.

**The composite score** is the weighted mean of the components a unit has (a component
it has no figure for, e.g. no target for that kind, drops out and the others' weights are
renormalised):

- land, demolition: progress as above;
- relocation: households handed over (回迁户数, `relocation_tallies`, as of the period's
  end) against the annual household target times the share of the year elapsed (relocation
  targets are annual only); a unit with no household target has no figure;
- milestones: the share of the unit's projects' milestones falling due in the year up to
  the period's end that were done on or before their date (recorded by the period's end).

Default weights: land 0.4, demolition 0.3, relocation 0.1, milestones 0.2; any can be
given (`land=0.5,demolition=0.5,milestones=0`).

**Ties** use standard competition ranking ("1, 2, 2, 4"): scores equal to 6 decimal
places share the better rank and the next rank skips as many places; tied rows are marked.
Units with no score at all are listed last, unranked. **Rank change** is the previous
period's rank minus this one (positive: moved up), None when not ranked then.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from geo_service.campaign import campaigns, due, tallies
from geo_service.campaign.campaigns import CampaignView
from geo_service.campaign.register import milestone_states
from geo_service.errors import InvalidInput
from geo_service.models import AdminUnit, Project
from geo_service.periods import Period, parse_period, quarter_of
from geo_service.relocation import tallies as relocation_tallies
from geo_service.settings import get_settings
from geo_service.units import find_city, find_district

LEVELS = ("township", "district")
KINDS_RANKED = ("land", "demolition")
COMPONENTS = ("land", "demolition", "relocation", "milestones")
DEFAULT_WEIGHTS = {"land": 0.4, "demolition": 0.3, "relocation": 0.1, "milestones": 0.2}
SCORE_PLACES = 6
TIE_RULE = (
    "standard competition ranking (1, 2, 2, 4): scores equal to 6 decimal places share the "
    "better rank, the next rank skips"
)


def parse_weights(text: str | None) -> dict[str, float]:
    """'land=0.5,demolition=0.3,milestones=0.2' → weights (components not named keep
    their default)."""
    weights = dict(DEFAULT_WEIGHTS)
    if not text:
        return weights
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in COMPONENTS:
            raise InvalidInput(f"weight {name!r}: components are {', '.join(COMPONENTS)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise InvalidInput(f"weight {item!r}: write it as {name}=0.3") from None
        if weights[name] < 0:
            raise InvalidInput(f"weight {item!r} is negative")
    if not any(weights.values()):
        raise InvalidInput("at least one weight must be above 0")
    return weights


@dataclass
class RankRow:
    unit: str
    district: str | None
    components: dict = field(default_factory=dict)
    score: float | None = None
    rank: int | None = None
    tied: bool = False
    previous_rank: int | None = None

    @property
    def change(self) -> int | None:
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank

    def as_dict(self) -> dict:
        return {
            "rank": self.rank,
            "tied": self.tied,
            "previous_rank": self.previous_rank,
            "change": self.change,
            "unit": self.unit,
            "district": self.district,
            "score": None if self.score is None else round(self.score, SCORE_PLACES),
            **self.components,
        }


def rank(
    session: Session,
    level: str,
    period: Period | str | None = None,
    district: str | None = None,
    weights: dict[str, float] | None = None,
    campaign: "str | CampaignView | None" = None,
) -> dict:
    """The ranking for one period of a campaign, with each unit's rank change since the
    previous period. The campaign: named, else the one holding the period's end, else the
    one shown by default; the period: given, else the quarter of the campaign's day 截至.
    A period reaching past the campaign's days is ranked as at its last day."""
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    period = parse_period(period) if period else None
    chosen = campaigns.resolve_held(
        session, campaign, as_of=period.end if period else None, asked=period and str(period)
    )
    period = period or quarter_of(chosen.reference_day())
    weights = weights or dict(DEFAULT_WEIGHTS)
    if level == "township":
        district = district or get_settings().default_district
        find_district(session, district)
    else:
        district = None
    rows = _ranked(session, level, period, district, weights, chosen)
    before = {}
    if period.previous().end >= chosen.first_day:  # a campaign's first period: no change
        earlier = _ranked(session, level, period.previous(), district, weights, chosen)
        before = {r.unit: r.rank for r in earlier}
    for r in rows:
        r.previous_rank = before.get(r.unit)
    return {
        "level": level,
        "campaign": chosen.name,
        "period": str(period),
        # The quarter under way is figured as it stands today: say today, not its last day.
        "as_of": min(_held(period, chosen), chosen.reference_day()).isoformat(),
        "previous_period": str(period.previous()),
        "district": district,
        "weights": weights,
        "tie_rule": TIE_RULE,
        "rows": [r.as_dict() for r in rows],
    }


def _held(period: Period, campaign: CampaignView) -> date:
    """The period's last day, held within the campaign's days."""
    return min(max(period.end, campaign.first_day), campaign.last_day)


def _elapsed(period: Period, campaign: CampaignView) -> float:
    """The share of the campaign gone by the period's end (due.elapsed)."""
    return due.elapsed(campaign, _held(period, campaign))


def _ranked(session, level, period: Period, district, weights, campaign: CampaignView) -> list:
    units = _units(session, level, district)
    figures = _kind_figures(session, level, period, district, campaign)
    milestones = _milestones(session, level, period, units, campaign)
    relocation = _relocation_figures(session, level, period, district, campaign)
    rows = []
    for unit in units:
        components = {k: figures.get((unit.name, k)) for k in KINDS_RANKED}
        components["relocation"] = relocation.get(unit.name)
        components["milestones"] = milestones.get(unit.id)
        rows.append(
            RankRow(
                unit=unit.name,
                district=district,
                components=components,
                score=composite(components, weights),
            )
        )
    return assign_ranks(rows)


def composite(components: dict, weights: dict[str, float]) -> float | None:
    """Weighted mean over the components that have a figure (see the module's doc)."""
    values = {}
    for name, weight in weights.items():
        part = components.get(name)
        if weight > 0 and part is not None and part.get("value") is not None:
            values[name] = (weight, part["value"])
    total = sum(w for w, _ in values.values())
    if not total:
        return None
    return sum(w * v for w, v in values.values()) / total


def assign_ranks(rows: list[RankRow]) -> list[RankRow]:
    """Standard competition ranking on the score rounded to SCORE_PLACES; unscored last."""
    scored = sorted(
        (r for r in rows if r.score is not None),
        key=lambda r: (-round(r.score, SCORE_PLACES), r.unit),
    )
    previous = None
    for position, row in enumerate(scored, start=1):
        key = round(row.score, SCORE_PLACES)
        if previous is not None and key == round(previous.score, SCORE_PLACES):
            row.rank = previous.rank
            row.tied = previous.tied = True
        else:
            row.rank = position
        previous = row
    return scored + [r for r in rows if r.score is None]


def _units(session, level: str, district: str | None) -> list[AdminUnit]:
    parent = find_district(session, district) if level == "township" else find_city(session)
    return list(
        session.scalars(
            select(AdminUnit).where(AdminUnit.parent_id == parent.id).order_by(AdminUnit.code)
        )
    )


def _by_unit(rows, level: str) -> dict:
    return {(r.township if level == "township" else r.district, r.kind): r for r in rows}


def _kind_figures(session, level, period: Period, district, campaign: CampaignView) -> dict:
    """(unit, kind) → verified, the period's target and progress, from public tallies."""
    held = _held(period, campaign)
    rows = tallies.tally(session, by=level, campaign=campaign, as_of=held, district=district)
    own = tallies.unit_plans(session, level, campaign, held, district)
    parents = tallies.unit_plans(
        session, "district" if level == "township" else "city", campaign, held
    )
    found = {}
    for (name, kind), row in _by_unit(rows, level).items():
        if kind not in KINDS_RANKED:
            continue
        parent = next(
            (
                v
                for (p, k), v in parents.items()
                if k == kind and (level == "district" or p == row.district)
            ),
            None,
        )
        share = due.due_share(campaign, held, due.shares_of(own.get((name, kind)), parent))
        target = None if row.target_m2 is None else row.target_m2 * share
        found[(name, kind)] = {
            "verified_m2": round(row.verified_m2, 2),
            "annual_target_m2": None if row.target_m2 is None else round(row.target_m2, 2),
            "period_target_m2": None if target is None else round(target, 2),
            "planned_share": round(share, SCORE_PLACES),
            "value": row.verified_m2 / target if target else None,
        }
    return found


def _relocation_figures(session, level, period: Period, district, campaign) -> dict:
    """unit → households handed over by the period's end against the straight-line share
    of the annual household target."""
    end = _held(period, campaign)
    rows = relocation_tallies.tally(
        session, by=level, as_of=end, district=district, campaign=campaign
    )
    found = {}
    for row in rows:
        if not row.target_households:
            continue
        target = row.target_households * _elapsed(period, campaign)
        found[row.township if level == "township" else row.district] = {
            "households_handed_over": row.households_handed_over,
            "annual_target_households": row.target_households,
            "period_target_households": round(target, 2),
            "value": row.households_handed_over / target,
        }
    return found


def _milestones(session, level, period: Period, units: list[AdminUnit], campaign) -> dict:
    """unit id → milestones due in the campaign up to the period's end, and how many on
    time."""
    ids = {u.id for u in units}
    end = _held(period, campaign)
    projects = list(session.scalars(select(Project).options(selectinload(Project.townships))))
    states = milestone_states(session, projects, end)
    found: dict[int, dict] = {}
    for project in projects:
        owners = (
            {t.id for t in project.townships} if level == "township" else {project.district_id}
        ) & ids
        due = [m for m in states[project.id] if campaign.first_day <= m.due_on <= end]
        for owner in owners:
            entry = found.setdefault(owner, {"due": 0, "on_time": 0})
            entry["due"] += len(due)
            entry["on_time"] += sum(1 for m in due if m.on_time)
    for entry in found.values():
        entry["value"] = entry["on_time"] / entry["due"] if entry["due"] else None
    return found
