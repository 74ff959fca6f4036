"""Users, passwords and sign-ins.

Passwords are hashed with argon2id (argon2-cffi). A sign-in is an opaque random secret
(a browser session or an API token from the OAuth2 password flow); only its SHA-256 is
stored, so a copy of the database gives no usable token. Every sign-in expires, and each
can be revoked (sign out, or disabling the user revokes all of theirs).
"""

import functools
import hashlib
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo_service import database
from geo_service.accounts import audit
from geo_service.errors import InvalidInput, NotFound, TooManyAttempts, Unauthorized
from geo_service.models import (
    ROLES,
    VERIFICATION_GROUPS,
    AdminUnit,
    AuthToken,
    SigninThrottle,
    User,
)
from geo_service.settings import get_settings
from geo_service.units import find_district, find_township

_hasher = PasswordHasher()
# What each role is for, in the words the CLI and the pages show.
ROLE_LABELS = {
    "admin": "管理员 admin: users, targets, reference data, projects",
    "leader": "领导 leader: reads everything in its district (or the city); changes nothing",
    "planner": "规划 planner: reads and exports; changes nothing",
    "verifier": "核验组 verifier: uploads, moves, verifies and disputes its group's kind "
    "in its townships (回迁核验组: signs households' relocation off)",
    "officer": "乡镇 township officer: uploads and moves parcels up to delivered in its "
    "townships; never verifies",
}


@functools.cache
def dummy_hash() -> str:
    """A hash to spend the same time on unknown user names as on wrong passwords. Made on
    first use, not at import: argon2id takes 64 MiB and tens of milliseconds, which every
    command (an import of parcels too) paid at start-up; the web app makes it when it is
    created, so its first sign-in takes no longer than the next."""
    return _hasher.hash("not a password")


@dataclass(frozen=True)
class Principal:
    """The signed-in user as every layer sees it: who, what role, where."""

    id: int
    username: str
    display_name: str
    role: str
    group: str | None = None
    district_id: int | None = None
    township_ids: frozenset[int] = field(default_factory=frozenset)
    # Districts the user sees; None is the whole city.
    district_ids: frozenset[int] | None = None
    source: str | None = None

    def with_source(self, source: str | None) -> "Principal":
        return Principal(**{**self.__dict__, "source": source})

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of work this user's verification group signs off."""
        return frozenset(k for k, g in VERIFICATION_GROUPS.items() if g == self.group)


def hash_password(password: str) -> str:
    _check_password(password)
    return _hasher.hash(password)


def _check_password(password: str) -> None:
    if len(password or "") < get_settings().password_min_length:
        least = get_settings().password_min_length
        raise InvalidInput(
            f"a password needs at least {least} characters",
            rule="password_short", params={"limit": least},
        )  # fmt: skip


def generate_password() -> str:
    return secrets.token_urlsafe(12)


# --- users ---------------------------------------------------------------------------------


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}", rule="user", params={"name": username})
    return user


def principal(session: Session, user: User, source: str | None = None) -> Principal:
    township_ids = frozenset(t.id for t in user.townships)
    if user.district_id is not None:
        districts = frozenset({user.district_id})
    elif township_ids:
        districts = frozenset(t.parent_id for t in user.townships)
    else:
        districts = None
    return Principal(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        group=user.group_name,
        district_id=user.district_id,
        township_ids=township_ids,
        district_ids=districts,
        source=source,
    )


def acting_user(session: Session, username: str, source: str | None = None) -> Principal:
    """The named, active user (the CLI's --as)."""
    user = find_user(session, username)
    if not user.active:
        raise Unauthorized(
            f"user {username!r} is disabled", rule="user_disabled", params={"name": username}
        )
    return principal(session, user, source)


def create_user(
    session: Session,
    username: str,
    *,
    role: str,
    password: str,
    display_name: str | None = None,
    group: str | None = None,
    district: str | None = None,
    townships: list[str] | None = None,
    by: str,
    source: str | None = None,
) -> User:
    username = (username or "").strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise InvalidInput(
            "a user name is 1 to 64 characters without spaces", rule="user_name", params={}
        )
    if session.scalar(select(User.id).where(User.username == username)):
        raise InvalidInput(
            f"user {username!r} already exists", rule="user_exists", params={"name": username}
        )
    user = User(
        username=username,
        display_name=(display_name or username).strip(),
        password_hash=hash_password(password),
        active=True,
        created_by=by,
        updated_by=by,
    )
    _set_scope(session, user, role, group, district, townships or [])
    session.add(user)
    session.flush()
    audit.record(session, by, "user.add", username, source=source, **_describe(user))
    return user


def _set_scope(session, user: User, role, group, district, townships: list[str]) -> None:
    if role not in ROLES:
        raise InvalidInput(
            f"role must be one of {', '.join(ROLES)}, not {role!r}",
            rule="user_role", params={"choices": ", ".join(ROLES), "value": role},
        )  # fmt: skip
    groups = sorted(set(VERIFICATION_GROUPS.values()))
    if role == "verifier" and group not in groups:
        raise InvalidInput(
            f"a verifier belongs to one group: {', '.join(groups)}",
            rule="user_group", params={"choices": ", ".join(groups)},
        )  # fmt: skip
    if role != "verifier" and group:
        raise InvalidInput(
            "only verifiers belong to a verification group", rule="user_group_role", params={}
        )
    units = [find_township(session, t) for t in townships]
    if role in ("verifier", "officer") and not units:
        raise InvalidInput(
            f"a {role} needs the townships they work in (--township)",
            rule="user_townships", params={"role": role},
        )  # fmt: skip
    if role not in ("verifier", "officer") and units:
        raise InvalidInput(
            f"a {role} is scoped by district, not by township",
            rule="user_no_townships", params={"role": role},
        )  # fmt: skip
    user.role, user.group_name = role, group if role == "verifier" else None
    user.district = find_district(session, district) if district else None
    user.townships = units


def _describe(user: User) -> dict:
    return {
        "role": user.role,
        "display_name": user.display_name,
        "group": user.group_name,
        "district": user.district.name if user.district else None,
        "townships": sorted(t.name for t in user.townships),
        "active": user.active,
    }


def set_role(
    session: Session,
    username: str,
    *,
    role: str,
    group: str | None = None,
    district: str | None = None,
    townships: list[str] | None = None,
    by: str,
    source: str | None = None,
) -> User:
    user = find_user(session, username)
    before = _describe(user)
    _set_scope(session, user, role, group, district, townships or [])
    _touch(user, by)
    # New powers take effect at the next sign-in: old sessions carry the old scope's trust.
    revoke_all(session, user)
    audit.record(
        session, by, "user.set_role", username, source=source, before=before, after=_describe(user)
    )
    return user


def set_active(
    session: Session, username: str, active: bool, *, by: str, source: str | None = None
) -> User:
    user = find_user(session, username)
    before = user.active
    user.active = active
    _touch(user, by)
    if not active:
        revoke_all(session, user)
    action = "user.enable" if active else "user.disable"
    audit.record(session, by, action, username, source=source, before=before, after=active)
    return user


def reset_password(
    session: Session,
    username: str,
    password: str | None = None,
    *,
    by: str,
    source: str | None = None,
) -> str:
    """Set a new password (generated when none is given) and sign the user out everywhere."""
    user = find_user(session, username)
    password = password or generate_password()
    user.password_hash = hash_password(password)
    _touch(user, by)
    revoke_all(session, user)
    audit.record(session, by, "user.reset_password", username, source=source)
    return password


def _touch(user: User, by: str) -> None:
    user.updated_by, user.updated_at = by, datetime.now(UTC)


def list_users(session: Session) -> list[dict]:
    users = session.scalars(select(User).order_by(User.role, User.username)).all()
    return [{"username": u.username, **_describe(u)} for u in users]


def ensure_first_admin(session: Session, password: str | None = None) -> tuple[str, str] | None:
    """Create the user `admin` when there is no user at all; returns its name and one-time
    password (the given one, or a generated one to print once)."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = password or generate_password()
    create_user(
        session,
        "admin",
        role="admin",
        password=password,
        display_name="管理员",
        by="db upgrade",
        source="cli",
    )
    return "admin", password


# --- sign-in -------------------------------------------------------------------------------


# Sign-in in three steps, so the costly middle one can be bounded by the caller and no step
# holds a database connection while another waits (api/auth.sign_in):
# begin_sign_in counts the attempt, password_matches runs argon2, finish_sign_in decides.


@dataclass(frozen=True)
class SignInAttempt:
    username: str
    address: str
    # The user's hash, or dummy_hash() for an unknown name: both take the same time.
    password_hash: str
    user_id: int | None
    active: bool


def begin_sign_in(username: str, source: str | None = None) -> SignInAttempt:
    """Count an attempt for (name, address) before any password is checked, or raise
    TooManyAttempts while that pair waits out its delay. The count is taken under the
    pair's row lock, so attempts sent at once are counted one after the other and never
    all checked against the same count."""
    address = source or ""
    # No user name is longer than 64: a longer one is kept short in the table and the log.
    username = username[:65]
    with database.session_scope() as own:
        wait = _count_attempt(own, username, address)
        if wait:
            audit.record(own, None, "login", username, outcome="locked", source=source)
        user = None if wait else own.scalar(select(User).where(User.username == username))
        attempt = SignInAttempt(
            username=username,
            address=address,
            password_hash=user.password_hash if user else dummy_hash(),
            user_id=user.id if user else None,
            active=bool(user and user.active),
        )
    if wait:
        raise TooManyAttempts(
            f"too many failed sign-ins for {username!r} from this address: try again in "
            f"{wait} seconds",
            retry_after=wait,
        )
    return attempt


def _count_attempt(session: Session, username: str, address: str) -> int:
    """Seconds the pair must still wait (nothing counted), or 0 once this attempt is
    counted. Reaching LOGIN_MAX_FAILURES starts the delay at once, so no further attempt
    from the address is checked until it ends, whatever arrives meanwhile."""
    settings = get_settings()
    now = datetime.now(UTC)
    key = {"username": username, "address": address}
    session.execute(
        pg_insert(SigninThrottle)
        .values(**key, attempts=0, last_attempt_at=now)
        .on_conflict_do_nothing()
    )
    row = session.get(
        SigninThrottle, (username, address), with_for_update=True, populate_existing=True
    )
    if row.locked_until is not None and row.locked_until > now:
        return math.ceil((row.locked_until - now).total_seconds())
    if row.last_attempt_at < now - timedelta(minutes=settings.login_window_minutes):
        row.attempts = 0
    row.attempts += 1
    row.last_attempt_at = now
    row.locked_until = None
    if row.attempts >= settings.login_max_failures:
        row.locked_until = now + timedelta(seconds=signin_delay(row.attempts))
    _forget_quiet_pairs(session, now)
    return 0


def signin_delay(attempts: int) -> float:
    """The wait after `attempts` attempts from one address (at least LOGIN_MAX_FAILURES)."""
    settings = get_settings()
    doublings = min(attempts - settings.login_max_failures, 40)
    return min(settings.login_delay_seconds * 2**doublings, settings.login_lockout_minutes * 60)


_next_forget = 0.0


def _forget_quiet_pairs(session: Session, now: datetime) -> None:
    """Names are whatever a client sends, so pairs quiet past the window are deleted (once
    a minute at most) rather than kept for ever."""
    global _next_forget
    if time.monotonic() < _next_forget:
        return
    _next_forget = time.monotonic() + 60
    quiet = now - timedelta(minutes=get_settings().login_window_minutes)
    session.execute(
        delete(SigninThrottle).where(
            SigninThrottle.last_attempt_at < quiet,
            or_(SigninThrottle.locked_until.is_(None), SigninThrottle.locked_until < now),
        )
    )


def password_matches(attempt: SignInAttempt, password: str) -> bool:
    """The argon2 check: 64 MiB and tens of milliseconds of a core. No database."""
    return _password_matches(attempt.password_hash, password)


def finish_sign_in(session: Session, attempt: SignInAttempt, matched: bool) -> Principal:
    """The signed-in user, their address's count cleared, in the caller's transaction; or
    Unauthorized, audited in a short transaction of its own (the caller's is rolled back)
    while the caller's session holds no connection: a refusal never needs two."""
    if matched and attempt.active:
        user = session.get(User, attempt.user_id)
        session.execute(
            delete(SigninThrottle).where(
                SigninThrottle.username == attempt.username,
                SigninThrottle.address == attempt.address,
            )
        )
        source = attempt.address or None
        audit.record(session, user.username, "login", attempt.username, source=source)
        return principal(session, user, source)
    audit.record_apart(
        None, "login", attempt.username, outcome="refused", source=attempt.address or None
    )
    raise Unauthorized("wrong user name or password, or the user is disabled")


def unlock(
    session: Session,
    username: str,
    *,
    address: str | None = None,
    by: str,
    source: str | None = None,
) -> int:
    """Clear the failed attempts counted against a user (from one address, or from all):
    the pairs waiting may sign in again at once. Returns how many pairs were cleared."""
    find_user(session, username)
    query = select(SigninThrottle).where(SigninThrottle.username == username)
    if address is not None:
        query = query.where(SigninThrottle.address == address)
    rows = session.scalars(query.with_for_update()).all()
    before = [
        {"address": r.address, "attempts": r.attempts, "locked_until": r.locked_until} for r in rows
    ]
    for row in rows:
        session.delete(row)
    session.flush()
    audit.record(
        session, by, "user.unlock", username, source=source, address=address, before=before
    )
    return len(rows)


def _password_matches(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password or "")
    except (VerificationError, InvalidHashError):
        return False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(session: Session, who: Principal, kind: str, minutes: int) -> str:
    """A new sign-in for `who`: the secret goes to the client, its hash to the database."""
    secret = secrets.token_urlsafe(32)
    session.add(
        AuthToken(
            user_id=who.id,
            token_hash=_digest(secret),
            kind=kind,
            expires_at=datetime.now(UTC) + timedelta(minutes=minutes),
        )
    )
    session.flush()
    return secret


# Tokens this process resolved lately: token hash -> (remembered until, on the monotonic
# clock; the token's own expiry; who). Only live tokens are remembered, for at most
# TOKEN_CACHE_SECONDS, so another worker's revocation is honoured within that time; this
# process's own revocations forget everything at once (and again at their commit).
_resolved: dict[str, tuple[float, datetime, Principal]] = {}
_RESOLVED_MAX = 10_000
_clock = time.monotonic  # a name of its own: tests move it on


def resolve_token(session: Session, secret: str, source: str | None = None) -> Principal | None:
    """The user a live sign-in belongs to, or None (unknown, expired, revoked, disabled)."""
    if not secret or len(secret) > 200:
        return None
    who = remembered_token(secret, source)
    if who is not None:
        return who
    digest = _digest(secret)
    token = session.scalar(
        select(AuthToken).where(
            AuthToken.token_hash == digest,
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > func.now(),
        )
    )
    if token is None or not token.user.active:
        return None
    who = principal(session, token.user)
    _remember(digest, token.expires_at, who)
    return who.with_source(source)


def remembered_token(secret: str, source: str | None = None) -> Principal | None:
    """The user of a token this process resolved in the last TOKEN_CACHE_SECONDS and that
    has not expired since, else None (look it up: resolve_token). No database call."""
    if not secret or len(secret) > 200:
        return None
    digest = _digest(secret)
    remembered = _resolved.get(digest)
    if remembered is None:
        return None
    until, expires_at, who = remembered
    if until > _clock() and expires_at > datetime.now(UTC):
        return who.with_source(source)
    _resolved.pop(digest, None)
    return None


def _remember(digest: str, expires_at: datetime, who: Principal) -> None:
    seconds = get_settings().token_cache_seconds
    if seconds <= 0:
        return
    if len(_resolved) >= _RESOLVED_MAX:  # a bound, not a policy: tokens are few
        _resolved.clear()
    _resolved[digest] = (_clock() + seconds, expires_at, who)


def forget_resolved_tokens(session: Session | None = None) -> None:
    """Forget every remembered token now, and once more when `session` commits: a request
    resolving a token between now and that commit still read it as live."""
    _resolved.clear()
    if session is not None:
        event.listen(session, "after_commit", _forget_after_commit, once=True)


def _forget_after_commit(session: Session) -> None:
    _resolved.clear()


def revoke_token(session: Session, secret: str) -> None:
    session.execute(
        update(AuthToken)
        .where(AuthToken.token_hash == _digest(secret), AuthToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    forget_resolved_tokens(session)


def revoke_all(session: Session, user: User) -> None:
    session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    forget_resolved_tokens(session)


def set_four_eyes(
    session: Session, district: str, on: bool, *, by: str, source: str | None = None
) -> AdminUnit:
    unit = find_district(session, district)
    before, unit.four_eyes = unit.four_eyes, on
    audit.record(
        session, by, "district.four_eyes", unit.name, source=source, before=before, after=on
    )
    return unit
