"""Relocation (回迁): resettlement projects, households and flats, and their rules.

Households (被征迁户) hang off demolition parcels. Resettlement projects (安置房项目) have a
site, flats planned by size class and the townships they serve. Flats are allocated to
households (房源调度), handed over (交房) and certified (办证). A household is done when all
the flats it is due are handed over, and titled when they are all certified.

Every change to a household, flat or project writes a relocation_versions row holding the
record's whole state, the state before, who and when, so that a past day is reproducible
(relocation_tallies reads the versions). National ID numbers are never stored: only a
keyed hash (HMAC-SHA256 with RELOCATION_ID_SECRET), enough to find the same person twice.
"""

import hashlib
import hmac
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import ARRAY, Integer, any_, bindparam, inspect, select
from sqlalchemy.orm import Session

from geo_service.areas import geodesic_area_m2
from geo_service.campaign.projects import find_project
from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.errors import InvalidInput, NotFound, UploadRefused
from geo_service.models import (
    COMPENSATIONS,
    STORAGE_SRID,
    AdminUnit,
    Flat,
    Household,
    Parcel,
    RelocationVersion,
    ResettlementProject,
)
from geo_service.parcels.readers import read_features
from geo_service.parcels.validation import Report, check_geometries
from geo_service.settings import get_settings
from geo_service.units import find_district, find_township

COMPENSATION_NAMES = {"flats": "产权调换", "cash": "货币补偿", "mixed": "混合"}
_ENTITY = {Household: "household", Flat: "flat", ResettlementProject: "project"}
# Columns a version does not repeat: they describe the version itself.
_NOT_STATE = {"version", "updated_by", "updated_at", "geom"}
# Why a change may not be made: (rule, English message, figures), as
# permissions.signoff_refusal; the pages say the rule (geo_service/web/problems.py).
Refusal = tuple[str, str, dict]


# --- personal details -------------------------------------------------------------------


def mask_name(name: str | None) -> str | None:
    """张三 → 张*, 林志伟 → 林*伟, 欧阳娜娜 → 欧**娜: enough to tell a file apart, not to
    identify a family to someone whose role may not see names."""
    if not name:
        return name
    name = name.strip()
    if len(name) <= 2:
        return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def shown_name(name: str | None, can_see_personal, township_id: int | None = None):
    """The name in full when the reader may see it: can_see_personal is True (everyone's),
    False (no one's) or the set of townships whose households' names they may see."""
    if isinstance(can_see_personal, bool):
        return name if can_see_personal else mask_name(name)
    return name if township_id in can_see_personal else mask_name(name)


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalise_id_number(number: str) -> str:
    """An 18-character resident ID (GB 11643) with a valid check character, upper-case X."""
    value = str(number).strip().upper().replace(" ", "")
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        raise InvalidInput(
            "an ID number has 17 digits and a check digit or X", rule="id_number_form", params={}
        )
    check = _ID_CHECK[sum(int(d) * w for d, w in zip(value, _ID_WEIGHTS, strict=False)) % 11]
    if value[17] != check:
        raise InvalidInput(
            "the ID number's check digit does not match (mistyped?)",
            rule="id_number_check", params={},
        )  # fmt: skip
    return value


def hash_id_number(number: str) -> str:
    """Keyed hash of a normalised ID number; refuses when no secret is configured, since an
    unkeyed hash of an 18-digit ID is easily reversed."""
    secret = get_settings().relocation_id_secret
    if not secret:
        raise InvalidInput(
            "ID numbers are given but RELOCATION_ID_SECRET is not set: set it (a long random "
            "string, kept out of the database) or leave the ID column empty",
            rule="id_secret_missing",
            params={},
        )
    value = normalise_id_number(number)
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


# --- history ----------------------------------------------------------------------------


def state_of(record) -> dict:
    """The record's columns as JSON values (dates as ISO strings), plus served townships."""
    state = {}
    for column in inspect(type(record)).columns:
        if column.key in _NOT_STATE:
            continue
        value = getattr(record, column.key)
        state[column.key] = value.isoformat() if isinstance(value, date | datetime) else value
    if isinstance(record, ResettlementProject):
        state["township_ids"] = sorted(t.id for t in record.townships)
    return state


def record_change(
    session: Session,
    record,
    change: str,
    actor: str,
    now: datetime | None = None,
    before: dict | None = None,
    note: str | None = None,
) -> RelocationVersion:
    """Open a version with the record's state now (the database closes the one before)."""
    now = now or datetime.now(UTC)
    record.updated_by, record.updated_at = actor, now
    if record.id is None:
        session.flush()  # a new record gets its id; it has no version to close
    else:
        _check_forwards(session, [record], now)
        record.version = (record.version or 1) + 1
    version = _version(record, change, actor, now, before, note)
    session.add(version)
    return version


def _version(record, change, actor, now, before, note) -> RelocationVersion:
    return RelocationVersion(
        entity=_ENTITY[type(record)],
        entity_id=record.id,
        version=record.version or 1,
        change=change,
        state=state_of(record),
        before=before,
        changed_by=actor,
        valid_from=now,
        note=note,
    )


def _check_forwards(session: Session, records: list, now: datetime) -> None:
    """History must run forwards: a change dated before the state it ends is refused. (The
    database closes the current versions at `now` when the new ones are inserted.)"""
    for entity in {_ENTITY[type(r)] for r in records}:
        ids = [r.id for r in records if _ENTITY[type(r)] == entity]
        later = session.execute(
            select(RelocationVersion.entity_id, RelocationVersion.valid_from).where(
                RelocationVersion.entity == entity,
                RelocationVersion.entity_id == any_(bindparam("ids", ids, type_=ARRAY(Integer))),
                RelocationVersion.valid_to.is_(None),
                RelocationVersion.valid_from > now,
            )
        ).first()
        if later is not None:
            record = next(r for r in records if r.id == later[0] and _ENTITY[type(r)] == entity)
            at, current = f"{now:%Y-%m-%d %H:%M}", f"{later[1]:%Y-%m-%d %H:%M}"
            raise InvalidInput(
                f"{entity} {_label(record)}: a change at {at} is earlier than its current "
                f"state ({current})",
                rule="relocation_change_earlier",
                params={"entity": entity, "label": _label(record), "at": at, "current": current},
            )


def history(
    session: Session, entity: str, entity_id: int, can_see_personal: bool | frozenset = False
) -> list[dict]:
    """Every version of a record, oldest first; a household head's name as the reader may
    see it, and never the ID hash."""
    rows = session.scalars(
        select(RelocationVersion)
        .where(RelocationVersion.entity == entity, RelocationVersion.entity_id == entity_id)
        .order_by(RelocationVersion.version)
        # valid_to is written by the database (closing a version): not what was loaded.
        .execution_options(populate_existing=True)
    ).all()
    return [
        {
            "version": v.version,
            "change": v.change,
            "changed_by": v.changed_by,
            "valid_from": v.valid_from.isoformat(),
            "valid_to": v.valid_to.isoformat() if v.valid_to else None,
            "note": v.note,
            "before": _personal(v.before, can_see_personal),
            "state": _personal(v.state, can_see_personal),
        }
        for v in rows
    ]


def _personal(state: dict | None, can_see_personal) -> dict | None:
    if state is None or "head_name" not in state:
        return state
    shown = {k: v for k, v in state.items() if k != "id_hash"}
    shown["head_name"] = shown_name(state["head_name"], can_see_personal, state["township_id"])
    shown["id_recorded"] = state.get("id_hash") is not None
    return shown


def _label(record) -> str:
    if isinstance(record, Flat):
        return f"{record.building}-{record.unit}"
    return getattr(record, "ref", None) or getattr(record, "code", "?")


def save(session: Session, record, values: dict, actor: str, now=None, note=None) -> str:
    """Apply `values` to a record; write a version when anything changed. Returns
    created, changed or unchanged."""
    return save_many(session, [(record, values)], actor, now, note)[0]


def save_many(session: Session, items: list, actor: str, now=None, note=None) -> list[str]:
    """save() for many (record, values) pairs in a few statements: the new records in one
    insert, the versions in one insert (which closes the changed ones' versions before)."""
    now = now or datetime.now(UTC)
    outcomes, written = [], []
    for record, values in items:
        new = record.id is None
        before = None if new else state_of(record)
        for key, value in values.items():
            setattr(record, key, value)
        if not new and state_of(record) == before:
            outcomes.append("unchanged")
            continue
        record.updated_by, record.updated_at = actor, now
        if new:
            session.add(record)
        outcomes.append("created" if new else "changed")
        written.append((record, outcomes[-1], before))
    session.flush()
    changed = [r for r, outcome, _ in written if outcome == "changed"]
    if changed:
        _check_forwards(session, changed, now)
    for record in changed:
        record.version = (record.version or 1) + 1
    session.add_all(_version(r, change, actor, now, b, note) for r, change, b in written)
    session.flush()
    return outcomes


# --- finding records --------------------------------------------------------------------


def find_resettlement_project(session: Session, code: str) -> ResettlementProject:
    project = session.scalar(select(ResettlementProject).where(ResettlementProject.code == code))
    if project is None:
        raise NotFound(
            f"no resettlement project {code!r}; add it with `relocation project`",
            rule="resettlement_project", params={"code": code},
        )  # fmt: skip
    return project


def find_household(session: Session, ref: str, lock: bool = False) -> Household:
    query = select(Household).where(Household.ref == ref)
    if lock:
        query = query.with_for_update()
    household = session.scalar(query)
    if household is None:
        raise NotFound(
            f"no household {ref!r}; import the household roster first",
            rule="household", params={"ref": ref},
        )  # fmt: skip
    return household


def find_flat(session: Session, project: str, building: str, unit: str, lock=False) -> Flat:
    found = find_resettlement_project(session, project)
    query = select(Flat).where(
        Flat.project_id == found.id, Flat.building == building, Flat.unit == unit
    )
    if lock:
        query = query.with_for_update()
    flat = session.scalar(query)
    if flat is None:
        raise NotFound(
            f"no flat {building}-{unit} in {project}; import the flat list first",
            rule="flat", params={"flat": f"{building}-{unit}", "project": project},
        )  # fmt: skip
    return flat


# --- resettlement projects --------------------------------------------------------------


def save_project(
    session: Session,
    *,
    code: str,
    name: str,
    district: str,
    townships: list[str],
    flats_by_size: dict[str, int] | None = None,
    floor_area_m2: float | None = None,
    planned_completion: date | None = None,
    actual_completion: date | None = None,
    responsibility: str | None = None,
    site: Path | None = None,
    site_crs: str | None = None,
    actor: str,
    now: datetime | None = None,
) -> tuple[ResettlementProject, str]:
    """Create or update a resettlement project (by code). The site polygon comes from any
    file the parcel uploads accept, checked the same way; its area is geodesic."""
    owner = find_district(session, district)
    served = [find_township(session, t, district=owner) for t in townships]
    if not served:
        raise InvalidInput(
            "a resettlement project serves at least one township",
            rule="project_townships", params={},
        )  # fmt: skip
    for size, count in (flats_by_size or {}).items():
        if int(count) < 0:
            raise InvalidInput(
                f"flats planned for size class {size} cannot be negative",
                rule="flats_planned_negative", params={"size": size},
            )  # fmt: skip
    if floor_area_m2 is not None and floor_area_m2 < 0:
        raise InvalidInput(
            "the total floor area cannot be negative", rule="floor_area_negative", params={}
        )
    if planned_completion and actual_completion and actual_completion < date(2000, 1, 1):
        raise InvalidInput(
            "the actual completion date is not plausible",
            rule="completion_implausible", params={"day": str(actual_completion)},
        )  # fmt: skip
    project = session.scalar(
        select(ResettlementProject).where(ResettlementProject.code == code).with_for_update()
    ) or ResettlementProject(code=code, version=1)
    values = {
        "name": name,
        "district_id": owner.id,
        "flats_by_size": {str(k): int(v) for k, v in (flats_by_size or {}).items()},
        "floor_area_m2": floor_area_m2,
        "planned_completion": planned_completion,
        "actual_completion": actual_completion,
        "responsibility_id": find_project(session, responsibility).id if responsibility else None,
    }
    if site is not None:
        geom = read_site(site, crs=site_crs)
        values["geom"] = from_shape(geom, srid=STORAGE_SRID)
        values["site_m2"] = float(geodesic_area_m2([geom])[0])
    before = None if project.id is None else state_of(project)
    reshaped = site is not None and (
        project.geom is None or not to_shape(project.geom).equals(geom)
    )
    for key, value in values.items():
        setattr(project, key, value)
    project.townships = served
    if project.id is None:
        session.add(project)
        record_change(session, project, "created", actor, now)
        return project, "created"
    if state_of(project) == before and not reshaped:
        return project, "unchanged"
    note = "site redrawn" if reshaped else None
    record_change(session, project, "changed", actor, now, before, note)
    return project, "changed"


def read_site(path: Path, crs: str | None = None):
    """The union of a file's polygons in EPSG:4490, or UploadRefused naming the problems."""
    read = read_features(Path(path), crs=crs)
    report = Report(filename=Path(path).name)
    report.problems.extend(read.problems)
    geoms = np.asarray(read.frame.geometry.values, dtype=object)
    codes = [None] * len(geoms)
    stored = check_geometries(geoms, codes, read.source, report)
    for i, geom in enumerate(stored):
        if geom is not None and not shapely.is_valid(geom):
            report.add(i + 1, None, "self_intersection", "the site outline crosses itself")
    if report.errors or not any(g is not None for g in stored):
        raise UploadRefused(report.summary() if report.errors else f"{report.filename}: no site")
    site = shapely.union_all([g for g in stored if g is not None])
    return site if site.geom_type == "MultiPolygon" else shapely.MultiPolygon([site])


# --- allocation (房源调度) ---------------------------------------------------------------


def allocation_problem(household: Household, flats_after: int) -> Refusal | None:
    """Why a household may not hold `flats_after` flats, as (rule, message, params), or
    None."""
    ref, due = household.ref, household.flats_due
    if household.compensation == "cash":
        message = f"household {ref} chose cash compensation (货币补偿): no flats are due"
        return "allocation_cash", message, {"ref": ref}
    if flats_after > due:
        message = f"household {ref} is due {due} flat(s); this would give it {flats_after}"
        return "allocation_over", message, {"ref": ref, "due": due, "count": flats_after}
    return None


def date_order_problem(
    allocated: date | None, handed_over: date | None, certified: date | None, allocated_to
) -> Refusal | None:
    """Why a flat's dates cannot be so, as (rule, message, params), or None: keys need an
    owner, a title needs the keys."""
    if handed_over and not allocated_to:
        return (
            "handover_unallocated",
            "a flat handed over (交房) must be allocated to a household",
            {},
        )
    if certified and not handed_over:
        return "title_before_handover", "a title (办证) needs the flat handed over (交房) first", {}
    if allocated and handed_over and handed_over < allocated:
        message = f"handed over {handed_over} before it was allocated ({allocated})"
        days = {"handed_over": str(handed_over), "allocated": str(allocated)}
        return "handover_before_allocation", message, days
    if handed_over and certified and certified < handed_over:
        message = f"certified {certified} before it was handed over ({handed_over})"
        days = {"certified": str(certified), "handed_over": str(handed_over)}
        return "certified_before_handover", message, days
    return None


def _flat_refused(flat: Flat, problem: Refusal) -> InvalidInput:
    """A flat's date-order problem as the refusal of a single change, naming the flat."""
    rule, message, params = problem
    label = _label(flat)
    return InvalidInput(
        f"flat {label}: {message}", rule=f"flat_{rule}", params={**params, "flat": label}
    )


def allocate(
    session: Session, flat: Flat, household: Household, day: date, actor: str, now=None
) -> str:
    """Give a flat to a household: never a flat twice, never more flats than due."""
    if flat.household_id is not None and flat.household_id != household.id:
        raise InvalidInput(
            f"flat {_label(flat)} is already allocated to another household",
            rule="flat_taken", params={"flat": _label(flat)},
        )  # fmt: skip
    if flat.household_id == household.id:
        return "unchanged"
    # Locked, so that two allocations to one household are counted one after the other.
    session.scalar(select(Household.id).where(Household.id == household.id).with_for_update())
    count = len(session.scalars(select(Flat.id).where(Flat.household_id == household.id)).all())
    problem = allocation_problem(household, count + 1)
    if problem:
        rule, message, params = problem
        raise InvalidInput(message, rule=rule, params=params)
    return save(session, flat, {"household_id": household.id, "allocated_on": day}, actor, now)


def hand_over(session: Session, flat: Flat, day: date, actor: str, now=None) -> str:
    """Record a flat's hand-over (交房): the keys need an owner, and come before a title."""
    return hand_over_many(session, [flat], day, actor, now)[0]


def hand_over_many(session: Session, flats: list[Flat], day: date, actor: str, now=None):
    for flat in flats:
        problem = date_order_problem(flat.allocated_on, day, flat.certified_on, flat.household_id)
        if problem:
            raise _flat_refused(flat, problem)
    items = [(flat, {"handed_over_on": day}) for flat in flats]
    return save_many(session, items, actor, now, note="交房")


def certify(session: Session, flat: Flat, day: date, actor: str, now=None) -> str:
    """Record a flat's title certificate (办证): only once it is handed over."""
    return certify_many(session, [flat], day, actor, now)[0]


def certify_many(session: Session, flats: list[Flat], day: date, actor: str, now=None):
    for flat in flats:
        problem = date_order_problem(flat.allocated_on, flat.handed_over_on, day, flat.household_id)
        if problem:
            raise _flat_refused(flat, problem)
    return save_many(session, [(flat, {"certified_on": day}) for flat in flats], actor, now, "办证")


# --- sign-off (回迁核验) -----------------------------------------------------------------


def signoff_problem(session: Session, household: Household, day: date) -> Refusal | None:
    """Why 回迁核验组 may not sign the household off on `day`, as (rule, message, params),
    or None: it must be due flats, hold all of them, and have had every one handed over
    (交房) by that day."""
    ref = household.ref
    if household.compensation == "cash":
        message = (
            f"household {ref} chose cash compensation (货币补偿): it has no relocation to sign off"
        )
        return "signoff_cash", message, {"ref": ref}
    if household.signoff == "verified":
        by, on = household.signed_off_by, str(household.signed_off_on)
        message = f"household {ref} is already signed off by {by} on {on}"
        return "signoff_already", message, {"ref": ref, "user": by, "day": on}
    flats = session.scalars(
        select(Flat).where(Flat.household_id == household.id).order_by(Flat.building, Flat.unit)
    ).all()
    held, due = len(flats), household.flats_due
    if held < due:
        message = (
            f"household {ref} holds {held} of the {due} flat(s) it is due: allocate and hand "
            "over all of them first"
        )
        return "signoff_flats_missing", message, {"ref": ref, "count": held, "due": due}
    waiting = [_label(f) for f in flats if f.handed_over_on is None or f.handed_over_on > day]
    if waiting:
        listed = ", ".join(waiting)
        message = f"household {ref}: not every flat is handed over (交房) by {day}: {listed}"
        return "signoff_not_handed_over", message, {"ref": ref, "day": str(day), "flats": listed}
    return None


def sign_off(
    session: Session,
    household: Household,
    day: date,
    actor: str,
    note: str | None = None,
    now: datetime | None = None,
) -> RelocationVersion:
    """回迁核验组 signs the household's relocation off as of `day` (not in the future, not
    before its last hand-over); a disputed household may be signed off again once settled."""
    if day > datetime.now(CAMPAIGN_TZ).date():
        raise InvalidInput(
            f"household {household.ref}: a sign-off cannot be dated after today",
            rule="household_signoff_future", params={"ref": household.ref, "day": str(day)},
        )  # fmt: skip
    problem = signoff_problem(session, household, day)
    if problem:
        rule, message, params = problem
        raise InvalidInput(message, rule=rule, params=params)
    before = state_of(household)
    household.signoff, household.signed_off_by, household.signed_off_on = "verified", actor, day
    household.dispute_reason = None
    return record_change(session, household, "verified", actor, now, before, _clean(note))


def dispute(
    session: Session, household: Household, reason: str, actor: str, now: datetime | None = None
) -> RelocationVersion:
    """A signed-off household is disputed and returned (with a reason): it stops counting
    as verified until 回迁核验组 signs it off again."""
    reason = _clean(reason)
    if not reason:
        raise InvalidInput(
            f"household {household.ref}: a dispute needs a reason",
            rule="household_dispute_reason", params={"ref": household.ref},
        )  # fmt: skip
    if household.signoff != "verified":
        raise InvalidInput(
            f"household {household.ref} is not signed off "
            f"({household.signoff or 'awaiting sign-off'}): only a sign-off can be disputed",
            rule="household_not_signed_off",
            params={"ref": household.ref},
        )
    before = state_of(household)
    household.signoff, household.dispute_reason = "disputed", reason
    return record_change(session, household, "disputed", actor, now, before, reason)


def _clean(text: str | None) -> str | None:
    return (text or "").strip() or None


# --- listing ----------------------------------------------------------------------------


def list_households(
    session: Session,
    township: str | None = None,
    project: str | None = None,
    can_see_personal: bool | frozenset[int] = False,
    districts: set[str] | None = None,
) -> list[dict]:
    """Households with their flats; names masked unless the caller's role may see them
    (see shown_name); only `districts` (by name) when given. The ID hash is never shown."""
    query = select(Household).order_by(Household.ref)
    if township:
        query = query.where(Household.township_id == find_township(session, township).id)
    if project:
        query = query.where(Household.project_id == find_resettlement_project(session, project).id)
    if districts is not None:
        named = select(AdminUnit.id).where(
            AdminUnit.level == "district", AdminUnit.name.in_(districts)
        )
        townships = select(AdminUnit.id).where(AdminUnit.parent_id.in_(named))
        query = query.where(Household.township_id.in_(townships))
    households = session.scalars(query).all()
    flats: dict[int, list[Flat]] = {}
    for flat in session.scalars(
        select(Flat).where(Flat.household_id.in_([h.id for h in households]))
    ):
        flats.setdefault(flat.household_id, []).append(flat)
    return [_household_dict(session, h, flats.get(h.id, []), can_see_personal) for h in households]


def _household_dict(session, h: Household, flats: list[Flat], can_see_personal: bool) -> dict:
    parcel = session.get(Parcel, h.parcel_id)
    return {
        "ref": h.ref,
        "head_name": shown_name(h.head_name, can_see_personal, h.township_id),
        "id_recorded": h.id_hash is not None,
        "parcel": parcel.code,
        "township": parcel.township.name,
        "compensation": h.compensation,
        "demolished_m2": h.demolished_m2,
        "flats_due": h.flats_due,
        "area_due_m2": h.area_due_m2,
        "transition_start": _iso(h.transition_start),
        "monthly_allowance": h.monthly_allowance,
        "promised_handover": _iso(h.promised_handover),
        "title_deadline": _iso(h.title_deadline),
        "signoff": h.signoff,
        "signed_off_by": h.signed_off_by,
        "signed_off_on": _iso(h.signed_off_on),
        "dispute_reason": h.dispute_reason,
        "flats": [
            {
                "building": f.building,
                "unit": f.unit,
                "floor_area_m2": f.floor_area_m2,
                "allocated_on": _iso(f.allocated_on),
                "handed_over_on": _iso(f.handed_over_on),
                "certified_on": _iso(f.certified_on),
            }
            for f in sorted(flats, key=lambda f: (f.building, f.unit))
        ],
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def check_compensation(value: str) -> str:
    """产权调换 / 货币补偿 / 混合 (or the English names) → flats / cash / mixed."""
    names = {
        **{v: k for k, v in COMPENSATION_NAMES.items()},
        "房屋产权调换": "flats",
        "产权调换+货币补偿": "mixed",
        "货币补偿+产权调换": "mixed",
    }
    text = str(value).strip()
    found = text if text in COMPENSATIONS else names.get(text)
    if found is None:
        raise InvalidInput(
            f"compensation {text!r} is none of 产权调换, 货币补偿, 混合",
            rule="compensation", params={"value": text},
        )  # fmt: skip
    return found


def flat_ids(session: Session, household_id: int) -> list[int]:
    """Every flat the household ever held, from the history (a flat taken back included)."""
    rows = session.scalars(
        select(RelocationVersion.entity_id)
        .where(
            RelocationVersion.entity == "flat",
            RelocationVersion.state["household_id"].as_integer() == household_id,
        )
        .distinct()
    )
    return sorted(rows)
