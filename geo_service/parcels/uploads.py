"""The import use case: read, check, and store a file of parcels in one transaction."""

import contextlib
import gc
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import shape
from sqlalchemy import any_, func, select, text
from sqlalchemy.orm import Session

from geo_service import texts
from geo_service.areas import geodesic_area_m2, m2_to_mu, rounded
from geo_service.campaign.projects import find_project
from geo_service.errors import FieldMissing, InvalidInput, NotFound, UploadRefused
from geo_service.models import (
    KINDS,
    STATUSES,
    STORAGE_SRID,
    VERIFICATION_GROUPS,
    AdminUnit,
    Parcel,
    ParcelVersion,
    Project,
    Upload,
)
from geo_service.parcels import store
from geo_service.parcels.crs import Place, to_storage, valid_lonlat_bounds
from geo_service.parcels.kept_files import keep_file
from geo_service.parcels.readers import open_features
from geo_service.parcels.validation import (
    Context,
    Problem,
    Report,
    StoredParcel,
    check_duplicates_and_overlaps,
    check_geometries,
    check_in_place,
    check_pairs_across_batches,
    repair_invalid,
)
from geo_service.periods import CHINA, check_field_day, field_moment
from geo_service.settings import get_settings
from geo_service.units import find_township

IMPORT_STATUSES = ("planned", "delivered", "verified")
# What a file's status column may say: demolition's "delivered" is "demolished".
_STATUS_WORDS = (*IMPORT_STATUSES, "demolished")


@dataclass
class ImportOptions:
    kind: str
    township: str
    project: str | None = None
    status: str | None = None
    crs: str | None = None
    encoding: str | None = None
    layer: str | None = None
    # A boundary-point table's column names, when not the usual ones: "code=宗地代码,x=北坐标".
    columns: str | None = None
    dry_run: bool = False
    # Store the valid features and report the rest, instead of refusing the whole file.
    accept_valid: bool = False
    # Accept overlaps between verified parcels, flagging both, instead of refusing them.
    accept_overlaps: bool = False
    actor: str = "geo-service"
    # The verification group signing when the upload marks parcels verified.
    verifier_group: str | None = None
    filename: str | None = None  # the name the user knows the file by (uploads use temp paths)
    # When the change is recorded as made (default: now), for replaying a past campaign.
    recorded_at: datetime | None = None
    # Whether the uploader may ask for a feature's status: (stored status or None for a new
    # parcel, status asked) -> why not as (rule, message, params), or None. The caller's
    # (permissions.signoff_refusal); None: the caller trusts the file (the demo, tests).
    status_rule: Callable[[str | None, str], tuple | None] | None = None
    # Stores parcels lying mostly outside the declared township, with this reason on record.
    override_reason: str | None = None
    # Why the user stored only the valid features, or kept overlaps: on record with the upload.
    store_reason: str | None = None
    # Whether `who` may date a change on a feature's field day (核验日期 column): (day) ->
    # (rule, message, params) or None (permissions.field_day_refusal); None: any past day.
    field_day_rule: Callable[[date | datetime], tuple | None] | None = None
    # An admin's migration from another system (docs/guide-administrators.md): every status,
    # the file's sign-offs (verifier, group, field day, recorded moment), flags and dates
    # are taken as they are; recorded in the history as a migration.
    migration: bool = False
    # An admin's first load of a district: no MAX_FEATURES_PER_FILE limit, the same checks,
    # read and written in batches so memory stays flat (docs/scaling.md).
    bulk: bool = False
    # Every parcel's new state made one by one, as before the column-wise path: kept so the
    # tests can show both store the same (tests/test_setwise_import.py).
    rowwise: bool = False


# What takes a reason on record (store_reason), and the refusal without one. Keeping an
# overlap between verified parcels counts the land once for both; storing only the valid
# features leaves part of a file out of the tallies: on every path (API, page, command)
# the reason is kept with the upload, in its report and in the audit.
_NEEDS_REASON = (
    ("accept_overlaps", "overlaps_reason",
     "keeping overlaps between verified parcels takes a reason (store_reason)"),
    ("accept_valid", "valid_reason",
     "storing only the valid features of a file takes a reason (store_reason)"),
)  # fmt: skip


def _reason_given(switches: dict) -> None:
    if switches.get("store_reason"):
        return
    for switch, rule, message in _NEEDS_REASON:
        if switches.get(switch):
            raise FieldMissing(message, rule=rule, params={})


def statuses_allowed(migration: bool = False) -> tuple[str, ...]:
    """The statuses a file or form may ask for: in migration mode every one."""
    return STATUSES if migration else IMPORT_STATUSES


# The most characters an override reason takes.
OVERRIDE_REASON_MAX = 2000


def upload_options(
    kind: str,
    township: str,
    project: str | None = None,
    status: str | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    columns: str | None = None,
    override_reason: str | None = None,
    **switches,
) -> ImportOptions:
    """An upload's options as the API, the upload page and the CLI receive them: a field a
    form leaves blank means "not given", and a status outside IMPORT_STATUSES is refused
    before the file is read. `switches`: dry_run, accept_valid and accept_overlaps (each
    takes a store_reason), store_reason, filename, migration, bulk."""
    allowed = statuses_allowed(switches.get("migration", False))
    if status and status not in allowed:
        raise InvalidInput(
            f"status must be one of {', '.join(allowed)}",
            rule="upload_status", params={"value": status, "allowed": list(allowed)},
        )  # fmt: skip
    override_reason = (override_reason or "").strip() or None
    if override_reason and len(override_reason) > OVERRIDE_REASON_MAX:
        raise InvalidInput(
            f"an override reason has at most {OVERRIDE_REASON_MAX} characters",
            rule="reason_too_long", params={"limit": OVERRIDE_REASON_MAX},
        )  # fmt: skip
    switches["override_reason"] = override_reason
    for reason in ("store_reason",):
        given = (switches.get(reason) or "").strip() or None
        if given and len(given) > OVERRIDE_REASON_MAX:
            raise InvalidInput(
                f"a reason has at most {OVERRIDE_REASON_MAX} characters",
                rule="reason_too_long", params={"limit": OVERRIDE_REASON_MAX},
            )  # fmt: skip
        switches[reason] = given
    _reason_given(switches)
    given = {"project": project, "status": status, "crs": crs, "encoding": encoding}
    given |= {"layer": layer, "columns": columns}
    blanks_dropped = {key: value or None for key, value in given.items()}
    return ImportOptions(kind, township, **blanks_dropped, **switches)


@dataclass
class ImportReport:
    filename: str
    accepted: bool
    dry_run: bool
    kind: str
    township: str
    source_crs: str | None = None
    encoding: str | None = None
    features: int = 0
    parcels: int = 0
    rejected: int = 0
    # Features without an error: what storing "only the valid features" would take.
    valid: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    area_m2: float = 0.0
    # The area the features without an error cover: what storing only them would store
    # (area_m2 stays 0 for a refused file, which stores nothing).
    valid_area_m2: float = 0.0
    upload_id: int | None = None
    # Where the file's parcels lie, most first (a list: JSONB would not keep a dict's order):
    # [{"township", "parcels"}], the township to choose when the declared one is not theirs.
    lies_in: list[dict] = field(default_factory=list)
    override_reason: str | None = None
    store_reason: str | None = None
    problems: list[Problem] = field(default_factory=list)
    # The features as read, in the file's CRS: for the GeoPackage of problem features.
    frame: object = field(default=None, repr=False)
    # Feature number -> its shape as GeoJSON in lon/lat (CGCS2000), for a map of the report:
    # every feature of a small file, only the features with problems of a large one.
    shapes: dict = field(default_factory=dict, repr=False)
    # The features refused for their shape, drawn as the file gives them (not repaired).
    as_read: list[int] = field(default_factory=list, repr=False)
    # What the map shows around the file: {"township": GeoJSON outline or None,
    # "stored": [{"code", "status", "overlapped", "geometry"}]}, the stored parcels nearby.
    around: dict = field(default_factory=dict, repr=False)

    @property
    def area_mu(self) -> float:
        return m2_to_mu(self.area_m2)

    @property
    def valid_area_mu(self) -> float:
        return m2_to_mu(self.valid_area_m2)

    def as_dict(self) -> dict:
        hidden = ("problems", "frame", "shapes", "as_read", "around")
        data = {k: v for k, v in self.__dict__.items() if k not in hidden}
        data["area_mu"] = self.area_mu
        data["valid_area_mu"] = self.valid_area_mu
        data["problems"] = [p.as_dict() for p in self.problems]
        return rounded(data)

    def as_kept(self) -> dict:
        """What the upload record keeps: the report with the shapes, for its page later."""
        shapes = {str(k): v for k, v in self.shapes.items()}
        return {**self.as_dict(), "shapes": shapes, "as_read": self.as_read,
                "around": self.around}  # fmt: skip


# A file up to this many features shows all of them on the report's map; a larger one only
# those with problems (the page stays light, and so does the kept report).
MAP_ALL_FEATURES_UP_TO = 1000


def import_file(
    session: Session, path: Path, options: ImportOptions, progress=None
) -> ImportReport:
    """Store every parcel of the file, or nothing: raises UploadRefused with the full report.

    The file is read, checked and staged in batches (IMPORT_BATCH_FEATURES), so memory
    stays flat whatever its size; nothing reaches `parcels` until every batch has passed,
    and a refusal leaves the transaction as it found it."""
    name = options.filename or Path(path).name
    _check_options(options, name)
    township = _resolve(lambda: find_township(session, options.township), name)
    stream = open_features(
        path,
        crs=options.crs,
        encoding=options.encoding,
        layer=options.layer,
        batch_size=get_settings().import_batch_features,
        columns=options.columns,
        place=_place(township),
        limit=None if options.bulk else get_settings().max_features_per_file,
    )
    report = Report(filename=name)
    report.problems.extend(stream.problems)
    result = ImportReport(
        filename=name,
        accepted=False,
        dry_run=options.dry_run,
        kind=options.kind,
        township=township.name,
        source_crs=stream.source.label,
        encoding=stream.encoding,
        features=stream.count,
        override_reason=options.override_reason,
        store_reason=options.store_reason,
        problems=report.problems,
    )
    # A database error rolls the staging tables back with the rest; a refusal or success
    # drops them, so the session can take the next file.
    store.open_stage(session)
    try:
        checked = _FileCheck(session, stream, options, township, report)
        checked.run()
        accepted = _finish_report(session, checked, result)
        result.lies_in = checked.lies_in()
        if not accepted or (report.errors and not options.accept_valid) or _refused_whole(report):
            result.valid_area_m2 = checked.accepted_m2() if result.valid else 0.0
            raise UploadRefused(report.summary(), report=result)
        result.accepted, result.parcels = True, accepted
        result.rejected = result.features - accepted
        result.area_m2 = result.valid_area_m2 = checked.covered_m2()
        if not options.dry_run:
            _store(session, path, checked, result, options, township, progress)
    except UploadRefused:
        store.close_stage(session)
        raise
    store.close_stage(session)
    return result


def _finish_report(session, checked: "_FileCheck", result: ImportReport) -> int:
    """What the report shows once every batch is checked: the problems in feature order,
    located, with the shapes of their features (all features' for a small file). Returns
    the number of features that would be stored."""
    report = checked.report
    bad = checked.refused_features()
    checked.accepted[[f - 1 for f in bad if f <= len(checked.accepted)]] = False
    result.valid = _valid_count(result.features, report)
    count = result.features
    wanted = (
        range(1, count + 1)
        if count <= MAP_ALL_FEATURES_UP_TO
        else sorted({p.feature for p in report.problems if p.feature})
    )
    staged = store.staged_features(session, wanted)
    problem_features = {p.feature for p in report.problems if p.feature}
    raw = _as_read(staged, problem_features, checked.stream.source)
    report.locate({f: geom for f, _c, _a, geom, _s in staged})
    _locate_as_read(report, raw)
    report.in_feature_order()
    result.shapes = _shapes({f: geom for f, _c, _a, geom, _s in staged if geom is not None})
    result.shapes.update(_shapes_as_read(raw))
    result.as_read = sorted(raw)
    result.around = _around(session, checked, result.shapes.values())
    result.frame = _problem_frame(
        {f: source for f, _c, _a, _g, source in staged if f in problem_features},
        checked.stream.crs,
    )
    return int(checked.accepted.sum())


# New parcels from one file past which the planner's figures are refreshed at once: until
# autovacuum came round, a second import of the file looked its codes up on plans made
# for a far smaller table (tests/test_bulk_import.py took 28 s in one run, 156 s in another).
ANALYZE_AFTER = 10_000


def _store(session, path, checked: "_FileCheck", result, options, township, progress) -> None:
    """Write the staged parcels under a new upload row, which keeps the file. The row is
    written once, report included (uploads are append-only, migration 0023): its id is
    drawn first, because the report names it."""
    name = result.filename
    kept = keep_file(session, path, name)
    store.drop_staged(session, checked.refused_features())
    for outcome, count in store.outcomes(session).items():
        setattr(result, outcome, count)
    result.upload_id = session.scalar(
        select(func.nextval(func.pg_get_serial_sequence("uploads", "id")))
    )
    upload = Upload(
        id=result.upload_id,
        filename=name,
        kind=options.kind,
        township_id=township.id,
        source_crs=result.source_crs,
        encoding=result.encoding,
        actor=options.actor,
        parcel_count=result.parcels,
        area_m2=result.area_m2,
        file_sha256=kept.sha256,
        file_name=kept.name,
    )
    _keep_report(upload, result, options)
    session.add(upload)
    session.flush()
    store.write_staged(
        session,
        township_id=township.id,
        kind=options.kind,
        upload=upload,
        actor=options.actor,
        now=checked.now,
        boxed=None if options.rowwise else np.flatnonzero(checked.boxed) + 1,
        analyze=options.bulk or result.created >= ANALYZE_AFTER,
        bulk=options.bulk,
    )
    if progress:
        progress(result.created + result.changed + result.unchanged)


def _as_read(staged, problem_features: set, source) -> dict:
    """The problem features the checks refused for their shape (no stored geometry), as
    the file gives them, in lon/lat: the map draws them, not a dot."""
    refused = [(f, raw) for f, _c, _a, geom, raw in staged
               if geom is None and raw is not None and f in problem_features]  # fmt: skip
    if not refused:
        return {}
    lonlat = to_storage(np.array([raw for _f, raw in refused], dtype=object), source)
    drawn = {}
    for (feature, _raw), geom in zip(refused, lonlat, strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        if np.isfinite(shapely.get_coordinates(geom)).all():
            drawn[feature] = geom
    return drawn


def _locate_as_read(report: Report, raw: dict) -> None:
    # An invalid shape has no reliable inner point: the middle of its box.
    for problem in report.problems:
        if problem.location is None and problem.feature in raw:
            middle = shapely.centroid(shapely.envelope(raw[problem.feature]))
            problem.location = [round(middle.x, 7), round(middle.y, 7)]


def _shapes_as_read(raw: dict) -> dict[int, dict]:
    # set_precision would repair an invalid shape: the coordinates are rounded instead.
    return {
        f: json.loads(shapely.to_geojson(shapely.transform(g, lambda xy: np.round(xy, 7))))
        for f, g in sorted(raw.items())
    }


# The most stored parcels the report's map draws around a file (those overlapped always).
MAP_STORED_UP_TO = 500


def _around(session, checked: "_FileCheck", shapes) -> dict:
    """The township outline and the stored parcels near the drawn features, those the
    file overlaps marked: what a reader needs to judge an overlap warning."""
    outline = checked.surroundings.township
    township = None
    if outline is not None:
        simple = shapely.simplify(outline, 1e-5, preserve_topology=True)  # about a metre
        township = json.loads(shapely.to_geojson(shapely.set_precision(simple, 1e-6)))
    drawn = [shape(s) for s in shapes]
    if not drawn:
        return {"township": township, "stored": []}
    overlapped = {
        p.params["other"] for p in checked.report.problems
        if p.rule in ("overlap", "overlap_verified") and (p.params or {}).get("stored")
    }  # fmt: skip
    nearby = store.stored_nearby(
        session, checked.options.kind, checked.township.id,
        shapely.total_bounds(np.array(drawn, dtype=object)),
    )  # fmt: skip
    nearby = sorted(nearby, key=lambda r: r.code not in overlapped)[:MAP_STORED_UP_TO]
    geoms = shapely.from_wkb([bytes(r.wkb) for r in nearby]) if nearby else []
    stored = [
        {"code": r.code, "status": r.status, "township": r.name,
         "overlapped": r.code in overlapped,
         "geometry": json.loads(shapely.to_geojson(shapely.set_precision(g, 1e-7)))}
        for r, g in zip(nearby, geoms, strict=True)
    ]  # fmt: skip
    return {"township": township, "stored": stored}


def _problem_frame(sources: dict, crs) -> gpd.GeoDataFrame:
    """The problem features as read (the file's CRS), indexed by feature number."""
    features = sorted(sources)
    return gpd.GeoDataFrame(geometry=[sources[f] for f in features], index=features, crs=crs)


# Rules that refuse the whole file even when only its valid features are asked for: a file
# that asks for a sign-off its uploader may not give is not one to store parts of.
WHOLE_FILE_RULES = frozenset({"signoff"})


def _refused_whole(report: Report) -> bool:
    return any(p.rule in WHOLE_FILE_RULES for p in report.errors)


def _valid_count(features: int, report: Report) -> int:
    if any(p.feature is None for p in report.errors) or _refused_whole(report):
        return 0
    return features - len(report.features_with_errors())


def _keep_report(upload: Upload, result: ImportReport, options: ImportOptions) -> None:
    upload.features, upload.rejected = result.features, result.rejected
    upload.created, upload.changed = result.created, result.changed
    upload.unchanged = result.unchanged
    upload.project, upload.status = options.project, options.status
    upload.report = result.as_kept()


def _shapes(geoms: dict) -> dict[int, dict]:
    """The features' shapes (EPSG:4490 lon/lat) for the report's map, by feature number."""
    shapes = {}
    for number, geom in sorted(geoms.items()):
        if geom is not None and not shapely.is_empty(geom):
            shapes[number] = json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-7)))
    return shapes


def upload_records(session: Session, township_ids=None, district_ids=None, limit: int = 100):
    """The latest accepted uploads with their township's name, newest first: those into the
    given townships, else into the given districts (None and None: the whole city)."""
    query = (
        select(Upload, AdminUnit.name)
        .join(AdminUnit, AdminUnit.id == Upload.township_id)
        .order_by(Upload.created_at.desc(), Upload.id.desc())
        .limit(limit)
    )
    if township_ids:
        query = query.where(Upload.township_id.in_(township_ids))
    elif district_ids is not None:
        query = query.where(AdminUnit.parent_id.in_(district_ids))
    return session.execute(query).all()


def upload_record(session: Session, upload_id: int) -> tuple[Upload, AdminUnit]:
    found = session.execute(
        select(Upload, AdminUnit)
        .join(AdminUnit, AdminUnit.id == Upload.township_id)
        .where(Upload.id == upload_id)
    ).first()
    if found is None:
        raise NotFound(f"no upload {upload_id}")
    return found[0], found[1]


class _FileCheck:
    """Every rule over the whole file, batch by batch; what must span batches (codes used
    twice, overlaps between features of different batches, the covered area) is kept in
    the staging tables and in one small array per feature."""

    def __init__(self, session, stream, options, township, report: Report):
        self.session, self.stream, self.options = session, stream, options
        self.township, self.report = township, report
        self.now = options.recorded_at or datetime.now(UTC)
        self.surroundings = _surroundings(session, township, options)
        self.projects: dict = {}
        count = stream.count
        self.areas = np.zeros(count)
        self.accepted = np.zeros(count, dtype=bool)
        # Features whose shape meets another's in the file: the covered area unions them.
        self.meets = np.zeros(count, dtype=bool)
        # Features whose box meets another feature's or a stored parcel's: the only ones
        # the database probes for overlaps as they are inserted (migration 0026i).
        self.boxed = np.zeros(count, dtype=bool)
        # Per batch: (feature numbers, boxes rounded outward to float32): 20 bytes a feature.
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []
        self.late_flags: dict[int, list] = {}
        self.single: _Rows | None = None
        self.duplicates: dict[int, tuple[str, int]] = {}
        outlines = self.surroundings.townships
        self.outlines = shapely.STRtree([g for _n, g in outlines]) if outlines else None
        self.found_in = np.zeros(len(outlines), dtype=np.int64)

    def run(self) -> None:
        if self.stream.count == 0:
            self.report.add(None, None, "no_features", "the file holds no features", params={})
        for first, frame in self.stream.codes():
            store.stage_codes(self.session, first, _codes(frame, self.report.filename, first))
            more = first + len(frame) < self.stream.count
            del frame
            _release(more)
        store.index_codes(self.session)
        self.duplicates = {f: (code, at) for f, code, at in store.duplicate_codes(self.session)}
        for first, frame in self.stream.batches():
            rows = self._check(first, frame)
            # The first batch is kept when it is the whole file (covered_m2).
            self.single = rows if first == 0 and len(rows.codes) == self.stream.count else None
            self._stage(rows)
            more = first + len(rows.codes) < self.stream.count
            del rows, frame  # before the next batch is read
            _release(more)
        store.add_flags(self.session, self.late_flags)

    def _check(self, first: int, frame) -> "_Rows":
        session, options, report = self.session, self.options, self.report
        if first == 0 and self.stream.count > len(frame) and not options.dry_run:
            # From here to the commit, what the checks read from the database must stay true.
            lock_townships(session, self.township, _storage_extent(self.stream))
        codes = _codes(frame, report.filename, first)
        geoms = check_geometries(
            np.asarray(frame.geometry.values, dtype=object), codes, self.stream.source, report,
            first=first,
        )  # fmt: skip
        self._report_duplicates(first, len(frame))
        _check_code_lengths(codes, report, first)
        _check_texts(codes, frame, report, first)
        statuses = _statuses(frame, options, codes, report, first)
        projects = _projects(session, frame, options, codes, report, first, self.projects)
        helpers = _supporters(session, frame, self.township, codes, report, first)
        rows = _Rows(frame, codes, geoms, np.zeros(len(frame)), statuses, projects, helpers,
                     first=first)  # fmt: skip
        rows.moments = _field_days(session, rows, self.township, options, report, self.now)
        usable = np.flatnonzero(~shapely.is_missing(geoms))
        rows.geoms[usable] = repair_invalid(
            _as_multipolygons(geoms[usable]),
            [codes[i] for i in usable],
            report,
            tolerance=get_settings().repair_tolerance,
            positions=first + usable,
        )
        usable = np.flatnonzero(~shapely.is_missing(rows.geoms))
        if first == 0 and self.stream.count == len(frame) and not options.dry_run:
            lock_townships(session, self.township, rows.geoms[usable])
        _check_status_moves(session, rows, self.township, options, report)
        if len(usable):
            self._check_against_surroundings(rows, usable)
        return rows

    def _report_duplicates(self, first: int, count: int) -> None:
        for feature in range(first + 1, first + count + 1):
            if feature in self.duplicates:
                code, at = self.duplicates[feature]
                self.report.add(
                    feature, code, "duplicate_code",
                    f"parcel code {code} is used again (first at feature {at})",
                    params={"code": code, "first": at},
                )  # fmt: skip

    def _check_against_surroundings(self, rows: "_Rows", usable) -> None:
        """Area, location and overlap rules for the features that are valid polygons."""
        geoms, codes = rows.geoms[usable], [rows.codes[i] for i in usable]
        positions = rows.first + usable
        rows.areas[usable] = geodesic_area_m2(geoms)
        self.areas[positions] = rows.areas[usable]
        context = self._context(geoms, positions)
        declared = [rows.declared(i) for i in usable]
        check_in_place(geoms, rows.areas[usable], codes, declared, context, self.report,
                       positions=positions)  # fmt: skip
        statuses = [rows.statuses[i] or "planned" for i in usable]
        flags = check_duplicates_and_overlaps(
            geoms, codes, statuses, context, self.report, positions=positions
        )
        for i, found in zip(usable, flags, strict=True):
            rows.flags[i] = found
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        self.meets[positions[left[left != right]]] = True
        left, right = tree.query(geoms)
        self.boxed[positions[left[left != right]]] = True
        self._check_across_batches(geoms, codes, statuses, positions, context)
        self._count_where_they_lie(geoms)

    def _count_where_they_lie(self, geoms) -> None:
        if self.outlines is not None:
            _points, outline = self.outlines.query(
                shapely.point_on_surface(geoms), predicate="within"
            )
            np.add.at(self.found_in, outline, 1)

    def lies_in(self) -> list[dict]:
        """The townships the file's parcels lie in (a point inside each), most first."""
        names = [name for name, _g in self.surroundings.townships]
        order = np.argsort(-self.found_in, kind="stable")
        return [
            {"township": names[k], "parcels": int(self.found_in[k])}
            for k in order
            if self.found_in[k]
        ]

    def _context(self, geoms, positions) -> Context:
        """The township, the city and the stored parcels of the same kind near the batch
        (but those the file replaces). Marks the features whose box meets a stored
        parcel's, replaced or not: as stored now, it is what the insert meets."""
        nearby = store.stored_nearby(
            self.session, self.options.kind, self.township.id, shapely.total_bounds(geoms),
            replaced=True,
        )  # fmt: skip
        shapes = shapely.from_wkb([bytes(r.wkb) for r in nearby]) if nearby else []
        if len(shapes):
            mine, _stored = shapely.STRtree(shapes).query(geoms)
            self.boxed[positions[mine]] = True
        return replace(
            self.surroundings,
            stored=[
                StoredParcel(r.id, r.code, r.name, r.status, shape)
                for r, shape in zip(nearby, shapes, strict=True)
                if not r.replaced
            ],
        )

    def _check_across_batches(self, geoms, codes, statuses, positions, context) -> None:
        """Overlaps and repeated shapes between this batch and the earlier ones: the boxes
        of every earlier feature are kept, their shapes read back from import_rows."""
        bounds = shapely.bounds(geoms)
        west, south = bounds[:, 0].min(), bounds[:, 1].min()
        east, north = bounds[:, 2].max(), bounds[:, 3].max()
        candidates = []
        for features, boxes in self.seen:
            near = (boxes[:, 0] <= east) & (boxes[:, 2] >= west) & (boxes[:, 1] <= north)
            near &= boxes[:, 3] >= south
            candidates.append(features[near])
        self.seen.append((positions.astype(np.int32) + 1, _outward_float32(bounds)))
        earlier = np.concatenate(candidates) if candidates else np.zeros(0, dtype=int)
        if not len(earlier):
            return
        staged = store.staged_features(self.session, earlier)
        others = np.array([g for *_, g, _s in staged], dtype=object)
        tree = shapely.STRtree(geoms)
        boxed, mine = tree.query(others)
        self.boxed[[staged[k][0] - 1 for k in boxed]] = True
        self.boxed[positions[mine]] = True
        found, mine = tree.query(others, predicate="intersects")
        if not len(found):
            return
        self.meets[[staged[k][0] - 1 for k in found]] = True
        self.meets[positions[mine]] = True
        pairs = [
            (staged[k][0], staged[k][1], staged[k][2] or "planned", staged[k][3],
             int(positions[j]) + 1, codes[j], statuses[j], geoms[j])
            for k, j in zip(found, mine, strict=True)
        ]  # fmt: skip
        for feature, flags in check_pairs_across_batches(pairs, context, self.report).items():
            self.late_flags.setdefault(feature, []).extend(flags)

    def _stage(self, rows: "_Rows") -> None:
        """Keep the batch's checked features, and (unless a dry run, or a refusal is
        certain) the new state of each accepted one."""
        features = rows.first + np.arange(len(rows.codes)) + 1
        sources = np.asarray(rows.frame.geometry.values, dtype=object)
        store.stage_rows(self.session, features, rows.codes, rows.statuses, rows.geoms,
                         sources, rows.areas)  # fmt: skip
        rows.keep_valid(self.report, self.options.accept_valid)
        self.accepted[np.asarray(rows.indices, dtype=int) + rows.first] = True
        refusing = self.report.errors and not self.options.accept_valid
        refusing = refusing or _refused_whole(self.report)
        if self.options.dry_run or refusing or not rows.indices:
            return
        written, created, columns = _new_states(
            self.session, rows, self.township, self.options, self.now
        )
        store.stage_states(
            self.session,
            [rows.first + i + 1 for i, _ in written],
            [state for _, state in written],
        )
        store.stage_columns(self.session, [rows.first + i + 1 for i in created], columns)

    def refused_features(self) -> set[int]:
        """Every feature with an error; all of them when the file as a whole has one."""
        if any(p.feature is None for p in self.report.errors):
            return set(range(1, self.stream.count + 1))
        return self.report.features_with_errors()

    def covered_m2(self) -> float:
        """The area the accepted parcels cover: overlapping parcels of one file count once."""
        if self.single is not None and self.stream.count == len(self.single.codes):
            return _covered_m2(self.single)
        return self.accepted_m2()

    def accepted_m2(self) -> float:
        """covered_m2 from the features still accepted once the report is finished: of a
        refused file, those without an error (the single batch's rows still hold the rest)."""
        alone = self.accepted & ~self.meets
        total = float(self.areas[alone].sum())
        meeting = np.flatnonzero(self.accepted & self.meets) + 1
        if len(meeting):
            geoms = [g for *_, g, _s in store.staged_features(self.session, meeting)]
            total += float(geodesic_area_m2([shapely.union_all(geoms)])[0])
        return total


def _release(more: bool) -> None:
    """Free a spent batch before the next is read. A pandas frame sits in reference
    cycles, so only the cyclic collector frees it, and its oldest generation comes round
    seldom: a file of 1,000,000 parcels held some 60 MB of spent batches. A full
    collection costs 0.1-0.2 s of CPU in a server (the CLI freezes what it loaded), so
    none runs after the last batch of either pass: a file of one batch runs none."""
    if more:
        gc.collect()


def _outward_float32(bounds: np.ndarray) -> np.ndarray:
    """Boxes (west, south, east, north) in float32, each rounded outward: a box that meets
    another still does, at half the memory."""
    out = bounds.astype(np.float32)
    low, high = out[:, :2], out[:, 2:]
    low[low > bounds[:, :2]] = np.nextafter(low, -np.inf)[low > bounds[:, :2]]
    high[high < bounds[:, 2:]] = np.nextafter(high, np.inf)[high < bounds[:, 2:]]
    return out


def _new_states(session, rows: "_Rows", township, options, now) -> tuple[list, list, dict]:
    """Each accepted feature's parcel as the file leaves it: (position in the batch, its
    staged row, store.state_values), the state {"change": "unchanged"} when the upload
    changes nothing about it. The parcels new to the register are made column by column
    (`_created_columns`: their positions and columns, second and third) unless
    options.rowwise; those already stored one by one (first)."""
    indices = np.asarray(rows.indices, dtype=int)
    whole = len(indices) == len(rows.codes)
    stored = store.lock_current(
        session, township.id, options.kind,
        store.batch_codes(rows.first, len(rows.codes)) if whole
        else [rows.codes[i] for i in indices],
    )  # fmt: skip
    before = [stored.get(rows.codes[i]) for i in indices]
    known = [k for k, parcel in enumerate(before) if parcel is not None]
    same_shape = np.ones(len(indices), dtype=bool)
    same_shape[known] = store.same_shapes(
        np.array([before[k].geom for k in known], dtype=object), rows.geoms[indices[known]]
    )
    states = []
    columnwise = not options.rowwise and not options.migration
    for i, parcel, shaped in zip(indices, before, same_shape, strict=True):
        if parcel is None and columnwise:
            continue
        outcome, state = _updated_state(parcel, rows, i, bool(shaped), options, now)
        states.append((int(i), store.state_values(state if outcome != "unchanged" else _UNCHANGED)))
    if not columnwise:
        return states, [], {}
    created = [int(i) for i, parcel in zip(indices, before, strict=True) if parcel is None]
    return states, created, _created_columns(rows, created, options, now)


def _created_columns(rows: "_Rows", created: list[int], options, now) -> dict:
    """The staged columns of the batch's parcels new to the register (positions `created`):
    a list per column, or one value for all. The same state `_updated_state` makes for a
    parcel it does not find (tests/test_setwise_import.py compares them)."""
    statuses = [rows.statuses[i] or "planned" for i in created]
    areas = rows.areas[created].astype(float).tolist()
    moments = [rows.moments[i] for i in created] if rows.moments else [None] * len(created)
    # A file names a few projects: each one's id read once, not once a parcel.
    named = {id(p): p for p in rows.projects if p is not None}
    project_ids = {key: p.id for key, p in named.items()}
    no_helpers = not any(rows.helpers[i] for i in created)
    columns = {
        "change": "created",
        "code": [rows.codes[i] for i in created],
        "name": [rows.name(i) for i in created],
        "status": statuses,
        "project_id": [project_ids.get(id(rows.projects[i])) for i in created],
        "area_m2": areas,
        "declared_m2": [rows.declared(i) for i in created],
        "flags": [store.flags_text(rows.flags[i]) for i in created]
        if any(rows.flags[i] for i in created)
        else store.flags_text([]),
        "support_ids": "{}"
        if no_helpers
        else [store.ids_text({h.id for h in rows.helpers[i]}) for i in created],
        "happened_at": moments if any(moments) else None,
    }
    verified = [s == "verified" for s in statuses]
    if not any(verified):
        return columns
    every = all(verified)  # a file verified as a whole (the usual case): one value for all

    def signed(value):
        return value if every else [value if v else None for v in verified]

    columns.update(
        verified_by=signed(options.actor),
        verified_group=signed(options.verifier_group or VERIFICATION_GROUPS[options.kind]),
        verified_at=now
        if every and not any(moments)
        else [(m or now) if v else None for m, v in zip(moments, verified, strict=True)],
        verification_recorded_at=signed(now),
        verification_recorded_by=signed(options.actor),
        verified_area_m2=areas
        if every
        else [a if v else None for a, v in zip(areas, verified, strict=True)],
        verification_note=signed(f"verified by upload of {options.filename or 'a file'}"),
    )
    return columns


_UNCHANGED = {"change": "unchanged"}


def _storage_extent(stream) -> np.ndarray:
    """A box in EPSG:4490 around the whole file, before its features are read: its extent
    in its own CRS, transformed along densified edges, widened by ~1 km for safety and cut
    to where its CRS is used (a feature outside is refused anyway)."""
    west, south, east, north = stream.bounds
    bounds_ok = np.isfinite([west, south, east, north]).all()
    area = valid_lonlat_bounds(stream.source)
    if not bounds_ok:
        return np.array([shapely.box(*area)], dtype=object)
    step = max(east - west, north - south) / 64 or 1.0
    box = shapely.segmentize(shapely.box(west, south, east, north), step)
    stored = to_storage(np.array([box], dtype=object), stream.source)
    out = shapely.bounds(stored[0])
    if not np.isfinite(out).all():
        return np.array([shapely.box(*area)], dtype=object)
    margin = 0.01
    out = [max(out[0] - margin, area[0]), max(out[1] - margin, area[1]),
           min(out[2] + margin, area[2]), min(out[3] + margin, area[3])]  # fmt: skip
    return np.array([shapely.box(*out)], dtype=object)


# pg_advisory_xact_lock(UPLOAD_LOCK, township id): the key space of upload locks.
UPLOAD_LOCK = 1_300_013


def lock_townships(session, township, geoms: np.ndarray) -> None:
    """Serialise uploads per township: wait for any other upload's transaction into the
    townships this file touches, so that two concurrent files never both pass the overlap
    check against each other. Every township the file's extent meets is locked (a parcel
    overlapping one of another township lies in some township outline both files meet),
    all at once and in id order, so two uploads never wait for each other in a circle."""
    ids = {township.id}
    if len(geoms):
        west, south, east, north = shapely.total_bounds(geoms)
        ids.update(
            session.scalars(
                select(AdminUnit.id).where(
                    AdminUnit.level == "township",
                    AdminUnit.geom.intersects(
                        func.ST_MakeEnvelope(west, south, east, north, STORAGE_SRID)
                    ),
                )
            )
        )
    for unit_id in sorted(ids):
        session.execute(select(func.pg_advisory_xact_lock(UPLOAD_LOCK, unit_id)))


def _as_multipolygons(geoms: np.ndarray) -> np.ndarray:
    # A polygon becomes a multipolygon of one part directly (most parcels are polygons):
    # no copy of its parts first. A multipolygon is made again from its parts.
    out = np.empty(len(geoms), dtype=object)
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    if single.any():
        out[single] = shapely.multipolygons(geoms[single][:, np.newaxis])
    if not single.all():
        rest = geoms[~single]
        out[~single] = shapely.multipolygons(shapely.get_parts(rest), indices=_part_index(rest))
    return out


def _place(township) -> Place | None:
    """Where the declared township lies, for a file whose plain eastings need a zone."""
    district = township.parent
    if township.geom is None or district is None or district.geom is None:
        return None
    inside = to_shape(township.geom).representative_point()
    bounds = tuple(float(v) for v in to_shape(district.geom).bounds)
    return Place(township.name, inside.x, district.name, bounds)


def _surroundings(session, township, options) -> Context:
    """The township, its district and the city, for the location rules of every batch."""
    city = session.scalar(select(AdminUnit).where(AdminUnit.level == "city"))
    city = to_shape(city.geom) if city is not None and city.geom is not None else None
    district = township.parent
    tolerances = get_settings().tolerances()
    return Context(
        township_name=township.name,
        township=to_shape(township.geom) if township.geom is not None else None,
        township_approximate=township.boundary_approximate,
        district_name=district.name if district is not None else None,
        district=to_shape(district.geom)
        if district is not None and district.geom is not None
        else None,
        city=city,
        city_around=shapely.buffer(city, tolerances.outside_city_deg) if city else None,
        accept_overlaps=options.accept_overlaps,
        tolerances=tolerances,
        townships=_township_outlines(session),
        override_reason=options.override_reason,
    )


def _township_outlines(session) -> list[tuple[str, object]]:
    """Every township's outline, to say where a file's parcels lie."""
    rows = session.execute(
        select(AdminUnit.name, AdminUnit.geom)
        .where(AdminUnit.level == "township", AdminUnit.geom.is_not(None))
        .order_by(AdminUnit.code)
    ).all()
    return [(name, to_shape(geom)) for name, geom in rows]


def _covered_m2(rows: "_Rows") -> float:
    """The area the accepted parcels cover: overlapping parcels of one file count once."""
    geoms = rows.geoms[rows.indices]
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    if (left == right).all():  # nothing meets anything else: the sum is the union
        return float(rows.areas[rows.indices].sum())
    return float(geodesic_area_m2([shapely.union_all(geoms)])[0])


def _check_options(options: ImportOptions, name: str) -> None:
    if options.kind not in KINDS:
        raise UploadRefused(f"{name}: kind must be land or demolition, not {options.kind!r}")
    allowed = statuses_allowed(options.migration)
    if options.status and options.status not in allowed:
        raise UploadRefused(f"{name}: status must be one of {', '.join(allowed)}")
    group = VERIFICATION_GROUPS[options.kind]
    if options.verifier_group and options.verifier_group != group:
        raise UploadRefused(
            f"{name}: {options.kind} parcels are verified by {group}, not {options.verifier_group}"
        )


def resolve_township(session: Session, township: str, filename: str):
    """The upload's township, or a refusal that names the file."""
    return _resolve(lambda: find_township(session, township), filename)


def _resolve(finder, name):
    try:
        return finder()
    except NotFound as exc:
        raise UploadRefused(f"{name}: {exc}") from None


def _codes(frame, name: str, first: int = 0) -> list[str]:
    stem = Path(name).stem
    if "code" not in frame.columns:
        return [f"{stem}-{first + i + 1}" for i in range(len(frame))]
    # A plain list: a pandas column read value by value costs a call per value.
    # A text cell is stripped in place: _text's call per value was a tenth of the reading.
    return [
        (c.strip() if type(c) is str else _text(c)) or f"{stem}-{first + i + 1}"
        for i, c in enumerate(frame["code"].tolist())
    ]


def _text(value) -> str:
    """A cell as stripped text, "" when absent (None, NaN, blank)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _present(value) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and str(value).strip() != ""
    )


def _check_code_lengths(codes: list[str], report: Report, first: int = 0) -> None:
    limit = Parcel.__table__.c.code.type.length
    for i, code in enumerate(codes):
        if len(code) > limit:
            report.add(
                first + i + 1,
                code[:20] + "…",
                "code_too_long",
                f"a parcel code has at most {limit} characters, this one {len(code)}",
                params={"limit": limit, "length": len(code)},
            )


def _check_texts(codes: list[str], frame, report: Report, first: int = 0) -> None:
    """Codes printable and names within the text rule (texts.py): refused, never cut."""
    names = frame["name"].tolist() if "name" in frame.columns else [None] * len(codes)
    for i, (code, name) in enumerate(zip(codes, names, strict=True)):
        # Printable ASCII passes the code rule: most codes are asked nothing more.
        if not (code.isascii() and code.isprintable()) and (why := texts.problem(code, texts.CODE)):
            report.add(first + i + 1, repr(code)[1:-1], "code_not_printable",
                       f"the parcel code {why}")  # fmt: skip
        if _present(name) and (why := texts.problem(str(name), texts.NAME)):
            too_long = len(str(name)) > texts.limit(texts.NAME)
            report.add(first + i + 1, code, "name_too_long" if too_long else "name_not_printable",
                       f"the parcel name {why}")  # fmt: skip


# How far along the workflow a status is: an upload may move parcels on, never back.
_PROGRESS = {"planned": 0, "in_progress": 1, "delivered": 2, "demolished": 2, "verified": 3}


def _check_status_moves(session, rows: "_Rows", township, options, report: Report) -> None:
    """A file may record progress, but moving a parcel back (or out of a dispute) takes a
    reason, through `geo-service status` or `dispute`: refuse those rows. Each status the
    file asks for goes through the uploader's sign-off rule (options.status_rule)."""
    asked = {rows.codes[i]: (i, s) for i, s in enumerate(rows.statuses) if s is not None}
    stored = session.execute(
        select(Parcel.code, Parcel.status).where(
            Parcel.township_id == township.id,
            Parcel.kind == options.kind,
            Parcel.code == any_(_batch_codes(rows)),
        )
    ).all()
    position = {code: i for i, code in enumerate(rows.codes)}
    if options.status_rule is not None:
        _check_signoff(rows, dict(stored), options.status_rule, report)
    for code, current in stored:
        i, status = asked.get(code, (position[code], None))
        i += rows.first
        if current == "withdrawn":
            report.add(
                i + 1,
                code,
                "withdrawn",
                f"{code} was withdrawn; a withdrawn parcel's code is not used again",
                params={"code": code},
            )
        elif status is None:
            continue
        elif current == "disputed" and status != "disputed":
            report.add(
                i + 1,
                code,
                "status_move",
                f"{code} is disputed: settle it with geo-service status (with a reason), "
                "not by upload",
                params={"variant": "disputed", "code": code},
            )
        elif _PROGRESS.get(status, 0) < _PROGRESS.get(current, 0):
            report.add(
                i + 1,
                code,
                "status_move",
                f"{code} is {current}; a file cannot move it back to {status}: "
                "use geo-service status or dispute, with a reason",
                params={"code": code, "current": current, "status": status},
            )


def _check_signoff(rows: "_Rows", stored: dict, rule, report: Report) -> None:
    """Each feature asking for a status its uploader may not set: an error naming the rule.
    The rule depends on the stored and the asked status alone, so it is asked once a pair."""
    said: dict[tuple, tuple | None] = {}
    for i, status in enumerate(rows.statuses):
        if status is None:
            continue
        pair = (stored.get(rows.codes[i]), status)
        if pair not in said:
            said[pair] = rule(*pair)
        refusal = said[pair]
        if refusal:
            way, message, params = refusal
            params = {**params, "variant": way.removeprefix("signoff_"), "asked": status}
            report.add(rows.first + i + 1, rows.codes[i], "signoff", f"{status}: {message}",
                       params=params)  # fmt: skip


def _statuses(
    frame, options: ImportOptions, codes, report: Report, first: int = 0
) -> list[str | None]:
    """--status wins; otherwise the file's own status column. None means: a parcel already
    stored keeps its status (a re-survey must not undo a verification), a new one is planned."""
    words = STATUSES if options.migration else _STATUS_WORDS
    if options.status or "status" not in frame.columns:
        base = [options.status] * len(frame)
    else:
        base = []
        for i, value in enumerate(frame["status"].tolist()):
            status = str(value).strip().lower() if _present(value) else None
            # Demolition's "delivered" is read as demolished; land is never demolished.
            other = "demolished" if options.kind == "land" else None
            if status is not None and (status not in words or status == other):
                allowed = ", ".join(w for w in words if w != other)
                report.add(first + i + 1, codes[i], "unknown_status",
                           f"unknown status {value!r} for {options.kind} parcels; a file may "
                           f"say {allowed}",
                           params={"value": str(value), "kind": options.kind,
                                   "allowed": allowed})  # fmt: skip
                status = None
            base.append(status)
    # Demolition's counterpart of "delivered" is "demolished".
    if options.kind == "demolition":
        base = ["demolished" if s == "delivered" else s for s in base]
    return base


def _field_days(session, rows: "_Rows", township, options, report: Report, now) -> list:
    """The moment each feature's status change happened in the field, from its field day
    column (field_day, verified_on, 核验日期: a day or a moment), None when not given. Only a
    feature whose status the file changes is dated (an exported layer sent back keeps its
    parcels as they are); a day in the future, one beyond the back-dating window for its
    uploader (options.field_day_rule), or one before the parcel's current state is refused."""
    moments: list = [None] * len(rows.codes)
    if "field_day" not in rows.frame.columns:
        return moments
    stored = {
        code: (status, since)
        for code, status, since in session.execute(
            select(Parcel.code, Parcel.status, ParcelVersion.valid_from)
            .join(ParcelVersion, ParcelVersion.parcel_id == Parcel.id)
            .where(
                ParcelVersion.valid_to.is_(None),
                Parcel.township_id == township.id,
                Parcel.kind == options.kind,
                Parcel.code == any_(_batch_codes(rows)),
            )
        )
    }
    for i, value in enumerate(rows.frame["field_day"]):
        status, since = stored.get(rows.codes[i], (None, None))
        unchanged = since is not None and rows.statuses[i] in (None, status)
        if unchanged or not _present(value) or pd.isna(value):
            continue
        moments[i] = _field_moment(value, since, rows, i, options, report, now)
    return moments


def _day_text(value) -> str:
    """A field day as written: GDAL gives a date column as a timestamp at midnight."""
    if isinstance(value, date):
        value = value.isoformat()
    text = str(value).strip()
    return text[:10] if text[10:] in ("T00:00:00", " 00:00:00") else text


def _field_moment(value, since, rows: "_Rows", i: int, options, report: Report, now):
    feature, code = rows.first + i + 1, rows.codes[i]
    text = _day_text(value)
    try:
        day = check_field_day(text)
    except ValueError as exc:
        report.add(feature, code, "bad_field_day", f"field day {text!r}: {exc}",
                   params={"value": text})  # fmt: skip
        return None
    refusal = options.field_day_rule(day) if options.field_day_rule else None
    if refusal:
        rule, message, params = refusal
        report.add(feature, code, rule, message, params=params)
        return None
    moment = field_moment(day, now, since)
    if since is not None and moment < since:
        report.add(feature, code, "field_day_before_state",
                   f"the field day {moment:%Y-%m-%d %H:%M} is earlier than the parcel's "
                   f"current state (since {since:%Y-%m-%d %H:%M}): history runs forwards",
                   params={"day": f"{moment:%Y-%m-%d %H:%M}",
                           "since": f"{since:%Y-%m-%d %H:%M}"})  # fmt: skip
        return None
    return moment


def _projects(
    session, frame, options: ImportOptions, codes, report: Report, first=0, cache=None
) -> list:
    """The project of each feature; `cache`, shared by a file's batches, is found once."""
    cache = {} if cache is None else cache
    if options.project:
        if options.project not in cache:
            cache[options.project] = _resolve(
                lambda: find_project(session, options.project), report.filename
            )
        return [cache[options.project]] * len(frame)
    if "project" not in frame.columns:
        return [None] * len(frame)
    values = frame["project"].tolist()
    named = {v.strip() if type(v) is str else _text(v) for v in values} - cache.keys()
    # The batch's projects in one query; find_project then only says which are missing.
    cache.update(_projects_by_code(session, named - {None, ""}))
    found = []
    for i, value in enumerate(values):
        code = value.strip() if type(value) is str else _text(value)
        if not code:
            found.append(None)
            continue
        if code not in cache:
            try:
                cache[code] = find_project(session, code)
            except NotFound as exc:
                cache[code] = None
                report.add(first + i + 1, codes[i], "unknown_project", str(exc),
                           params={"code": code})  # fmt: skip
        found.append(cache[code])
    return found


def _projects_by_code(session, codes: set) -> dict:
    if not codes:
        return {}
    return {p.code: p for p in session.scalars(select(Project).where(Project.code.in_(codes)))}


def _supporters(session, frame, host, codes, report: Report, first: int = 0) -> list[list]:
    if "support" not in frame.columns:
        return [[] for _ in range(len(frame))]
    out = []
    for i, value in enumerate(frame["support"].tolist()):
        names = (
            [n.strip() for n in str(value).replace("、", ",").split(",")] if _present(value) else []
        )
        helpers = []
        for helper in filter(None, names):
            try:
                helpers.append(find_township(session, helper, district=host.parent))
            except NotFound as exc:
                report.add(first + i + 1, codes[i], "unknown_township", str(exc),
                           params={"name": helper})  # fmt: skip
        out.append(helpers)
    return out


def _batch_codes(rows: "_Rows"):
    """The batch's codes as staged in import_codes, for `= ANY(...)`."""
    return text(store.BATCH_CODES).bindparams(**store.batch_codes(rows.first, len(rows.codes)))


def _part_index(geoms):
    return np.repeat(np.arange(len(geoms)), shapely.get_num_geometries(geoms))


@dataclass
class _Rows:
    frame: pd.DataFrame
    codes: list[str]
    geoms: np.ndarray
    areas: np.ndarray
    statuses: list[str]
    projects: list
    helpers: list
    flags: list = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    first: int = 0  # the position in the file of the batch's first feature
    # When each feature's status change happened in the field (None: when recorded).
    moments: list = field(default_factory=list)

    def __post_init__(self):
        self.flags = [[] for _ in range(len(self.codes))]
        self.indices = list(range(len(self.codes)))

    def keep_valid(self, report: Report, accept_valid: bool) -> None:
        """Drop the features with errors (all of them when the file as a whole has one)."""
        if any(p.feature is None for p in report.errors):
            self.indices = []
        elif accept_valid:
            bad = report.features_with_errors()
            self.indices = [i for i in self.indices if self.first + i + 1 not in bad]

    def declared(self, i: int) -> float | None:
        return self._declared[i]

    def name(self, i: int) -> str | None:
        return self._names[i]

    @cached_property
    def _declared(self) -> list[float | None]:
        if "declared_m2" not in self.frame.columns:
            return [None] * len(self.codes)
        values = pd.to_numeric(self.frame["declared_m2"], errors="coerce")
        return [None if pd.isna(v) else float(v) for v in values]

    @cached_property
    def _names(self) -> list[str | None]:
        if "name" not in self.frame.columns:
            return [None] * len(self.codes)
        return [str(v) if _present(v) else None for v in self.frame["name"].tolist()]


def _updated_state(parcel, rows: _Rows, i, same_shape, options, now) -> tuple[str, dict]:
    """The parcel as the file leaves it (a new one when `parcel` is None): the outcome
    (created/changed/unchanged) and, unless unchanged, every column to store."""
    area = float(rows.areas[i])
    project, helpers = rows.projects[i], rows.helpers[i]
    project_id = project.id if project else None
    support_ids = sorted({h.id for h in helpers})
    status = rows.statuses[i] or (parcel.status if parcel is not None else "planned")
    name, declared = rows.name(i), rows.declared(i)
    if parcel is not None and (
        parcel.status == status
        and parcel.project_id == project_id
        and parcel.support_ids == support_ids
        and parcel.name == name
        and parcel.declared_m2 == declared
        and same_shape
    ):
        return "unchanged", {}
    flags = list(rows.flags[i])
    reshaped = parcel is not None and not same_shape
    status = _status_after_upload(
        parcel, status, rows.statuses[i], reshaped, area, flags, options.kind
    )
    state = {
        "parcel_id": parcel.id if parcel is not None else None,
        "change": "changed" if parcel is not None else "created",
        "history_change": "migrated" if options.migration else None,
        "code": rows.codes[i],
        "name": name,
        "status": status,
        "project_id": project_id,
        "area_m2": area,
        "declared_m2": declared,
        "flags": flags,
        "support_ids": support_ids,
        "happened_at": rows.moments[i] if rows.moments else None,
        "version_note": f"migrated from {options.filename or 'a file'}"
        if options.migration
        else None,
    }
    when = state["happened_at"] or now
    state.update(_verification(parcel, status, options, area, (when, now), reshaped))
    if options.migration:
        state.update(_migrated(rows, i, status, when, options))
    return state["change"], state


def _migrated(rows: _Rows, i: int, status: str, when, options) -> dict:
    """What an admin's migration takes from the file as it is: the sign-off (verifier,
    group, field day, when and by whom it was entered, frozen area, note), the dispute
    reason, the withdrawal and the flags the old system kept."""
    value = lambda name: _cell(rows.frame, name, i)  # noqa: E731
    out = {}
    if status in ("verified", "disputed") and value("verified_by"):
        signed = _moment(value("verified_at")) or when
        out.update(
            verified_by=value("verified_by"),
            verified_group=value("verified_group") or VERIFICATION_GROUPS[options.kind],
            verified_at=signed,
            verification_recorded_at=_moment(value("verification_recorded_at"))
            or _moment(value("recorded_at"))
            or signed,
            verification_recorded_by=value("verification_recorded_by")
            or value("recorded_by")
            or value("verified_by"),
            verification_note=value("note"),
        )
        area = value("verified_area_m2")
        if area is not None and _number(area) is not None:
            out["verified_area_m2"] = _number(area)
    if status == "disputed":
        out["dispute_reason"] = value("dispute_reason") or "disputed (migrated)"
    if status == "withdrawn":
        out.update(withdrawn_at=when, withdrawn_by=value("withdrawn_by") or options.actor,
                   withdrawn_reason=value("dispute_reason") or "withdrawn (migrated)")  # fmt: skip
    flags = value("flags")
    if flags:
        with contextlib.suppress(ValueError):  # not the old system's: the checks' flags stay
            out["flags"] = json.loads(flags)
    return out


def _cell(frame, name: str, i: int) -> str | None:
    if name not in frame.columns:
        return None
    value = frame[name].iloc[i]
    if not _present(value) or pd.isna(value):
        return None
    return _day_text(value) if isinstance(value, date) else str(value).strip()


def _number(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _moment(text: str | None):
    """A moment from the file (what `export parcels` writes), None when absent or unreadable."""
    try:
        found = check_field_day(text) if text else None
    except ValueError:
        return None
    if found is None or isinstance(found, datetime):
        return found
    return datetime.combine(found, time.min, tzinfo=CHINA)


def _status_after_upload(parcel, status, asked, reshaped, area, flags, kind) -> str:
    """A verified parcel whose boundary a re-survey changes goes back for re-verification,
    unless the upload itself is the verification: its frozen area must not move."""
    if parcel is not None and parcel.status == "verified" and reshaped and asked != "verified":
        flags.append(
            {
                "rule": "changed_after_verification",
                "verified_area_m2": parcel.verified_area_m2,
                "area_m2": round(area, 2),
            }
        )
        return "delivered" if kind == "land" else "demolished"
    return status


def _verification(parcel, status, options, area, moments, reshaped) -> dict:
    """The verification columns after the upload: signed by the uploading team when the
    upload verifies (on the feature's field day, entered now), kept while the parcel stays
    verified, cleared otherwise. `moments`: (when it happened, when it is recorded)."""
    kept = {
        name: getattr(parcel, name, None) if parcel is not None else None
        for name in (
            "verified_by",
            "verified_group",
            "verified_at",
            "verification_recorded_at",
            "verification_recorded_by",
            "verified_area_m2",
            "verification_note",
            "dispute_reason",
        )
    }
    if status == "verified" and (kept["verified_at"] is None or reshaped):
        # Verified by upload: the uploading team signs, and the area is frozen now.
        kept.update(
            verified_by=options.actor,
            verified_group=options.verifier_group or VERIFICATION_GROUPS[options.kind],
            verified_at=moments[0],
            verification_recorded_at=moments[1],
            verification_recorded_by=options.actor,
            verified_area_m2=area,
            verification_note=f"verified by upload of {options.filename or 'a file'}",
        )
    elif status != "verified":
        kept.update(
            verified_by=None,
            verified_group=None,
            verified_at=None,
            verification_recorded_at=None,
            verification_recorded_by=None,
            verified_area_m2=None,
            verification_note=None,
        )
    if status != "disputed":
        kept["dispute_reason"] = None
    return kept


def append_version(
    session,
    parcel: Parcel,
    change: str,
    upload,
    actor: str,
    now,
    note: str | None = None,
    recorded: tuple | None = None,
) -> ParcelVersion:
    """Open a new version, the parcel's whole state from `now` (when the change happened);
    the database closes the one before (migration 0023), at this one's start. `recorded`:
    (when, by whom) it was entered, when not then and by `actor`."""
    current = session.scalar(
        select(ParcelVersion.valid_from).where(
            ParcelVersion.parcel_id == parcel.id, ParcelVersion.valid_to.is_(None)
        )
    )
    if current is not None and now < current:
        # History must run forwards: a change cannot be dated before the state it ends.
        raise InvalidInput(
            f"parcel {parcel.code}: a change at {now:%Y-%m-%d %H:%M} is earlier than its "
            f"current state ({current:%Y-%m-%d %H:%M}): history runs forwards, give a "
            "field day on or after it"
        )
    version = _new_version(parcel, change, upload, actor, now, note)
    if recorded is not None:
        version.recorded_at, version.recorded_by = recorded
    session.add(version)
    return version


def _new_version(parcel: Parcel, change: str, upload, actor: str, now, note=None):
    return ParcelVersion(
        parcel_id=parcel.id,
        version=parcel.version,
        change=change,
        code=parcel.code,
        kind=parcel.kind,
        status=parcel.status,
        township_id=parcel.township_id,
        project_id=parcel.project_id,
        geom=parcel.geom,
        area_m2=parcel.area_m2,
        upload_id=upload.id if upload else None,
        changed_by=actor,
        valid_from=now,
        note=note,
    )
