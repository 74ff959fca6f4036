"""Relocation tallies, the 两逾 lists and the 清零 figures, from the relocation history.

Everything is computed from the households', flats' and projects' versions valid at the
end of the day asked for (China Standard Time), so a past day is reproduced exactly; a
date recorded later, even if it lies before that day, does not count for it.

Relocation households are those compensated with flats (产权调换, or mixed); cash-only
households (货币补偿) are on the roster but have nothing to hand over. A household is
handed over on the day its last due flat is handed over, titled on the day its last flat
is certified, and verified on the day 回迁核验组 signed it off (while that sign-off is
not disputed). Handed over, certified and verified count within the campaign's days (from
its first day up to the day, a campaign across the new year in both years), like verified
areas; planned and allocated are everything on record. A relocation target is a
campaign's own, else the one set for the year it starts in (the fallback every campaign of
that year shares: targets set before 0030r, `targets set --year`), at the value in force at
the end of the day asked for (its versions, migration 0032r; today's when no day is asked).
"""

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo_service import periods as clock
from geo_service.campaign import campaigns
from geo_service.campaign.campaigns import CampaignView
from geo_service.campaign.tallies import (
    CAMPAIGN_TZ,
    TARGET_IN_FORCE,
    VALID_DURING,
    campaign_and_day,
    end_of_day,
)
from geo_service.campaign.targets import record_version
from geo_service.errors import InvalidInput, NotFound
from geo_service.models import AdminUnit, Project, RelocationTarget, RelocationTargetVersion
from geo_service.relocation.households import shown_name
from geo_service.settings import get_settings
from geo_service.units import find_district, find_township

GROUPINGS = ("district", "township", "project")
OVERDUE_KINDS = {"handover": "逾期未回迁", "title": "逾期未办证"}

_STATES = f"""
    SELECT v.entity_id AS id, v.state FROM relocation_versions v
    WHERE v.entity = :entity AND {VALID_DURING.format(v="v")}
"""


def today() -> date:
    return clock.today()


@dataclass
class _World:
    """Households, flats and projects as they stood at the end of `day`."""

    day: date
    households: dict[int, dict]
    flats: list[dict]
    projects: dict[int, dict]
    units: dict[int, AdminUnit]
    flats_of: dict[int, list[dict]] = field(default_factory=dict)

    def __post_init__(self):
        for flat in self.flats:
            if flat["household_id"] is not None and _on(flat["allocated_on"], self.day, True):
                self.flats_of.setdefault(flat["household_id"], []).append(flat)

    def handed_on(self, household: dict) -> date | None:
        """The day the household's last due flat was handed over, if all were by `day`."""
        return self._all_done(household, "handed_over_on")

    def titled_on(self, household: dict) -> date | None:
        if self.handed_on(household) is None:
            return None
        return self._all_done(household, "certified_on")

    def _all_done(self, household: dict, key: str) -> date | None:
        flats = self.flats_of.get(household["id"], [])
        if not flats or len(flats) < household["flats_due"]:
            return None
        days = [_date(f[key]) for f in flats]
        if any(d is None or d > self.day for d in days):
            return None
        return max(days)


def _date(value) -> date | None:
    return date.fromisoformat(value) if value else None


def _on(value, day: date, missing_counts: bool = False) -> bool:
    found = _date(value)
    return missing_counts if found is None else found <= day


def default_day(year: int | None = None, session: Session | None = None) -> date:
    """Today, or the last day of the campaign year once that year is over; with no year,
    the day every page is 截至 (campaigns.as_at: today held within the campaign shown)."""
    if year is None and session is not None:
        return campaigns.as_at(session)
    year = year or get_settings().campaign_year
    return min(today(), date(year, 12, 31))


def world(session: Session, as_of: date | None = None, day: date | None = None) -> _World:
    """The relocation records at the end of `as_of` (None: as they are now), with dates
    compared against `day` (default: as_of, or the campaign's default day)."""
    recorded = end_of_day(as_of) if as_of else None

    def states(entity):
        rows = session.execute(text(_STATES), {"entity": entity, "as_of": recorded}).all()
        return {r.id: {**r.state, "id": r.id} for r in rows}

    units = {u.id: u for u in session.scalars(select(AdminUnit))}
    return _World(
        day=day or as_of or default_day(session=session),
        households=states("household"),
        flats=list(states("flat").values()),
        projects=states("project"),
        units=units,
    )


def relocating(household: dict) -> bool:
    return household["compensation"] != "cash"


# --- tallies ----------------------------------------------------------------------------

_MEASURES = ("planned", "allocated", "handed_over", "certified")


@dataclass
class RelocationRow:
    district: str
    township: str | None
    project: str | None
    project_name: str | None
    households_planned: int = 0
    households_allocated: int = 0
    households_handed_over: int = 0
    households_certified: int = 0
    households_verified: int = 0  # signed off by 回迁核验组 in the year
    flats_planned: int = 0
    flats_allocated: int = 0
    flats_handed_over: int = 0
    flats_certified: int = 0
    m2_planned: float = 0.0
    m2_allocated: float = 0.0
    m2_handed_over: float = 0.0
    m2_certified: float = 0.0
    target_households: int | None = None
    target_flats: int | None = None
    target_m2: float | None = None
    kind: str = "relocation"

    @staticmethod
    def _share(done, target):
        return done / target if target else None

    def as_dict(self, by: str) -> dict:
        data = asdict(self)
        if by == "district":
            data.pop("township")
        if by != "project":
            data.pop("project")
            data.pop("project_name")
        data.update(
            progress_households=self._share(self.households_handed_over, self.target_households),
            progress_flats=self._share(self.flats_handed_over, self.target_flats),
            progress_m2=self._share(self.m2_handed_over, self.target_m2),
        )
        data["progress"] = data["progress_households"]
        for key in [k for k in data if k.startswith("m2_")]:
            data[key] = round(data[key], 2)  # floor areas are surveyed to the centimetre
        return data


def campaign_days(
    session: Session,
    campaign: "str | CampaignView | None" = None,
    year: int | None = None,
    as_of: date | None = None,
) -> tuple[CampaignView, date]:
    """The campaign a relocation figure is for (named, else the one a year names, else the
    one holding the day, else the one shown) and the day it counts up to: the day asked
    for, else today, held within the campaign's days as the land tallies hold theirs."""
    chosen, as_of = campaign_and_day(session, campaign, year, as_of)
    return chosen, min(chosen.reference_day(as_of), chosen.last_day)


def tally(
    session: Session,
    by: str = "township",
    year: int | None = None,
    as_of: date | None = None,
    district: str | None = None,
    campaign: "str | CampaignView | None" = None,
) -> list[RelocationRow]:
    """Households, flats and m² planned, allocated, handed over and certified per group,
    with the campaign's relocation targets (handed over ÷ target is the progress)."""
    if by not in GROUPINGS:
        raise InvalidInput(
            f"--by must be one of {', '.join(GROUPINGS)}",
            rule="grouping", params={"value": by, "choices": ", ".join(GROUPINGS)},
        )  # fmt: skip
    chosen, day = campaign_days(session, campaign, year, as_of)
    w = world(session, as_of, day=day)
    only = find_district(session, district).id if district else None
    rows: dict[tuple, RelocationRow] = {}
    if by == "project":
        _tally_projects(w, rows, chosen.first_day, only)
    else:
        _tally_units(w, rows, by, chosen.first_day, only)
        _add_targets(session, w, rows, by, chosen, only, as_of)
    return sorted(rows.values(), key=lambda r: (r.district, r.township or "", r.project or ""))


def _tally_units(w: _World, rows: dict, by: str, since: date, only: int | None) -> None:
    for h in w.households.values():
        if not relocating(h):
            continue
        township = w.units[h["township_id"]]
        district = w.units[township.parent_id]
        if only and district.id != only:
            continue
        unit = district if by == "district" else township
        row = rows.setdefault(unit.id, _unit_row(w, unit))
        _count_household(w, row, h, since)
        for flat in w.flats_of.get(h["id"], []):
            _count_flat(w, row, flat, since)


def _tally_projects(w: _World, rows: dict, since: date, only: int | None) -> None:
    for p in w.projects.values():
        if only and p["district_id"] != only:
            continue
        served = "、".join(sorted(w.units[t].name for t in p.get("township_ids", [])))
        rows[p["id"]] = RelocationRow(
            district=w.units[p["district_id"]].name,
            township=served,
            project=p["code"],
            project_name=p["name"],
            # A project's plan is its own: flats by size class and its total floor area.
            flats_planned=sum(p["flats_by_size"].values()),
            m2_planned=p["floor_area_m2"] or 0.0,
        )
    for h in w.households.values():
        if relocating(h) and h["project_id"] in rows:
            row = rows[h["project_id"]]
            row.households_planned += 1
            row.households_allocated += bool(w.flats_of.get(h["id"]))
            row.households_handed_over += _counted(w.handed_on(h), since, w.day)
            row.households_certified += _counted(w.titled_on(h), since, w.day)
            row.households_verified += _counted(verified_on(h), since, w.day)
    for flat in w.flats:
        if flat["project_id"] in rows:
            _count_flat(w, rows[flat["project_id"]], flat, since, allocated_only=False)


def _unit_row(w: _World, unit: AdminUnit) -> RelocationRow:
    if unit.level == "district":
        return RelocationRow(district=unit.name, township=None, project=None, project_name=None)
    district = w.units[unit.parent_id].name
    return RelocationRow(district=district, township=unit.name, project=None, project_name=None)


def _count_household(w: _World, row: RelocationRow, h: dict, since: date) -> None:
    row.households_planned += 1
    row.flats_planned += h["flats_due"]
    row.m2_planned += h["area_due_m2"] or 0.0
    row.households_allocated += bool(w.flats_of.get(h["id"]))
    row.households_handed_over += _counted(w.handed_on(h), since, w.day)
    row.households_certified += _counted(w.titled_on(h), since, w.day)
    row.households_verified += _counted(verified_on(h), since, w.day)


def verified_on(household: dict) -> date | None:
    """The day 回迁核验组 signed the household off, if that sign-off stands in this
    version (a disputed one does not; versions before sign-offs existed have none)."""
    if household.get("signoff") != "verified":
        return None
    return _date(household.get("signed_off_on"))


def _count_flat(w: _World, row: RelocationRow, flat: dict, since: date, allocated_only=True):
    allocated = flat["household_id"] is not None and _on(flat["allocated_on"], w.day, True)
    if not allocated:
        return
    area = flat["floor_area_m2"]
    row.flats_allocated += 1
    row.m2_allocated += area
    if _counted(_date(flat["handed_over_on"]), since, w.day):
        row.flats_handed_over += 1
        row.m2_handed_over += area
    if _counted(_date(flat["certified_on"]), since, w.day):
        row.flats_certified += 1
        row.m2_certified += area


def _counted(day: date | None, since: date, until: date) -> bool:
    """Whether a hand-over, title or sign-off falls in the days counted (the campaign's)."""
    return day is not None and since <= day <= until


# Each relocation target of a campaign (its own, or the year's) at its value in force at
# :as_of (now when NULL), by the land targets' rule (TARGET_IN_FORCE).
_TARGET_VALUES = f"""
    SELECT DISTINCT ON (v.target_id) t.admin_unit_id, t.campaign_id, v.households, v.flats,
           v.floor_area_m2
    FROM relocation_target_versions v JOIN relocation_targets t ON t.id = v.target_id
    WHERE (t.campaign_id = CAST(:campaign_id AS int)
           OR t.year = :year AND t.campaign_id IS NULL)
      AND {TARGET_IN_FORCE.format(v="v")}"""


def campaign_targets(session: Session, chosen: CampaignView, as_of: date | None = None) -> list:
    """Each unit's relocation target in the campaign, as it stood at the end of `as_of`
    (None: now): its own, else the one set for the year it starts in (no campaign named),
    which every campaign of that year shares."""
    params = {
        "campaign_id": chosen.id,
        "year": chosen.year,
        "as_of": end_of_day(as_of) if as_of else None,
    }
    found = session.execute(text(_TARGET_VALUES), params).all()
    best = {}
    for t in sorted(found, key=lambda t: t.campaign_id is not None):
        best[t.admin_unit_id] = t  # the campaign's own comes last, and wins
    return list(best.values())


def _add_targets(session, w: _World, rows: dict, by: str, chosen, only, as_of) -> None:
    for t in campaign_targets(session, chosen, as_of):
        unit = w.units[t.admin_unit_id]
        district_id = unit.id if unit.level == "district" else unit.parent_id
        if unit.level != by or (only and district_id != only):
            continue
        row = rows.setdefault(unit.id, _unit_row(w, unit))
        row.target_households, row.target_flats = t.households, t.flats
        row.target_m2 = t.floor_area_m2


def _owner(session: Session, district: str, township: str | None) -> AdminUnit:
    owner = find_district(session, district)
    return find_township(session, township, district=owner) if township else owner


def find_target(
    session: Session,
    district: str,
    township: str | None,
    year: int | None,
    campaign: "str | CampaignView | None" = None,
) -> RelocationTarget | None:
    """The unit's own target for the campaign, or (no campaign) the year's; None if unset."""
    if isinstance(campaign, str):
        campaign = campaigns.find_campaign(session, campaign)
    keyed = (
        RelocationTarget.campaign_id == campaign.id
        if campaign
        else (RelocationTarget.year == year) & RelocationTarget.campaign_id.is_(None)
    )
    owner = _owner(session, district, township)
    return session.scalar(
        select(RelocationTarget).where(RelocationTarget.admin_unit_id == owner.id, keyed)
    )


def set_target(
    session: Session,
    *,
    district: str,
    township: str | None,
    year: int | None = None,
    households: int | None,
    flats: int | None,
    m2: float | None,
    actor: str,
    campaign: str | None = None,
    now: datetime | None = None,
) -> RelocationTarget:
    """Create or change a unit's relocation target (households, flats, m²): a campaign's
    own, or a year's (the fallback of every campaign starting in it). Each value is kept
    as a version from `now` (who, when); the same value again makes none."""
    if (year is None) == (campaign is None):
        raise InvalidInput("give exactly one of --year and --campaign")
    named = campaigns.find_campaign(session, campaign) if campaign is not None else None
    year = named.year if named else year
    if households is None and flats is None and m2 is None:
        raise InvalidInput(
            "give at least one of --households, --flats and --m2",
            rule="relocation_target_empty", params={},
        )  # fmt: skip
    if any(v is not None and v < 0 for v in (households, flats, m2)):
        raise InvalidInput("a target cannot be negative", rule="target_negative", params={})
    target = find_target(session, district, township, year, named) or RelocationTarget(
        admin_unit_id=_owner(session, district, township).id, year=year,
        campaign_id=named.id if named else None,
    )  # fmt: skip
    if target.id is not None and (target.households, target.flats, target.floor_area_m2) == (
        households, flats, m2,
    ):  # fmt: skip
        return target
    now = now or datetime.now(CAMPAIGN_TZ)
    target.households, target.flats, target.floor_area_m2 = households, flats, m2
    target.updated_by, target.updated_at = actor, now
    session.add(target)
    session.flush()
    values = {"households": households, "flats": flats, "floor_area_m2": m2}
    record_version(session, RelocationTargetVersion, target, actor, now, "relocation", values)
    return target


def target_history(
    session: Session,
    district: str,
    township: str | None,
    year: int | None = None,
    campaign: "str | CampaignView | None" = None,
) -> list[dict]:
    """Every value a unit's relocation target had (a campaign's own, or a year's): who set
    it, from when until when, and what it was before."""
    if campaign is None and year is None:
        raise InvalidInput(
            "give the campaign (or its year) the target is for",
            rule="target_campaign_missing", params={},
        )  # fmt: skip
    if isinstance(campaign, str):
        campaign = campaigns.find_campaign(session, campaign)
    if campaign is not None and year is not None and campaign.year != year:
        raise InvalidInput(
            f"campaign {campaign.name} starts in {campaign.year}, not {year}",
            rule="target_campaign_year",
            params={"campaign": campaign.name, "year": campaign.year, "asked": year},
        )
    target = find_target(session, district, township, year, campaign)
    if target is None:
        where = "/".join(x for x in (district, township) if x)
        named = campaign.name if campaign else year
        raise NotFound(
            f"no relocation target for {where} in {named}",
            rule="target", params={"kind": "relocation", "unit": where, "campaign": named},
        )  # fmt: skip
    versions = session.scalars(
        select(RelocationTargetVersion)
        .where(RelocationTargetVersion.target_id == target.id)
        .order_by(RelocationTargetVersion.version)
        # valid_to is written by the database (closing a version): not what was loaded.
        .execution_options(populate_existing=True)
    ).all()
    history, before = [], None
    for v in versions:
        value = {"households": v.households, "flats": v.flats, "m2": v.floor_area_m2}
        history.append({
            "version": v.version, **value, "changed_by": v.changed_by,
            "valid_from": v.valid_from, "valid_to": v.valid_to, "before": before,
        })  # fmt: skip
        before = value
    return history


# --- 两逾: overdue hand-overs and titles --------------------------------------------------


@dataclass
class OverdueCase:
    kind: str  # handover (逾期未回迁) or title (逾期未办证)
    label: str
    household: str
    head_name: str | None
    district: str
    township: str
    project: str | None
    project_name: str | None
    due: date
    days_overdue: int
    flats_due: int
    flats_handed_over: int
    flats_certified: int
    allowance_paid: float  # transition allowance (过渡费) paid so far
    responsible_unit: str | None
    responsible_person: str | None
    deadline: date | None  # the responsibility list's deadline for clearing it

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("due", "deadline"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def months_paid(start: date | None, until: date) -> int:
    """Transition allowance is paid monthly in advance: each month begun counts, from the
    start date (15 March → 14 April is one month; 15 April begins the second)."""
    if start is None or until < start:
        return 0
    months = (until.year - start.year) * 12 + until.month - start.month
    return months + (1 if until.day >= start.day else 0)


def title_due(household: dict) -> date | None:
    if household.get("title_deadline"):
        return _date(household["title_deadline"])
    promised = _date(household.get("promised_handover"))
    days = get_settings().relocation_title_days
    return promised + timedelta(days=days) if promised else None


def overdue(
    session: Session,
    as_of: date | None = None,
    district: str | None = None,
    kind: str | None = None,
    can_see_personal: bool | frozenset[int] = False,
    day: date | None = None,
) -> list[OverdueCase]:
    """Households past their promised hand-over without keys, and past their certificate
    deadline without titles, at the end of `as_of` (default: today, or the end of the
    campaign year once it is over), most overdue first."""
    if kind is not None and kind not in OVERDUE_KINDS:
        raise InvalidInput(
            f"kind must be handover or title, not {kind!r}",
            rule="overdue_kind", params={"value": kind, "choices": ", ".join(OVERDUE_KINDS)},
        )  # fmt: skip
    w = world(session, as_of, day)
    only = find_district(session, district).id if district else None
    names = _names(session, w, can_see_personal)
    responsibility = _responsibility(session, w)
    cases = []
    for h in w.households.values():
        township = w.units[h["township_id"]]
        if not relocating(h) or (only and township.parent_id != only):
            continue
        for case_kind, due in _overdue_kinds(w, h):
            if kind and case_kind != kind:
                continue
            cases.append(_case(w, h, case_kind, due, names, responsibility))
    return sorted(cases, key=lambda c: (-c.days_overdue, c.household, c.kind))


def _overdue_kinds(w: _World, h: dict):
    promised = _date(h.get("promised_handover"))
    if promised and promised < w.day and w.handed_on(h) is None:
        yield "handover", promised
    deadline = title_due(h)
    if deadline and deadline < w.day and w.titled_on(h) is None:
        yield "title", deadline


def _case(w: _World, h: dict, kind: str, due: date, names, responsibility) -> OverdueCase:
    township = w.units[h["township_id"]]
    project = w.projects.get(h["project_id"]) if h.get("project_id") else None
    flats = w.flats_of.get(h["id"], [])
    keys_on = w.handed_on(h)
    paid_until = min(w.day, keys_on) if keys_on else w.day
    months = months_paid(_date(h.get("transition_start")), paid_until)
    unit, person, deadline = responsibility.get(project["id"] if project else None, (None,) * 3)
    return OverdueCase(
        kind=kind,
        label=OVERDUE_KINDS[kind],
        household=h["ref"],
        head_name=names.get(h["id"]),
        district=w.units[township.parent_id].name,
        township=township.name,
        project=project["code"] if project else None,
        project_name=project["name"] if project else None,
        due=due,
        days_overdue=(w.day - due).days,
        flats_due=h["flats_due"],
        flats_handed_over=sum(_on(f["handed_over_on"], w.day) for f in flats),
        flats_certified=sum(_on(f["certified_on"], w.day) for f in flats),
        allowance_paid=round(months * (h.get("monthly_allowance") or 0.0), 2),
        responsible_unit=unit,
        responsible_person=person,
        deadline=deadline,
    )


def _names(session, w: _World, can_see_personal) -> dict[int, str | None]:
    return {
        h_id: shown_name(h.get("head_name"), can_see_personal, h["township_id"])
        for h_id, h in w.households.items()
    }


def _responsibility(session, w: _World) -> dict:
    """Resettlement project id → (unit, person, deadline) from its responsibility list."""
    ids = {p["responsibility_id"] for p in w.projects.values() if p.get("responsibility_id")}
    lists = {p.id: p for p in session.scalars(select(Project).where(Project.id.in_(ids)))}
    found = {}
    for p in w.projects.values():
        r = lists.get(p.get("responsibility_id"))
        if r is not None:
            found[p["id"]] = (r.department, r.direct_responsible or r.first_responsible, r.deadline)
    return found


# --- 清零: clearing the open cases --------------------------------------------------------


def clearance(session: Session, year: int | None = None, as_of: date | None = None) -> list[dict]:
    """Per district, the 两逾 cases open at the start of the year (end of 31 December
    before) and at the day asked for: how many of the first are cleared (清零), how many
    opened since, and the month-end counts in between (the history)."""
    year = year or (as_of.year if as_of else get_settings().campaign_year)
    day = as_of or default_day(year, session)
    if day.year != year:
        raise InvalidInput(
            f"--as-of {day} is not in {year}",
            rule="as_of_year",
            params={"day": str(day), "year": year},
        )
    checkpoints = [date(year - 1, 12, 31), *_month_ends(year, day)]
    found = [(d, _open_by_district(session, d)) for d in checkpoints]
    # "Now" is the records as they stand, unless a day was asked for.
    found.append((day, _open_by_district(session, as_of, day)))
    districts = sorted({name for _, cases in found for name in cases})
    return [_clearance_row(name, year, day, found) for name in districts]


def _clearance_row(name: str, year: int, day: date, found: list) -> dict:
    def count(cases: set, kind: str | None = None) -> int:
        return sum(1 for _, k in cases if kind is None or k == kind)

    series = [(d, cases.get(name, set())) for d, cases in found]
    start, now = series[0][1], series[-1][1]
    return {
        "district": name,
        "year": year,
        "as_of": day.isoformat(),
        "open_at_start": count(start),
        "open_handover_at_start": count(start, "handover"),
        "open_title_at_start": count(start, "title"),
        "open_now": count(now),
        "open_handover_now": count(now, "handover"),
        "open_title_now": count(now, "title"),
        "cleared": len(start - now),  # open at the start of the year, closed since
        "opened": len(now - start),  # fell overdue during the year, still open
        "history": [
            {"day": d.isoformat(), "handover": count(c, "handover"), "title": count(c, "title")}
            for d, c in series
        ],
    }


def _month_ends(year: int, day: date) -> list[date]:
    ends = []
    for month in range(1, 13):
        end = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(1)
        if end < day:
            ends.append(end)
    return ends


def _open_by_district(session: Session, as_of: date | None, day: date | None = None) -> dict:
    """District → the open cases, each as (household, kind)."""
    found: dict[str, set[tuple[str, str]]] = {}
    for case in overdue(session, as_of=as_of, day=day):
        found.setdefault(case.district, set()).add((case.household, case.kind))
    return found


# --- for the map ------------------------------------------------------------------------


def township_links(
    session: Session,
    year: int | None = None,
    as_of: date | None = None,
    district=None,
    campaign: "str | CampaignView | None" = None,
) -> list[dict]:
    """Per resettlement project and township it takes households from: households due a
    flat there, and those handed over in the campaign (the map's lines)."""
    chosen, day = campaign_days(session, campaign, year, as_of)
    w = world(session, as_of, day=day)
    only = find_district(session, district).id if district else None
    links: dict[tuple[int, int], dict] = {}
    for h in w.households.values():
        project = w.projects.get(h.get("project_id"))
        if not relocating(h) or project is None or (only and project["district_id"] != only):
            continue
        township = w.units[h["township_id"]]
        link = links.setdefault(
            (project["id"], township.id),
            {
                "project": project["code"],
                "township": township.name,
                "households": 0,
                "handed_over": 0,
            },
        )
        link["households"] += 1
        link["handed_over"] += _counted(w.handed_on(h), chosen.first_day, w.day)
    return sorted(links.values(), key=lambda x: (x["project"], x["township"]))
