"""What a signed-in person does: check their role and scope, run the use case under their
name, and write the audit line, all in the caller's one transaction.

The API, the CLI and the pages call these and nothing lower for a write, so a rule about
who may do what lives in permissions.py and is applied the same way everywhere. A refusal
is audited in a transaction of its own (the refused request's own one is rolled back).
"""

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from geo_service import reference
from geo_service.accounts import audit, permissions
from geo_service.accounts.users import Principal
from geo_service.campaign import campaigns, register, targets
from geo_service.campaign.projects import import_projects
from geo_service.errors import Forbidden, InvalidInput, NotFound, Unauthorized, UploadRefused
from geo_service.models import VERIFICATION_GROUPS, Parcel
from geo_service.parcels import kept_files, photos, workflow
from geo_service.parcels.uploads import ImportOptions, ImportReport, import_file, resolve_township


def _refusals_audited(action: str, target: Callable[[], str | None]):
    """Run a check; a refusal is written to the audit log before it propagates."""

    def wrap(check, who: Principal | None, *args, **kwargs):
        try:
            return check(who, *args, **kwargs)
        except (Forbidden, Unauthorized) as exc:
            audit.record_apart(
                who.username if who else None,
                action,
                target(),
                outcome="refused",
                source=who.source if who else None,
                reason=str(exc),
            )
            raise

    return wrap


def _label(parcel: Parcel) -> str:
    return f"parcel {parcel.code} ({parcel.township.name}, {parcel.kind}, id {parcel.id})"


def _parcel_check(session, who, parcel, action, to=None):
    guard = _refusals_audited(f"parcel.{action}", lambda: _label(parcel))
    return guard(lambda w: permissions.check_parcel_change(session, w, parcel, action, to), who)


def change_status(
    session: Session,
    who: Principal | None,
    parcel: Parcel,
    to: str,
    note: str | None = None,
    expected: int | None = None,
    on: date | datetime | None = None,
) -> workflow.Transition:
    """`expected`: the parcel version the caller saw (a Conflict when it has moved on);
    `on`: the day (or moment) it happened in the field, when not now (核验日期)."""
    if to == "disputed":
        return dispute(session, who, parcel, note or "", expected=expected, on=on)
    if to == "withdrawn":
        return withdraw(session, who, parcel, note or "", expected=expected, on=on)
    who = _parcel_check(session, who, parcel, "status", to)
    _check_field_day(who, parcel, on)
    before = parcel.status
    done = workflow.set_status(
        session, parcel, to, who.username, note=note, expected=expected, on=on
    )
    audit.record(
        session, who.username, "parcel.status", _label(parcel), source=who.source,
        before=before, after=done.status, note=note, **_field_day(done, on),
    )  # fmt: skip
    return done


def _check_field_day(who: Principal, parcel: Parcel, on) -> None:
    """A field day in the future is refused; one beyond the back-dating window needs an
    admin (a refusal on record)."""
    refusal = permissions.field_day_refusal(who, on)
    if refusal is None:
        return
    rule, message, params = refusal
    params = {**params, "code": parcel.code}
    if rule == "field_day_future":
        raise InvalidInput(f"{_label(parcel)}: {message}", rule=rule, params=params)
    guard = _refusals_audited("parcel.field_day", lambda: _label(parcel))

    def refuse(_who):
        raise Forbidden(f"{_label(parcel)}: {message}", rule=rule, params=params)

    guard(refuse, who)


def _field_day(done: workflow.Transition, on) -> dict:
    """The audit line's two times when the change is dated back."""
    if on is None:
        return {}
    return {"happened_at": done.changed_at.isoformat(), "recorded_at": done.recorded_at.isoformat()}


def verify(
    session: Session,
    who: Principal | None,
    parcel: Parcel,
    note: str | None = None,
    expected: int | None = None,
    on: date | datetime | None = None,
) -> workflow.Transition:
    """The verifier and the group are the signed-in user's, never the request's; `on` the
    day (or moment) the sign-off happened in the field, when not now (核验日期)."""
    who = _parcel_check(session, who, parcel, "verify")
    _check_field_day(who, parcel, on)
    before = parcel.status
    done = workflow.verify(
        session, parcel, who.username, who.group, note=note, expected=expected, on=on
    )
    audit.record(
        session, who.username, "parcel.verify", _label(parcel), source=who.source,
        before=before, group=who.group, verified_area_m2=done.verified_area_m2, note=note,
        **_field_day(done, on),
    )  # fmt: skip
    return done


def dispute(
    session: Session, who: Principal | None, parcel: Parcel, reason: str, expected=None, on=None
) -> workflow.Transition:
    who = _parcel_check(session, who, parcel, "dispute")
    _check_field_day(who, parcel, on)
    done = workflow.dispute(session, parcel, reason, who.username, expected=expected, on=on)
    audit.record(
        session, who.username, "parcel.dispute", _label(parcel), source=who.source,
        before="verified", reason=reason, **_field_day(done, on),
    )  # fmt: skip
    return done


def withdraw(
    session: Session, who: Principal | None, parcel: Parcel, reason: str, expected=None, on=None
) -> workflow.Transition:
    """Soft delete: by an admin, or by a verifier of the parcel's kind in its township;
    `on` the day it was decided, when not now (the same rules as a sign-off's field day)."""
    guard = _refusals_audited("parcel.withdraw", lambda: _label(parcel))
    who = guard(lambda w: permissions.check_withdraw(w, parcel), who)
    _check_field_day(who, parcel, on)
    before = parcel.status
    done = workflow.withdraw(session, parcel, reason, who.username, expected=expected, on=on)
    audit.record(
        session, who.username, "parcel.withdraw", _label(parcel), source=who.source,
        before=before, reason=reason, **_field_day(done, on),
    )  # fmt: skip
    return done


def add_photo(
    session: Session, who: Principal | None, parcel: Parcel, sent: photos.PhotoSent
) -> tuple:
    """A photo of the parcel, by whoever may verify or dispute it; (photo, stored now)."""
    guard = _refusals_audited("parcel.photo", lambda: _label(parcel))
    who = guard(lambda w: permissions.check_parcel_photo(w, parcel), who)
    photo, created = photos.add_photo(session, parcel, sent, who.username)
    if created:
        audit.record(
            session, who.username, "parcel.photo", _label(parcel), source=who.source,
            photo=photo.id, version=photo.version, sha256=photo.sha256,
            original_kept=photo.original_sha256 is not None,
        )  # fmt: skip
    return photo, created


def photo_for_reading(session: Session, who: Principal | None, photo_id: int):
    """A photo, for whoever may read its parcel's district (else as if it did not exist)."""
    photo = photos.get_photo(session, photo_id)
    parcel = workflow.get_parcel(session, photo.parcel_id)
    if not permissions.can_read_district(who, parcel.district_id):
        raise NotFound(f"no photo {photo_id}", rule="photo_id", params={"id": photo_id})
    return photo


def upload_file(session: Session, who: Principal | None, upload_id: int):
    """An upload's original file, for an admin (what a team sent is evidence)."""
    _admin(who, "upload.file", f"upload {upload_id}")
    return kept_files.upload_file(session, upload_id)


def upload(
    session: Session, who: Principal | None, path: Path, options: ImportOptions, progress=None
) -> ImportReport:
    """Check and store a file as `who`: every status it asks for, the form's or a feature's
    own, goes through permissions.signoff_refusal (a refusal names the features); a verified
    upload is signed by the user's group; each feature's field day goes through
    permissions.field_day_refusal. In migration mode (an admin's) the file's sign-offs are
    taken as they are."""
    name = options.filename or Path(path).name
    township = resolve_township(session, options.township, name)
    target = f"{name} → {township.name}"
    if options.migration:
        return _migrate(session, who, path, options, township, target, progress)
    if options.bulk:
        return _bulk(session, who, path, options, township, target, progress)
    guard = _refusals_audited("upload", lambda: target)
    who = guard(lambda w: permissions.check_upload(w, township, options.kind, options.status), who)
    if options.override_reason:
        who = guard(lambda w: permissions.check_township_override(w, options.kind), who)
    options = replace(
        options,
        actor=who.username,
        verifier_group=who.group if options.status == "verified" else None,
        status_rule=_status_rule(who, township, options.kind),
        field_day_rule=lambda day: permissions.field_day_refusal(who, day),
    )
    try:
        report = import_file(session, path, options, progress=progress)
    except UploadRefused as exc:
        _audit_signoff_refusal(who, target, exc)
        raise
    if not report.dry_run:
        audit.record(
            session, who.username, "upload", f"{report.filename} → {township.name}",
            source=who.source, upload_id=report.upload_id, kind=options.kind,
            status=options.status, parcels=report.parcels, created=report.created,
            changed=report.changed, unchanged=report.unchanged, area_m2=report.area_m2,
            override_reason=options.override_reason, store_reason=options.store_reason,
        )  # fmt: skip
    return report


def _migrate(session, who, path, options, township, target, progress) -> ImportReport:
    """An admin moves parcels from another system: every status, the sign-offs of other
    people and days past the back-dating window as the file records them (never a day in
    the future); overlaps the old system kept are kept. The history calls it a migration."""
    return _admin_import(
        session, who, path, options, township, target, progress, "upload.migration",
        rules=lambda _who: {"status_rule": None, "accept_overlaps": True},
        audited=(("kind", "store_reason"), ("parcels", "created", "changed", "area_m2")),
    )  # fmt: skip


def _bulk(session, who, path, options, township, target, progress) -> ImportReport:
    """An admin's first load of a district's parcels: no file-size limit, every check of an
    upload. Admins do not sign off, so the file's parcels come in up to delivered."""
    return _admin_import(
        session, who, path, options, township, target, progress, "upload.bulk",
        rules=lambda admin: {
            "status_rule": lambda _current, asked: _admin_signoff(admin, options.kind, asked)
        },
        audited=(
            ("kind", "status", "store_reason"),
            ("parcels", "created", "changed", "unchanged", "area_m2"),
        ),
    )  # fmt: skip


def _admin_import(
    session, who, path, options, township, target, progress, action, rules, audited
) -> ImportReport:
    """An admin's import under `action`, with the options `rules(admin)` sets, then one
    audit record naming the file and the township, with the fields `audited` names (of
    the options, of the report): each kind of import keeps the record it always had."""
    who = _admin(who, action, target)
    options = replace(
        options,
        actor=who.username,
        field_day_rule=lambda day: permissions.field_day_refusal(who, day),
        **rules(who),
    )
    report = import_file(session, path, options, progress=progress)
    if not report.dry_run:
        of_options, of_report = audited
        audit.record(
            session, who.username, action, f"{report.filename} → {township.name}",
            source=who.source,
            upload_id=report.upload_id,
            **{name: getattr(options, name) for name in of_options},
            **{name: getattr(report, name) for name in of_report},
        )  # fmt: skip
    return report


def _admin_signoff(who: Principal, kind: str, asked: str) -> tuple[str, str, dict] | None:
    if asked != "verified":
        return None
    group = VERIFICATION_GROUPS.get(kind, "?")
    return (
        "signoff_group",
        f"{who.username} (admin) may not set {kind} parcels verified: that is {group}'s work",
        {"user": who.username, "group": "admin", "kind": kind, "status": asked, "owner": group},
    )


def _status_rule(who: Principal, township, kind: str):
    """The sign-off rule for each feature of `who`'s file: the uploader is, by definition,
    the one who uploaded the file's parcels (four eyes)."""

    def refusal(current: str | None, asked: str) -> tuple[str, str, dict] | None:
        return permissions.signoff_refusal(
            who, kind, township, asked, current=current, hands=lambda: "uploads this file"
        )

    return refusal


def _audit_signoff_refusal(who: Principal, target: str, exc: UploadRefused) -> None:
    """A file asking for sign-offs its uploader may not give is a refusal on record."""
    report = exc.report
    asked = [p for p in (report.problems if report else []) if p.rule == "signoff"]
    if asked and not report.dry_run:
        audit.record_apart(
            who.username, "upload", target, outcome="refused", source=who.source,
            reason=f"{len(asked)} feature(s): {asked[0].message}",
            features=[f"{p.feature} ({p.code})" for p in asked[:20]],
        )  # fmt: skip


def _admin(who: Principal | None, doing: str, target: str) -> Principal:
    guard = _refusals_audited(doing, lambda: target)
    return guard(lambda w: permissions.require_role(w, "admin", doing=doing), who)


def set_target(session: Session, who: Principal | None, **target) -> int:
    place = "/".join(x for x in (target["district"], target.get("township")) if x)
    who = _admin(who, "target.set", place)
    written = targets.set_target(session, actor=who.username, **target)
    audit.record(session, who.username, "target.set", place, source=who.source, **target)
    return written


def create_campaign(session: Session, who: Principal | None, **campaign):
    who = _admin(who, "campaign.create", campaign["name"])
    made = campaigns.create_campaign(session, actor=who.username, **campaign)
    audit.record(session, who.username, "campaign.create", made.name, source=who.source,
                 **made.as_dict())  # fmt: skip
    return made


def close_campaign(session: Session, who: Principal | None, name: str):
    who = _admin(who, "campaign.close", name)
    closed = campaigns.close_campaign(session, name, actor=who.username)
    # What it was before: under way.
    audit.record(session, who.username, "campaign.close", name, source=who.source,
                 before="under_way", **closed.as_dict())  # fmt: skip
    return closed


def import_targets(session: Session, who: Principal | None, path: Path) -> int:
    who = _admin(who, "targets.import", Path(path).name)
    count = reference.load_targets_csv(session, path)
    audit.record(session, who.username, "targets.import", Path(path).name, source=who.source,
                 targets=count)  # fmt: skip
    return count


def import_boundaries(session: Session, who: Principal | None, path: Path, district: str,
                      **options) -> dict:  # fmt: skip
    """Township outlines are reference data: an admin's, and on record like targets."""
    who = _admin(who, "boundaries.import", Path(path).name)
    counts = reference.import_township_boundaries(session, path, district, **options)
    audit.record(session, who.username, "boundaries.import", Path(path).name,
                 source=who.source, district=district, **counts)  # fmt: skip
    return counts


def import_project_list(session: Session, who: Principal | None, path: Path, sheet=None) -> dict:
    who = _admin(who, "projects.import", Path(path).name)
    counts = import_projects(session, path, sheet=sheet)
    audit.record(
        session, who.username, "projects.import", Path(path).name, source=who.source, **counts
    )
    return counts


# --- the project register: milestones and problem files (admin, like the projects) -------


def record_milestone(
    session: Session, who: Principal | None, code: str, due_on, done_on, text=None, note=None
) -> register.MilestoneState:
    who = _admin(who, "milestone.record", f"project {code} {due_on}")
    state = register.record_milestone(session, code, due_on, done_on, who.username, text, note)
    audit.record(session, who.username, "milestone.record", f"project {code} {due_on}",
                 source=who.source, text=state.text, done_on=done_on, note=note)  # fmt: skip
    return state


def file_problem(
    session: Session, who: Principal | None, code: str, problem: str, responsible_unit=None,
    person=None, deadline=None, note=None,
) -> register.ProblemState:  # fmt: skip
    who = _admin(who, "problem.add", f"project {code}")
    filed = register.add_problem(session, code, problem, who.username, responsible_unit,
                                 person, deadline, note)  # fmt: skip
    audit.record(session, who.username, "problem.add", f"problem #{filed.id} ({code})",
                 source=who.source, problem=problem, deadline=deadline)  # fmt: skip
    return filed


def set_problem_status(
    session: Session, who: Principal | None, problem_id: int, status: str, solved_on=None,
    note=None,
) -> register.ProblemState:  # fmt: skip
    who = _admin(who, "problem.status", f"problem #{problem_id}")
    before = register.problem_history(session, problem_id)[-1]["status"]
    done = register.set_problem_status(session, problem_id, status, who.username, solved_on,
                                       note)  # fmt: skip
    audit.record(session, who.username, "problem.status", f"problem #{problem_id}",
                 source=who.source, before=before, after=status,
                 solved_on=done.solved_on)  # fmt: skip
    return done
