"""The set-wise import paths (new parcels' states made column by column, the insert's
overlap probe only for the parcels whose box meets another, keys checked once per
statement: migration 0026i) store what the row-wise ones store: on seeded random files
with overlaps, repeated codes, self-crossing rings, mixed statuses and supporting
townships, cut into small batches, both leave the same parcels, versions, flags and
running totals, and the totals equal their full recomputation."""

import contextlib
import gc
import random
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from conftest import _empty
from parcelfiles import GUSHAN, XINDIAN, frame, rectangle, write
from sqlalchemy import text

from geo_service import database, reference
from geo_service.errors import UploadRefused
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.settings import get_settings

PLACES = {"新店镇": XINDIAN, "鼓山镇": GUSHAN}
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

_PARCELS = """
    SELECT p.code, p.kind, p.township_id, p.status, p.version, p.project_id,
           round(p.area_m2::numeric, 6), p.flags::text, p.overlapping, p.verified_by,
           p.verified_group, p.verified_at, p.verified_area_m2 IS NULL, p.upload_id,
           ST_AsText(p.geom),
           (SELECT array_agg(s.township_id ORDER BY s.township_id)
            FROM parcel_support s WHERE s.parcel_id = p.id)
    FROM parcels p ORDER BY p.kind, p.township_id, p.code"""
_VERSIONS = """
    SELECT p.code, p.kind, v.version, v.change, v.status, v.valid_from, v.valid_to,
           round(v.area_m2::numeric, 6), v.flags::text, v.support_ids, v.upload_id,
           v.verified_at, ST_AsText(v.geom)
    FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id
    ORDER BY p.kind, p.township_id, p.code, v.version"""
_TOTALS = """
    SELECT township_id, kind, project_id, status, verified_day::text, parcels, area_m2
    FROM tally_totals WHERE parcels <> 0 ORDER BY 1, 2, 3, 4, 5"""


@pytest.fixture
def small_batches(monkeypatch):
    # Files of a few dozen features cut into batches of 7: overlaps and repeated codes
    # span batches, as in a city's file.
    monkeypatch.setenv("IMPORT_BATCH_FEATURES", "7")
    get_settings.cache_clear()
    # An import collects its spent batches (uploads._release): out of the collector's
    # sight, the test process's own objects cost nothing each time, as the CLI's do.
    gc.freeze()
    yield
    gc.unfreeze()
    monkeypatch.delenv("IMPORT_BATCH_FEATURES")
    get_settings.cache_clear()


def _shape(rng: random.Random, place):
    x, y = rng.randrange(8) * 40, rng.randrange(6) * 40
    if rng.random() < 0.06:  # a ring crossing itself: repaired, or refused
        a = rectangle(place, x, y, 30, 30)
        (w, s, e, n) = a.bounds
        return shapely.Polygon([(w, s), (e, n), (e, s), (w, n), (w, s)])
    # 30–70 m squares on a 40 m pitch: neighbours often overlap, often only touch.
    return rectangle(place, x, y, rng.choice([30, 40, 40, 55, 70]), rng.choice([30, 40, 55]))


def _file(rng: random.Random, tmp_path, step: int, township: str):
    count = rng.randint(12, 30)
    pool = [f"S{i}" for i in range(40)]
    codes = [rng.choice(pool) for _ in range(count)]  # repeats: duplicate codes
    statuses = [rng.choice(["", "planned", "delivered", "verified"]) for _ in range(count)]
    helpers = [h for h in (*PLACES, "岳峰镇") if h != township]
    support = [rng.choice(["", "", "", helpers[0], "、".join(helpers)]) for _ in range(count)]
    polygons = [_shape(rng, PLACES[township]) for _ in range(count)]
    columns = {"code": codes, "status": statuses, "support": support}
    return write(frame(polygons, **columns), tmp_path / f"f{step}.gpkg", 4549, "GPKG")


def _run(seed: int, tmp_path, rowwise: bool) -> dict:
    """A seeded sequence of uploads into an emptied database; what it left."""
    with database.get_engine().begin() as conn:
        _empty(conn)
    with database.session_scope() as session:
        reference.load_reference(session)
    rng = random.Random(seed)
    for step in range(4):
        township = rng.choice(list(PLACES))
        path = _file(rng, tmp_path / ("row" if rowwise else "set"), step, township)
        options = ImportOptions(
            kind=rng.choice(["land", "land", "demolition"]),
            township=township,
            accept_overlaps=True,
            accept_valid=rng.random() < 0.8,
            actor="测绘队",
            recorded_at=START + timedelta(days=step),
            rowwise=rowwise,
        )
        with database.session_scope() as session, contextlib.suppress(UploadRefused):
            import_file(session, path, options)
    with database.get_engine().connect() as conn:
        found = {name: conn.execute(text(sql)).all() for name, sql in
                 (("parcels", _PARCELS), ("versions", _VERSIONS), ("totals", _TOTALS))}  # fmt: skip
    with database.get_engine().begin() as conn:
        conn.execute(text("SELECT tally_rebuild()"))
        found["recomputed"] = conn.execute(text(_TOTALS)).all()
    return found


@pytest.mark.parametrize("seed", [11, 12])
def test_setwise_and_rowwise_imports_store_the_same(db, tmp_path, small_batches, seed):
    (tmp_path / "row").mkdir()
    (tmp_path / "set").mkdir()
    rowwise = _run(seed, tmp_path, rowwise=True)
    setwise = _run(seed, tmp_path, rowwise=False)
    # The random files did what they are for: parcels stored, some overlapping, some not.
    flags = [row[8] for row in setwise["parcels"]]
    assert any(flags) and not all(flags), flags
    assert len(setwise["versions"]) > len(setwise["parcels"])  # re-surveys made versions
    for part in ("parcels", "versions", "totals"):
        assert setwise[part] == rowwise[part], part
    assert setwise["totals"] == setwise["recomputed"]
    assert rowwise["totals"] == rowwise["recomputed"]
