"""Relocation writes as a signed-in person: role and townships checked (permissions.py),
the change recorded under their name, and an audit line, in the caller's transaction.

The API and the CLI call these for every relocation write, as they call actions.py for
parcels; refusals are audited in a transaction of their own.
"""

from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from geo_service.accounts import audit, permissions
from geo_service.accounts.users import Principal
from geo_service.actions import _refusals_audited
from geo_service.models import Household
from geo_service.relocation import households, rosters, tallies


def _checked(who, township_ids, action: str, doing: str, target: str) -> Principal:
    guard = _refusals_audited(action, lambda: target)
    return guard(lambda w: permissions.check_relocation_change(w, township_ids, doing), who)


def _admin(who, action: str, doing: str, target: str) -> Principal:
    guard = _refusals_audited(action, lambda: target)
    return guard(lambda w: permissions.require_role(w, "admin", doing=doing), who)


def import_households(session: Session, who: Principal | None, path: Path, **options):
    """A roster: an officer may import households of their own townships only."""
    name = options.get("filename") or Path(path).name

    def authorize(township_ids):
        nonlocal who
        who = _checked(who, township_ids, "relocation.households", "import rosters", name)
        return who.username

    report = rosters.import_households(session, path, authorize=authorize, **options)
    _audit(session, who, "relocation.households", name, report)
    return report


def import_flats(session: Session, who: Principal | None, path: Path, **options):
    """A flat list: every township whose households get a flat (or, for a flat no one
    has yet, whose households the project takes) must be the officer's."""
    name = options.get("filename") or Path(path).name

    def authorize(township_ids):
        nonlocal who
        who = _checked(who, township_ids, "relocation.flats", "import flat lists", name)
        return who.username

    report = rosters.import_flats(session, path, authorize=authorize, **options)
    _audit(session, who, "relocation.flats", name, report)
    return report


def _audit(session, who, action: str, name: str, report) -> None:
    if report.dry_run:
        return
    audit.record(
        session, who.username, action, name, source=who.source, rows=report.rows,
        created=report.created, changed=report.changed, unchanged=report.unchanged,
    )  # fmt: skip


def flat_step(
    session: Session,
    who: Principal | None,
    step: str,
    project: str,
    building: str,
    unit: str,
    day: date,
    household: str | None = None,
) -> str:
    """allocate (to `household`), handover or certify one flat."""
    flat = households.find_flat(session, project, building, unit, lock=True)
    target = f"{project} {building}-{unit}"
    owner = None
    if step == "allocate":
        owner = households.find_household(session, household or "", lock=True)
        township_ids = {owner.township_id}
    elif flat.household_id is not None:
        township_ids = {session.get(Household, flat.household_id).township_id}
    else:
        township_ids = set()
    who = _checked(who, township_ids, f"relocation.{step}", f"{step} flats", target)
    if step == "allocate":
        outcome = households.allocate(session, flat, owner, day, who.username)
    elif step == "handover":
        outcome = households.hand_over(session, flat, day, who.username)
    else:
        outcome = households.certify(session, flat, day, who.username)
    audit.record(session, who.username, f"relocation.{step}", target, source=who.source,
                 day=day, household=household, outcome=outcome)  # fmt: skip
    return outcome


def save_project(session: Session, who: Principal | None, **project):
    """Resettlement projects are reference data of the campaign: admins only."""
    who = _admin(who, "relocation.project", "record resettlement projects", project["code"])
    found, outcome = households.save_project(session, actor=who.username, **project)
    details = {k: v for k, v in project.items() if k not in ("site",)}
    audit.record(session, who.username, "relocation.project", project["code"],
                 source=who.source, outcome_kind=outcome, **details)  # fmt: skip
    return found, outcome


def set_target(session: Session, who: Principal | None, **target):
    place = "/".join(x for x in (target["district"], target.get("township")) if x)
    who = _admin(who, "relocation.target", "set relocation targets", place)
    keys = [target.get(k) for k in ("district", "township", "year", "campaign")]
    earlier = tallies.find_target(session, *keys) if target.get("district") else None
    # What it was before, on record beside the new values (None: there was none).
    before = earlier and {"households": earlier.households, "flats": earlier.flats,
                          "m2": earlier.floor_area_m2}  # fmt: skip
    found = tallies.set_target(session, actor=who.username, **target)
    audit.record(session, who.username, "relocation.target", place, source=who.source,
                 before=before, **target)  # fmt: skip
    return found


def sign_off(
    session: Session,
    who: Principal | None,
    ref: str,
    day: date | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> dict:
    """回迁核验组 signs a household off (default: today), once its flats are all handed
    over; recorded under the verifier's name and group, never a name from the request."""
    household = households.find_household(session, ref, lock=True)
    guard = _refusals_audited("relocation.verify", lambda: f"household {ref}")
    check = permissions.check_household_signoff
    who = guard(lambda w: check(session, w, household, "verify"), who)
    day = day or tallies.today()
    version = households.sign_off(session, household, day, who.username, note, now)
    audit.record(session, who.username, "relocation.verify", f"household {ref}",
                 source=who.source, group=who.group, day=day, note=note,
                 version=version.version)  # fmt: skip
    return _signoff_result(household, version, who)


def dispute(
    session: Session, who: Principal | None, ref: str, reason: str, now: datetime | None = None
) -> dict:
    """回迁核验组 disputes (returns) a signed-off household, with a reason."""
    household = households.find_household(session, ref, lock=True)
    guard = _refusals_audited("relocation.dispute", lambda: f"household {ref}")
    check = permissions.check_household_signoff
    who = guard(lambda w: check(session, w, household, "dispute"), who)
    version = households.dispute(session, household, reason, who.username, now)
    audit.record(session, who.username, "relocation.dispute", f"household {ref}",
                 source=who.source, group=who.group, reason=reason,
                 version=version.version)  # fmt: skip
    return _signoff_result(household, version, who)


def _signoff_result(household: Household, version, who: Principal) -> dict:
    return {
        "household": household.ref,
        "signoff": household.signoff,
        "signed_off_by": household.signed_off_by,
        "signed_off_on": household.signed_off_on.isoformat() if household.signed_off_on else None,
        "group": who.group,
        "dispute_reason": household.dispute_reason,
        "version": version.version,
        "changed_by": version.changed_by,
    }
