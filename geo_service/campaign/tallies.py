"""Verified area per district, township and project, against targets.

A tally is the area of the union of the verified parcels in a group, measured on the
ellipsoid (PostGIS geography on EPSG:4490 uses GRS80), so overlapping parcels count once.
Beside it, each row shows the scope on record (planned: every parcel, any status) and what
is done (delivered: delivered, demolished or verified), each a union too.

Cross-township support (跨界支援): `credit` decides who a parcel counts for: its host
township (default), the townships that supported it, or all of them. Support is taken from
the parcel version valid at the time asked for.
"""

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import TypedDict, Unpack

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.areas import m2_to_mu, rounded
from geo_service.campaign import due
from geo_service.campaign.campaigns import CLOSED, CampaignView, resolve
from geo_service.campaign.targets import DUE, target_and_basis
from geo_service.errors import InvalidInput
from geo_service.models import KINDS
from geo_service.periods import CAMPAIGN_TZ, Period, a_year_before, quarter_of, today
from geo_service.settings import get_settings
from geo_service.units import find_district

GROUPINGS = ("city", "district", "township", "project")
CREDITS = ("host", "helpers", "all")
QUARTER_ENDS = {1: (3, 31), 2: (6, 30), 3: (9, 30), 4: (12, 31)}
# Statuses that count as done on the ground, waiting for or past verification.
DONE_STATUSES = ("delivered", "demolished", "verified")


@dataclass
class TallyRow:
    district: str
    township: str | None
    project: str | None
    project_name: str | None
    kind: str
    verified_parcels: int
    verified_m2: float
    target_m2: float | None
    planned_parcels: int = 0
    planned_m2: float = 0.0
    delivered_parcels: int = 0
    delivered_m2: float = 0.0
    credit: str = "host"
    # What the target is: annual, quarters (the year's plans summed) or plan_q<n> (the
    # plan cumulated up to quarter n); None without a target.
    target_basis: str | None = None
    # The campaign tallied (its name): every view says which one.
    campaign: str | None = None
    # Administrative codes (district, township) and project code: the order rows come in.
    sort_key: tuple = field(default=(), repr=False, compare=False)

    @property
    def verified_mu(self) -> float:
        return m2_to_mu(self.verified_m2)

    @property
    def planned_mu(self) -> float:
        return m2_to_mu(self.planned_m2)

    @property
    def delivered_mu(self) -> float:
        return m2_to_mu(self.delivered_m2)

    @property
    def target_mu(self) -> float | None:
        return m2_to_mu(self.target_m2)

    @property
    def progress(self) -> float | None:
        """Verified ÷ target. None under helper credit: what a township helped others
        deliver is no step toward its own target."""
        if not self.target_m2 or self.credit == "helpers":
            return None
        return self.verified_m2 / self.target_m2

    @property
    def remaining_m2(self) -> float | None:
        if self.target_m2 is None or self.credit == "helpers":
            return None
        return max(self.target_m2 - self.verified_m2, 0.0)

    def as_dict(self, by: str, exact: bool = False) -> dict:
        """The row as presented: m² to the hundredth, mu to the ten-thousandth (the
        stored figures stay exact); `exact` for a workbook, whose cells keep the exact
        figure under a display format."""
        data = asdict(self)
        data.pop("sort_key")
        if by == "city":
            data["city"] = data.pop("district")
        if by in ("city", "district"):
            data.pop("township")
        if by != "project":
            data.pop("project")
            data.pop("project_name")
        data.update(
            verified_mu=self.verified_mu,
            planned_mu=self.planned_mu,
            delivered_mu=self.delivered_mu,
            target_mu=self.target_mu,
            progress=self.progress,
            remaining_m2=self.remaining_m2,
            remaining_mu=m2_to_mu(self.remaining_m2),
        )
        return data if exact else rounded(data)


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=CAMPAIGN_TZ)


def _last_day(campaign: "CampaignView | int") -> date:
    return date(campaign, 12, 31) if isinstance(campaign, int) else campaign.last_day


def reference_day(campaign: "CampaignView | int", as_of: date | None = None) -> date:
    """The day a pace is computed from: the day asked for, or the one today (periods.today,
    in China) held within the campaign (a year: within the year), so a past campaign has
    no months left and a future one all of them."""
    if isinstance(campaign, CampaignView):
        return campaign.reference_day(as_of)
    if as_of:
        return as_of
    return min(max(today(), date(campaign, 1, 1)), date(campaign, 12, 31))


def months_left(day: date, campaign: "CampaignView | int") -> float:
    """Months from the end of `day` to the campaign's last day (30.44-day months)."""
    return max((_last_day(campaign) - day).days, 0) / 30.44


def pace_per_month(
    remaining_m2: float | None, day: date, campaign: "CampaignView | int"
) -> float | None:
    """What must be verified each remaining month to meet the target (倒排工期)."""
    left = months_left(day, campaign)
    return remaining_m2 / left if remaining_m2 is not None and left > 0 else None


# Parcels as they stood at :as_of (the current state when as_of is NULL), any status.
# `overlapping`: the parcel's interior meets another parcel of the same kind valid then.
# Only those need a union; every other parcel adds its own area, so a tally over tens of
# thousands of parcels unions a handful instead of all of them (same result, exactly).
# A withdrawn parcel is on record but in no tally, map or tile from its withdrawal on.
# VALID_DURING is the time test alone, for any versioned table (relocation records too).
VALID_DURING = """
    (CAST(:as_of AS timestamptz) IS NULL AND {v}.valid_to IS NULL
     OR {v}.valid_from < CAST(:as_of AS timestamptz)
        AND ({v}.valid_to IS NULL OR {v}.valid_to >= CAST(:as_of AS timestamptz)))
"""
VALID_AT = VALID_DURING + "    AND {v}.status <> 'withdrawn'\n"
_VERSION_FIELDS = """
    SELECT v.parcel_id, v.kind, v.status, v.township_id, v.project_id, v.support_ids, v.geom,
           v.area_m2, v.verified_at,
"""
# Rows of the kinds asked (all when none) in the district asked (all when none).
_IN_SCOPE = """(CAST(:kinds AS text[]) IS NULL OR {r}.kind = ANY(CAST(:kinds AS text[])))
      AND (CAST(:district AS int) IS NULL OR {r}.township_id IN (
          SELECT id FROM admin_units WHERE parent_id = CAST(:district AS int)))"""
_VERSIONS_IN_SCOPE = f"""
    FROM parcel_versions v
    WHERE {_IN_SCOPE.format(r="v")}
      AND {VALID_AT.format(v="v")}
"""
# The full computation: whether each version meets another one valid that day.
_VERSIONS = f"""{_VERSION_FIELDS}
           EXISTS (
               SELECT 1 FROM parcel_versions o
               WHERE o.geom && v.geom AND o.parcel_id <> v.parcel_id AND o.kind = v.kind
                 AND {VALID_AT.format(v="o")}
                 AND ST_Relate(o.geom, v.geom, 'T********')
           ) AS overlapping
    {_VERSIONS_IN_SCOPE}"""

_DONE = "p.status IN ('delivered', 'demolished', 'verified')"
# A year's tally counts what was verified within that year (China Standard Time): not a
# verification of an earlier year, nor one of a later year (or of today, for a past year).
_VERIFIED = """p.status = 'verified' AND (CAST(:year_start AS timestamptz) IS NULL
    OR p.verified_at IS NULL OR p.verified_at >= CAST(:year_start AS timestamptz)
       AND p.verified_at < CAST(:year_end AS timestamptz))"""


def _union_area(subset: str) -> str:
    """Geodesic area of the union of the outlines of the rows `k` in `subset`."""
    return f"coalesce(ST_Area((ST_Union(k.geom) FILTER (WHERE {subset}))::geography), 0)"


# An overlap group's unions in one unit of the grouping as three pseudo-parcels, since
# verified ⊆ done ⊆ all: verified in the year asked with the verified union, delivered with
# the done union less that, planned with the rest; each counted as no parcel (n = 0).
_GROUP_PSEUDO_PARCELS = """(VALUES
        ('verified', {g}.verified_m2, CAST(:year_start AS timestamptz)),
        ('delivered', {g}.done_m2 - {g}.verified_m2, NULL),
        ('planned', {g}.planned_m2 - {g}.done_m2, NULL)
    ) s(status, area_m2, verified_at)"""

# A past day with host credit, summed ahead like the maintained totals: the versions that
# never overlapped become one row per township, kind, project, status and verification
# (in the year asked, with no date, or outside it: a date standing for the class), with
# their count `n` and summed area; the ever-overlapping ones stay one row each, counted
# with no area: their area comes from their overlap groups as they stood that day (outlines
# that meet, found with ST_ClusterDBSCAN), each group's unions per unit of the grouping
# asked as pseudo-parcels like the kept groups of today's tally. Groups never share
# interior, so this is the union of them all, without unioning thousands of outlines at
# once. The counting SQL of the maintained totals then groups a few rows instead of a
# million, with the same figures.
_VERIFIED_CLASS = """CASE WHEN v.verified_at IS NULL THEN NULL
         WHEN v.verified_at >= CAST(:year_start AS timestamptz)
          AND v.verified_at < CAST(:year_end AS timestamptz) THEN CAST(:year_start AS timestamptz)
         ELSE CAST(:year_end AS timestamptz) END"""
# The ever-overlapping versions valid that day, found from the few parcels kept in
# overlapped_parcels rather than by probing it once per version. `OFFSET 0` keeps the
# lookup by parcel: right after a large import, before the table has statistics, the
# planner otherwise read every version of the history and probed overlapped_parcels for
# each (measured: 2.4× slower at 100,000 parcels).
_FLAGGED_IN_SCOPE = _VERSIONS_IN_SCOPE.replace(
    "FROM parcel_versions v",
    "FROM overlapped_parcels f CROSS JOIN LATERAL (SELECT * FROM parcel_versions v "
    "WHERE v.parcel_id = f.parcel_id OFFSET 0) v",
)
_FLAGGED = f"""flagged AS MATERIALIZED (
        SELECT v.parcel_id, v.kind, v.status, v.township_id, v.project_id, v.support_ids,
               v.geom, v.verified_at,
               ST_ClusterDBSCAN(v.geom, 0, 1) OVER (PARTITION BY v.kind) AS cluster
        {_FLAGGED_IN_SCOPE}
    )"""


def _summed(only: str = "") -> str:
    """The versions that never overlapped, summed per township, kind, project, status and
    verification class (`n` of them); `only`: a further condition on them."""
    return f"""
    SELECT -row_number() OVER () AS parcel_id, s.*
    FROM (
        SELECT v.kind, v.status, v.township_id, v.project_id, '{{}}'::int[] AS support_ids,
               NULL::geometry AS geom, sum(v.area_m2) AS area_m2,
               {_VERIFIED_CLASS} AS verified_at, false AS overlapping, count(*) AS n
        {_VERSIONS_IN_SCOPE}
          AND v.parcel_id NOT IN (SELECT parcel_id FROM overlapped_parcels) {only}
        GROUP BY v.kind, v.status, v.township_id, v.project_id, {_VERIFIED_CLASS}
    ) s"""


def _group_areas(rows: str, township: str) -> str:
    """The overlap groups' unions in each unit of the grouping asked, as pseudo-parcels:
    from `rows` (the flagged versions with their `cluster`), each in the unit of its
    `township` column (its host, or the township it is credited to)."""
    return f"""
    SELECT g.kind, s.status, g.township_id, NULLIF(g.project_key, 0) AS project_id,
           s.area_m2, s.verified_at
    FROM (
        SELECT k.kind, min(k.unit_township) AS township_id, k.project_key,
               {_union_area(_VERIFIED.replace("p.", "k."))} AS verified_m2,
               {_union_area(_DONE.replace("p.", "k."))} AS done_m2,
               {_union_area("TRUE")} AS planned_m2
        FROM (
            SELECT f.kind, f.status, f.geom, f.verified_at, f.cluster,
                   f.{township} AS unit_township,
                   CASE CAST(:overlap_level AS text) WHEN 'township' THEN f.{township}
                        WHEN 'city' THEN d.parent_id ELSE t.parent_id END AS unit_id,
                   CASE WHEN :overlap_level = 'project' THEN coalesce(f.project_id, 0)
                        ELSE 0 END AS project_key
            FROM {rows} f
            JOIN admin_units t ON t.id = f.{township} JOIN admin_units d ON d.id = t.parent_id
            WHERE :overlap_level <> 'project' OR f.project_id IS NOT NULL
        ) k
        GROUP BY k.kind, k.cluster, k.unit_id, k.project_key
    ) g
    CROSS JOIN LATERAL {_GROUP_PSEUDO_PARCELS.format(g="g")}"""


_PAST_TOTALS = f"""
    WITH {_FLAGGED}
    {_summed()}
    UNION ALL
    SELECT parcel_id, kind, status, township_id, project_id, support_ids, NULL, 0,
           verified_at, false, 1
    FROM flagged
    UNION ALL
    SELECT 0, a.kind, a.status, a.township_id, a.project_id, '{{}}'::int[], NULL, a.area_m2,
           a.verified_at, false, 0
    FROM ({_group_areas("flagged", "township_id")}) a
"""

# The townships a version is credited to: its supporting townships, and its host first
# under credit "all" (as _CREDITED, but for one version).
_CREDIT_IDS = {
    "helpers": "unnest({v}.support_ids)",
    "all": "unnest({v}.township_id || {v}.support_ids)",
}


def _credited_totals(credit: str) -> str:
    """A day under helper credit, summed ahead like _PAST_TOTALS but credited already (the
    `credit_id` of each row): with credit "all" the unsupported versions that never
    overlapped are summed under their host; the supported ones come once per township
    credited; the ever-overlapping ones too, counted with no area, their area coming
    from their groups' unions per unit of the credited townships. Distinct negative ids
    keep the summed rows and pseudo-parcels apart in the grouping's one-row-per-parcel
    window, which now sorts thousands of rows, not one per version."""
    each = _CREDIT_IDS[credit]
    sql = f"""
    WITH {_FLAGGED},
    flagged_credited AS (
        SELECT f.*, c.credit_id FROM flagged f CROSS JOIN LATERAL {each.format(v="f")} c(credit_id)
    )
    SELECT parcel_id, kind, status, township_id, project_id, support_ids,
           NULL::geometry AS geom, 0::float8 AS area_m2, verified_at, false AS overlapping,
           1::bigint AS n, credit_id
    FROM flagged_credited
    UNION ALL
    SELECT -(1073741824 + row_number() OVER ()), a.kind, a.status, a.township_id,
           a.project_id, '{{}}'::int[], NULL, a.area_m2, a.verified_at, false, 0, a.township_id
    FROM ({_group_areas("flagged_credited", "credit_id")}) a
    UNION ALL
    SELECT v.parcel_id, v.kind, v.status, v.township_id, v.project_id, v.support_ids, NULL,
           v.area_m2, v.verified_at, false, 1, c.credit_id
    {
        _VERSIONS_IN_SCOPE.replace(
            "FROM parcel_versions v",
            f"FROM parcel_versions v CROSS JOIN LATERAL {each.format(v='v')} c(credit_id)",
        )
    }
      AND v.support_ids <> '{{}}'
      AND v.parcel_id NOT IN (SELECT parcel_id FROM overlapped_parcels)"""
    if credit == "all":
        sql += f"""
    UNION ALL
    SELECT x.*, x.township_id FROM ({_summed("AND v.support_ids = '{}'")}) x"""
    return sql


# Each parcel once per township it is credited to (credit_id).
_HOST = "SELECT v.*, v.township_id AS credit_id FROM versions v"
_HELPERS = (
    "SELECT v.*, s.id AS credit_id FROM versions v CROSS JOIN LATERAL unnest(v.support_ids) s(id)"
)
_CREDITED = {"host": _HOST, "helpers": _HELPERS, "all": f"{_HOST} UNION ALL {_HELPERS}"}


def _area(subset: str) -> str:
    """Area of the union of a group's parcels in `subset`, each parcel counted once (a
    parcel credited to two townships of one group is one parcel, first = its first row)."""
    alone = f"p.first AND {subset} AND NOT p.overlapping"
    shared = f"p.first AND {subset} AND p.overlapping"
    return (
        f"COALESCE(sum(p.area_m2) FILTER (WHERE {alone}), 0)"
        f" + COALESCE(ST_Area((ST_Union(p.geom) FILTER (WHERE {shared}))::geography), 0)"
    )


def _count(condition: str, counted: bool) -> str:
    """Parcels meeting `condition`: rows, or the `n` each maintained row stands for."""
    if counted:
        return f"coalesce(sum(p.n) FILTER (WHERE {condition}), 0)::bigint"
    return f"count(*) FILTER (WHERE {condition})"


def _measures(counted: bool = False) -> str:
    return f"""
    {_count(f"p.first AND {_VERIFIED}", counted)} AS verified_parcels,
    {_area(_VERIFIED)} AS verified_m2,
    {_count("p.first", counted)} AS planned_parcels,
    {_area("TRUE")} AS planned_m2,
    {_count(f"p.first AND {_DONE}", counted)} AS delivered_parcels,
    {_area(_DONE)} AS delivered_m2
"""


_MEASURES = _measures()


# A parcel credited to its host alone is one row in any group; only when helpers are
# credited too can it come twice into one group (a city, a district).
_ONE_ROW_PER_PARCEL = "TRUE AS first"


def _keyed(group: str) -> str:
    """The credited rows with their township and district, and `first` marking one row
    per parcel within each group (see _ONE_ROW_PER_PARCEL)."""
    return f"""(
        SELECT c.*, t.id AS township_unit, t.name AS township_name, t.code AS township_code,
               d.id AS district_unit, d.name AS district_name, d.code AS district_code,
               d.parent_id AS district_parent,
               row_number() OVER (PARTITION BY {group}, c.kind, c.parcel_id) = 1 AS first
        FROM credited c JOIN admin_units t ON t.id = c.credit_id
        JOIN admin_units d ON d.id = t.parent_id
    ) p"""


_GROUP_SQL = {
    # The city row: the union over every district (a row's `district` is the city's name).
    "city": f"""
        SELECT c.id AS unit_id, c.name AS district, NULL AS township, NULL AS project,
               NULL AS project_name, p.kind, c.code AS district_code, NULL AS township_code,
               {_MEASURES}
        FROM {_keyed("d.parent_id")}
        JOIN admin_units c ON c.id = p.district_parent
        GROUP BY c.id, c.name, c.code, p.kind""",
    "district": f"""
        SELECT p.district_unit AS unit_id, p.district_name AS district, NULL AS township,
               NULL AS project, NULL AS project_name, p.kind, p.district_code,
               NULL AS township_code, {_MEASURES}
        FROM {_keyed("d.id")}
        GROUP BY p.district_unit, p.district_name, p.district_code, p.kind""",
    "township": f"""
        SELECT p.township_unit AS unit_id, p.district_name AS district,
               p.township_name AS township, NULL AS project, NULL AS project_name, p.kind,
               p.district_code, p.township_code, {_MEASURES}
        FROM {_keyed("t.id")}
        GROUP BY p.township_unit, p.township_name, p.township_code, p.district_name,
                 p.district_code, p.kind""",
    "project": f"""
        SELECT NULL AS unit_id, p.district_name AS district,
               string_agg(DISTINCT p.township_name, '、') AS township, pr.code AS project,
               pr.name AS project_name, p.kind, p.district_code, NULL AS township_code,
               {_MEASURES}
        FROM {_keyed("c.project_id, d.id")}
        JOIN projects pr ON pr.id = p.project_id
        GROUP BY pr.code, pr.name, p.district_name, p.district_code, p.kind""",
}

# The value of each target in force at :as_of (now when NULL). A target first set after
# that day is taken at its first value: setting a year's target late does not leave the
# earlier days without one; only a change is dated. TARGET_IN_FORCE orders a target's
# versions (alias {v}) so that the one in force comes first; relocation targets (their own
# versions, migration 0032r) follow the same rule.
TARGET_IN_FORCE = """
    (CAST(:as_of AS timestamptz) IS NOT NULL OR {v}.valid_to IS NULL)
    ORDER BY {v}.target_id, {v}.valid_from < CAST(:as_of AS timestamptz) DESC,
             CASE WHEN {v}.valid_from < CAST(:as_of AS timestamptz) THEN {v}.valid_from END
                 DESC NULLS LAST,
             {v}.valid_from
"""
_TARGET_VALUES = f"""
    SELECT DISTINCT ON (tv.target_id) t.admin_unit_id, t.kind, t.campaign_id, t.quarter,
           tv.amount_m2
    FROM target_versions tv JOIN targets t ON t.id = tv.target_id
    WHERE {TARGET_IN_FORCE.format(v="tv")}"""
# Today's tally from the maintained totals (tally_totals, kept by triggers on parcels in
# the writing transaction; see migration 0009): each totals row stands for the parcels of
# one township, kind, project, status and year of verification that overlap nothing (a
# pseudo-parcel with their count `n` and summed area; keyed by the day of verification, so
# a campaign of any first and last day sums the days it holds: the rows of one class (in
# the campaign, undated, outside it) are summed first). Each parcel flagged `overlapping`
# is counted as itself with no area: the area of the flagged ones comes from their kept
# overlap groups (migration 0019), whose unions per unit of the grouping asked become three
# pseudo-parcels, since verified ⊆ done ⊆ all: one verified in the year with the verified
# union, one delivered with the done union less that, one planned with the rest. The
# grouping SQL is the full computation's, counting `n` instead of rows, so the figures
# are the same by construction; tests compare them after random sequences of writes.
# A totals row's verification as a moment standing for its class: in the campaign (its
# first moment), undated (NULL, counted in every campaign) or outside it.
_DAY_CLASS = """CASE WHEN t.status <> 'verified' OR t.verified_day = '-infinity' THEN NULL
         WHEN t.verified_day >= CAST(:first_day AS date)
          AND t.verified_day <= CAST(:last_day AS date) THEN CAST(:year_start AS timestamptz)
         ELSE CAST(:year_end AS timestamptz) END"""
_MAINTAINED_VERSIONS = f"""
    SELECT -row_number() OVER () AS parcel_id, t.kind, t.status, t.township_id,
           NULLIF(t.project_id, 0) AS project_id, '{{}}'::int[] AS support_ids,
           NULL::geometry AS geom, sum(t.area_m2)::float8 AS area_m2,
           {_DAY_CLASS} AS verified_at, false AS overlapping, sum(t.parcels)::bigint AS n
    FROM tally_totals t
    WHERE t.parcels <> 0
      AND {_IN_SCOPE.format(r="t")}
    GROUP BY t.kind, t.status, t.township_id, t.project_id, {_DAY_CLASS}
    UNION ALL
    SELECT p.id, p.kind, p.status, p.township_id, p.project_id, '{{}}'::int[], NULL, 0,
           p.verified_at, false, 1
    FROM parcels p
    WHERE p.overlapping AND p.status <> 'withdrawn'
      AND {_IN_SCOPE.format(r="p")}
    UNION ALL
    SELECT 0, a.kind, s.status, a.township_id, NULLIF(a.project_id, 0), '{{}}'::int[], NULL,
           s.area_m2, s.verified_at, false, 0
    FROM ({{groups}}) a
    CROSS JOIN LATERAL {_GROUP_PSEUDO_PARCELS.format(g="a")}
"""
# The kept overlap groups' unions (0019) are per year of verification: a calendar-year
# campaign reads its year's row (or year 0: none of its own verified).
_KEPT_GROUPS = f"""
        SELECT DISTINCT ON (a.group_id, a.unit_id, a.project_id) a.*
        FROM overlap_areas a
        WHERE a.level = :overlap_level AND a.verified_year IN (0, :year)
          AND {_IN_SCOPE.format(r="a")}
        ORDER BY a.group_id, a.unit_id, a.project_id, a.verified_year DESC"""
# Any other campaign keeps their planned and done unions and unions the verified members
# in the unit again, for its days: groups are two or three parcels, and few.
_MEMBER_UNIT = """CASE a.level WHEN 'township' THEN p.township_id WHEN 'city' THEN d.parent_id
                   ELSE t.parent_id END = a.unit_id
              AND (a.level <> 'project' OR coalesce(p.project_id, 0) = a.project_id)"""
_CAMPAIGN_GROUPS = f"""
        SELECT a.kind, a.township_id, a.project_id, a.done_m2, a.planned_m2, (
            SELECT coalesce(ST_Area(ST_Union(p.geom)::geography), 0)
            FROM overlap_members m JOIN parcels p ON p.id = m.parcel_id
            JOIN admin_units t ON t.id = p.township_id JOIN admin_units d ON d.id = t.parent_id
            WHERE m.group_id = a.group_id AND {_VERIFIED} AND {_MEMBER_UNIT}
        ) AS verified_m2
        FROM overlap_areas a
        WHERE a.level = :overlap_level AND a.verified_year = 0
          AND {_IN_SCOPE.format(r="a")}"""
_MAINTAINED_VERSIONS_BY_YEAR = _MAINTAINED_VERSIONS.replace("{groups}", _KEPT_GROUPS)
_MAINTAINED_VERSIONS_BY_DAYS = _MAINTAINED_VERSIONS.replace("{groups}", _CAMPAIGN_GROUPS)
_COUNTED_MEASURES = _measures(counted=True)
_MAINTAINED_GROUP_SQL = {
    by: sql.replace(_MEASURES, _COUNTED_MEASURES) for by, sql in _GROUP_SQL.items()
}
assert all(_COUNTED_MEASURES in sql for sql in _MAINTAINED_GROUP_SQL.values())
_WINDOW = re.compile(r"row_number\(\) OVER \(PARTITION BY [^)]*\) = 1 AS first")
assert all(_WINDOW.search(sql) for sql in _GROUP_SQL.values())


def _grouping(by: str, credit: str, counted: bool = False) -> str:
    sql = (_MAINTAINED_GROUP_SQL if counted else _GROUP_SQL)[by]
    # The window sorts every row in scope: a million at a city's scale, for nothing.
    return _WINDOW.sub(_ONE_ROW_PER_PARCEL, sql) if credit == "host" else sql


# Each unit's annual target and quarterly plan; targets.target_for picks what counts.
_TARGETS = f"""
    WITH tg AS ({_TARGET_VALUES})
    SELECT u.id AS unit_id, u.name, u.code, u.level, d.name AS district,
           d.code AS district_code, tg.kind,
           max(tg.amount_m2) FILTER (WHERE tg.quarter IS NULL) AS annual,
           jsonb_object_agg(tg.quarter, tg.amount_m2) FILTER (WHERE tg.quarter IS NOT NULL)
               AS quarters
    FROM tg JOIN admin_units u ON u.id = tg.admin_unit_id
    LEFT JOIN admin_units d ON d.id = u.parent_id
    WHERE tg.campaign_id = :campaign_id AND u.level = :level
      AND (CAST(:kinds AS text[]) IS NULL OR tg.kind = ANY(CAST(:kinds AS text[])))
      AND (CAST(:district AS int) IS NULL OR CAST(:district AS int) IN (u.id, u.parent_id))
    GROUP BY u.id, u.name, u.code, u.level, d.name, d.code, tg.kind
"""


def tally(
    session: Session,
    by: str = "district",
    kind: str | None = None,
    year: int | None = None,
    as_of: date | None = None,
    credit: str = "host",
    quarter: int | None = None,
    district: str | None = None,
    maintained: bool = True,
    campaign: "str | CampaignView | None" = None,
) -> list[TallyRow]:
    """Rows per group and kind: verified, planned and delivered unions, and the target.

    A tally is for one campaign: named, the one a year names, the one holding the as-of
    day, or the campaign shown by default (campaigns.current); it counts what was verified
    within the campaign's days, against the campaign's targets.
    credit: host (the parcel's own township), helpers (each township that supported it,
    for the parcels it helped on) or all (host and helpers each credited in full).
    Groups with a target and no parcels get a row of zeros.
    A closed campaign is tallied as on its last day (campaigns.close_campaign).
    Today's tally with host credit comes from the maintained totals; a past day's, or
    another credit, from the history with the parcels that ever overlapped (unioned)
    known in advance. With `maintained` False, all is computed from the history in full.
    """
    if by not in GROUPINGS:
        raise InvalidInput(
            f"--by must be one of {', '.join(GROUPINGS)}",
            rule="grouping", params={"choices": ", ".join(GROUPINGS), "value": by},
        )  # fmt: skip
    if credit not in CREDITS:
        raise InvalidInput(
            f"credit must be one of {', '.join(CREDITS)}, not {credit!r}",
            rule="choice",
            params={"option": "credit", "choices": ", ".join(CREDITS), "value": credit},
        )
    chosen, as_of = campaign_and_day(session, campaign, year, as_of, quarter)
    closed = as_of is None and chosen.id is not None and chosen.state == CLOSED
    if closed:
        # A closed campaign stands as it was on its last day: what was planned, delivered
        # and verified then, not parcels added or moved since (against its targets as they
        # are: a target set or corrected afterwards is the office's latest word).
        as_of = min(chosen.last_day, today())
    params = {**_params(kind, as_of, chosen, _district_id(session, district)), "quarter": quarter}
    params["overlap_level"] = by
    credited = _CREDITED[credit]
    if not maintained:
        versions = _VERSIONS
    elif credit == "host" and as_of is None:
        calendar = chosen.calendar_year is not None
        versions = _MAINTAINED_VERSIONS_BY_YEAR if calendar else _MAINTAINED_VERSIONS_BY_DAYS
        if by == "city" and district:
            # The kept city rows union every district's parcels; one district's city row
            # unions its own, which its kept district rows hold.
            params["overlap_level"] = "district"
    elif credit == "host":
        versions = _PAST_TOTALS
    else:
        versions, credited = _credited_totals(credit), "SELECT * FROM versions"
    sql = f"WITH versions AS ({versions}), credited AS ({credited}) "
    sql += _grouping(by, credit, counted=maintained)
    # The spatial functions' costs push the planner into JIT-compiling a query that runs
    # in milliseconds: seconds of compiling at 100,000 parcels (measured), for nothing.
    session.execute(text("SET LOCAL jit = off"))
    rows = session.execute(text(sql), params).mappings().all()
    targets = _targets(session, by, {**params, "as_of": None} if closed else params)
    result = [_row(r, targets.pop((r["unit_id"], r["kind"]), None), credit) for r in rows]
    result += [_target_only(t, credit) for t in targets.values()]
    for row in result:
        row.campaign = chosen.name
    if quarter is not None and by != "project":
        found = dues(session, by, chosen, as_of, as_of, district, kind)
        named = (lambda r: r.township) if by == "township" else (lambda r: r.district)
        result = [with_due_plan(r, found.get((named(r), r.kind))) for r in result]
    return sorted(result, key=lambda r: (r.sort_key, r.kind))


# `compare` asking for the same period a year earlier rather than another campaign.
LAST_YEAR = "last_year"


def check_period_compared(compare: "str | CampaignView | None", period: object) -> None:
    """A period (2017Q2, 2017-05) is set only beside the same days a year earlier: the one
    check of the API, the workbook and the command, in one wording."""
    if period is not None and compare != LAST_YEAR:
        raise InvalidInput(
            "period: only with compare=last_year (--period only with --compare last_year)",
            rule="period_last_year", params={},
        )  # fmt: skip


class Comparison(TypedDict, total=False):
    """What `compared` and `year_over_year` are asked with, all by name; unnamed, the
    value in COMPARISON."""

    by: str
    kind: str | None
    campaign: "str | CampaignView | None"
    year: int | None
    credit: str
    district: str | None
    as_of: date | None
    period: Period | None
    exact: bool


COMPARISON = Comparison(
    by="district", kind=None, campaign=None, year=None, credit="host", district=None,
    as_of=None, period=None, exact=False,
)  # fmt: skip


def _comparison(query: dict) -> Comparison:
    unknown = query.keys() - COMPARISON.keys()
    if unknown:
        raise TypeError(f"not a comparison's parameter: {', '.join(sorted(unknown))}")
    return Comparison(**{**COMPARISON, **query})


def compared(
    session: Session, compare: "str | CampaignView", **query: Unpack[Comparison]
) -> list[dict]:
    """The campaign's rows (as `tally` gives them, presented for `by`) with an earlier
    campaign's beside them (攻坚2017 against 2016年百日攻坚): its verified area, target and
    progress (`compare_*`), and the difference of the verified areas and progress
    (`*_change`). Each side as it stands now (a closed campaign: on its last day), counting
    its own days only.
    `compare` = last_year: see `year_over_year`. `exact`: unrounded, every key kept (the
    workbook's cells)."""
    q = _comparison(query)
    check_period_compared(compare, q["period"])
    if compare == LAST_YEAR:
        return year_over_year(session, **q)
    if q["as_of"] is not None:
        raise InvalidInput(
            "compare: two campaigns as they stand now; a day only with compare=last_year",
            rule="compare_now",
            params={},
        )
    chosen, _ = campaign_and_day(session, q["campaign"], q["year"], None)
    other, _ = campaign_and_day(session, compare, None, None)
    common = {name: q[name] for name in ("by", "kind", "credit", "district")}
    rows = tally(session, campaign=chosen, **common)
    earlier = tally(session, campaign=other, **common)
    return _side_by_side(rows, earlier, other.name, q["by"], q["credit"], q["exact"])


def year_over_year(session: Session, **query: Unpack[Comparison]) -> list[dict]:
    """This quarter against the same quarter last year: what was verified from the period's
    first day to the day asked (the as-of day, else the campaign's day 截至, i.e. today held
    within it) beside the same days a year earlier, each as it stood at its own last day.
    `period` (a quarter 2017Q2 or a month 2017-05) picks another period; a finished period
    is compared whole. The figures are the period's own, not the campaign's to date, so
    there is no target or progress."""
    q = _comparison(query)
    as_of, period = q["as_of"], q["period"]
    if period is None:
        day = as_of or resolve(session, q["campaign"], q["year"], as_of).reference_day()
        period = quarter_of(day)
    else:
        day = min(period.end, as_of or today())
        if day < period.start:
            raise InvalidInput(
                f"period {period} has not begun by {day}",
                rule="period_not_begun", params={"period": str(period), "day": str(day)},
            )  # fmt: skip
    earlier = period.a_year_earlier()
    if not get_settings().year_ok(earlier.year):
        raise InvalidInput(
            f"compare=last_year: {earlier.year} is outside the years {get_settings().years}",
            rule="year_outside", params={"value": earlier.year, **get_settings().year_figures},
        )  # fmt: skip
    common = {name: q[name] for name in ("by", "kind", "credit", "district")}
    now = _period_tally(session, period, day, common)
    then = _period_tally(session, earlier, a_year_before(day), common)
    return _side_by_side(now, then, str(earlier), q["by"], q["credit"], q["exact"])


def _period_tally(session: Session, period: Period, day: date, common: dict) -> list[TallyRow]:
    days = CampaignView(None, str(period), period.start, day)
    # Today's figures come from the maintained totals; a past day's from the history.
    return tally(session, campaign=days, as_of=day if day < today() else None, **common)


def _side_by_side(rows, earlier_rows, name: str, by: str, credit: str, exact: bool) -> list:
    earlier = {_key(r): r for r in earlier_rows}
    shape = "project" if exact else by
    out = []
    for row in rows:
        data = row.as_dict(shape, exact)
        data.update(_beside(name, row, earlier.pop(_key(row), None), exact))
        out.append(data)
    campaign = rows[0].campaign if rows else None
    for before in earlier.values():  # groups the earlier side had alone: zero now
        none = TallyRow(
            before.district, before.township, before.project, before.project_name,
            before.kind, 0, 0.0, None, credit=credit, campaign=campaign,
            sort_key=before.sort_key,
        )  # fmt: skip
        out.append({**none.as_dict(shape, exact), **_beside(name, None, before, exact)})
    return out


def _key(row: TallyRow) -> tuple:
    return (row.district, row.township, row.project, row.kind)


def _beside(name: str, row: TallyRow | None, before: TallyRow | None, exact: bool = False) -> dict:
    now_m2 = row.verified_m2 if row else 0.0
    then_m2 = before.verified_m2 if before else 0.0
    now_progress = row.progress if row else None
    then_progress = before.progress if before else None
    change = None if None in (now_progress, then_progress) else now_progress - then_progress
    data = {
        "compare_campaign": name,
        "compare_verified_m2": then_m2,
        "compare_verified_mu": m2_to_mu(then_m2),
        "compare_target_m2": before.target_m2 if before else None,
        "compare_progress": then_progress,
        "verified_m2_change": now_m2 - then_m2,
        "verified_mu_change": m2_to_mu(now_m2 - then_m2),
        "progress_change": change,
    }
    return data if exact else rounded(data)


def campaign_and_day(
    session: Session,
    campaign: "str | CampaignView | None",
    year: int | None,
    as_of: date | None,
    quarter: int | None = None,
) -> tuple[CampaignView, date | None]:
    """The campaign tallied and the day it is tallied as at (None: now); a quarter (the
    campaign's own calendar quarter of that number, campaigns.quarter_end) means as at its
    last day."""
    for label, value in (("year", year), ("as-of day", as_of.year if as_of else None)):
        # Outside the window a day's end or a year's start may not even exist (9999-12-31).
        if value is not None and not get_settings().year_ok(value):
            raise InvalidInput(
                f"the {label} must be in the years {get_settings().years}",
                rule="year_outside", params={"value": value, **get_settings().year_figures},
            )  # fmt: skip
    chosen = resolve(session, campaign, year, as_of)
    if as_of is not None and year is not None and as_of.year != year and not campaign:
        raise InvalidInput(
            f"--as-of {as_of} is not in {year}: a tally is for one year",
            rule="as_of_year", params={"day": str(as_of), "year": year},
        )  # fmt: skip
    if as_of is not None and campaign and not chosen.contains(as_of):
        raise InvalidInput(
            f"--as-of {as_of} is outside campaign {chosen.name} "
            f"({chosen.first_day} to {chosen.last_day})",
            rule="as_of_outside_campaign",
            params={"day": str(as_of), "campaign": chosen.name, "first": str(chosen.first_day),
                    "last": str(chosen.last_day)},
        )  # fmt: skip
    if quarter is not None:
        if quarter not in QUARTER_ENDS:
            raise InvalidInput(
                "quarter must be 1 to 4", rule="target_quarter", params={"value": quarter}
            )
        as_of = as_of or chosen.quarter_end(quarter)
    return chosen, as_of


def _targets(session: Session, by: str, params: dict) -> dict:
    if by == "project":
        return {}
    rows = session.execute(text(_TARGETS), {**params, "level": by}).mappings().all()
    found = {}
    for r in rows:
        quarters = {int(q): amount for q, amount in (r["quarters"] or {}).items()}
        amount, basis = target_and_basis(r["annual"], quarters, params["quarter"])
        if amount is not None:
            found[(r["unit_id"], r["kind"])] = {**r, "target_m2": amount, "target_basis": basis}
    return found


def unit_plans(
    session: Session, by: str, campaign: CampaignView, as_of=None, district=None, kind=None
) -> dict:
    """(unit name, kind) → (annual target, {quarter: plan}, parent's name) of the units at
    level `by`, as in force at the end of `as_of` (None: now)."""
    params = {**_params(kind, as_of, campaign, _district_id(session, district)), "level": by}
    return {
        (r["name"], r["kind"]): (
            r["annual"],
            {int(q): amount for q, amount in (r["quarters"] or {}).items()},
            r["district"],
        )
        for r in session.execute(text(_TARGETS), params).mappings()
    }


def dues(
    session: Session,
    by: str,
    campaign: CampaignView,
    day: date,
    as_of: date | None = None,
    district: str | None = None,
    kind: str | None = None,
) -> dict:
    """(unit name, kind) → the area due by the end of `day` (due.due_m2: the rankings'
    and the board's rule) for the units at level `by` (township, district or city) with a
    target, each reckoned with its parent's plan where it has none of its own."""
    own = unit_plans(session, by, campaign, as_of, district, kind)
    above = {"township": "district", "district": "city"}.get(by)
    parents = unit_plans(session, above, campaign, as_of, None, kind) if above else {}
    found = {}
    for (name, k), (annual, quarters, parent_name) in own.items():
        parent = parents.get((parent_name, k))
        amount = due.due_m2(campaign, day, (annual, quarters), parent)
        if amount is not None:
            found[(name, k)] = amount
    return found


def with_due_plan(row: TallyRow, due_m2: float | None) -> TallyRow:
    """A quarter's row (tally with `quarter`) whose target is a quarterly plan, measured
    against what the plan made due by its day (in the campaign's own quarters): the same
    figure in a calendar-year campaign, whose quarters end on the days plan_q<n> names."""
    plan = (row.target_basis or "").startswith("plan_q")
    if plan and due_m2 is not None and abs(due_m2 - row.target_m2) > 0.005:
        return replace(row, target_m2=due_m2, target_basis=DUE)
    return row


def _params(kind, as_of, campaign: CampaignView | None = None, district_id=None) -> dict:
    if kind is not None and kind not in KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(KINDS)}",
            rule="choice", params={"option": "kind", "choices": ", ".join(KINDS), "value": kind},
        )  # fmt: skip
    first = campaign.first_day if campaign else None
    last = campaign.last_day if campaign else None
    return {
        "kinds": [kind] if kind else None,
        "as_of": end_of_day(as_of) if as_of else None,
        "year": campaign.year if campaign else None,
        "campaign_id": campaign.id if campaign else None,
        "first_day": first,
        "last_day": last,
        "year_start": datetime.combine(first, time.min, tzinfo=CAMPAIGN_TZ) if first else None,
        "year_end": end_of_day(last) if last else None,
        # One district's parcels and targets only (the maps); None for the whole city.
        "district": district_id,
    }


def _district_id(session: Session, district: str | None) -> int | None:
    return find_district(session, district).id if district else None


def _row(r, target, credit: str) -> TallyRow:
    return TallyRow(
        district=r["district"],
        township=r["township"],
        project=r["project"],
        project_name=r["project_name"],
        kind=r["kind"],
        verified_parcels=r["verified_parcels"],
        verified_m2=float(r["verified_m2"]),
        target_m2=float(target["target_m2"]) if target else None,
        target_basis=target["target_basis"] if target else None,
        planned_parcels=r["planned_parcels"],
        planned_m2=float(r["planned_m2"]),
        delivered_parcels=r["delivered_parcels"],
        delivered_m2=float(r["delivered_m2"]),
        credit=credit,
        sort_key=(r["district_code"], r["township_code"] or "", r["project"] or ""),
    )


def _target_only(t, credit: str) -> TallyRow:
    district_level = t["level"] in ("city", "district")
    return TallyRow(
        district=t["name"] if district_level else t["district"],
        township=None if district_level else t["name"],
        project=None,
        project_name=None,
        kind=t["kind"],
        verified_parcels=0,
        verified_m2=0.0,
        target_m2=float(t["target_m2"]),
        target_basis=t["target_basis"],
        credit=credit,
        sort_key=(t["code"], "", "") if district_level else (t["district_code"], t["code"], ""),
    )


# --- cross-township support -------------------------------------------------------------


@dataclass
class SupportLink:
    """A host township and one township that supported it, for one kind of work."""

    district: str
    host_id: int
    host: str
    helper_id: int
    helper: str
    kind: str
    parcels: int  # parcels the helper supported, any status
    verified_parcels: int
    verified_m2: float  # union of those verified: the area they delivered together

    @property
    def verified_mu(self) -> float:
        return m2_to_mu(self.verified_m2)

    def as_dict(self) -> dict:
        return rounded({**asdict(self), "verified_mu": self.verified_mu})


# Only the supported versions, and no overlap probe: a link's area is the union of all
# its verified parcels.
_SUPPORTED_VERSIONS = f"""{_VERSION_FIELDS} false AS overlapping
    {_VERSIONS_IN_SCOPE} AND v.support_ids <> '{{}}'"""
_SUPPORT_LINKS = f"""
    WITH versions AS ({_SUPPORTED_VERSIONS}),
    links AS ({_HELPERS})
    SELECT d.name AS district, h.id AS host_id, h.name AS host,
           s.id AS helper_id, s.name AS helper, p.kind,
           count(DISTINCT p.parcel_id) AS parcels,
           count(DISTINCT p.parcel_id) FILTER (WHERE {_VERIFIED}) AS verified_parcels,
           COALESCE(ST_Area((ST_Union(p.geom) FILTER (WHERE {_VERIFIED}))::geography),
                    0) AS verified_m2
    FROM links p JOIN admin_units h ON h.id = p.township_id
    JOIN admin_units d ON d.id = h.parent_id
    JOIN admin_units s ON s.id = p.credit_id
    GROUP BY d.name, h.id, h.name, s.id, s.name, p.kind
    ORDER BY d.name, h.name, s.name, p.kind
"""


def support_links(
    session: Session,
    kind: str | None = None,
    as_of: date | None = None,
    district: str | None = None,
) -> list[SupportLink]:
    """Host → helper pairs: how many parcels the helper supported and the verified area
    (union) they delivered together, from the support recorded at the time asked for."""
    params = _params(kind, as_of, district_id=_district_id(session, district))
    rows = session.execute(text(_SUPPORT_LINKS), params).mappings().all()
    return [SupportLink(**{**r, "verified_m2": float(r["verified_m2"])}) for r in rows]
