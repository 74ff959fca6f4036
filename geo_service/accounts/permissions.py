"""Who may do what, and where: the one place the roles are decided.

| role      | may                                                                          |
|-----------|------------------------------------------------------------------------------|
| verifier  | upload, change status, verify, dispute and return: its group's kind, in its   |
|           | townships                                                                    |
| officer   | upload and move parcels up to delivered/demolished in its townships; never   |
|           | verifies, disputes or settles a dispute                                      |
| leader    | read everything in its district (or the city); change nothing                |
| planner   | read and export; change nothing                                              |
| admin     | users, targets, reference data, projects; withdraws parcels (as verifiers   |
|           | may in their scope); reads the kept files of uploads; relocation records    |
|           | and targets                                                                  |
| officer   | (relocation) households, flats, hand-overs and titles in its townships;      |
|           | reads the names of its townships' households                                 |
| verifier  | (回迁核验组) signs off and disputes households in its townships; never moves  |
|           | flats                                                                        |
| anonymous | the public page and /healthz                                                 |
"""

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_service.accounts.users import Principal
from geo_service.errors import Forbidden, Unauthorized
from geo_service.models import (
    VERIFICATION_GROUPS,
    AdminUnit,
    Flat,
    Household,
    Parcel,
    ParcelVersion,
    RelocationVersion,
    Upload,
)
from geo_service.periods import CHINA
from geo_service.settings import get_settings
from geo_service.units import find_district

# The statuses a township officer may move a parcel into.
OFFICER_MOVES = frozenset({"in_progress", "delivered", "demolished"})


def signed_in(who: Principal | None) -> Principal:
    if who is None:
        raise Unauthorized("sign in first")
    return who


def require_role(who: Principal | None, *roles: str, doing: str) -> Principal:
    who = signed_in(who)
    if who.role not in roles:
        raise Forbidden(
            f"{who.username} ({who.role}) may not {doing}; that needs {_any(roles)}",
            rule="role", params={"user": who.username, "role": who.role},
        )  # fmt: skip
    return who


def _any(roles) -> str:
    return " or ".join(roles)


def can_read_district(who: Principal | None, district_id: int | None) -> bool:
    if who is None:
        return False
    return who.district_ids is None or district_id in who.district_ids


def visible_district_names(session: Session, who: Principal | None) -> set[str] | None:
    """The districts a signed-in user sees by name; None is every district."""
    who = signed_in(who)
    if who.district_ids is None:
        return None
    ids = sorted(who.district_ids)
    return set(session.scalars(select(AdminUnit.name).where(AdminUnit.id.in_(ids))))


def home_district(session: Session, who: Principal | None, default: str) -> str:
    """The district a user's pages open on: their own when they have exactly one."""
    names = visible_district_names(session, who)
    return next(iter(names)) if names and len(names) == 1 else default


def check_read_district(who: Principal | None, district: AdminUnit) -> None:
    who = signed_in(who)
    if not can_read_district(who, district.id):
        raise Forbidden(
            f"{who.username} may not see {district.name}",
            rule="district", params={"user": who.username, "district": district.name},
        )  # fmt: skip


def check_read_city(who: Principal | None, city: AdminUnit) -> None:
    """The city level (every district at once) is for city-wide users only."""
    who = signed_in(who)
    if who.district_ids is not None:
        raise Forbidden(
            f"{who.username} may not see all of {city.name}: name their district",
            rule="city", params={"user": who.username, "city": city.name},
        )  # fmt: skip


def _check_township(who: Principal, township: AdminUnit, doing: str) -> None:
    if township.id not in who.township_ids:
        raise Forbidden(
            f"{who.username} may not {doing} in {township.name}: not one of their townships",
            rule="township", params={"user": who.username, "township": township.name},
        )  # fmt: skip


def _check_kind(who: Principal, kind: str, doing: str) -> None:
    if kind not in who.kinds:
        group = VERIFICATION_GROUPS.get(kind, "?")
        raise Forbidden(
            f"{who.username} ({who.group}) may not {doing} {kind} parcels: that is {group}'s work",
            rule="kind",
            params={"user": who.username, "group": who.group, "kind": kind, "owner": group},
        )


def check_upload(who: Principal | None, township: AdminUnit, kind: str, status: str | None):
    """Who may send a file at all; what it asks for each parcel is `signoff_refusal`'s,
    feature by feature (a form's status is asked for every feature)."""
    who = require_role(who, "verifier", "officer", doing="upload parcels")
    _check_township(who, township, "upload")
    if who.role == "verifier":
        _check_kind(who, kind, "upload")
    refusal = signoff_refusal(who, kind, township, status) if status else None
    if refusal:
        rule, message, params = refusal
        raise Forbidden(message, rule=rule, params=params)
    return who


def check_township_override(who: Principal | None, kind: str) -> Principal:
    """Crediting a parcel to a township it mostly lies outside (township outlines may be
    approximate): only a verifier of its kind, who answers for the register, and with a
    reason on record. Officers, who are credited, never; admins do not upload."""
    who = require_role(
        who, "verifier", doing="credit parcels to a township they lie outside (override)"
    )
    _check_kind(who, kind, "credit to another township")
    return who


# The statuses from which a parcel is signed off: its kind's "done" (workflow.TRANSITIONS);
# a verified one may be confirmed again. A parcel new to the register may come in verified:
# the file is its survey and its sign-off at once.
SIGNED_OFF_FROM = frozenset({"delivered", "demolished", "verified"})


def signoff_refusal(
    who: Principal,
    kind: str,
    township: AdminUnit,
    to: str,
    current: str | None = None,
    hands: Callable[[], str | None] = lambda: None,
) -> tuple[str, str, dict] | None:
    """The one rule for asking a parcel's status, on every path (the verify and status API,
    a form's status, each feature's status column): why `who` may not move a `kind` parcel
    in `township` from `current` (None: new, or not known here) to `to`, as (rule, message,
    params) (the pages say the rule in the reader's language); None when they may.

    Role and group: officers move parcels up to delivered/demolished, never out of a
    dispute; only the kind's verification group signs off. Township: the user's own.
    Four eyes, where the district has it on: `hands()` says what `who` did to the parcel
    (uploaded, delivered) that bars them from signing it off, None when nothing."""
    user = who.username
    if township.id not in who.township_ids:
        return (
            "signoff_township",
            f"{user} may not set the status of parcels in {township.name}: "
            "not one of their townships",
            {"user": user, "township": township.name},
        )
    group = VERIFICATION_GROUPS.get(kind, "?")
    if who.role == "officer":
        if to in OFFICER_MOVES | {"planned"} and current != "disputed":
            return None
        return (
            "signoff_officer",
            f"{user} (township officer) may move parcels up to delivered or "
            f"demolished, not to {to}; signing off and settling a dispute is {group}'s work",
            {"user": user, "status": to, "owner": group},
        )
    if who.role != "verifier" or kind not in who.kinds:
        return (
            "signoff_group",
            f"{user} ({who.group or who.role}) may not set {kind} parcels {to}: "
            f"that is {group}'s work",
            {"user": user, "group": who.group or who.role, "kind": kind, "status": to,
             "owner": group},
        )  # fmt: skip
    if to != "verified":
        return None
    if current is not None and current not in SIGNED_OFF_FROM:
        return (
            "signoff_not_done",
            f"a {current} parcel is not signed off: it is verified once delivered/demolished",
            {"current": current},
        )
    district = township.parent
    did = hands() if district is not None and district.four_eyes else None
    if did:
        return (
            "four_eyes",
            f"{district.name} requires four eyes: {user} {did} and may not also verify it",
            {"district": district.name, "user": user, "hands": did},
        )
    return None


def field_day_refusal(
    who: Principal, day: date | datetime | None, now: datetime | None = None
) -> tuple[str, str, dict] | None:
    """Why `who` may not date a change on `day` (核验日期), as (rule, message, params), or
    None: never a day after today (in China) or a moment after now; a day further back than
    the back-dating window (settings.backdate_window_days) only an admin records."""
    if day is None:
        return None
    now = now or datetime.now(UTC)
    today = now.astimezone(CHINA).date()
    moment = day if isinstance(day, datetime) else None
    day = day.astimezone(CHINA).date() if moment else day
    if day > today or (moment is not None and moment > now):
        shown = f"{moment:%Y-%m-%d %H:%M}" if moment else f"{day}"
        return (
            "field_day_future",
            f"the field day {shown} is in the future: a change is dated on the day it "
            f"happened, at the latest today ({today})",
            {"day": shown, "today": str(today)},
        )
    window = get_settings().backdate_window_days
    if (today - day).days > window and who.role != "admin":
        return (
            "field_day_window",
            f"the field day {day} is {(today - day).days} days ago, more than the "
            f"back-dating window of {window} days: an admin records it (import in migration "
            "mode)",
            {"day": str(day), "days": (today - day).days, "window": window},
        )
    return None


def check_parcel_change(
    session: Session, who: Principal | None, parcel: Parcel, action: str, to: str | None = None
) -> Principal:
    """`action` is status, verify or dispute; `to` the status a status change goes to.
    Which moves exist is workflow.TRANSITIONS (checked there); who may make them here."""
    doing = {"status": "change the status of", "verify": "verify", "dispute": "dispute"}[action]
    roles = ("verifier", "officer") if action == "status" else ("verifier",)
    who = require_role(who, *roles, doing=f"{doing} parcels")
    _check_township(who, parcel.township, doing)
    if action == "dispute":
        _check_kind(who, parcel.kind, doing)
        return who
    current = parcel.status if who.role == "officer" else None
    refusal = signoff_refusal(
        who, parcel.kind, parcel.township, to if action == "status" else "verified",
        current=current, hands=lambda: _hands_on(session, who, parcel),
    )  # fmt: skip
    if refusal:
        rule, message, params = refusal
        raise Forbidden(message, rule=rule, params=params)
    return who


def check_parcel_photo(who: Principal | None, parcel: Parcel) -> Principal:
    """Adding a photo to a parcel's record is part of checking it on site: whoever may
    verify or dispute it (a verifier of its kind in its township)."""
    doing = "add photos to"
    who = require_role(who, "verifier", doing=f"{doing} parcels")
    _check_township(who, parcel.township, doing)
    _check_kind(who, parcel.kind, doing)
    return who


def check_withdraw(who: Principal | None, parcel: Parcel) -> Principal:
    """Withdrawing takes a parcel off every tally: an admin, or a verifier of its kind in its
    township (the people who answer for the register there)."""
    who = require_role(who, "admin", "verifier", doing="withdraw parcels")
    if who.role == "verifier":
        _check_township(who, parcel.township, "withdraw parcels")
        _check_kind(who, parcel.kind, "withdraw")
    return who


def _hands_on(session: Session, who: Principal, parcel: Parcel) -> str | None:
    """What `who` did to a stored parcel that bars them from verifying it under four eyes:
    uploaded or delivered it."""
    delivered_by = session.scalars(
        select(ParcelVersion.changed_by).where(
            ParcelVersion.parcel_id == parcel.id,
            ParcelVersion.status.in_(("delivered", "demolished")),
        )
    ).all()
    uploaded_by = session.scalars(
        select(Upload.actor)
        .join(ParcelVersion, ParcelVersion.upload_id == Upload.id)
        .where(ParcelVersion.parcel_id == parcel.id)
    ).all()
    if who.username in {parcel.created_by, *delivered_by, *uploaded_by}:
        return f"uploaded or delivered parcel {parcel.code}"
    return None


def readable_district(session: Session, who: Principal | None, district: str | None) -> str | None:
    """The district a read is for: the one asked for when the user may see it; else the
    user's own when they have exactly one; None (every district) for city-wide users."""
    if district:
        check_read_district(who, find_district(session, district))
        return district
    names = visible_district_names(session, who)
    if names is None:
        return None
    if len(names) == 1:
        return next(iter(names))
    listed = ", ".join(sorted(names))
    raise Forbidden(
        f"name a district: one of {listed}", rule="name_district", params={"names": listed}
    )


# --- relocation (回迁) ---------------------------------------------------------------------


def check_relocation_change(who: Principal | None, township_ids: set[int], doing: str):
    """Households, flats and their dates: an admin, or a township officer when every
    township the change touches is theirs (a flat list for a project serving two
    townships needs both, or an admin)."""
    who = require_role(who, "admin", "officer", doing=doing)
    if who.role == "officer":
        outside = set(township_ids) - who.township_ids
        if outside or not township_ids:
            raise Forbidden(
                f"{who.username} may not {doing}: it touches townships that are not theirs"
            )
    return who


def check_household_signoff(
    session: Session, who: Principal | None, household: Household, action: str
) -> Principal:
    """`action` is verify or dispute: a verifier of 回迁核验组 in the household's township;
    in a four-eyes district not one who put the household or its flats on record."""
    doing = {"verify": "sign off", "dispute": "dispute"}[action]
    who = require_role(who, "verifier", doing=f"{doing} households' relocation")
    township = session.get(AdminUnit, household.township_id)
    _check_township(who, township, f"{doing} households")
    if "relocation" not in who.kinds:
        raise Forbidden(
            f"{who.username} ({who.group}) may not {doing} households' relocation: that is "
            f"{VERIFICATION_GROUPS['relocation']}'s work"
        )
    district = session.get(AdminUnit, township.parent_id) if township.parent_id else None
    if action == "verify" and district is not None and district.four_eyes:
        _check_household_four_eyes(session, who, household, district)
    return who


def _check_household_four_eyes(session, who: Principal, household: Household, district) -> None:
    """Whoever imported the household or allocated, handed over or certified its flats
    does not also sign it off (earlier sign-offs and disputes are the verifiers' own)."""
    flats = select(RelocationVersion.entity_id).where(
        RelocationVersion.entity == "flat",
        RelocationVersion.state["household_id"].as_integer() == household.id,
    )
    held = session.scalars(select(Flat.id).where(Flat.household_id == household.id)).all()
    hands = session.scalars(
        select(RelocationVersion.changed_by).where(
            (
                (RelocationVersion.entity == "household")
                & (RelocationVersion.entity_id == household.id)
                & RelocationVersion.change.not_in(("verified", "disputed"))
            )
            | (
                (RelocationVersion.entity == "flat")
                & (RelocationVersion.entity_id.in_(flats) | RelocationVersion.entity_id.in_(held))
            )
        )
    ).all()
    if who.username in set(hands):
        raise Forbidden(
            f"{district.name} requires four eyes: {who.username} recorded household "
            f"{household.ref} or its flats and may not also sign it off"
        )


def personal_townships(who: Principal | None) -> bool | frozenset[int]:
    """Whose household heads' names a user may read: an admin everyone's, a township
    officer their townships' households'; leaders, planners and verifiers none (masked)."""
    if who is None:
        return False
    if who.role == "admin":
        return True
    if who.role == "officer":
        return who.township_ids
    return False
