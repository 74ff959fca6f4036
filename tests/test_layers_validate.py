"""Every layer the service serves, checked by the clients and rules that read it: RFC 7946
(winding, at most 7 decimals, no `crs` member) for each GeoJSON output, pages included;
KML's counter-clockwise outer boundaries; GeoPackage 1.2 as GDAL 3.6 opens it without a
warning; GDAL's OAPIF and MVT drivers and OWSLib against the running service with nothing
on their stderr; the queryables and the API definition the OGC landing page points at.

The parcels are written clockwise with a hole, as a Shapefile would hold them, so that an
output which merely passed the stored rings through would be caught."""

import html
import json
import os
import re
import sqlite3
import subprocess
from types import SimpleNamespace
from xml.etree import ElementTree

import geopandas as gpd
import pyogrio
import pytest
import shapely
from conftest import auth, shared_app, signed_in_page, token_for
from fastapi.testclient import TestClient
from owslib.ogcapi.features import Features
from parcelfiles import GUSHAN, XINDIAN, frame, rectangle, write
from test_standards import _gdal_tool

from geo_service import database, exports
from geo_service.parcels import reports
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.validation import Problem
from geo_service.web.uploads import _report_view

pytest_plugins = ["browser"]
KML = "{http://www.opengis.net/kml/2.2}"
ORIGIN = {"Origin": "http://testserver"}


def _with_hole(polygon):
    return polygon.difference(shapely.buffer(polygon.centroid, 0.0001))


def _clockwise(polygon):
    return shapely.geometry.polygon.orient(polygon, sign=-1.0)


XINDIAN_PARCELS = [_clockwise(_with_hole(rectangle(XINDIAN, 300 * i, 0, 150, 90, 17 * i)))
                   for i in range(4)]  # fmt: skip
GUSHAN_PARCELS = [_clockwise(rectangle(GUSHAN, 0, 0, 120, 80, 33))]


def _store(tmp_path) -> None:
    with database.session_scope() as session:
        for polygons, township, kind, prefix in (
            (XINDIAN_PARCELS, "新店镇", "land", "XD"),
            (GUSHAN_PARCELS, "鼓山镇", "demolition", "GS"),
        ):
            codes = [f"{prefix}-{i}" for i in range(len(polygons))]
            # A Shapefile keeps the clockwise rings as written (GeoPackage might too).
            path = write(frame(polygons, code=codes), tmp_path / f"{prefix}.zip", 4549,
                         "ESRI Shapefile")  # fmt: skip
            report = import_file(session, path, ImportOptions(kind=kind, township=township))
            assert report.accepted, [p.message for p in report.problems]


# --- an RFC 7946 check, written here: geojson-pydantic and the `geojson` package check the
# structure only, neither the winding nor the precision.


def rfc7946_problems(document, max_decimals: int = 7) -> list[str]:
    """What RFC 7946 (and validators' precision warnings) would flag in a GeoJSON document:
    a `crs` member anywhere, an exterior ring not counter-clockwise or a hole not
    clockwise, an unclosed or short ring, more decimals than `max_decimals`."""
    problems = []
    if _has_crs_member(document):
        problems.append("crs member")
    for geometry in _geometries(document):
        polygons = {"Polygon": [geometry["coordinates"]], "MultiPolygon": geometry["coordinates"]}
        for polygon in polygons.get(geometry["type"], []):
            for n, ring in enumerate(polygon):
                if len(ring) < 4 or ring[0] != ring[-1]:
                    problems.append(f"ring not closed or too short: {ring[:2]}")
                    continue
                if shapely.LinearRing(ring).is_ccw != (n == 0):
                    problems.append(f"{'exterior' if n == 0 else 'hole'} wound wrongly")
        for number in _numbers(geometry["coordinates"]):
            if round(number, max_decimals) != number:
                problems.append(f"{number!r} has more than {max_decimals} decimals")
    return problems


def _has_crs_member(document) -> bool:
    if isinstance(document, dict):
        return "crs" in document or any(_has_crs_member(v) for v in document.values())
    return isinstance(document, list) and any(_has_crs_member(v) for v in document)


def _geometries(document):
    if isinstance(document, dict):
        if document.get("type") in ("Polygon", "MultiPolygon", "Point", "LineString"):
            yield document
        for value in document.values():
            yield from _geometries(value)
    elif isinstance(document, list):
        for value in document:
            yield from _geometries(value)


def _numbers(coordinates):
    if isinstance(coordinates, (int, float)):
        yield coordinates
    else:
        for value in coordinates:
            yield from _numbers(value)


def test_the_check_catches_what_it_is_meant_to():
    ccw = shapely.geometry.mapping(shapely.box(119.0, 26.0, 119.1, 26.1))
    assert rfc7946_problems(json.loads(json.dumps(ccw))) == []
    cw = shapely.geometry.mapping(_clockwise(shapely.box(119.0, 26.0, 119.1, 26.1)))
    assert rfc7946_problems(json.loads(json.dumps(cw))) == ["exterior wound wrongly"]
    noisy = {"type": "Point", "coordinates": [119.123456789012, 26.1]}
    assert rfc7946_problems({**noisy, "crs": {}}) == [
        "crs member",
        "119.123456789012 has more than 7 decimals",
    ]


# --- every GeoJSON output --------------------------------------------------------------


def _page_shapes(client, url: str) -> dict:
    page = client.get(url)
    assert page.status_code == 200, page.text
    (shapes,) = re.findall(r"data-shapes='([^']*)'", page.text)
    return json.loads(html.unescape(shapes))


def test_every_geojson_output_is_rfc7946(db, tmp_path):
    _store(tmp_path)
    outputs = {}
    with TestClient(shared_app()) as client:
        client.headers.update(auth("planner"))
        outputs["/api/parcels"] = client.get("/api/parcels?limit=100").json()
        first = outputs["/api/parcels"]["features"][0]["id"]
        outputs["/api/parcels/{id}"] = client.get(f"/api/parcels/{first}").json()
        outputs["/ogc items"] = client.get("/ogc/collections/parcels/items?limit=100").json()
        outputs["/ogc item"] = client.get(f"/ogc/collections/parcels/items/{first}").json()
        outputs["/ogc progress"] = client.get(
            "/ogc/collections/township-progress/items?limit=100"
        ).json()
        export = client.get("/api/exports/parcels.geojson")
        assert export.status_code == 200
        outputs["export"] = export.json()
    page = signed_in_page("planner")
    outputs["/parcels page"] = _page_shapes(page, "/parcels")
    code = outputs["/api/parcels/{id}"]["properties"]["code"]
    outputs["/parcels/{code} page"] = _page_shapes(page, f"/parcels/{code}")
    # A kept upload report (written before this rule) as its page shows it.
    kept = {"shapes": {"1": json.loads(shapely.to_geojson(XINDIAN_PARCELS[0]))}}
    outputs["upload report page"] = _report_view(kept)["map"]["shapes"]
    for name, document in outputs.items():
        assert list(_geometries(document)), name
        assert rfc7946_problems(document) == [], name
    assert len(outputs["/api/parcels"]["features"]) == 5
    shapes = [shapely.geometry.shape(f["geometry"]) for f in outputs["export"]["features"]]
    assert sum(len(shapely.get_parts(s)[0].interiors) for s in shapes) == 4  # holes kept


def test_ogc_in_another_crs_rounds_to_the_crs_unit(db, tmp_path):
    _store(tmp_path)
    epsg = "http://www.opengis.net/def/crs/EPSG/0/"
    with TestClient(shared_app()) as client:
        client.headers.update(auth("planner"))
        gk = client.get(f"/ogc/collections/parcels/items?crs={epsg}4549").json()
        latlon = client.get(f"/ogc/collections/parcels/items?crs={epsg}4490").json()
    # Not RFC 7946 (northing, easting / lat, lon), but no more digits than the data holds:
    # 1 mm and 1e-7 degrees.
    assert all(round(n, 3) == n for n in _numbers([g["coordinates"] for g in _geometries(gk)]))
    assert all(round(n, 7) == n for n in _numbers([g["coordinates"] for g in _geometries(latlon)]))
    assert not _has_crs_member(gk)


# --- KML and GeoPackage -----------------------------------------------------------------


def test_kml_outer_boundaries_are_counter_clockwise_and_holes_clockwise(db, tmp_path):
    _store(tmp_path)
    with database.session_scope() as session:
        layer = exports.parcel_frame(session)
    path = exports.write_parcels(layer, "kml", 4326, tmp_path / "parcels.kml")
    tree = ElementTree.parse(path)
    rings = {"outer": [], "inner": []}
    for side in rings:
        for boundary in tree.iter(f"{KML}{side}BoundaryIs"):
            text = boundary.find(f"{KML}LinearRing/{KML}coordinates").text
            points = [tuple(map(float, p.split(",")[:2])) for p in text.split()]
            rings[side].append(shapely.LinearRing(points).is_ccw)
    assert rings["outer"] == [True] * 5
    assert rings["inner"] == [False] * 4


def _ogrinfo(path) -> subprocess.CompletedProcess:
    """Debian's GDAL 3.6, the one QGIS 3.22 is built on."""
    return subprocess.run([_gdal_tool("ogrinfo"), "-ro", "-al", "-so", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def _gpkg_version(path) -> tuple[bytes, int]:
    with sqlite3.connect(path) as con:
        application_id = con.execute("PRAGMA application_id").fetchone()[0]
        user_version = con.execute("PRAGMA user_version").fetchone()[0]
    return application_id.to_bytes(4, "big"), user_version


def test_geopackages_are_1_2_and_gdal_36_opens_them_without_a_warning(db, tmp_path):
    _store(tmp_path)
    with database.session_scope() as session:
        layer = exports.parcel_frame(session)
    parcels = exports.write_parcels(layer, "gpkg", 4549, tmp_path / "parcels.gpkg")
    # A report as the upload page keeps it: one problem feature, one problem point.
    report = SimpleNamespace(
        filename="dup.gpkg",
        problems=[Problem(1, "X", "duplicate-code", "error", "code X twice", [119.38, 26.07])],
        frame=gpd.GeoDataFrame(geometry=GUSHAN_PARCELS, index=[1], crs=4490),
    )
    problems = reports.write_problems_gpkg(report, tmp_path / "problems.gpkg")
    for path in (parcels, problems):
        assert _gpkg_version(path) == (b"GPKG", 10200), path
        done = _ogrinfo(path)
        assert done.returncode == 0 and done.stderr == "", (path, done.stderr)
    assert len(pyogrio.read_dataframe(parcels)) == 5


# --- the clients against the running service ----------------------------------------------


@pytest.fixture
def server(live_server, tmp_path):
    _store(tmp_path)
    return live_server


def _client(*args: str) -> str:
    """A GIS client's command with a bearer token (GDAL 3.6 sends GDAL_HTTP_HEADERS):
    it must succeed and say nothing on stderr, neither warning nor error."""
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token_for('planner')}"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def test_gdal_reads_every_collection_and_filters_on_queryables_without_warnings(server):
    ogr2ogr, ogrinfo = _gdal_tool("ogr2ogr"), _gdal_tool("ogrinfo")
    for collection in ("parcels", "township-progress"):
        out = _client(ogr2ogr, "-f", "GeoJSON", "-lco", "RFC7946=YES", "/vsistdout/",
                      f"OAPIF:{server}/ogc", collection, "-oo", "PAGE_SIZE=2")  # fmt: skip
        assert rfc7946_problems(json.loads(out), max_decimals=7) == [], collection
    info = _client(ogrinfo, "-ro", "-al", "-q", "-where", "kind = 'demolition'",
                   f"OAPIF:{server}/ogc", "parcels")  # fmt: skip
    assert info.count("OGRFeature(parcels)") == 1 and "GS-0" in info
    tilejson = f"{server}/tiles/tilejson.json?kind=land"
    mvt = _client(ogr2ogr, "-f", "GeoJSON", "/vsistdout/", "-oo", f"METADATA_FILE={tilejson}",
                  "-spat", "119.29", "26.14", "119.32", "26.16", "-spat_srs", "EPSG:4326",
                  f"MVT:{server}/tiles/14", "parcels")  # fmt: skip
    assert {f["properties"]["code"] for f in json.loads(mvt)["features"]} == {
        f"XD-{i}" for i in range(4)
    }


def test_owslib_reads_the_landing_page_api_queryables_and_items(server):
    ogc = Features(f"{server}/ogc", headers=auth("planner"))
    conformance = ogc.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables" in conformance
    assert {c["id"] for c in ogc.collections()["collections"]} == {
        "parcels",
        "township-progress",
    }
    api = ogc.api()
    assert "/ogc/collections/{collectionId}/queryables" in api["paths"]
    queryables = ogc.collection_queryables("parcels")
    assert set(queryables["properties"]) == {
        "code", "kind", "status", "township", "district", "project",
    }  # fmt: skip
    assert queryables["properties"]["kind"]["enum"] == ["land", "demolition"]
    land = ogc.collection_items("parcels", kind="land", limit=100)
    assert land["numberMatched"] == 4
    assert rfc7946_problems(land) == []
    progress = ogc.collection_queryables("township-progress")
    assert set(progress["properties"]) == {"district", "township", "kind"}


def _no_31_forms(node) -> bool:
    """No JSON Schema 2020-12 form OpenAPI 3.0 lacks: a null type, const, numeric
    exclusive bounds."""
    if isinstance(node, list):
        return all(_no_31_forms(v) for v in node)
    if not isinstance(node, dict):
        return True
    if node.get("type") == "null" or "const" in node:
        return False
    if any(type(node.get(b)) in (int, float) for b in ("exclusiveMinimum", "exclusiveMaximum")):
        return False
    return all(_no_31_forms(v) for v in node.values())


def test_the_landing_page_names_the_openapi_version_served(db):
    with TestClient(shared_app()) as client:
        client.headers.update(auth("planner"))
        landing = client.get("/ogc").json()
        (desc,) = [link for link in landing["links"] if link["rel"] == "service-desc"]
        definition = client.get(desc["href"].replace("http://testserver", ""))
        served = definition.json()["openapi"]
        assert _no_31_forms(definition.json())
        conformance = client.get("/ogc/conformance").json()["conformsTo"]
        queryables = client.get("/ogc/collections/parcels/queryables")
        collection = client.get("/ogc/collections/parcels").json()
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"  # OWSLib needs it
    assert served.startswith("3.0.")
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30" in conformance
    assert queryables.headers["content-type"] == "application/schema+json"
    assert queryables.json()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    rels = {link["rel"]: link["type"] for link in collection["links"]}
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/queryables"] == "application/schema+json"
