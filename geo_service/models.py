"""Tables. Geometry is stored in CGCS2000 lon/lat (EPSG:4490); see README for why."""

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

STORAGE_SRID = 4490
KINDS = ("land", "demolition")
STATUSES = (
    "planned",
    "in_progress",
    "delivered",
    "demolished",
    "verified",
    "disputed",
    # Soft delete: a withdrawn parcel keeps its history and counts in no tally or map.
    "withdrawn",
)
# Who signs verification for each kind of work (土地核验组 / 拆迁核验组), and who signs a
# household's relocation off (回迁核验组). Parcel kinds are KINDS; "relocation" is no
# parcel kind, only a group's scope.
VERIFICATION_GROUPS = {"land": "土地核验组", "demolition": "拆迁核验组", "relocation": "回迁核验组"}


def _geometry(nullable: bool = True):
    # The GiST index is declared explicitly (below and in the migration) so that
    # Alembic and the ORM agree on a single index per column.
    return mapped_column(
        Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=nullable
    )


def _now():
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _json_list():
    return mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"), nullable=False)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class AdminUnit(Base):
    """City, district/county, township/subdistrict: one tree."""

    __tablename__ = "admin_units"
    __table_args__ = (
        CheckConstraint("level IN ('city', 'district', 'township')", name="level_known"),
        Index("ix_admin_units_geom", "geom", postgresql_using="gist"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    code_official: Mapped[bool] = mapped_column(Boolean, default=True)
    boundary_approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(Text)
    # A district may require that whoever uploaded or delivered a parcel does not verify it.
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    geom = _geometry()
    parent: Mapped["AdminUnit | None"] = relationship(remote_side="AdminUnit.id")


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"))
    department: Mapped[str | None] = mapped_column(Text)
    first_responsible: Mapped[str | None] = mapped_column(Text)
    direct_responsible: Mapped[str | None] = mapped_column(Text)
    # The responsibility list: the problem to solve, the target, the deadline and the
    # milestones worked back from it ([{"date": "2017-03-31", "text": "完成征迁"}, ...]).
    problem: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[date | None] = mapped_column(Date)
    milestones: Mapped[list] = _json_list()
    owner_unit: Mapped[str | None] = mapped_column(Text)  # 业主单位
    district: Mapped[AdminUnit | None] = relationship()
    # In the official order of the codes: without an order the list came in whatever order
    # the rows lay in (a test saw it change after its tables were copied back).
    townships: Mapped[list[AdminUnit]] = relationship(
        secondary="project_townships", order_by="AdminUnit.code"
    )


class ProjectTownship(Base):
    __tablename__ = "project_townships"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True)


class MilestoneRecord(Base):
    """Append-only: a milestone's completion as recorded (done_on NULL withdraws one).
    The latest record at a moment is the milestone's state at that moment."""

    __tablename__ = "milestone_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    due_on: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    done_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = _now()


PROBLEM_STATUSES = ("open", "solved")


class ProjectProblem(Base):
    """One entry of a project's problem file (问题档案), as it is now."""

    __tablename__ = "project_problems"
    __table_args__ = (
        CheckConstraint(_in("status", PROBLEM_STATUSES), name="problem_status_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    problem: Mapped[str] = mapped_column(Text)
    responsible_unit: Mapped[str | None] = mapped_column(Text)
    person: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    solved_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()
    project: Mapped[Project] = relationship()


class ProjectProblemVersion(Base):
    """Append-only history of a problem: its state after each change, who, when."""

    __tablename__ = "project_problem_versions"
    __table_args__ = (UniqueConstraint("problem_id", "version", name="uq_problem_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("project_problems.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    problem: Mapped[str] = mapped_column(Text)
    responsible_unit: Mapped[str | None] = mapped_column(Text)
    person: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    solved_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = _now()


class UploadFile(Base):
    """The files uploads were made from, each distinct file once, under its SHA-256."""

    __tablename__ = "upload_files"
    __table_args__ = (CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = _now()


class Upload(Base):
    """An accepted upload, written once with its report: append-only (migration 0023)."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_created_at", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    source_crs: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    parcel_count: Mapped[int] = mapped_column(Integer, default=0)
    area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    # The original file (kept in upload_files) and the name it is handed back under.
    file_sha256: Mapped[str | None] = mapped_column(ForeignKey("upload_files.sha256"))
    file_name: Mapped[str | None] = mapped_column(Text)
    # What became of the file's features, and the report the team saw (problems, their
    # rules and places, the problem features' shapes): the workbench's past uploads.
    features: Mapped[int | None] = mapped_column(Integer)
    rejected: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[int | None] = mapped_column(Integer)
    changed: Mapped[int | None] = mapped_column(Integer)
    unchanged: Mapped[int | None] = mapped_column(Integer)
    project: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(16))
    report: Mapped[dict | None] = mapped_column(JSONB)


def _district() -> Mapped[int]:
    """The district of the row's township, filled in by the database (migration 0017) and
    part of the table's keys: the partition and distribution key of docs/scaling.md."""
    return mapped_column(Integer, server_default=FetchedValue(), nullable=False)


class Parcel(Base):
    """The current state of a parcel; every state it had is in parcel_versions."""

    __tablename__ = "parcels"
    __table_args__ = (
        UniqueConstraint("township_id", "kind", "code", "district_id", name="uq_parcel_code"),
        UniqueConstraint("district_id", "id", name="uq_parcels_district_id"),
        CheckConstraint(_in("kind", KINDS), name="kind_known"),
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint("area_m2 > 0", name="area_positive"),
        Index("ix_parcels_geom", "geom", postgresql_using="gist"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Looked up by township through uq_parcel_code, which starts with it (migration 0019).
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    district_id: Mapped[int] = _district()
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    geom = _geometry(nullable=False)
    area_m2: Mapped[float] = mapped_column(Float)
    declared_m2: Mapped[float | None] = mapped_column(Float)
    source_file: Mapped[str | None] = mapped_column(Text)
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()
    # The verification in force (set by workflow.verify, cleared when a dispute sends the
    # parcel back); verified_area_m2 is the area frozen at that moment.
    verified_by: Mapped[str | None] = mapped_column(Text)
    verified_group: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # verified_at is when the sign-off happened in the field (核验日期, what tallies count);
    # these say when it was entered (录入时间) and by whom (migration 0024e).
    verification_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verification_recorded_by: Mapped[str | None] = mapped_column(Text)
    verification_note: Mapped[str | None] = mapped_column(Text)
    verified_area_m2: Mapped[float | None] = mapped_column(Float)
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by: Mapped[str | None] = mapped_column(Text)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    # Findings kept with the parcel, e.g. {"rule": "overlap_accepted", ...}.
    flags: Mapped[list] = _json_list()
    # Its interior meets another current parcel of the same kind: kept by the database's
    # tally triggers (migration 0009), never written here; tallies union only these.
    overlapping: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), nullable=False)
    township: Mapped[AdminUnit] = relationship(foreign_keys=[township_id])
    project: Mapped[Project | None] = relationship()
    supporters: Mapped[list[AdminUnit]] = relationship(secondary="parcel_support")


class ParcelSupport(Base):
    """Townships that helped deliver a parcel hosted by another (跨界支援)."""

    __tablename__ = "parcel_support"
    parcel_id: Mapped[int] = mapped_column(
        ForeignKey("parcels.id", ondelete="CASCADE"), primary_key=True
    )
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True)
    district_id: Mapped[int] = _district()  # the host parcel's district


class ParcelVersion(Base):
    """Append-only history: each row is a parcel's state from valid_from until valid_to."""

    __tablename__ = "parcel_versions"
    __table_args__ = (
        UniqueConstraint("parcel_id", "version", "district_id", name="uq_parcel_version"),
        Index("ix_parcel_versions_geom", "geom", postgresql_using="gist"),
        Index("ix_parcel_versions_validity", "valid_from", "valid_to"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    district_id: Mapped[int] = _district()
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    geom = _geometry(nullable=False)
    area_m2: Mapped[float] = mapped_column(Float)
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id"))
    changed_by: Mapped[str] = mapped_column(Text)
    # valid_from: when the change happened in the field (核验日期); recorded_at/recorded_by:
    # when it was entered (录入时间) and by whom, NULL on versions older than migration 0024e
    # (then entered when it happened, by changed_by).
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    verified_by: Mapped[str | None] = mapped_column(Text)
    verified_group: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_area_m2: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[list] = _json_list()
    # Townships (admin_units ids) supporting the parcel at this version (跨界支援).
    support_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), default=list, server_default=text("'{}'::integer[]"), nullable=False
    )


class ParcelPhoto(Base):
    """A photo of a parcel taken on site, kept with the parcel version it belongs to; its
    images are kept files (upload_files). Written once, never changed (migration 0026p)."""

    __tablename__ = "parcel_photos"
    __table_args__ = (
        UniqueConstraint("parcel_id", "sha256", name="uq_parcel_photo_content"),
        Index("ix_parcel_photos_parcel", "parcel_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    district_id: Mapped[int] = _district()  # the parcel's, referenced with it (0027)
    version: Mapped[int] = mapped_column(Integer)
    # The file as the phone sent it (what a resend is recognised by), the display-size JPEG,
    # the thumbnail and, when kept, the camera's original.
    sha256: Mapped[str] = mapped_column(ForeignKey("upload_files.sha256"))
    display_sha256: Mapped[str] = mapped_column(ForeignKey("upload_files.sha256"))
    thumb_sha256: Mapped[str] = mapped_column(ForeignKey("upload_files.sha256"))
    original_sha256: Mapped[str | None] = mapped_column(ForeignKey("upload_files.sha256"))
    mime: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    original_mime: Mapped[str | None] = mapped_column(String(32))
    original_bytes: Mapped[int | None] = mapped_column(BigInteger)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    taken_from: Mapped[str | None] = mapped_column(String(8))  # exif or form
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    position_from: Mapped[str | None] = mapped_column(String(8))
    uploaded_by: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime] = _now()


# What a version copies from its parcel when the code writing it leaves the field unset.
_SNAPSHOT = ("verified_by", "verified_group", "verified_at", "verified_area_m2", "flags")


@event.listens_for(Session, "before_flush")
def _complete_versions(session: Session, flush_context, instances) -> None:
    """A version is a full snapshot of its parcel: fill in the verification, flags and
    supporting townships its writer did not set, from the parcel as it is being stored."""
    new = [v for v in session.new if isinstance(v, ParcelVersion)]
    if not new:
        return
    with session.no_autoflush:
        for version in new:
            parcel = session.get(Parcel, version.parcel_id)
            if parcel is None:
                continue
            for name in _SNAPSHOT:
                if getattr(version, name) is None:
                    value = getattr(parcel, name)
                    setattr(version, name, list(value or []) if name == "flags" else value)
            if version.support_ids is None:
                version.support_ids = sorted(t.id for t in parcel.supporters)


CAMPAIGN_STATES = ("under_way", "closed")


class Campaign(Base):
    """A campaign (攻坚2017, 2016年百日攻坚): its first and last day, its state, its targets."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("first_day <= last_day", name="campaign_days_ordered"),
        CheckConstraint(_in("state", CAMPAIGN_STATES), name="campaign_state_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), server_default="under_way")
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    closed_by: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Target(Base):
    """A planned amount for a district or township, for a campaign or one quarter of it."""

    __tablename__ = "targets"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind_known"),
        CheckConstraint("quarter IS NULL OR quarter BETWEEN 1 AND 4", name="quarter_range"),
        CheckConstraint("amount_m2 >= 0", name="amount_non_negative"),
        Index(
            "uq_target",
            "admin_unit_id",
            "kind",
            "campaign_id",
            text("coalesce(quarter, 0)"),
            unique=True,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    admin_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    kind: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    # The year the campaign starts in; a quarter is a quarter of that year.
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int | None] = mapped_column(Integer)
    amount_m2: Mapped[float] = mapped_column(Float)
    # The unit the target was given in, so it is shown back the way it was set.
    unit: Mapped[str] = mapped_column(String(8))
    source: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()
    admin_unit: Mapped[AdminUnit] = relationship()
    versions: Mapped[list["TargetVersion"]] = relationship(
        back_populates="target", order_by="TargetVersion.version"
    )


class TargetVersion(Base):
    """Append-only history of a target: its value from valid_from until valid_to."""

    __tablename__ = "target_versions"
    __table_args__ = (
        UniqueConstraint("target_id", "version", name="uq_target_version"),
        Index("ix_target_versions_target", "target_id", "valid_from"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    amount_m2: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(8))
    source: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    target: Mapped[Target] = relationship(back_populates="versions")


# --- accounts and audit ------------------------------------------------------------------

ROLES = ("admin", "leader", "planner", "verifier", "officer")


class User(Base):
    """A person who signs in. Verifiers belong to one verification group; verifiers and
    township officers work in the townships assigned to them; leaders and planners see one
    district, or the whole city when district_id is empty."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role_known"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    group_name: Mapped[str | None] = mapped_column(Text)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"))
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()
    district: Mapped[AdminUnit | None] = relationship()
    townships: Mapped[list[AdminUnit]] = relationship(secondary="user_townships")


class UserTownship(Base):
    __tablename__ = "user_townships"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True)


class AuthToken(Base):
    """A sign-in: a browser session or an API token. Only a hash of the secret is kept."""

    __tablename__ = "auth_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user: Mapped[User] = relationship()


class SigninThrottle(Base):
    """Sign-in attempts from one client address to one user name, counted before the
    password is checked (accounts.begin_sign_in); a success from that address clears them.
    Keyed by both so a stranger's failures never slow the owner down elsewhere."""

    __tablename__ = "signin_throttles"
    username: Mapped[str] = mapped_column(Text, primary_key=True)
    address: Mapped[str] = mapped_column(Text, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_attempt_at: Mapped[datetime] = _now()
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Append-only (a trigger refuses UPDATE, DELETE, TRUNCATE): every write, refusal and failed
    sign-in, with who, when, from where and what changed."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = _now()
    username: Mapped[str | None] = mapped_column(Text, index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb"), nullable=False
    )


# --- relocation (回迁) ------------------------------------------------------------------

# 产权调换 (flats), 货币补偿 (cash) or both.
COMPENSATIONS = ("flats", "cash", "mixed")
# A household's sign-off by 回迁核验组: none yet (NULL), verified, or disputed (returned).
SIGNOFFS = ("verified", "disputed")
RELOCATION_ENTITIES = ("household", "flat", "project")


class ResettlementProject(Base):
    """A resettlement housing project (安置房项目): its site, flats planned, completion."""

    __tablename__ = "resettlement_projects"
    __table_args__ = (Index("ix_resettlement_projects_geom", "geom", postgresql_using="gist"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    district_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    # The responsibility list (projects) naming the responsible unit, person and deadline.
    responsibility_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    geom = _geometry()
    site_m2: Mapped[float | None] = mapped_column(Float)
    # Flats planned per size class, e.g. {"90": 120, "120": 80} (class = nominal m²).
    flats_by_size: Mapped[dict] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb"), nullable=False
    )
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    planned_completion: Mapped[date | None] = mapped_column(Date)
    actual_completion: Mapped[date | None] = mapped_column(Date)
    # The current state; every earlier one is in relocation_versions.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()
    district: Mapped[AdminUnit] = relationship()
    responsibility: Mapped[Project | None] = relationship()
    townships: Mapped[list[AdminUnit]] = relationship(secondary="resettlement_project_townships")


class ResettlementProjectTownship(Base):
    """The townships whose households a resettlement project takes."""

    __tablename__ = "resettlement_project_townships"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("resettlement_projects.id", ondelete="CASCADE"), primary_key=True
    )
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True)


class Household(Base):
    """A household whose home was demolished (被征迁户), on a demolition parcel."""

    __tablename__ = "households"
    __table_args__ = (
        CheckConstraint(_in("compensation", COMPENSATIONS), name="compensation_known"),
        CheckConstraint("flats_due >= 0", name="flats_due_non_negative"),
        CheckConstraint(f"signoff IS NULL OR {_in('signoff', SIGNOFFS)}", name="signoff_known"),
        # A national ID is kept only as a keyed hash, and one person heads one household.
        Index(
            "uq_household_id_hash",
            "id_hash",
            unique=True,
            postgresql_where=text("id_hash IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), index=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), index=True)
    district_id: Mapped[int] = _district()
    project_id: Mapped[int | None] = mapped_column(ForeignKey("resettlement_projects.id"))
    head_name: Mapped[str | None] = mapped_column(Text)
    id_hash: Mapped[str | None] = mapped_column(String(64))
    demolished_m2: Mapped[float | None] = mapped_column(Float)
    compensation: Mapped[str] = mapped_column(String(8))
    flats_due: Mapped[int] = mapped_column(Integer, default=0)
    area_due_m2: Mapped[float | None] = mapped_column(Float)
    transition_start: Mapped[date | None] = mapped_column(Date)
    monthly_allowance: Mapped[float | None] = mapped_column(Float)
    promised_handover: Mapped[date | None] = mapped_column(Date)
    title_deadline: Mapped[date | None] = mapped_column(Date)
    # Sign-off by 回迁核验组 (see relocation.sign_off): who, on which day, and the
    # dispute's reason while it is disputed. Versioned with the rest of the household.
    signoff: Mapped[str | None] = mapped_column(String(8))
    signed_off_by: Mapped[str | None] = mapped_column(Text)
    signed_off_on: Mapped[date | None] = mapped_column(Date)
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    # The current state; every earlier one is in relocation_versions.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()


class Flat(Base):
    """A flat of a resettlement project, and its allocation (房源调度), keys and title."""

    __tablename__ = "flats"
    __table_args__ = (
        UniqueConstraint("project_id", "building", "unit", name="uq_flat"),
        CheckConstraint("floor_area_m2 > 0", name="floor_area_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("resettlement_projects.id"), index=True)
    building: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(32))
    size_class: Mapped[str | None] = mapped_column(String(16))
    floor_area_m2: Mapped[float] = mapped_column(Float)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    allocated_on: Mapped[date | None] = mapped_column(Date)
    handed_over_on: Mapped[date | None] = mapped_column(Date)
    certified_on: Mapped[date | None] = mapped_column(Date)
    # The current state; every earlier one is in relocation_versions.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()


class RelocationVersion(Base):
    """Append-only history of households, flats and resettlement projects: each row is
    one record's full state (JSON) from valid_from until valid_to, with the state before."""

    __tablename__ = "relocation_versions"
    __table_args__ = (
        UniqueConstraint("entity", "entity_id", "version", name="uq_relocation_version"),
        CheckConstraint(_in("entity", RELOCATION_ENTITIES), name="entity_known"),
        Index("ix_relocation_versions_validity", "entity", "valid_from", "valid_to"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict] = mapped_column(JSONB)
    before: Mapped[dict | None] = mapped_column(JSONB)
    changed_by: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class RelocationTarget(Base):
    """A relocation target for a district or township: households, flats, m². A
    campaign's own (campaign_id), else the year's (no campaign), which every campaign
    starting in that year falls back on (migration 0030r)."""

    __tablename__ = "relocation_targets"
    __table_args__ = (
        Index(
            "uq_relocation_target_year",
            "admin_unit_id",
            "year",
            unique=True,
            postgresql_where=text("campaign_id IS NULL"),
        ),
        Index(
            "uq_relocation_target_campaign",
            "admin_unit_id",
            "campaign_id",
            unique=True,
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
        CheckConstraint(
            "coalesce(households, 0) >= 0 AND coalesce(flats, 0) >= 0"
            " AND coalesce(floor_area_m2, 0) >= 0",
            name="relocation_target_non_negative",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    admin_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    year: Mapped[int] = mapped_column(Integer)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    households: Mapped[int | None] = mapped_column(Integer)
    flats: Mapped[int | None] = mapped_column(Integer)
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now()
    admin_unit: Mapped[AdminUnit] = relationship()


class RelocationTargetVersion(Base):
    """Append-only history of a relocation target: its value from valid_from until
    valid_to (migration 0032r); the database closes a version when the next is added."""

    __tablename__ = "relocation_target_versions"
    __table_args__ = (
        UniqueConstraint("target_id", "version", name="uq_relocation_target_version"),
        Index("ix_relocation_target_versions_target", "target_id", "valid_from"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("relocation_targets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    flats: Mapped[int | None] = mapped_column(Integer)
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
