"""What the API answers, as pydantic models: the OpenAPI document describes every response,
and clients (and schemathesis) can check them. Extra fields are allowed and kept, so a
model documents a response without cutting anything from it."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(_Open):
    """Every refusal: a message naming the problem (an upload refusal adds its report)."""

    detail: Any = Field(description="what was wrong, in words (a list for invalid parameters)")
    report: dict[str, Any] | None = Field(None, description="an upload's problem report")


ERRORS = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "invalid input (names the parameter or rule)"),
        (401, "not signed in"),
        (403, "signed in, but not allowed"),
        (404, "no such thing"),
        (409, "a concurrent change; nothing was written, retry"),
        (422, "invalid parameters or body: each one named with what is wrong"),
    )
}


class Link(_Open):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class Feature(_Open):
    """An RFC 7946 Feature: lon/lat, counter-clockwise exterior rings, no `crs` member
    (OGC API with `crs=`: coordinates in that CRS's axis order)."""

    type: Literal["Feature"]
    id: int | str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
    links: list[Link] | None = None


class FeatureCollection(_Open):
    type: Literal["FeatureCollection"]
    features: list[Feature]
    links: list[Link] = []
    numberMatched: int | None = None  # noqa: N815 (OGC API names)
    numberReturned: int | None = None  # noqa: N815
    timeStamp: str | None = None  # noqa: N815


class TallyRow(_Open):
    city: str | None = Field(None, description="by=city: the city the row covers")
    district: str | None = Field(None, description="every level but by=city")
    township: str | None = None
    project: str | None = None
    project_name: str | None = None
    kind: str
    verified_parcels: int
    verified_m2: float
    verified_mu: float
    target_m2: float | None
    target_mu: float | None
    progress: float | None
    remaining_m2: float | None
    remaining_mu: float | None
    planned_parcels: int
    planned_m2: float
    planned_mu: float
    delivered_parcels: int
    delivered_m2: float
    delivered_mu: float
    credit: str
    target_basis: str | None = Field(
        None, description="annual, quarters (the year's plans summed) or plan_q<n>"
    )
    campaign: str | None = Field(None, description="the campaign tallied, e.g. 攻坚2017")


class SupportLink(_Open):
    district: str
    host_id: int
    host: str
    helper_id: int
    helper: str
    kind: str
    parcels: int
    verified_parcels: int
    verified_m2: float
    verified_mu: float


class Health(_Open):
    """Anonymous callers get `status` (and on a 503 why); signed-in users the rest."""

    status: str
    detail: str | None = None
    postgis: str | None = None
    version: str | None = None
    pid: int | None = None  # which worker answered (serve --workers N)
    replica: str | None = None  # with DATABASE_REPLICA_URL: "ok", or why it is not used


class ChangeToken(_Open):
    token: str


class LandingPage(_Open):
    title: str
    description: str | None = None
    links: list[Link]


class Conformance(_Open):
    conformsTo: list[str]  # noqa: N815


class Collection(_Open):
    id: str
    title: str | None = None
    description: str | None = None
    links: list[Link]
    extent: dict[str, Any] | None = None
    itemType: str = "feature"  # noqa: N815
    crs: list[str] = []
    storageCrs: str | None = None  # noqa: N815


class Queryables(_Open):
    """OGC API - Features Part 3: the properties a collection's items filter on (each one a
    query parameter of `items`), as a JSON Schema."""

    schema_: str = Field(alias="$schema")
    id_: str = Field(alias="$id")
    type: Literal["object"]
    title: str | None = None
    properties: dict[str, dict[str, Any]]
    additionalProperties: bool  # noqa: N815


class Collections(_Open):
    links: list[Link]
    collections: list[Collection]


class VectorLayer(_Open):
    id: str
    fields: dict[str, str]


class TileJSON(_Open):
    tilejson: str
    tiles: list[str]
    vector_layers: list[VectorLayer]
    bounds: list[float] | None = None
    minzoom: int | None = None
    maxzoom: int | None = None


class UploadReport(_Open):
    filename: str
    accepted: bool
    dry_run: bool
    kind: str
    township: str
    parcels: int
    created: int
    changed: int
    unchanged: int
    area_m2: float
    area_mu: float
    # Where the parcels lie, most first: [{"township", "parcels"}].
    lies_in: list[dict[str, Any]] = []
    override_reason: str | None = None
    problems: list[dict[str, Any]]


class ParcelVersion(_Open):
    """One version of a parcel: its state, who changed it and when."""

    version: int


class WorkflowStep(_Open):
    """A parcel after a status change, verification or dispute."""

    status: str


class FieldBundle(_Open):
    """What the field app keeps on the phone (GET /api/field/bundle)."""

    generated_at: str
    user: dict[str, Any]
    townships: dict[str, Any]
    parcels: dict[str, Any]
    queue: list[dict[str, Any]]


class ProgressData(_Open):
    """What the open progress map polls for."""

    townships: dict[str, Any]
    parcels: dict[str, Any] | None = None
    summary: dict[str, Any]


BINARY = {"schema": {"type": "string", "format": "binary"}}
MVT = "application/vnd.mapbox-vector-tile"


# --- relocation (回迁) ---------------------------------------------------------------------


class RelocationRow(_Open):
    """Households, flats and floor area planned, allocated, handed over and certified,
    against the relocation targets (progress: households handed over ÷ target)."""

    district: str
    households_planned: int
    households_handed_over: int
    households_certified: int
    households_verified: int = Field(description="signed off by 回迁核验组 in the year")
    flats_planned: int
    flats_handed_over: int
    m2_planned: float
    m2_handed_over: float
    target_households: int | None
    progress: float | None


class RelocationTargetVersion(_Open):
    """One value a relocation target had: who set it, from when until when (valid_to:
    null while in force), and the value before it (null for the first)."""

    version: int
    households: int | None
    flats: int | None
    m2: float | None
    changed_by: str
    valid_from: str
    valid_to: str | None
    before: dict[str, Any] | None


class OverdueCase(_Open):
    """A 两逾 case: past the promised hand-over (逾期未回迁) or the title deadline (逾期未办证)."""

    kind: Literal["handover", "title"]
    label: str
    household: str
    head_name: str | None = Field(description="masked (何*) for roles that may not read it")
    district: str
    township: str
    due: str
    days_overdue: int


class ClearanceRow(_Open):
    """清零: a district's open 两逾 cases at the start of the year and now, month by month."""

    district: str
    year: int
    open_at_start: int
    open_now: int
    cleared: int
    history: list[dict[str, Any]]


class HouseholdOut(_Open):
    ref: str
    head_name: str | None
    township: str
    signoff: Literal["verified", "disputed"] | None = None
    flats: list[dict[str, Any]]


class HouseholdSignoff(_Open):
    """A household's sign-off or dispute by 回迁核验组, as recorded (a new version)."""

    household: str
    signoff: Literal["verified", "disputed"]
    signed_off_by: str | None
    signed_off_on: str | None
    group: str | None = Field(description="the signed-in verifier's group, never the request's")
    dispute_reason: str | None
    version: int
    changed_by: str


class RosterReport(_Open):
    """A household roster or flat list, checked whole."""

    filename: str
    kind: str
    accepted: bool
    dry_run: bool
    rows: int
    problems: list[dict[str, Any]]


class FlatStep(_Open):
    flat: str
    step: str
    outcome: Any


class RelocationData(_Open):
    """What the open relocation map polls for."""

    townships: dict[str, Any]
    sites: dict[str, Any]
    links: list[dict[str, Any]]
    summary: dict[str, Any]
    token: str


# --- the campaign register, rankings and boards -------------------------------------------


class Milestone(_Open):
    date: str
    text: str
    done_on: str | None


class ProjectSummary(_Open):
    code: str
    name: str
    district: str | None
    milestones_done: int
    milestones_overdue: int


class Register(_Open):
    """Counts by category and district, then every project, most overdue first."""

    campaign: str | None = Field(None, description="the campaign the parcels are counted in")
    counts: dict[str, Any]
    projects: list[ProjectSummary]


class ProjectDetail(ProjectSummary):
    milestones: list[Milestone]


class Problem(_Open):
    """An entry of a project's problem file (必须解决的问题)."""

    id: int
    project: str
    problem: str
    status: str
    deadline: str | None
    overdue: bool


class ProblemVersion(_Open):
    """One state of a problem file entry: who changed it, when, to what."""

    version: int
    status: str
    deadline: str | None
    changed_by: str


class Ranking(_Open):
    """Ranked units with their composite score, components and change since last period."""

    level: Literal["township", "district"]
    campaign: str = Field(description="the campaign ranked (攻坚2017)")
    period: str
    as_of: str
    previous_period: str
    weights: dict[str, float]
    tie_rule: str
    rows: list[dict[str, Any]]


class Board(_Open):
    level: str
    title: str
    period: str
    as_of: str
    cards: list[dict[str, Any]]


class PublicBoard(_Open):
    """The public page's figures: areas and progress only, no person's name or parcel."""

    year: int
    as_of: str
    city: dict[str, Any]
    districts: list[dict[str, Any]]
