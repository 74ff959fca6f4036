"""The upload page: dry run, report, store (all or only the valid features), past uploads,
downloads, and who may do what — through the same use case as the API."""

import csv
import html
import io
import json
import re

import pyogrio
import pytest
from conftest import auth, count_rows, shared_app, signed_in_page
from corpus import gk_origin, parcel, write_boundary_file
from fastapi.testclient import TestClient
from parcelfiles import GUSHAN, XINDIAN, frame, rectangle, write
from shapely.geometry import LineString

ORIGIN = {"Origin": "http://testserver"}
PAGE = {"Accept": "text/html,application/xhtml+xml"}


def good_file(tmp_path):
    shapes = [rectangle(XINDIAN, 400 * i, 0, 100, 80) for i in range(3)]
    return write(frame(shapes, code=["G1", "G2", "G3"]), tmp_path / "好.geojson", 4326, "GeoJSON")


def problem_file(tmp_path):
    """Two good parcels, one outside the city, one a line, one code used twice; a code that
    a spreadsheet would run as a formula."""
    shapes = [
        rectangle(XINDIAN, 0, 0, 100, 80),
        rectangle(XINDIAN, 400, 0, 100, 80),
        rectangle((116.0, 30.0), 0, 0, 100, 80),
        LineString(rectangle(XINDIAN, 800, 0, 100, 80).exterior.coords),
        rectangle(XINDIAN, 1200, 0, 100, 80),
    ]
    codes = ["P1", "P2", "FAR", "=HYPERLINK(1)", "P2"]
    return write(frame(shapes, code=codes), tmp_path / "bad.geojson", 4326, "GeoJSON")


def _check(client, path, headers=ORIGIN, **form):
    data = {"kind": "land", "township": "新店镇", **form}
    files = {"file": (path.name, path.read_bytes())}
    return client.post(
        "/uploads/check", data=data, files=files, headers=headers, follow_redirects=False
    )


def _report(client, path, **form):
    checked = _check(client, path, **form)
    assert checked.status_code == 303, checked.text
    location = checked.headers["location"]
    assert location.startswith("/uploads/pending/")
    return location.rsplit("/", 1)[1], client.get(location)


def test_the_form_offers_the_users_own_scope(db):
    page = signed_in_page("land_xd").get("/uploads").text
    townships = re.search(r'name="township".*?</select>', page, re.S).group(0)
    assert re.findall(r"<option[^>]*>([^<]+)</option>", townships) == ["新店镇"]
    kinds = re.search(r'name="kind".*?</select>', page, re.S).group(0)
    assert 'value="land"' in kinds and 'value="demolition"' not in kinds
    # an officer may not upload verified parcels: the form does not offer it
    officer = signed_in_page("officer_xd").get("/uploads").text
    assert 'value="verified"' not in re.search(r'name="status".*?</select>', officer, re.S)[0]
    # a leader is told uploads are not theirs and gets no form
    leader = signed_in_page("leader_jinan").get("/uploads").text
    assert 'action="/uploads/check"' not in leader and "不上传" in leader


def test_a_good_file_is_checked_then_stored_and_listed(db, tmp_path):
    client = signed_in_page("land_xd")
    token, report = _report(client, good_file(tmp_path), status="delivered")
    assert report.status_code == 200
    assert re.search(r'class="count-features">3<', report.text)
    assert "EPSG:4326" in report.text and "没有发现问题" in report.text
    assert count_rows("parcels") == 0  # a dry run stores nothing
    stored = client.post(
        "/uploads/store", data={"token": token, "mode": "all"}, headers=ORIGIN,
        follow_redirects=False,
    )  # fmt: skip
    assert stored.status_code == 303, stored.text
    page = client.get(stored.headers["location"])
    assert 'id="stored"' in page.text and "新增 3" in page.text
    assert count_rows("parcels") == 3
    with TestClient(shared_app()) as api:
        parcels = api.get("/api/parcels", headers=auth("planner")).json()["features"]
    assert {p["properties"]["status"] for p in parcels} == {"delivered"}
    listed = client.get("/uploads").text.split("已入库的上传")[2]
    assert "好.geojson" in listed and "land_xd" in listed and 'href="/uploads/1"' in listed
    # the token was used up: storing again is refused in words, nothing stored twice
    again = client.post("/uploads/store", data={"token": token}, headers={**ORIGIN, **PAGE})
    assert again.status_code == 404 and 'class="error"' in again.text
    assert count_rows("uploads") == 1


def test_every_problem_is_listed_with_its_rule_in_chinese_and_located(db, tmp_path):
    client = signed_in_page("land_xd")
    token, report = _report(client, problem_file(tmp_path))
    rows = re.findall(r'<tr data-n="(\d+)" data-feature="(\d*)" data-code="([^"]*)"', report.text)
    features = {int(f) for _, f, _ in rows if f}
    assert {3, 4, 5} <= features and 1 not in features and 2 not in features
    assert "不在福州市范围内" in report.text and "不是面" in report.text
    assert "地块编号重复" in report.text
    drawn = re.search(r"data-map='([^']*)'", report.text).group(1)
    assert '"problem": true' in drawn.replace("&#34;", '"').replace('":true', '": true')
    # all or nothing: refused, in the page, nothing stored
    refused = client.post(
        "/uploads/store", data={"token": token, "mode": "all"}, headers={**ORIGIN, **PAGE}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    assert "文件未被接受" in refused.text and '{"detail"' not in refused.text
    assert count_rows("parcels") == 0
    # only the valid features, a button with a reason: without one, refused in words
    assert 'name="reason" required' in report.text
    bare = client.post("/uploads/store", data={"token": token, "mode": "valid"},
                       headers={**ORIGIN, **PAGE})  # fmt: skip
    assert bare.status_code == 422 and 'class="error"' in bare.text
    assert "只入库文件中合格的地块须说明理由" in bare.text
    assert count_rows("parcels") == 0
    # with one: 1 and 2 stored (the second P2 is refused, the first kept), the reason kept
    stored = client.post(
        "/uploads/store", data={"token": token, "mode": "valid", "reason": "其余待测绘队改正"},
        headers=ORIGIN, follow_redirects=False,
    )  # fmt: skip
    assert stored.status_code == 303, stored.text
    assert count_rows("parcels") == 2
    page = client.get(stored.headers["location"]).text
    assert "不在福州市范围内" in page  # the kept report still shows what was left out
    assert re.search(r'id="store-reason">其余待测绘队改正<', page)


def test_the_problems_download_as_csv_with_bom_and_as_geopackage(db, tmp_path):
    client = signed_in_page("land_xd")
    token, _ = _report(client, problem_file(tmp_path))
    response = client.get(f"/uploads/pending/{token}/problems.csv")
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    # in the reader's language (Chinese here), the rule code beside the rule's name
    assert {r["规则代码"] for r in rows} >= {"outside_fuzhou", "not_polygon", "duplicate_code"}
    assert "'=HYPERLINK(1)" in {r["编号"] for r in rows}  # not run as a formula
    assert all(not r["编号"].startswith("=") for r in rows)
    gpkg = client.get(f"/uploads/pending/{token}/problems.gpkg")
    path = tmp_path / "problems.gpkg"
    path.write_bytes(gpkg.content)
    layers = {name for name, _ in pyogrio.list_layers(path)}
    assert layers == {"problem_features", "problem_points"}
    shapes = pyogrio.read_dataframe(path, layer="problem_features")
    assert shapes.geometry.notna().sum() >= 2  # the far parcel and a duplicate are drawn
    # another user cannot read this user's pending report
    other = signed_in_page("land_all").get(f"/uploads/pending/{token}/problems.csv", headers=PAGE)
    assert other.status_code == 404 and "找不到" in other.text


@pytest.mark.parametrize("username", ["planner", "leader_jinan"])
def test_a_planner_or_leader_cannot_check_or_store(db, tmp_path, username):
    client = signed_in_page(username)
    refused = _check(client, good_file(tmp_path), headers={**ORIGIN, **PAGE})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html") and "没有权限" in refused.text
    # nor may they use a verifier's checked file
    token, _ = _report(signed_in_page("land_xd"), good_file(tmp_path))
    stored = client.post("/uploads/store", data={"token": token}, headers={**ORIGIN, **PAGE})
    assert stored.status_code == 404 and count_rows("parcels") == 0


def test_a_verifier_of_another_township_is_refused(db, tmp_path):
    shapes = [rectangle(GUSHAN, 0, 0, 100, 80)]
    path = write(frame(shapes, code=["GS1"]), tmp_path / "gs.geojson", 4326, "GeoJSON")
    refused = _check(signed_in_page("land_xd"), path, township="鼓山镇", headers={**ORIGIN, **PAGE})
    assert refused.status_code == 403 and "没有权限" in refused.text
    assert "鼓山镇" in refused.text and count_rows("uploads") == 0


def test_a_form_from_another_site_is_refused_in_words(db, tmp_path):
    foreign = {"Origin": "http://evil.example", **PAGE}
    refused = _check(signed_in_page("land_xd"), good_file(tmp_path), headers=foreign)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html") and "没有权限" in refused.text


def test_a_past_upload_is_seen_only_within_the_users_scope(db, tmp_path):
    client = signed_in_page("land_xd")
    token, _ = _report(client, good_file(tmp_path))
    client.post("/uploads/store", data={"token": token}, headers=ORIGIN)
    assert signed_in_page("leader_jinan").get("/uploads/1").status_code == 200
    csv_file = signed_in_page("planner").get("/uploads/1/problems.csv")
    assert csv_file.status_code == 200 and csv_file.content.startswith(b"\xef\xbb\xbf")
    unknown = client.get("/uploads/999", headers=PAGE)
    assert unknown.status_code == 404 and "找不到" in unknown.text


def _map(page: str) -> dict:
    raw = re.search(r"data-map='([^']*)'", page).group(1)
    return json.loads(html.unescape(raw))


def test_a_self_crossing_boundary_point_file_names_its_points_and_is_drawn(db, tmp_path):
    e, n = gk_origin()
    e, n = round(e, 3), round(n, 3)
    # J1 → J2 along the bottom, J2 → J3 back across, J3 → J4 along the top, J4 → J1 across
    bowtie = [(e, n), (e + 50, n), (e, n + 50), (e + 50, n + 50), (e, n)]
    square = [(e + 200, n), (e + 260, n), (e + 260, n + 60), (e + 200, n + 60), (e + 200, n)]
    parcels = [parcel("JX-1", "蝴蝶", [bowtie], hectares=0.25), parcel("JX-2", "方", [square])]
    path = write_boundary_file(tmp_path / "界址点.txt", parcels)
    _token, report = _report(signed_in_page("land_xd"), path)
    rows = re.findall(r'<tr data-n="\d+" data-feature="(\d*)" data-code="([^"]*)"', report.text)
    assert ("1", "JX-1") in rows
    assert "J2–J3 × J4–J1" in report.text  # the sides, by point number
    drawn = _map(report.text)
    crossing = [f for f in drawn["shapes"]["features"] if f["properties"]["feature"] == 1]
    assert crossing and crossing[0]["properties"]["as_read"]  # its rings, not a dot
    assert len(crossing[0]["geometry"]["coordinates"][0]) == 5
    assert drawn["township"]["type"] in ("Polygon", "MultiPolygon")


def test_a_planned_file_overlapping_stored_parcels_shows_them_and_says_it_has_warnings(
    db, tmp_path
):
    client = signed_in_page("land_xd")
    token, _ = _report(client, good_file(tmp_path))
    client.post("/uploads/store", data={"token": token}, headers=ORIGIN)
    assert count_rows("parcels") == 3
    # one new parcel across G1 and G2 (from 0 m and 400 m east, 100 m wide)
    across = [rectangle(XINDIAN, 50, 0, 400, 60)]
    path = write(frame(across, code=["NEW"]), tmp_path / "planned.geojson", 4326, "GeoJSON")
    _token, report = _report(client, path, status="planned")
    assert "通过，有 2 条提醒" in report.text
    assert "检查通过" not in report.text and "passed every check" not in report.text
    drawn = _map(report.text)
    overlapped = {
        f["properties"]["code"]
        for f in drawn["stored"]["features"]
        if f["properties"]["overlapped"]
    }
    assert overlapped == {"G1", "G2"}
    assert drawn["township"] is not None


def test_keeping_overlaps_is_a_verifiers_button_with_a_reason(db, tmp_path):
    officer = signed_in_page("officer_xd")
    token, report = _report(officer, problem_file(tmp_path))
    assert 'id="keep-overlaps-button"' not in report.text
    refused = officer.post(
        "/uploads/store", data={"token": token, "mode": "overlaps", "reason": "我说可以"},
        headers={**ORIGIN, **PAGE},
    )  # fmt: skip
    assert refused.status_code == 403 and 'class="error"' in refused.text
    assert count_rows("parcels") == 0


def test_overlaps_between_verified_parcels_are_kept_only_with_a_reason(db, tmp_path):
    """The upload form has no box that keeps overlaps (one sent anyway is ignored): only the
    report's button does, and never without a reason."""
    client = signed_in_page("land_xd")
    assert 'name="accept_overlaps"' not in client.get("/uploads").text
    token, _ = _report(client, good_file(tmp_path), status="verified")
    client.post("/uploads/store", data={"token": token}, headers=ORIGIN)
    across = [rectangle(XINDIAN, 50, 0, 400, 60)]
    path = write(frame(across, code=["NEW"]), tmp_path / "across.geojson", 4326, "GeoJSON")
    token, report = _report(client, path, status="verified", accept_overlaps="true")
    assert 'id="keep-overlaps-button"' in report.text and 'id="store-button"' not in report.text
    for data in ({"token": token}, {"token": token, "mode": "overlaps", "reason": "  "}):
        refused = client.post("/uploads/store", data=data, headers={**ORIGIN, **PAGE})
        assert refused.status_code in (400, 422) and 'class="error"' in refused.text, data
    assert count_rows("parcels") == 3
    reason = {"token": token, "mode": "overlaps", "reason": "两宗地共用的道路，经现场核实"}
    kept = client.post("/uploads/store", data=reason, headers=ORIGIN, follow_redirects=False)
    assert kept.status_code == 303 and count_rows("parcels") == 4
    assert "两宗地共用的道路" in client.get(kept.headers["location"]).text
