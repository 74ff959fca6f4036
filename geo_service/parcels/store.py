"""Bulk writes of an import: binary COPY into staging tables, batch by batch, then
set-based SQL once the whole file has passed its checks.

An ORM object per row and multi-row `INSERT … VALUES` made imports of city-sized files
slow and broke at PostgreSQL's 65,535 bind parameters; here codes travel as one array
parameter and the parcels as WKB through COPY, so a file of any size is a few statements.
Three temporary tables live for one import (dropped at its end, or with the transaction):
- `import_codes`: every feature's code, read first, so that the checks of the first batch
  already know which stored parcels the file replaces, and duplicates are found in SQL;
- `import_rows`: every checked feature (its shape in storage and in the file's CRS, its
  area): what the checks of a later batch, and the report at the end, read back;
- `import_stage`: each accepted feature's new state, written to `parcels` at the end
  (its shape is the one `import_rows` holds: it is sent once).
"""

import itertools
import json
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.models import STORAGE_SRID

# Every column an import writes, in the staging table's order.
_STAGE_COLUMNS = (
    ("feature", "int4"),  # the feature's number in the file
    ("parcel_id", "int8"),  # NULL for a parcel the file creates
    ("change", "text"),
    ("code", "text"),
    ("name", "text"),
    ("status", "text"),
    ("project_id", "int8"),
    ("area_m2", "float8"),
    ("declared_m2", "float8"),
    ("flags", "text"),
    ("support_ids", "text"),
    ("verified_by", "text"),
    ("verified_group", "text"),
    ("verified_at", "timestamptz"),
    ("verification_recorded_at", "timestamptz"),
    ("verification_recorded_by", "text"),
    ("verified_area_m2", "float8"),
    ("verification_note", "text"),
    ("dispute_reason", "text"),
    ("withdrawn_at", "timestamptz"),
    ("withdrawn_by", "text"),
    ("withdrawn_reason", "text"),
    # When the change happened in the field (NULL: when recorded), and the version's note.
    ("happened_at", "timestamptz"),
    ("version_note", "text"),
    ("history_change", "text"),  # what the history calls it, when not `change`
)
_STATE_NAMES = tuple(name for name, _ in _STAGE_COLUMNS[1:])
_COPIED = (
    "name, status, project_id, area_m2, declared_m2, verified_by, verified_group, "
    "verified_at, verification_recorded_at, verification_recorded_by, verified_area_m2, "
    "verification_note, dispute_reason, withdrawn_at, withdrawn_by, withdrawn_reason"
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
    verification_recorded_at: object = None
    verification_recorded_by: str | None = None


# The codes of a batch's features (first + 1 … last), made in the database from
# import_codes: a list of 10,000 codes sent as a parameter cost 50 ms of psycopg quoting
# it value by value (1.6 s of a 100,000-parcel import).
BATCH_CODES = "(ARRAY(SELECT code FROM import_codes WHERE feature BETWEEN :first_ AND :last_))"


def batch_codes(first: int, count: int) -> dict:
    """The parameters of BATCH_CODES for the features first + 1 … first + count."""
    return {"first_": first + 1, "last_": first + count}


def lock_current(session: Session, township_id: int, kind: str, codes) -> dict:
    """The stored parcels among `codes` (a list, or a batch's range as `batch_codes`
    gives it), locked like workflow changes lock them, so a verification and an upload
    do not interleave. Keyed by code."""
    batch = isinstance(codes, dict)
    rows = session.execute(
        text(
            f"""
            SELECT p.id, p.code, p.status, p.project_id, p.name, p.declared_m2,
                   ST_AsBinary(p.geom) AS wkb, p.verified_by, p.verified_group, p.verified_at,
                   p.verified_area_m2, p.verification_note, p.dispute_reason,
                   p.verification_recorded_at, p.verification_recorded_by,
                   coalesce((SELECT array_agg(s.township_id ORDER BY s.township_id)
                             FROM parcel_support s WHERE s.parcel_id = p.id), '{{}}') AS support
            FROM parcels p
            WHERE p.township_id = :township AND p.kind = :kind
              AND p.code = ANY({BATCH_CODES if batch else ":codes"})
            FOR UPDATE OF p
            """
        ),
        {"township": township_id, "kind": kind, **(codes if batch else {"codes": list(codes)})},
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
            r.verification_recorded_at,
            r.verification_recorded_by,
        )
        for r, geom in zip(rows, geoms, strict=True)
    }


# About 1 cm: our own GeoJSON exports round to 1e-7 degrees (RFC 7946's advice), and a
# boundary point is surveyed to no better than a few centimetres, so an outline that moved
# less than this is the same outline coming back, not a new survey.
SAME_SHAPE_DEGREES = 1e-7


def same_shapes(stored: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Element-wise: the same boundary, whatever the ring order or first vertex (a
    Shapefile writes clockwise, GeoJSON counter-clockwise) and within SAME_SHAPE_DEGREES."""
    if len(stored) == 0:
        return np.zeros(0, dtype=bool)
    return shapely.equals_exact(
        shapely.normalize(stored), shapely.normalize(new), tolerance=SAME_SHAPE_DEGREES
    ).astype(bool)


_ROW_COLUMNS = (
    ("feature", "int4"),
    ("code", "text"),
    ("asked", "text"),  # the status the file asks for (None: kept, or planned)
    ("geom", "bytea"),  # EPSG:4490 WKB after repair; NULL when the feature is refused
    ("source", "bytea"),  # the feature as read, in the file's CRS (for the problems file)
    ("area_m2", "float8"),
)


def open_stage(session: Session) -> None:
    """The import's temporary tables (see the module's docstring), empty."""
    close_stage(session)
    conn = session.connection()
    conn.execute(text("CREATE TEMP TABLE import_codes (feature int4, code text) ON COMMIT DROP"))
    rows = ", ".join(f"{name} {kind}" for name, kind in _ROW_COLUMNS)
    # Later batches and the report read features back by number.
    conn.execute(
        text(f"CREATE TEMP TABLE import_rows ({rows}, PRIMARY KEY (feature)) ON COMMIT DROP")
    )
    conn.execute(text(f"CREATE TEMP TABLE import_stage ({_stage_ddl()}) ON COMMIT DROP"))
    # The codes of new parcels the insert's trigger probes for overlaps (migration 0026i).
    conn.execute(text("CREATE TEMP TABLE import_probe (code text) ON COMMIT DROP"))


def close_stage(session: Session) -> None:
    tables = "import_codes, import_rows, import_stage, import_probe"
    session.connection().execute(text(f"DROP TABLE IF EXISTS {tables}"))


def _copy(session: Session, table: str, columns, values: list) -> None:
    """COPY whole columns (`values`: a sequence per column, or `Same` for one value in
    every row; shapes as an array of geometries) in PostgreSQL's binary format."""
    count = max((len(v) for v in values if not isinstance(v, Same)), default=0)
    if count == 0:
        return
    given = [
        itertools.repeat(v.value, count) if isinstance(v, Same)
        else shapely.to_wkb(v) if kind == "bytea" and isinstance(v, np.ndarray)
        else v
        for v, (_name, kind) in zip(values, columns, strict=True)
    ]  # fmt: skip
    cursor = session.connection().connection.driver_connection.cursor()
    names = ", ".join(name for name, _ in columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([kind for _, kind in columns])
        for row in zip(*given, strict=False):  # a repeated value is endless: the lists end
            copy.write_row(row)


@dataclass(frozen=True)
class Same:
    """One value for every row of a column (`_copy`)."""

    value: object


def stage_codes(session: Session, first: int, codes: list[str]) -> None:
    features = np.arange(first + 1, first + len(codes) + 1).tolist()
    _copy(session, "import_codes", (("feature", "int4"), ("code", "text")), [features, codes])


def index_codes(session: Session) -> None:
    conn = session.connection()
    conn.execute(text("CREATE INDEX ON import_codes (code)"))
    # A batch's codes are read by their features' range (BATCH_CODES).
    conn.execute(text("CREATE INDEX ON import_codes (feature)"))
    conn.execute(text("ANALYZE import_codes"))


def duplicate_codes(session: Session) -> list:
    """(feature, code, the first feature with that code) for every repeat of a code."""
    return session.execute(
        text(
            """
            SELECT feature, code, first FROM (
                SELECT feature, code, min(feature) OVER (PARTITION BY code) AS first
                FROM import_codes) c
            WHERE feature > first ORDER BY feature
            """
        )
    ).all()


def stored_nearby(
    session: Session, kind: str, township_id: int, bounds, replaced: bool = False
) -> list:
    """Current parcels of `kind` whose box meets `bounds`, but for those the file itself
    replaces (its codes in the upload's township): (id, code, township name, status, wkb,
    replaced). `replaced`: those too, marked."""
    west, south, east, north = (float(b) for b in bounds)
    replacing = """(p.township_id = :township
                     AND EXISTS (SELECT 1 FROM import_codes c WHERE c.code = p.code))"""
    return session.execute(
        text(
            f"""
            SELECT p.id, p.code, u.name, p.status, ST_AsBinary(p.geom) AS wkb,
                   {replacing if replaced else "false"} AS replaced
            FROM parcels p JOIN admin_units u ON u.id = p.township_id
            WHERE p.kind = :kind AND p.status <> 'withdrawn'
              AND p.geom && ST_MakeEnvelope(:west, :south, :east, :north, {STORAGE_SRID})
              {"" if replaced else "AND NOT " + replacing}
            """
        ),
        {"kind": kind, "township": township_id, "west": west, "south": south,
         "east": east, "north": north},
    ).all()  # fmt: skip


def stage_rows(session: Session, features, codes, asked, geoms, sources, areas) -> None:
    # NaN stands for "no area" until the list is made: plain floats, not numpy's.
    areas = np.asarray(areas, dtype=float)
    areas = np.where(np.isfinite(areas) & (areas > 0), areas, np.nan).tolist()
    areas = [a if a == a else None for a in areas]
    features = np.asarray(features, dtype=int).tolist()
    geoms, sources = np.asarray(geoms, dtype=object), np.asarray(sources, dtype=object)
    _copy(session, "import_rows", _ROW_COLUMNS,
          [features, codes, asked, geoms, sources, areas])  # fmt: skip


def staged_features(session: Session, features) -> list:
    """(feature, code, asked status, geom, source) of the given features, from import_rows."""
    rows = session.execute(
        text(
            "SELECT feature, code, asked, geom, source FROM import_rows "
            "WHERE feature = ANY(:features) ORDER BY feature"
        ),
        {"features": [int(f) for f in features]},
    ).all()
    geoms = shapely.from_wkb([bytes(r.geom) if r.geom is not None else None for r in rows])
    sources = shapely.from_wkb([bytes(r.source) if r.source is not None else None for r in rows])
    return [
        (r.feature, r.code, r.asked, geom, source)
        for r, geom, source in zip(rows, geoms, sources, strict=True)
    ]


def stage_states(session: Session, features, rows: list[tuple]) -> None:
    """The new state of each feature, as `state_values` made it. Its shape is not sent
    again: the statements that write parcels read it from import_rows."""
    if len(features):
        columns = [list(c) for c in zip(*rows, strict=True)]
        _copy(session, "import_stage", _STAGE_COLUMNS, [[int(f) for f in features], *columns])


def stage_columns(session: Session, features, columns: dict) -> None:
    """New states given column by column: a list per column, or one value for every row
    (a column not given is NULL); the same rows as `state_values` would make one by one."""
    if len(features):
        given = [
            columns[name] if isinstance(columns.get(name), list) else Same(columns.get(name))
            for name in _STATE_NAMES
        ]
        _copy(session, "import_stage", _STAGE_COLUMNS, [[int(f) for f in features], *given])


def state_values(row: dict) -> tuple:
    """A feature's new state (one key per staged column but feature and geom; {"change":
    "unchanged"} for a parcel the file leaves as it is) as the row staged for it. Made as
    each state is found, so a batch holds tuples rather than a dict per feature."""
    values = dict(row)
    values["flags"] = flags_text(row.get("flags"))
    values["support_ids"] = ids_text(row.get("support_ids", []))
    return tuple(values.get(name) for name in _STATE_NAMES)


def flags_text(flags) -> str:
    return json.dumps(flags, ensure_ascii=False) if flags else "[]"


def ids_text(ids) -> str:
    return "{" + ",".join(str(i) for i in sorted(ids)) + "}"


def add_flags(session: Session, flags: dict[int, list]) -> None:
    """Overlaps found after a feature was staged (with a feature of a later batch)."""
    if flags:
        session.execute(
            text(
                "UPDATE import_stage s SET flags = (s.flags::jsonb || f.more::jsonb)::text "
                "FROM unnest(CAST(:features AS int[]), CAST(:more AS text[])) AS f(feature, more) "
                "WHERE s.feature = f.feature"
            ),
            {
                "features": list(flags),
                "more": [json.dumps(v, ensure_ascii=False) for v in flags.values()],
            },
        )


def drop_staged(session: Session, features) -> None:
    """Leave out features refused after they were staged."""
    if len(features):
        session.execute(
            text("DELETE FROM import_stage WHERE feature = ANY(:features)"),
            {"features": [int(f) for f in features]},
        )


def outcomes(session: Session) -> dict[str, int]:
    rows = session.execute(text("SELECT change, count(*) FROM import_stage GROUP BY change"))
    return {change: count for change, count in rows}


def write_staged(
    session: Session,
    *,
    township_id,
    kind,
    upload,
    actor,
    now,
    boxed=None,
    analyze=False,
    bulk=False,
) -> None:
    """Create and update the staged parcels, their supporting townships, and a version of
    each, a snapshot of the stored parcel from `now` (the database closes the version
    before at that moment). `boxed`: the numbers of the features whose box meets another
    feature's or a stored parcel's; given, the insert probes only those for overlaps
    (migration 0026i), else every new parcel. `analyze`: the tables are analysed after,
    wholly for a `bulk` load."""
    conn = session.connection()
    conn.execute(text("DELETE FROM import_stage WHERE change = 'unchanged'"))
    conn.execute(text("ANALYZE import_stage" + _STAGE_JOINED))
    # The joins of a city's file sort and hash some 100 bytes a parcel: in memory.
    conn.execute(text("SET LOCAL work_mem = '64MB'"))
    params = {
        "township": township_id,
        "kind": kind,
        "upload": upload.id,
        "source": upload.filename,
        "actor": actor,
        "now": now,
    }
    # Supporting townships are cleared before the new parcels get ids. The versions before
    # are closed by the database as the new ones are inserted (migration 0023).
    for statement in (_UPDATE, _UNSUPPORT):
        conn.execute(text(statement), params)
    if boxed is None:
        conn.execute(text(_INSERT), params)
    else:
        _insert_probing(conn, boxed, params)
    for statement in (_SUPPORT, _VERSIONS):
        conn.execute(text(statement), params)
    if analyze:
        # After a first load the planner's figures would say the tables are a fraction of
        # what they now are until autovacuum came round. An upload's own analysis reads
        # the columns its look-ups plan on; the shapes' statistics (half of the 1.3 s
        # at 100,000 parcels) are left to autovacuum, but for a bulk load.
        conn.execute(text("ANALYZE parcels" + ("" if bulk else _LOOKED_UP)))
        conn.execute(text("ANALYZE parcel_versions" + ("" if bulk else _VERSIONS_LOOKED_UP)))
        # The parcel list joins every page to its stored text by these keys; unanalysed,
        # the first pages after a large load were planned for an empty table.
        conn.execute(text("ANALYZE parcel_features (district_id, parcel_id)"))
    # The ORM may hold these parcels from before: let it read them again.
    session.expire_all()


# The stage's columns the writes below join and filter on: the other twenty hold values
# only, and analysing them was 0.1 s of a 100,000-feature import.
_STAGE_JOINED = " (feature, parcel_id, code, support_ids)"

# The columns the import's and the workflow's look-ups of parcels and versions plan on.
_LOOKED_UP = " (id, township_id, kind, code, district_id, status, project_id)"
_VERSIONS_LOOKED_UP = " (parcel_id, district_id, version, valid_from, valid_to)"


def _insert_probing(conn, boxed, params) -> None:
    """The insert, its trigger told to probe only the listed new parcels for overlaps:
    a parcel whose box meets no other box overlaps nothing."""
    conn.execute(
        text(
            "INSERT INTO import_probe (code) SELECT DISTINCT s.code FROM import_stage s "
            "JOIN unnest(CAST(:boxed AS int[])) AS b(feature) ON b.feature = s.feature "
            "WHERE s.parcel_id IS NULL"
        ),
        {"boxed": [int(f) for f in boxed]},
    )
    conn.execute(text("ANALYZE import_probe"))
    conn.execute(text("SELECT set_config('geo_service.insert_probe', 'listed', true)"))
    conn.execute(text(_INSERT), params)
    conn.execute(text("SELECT set_config('geo_service.insert_probe', '', true)"))


def _stage_ddl() -> str:
    return ", ".join(f"{name} {kind}" for name, kind in _STAGE_COLUMNS)


# The shape as checked and repaired, staged once per feature in import_rows.
_GEOM = f"ST_SetSRID(ST_GeomFromWKB(r.geom), {STORAGE_SRID})"
_WITH_SHAPE = "import_stage s JOIN import_rows r ON r.feature = s.feature"

_UPDATE = f"""
    UPDATE parcels p SET ({_COPIED}, geom, flags, source_file, upload_id, updated_by,
                          updated_at, version) =
        ({", ".join("s." + c.strip() for c in _COPIED.split(","))}, {_GEOM}, s.flags::jsonb,
         :source, :upload, :actor, :now, p.version + 1)
    FROM {_WITH_SHAPE} WHERE s.parcel_id = p.id
"""

# New parcels. The district is given here (and below), so the filling trigger of
# migration 0017 is skipped for bulk writes.
_INSERT = f"""
        INSERT INTO parcels (code, kind, township_id, district_id, {_COPIED}, geom, flags,
                             source_file, upload_id, created_by, updated_by, updated_at,
                             version)
        SELECT s.code, :kind, :township,
               (SELECT parent_id FROM admin_units WHERE id = :township),
               {", ".join("s." + c.strip() for c in _COPIED.split(","))},
               {_GEOM}, s.flags::jsonb, :source, :upload, :actor, :actor, :now, 1
        FROM {_WITH_SHAPE} WHERE s.parcel_id IS NULL
        ORDER BY s.feature
"""

# Each staged row's parcel, created or changed, by its code (unique in its township and
# kind, and how lock_current found the changed ones): the new parcels' ids are not
# written back into the stage (an UPDATE of every staged row, 0.3 s at 100,000).
_STAGED = """
    FROM import_stage s JOIN parcels p
      ON p.township_id = :township AND p.kind = :kind AND p.code = s.code
"""

_UNSUPPORT = """
    DELETE FROM parcel_support ps USING import_stage s WHERE ps.parcel_id = s.parcel_id
"""

_SUPPORT = f"""
    INSERT INTO parcel_support (parcel_id, district_id, township_id)
    SELECT p.id, p.district_id, unnest(s.support_ids::int[]) {_STAGED}
    WHERE s.support_ids <> '{{}}'
"""

# A version is the parcel's whole state as now stored.
_VERSIONS = f"""
    INSERT INTO parcel_versions (parcel_id, version, change, code, kind, status, township_id,
        district_id, project_id, geom, area_m2, upload_id, changed_by, valid_from, recorded_at,
        recorded_by, note, verified_by, verified_group, verified_at, verified_area_m2, flags,
        support_ids)
    SELECT p.id, p.version, coalesce(s.history_change, s.change), p.code, p.kind, p.status,
           p.township_id, p.district_id, p.project_id,
           p.geom, p.area_m2, :upload, :actor, coalesce(s.happened_at, :now), :now, :actor,
           s.version_note, p.verified_by, p.verified_group,
           p.verified_at, p.verified_area_m2, p.flags, s.support_ids::int[]
    {_STAGED}
"""
