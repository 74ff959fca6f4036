"""Bulk writes of an import: one binary COPY into a staging table, then set-based SQL.

An ORM object per row and multi-row `INSERT … VALUES` made imports of city-sized files
slow and broke at PostgreSQL's 65,535 bind parameters; here codes travel as one array
parameter and the parcels as WKB through COPY, so a file of any size is a few statements.
"""

import json
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from .models import STORAGE_SRID

# Every column an import writes, in the staging table's order.
_STAGE_COLUMNS = (
    ("parcel_id", "int8"),  # NULL for a parcel the file creates
    ("change", "text"),
    ("code", "text"),
    ("name", "text"),
    ("status", "text"),
    ("project_id", "int8"),
    ("geom", "bytea"),
    ("area_m2", "float8"),
    ("declared_m2", "float8"),
    ("flags", "text"),
    ("support_ids", "text"),
    ("verified_by", "text"),
    ("verified_group", "text"),
    ("verified_at", "timestamptz"),
    ("verified_area_m2", "float8"),
    ("verification_note", "text"),
    ("dispute_reason", "text"),
)
_COPIED = (
    "name, status, project_id, area_m2, declared_m2, verified_by, verified_group, "
    "verified_at, verified_area_m2, verification_note, dispute_reason"
)


@dataclass
class StoredParcel:
    """A parcel's current state, as far as an import compares and carries it over."""

    id: int
    status: str
    project_id: int | None
    name: str | None
    declared_m2: float | None
    geom: object
    verified_by: str | None
    verified_group: str | None
    verified_at: object
    verified_area_m2: float | None
    verification_note: str | None
    dispute_reason: str | None
    support_ids: list[int]


def lock_current(session: Session, township_id: int, kind: str, codes: list[str]) -> dict:
    """The stored parcels among `codes`, locked like workflow changes lock them, so a
    verification and an upload do not interleave. Keyed by code."""
    rows = session.execute(
        text(
            """
            SELECT p.id, p.code, p.status, p.project_id, p.name, p.declared_m2,
                   ST_AsBinary(p.geom) AS wkb, p.verified_by, p.verified_group, p.verified_at,
                   p.verified_area_m2, p.verification_note, p.dispute_reason,
                   coalesce((SELECT array_agg(s.township_id ORDER BY s.township_id)
                             FROM parcel_support s WHERE s.parcel_id = p.id), '{}') AS support
            FROM parcels p
            WHERE p.township_id = :township AND p.kind = :kind AND p.code = ANY(:codes)
            FOR UPDATE OF p
            """
        ),
        {"township": township_id, "kind": kind, "codes": list(codes)},
    ).all()
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else []
    return {
        r.code: StoredParcel(
            r.id,
            r.status,
            r.project_id,
            r.name,
            r.declared_m2,
            geom,
            r.verified_by,
            r.verified_group,
            r.verified_at,
            r.verified_area_m2,
            r.verification_note,
            r.dispute_reason,
            list(r.support),
        )
        for r, geom in zip(rows, geoms, strict=True)
    }


def same_shapes(stored: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Element-wise: the same boundary, whatever the ring order or first vertex (a
    Shapefile writes clockwise, GeoJSON counter-clockwise)."""
    if len(stored) == 0:
        return np.zeros(0, dtype=bool)
    return shapely.equals_exact(
        shapely.normalize(stored), shapely.normalize(new), tolerance=1e-9
    ).astype(bool)


def write_parcels(
    session: Session, rows: list[dict], geoms: np.ndarray, *, township_id, kind, upload, actor, now
) -> None:
    """Create and update the parcels in `rows` (one dict per staged column but geom, with
    its geometry in `geoms`), their supporting townships, and a version of each: the
    previous version is closed at `now`, the new one is a snapshot of the stored parcel."""
    if not rows:
        return
    conn = session.connection()
    conn.execute(text(f"CREATE TEMP TABLE import_stage ({_stage_ddl()}) ON COMMIT DROP"))
    _copy_stage(conn, rows, geoms)
    conn.execute(text("ANALYZE import_stage"))
    params = {
        "township": township_id,
        "kind": kind,
        "upload": upload.id,
        "source": upload.filename,
        "actor": actor,
        "now": now,
    }
    for statement in (_UPDATE, _INSERT, _CLOSE, _UNSUPPORT, _SUPPORT, _VERSIONS):
        conn.execute(text(statement), params)
    conn.execute(text("DROP TABLE import_stage"))
    # The ORM may hold these parcels from before: let it read them again.
    session.expire_all()


def _stage_ddl() -> str:
    return ", ".join(f"{name} {kind}" for name, kind in _STAGE_COLUMNS)


def _copy_stage(conn, rows: list[dict], geoms: np.ndarray) -> None:
    wkb = shapely.to_wkb(geoms, include_srid=False)
    names = [name for name, _ in _STAGE_COLUMNS]
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY import_stage ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([kind for _, kind in _STAGE_COLUMNS])
        for row, shape in zip(rows, wkb, strict=True):
            copy.write_row(_stage_row(row, shape, names))


def _stage_row(row: dict, wkb: bytes, names: list[str]) -> tuple:
    values = dict(row, geom=wkb)
    values["flags"] = json.dumps(row["flags"], ensure_ascii=False) if row["flags"] else "[]"
    values["support_ids"] = "{" + ",".join(str(i) for i in sorted(row["support_ids"])) + "}"
    return tuple(values[name] for name in names)


_GEOM = f"ST_SetSRID(ST_GeomFromWKB(s.geom), {STORAGE_SRID})"

_UPDATE = f"""
    UPDATE parcels p SET ({_COPIED}, geom, flags, source_file, upload_id, updated_by,
                          updated_at, version) =
        ({", ".join("s." + c.strip() for c in _COPIED.split(","))}, {_GEOM}, s.flags::jsonb,
         :source, :upload, :actor, :now, p.version + 1)
    FROM import_stage s WHERE s.parcel_id = p.id
"""

_INSERT = f"""
    INSERT INTO parcels (code, kind, township_id, {_COPIED}, geom, flags, source_file,
                         upload_id, created_by, updated_by, updated_at, version)
    SELECT s.code, :kind, :township, {", ".join("s." + c.strip() for c in _COPIED.split(","))},
           {_GEOM}, s.flags::jsonb, :source, :upload, :actor, :actor, :now, 1
    FROM import_stage s WHERE s.parcel_id IS NULL
"""

_CLOSE = """
    UPDATE parcel_versions v SET valid_to = :now
    FROM import_stage s WHERE v.parcel_id = s.parcel_id AND v.valid_to IS NULL
"""

_STAGED = """
    FROM import_stage s JOIN parcels p
      ON p.township_id = :township AND p.kind = :kind AND p.code = s.code
"""

_UNSUPPORT = """
    DELETE FROM parcel_support ps USING import_stage s WHERE ps.parcel_id = s.parcel_id
"""

_SUPPORT = f"""
    INSERT INTO parcel_support (parcel_id, township_id)
    SELECT p.id, unnest(s.support_ids::int[]) {_STAGED}
"""

# A version is the parcel's whole state as now stored.
_VERSIONS = f"""
    INSERT INTO parcel_versions (parcel_id, version, change, code, kind, status, township_id,
        project_id, geom, area_m2, upload_id, changed_by, valid_from, verified_by,
        verified_group, verified_at, verified_area_m2, flags, support_ids)
    SELECT p.id, p.version, s.change, p.code, p.kind, p.status, p.township_id, p.project_id,
           p.geom, p.area_m2, :upload, :actor, :now, p.verified_by, p.verified_group,
           p.verified_at, p.verified_area_m2, p.flags, s.support_ids::int[]
    {_STAGED}
"""
