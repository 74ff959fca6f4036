"""The HTTP API on a real PostGIS: uploads, parcels, tallies, health and docs."""

import importlib.util
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import shapely
from conftest import IN_2017, VERIFIER, auth, count_rows, redate, shared_app
from fastapi.testclient import TestClient
from parcelfiles import (
    CM120E,
    GUSHAN,
    XINDIAN,
    ZONE40,
    frame,
    independent_area_m2,
    rectangle,
    write,
)
from pyproj import Transformer
from sqlalchemy import text

from geo_service import database
from geo_service.settings import get_settings

M2_PER_MU = 10000 / 15
SHANGHAI = ZoneInfo("Asia/Shanghai")

XINDIAN_PARCELS = [
    rectangle(XINDIAN, 0, 0, 180, 95, angle_deg=17),
    rectangle(XINDIAN, 400, 0, 60, 420, angle_deg=-8),
    rectangle(XINDIAN, -900, 600, 300, 200, angle_deg=33),
]
GUSHAN_PARCEL = rectangle(GUSHAN, 0, 0, 120, 80)


@pytest.fixture
def client(db):
    # Server errors come back as 500 responses, so a test can say "4xx, not 500".
    with TestClient(shared_app(), raise_server_exceptions=False, headers=auth("leader_city")) as c:
        yield c


def _post(client, path, as_user: str | None = None, **fields):
    """Upload as the verifier of the file's kind, unless told who."""
    data = {"kind": "land", "township": "新店镇", **fields}
    payload = path.read_bytes() if hasattr(path, "read_bytes") else path
    name = path.name if hasattr(path, "name") else "upload.geojson"
    headers = auth(as_user or VERIFIER[data["kind"]])
    return client.post("/api/uploads", files={"file": (name, payload)}, data=data, headers=headers)


def _xindian_geojson(tmp_path, name="xindian.geojson"):
    codes = ["A", "B", "C"]
    return write(frame(XINDIAN_PARCELS, code=codes), tmp_path / name, 4326, "GeoJSON")


def _counts() -> tuple[int, int, int]:
    return count_rows("parcels"), count_rows("uploads"), count_rows("parcel_versions")


@pytest.fixture
def stored(client, tmp_path):
    """Three verified land parcels in 新店镇 and one planned demolition parcel in 鼓山镇."""
    land = _xindian_geojson(tmp_path)
    assert _post(client, land, status="verified").status_code == 201
    blocks = write(frame([GUSHAN_PARCEL], code=["G1"]), tmp_path / "gushan.gpkg", ZONE40, "GPKG")
    response = _post(client, blocks, kind="demolition", township="鼓山镇", status="planned")
    assert response.status_code == 201
    return client


# --- health and docs ---------------------------------------------------------------------


def test_healthz_is_ok_with_the_servers_postgis_version(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert re.match(r"^\d+\.\d+", body["postgis"])
    with database.get_engine().connect() as conn:
        installed = conn.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
        ).scalar()
    assert body["postgis"].split(".")[:2] == installed.split(".")[:2]


def test_docs_and_openapi_are_served(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/api/uploads", "/api/parcels", "/api/parcels/{parcel_id}", "/api/tallies"):
        assert path in paths


# --- uploads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crs", "name", "driver"),
    [(4326, "survey.geojson", "GeoJSON"), (ZONE40, "survey.gpkg", "GPKG")],
    ids=["geojson-4326", "geopackage-4528"],
)
def test_upload_stores_every_parcel_and_reports_the_geodesic_area(
    client, tmp_path, crs, name, driver
):
    path = write(frame(XINDIAN_PARCELS, code=["A", "B", "C"]), tmp_path / name, crs, driver)
    response = _post(client, path, status="verified", dry_run="false")
    assert response.status_code == 201, response.text
    report = response.json()
    expected = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)
    assert report["accepted"] is True
    assert report["filename"] == name
    assert report["parcels"] == 3
    assert report["area_m2"] == pytest.approx(expected, rel=1e-3)
    # Both as presented: m² to 0.01, mu to 0.0001.
    assert report["area_mu"] == pytest.approx(report["area_m2"] / (10000 / 15), abs=1e-4)
    assert report["created"] == 3
    assert report["problems"] == []
    assert _counts() == (3, 1, 3)


def test_upload_with_an_explicit_crs_overrides_the_file(client, tmp_path):
    """Projected GK numbers in a file that declares none are read with the given CRS."""
    gk = frame(XINDIAN_PARCELS, code=["A", "B", "C"]).to_crs(CM120E)
    path = tmp_path / "gk.geojson"
    gk.set_crs(4326, allow_override=True).to_file(path, driver="GeoJSON")
    response = _post(client, path, crs="EPSG:4549")
    assert response.status_code == 201, response.text
    expected = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)
    assert response.json()["area_m2"] == pytest.approx(expected, rel=1e-3)
    assert response.json()["source_crs"] == "EPSG:4549"


def test_dry_run_upload_reports_the_area_and_stores_nothing(client, tmp_path):
    response = _post(client, _xindian_geojson(tmp_path), status="verified", dry_run="true")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True
    assert report["parcels"] == 3
    expected = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)
    assert report["area_m2"] == pytest.approx(expected, rel=1e-3)
    assert report["upload_id"] is None
    assert _counts() == (0, 0, 0)


def _with_a_point(tmp_path):
    geoms = [XINDIAN_PARCELS[0], shapely.Point(*XINDIAN), XINDIAN_PARCELS[1]]
    return write(frame(geoms, code=["A", "P", "B"]), tmp_path / "mixed.geojson", 4326, "GeoJSON")


def _projected_numbers_claiming_lonlat(tmp_path):
    gk = frame(XINDIAN_PARCELS[:2], code=["A", "B"]).to_crs(CM120E)
    path = tmp_path / "gk_as_lonlat.geojson"
    gk.set_crs(4326, allow_override=True).to_file(path, driver="GeoJSON")
    return path


@pytest.mark.parametrize(
    ("make", "feature", "code", "rule"),
    [
        (_with_a_point, 2, "P", "not_polygon"),
        (_projected_numbers_claiming_lonlat, 1, "A", "coordinates_out_of_range"),
    ],
    ids=["point-feature", "projected-coordinates-in-lonlat-geojson"],
)
def test_refused_upload_names_feature_and_rule_and_writes_nothing(
    stored, tmp_path, make, feature, code, rule
):
    before = _counts()
    path = make(tmp_path)
    response = _post(stored, path, status="verified")
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert path.name in body["detail"]
    assert rule in body["detail"]
    problems = body["report"]["problems"]
    assert {"feature": feature, "code": code, "rule": rule} in [
        {"feature": p["feature"], "code": p["code"], "rule": p["rule"]} for p in problems
    ]
    assert body["report"]["accepted"] is False
    assert _counts() == before


def test_problem_feature_numbers_are_json_integers(client, tmp_path):
    response = _post(client, _with_a_point(tmp_path))
    assert response.status_code == 422
    assert [p["feature"] for p in response.json()["report"]["problems"]] == [2]


def _self_intersecting_square(center, side_m, spike_m):
    """A square whose last vertex pokes `spike_m` below its first edge: a bowtie so small
    that make_valid repairs it with far less than 1% change of area."""
    to_gk = Transformer.from_crs(4490, CM120E, always_xy=True)
    back = Transformer.from_crs(CM120E, 4490, always_xy=True)
    x0, y0 = to_gk.transform(*center)
    ring = [(0, 0), (side_m, 0), (side_m, side_m), (0, side_m), (spike_m, -spike_m)]
    return shapely.Polygon([back.transform(x0 + x, y0 + y) for x, y in ring])


def test_upload_with_a_repaired_geometry_is_accepted_with_a_warning(client, tmp_path):
    bowtie = _self_intersecting_square(XINDIAN, 100, 1)
    assert not bowtie.is_valid
    path = write(frame([bowtie], code=["W"]), tmp_path / "bowtie.geojson", 4326, "GeoJSON")
    response = _post(client, path, status="verified")
    assert response.status_code == 201, response.text
    report = response.json()
    repaired = shapely.make_valid(bowtie)
    assert report["area_m2"] == pytest.approx(independent_area_m2(repaired), rel=1e-3)
    assert [(p["feature"], p["rule"], p["severity"]) for p in report["problems"]] == [
        (1, "repaired_geometry", "warning")
    ]


def test_upload_to_an_unknown_township_is_refused_and_writes_nothing(stored, tmp_path):
    before = _counts()
    response = _post(stored, _xindian_geojson(tmp_path), township="不存在镇")
    assert 400 <= response.status_code < 500
    assert "不存在镇" in response.json()["detail"]
    assert _counts() == before


def test_random_bytes_named_gpkg_get_a_clear_4xx_not_a_500(stored, tmp_path):
    before = _counts()
    path = tmp_path / "x.gpkg"
    path.write_bytes(bytes(range(256)) * 40)
    response = _post(stored, path)
    assert 400 <= response.status_code < 500, response.text
    detail = response.json()["detail"]
    assert "x.gpkg" in detail
    assert "not a readable vector file" in detail
    assert _counts() == before


def test_upload_with_an_unknown_status_is_400(client, tmp_path):
    response = _post(client, _xindian_geojson(tmp_path), status="done")
    assert response.status_code == 400
    assert "status" in response.json()["detail"]
    assert _counts() == (0, 0, 0)


# --- parcels ------------------------------------------------------------------------------


def _codes(body) -> set[str]:
    return {f["properties"]["code"] for f in body["features"]}


def test_parcels_are_a_feature_collection_of_every_parcel(stored):
    response = stored.get("/api/parcels")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == 4
    assert _codes(body) == {"A", "B", "C", "G1"}
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ({"township": "新店镇"}, {"A", "B", "C"}),
        ({"township": "鼓山镇"}, {"G1"}),
        ({"kind": "demolition"}, {"G1"}),
        ({"kind": "land"}, {"A", "B", "C"}),
        ({"status": "verified"}, {"A", "B", "C"}),
        ({"status": "planned"}, {"G1"}),
        ({"township": "鼓山镇", "kind": "land"}, set()),
    ],
)
def test_parcel_filters(stored, query, codes):
    body = stored.get("/api/parcels", params=query).json()
    assert _codes(body) == codes
    assert body["numberMatched"] == len(codes)


def test_bbox_filter_keeps_parcels_inside_and_drops_those_outside(stored):
    lon, lat = GUSHAN
    around_gushan = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    assert _codes(stored.get("/api/parcels", params={"bbox": around_gushan}).json()) == {"G1"}
    far_away = "100.0,20.0,100.1,20.1"
    body = stored.get("/api/parcels", params={"bbox": far_away}).json()
    assert body["numberMatched"] == 0
    assert body["features"] == []


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "1,2,3,4,5", ""])
def test_bad_bbox_is_422(stored, bbox):
    response = stored.get("/api/parcels", params={"bbox": bbox})
    if bbox == "":  # an empty bbox is no filter
        assert response.status_code == 200
        return
    assert response.status_code == 422
    assert "bbox" in response.json()["detail"]


def test_paging_with_limit_and_offset(stored):
    seen = []
    for offset, returned in [(0, 3), (3, 1), (4, 0)]:
        body = stored.get("/api/parcels", params={"limit": 3, "offset": offset}).json()
        assert body["numberMatched"] == 4
        assert body["numberReturned"] == returned == len(body["features"])
        seen += [f["id"] for f in body["features"]]
    assert len(seen) == len(set(seen)) == 4
    first = stored.get("/api/parcels", params={"limit": 3}).json()
    (link,) = [link for link in first["links"] if link["rel"] == "next"]
    # Keyset paging: the next page starts after the last id of this one.
    assert link["href"].endswith(f"/api/parcels?limit=3&after={first['features'][-1]['id']}")


def test_keyset_pages_walk_every_parcel_once_and_count_only_cheaply(stored, monkeypatch):
    from geo_service.parcels import listing

    url, seen, pages = "/api/parcels?limit=1", [], []
    while url:
        page = stored.get(url).json()
        pages.append(page)
        seen += [f["id"] for f in page["features"]]
        url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
    assert seen == sorted(seen) and len(set(seen)) == 4 and len(pages) == 4
    assert pages[0]["numberMatched"] == 4 and "numberMatchedIsEstimate" not in pages[0]
    assert all("numberMatched" not in p for p in pages[1:])
    # Past the cap a count the tallies' totals cannot give (a box, a code) is the
    # planner's estimate, and says so; by district, township, kind and status it is exact.
    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    body = stored.get("/api/parcels", params={"limit": 1, "bbox": "-180,-90,180,90"}).json()
    assert body["numberMatchedIsEstimate"] is True and body["numberMatched"] >= 3
    body = stored.get("/api/parcels", params={"limit": 1}).json()
    assert body["numberMatched"] == 4 and "numberMatchedIsEstimate" not in body


def test_large_json_is_gzipped_small_json_is_not(stored):
    big = stored.get("/api/parcels", headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip"
    assert len(big.json()["features"]) == 4
    small = stored.get("/api/changes", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


def test_next_link_keeps_the_filters(stored):
    body = stored.get("/api/parcels", params={"township": "新店镇", "limit": 2}).json()
    (link,) = [link for link in body["links"] if link["rel"] == "next"]
    assert "township=" in link["href"]
    following = stored.get(link["href"]).json()
    assert following["numberReturned"] == 1
    assert _codes(body) | _codes(following) == {"A", "B", "C"}


@pytest.mark.parametrize(
    "query",
    ["limit=3", "township=%E6%96%B0%E5%BA%97%E9%95%87&limit=2&offset=4", "offset=7&limit=5&x=a+b",
     "after=9&limit=1&limit=2&empty=", "code=A%26B&offset=1#frag"],
)  # fmt: skip
def test_page_links_are_written_as_starlettes_url_methods_write_them(query):
    from starlette.requests import Request

    from geo_service.api.parcels import _page_links

    scope = {"type": "http", "scheme": "http", "server": ("testserver", 80), "path": "/api/parcels",
             "root_path": "", "query_string": query.encode(), "headers": []}  # fmt: skip
    request = Request(scope)
    limit, offset, last = 3, 4, 17
    starlette = {
        "self": str(request.url),
        "next": str(request.url.remove_query_params("offset").include_query_params(
            limit=limit, after=last)),
        "prev": str(request.url.include_query_params(limit=limit, offset=offset - limit)),
    }  # fmt: skip
    ours = {link["rel"]: link["href"] for link in _page_links(request, limit, offset, last)}
    assert ours == starlette
    assert [lk["rel"] for lk in _page_links(request, limit, 0, None)] == ["self"]


def test_bad_status_or_limit_is_a_client_error(stored):
    assert stored.get("/api/parcels", params={"status": "done"}).status_code == 400
    assert stored.get("/api/parcels", params={"limit": 0}).status_code == 422
    assert stored.get("/api/parcels", params={"offset": -1}).status_code == 422


def test_one_parcel_by_id(stored):
    listed = stored.get("/api/parcels", params={"township": "新店镇"}).json()["features"]
    by_code = {f["properties"]["code"]: f["id"] for f in listed}
    response = stored.get(f"/api/parcels/{by_code['B']}")
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["id"] == by_code["B"]
    props = feature["properties"]
    assert props["code"] == "B"
    assert props["township"] == "新店镇"
    assert props["district"] == "晋安区"
    assert props["status"] == "verified"
    assert props["area_m2"] == pytest.approx(independent_area_m2(XINDIAN_PARCELS[1]), rel=1e-3)
    assert props["area_mu"] == pytest.approx(props["area_m2"] / M2_PER_MU)
    # GeoJSON carries 7 decimals (about a centimetre): the same shape within that rounding.
    got = shapely.geometry.shape(feature["geometry"])
    assert got.symmetric_difference(XINDIAN_PARCELS[1]).area < 1e-3 * XINDIAN_PARCELS[1].area
    assert shapely.hausdorff_distance(got, XINDIAN_PARCELS[1]) < 1e-6


def test_unknown_parcel_is_404(stored):
    response = stored.get("/api/parcels/999999")
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]


# --- tallies ------------------------------------------------------------------------------


def _row(rows, **match):
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


def test_township_tally_is_the_independent_verified_area(stored):
    redate(IN_2017)  # tallied for the 2017 campaign
    response = stored.get("/api/tallies", params={"by": "township", "kind": "land"})
    assert response.status_code == 200
    rows = response.json()
    row = _row(rows, township="新店镇")
    expected = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)
    assert row["district"] == "晋安区"
    assert row["kind"] == "land"
    assert row["verified_parcels"] == 3
    assert row["verified_m2"] == pytest.approx(expected, rel=1e-3)
    assert row["verified_mu"] == pytest.approx(expected / M2_PER_MU, rel=1e-3)
    # The planned demolition parcel in 鼓山镇 is neither land nor verified.
    assert not [r for r in rows if r["township"] == "鼓山镇" and r["verified_m2"] > 0]
    assert {r["kind"] for r in rows} == {"land"}


def test_district_tally_against_the_9000_mu_target(stored):
    redate(IN_2017)
    rows = stored.get("/api/tallies", params={"by": "district", "kind": "land"}).json()
    row = _row(rows, district="晋安区", kind="land")
    expected = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)
    assert row["target_mu"] == pytest.approx(9000)
    assert row["verified_m2"] == pytest.approx(expected, rel=1e-3)
    assert row["progress"] == pytest.approx(expected / 6_000_000, rel=1e-3)


def test_tally_as_of_yesterday_in_china_has_no_verified_area(stored):
    today = datetime.now(SHANGHAI).date()
    yesterday = today - timedelta(days=1)
    params = {"by": "district", "kind": "land"}
    past = stored.get("/api/tallies", params={**params, "as_of": yesterday.isoformat()}).json()
    assert [r for r in past if r["verified_m2"] or r["verified_parcels"]] == []
    # An as-of day sets the campaign year: today's year has no target in the seed.
    now = stored.get("/api/tallies", params={**params, "as_of": today.isoformat()}).json()
    row = _row(now, district="晋安区")
    expected = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)
    assert row["verified_m2"] == pytest.approx(expected, rel=1e-3)
    assert row["target_mu"] is None and row["progress"] is None


def test_an_as_of_day_outside_the_year_asked_is_refused(stored):
    response = stored.get("/api/tallies", params={"year": 2017, "as_of": "2018-03-31"})
    assert response.status_code == 400
    assert "not in 2017" in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [{"by": "county"}, {"by": "township", "kind": "forest"}, {"as_of": "yesterday"}],
)
def test_bad_tally_parameters_are_422(client, params):
    response = client.get("/api/tallies", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_an_upload_over_the_size_limit_is_413_and_stores_nothing(client, tmp_path):
    from geo_service.settings import get_settings

    settings = get_settings()
    limit = settings.max_upload_bytes
    settings.max_upload_bytes = 1000
    try:
        path = _xindian_geojson(tmp_path)
        assert path.stat().st_size > 1000
        response = _post(client, path)
    finally:
        settings.max_upload_bytes = limit
    assert response.status_code == 413
    assert (
        "xindian.geojson" in response.json()["detail"]
        and "1,000 bytes" in response.json()["detail"]
    )
    assert _counts() == (0, 0, 0)


@pytest.mark.parametrize("name", ["../../etc/evil.geojson", "..", "C:\\data\\survey.geojson"])
def test_a_client_file_name_cannot_leave_the_temporary_folder(client, tmp_path, name):
    payload = _xindian_geojson(tmp_path).read_bytes()
    response = client.post(
        "/api/uploads",
        files={"file": (name, payload)},
        data={"kind": "land", "township": "新店镇", "dry_run": "true"},
        headers=auth("land_all"),
    )
    # The folder part is dropped (".." leaves nothing, so the copy is called "upload");
    # the format is then told by the content.
    assert response.status_code == 200, response.text
    expected = "upload" if name == ".." else name.replace("\\", "/").rsplit("/", 1)[-1]
    assert response.json()["filename"] == expected


def test_refused_upload_report_downloads_as_csv_and_geopackage(client, tmp_path):
    path = _with_a_point(tmp_path)
    response = _post(client, path, report_format="csv")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.strip().splitlines()
    assert lines[0] == "file,feature,code,rule,severity,message,lon,lat"
    assert ",2," in lines[1] and "not_polygon" in lines[1]
    gpkg = _post(client, path, report_format="gpkg")
    assert gpkg.status_code == 422
    out = tmp_path / "problems.gpkg"
    out.write_bytes(gpkg.content)
    import geopandas as gpd

    problems = gpd.read_file(out, layer="problem_features")
    assert list(problems["rule"]) == ["not_polygon"]
    assert _counts() == (0, 0, 0)


def test_accept_valid_through_the_api_stores_the_good_features(client, tmp_path):
    path = _with_a_point(tmp_path)
    form = {"kind": "land", "township": "新店镇", "accept_valid": "true", "store_reason": " "}
    for language, words in (("zh-CN", "只入库文件中合格的地块须说明理由"),
                            ("en", "storing only the valid features")):  # fmt: skip
        bare = client.post(
            "/api/uploads", files={"file": (path.name, path.read_bytes())}, data=form,
            headers={**auth(VERIFIER["land"]), "Accept-Language": language},
        )  # fmt: skip
        assert bare.status_code == 422, bare.text
        assert "only the valid features of a file takes a reason" in bare.json()["detail"]
        assert words in bare.json()["said"], bare.json()
    assert _counts()[0] == 0
    response = _post(client, path, accept_valid="true", store_reason="点状要素待测绘队改正")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["parcels"], body["rejected"]) == (body["features"] - 1, 1)
    assert _counts()[0] == body["parcels"]
    assert body["store_reason"] == "点状要素待测绘队改正"
    with database.get_engine().connect() as conn:
        said = conn.execute(
            # The audit is append-only: earlier tests' uploads are there too; ours is the last.
            text("SELECT details->>'store_reason' FROM audit_log WHERE action = 'upload' "
                 "AND (details->>'upload_id')::int = :id ORDER BY id DESC LIMIT 1"),
            {"id": body["upload_id"]},
        ).scalar_one()  # fmt: skip
    assert said == "点状要素待测绘队改正"


def test_a_declared_size_over_the_limit_is_refused_before_reading(client):
    from geo_service.settings import get_settings

    limit = get_settings().max_upload_bytes
    response = client.post(
        "/api/uploads",
        content=b"x" * 16,
        headers={"Content-Length": str(limit * 2), "Content-Type": "multipart/form-data"},
    )
    assert response.status_code == 413 and "upload limit" in response.json()["detail"]


def test_a_very_long_file_name_is_shortened_not_a_500(client, tmp_path):
    payload = _xindian_geojson(tmp_path).read_bytes()
    name = "测" * 200 + ".geojson"
    response = client.post(
        "/api/uploads",
        files={"file": (name, payload)},
        data={"kind": "land", "township": "新店镇", "dry_run": "true"},
        headers=auth("land_all"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["filename"].endswith(".geojson")


def test_a_huge_offset_is_a_client_error(client):
    assert client.get("/api/parcels", params={"offset": 10**19}).status_code == 422


def test_a_geopackage_report_for_a_file_refused_while_reading(client, tmp_path):
    path = write(frame(XINDIAN_PARCELS[:1], code=["M"]), tmp_path / "merc.gpkg", 3857, "GPKG")
    response = _post(client, path, report_format="gpkg")
    assert response.status_code == 422
    out = tmp_path / "report.gpkg"
    out.write_bytes(response.content)
    import geopandas as gpd

    assert "crs_not_accepted" in set(gpd.read_file(out, layer="problem_features")["rule"])


def _figures_rounded(record: dict) -> None:
    for key, value in record.items():
        if isinstance(value, float) and "m2" in key.split("_"):
            assert value == round(value, 2), (key, value)
        if isinstance(value, float) and "mu" in key.split("_"):
            assert value == round(value, 4), (key, value)


def test_figures_in_json_are_rounded_to_the_hundredth_m2_and_ten_thousandth_mu(client, tmp_path):
    upload = _post(client, _xindian_geojson(tmp_path), status="verified").json()
    _figures_rounded(upload)
    expected = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)
    assert upload["area_m2"] == pytest.approx(expected, rel=1e-3)
    redate(IN_2017)
    for by in ("district", "township"):
        rows = client.get("/api/tallies", params={"by": by, "kind": "land"}).json()
        for row in rows:
            _figures_rounded(row)
    data = client.get("/maps/progress/data.json", params={"district": "晋安区"}).json()
    _figures_rounded(data["summary"])
    for feature in data["townships"]["features"]:
        _figures_rounded(feature["properties"])
    assert data["summary"]["verified_m2"] == pytest.approx(expected, rel=1e-3)


# --- the parcel list as PostgreSQL writes it -----------------------------------------------


def test_listed_parcels_carry_every_column_as_python_would_write_it(stored):
    """The features are JSON written by PostgreSQL: each property equals the stored value
    as the ORM reads it, timestamps in datetime.isoformat() form (microseconds only when
    there are any), areas as the same floats."""
    from geo_service.models import Parcel

    with database.session_scope() as s:
        # A timestamp on a whole second: isoformat() leaves out the fraction then.
        s.execute(text("UPDATE parcels SET verified_at = date_trunc('second', verified_at)"
                       " WHERE code = 'A'"))  # fmt: skip
    body = stored.get("/api/parcels").json()
    with database.session_scope() as s:
        parcels = {p.id: p for p in s.query(Parcel)}
        assert len(body["features"]) == len(parcels) == 4
        for feature in body["features"]:
            parcel, props = parcels[feature["id"]], feature["properties"]
            for key in ("created_at", "updated_at", "verified_at", "withdrawn_at"):
                value = getattr(parcel, key)
                assert props[key] == (value.isoformat() if value else None), key
            for key in ("code", "kind", "status", "area_m2", "declared_m2", "version", "flags",
                        "verified_by", "verified_area_m2", "source_file"):  # fmt: skip
                assert props[key] == getattr(parcel, key), key
            assert props["area_mu"] == pytest.approx(parcel.area_m2 / (10000 / 15), rel=1e-15)
            one = stored.get(f"/api/parcels/{parcel.id}").json()
            assert one == feature
    (whole,) = [f["properties"] for f in body["features"] if f["properties"]["code"] == "A"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", whole["verified_at"])


def test_a_first_pages_count_from_the_tallies_totals_is_the_exact_count(stored):
    """By district, township, kind and status the count is read from the tallies' totals
    (which leave out parcels that overlap another: those are counted apart) and the
    features' text from parcel_features (kept by triggers): both follow SQL written
    straight to parcels, as the list of every parcel does."""
    with database.session_scope() as s:
        # Flags and a withdrawal written behind the service's back: what the triggers keep.
        s.execute(text("UPDATE parcels SET overlapping = true WHERE code IN ('A', 'G1')"))
        s.execute(text("UPDATE parcels SET status = 'withdrawn', name = '撤回' WHERE code = 'B'"))
    queries = [{}, {"kind": "land"}, {"township": "新店镇"}, {"status": "verified"},
               {"status": "withdrawn"}, {"township": "鼓山镇", "kind": "demolition"},
               {"township": "nowhere"}]  # fmt: skip
    for query in queries:
        every = stored.get("/api/parcels", params=query).json()["features"]
        first = stored.get("/api/parcels", params={**query, "limit": 1}).json()
        assert first["numberMatched"] == len(every), query
    withdrawn = stored.get("/api/parcels", params={"status": "withdrawn"}).json()["features"]
    assert [f["properties"]["name"] for f in withdrawn] == ["撤回"]
    officer = stored.get("/api/parcels", params={"limit": 1}, headers=auth("leader_jinan"))
    assert officer.status_code == 200 and officer.json()["numberMatched"] == len(
        stored.get("/api/parcels", headers=auth("leader_jinan")).json()["features"]
    )


def test_a_parcels_feature_text_goes_with_it(stored):
    """A parcel deleted (only one without history can be) takes its stored text along."""
    sql = [
        "CREATE TEMP TABLE copied ON COMMIT DROP AS SELECT * FROM parcels WHERE code = 'A'",
        "UPDATE copied SET id = (SELECT max(id) + 1000 FROM parcels), code = 'Z9'",
        "INSERT INTO parcels OVERRIDING SYSTEM VALUE SELECT * FROM copied",
    ]
    kept = "SELECT count(*) FROM parcel_features f JOIN parcels p ON p.id = f.parcel_id "
    with database.session_scope() as s:
        for statement in sql:
            s.execute(text(statement))
        made = s.scalar(text("SELECT id FROM parcels WHERE code = 'Z9'"))
        assert (
            s.scalar(text("SELECT count(*) FROM parcel_features WHERE parcel_id = :i"), {"i": made})
            == 1
        )
        s.execute(text("DELETE FROM parcels WHERE code = 'Z9'"))
        assert (
            s.scalar(text("SELECT count(*) FROM parcel_features WHERE parcel_id = :i"), {"i": made})
            == 0
        )
        assert s.scalar(text(kept)) == s.scalar(text("SELECT count(*) FROM parcels"))


def _feature_text_migration():
    path = Path(database.__file__).parent / "migrations/versions/0032w_cheaper_feature_text.py"
    spec = importlib.util.spec_from_file_location("_migration_0032w", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_feature_text_is_what_to_json_writes_whatever_the_values(stored):
    """The stored text quotes plain texts itself (0032w): for quotes, backslashes, control
    characters, other scripts, missing values, floats that are not finite and flags with
    quotes it is byte for byte what 0028a's to_json members write, on UPDATE and INSERT,
    also over a stale text the insert finds in its way."""
    migration = _feature_text_migration()
    odd = """
        UPDATE parcels SET
          name = (ARRAY['a"b', E'back\\\\slash', E'new\\nline', E'\\x01ctl', '林志伟 €',
                        NULL, E'tab\\there', 'plain'])[id % 8 + 1],
          declared_m2 = (ARRAY['Infinity', 'NaN', 1e-7, 1.5e21, NULL]::float8[])[id % 5 + 1],
          verified_area_m2 = (ARRAY['-Infinity', -0.0, 123.456]::float8[])[id % 3 + 1],
          verification_note = (ARRAY[E'\\u007f del', E'x\\u2028y', NULL])[id % 3 + 1],
          flags = CASE WHEN id % 2 = 0 THEN '[{"a": "q\\"x"}]'::jsonb ELSE flags END"""
    # One parcel each way for certain, whatever the fixture's ids.
    ends = """
        UPDATE parcels SET name = CASE WHEN id = (SELECT min(id) FROM parcels) THEN 'plain'
                                       ELSE 'a"b' END, verification_note = NULL
        WHERE id IN ((SELECT min(id) FROM parcels), (SELECT max(id) FROM parcels))"""
    copy = [
        "CREATE TEMP TABLE copied ON COMMIT DROP AS SELECT * FROM parcels",
        "UPDATE copied SET id = id + (SELECT max(id) FROM parcels), code = code || '-copy'",
        # A text left behind by a parcel removed without its triggers, under an id that
        # comes back: written over.
        "INSERT INTO parcel_features SELECT district_id, id, ARRAY['stale'] FROM copied LIMIT 1",
        "INSERT INTO parcels OVERRIDING SYSTEM VALUE SELECT * FROM copied",
    ]
    compared = f"""
        SELECT count(*), count(*) FILTER (WHERE f.parts = {migration.OLD_PARTS}),
               count(*) FILTER (WHERE {migration._PLAIN})
        FROM parcels n JOIN parcel_features f ON f.district_id = n.district_id
                                             AND f.parcel_id = n.id"""
    with database.session_scope() as s:
        plain, same, _ = s.execute(text(compared)).one()
        assert plain == same > 0
        s.execute(text(odd))
        s.execute(text(ends))
        for statement in copy:
            s.execute(text(statement))
        counted, same, quoted_directly = s.execute(text(compared)).one()
    assert counted == 2 * plain and same == counted
    assert 0 < quoted_directly < counted  # both ways were taken


def test_the_first_pages_count_follows_a_change_at_once(stored, tmp_path):
    """numberMatched is remembered by the change token: a new parcel is counted on the next
    request, not after the remembered count expires."""
    first = stored.get("/api/parcels", params={"limit": 1}).json()
    assert first["numberMatched"] == 4
    assert stored.get("/api/parcels", params={"limit": 1}).json()["numberMatched"] == 4
    more = write(frame([rectangle(GUSHAN, 300, 300, 80, 60)], code=["G2"]),
                 tmp_path / "g2.gpkg", ZONE40, "GPKG")  # fmt: skip
    added = _post(stored, more, kind="demolition", township="鼓山镇", status="planned")
    assert added.status_code == 201, added.text
    assert stored.get("/api/parcels", params={"limit": 1}).json()["numberMatched"] == 5


def test_a_remembered_page_is_never_shown_to_a_user_of_other_districts(stored):
    """Pages are remembered by URL and the caller's districts: a leader of another district
    asking for the very same URL gets their own (empty) page, the city's leader theirs."""
    from typer.testing import CliRunner

    from geo_service.cli import app as cli

    args = ["users", "add", "leader_cs", "--role", "leader", "--district", "仓山区",
            "--password", "temporary-123"]  # fmt: skip
    assert CliRunner().invoke(cli, args).exit_code == 0
    url = "/api/parcels?limit=2"
    city = stored.get(url).json()
    assert city["numberMatched"] == 4 and len(city["features"]) == 2
    assert stored.get(url).json() == city  # remembered, the same
    other = stored.get(url, headers=auth("leader_cs")).json()
    assert other["numberMatched"] == 0 and other["features"] == []
    jinan = stored.get(url, headers=auth("leader_jinan")).json()
    assert jinan["numberMatched"] == 4
    assert stored.get(url).json() == city


def test_a_remembered_page_follows_a_status_change_at_once(stored):
    url = "/api/parcels?limit=10&code=G1"
    (before,) = stored.get(url).json()["features"]
    assert before["properties"]["status"] == "planned"
    assert stored.get(url).json()["features"][0]["properties"]["status"] == "planned"
    moved = stored.post(
        f"/api/parcels/{before['id']}/status", json={"status": "in_progress"},
        headers=auth("officer_all"),
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert stored.get(url).json()["features"][0]["properties"]["status"] == "in_progress"


def test_a_page_read_afresh_is_the_same_bytes_as_one_remembered(stored, monkeypatch):
    """PARCEL_PAGE_MEMORY_SECONDS=0 (what scripts/bench_web.py measures) reads every page
    and count afresh, and sends exactly what the remembered page would have been."""
    from geo_service.api import parcels
    from geo_service.parcels import listing

    first_url = "/api/parcels?limit=2"
    remembered = stored.get(first_url).content
    after = stored.get(first_url).json()["links"][1]["href"].split("testserver", 1)[1]
    remembered_next = stored.get(after).content
    assert parcels._pages and listing._counts
    monkeypatch.setenv("PARCEL_PAGE_MEMORY_SECONDS", "0")
    get_settings.cache_clear()
    try:
        parcels.forget_counts()
        assert stored.get(first_url).content == remembered
        assert stored.get(after).content == remembered_next
        assert not parcels._pages and not listing._counts
    finally:
        monkeypatch.delenv("PARCEL_PAGE_MEMORY_SECONDS")
        get_settings.cache_clear()


# Queries of the list, plain and not: filters, pages, cursors, what FastAPI refuses or
# ignores, and values the plain route must hand on (a leading zero, a repeated name).
_LIST_QUERIES = (
    "", "?limit=2", "?limit=2&after=1", "?limit=1&offset=2", "?limit=100", "?limit=101",
    "?kind=land", "?kind=demolition&limit=1", "?status=planned", "?status=withdrawn",
    "?township=新店镇&limit=2", "?code=G1", "?bbox=119.0,25.0,120.0,27.0&limit=2",
    "?limit=0", "?limit=abc", "?limit=02", "?limit=2&limit=3", "?offset=-1", "?after=x",
    "?status=nonsense", "?kind=other", "?bbox=1,2,3", "?unknown=1&limit=2",
    "?after=99999999999999999999",
)  # fmt: skip


def _answer(client, url: str, headers: dict) -> tuple:
    response = client.get(url, headers=headers)
    kept = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, kept, response.content


@pytest.mark.parametrize("caller", ["leader_city", "land_xd", None, "wrong"])
def test_the_plain_list_route_answers_as_the_documented_one(stored, monkeypatch, caller):
    """Every query, for each kind of caller (every district, one township's verifier, no
    sign-in, an unknown token), has the same status, headers and bytes from the plain
    route as from the FastAPI route alone, read afresh both times."""
    from geo_service.api import parcels

    monkeypatch.setenv("PARCEL_PAGE_MEMORY_SECONDS", "0")
    get_settings.cache_clear()
    signed = {"leader_city": auth("leader_city"), "land_xd": auth("land_xd"), None: {}}
    headers = {"Authorization": ""} if caller is None else signed.get(caller)
    headers = headers or {"Authorization": "Bearer not-a-token"}
    try:
        plain = {q: _answer(stored, "/api/parcels" + q, headers) for q in _LIST_QUERIES}
        monkeypatch.setattr(parcels, "plain_query", lambda request: None)
        for query in _LIST_QUERIES:
            assert _answer(stored, "/api/parcels" + query, headers) == plain[query], query
    finally:
        monkeypatch.delenv("PARCEL_PAGE_MEMORY_SECONDS")
        get_settings.cache_clear()
    statuses = {q: answer[0] for q, answer in plain.items()}
    assert all(status < 500 for status in statuses.values()), statuses
    if caller in (None, "wrong"):
        assert statuses["?limit=2"] == 401
    else:
        assert statuses["?limit=2"] == 200 and statuses["?limit=abc"] == 422


@pytest.mark.parametrize("query", ["?limit=2", "?limit=1&offset=2", "?limit=9", "?code=none"])
def test_a_page_is_the_bytes_orjson_writes_of_its_parts(stored, query):
    """The page joined from the features' bytes is, byte for byte, what orjson.dumps
    writes of the collection with each feature's stored text as a Fragment."""
    import orjson

    from geo_service.parcels import listing

    sent = stored.get("/api/parcels" + query).content
    read = orjson.loads(sent)
    ids = {f["id"] for f in read["features"]}
    features = [f for i, f in listing.page(listing.Filters(), 100).rows if i in ids]
    written = {k: v for k, v in read.items() if k not in ("features", "links")}
    written["features"] = [orjson.Fragment(f) for f in features]
    written["links"] = read["links"]
    assert sent == orjson.dumps(written)
    assert len(features) == read["numberReturned"] == len(read["features"])


def test_the_count_read_with_a_page_is_the_count_read_apart(stored):
    """A first page reads the kept totals' count in its own statement; it is the count
    read apart, for each filter the totals keep, and not read for those they do not."""
    from geo_service.parcels import listing

    kept = (listing.Filters(), listing.Filters(kind="land"), listing.Filters(districts=(1,)),
            listing.Filters(township="新店镇", status="verified"),
            listing.Filters(status="planned"))  # fmt: skip
    for filters in kept:
        found = listing.page(filters, 1, count=True)
        apart = listing._count_kept(filters)[1]["numberMatched"]
        assert found.counted == apart if found.rows else found.counted is None, filters
    assert listing.page(listing.Filters(), 1, count=True).counted == 4
    assert listing.page(listing.Filters(code="G1"), 1, count=True).counted is None
    assert listing.page(listing.Filters(), 1).counted is None


def test_a_nul_in_a_filter_of_the_parcel_list_is_a_400_not_a_500(stored):
    """The list is read on a raw psycopg connection: its errors still reach the API's
    handlers as SQLAlchemy's would (psycopg refuses a NUL in text before sending it)."""
    for query in ({"code": "A\x00B"}, {"township": "\x00"}):
        response = stored.get("/api/parcels", params=query)
        assert response.status_code == 400, response.text
    assert stored.get("/api/parcels/1", headers=auth("leader_city")).status_code in (200, 404)


def test_the_list_and_its_kept_count_read_each_filter_from_one_table():
    """parcels/listing.py: the list's WHERE and the kept totals' count take each filter's
    column from one table, with the same parameters; a filter the totals do not keep
    (code, bbox) is never counted from them."""
    from geo_service.parcels.listing import Filters

    asked = Filters(township="新店镇", kind="land", status="verified", districts=(1, 2))
    listed, listed_params = asked.conditions(kept=False)
    kept, kept_params = asked.conditions(kept=True)
    assert listed_params == kept_params == {
        "districts": [1, 2], "township": "新店镇", "kind": "land", "status": "verified"
    }  # fmt: skip
    assert "p.kind = :kind" in listed and "tt.kind = :kind" in kept
    assert "t.parent_id = ANY(:districts)" in kept and len(listed) == len(kept) == 4
    assert "p.status <> 'withdrawn'" in Filters().where()[0]
    assert Filters().conditions(kept=True) == ([], {})
    for other in (Filters(code="A"), Filters(bbox=(119.2, 26.0, 119.4, 26.2))):
        with pytest.raises(ValueError, match="not by"):
            other.conditions(kept=True)
