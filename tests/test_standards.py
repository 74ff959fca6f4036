"""Standards a GIS client relies on, checked with the clients themselves against the running
service: GDAL's OAPIF driver (ogr2ogr from Debian's gdal-bin, and pyogrio's own GDAL for
the CRS extension), GDAL's MVT driver through TileJSON, and RFC 7946 for /api/parcels."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from urllib.parse import quote
from urllib.request import Request, urlopen

import pyogrio
import pytest
import shapely
from conftest import auth, shared_app, token_for
from fastapi.testclient import TestClient
from parcelfiles import GUSHAN, XINDIAN, frame, independent_area_m2, rectangle, write
from pyproj import Transformer
from sqlalchemy import text

from geo_service import database
from geo_service.api.app import create_app
from geo_service.parcels.uploads import ImportOptions, import_file

pytest_plugins = ["browser"]
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
XINDIAN_PARCELS = [rectangle(XINDIAN, 250 * i, 300 * (i % 2), 150, 90, 10 * i) for i in range(7)]
GUSHAN_PARCELS = [rectangle(GUSHAN, 0, 0, 120, 80), rectangle(GUSHAN, 400, 0, 60, 60)]


def _gdal_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: scripts/bootstrap.sh installs Debian's gdal-bin"
        if os.environ.get("REQUIRE_GDAL_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _store(tmp_path):
    with database.session_scope() as session:
        for polygons, township, kind, prefix in (
            (XINDIAN_PARCELS, "新店镇", "land", "XD"),
            (GUSHAN_PARCELS, "鼓山镇", "demolition", "GS"),
        ):
            codes = [f"{prefix}-{i}" for i in range(len(polygons))]
            names = [f"{township}{i}号地块" for i in range(len(polygons))]
            path = write(frame(polygons, code=codes, name=names), tmp_path / f"{prefix}.gpkg",
                         4549, "GPKG")  # fmt: skip
            import_file(session, path, ImportOptions(kind=kind, township=township))


def _stored() -> dict:
    with database.session_scope() as session:
        rows = session.execute(
            text("SELECT code, name, kind, area_m2, ST_AsBinary(geom) AS wkb FROM parcels")
        ).mappings()
        return {r["code"]: {**r, "geom": shapely.from_wkb(bytes(r["wkb"]))} for r in rows}


@pytest.fixture
def server(live_server, tmp_path):
    _store(tmp_path)
    return live_server


def _run(*args: str, user: str = "planner") -> str:
    """A GIS client's command, signed in with a bearer token (GDAL sends the header: 3.6
    from GDAL_HTTP_HEADERS, newer ones from GDAL_HTTP_AUTH=BEARER)."""
    token = token_for(user)
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}"}
    if args[0] == sys.executable:
        env.update(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=token)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gdal_oapif_driver_gets_every_parcel_across_pages(server):
    ogr2ogr = _gdal_tool("ogr2ogr")
    out = _run(ogr2ogr, "-f", "GeoJSON", "/vsistdout/", f"OAPIF:{server}/ogc", "parcels",
               "-oo", "PAGE_SIZE=3")  # fmt: skip
    collection = json.loads(out)
    stored = _stored()
    got = {f["properties"]["code"]: f for f in collection["features"]}
    assert len(collection["features"]) == len(stored) == 9  # 3 pages of 3 and more
    assert set(got) == set(stored)
    for code, feature in got.items():
        assert feature["properties"]["name"] == stored[code]["name"]
        geom = shapely.geometry.shape(feature["geometry"])
        # Coordinates to 1e-7 degrees (5 mm at most): the area to about 2e-4.
        assert independent_area_m2(geom) == pytest.approx(stored[code]["area_m2"], rel=3e-4)
    info = _run(_gdal_tool("ogrinfo"), "-ro", "-so", f"OAPIF:{server}/ogc", "township-progress")
    assert "Feature Count:" in info
    # Typed by the collection's schema, not guessed from a first page of townships that
    # have no target (all null there: text columns in QGIS).
    for field in ("target_m2", "target_mu", "progress", "verified_m2"):
        assert f"\n{field}: Real" in info, info


def test_oapif_crs_extension_serves_gauss_kruger_northing_first(server, tmp_path):
    # pyogrio's GDAL (3.7+) asks for the CRS through the CRS extension. In a process of its
    # own: GDAL would hold this one's interpreter while the server thread has to answer it.
    copy = tmp_path / "oapif.gpkg"
    script = (
        "import sys, pyogrio; "
        "layer = pyogrio.read_dataframe(sys.argv[1], layer='parcels', CRS='EPSG:4549'); "
        "pyogrio.write_dataframe(layer, sys.argv[2])"
    )
    _run(sys.executable, "-c", script, f"OAPIF:{server}/ogc", str(copy))
    layer = pyogrio.read_dataframe(copy)
    assert layer.crs.to_epsg() == 4549
    stored = _stored()
    assert set(layer["code"]) == set(stored)
    to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
    for code, geom in zip(layer["code"], layer.geometry, strict=True):
        expected = shapely.transform(stored[code]["geom"], lambda xy: _project(to_gk, xy))
        assert shapely.hausdorff_distance(geom, expected) < 0.01  # metres
    with _get(f"{server}/ogc/collections/parcels/items?limit=1&crs={EPSG}4549") as response:
        assert response.headers["Content-Crs"] == f"<{EPSG}4549>"
        northing, easting = json.loads(response.read())["features"][0]["geometry"]["coordinates"][
            0
        ][0][0]
    assert 2.8e6 < northing < 3.0e6 and 3e5 < easting < 7e5


def _get(url: str, user: str = "planner"):
    return urlopen(Request(url, headers=auth(user)))


def _project(transformer, xy):
    import numpy as np

    return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))


def test_gdal_mvt_driver_opens_the_tileset_through_tilejson(server):
    ogr2ogr = _gdal_tool("ogr2ogr")
    with _get(f"{server}/tiles/tilejson.json?kind=land") as response:
        tilejson = json.loads(response.read())
    stored = {c: p for c, p in _stored().items() if p["kind"] == "land"}
    west, south, east, north = shapely.union_all([p["geom"] for p in stored.values()]).bounds
    # CSV: its header is the layer's schema, which GDAL took from TileJSON's vector_layers.
    out = _run(ogr2ogr, "-f", "CSV", "/vsistdout/", "-spat", str(west), str(south),
               str(east), str(north), "-spat_srs", "EPSG:4326",
               "-oo", f"METADATA_FILE={server}/tiles/tilejson.json?kind=land",
               f"MVT:{server}/tiles/14", "parcels")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["code"] for r in rows} == set(stored)
    assert set(rows[0]) == {"mvt_id", *tilejson["vector_layers"][0]["fields"]}
    assert {r["status"] for r in rows} == {"planned"}


def test_tilejson_carries_district_kind_and_day_into_the_template(db):
    with TestClient(shared_app()) as client:
        client.headers.update(auth("planner"))
        body = client.get("/tiles/tilejson.json?district=晋安区&kind=demolition&as_of=2017-06-30")
    assert body.status_code == 200
    tilejson = body.json()
    assert tilejson["tilejson"] == "3.0.0"
    (template,) = tilejson["tiles"]
    assert "/tiles/{z}/{x}/{y}.pbf?" in template
    assert f"district={quote('晋安区')}" in template
    assert "kind=demolition" in template and "as_of=2017-06-30" in template
    assert tilejson["vector_layers"][0]["id"] == "parcels"
    west, south, east, north = tilejson["bounds"]
    assert 118.5 < west < east < 120.5 and 25.5 < south < north < 26.8


def _ring_is_ccw(ring) -> bool:
    return shapely.LinearRing(ring).is_ccw


def test_api_parcels_is_rfc7946_with_self_next_prev_links(db, tmp_path):
    # Clockwise rings in the file (as Shapefiles have them) come out counter-clockwise.
    clockwise = [shapely.geometry.polygon.orient(p, sign=-1.0) for p in XINDIAN_PARCELS]
    path = write(frame(clockwise, code=[f"C{i}" for i in range(7)]), tmp_path / "cw.gpkg",
                 4549, "GPKG")  # fmt: skip
    with database.session_scope() as session:
        import_file(session, path, ImportOptions(kind="land", township="新店镇"))
    with TestClient(shared_app()) as client:
        client.headers.update(auth("planner"))
        body = client.get("/api/parcels?limit=3&offset=3&kind=land").json()
        one = client.get(f"/api/parcels/{body['features'][0]['id']}").json()
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert set(rels) == {"self", "next", "prev"}
    # next is a keyset cursor past the page's last id (ids 4, 5, 6 here); prev an offset.
    assert "kind=land" in rels["next"] and "after=6" in rels["next"]
    assert "offset=0" in rels["prev"]
    for feature in [*body["features"], one]:
        geometry = feature["geometry"]
        assert "crs" not in geometry
        for polygon in geometry["coordinates"]:
            assert _ring_is_ccw(polygon[0])
            assert all(not _ring_is_ccw(hole) for hole in polygon[1:])
            lon, lat = polygon[0][0]
            assert 119 < lon < 120 and 25 < lat < 27


def test_ogc_documents_follow_the_standard(db):
    with TestClient(shared_app()) as client:
        assert client.get("/ogc/collections").status_code == 401
        client.headers.update(auth("planner"))
        landing = client.get("/ogc").json()
        rels = {link["rel"] for link in landing["links"]}
        assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
        conformance = client.get("/ogc/conformance").json()["conformsTo"]
        assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
        collections = client.get("/ogc/collections").json()["collections"]
        parcels = next(c for c in collections if c["id"] == "parcels")
        assert f"{EPSG}4549" in parcels["crs"] and parcels["storageCrs"] == f"{EPSG}4490"
        assert client.get("/ogc/collections/nothing/items").status_code == 404
        assert client.get("/ogc/collections/parcels/items?crs=EPSG:3857").status_code == 400
        assert client.get("/ogc/collections/parcels/items?colour=red").status_code == 400
        assert client.get("/ogc/collections/parcels/items?bbox=1,2,3").status_code == 400
        assert client.get("/ogc/collections/parcels/items?limit=0").status_code in (400, 422)
        assert client.get("/ogc/collections/parcels/items/999").status_code == 404


def test_ogc_bbox_in_another_crs_and_property_filters(db, tmp_path):
    _store(tmp_path)
    to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
    east, north = to_gk.transform(*GUSHAN)
    # EPSG:4549 axis order: northing first.
    bbox = f"{north - 500},{east - 500},{north + 500},{east + 800}"
    with TestClient(shared_app()) as client:
        client.headers.update(auth("planner"))
        near_gushan = client.get(
            f"/ogc/collections/parcels/items?bbox={bbox}&bbox-crs={EPSG}4549"
        ).json()
        land = client.get("/ogc/collections/parcels/items?kind=land&limit=100").json()
        progress = client.get(
            "/ogc/collections/township-progress/items?township=新店镇&kind=land"
        ).json()
    assert {f["properties"]["code"] for f in near_gushan["features"]} == {"GS-0", "GS-1"}
    assert land["numberMatched"] == 7 and all(
        f["properties"]["kind"] == "land" for f in land["features"]
    )
    (township,) = progress["features"]
    assert township["properties"]["township"] == "新店镇"
    assert township["properties"]["verified_parcels"] == 0  # planned, none verified


def test_ogc_keeps_to_the_users_districts(db, tmp_path):
    _store(tmp_path)
    with TestClient(shared_app()) as client:
        jinan = client.get("/ogc/collections/parcels/items", headers=auth("leader_jinan")).json()
        assert jinan["numberMatched"] == 9
        progress = client.get(
            "/ogc/collections/township-progress/items?limit=100", headers=auth("leader_jinan")
        ).json()
        assert {f["properties"]["district"] for f in progress["features"]} == {"晋安区"}


def test_openapi_documents_a_schema_for_every_answer():
    spec = create_app().openapi()
    undocumented = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            answers = operation["responses"]
            success = next(answers[c] for c in ("200", "201", "204") if c in answers)
            schemas = [c.get("schema") for c in success.get("content", {}).values()]
            if path != "/api/audit" and any(not s for s in schemas):  # audit: accounts' own
                undocumented.append(f"{method} {path}")
            assert {"400", "404"} <= set(answers), f"{method} {path}"
    assert undocumented == []
    upload = spec["paths"]["/api/uploads"]["post"]["responses"]
    assert {"201", "200", "413", "422"} <= set(upload)
    tile = spec["paths"]["/tiles/{z}/{x}/{y}.pbf"]["get"]["responses"]["200"]["content"]
    assert list(tile) == ["application/vnd.mapbox-vector-tile"]
    error = spec["components"]["schemas"]["ErrorBody"]
    assert "detail" in error["properties"]
