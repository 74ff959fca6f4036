"""Property tests of every reader: whatever bytes arrive (random, truncated, huge or NaN
coordinates, deep nesting, mixed geometry types), the import either stores the file or
refuses it with an UploadRefused naming it; never another exception, never a 500, and a
refused file leaves no row behind."""

import json
import math
import zipfile

import pytest
from conftest import auth, count_rows, shared_app
from corpus import gk_box, parcel, write_boundary_file, write_kml, write_kmz
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from parcelfiles import XINDIAN, ZONE40, frame, rectangle, write

from geo_service import database
from geo_service.errors import UploadRefused
from geo_service.parcels.uploads import ImportOptions, import_file

SUFFIXES = [".geojson", ".json", ".gpkg", ".zip", ".kml", ".kmz", ".txt", ".shp", ""]
TABLES = ("uploads", "parcels", "parcel_versions")
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _rows() -> tuple[int, ...]:
    return tuple(count_rows(t) for t in TABLES)


def _import(path, name: str) -> bool:
    """True when stored; False when refused (and then nothing may be stored)."""
    before = _rows()
    try:
        with database.session_scope() as session:
            import_file(session, path, ImportOptions(kind="land", township="新店镇", filename=name))
    except UploadRefused as exc:
        assert name in str(exc) or str(exc), exc
        assert _rows() == before
        return False
    return True


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    """One good file per format, for truncating."""
    folder = tmp_path_factory.mktemp("valid")
    shapes = [rectangle(XINDIAN, 0, 0, 100, 80), rectangle(XINDIAN, 300, 0, 60, 90)]
    parcels = frame(shapes, code=["F-1", "F-2"])
    boundary = [parcel("F-3", "地块", [gk_box(0, 0, 100, 80)])]
    return {
        ".geojson": write(parcels, folder / "a.geojson", 4326, "GeoJSON").read_bytes(),
        ".gpkg": write(parcels, folder / "a.gpkg", ZONE40, "GPKG").read_bytes(),
        ".zip": write(parcels, folder / "a.zip", ZONE40).read_bytes(),
        ".kml": write_kml(folder / "a.kml", [("F-4", shapes[0], 12.0)]).read_bytes(),
        ".kmz": write_kmz(folder / "a.kmz", [("F-5", shapes[1], 12.0)]).read_bytes(),
        ".txt": write_boundary_file(folder / "a.txt", boundary).read_bytes(),
    }


@given(data=st.binary(min_size=1, max_size=4096), suffix=st.sampled_from(SUFFIXES))
@example(data=b"PK\x03\x04" + b"\x00" * 40, suffix=".zip")
@example(data=b"SQLite format 3\x00" + b"\x00" * 200, suffix="")
@example(data=b"{", suffix="")
@FUZZ
def test_random_bytes_are_refused_cleanly(db, tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    assert not _import(path, path.name)


@given(cut=st.floats(min_value=0.02, max_value=0.98), fmt=st.sampled_from(list(SUFFIXES[:7])))
@FUZZ
def test_truncated_files_are_refused_cleanly(db, tmp_path, valid_files, cut, fmt):
    fmt = {".json": ".geojson"}.get(fmt, fmt)
    whole = valid_files[fmt]
    path = tmp_path / f"cut{fmt}"
    path.write_bytes(whole[: max(1, int(len(whole) * cut))])
    _import(path, path.name)


_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e20, 119.3, 26.15, 0.0, math.nan, math.inf]),
)
_POSITION = st.lists(_NUMBERS, min_size=0, max_size=4)
_RING = st.lists(_POSITION, min_size=0, max_size=8)


def _geometry():
    simple = st.one_of(
        st.builds(lambda p: {"type": "Point", "coordinates": p}, _POSITION),
        st.builds(lambda r: {"type": "LineString", "coordinates": r}, _RING),
        st.builds(lambda r: {"type": "Polygon", "coordinates": r}, st.lists(_RING, max_size=3)),
        st.builds(
            lambda r: {"type": "MultiPolygon", "coordinates": r},
            st.lists(st.lists(_RING, max_size=2), max_size=2),
        ),
        st.none(),
    )
    return st.recursive(
        simple,
        lambda inner: st.builds(
            lambda gs: {"type": "GeometryCollection", "geometries": gs},
            st.lists(inner, max_size=3),
        ),
        max_leaves=6,
    )


@given(geometries=st.lists(_geometry(), min_size=1, max_size=5))
@example(geometries=[{"type": "Polygon", "coordinates": [[[1e308, 1e308]] * 4]}])
@example(
    geometries=[
        {"type": "Polygon", "coordinates": [[[119.3, 26.15], [math.nan, 26.2], [119.31, 26.16]]]},
        {"type": "Point", "coordinates": [119.3, 26.15]},
    ]
)
@FUZZ
def test_odd_geojson_geometries_are_refused_or_stored_never_an_error(db, tmp_path, geometries):
    features = [
        {"type": "Feature", "properties": {"code": f"Z-{i}"}, "geometry": g}
        for i, g in enumerate(geometries)
    ]
    path = tmp_path / "odd.geojson"
    # allow_nan: NaN and Infinity as bare tokens, as some writers emit them
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    _import(path, path.name)


@given(depth=st.integers(min_value=1, max_value=200_000))
@example(depth=65)
@FUZZ
def test_deeply_nested_json_is_refused_cleanly(db, tmp_path, depth):
    nested = "[" * depth + "]" * depth
    body = (
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":'
        + nested
        + '},"geometry":{"type":"Polygon","coordinates":'
        + nested
        + "}}]}"
    )
    path = tmp_path / "deep.geojson"
    path.write_text(body)
    stored = _import(path, path.name)
    assert not stored


@given(
    numbers=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30)),
        min_size=1,
        max_size=40,
    )
)
@FUZZ
def test_boundary_point_files_with_any_numbers_are_refused_cleanly(db, tmp_path, numbers):
    lines = [f"J{i},1,{numbers[i]},{numbers[(i + 1) % len(numbers)]}" for i in range(len(numbers))]
    text = (
        "[属性描述]\n坐标系=2000国家大地坐标系\n几度分带=3\n带号=40\n[地块坐标]\n"
        f"{len(numbers)},0.1,1,Q-1,地块,面,,城镇住宅用地,@\n" + "\n".join(lines) + "\n"
    )
    path = tmp_path / "points.txt"
    path.write_text(text, encoding="utf-8")
    _import(path, path.name)


@given(members=st.lists(st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=300))))
@FUZZ
def test_zips_of_anything_are_refused_cleanly(db, tmp_path, members):
    path = tmp_path / "any.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    _import(path, path.name)


@given(data=st.binary(min_size=1, max_size=2048), suffix=st.sampled_from(SUFFIXES))
@settings(FUZZ, max_examples=15)
def test_uploads_of_random_bytes_are_a_4xx_never_a_500(db, data, suffix):
    before = _rows()
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        response = client.post(
            "/api/uploads",
            files={"file": (f"random{suffix}", data)},
            data={"kind": "land", "township": "新店镇"},
            headers=auth("land_all"),
        )
    assert 400 <= response.status_code < 500, response.text
    assert isinstance(response.json()["detail"], str)
    assert _rows() == before
