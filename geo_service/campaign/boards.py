"""What the wall board (看板) and the public page (向社会公开) show.

The board: one card per township of a district (or per district at city level) with the
annual target and what is verified per kind, the ranking for the period (rank, change),
a behind-schedule flag (verified below the period's planned share of the target: the
ranking's own figure), the last verifications and the responsible persons.

The public page carries figures only: progress by city, district and township and project
counts by category; no person's name, no parcel code, no household.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from geo_service.areas import m2_to_mu
from geo_service.campaign import campaigns, rankings, register, tallies
from geo_service.campaign.campaigns import CampaignView
from geo_service.campaign.tallies import end_of_day
from geo_service.models import AdminUnit, Parcel, Project
from geo_service.periods import Period, parse_period
from geo_service.settings import get_settings
from geo_service.units import find_city, find_district

KIND_LABELS = {"land": "交地", "demolition": "拆迁"}
RECENT = 3


def default_period(
    today: date | None = None, campaign: CampaignView | None = None
) -> rankings.Period:
    """The quarter of today held within the campaign (the campaign year without one): its
    last quarter once it is over, its first before it starts."""
    today = today or register.today()
    if campaign is not None:
        day = min(max(today, campaign.first_day), campaign.last_day)
        return rankings.Period(day.year, quarter=(day.month - 1) // 3 + 1)
    year = get_settings().campaign_year
    if today.year == year:
        return rankings.Period(year, quarter=(today.month - 1) // 3 + 1)
    return rankings.Period(year, quarter=4 if today.year > year else 1)


@dataclass
class BoardView:
    level: str  # township (cards per township of `district`) or district (city level)
    district: str | None
    period: rankings.Period
    # The campaign shown: the one under way today (else the latest) unless picked.
    campaign: CampaignView | None = None
    # Every campaign's name, for the page's picker.
    campaigns: tuple[str, ...] = ()
    # An earlier campaign set beside it (2016年百日攻坚 beside 攻坚2017), or None.
    compare: CampaignView | None = None
    # compare=last_year: the period's own figures beside the same days a year earlier.
    last_year: bool = False

    @classmethod
    def make(
        cls,
        level: str | None,
        district: str | None,
        period: "Period | str | None",
        session: Session | None = None,
        campaign: str | None = None,
        compare: str | None = None,
    ) -> "BoardView":
        level = level or "township"
        chosen, names = None, ()
        if session is not None:
            parsed = parse_period(period) if period else None
            chosen = campaigns.resolve_held(
                session,
                campaign,
                as_of=parsed.end if parsed else None,
                asked=parsed and str(parsed),
            )
            names = tuple(c.name for c in campaigns.all_campaigns(session))
        parsed = parse_period(period) if period else default_period(campaign=chosen)
        if level == "township":
            district = district or get_settings().default_district
        last_year = compare == tallies.LAST_YEAR
        earlier = None
        if session and compare and not last_year:
            earlier = campaigns.find_campaign(session, compare)
        place = district if level == "township" else None
        return cls(level, place, parsed, chosen, names, earlier, last_year)

    @property
    def as_of(self) -> date:
        """The period's last day, held within the campaign shown."""
        end = self.period.end
        if self.campaign is not None:
            end = min(max(end, self.campaign.first_day), self.campaign.last_day)
        return end


def board(session: Session, view: BoardView) -> dict:
    end = view.as_of
    ranking = rankings.rank(
        session, view.level, view.period, district=view.district, campaign=view.campaign
    )
    by_unit = {r["unit"]: r for r in ranking["rows"]}
    rows = tallies.tally(
        session,
        by=view.level,
        year=None if view.campaign else view.period.year,
        as_of=end,
        district=view.district if view.level == "township" else None,
        campaign=view.campaign,
    )
    figures = _by_unit(view, rows)
    now, before, compared_with = figures, {}, None
    if view.compare:
        before, compared_with = _by_unit(view, _compared_rows(session, view)), view.compare.name
    elif view.last_year:
        now, before, compared_with = _same_days_last_year(session, view)
    units = _units(session, view)
    recent = _recent_verifications(session, units, end)
    persons = _persons(session, view, units)
    cards = []
    for unit in units:
        ranked = by_unit.get(unit.name, {})
        kinds = []
        for kind, label in KIND_LABELS.items():
            r = figures.get(unit.name, {}).get(kind)
            part = ranked.get(kind)
            figure = _kind_figure(kind, label, r, part)
            if compared_with:
                then = before.get(unit.name, {}).get(kind)
                figure["compare"] = _compare_figure(kind, now.get(unit.name, {}).get(kind), then)
            kinds.append(figure)
        cards.append(
            {
                "unit": unit.name,
                "code": unit.code,
                "rank": ranked.get("rank"),
                "tied": ranked.get("tied", False),
                "change": ranked.get("change"),
                "score": ranked.get("score"),
                "behind": any(k["behind"] for k in kinds),
                "kinds": kinds,
                "recent": recent.get(unit.id, []),
                "persons": persons.get(unit.id, []),
            }
        )
    return {
        "level": view.level,
        "district": view.district,
        "total": _total(session, view, end),
        "title": f"{view.district or find_city(session).name} {_name(view)} 看板",
        "campaign": _name(view),
        "campaigns": list(view.campaigns),
        "demo": bool(view.campaign and view.campaign.demo),
        "compare": compared_with,
        "compare_choice": tallies.LAST_YEAR if view.last_year else compared_with,
        "period": str(view.period),
        "as_of": min(end, date.fromisoformat(ranking["as_of"])).isoformat(),  # not a day to come
        "previous_period": ranking["previous_period"],
        "tie_rule": ranking["tie_rule"],
        "cards": cards,
    }


def _total(session: Session, view: BoardView, end) -> dict:
    """The district's (or the city's) own figures on the board's day (the period's end,
    held within the campaign): its target, what is verified per kind, and what is left."""
    by = "district" if view.level == "township" else "city"
    rows = tallies.tally(
        session,
        by=by,
        year=None if view.campaign else view.period.year,
        campaign=view.campaign,
        as_of=end,
        district=view.district,
    )
    kinds = []
    for kind, label in KIND_LABELS.items():
        row = next((r for r in rows if r.kind == kind), None)
        figure = _kind_figure(kind, label, row, None)
        left = None if row is None or row.target_m2 is None else row.target_m2 - row.verified_m2
        figure["remaining"] = _shown(kind, None if left is None else max(left, 0.0))
        kinds.append(figure)
    return {"unit": view.district or find_city(session).name, "kinds": kinds}


def _shown(kind: str, m2: float | None):
    """An area as the board shows it: land in mu to 0.1, demolition in whole m²."""
    if m2 is None:
        return None
    return round(m2_to_mu(m2), 1) if kind == "land" else round(m2)


def _by_unit(view: BoardView, rows) -> dict[str, dict]:
    figures: dict[str, dict] = {}
    for r in rows:
        name = r.township if view.level == "township" else r.district
        figures.setdefault(name, {})[r.kind] = r
    return figures


def _compared_rows(session: Session, view: BoardView) -> list:
    """The earlier campaign's figures, final (as at its last day, or now if still on)."""
    other = view.compare
    return tallies.tally(
        session,
        by=view.level,
        campaign=other,
        as_of=min(other.last_day, register.today()),
        district=view.district if view.level == "township" else None,
    )


def _same_days_last_year(session: Session, view: BoardView) -> tuple[dict, dict, str]:
    """The period's own figures (its first day to the board's day) and those of the same
    days a year earlier, per unit, and the earlier period's name (2016Q2)."""
    rows = tallies.year_over_year(
        session, by=view.level, period=view.period, as_of=view.as_of, exact=True,
        district=view.district if view.level == "township" else None,
    )  # fmt: skip
    now, before = {}, {}
    for r in rows:
        name = r["township"] if view.level == "township" else r["district"]
        now.setdefault(name, {})[r["kind"]] = _Verified(r["verified_m2"], r["progress"])
        then = _Verified(r["compare_verified_m2"], r["compare_progress"])
        before.setdefault(name, {})[r["kind"]] = then
    label = rows[0]["compare_campaign"] if rows else str(view.period.a_year_earlier())
    return now, before, label


@dataclass(frozen=True)
class _Verified:
    verified_m2: float
    progress: float | None


def _compare_figure(kind: str, row, before) -> dict:
    """The earlier campaign's verified area and progress beside this one's, and the
    difference (this − earlier), in the card's unit."""
    scale = (lambda m2: round(m2_to_mu(m2), 1)) if kind == "land" else round
    now = row.verified_m2 if row else 0.0
    then = before.verified_m2 if before else 0.0
    return {
        "verified": scale(then),
        "progress": before.progress if before else None,
        "change": scale(now - then),
    }


def _name(view: BoardView) -> str:
    return view.campaign.name if view.campaign else f"攻坚{view.period.year}"


def _kind_figure(kind: str, label: str, row, part: dict | None) -> dict:
    target = row.target_m2 if row else None
    verified = row.verified_m2 if row else 0.0
    unit = "mu" if kind == "land" else "m2"
    period_target = part.get("period_target_m2") if part else None

    def shown(m2):
        return _shown(kind, m2)

    return {
        "kind": kind,
        "label": label,
        "unit": "亩" if unit == "mu" else "m²",
        "target": shown(target),
        "verified": shown(verified),
        "period_target": shown(period_target),
        "progress": None if not target else verified / target,
        "planned_share": part.get("planned_share") if part else None,
        # Behind schedule: verified below the period's share of the target.
        "behind": bool(part and part.get("value") is not None and part["value"] < 1),
    }


def _units(session: Session, view: BoardView) -> list[AdminUnit]:
    parent = (
        find_district(session, view.district) if view.level == "township" else find_city(session)
    )
    return list(
        session.scalars(
            select(AdminUnit).where(AdminUnit.parent_id == parent.id).order_by(AdminUnit.code)
        )
    )


def _recent_verifications(session: Session, units: list[AdminUnit], end: date) -> dict:
    """unit id → the last verifications on record by the end of `end` (current state of
    parcels verified by then)."""
    ids = [u.id for u in units]
    township_of = {u.id: u.id for u in units}
    if units and units[0].level == "district":
        townships = session.execute(
            select(AdminUnit.id, AdminUnit.parent_id).where(AdminUnit.parent_id.in_(ids))
        ).all()
        township_of = {t: d for t, d in townships}
    parcels = session.execute(
        select(Parcel)
        .where(
            Parcel.township_id.in_(list(township_of)),
            Parcel.status == "verified",
            Parcel.verified_at < end_of_day(end),
        )
        .order_by(Parcel.verified_at.desc(), Parcel.id.desc())
    ).scalars()
    found: dict[int, list] = {}
    for p in parcels:
        items = found.setdefault(township_of[p.township_id], [])
        if len(items) < RECENT:
            items.append(
                {
                    "code": p.code,
                    "kind": KIND_LABELS[p.kind],
                    "mu": round(m2_to_mu(p.verified_area_m2 or p.area_m2), 1),
                    "verifier": p.verified_by,
                    "date": p.verified_at.astimezone(tallies.CAMPAIGN_TZ).date().isoformat(),
                }
            )
    return found


def _persons(session: Session, view: BoardView, units: list[AdminUnit]) -> dict:
    """unit id → the responsible persons of its projects (first responsible first)."""
    projects = session.scalars(select(Project).options(selectinload(Project.townships))).all()
    found: dict[int, list[str]] = {}
    ids = {u.id for u in units}
    for p in projects:
        owners = (
            {t.id for t in p.townships} if view.level == "township" else {p.district_id}
        ) & ids
        for owner in owners:
            names = found.setdefault(owner, [])
            for name in (p.first_responsible, p.direct_responsible):
                if name and name not in names:
                    names.append(name)
    return {k: v[:4] for k, v in found.items()}


# --- the public page --------------------------------------------------------------------


def public(session: Session, year: int | None = None, campaign: str | None = None) -> dict:
    """Figures only (see the module's doc): nothing here names a person or a parcel; for
    the campaign shown by default (or the one named, or the one a year names), 截至 the
    day every page is (a closed campaign: its last day). A year no campaign ran is refused,
    as on the other pages."""
    chosen = campaigns.resolve_held(session, campaign, year)
    levels = ("city", "district", "township")
    rows = {by: tallies.tally(session, by=by, campaign=chosen) for by in levels}

    def figure(r) -> dict:
        unit = "亩" if r.kind == "land" else "m²"
        scale = m2_to_mu if r.kind == "land" else (lambda v: v)
        return {
            "kind": r.kind,
            "label": KIND_LABELS[r.kind],
            "unit": unit,
            "verified": None if r.verified_m2 is None else round(scale(r.verified_m2), 1),
            "target": None if r.target_m2 is None else round(scale(r.target_m2), 1),
            "progress": None if not r.target_m2 else r.verified_m2 / r.target_m2,
        }

    districts: dict[str, dict] = {}
    for r in rows["district"]:
        districts.setdefault(r.district, {"name": r.district, "kinds": [], "townships": {}})
        districts[r.district]["kinds"].append(figure(r))
    for r in rows["township"]:
        entry = districts.setdefault(r.district, {"name": r.district, "kinds": [], "townships": {}})
        entry["townships"].setdefault(r.township, []).append(figure(r))
    projects = session.scalars(select(Project).options(selectinload(Project.district))).all()
    return {
        "year": chosen.year,
        "campaign": chosen.name,
        "campaigns": [c.name for c in campaigns.all_campaigns(session)],
        "demo": chosen.demo,
        "as_of": chosen.reference_day().isoformat(),
        "city": {
            "name": find_city(session).name,
            "kinds": [figure(r) for r in rows["city"]],
        },
        "districts": [
            {**d, "townships": [{"name": k, "kinds": v} for k, v in d["townships"].items()]}
            for d in districts.values()
        ],
        "projects": register.counts(list(projects)),
    }
