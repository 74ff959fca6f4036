"""Verified area per district, township and project, against targets.

A tally is the area of the union of the verified parcels in a group, measured on the
ellipsoid (PostGIS geography on EPSG:4490 uses GRS80), so overlapping parcels count once.
"""

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from .areas import m2_to_mu
from .errors import InvalidInput
from .models import KINDS

GROUPINGS = ("district", "township", "project")
# "The end of that day" is the campaign office's day, in China Standard Time.
CAMPAIGN_TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class TallyRow:
    district: str
    township: str | None
    project: str | None
    project_name: str | None
    kind: str
    parcels: int
    verified_m2: float
    target_m2: float | None

    @property
    def verified_mu(self) -> float:
        return m2_to_mu(self.verified_m2)

    @property
    def target_mu(self) -> float | None:
        return m2_to_mu(self.target_m2)

    @property
    def progress(self) -> float | None:
        return self.verified_m2 / self.target_m2 if self.target_m2 else None

    @property
    def remaining_m2(self) -> float | None:
        return None if self.target_m2 is None else max(self.target_m2 - self.verified_m2, 0.0)

    def as_dict(self, by: str) -> dict:
        data = asdict(self)
        if by == "district":
            data.pop("township")
        if by != "project":
            data.pop("project")
            data.pop("project_name")
        data.update(
            verified_mu=self.verified_mu,
            target_mu=self.target_mu,
            progress=self.progress,
            remaining_m2=self.remaining_m2,
            remaining_mu=m2_to_mu(self.remaining_m2),
        )
        return data


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=CAMPAIGN_TZ)


# Parcels as they stood at :as_of (the current state when as_of is NULL), verified only.
_VERIFIED = """
    SELECT v.parcel_id, v.kind, v.township_id, v.project_id, v.geom
    FROM parcel_versions v
    WHERE v.status = 'verified'
      AND (CAST(:kinds AS text[]) IS NULL OR v.kind = ANY(CAST(:kinds AS text[])))
      AND (CAST(:as_of AS timestamptz) IS NULL AND v.valid_to IS NULL
           OR v.valid_from < CAST(:as_of AS timestamptz)
              AND (v.valid_to IS NULL OR v.valid_to >= CAST(:as_of AS timestamptz)))
"""

_GROUP_SQL = {
    "district": """
        SELECT d.id AS unit_id, d.name AS district, NULL AS township, NULL AS project,
               NULL AS project_name, p.kind, count(*) AS parcels,
               ST_Area(ST_Union(p.geom)::geography) AS verified_m2
        FROM verified p JOIN admin_units t ON t.id = p.township_id
        JOIN admin_units d ON d.id = t.parent_id
        GROUP BY d.id, d.name, p.kind""",
    "township": """
        SELECT t.id AS unit_id, d.name AS district, t.name AS township, NULL AS project,
               NULL AS project_name, p.kind, count(*) AS parcels,
               ST_Area(ST_Union(p.geom)::geography) AS verified_m2
        FROM verified p JOIN admin_units t ON t.id = p.township_id
        JOIN admin_units d ON d.id = t.parent_id
        GROUP BY t.id, t.name, d.name, p.kind""",
    "project": """
        SELECT NULL AS unit_id, d.name AS district,
               string_agg(DISTINCT t.name, '、') AS township, pr.code AS project,
               pr.name AS project_name, p.kind, count(*) AS parcels,
               ST_Area(ST_Union(p.geom)::geography) AS verified_m2
        FROM verified p JOIN admin_units t ON t.id = p.township_id
        JOIN admin_units d ON d.id = t.parent_id
        JOIN projects pr ON pr.id = p.project_id
        GROUP BY pr.code, pr.name, d.name, p.kind""",
}

# A year's target is its annual row, or else the sum of its quarters.
_TARGETS = """
    SELECT u.id AS unit_id, u.name, u.level, d.name AS district, tg.kind,
           COALESCE(max(tg.amount_m2) FILTER (WHERE tg.quarter IS NULL),
                    sum(tg.amount_m2) FILTER (WHERE tg.quarter IS NOT NULL)) AS target_m2
    FROM targets tg JOIN admin_units u ON u.id = tg.admin_unit_id
    LEFT JOIN admin_units d ON d.id = u.parent_id
    WHERE tg.year = :year AND u.level = :level
      AND (CAST(:kinds AS text[]) IS NULL OR tg.kind = ANY(CAST(:kinds AS text[])))
    GROUP BY u.id, u.name, u.level, d.name, tg.kind
"""


def tally(
    session: Session,
    by: str = "district",
    kind: str | None = None,
    year: int = 2017,
    as_of: date | None = None,
) -> list[TallyRow]:
    if by not in GROUPINGS:
        raise InvalidInput(f"--by must be one of {', '.join(GROUPINGS)}")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    params = {
        "kinds": [kind] if kind else None,
        "as_of": end_of_day(as_of) if as_of else None,
        "year": year,
    }
    sql = f"WITH verified AS ({_VERIFIED}) {_GROUP_SQL[by]}"
    rows = session.execute(text(sql), params).mappings().all()
    targets = _targets(session, by, params)
    result = [_row(r, targets.pop((r["unit_id"], r["kind"]), None)) for r in rows]
    result += [_target_only(t) for t in targets.values()]
    return sorted(result, key=lambda r: (r.district, r.township or "", r.project or "", r.kind))


def _targets(session: Session, by: str, params: dict) -> dict:
    if by == "project":
        return {}
    rows = session.execute(text(_TARGETS), {**params, "level": by}).mappings().all()
    return {(r["unit_id"], r["kind"]): r for r in rows}


def _row(r, target) -> TallyRow:
    return TallyRow(
        district=r["district"],
        township=r["township"],
        project=r["project"],
        project_name=r["project_name"],
        kind=r["kind"],
        parcels=r["parcels"],
        verified_m2=float(r["verified_m2"]),
        target_m2=float(target["target_m2"]) if target else None,
    )


def _target_only(t) -> TallyRow:
    district_level = t["level"] == "district"
    return TallyRow(
        district=t["name"] if district_level else t["district"],
        township=None if district_level else t["name"],
        project=None,
        project_name=None,
        kind=t["kind"],
        parcels=0,
        verified_m2=0.0,
        target_m2=float(t["target_m2"]),
    )
