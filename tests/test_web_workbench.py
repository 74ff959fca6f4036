"""The people's pages: landing page by role, a parcel's page with its actions, the queue."""

import re

import pytest
from conftest import auth, shared_app, signed_in_page
from fastapi.testclient import TestClient
from parcelfiles import XINDIAN, frame, rectangle, write

ORIGIN = {"Origin": "http://testserver"}


def _upload(tmp_path, status: str) -> dict:
    """Three land parcels A, B, C in 新店镇, uploaded through the API: code → id."""
    shapes = [rectangle(XINDIAN, 400 * i, 0, 100, 80) for i in range(3)]
    path = write(frame(shapes, code=["A", "B", "C"]), tmp_path / "xd.geojson", 4326, "GeoJSON")
    with TestClient(shared_app()) as api:
        data = {"kind": "land", "township": "新店镇", "status": status}
        files = {"file": (path.name, path.read_bytes())}
        response = api.post("/api/uploads", files=files, data=data, headers=auth("land_all"))
        assert response.status_code == 201, response.text
        parcels = api.get("/api/parcels", headers=auth("land_all")).json()["features"]
    return {f["properties"]["code"]: f["id"] for f in parcels}


@pytest.fixture
def delivered(db, tmp_path):
    return _upload(tmp_path, "delivered")


def test_landing_page_is_html_with_each_roles_links(db):
    verifier = signed_in_page("land_all").get("/")
    assert verifier.status_code == 200
    assert verifier.headers["content-type"].startswith("text/html")
    for href in ("/queue", "/uploads", "/parcels", "/maps/progress", "/board", "/public"):
        assert f'href="{href}"' in verifier.text
    for href in ("/maps/support", "/maps/relocation", "/docs"):
        assert f'href="{href}"' in verifier.text
    leader = signed_in_page("leader_jinan").get("/")
    assert 'href="/maps/progress"' in leader.text and 'href="/board"' in leader.text
    assert 'href="/queue"' not in leader.text and 'href="/uploads"' not in leader.text
    assert 'href="/api/exports/tallies.html"' in leader.text
    # the city board only for those who see the whole city
    assert "level=district" not in leader.text
    assert 'href="/board?level=district"' in signed_in_page("leader_city").get("/").text


def test_landing_page_sends_a_stranger_to_sign_in_and_api_keeps_the_json_index(db):
    with TestClient(shared_app()) as client:
        response = client.get("/", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        index = client.get("/api").json()
    assert index["parcels"] == "/api/parcels" and index["kinds"] == ["land", "demolition"]


def test_the_queue_comes_a_page_at_a_time(delivered, monkeypatch):
    from geo_service.web import parcels as parcel_pages

    monkeypatch.setattr(parcel_pages, "QUEUE_PAGE", 2)
    client = signed_in_page("land_all")
    first, second = client.get("/queue").text, client.get("/queue?page=1").text
    assert re.findall(r">([ABC])</a>", first) == ["A", "B"]
    assert 'href="/queue?page=1"' in first and "/queue?page=0" not in first
    assert re.findall(r">([ABC])</a>", second) == ["C"]
    assert 'href="/queue?page=0"' in second and "/queue?page=2" not in second


def test_verifier_verifies_and_disputes_from_the_parcel_page(delivered):
    client = signed_in_page("land_all")
    queue = client.get("/queue").text
    assert [c for c in re.findall(r">([ABC])</a>", queue)] == ["A", "B", "C"]
    for code in ("A", "B"):
        page = client.get(f"/parcels/{code}").text
        assert 'name="verify"' in page and "已交地" in page
        done = client.post(
            f"/parcels/{delivered[code]}/act",
            data={"action": "verify", "note": "现场核验"},
            headers=ORIGIN,
        )
        assert done.status_code == 200 and "已核验" in done.text
    assert ">A</a>" not in client.get("/queue").text
    disputed = client.post(
        f"/parcels/{delivered['B']}/act",
        data={"action": "dispute", "note": "界址与现场不符"},
        headers=ORIGIN,
    )
    assert "有争议" in disputed.text and "界址与现场不符" in disputed.text
    history = client.get("/parcels/B").text.split("历史")[1]
    assert "已交地 → 已核验" in history and "已核验 → 有争议" in history
    assert "现场核验" in history and "测试land_all" not in history and "land_all" in history
    with TestClient(shared_app()) as api:
        versions = api.get(f"/api/parcels/{delivered['B']}/history", headers=auth("planner"))
    assert [v["status"] for v in versions.json()] == ["delivered", "verified", "disputed"]
    assert {v["changed_by"] for v in versions.json()[1:]} == {"land_all"}


def test_a_refused_action_is_shown_in_the_page_and_changes_nothing(delivered):
    client = signed_in_page("land_all")
    url = f"/parcels/{delivered['A']}/act"
    response = client.post(url, data={"action": "status", "to": "verified"}, headers=ORIGIN)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="error"' in response.text and "已交地" in response.text
    # a form posted from another site is refused by the CSRF rule, as for the API
    other = client.post(url, data={"action": "verify"}, headers={"Origin": "http://evil.example"})
    assert other.status_code == 403
    history = client.get("/parcels/A").text.split("历史")[1]
    assert "已核验" not in history


def test_a_leader_sees_the_parcel_but_no_action(delivered):
    client = signed_in_page("leader_jinan")
    page = client.get("/parcels/A")
    assert page.status_code == 200 and "已交地" in page.text
    assert "/act" not in page.text and "<button" not in page.text.split("</header>")[1]
    refused = client.post(
        f"/parcels/{delivered['A']}/act", data={"action": "verify"}, headers=ORIGIN
    )
    assert refused.status_code == 403 and "已核验" not in refused.text.split("历史")[1]


def test_an_unknown_parcel_is_a_page_not_json(db):
    response = signed_in_page("land_all").get("/parcels/NOPE")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html") and "NOPE" in response.text


def test_parcel_list_filters_by_text_and_status_and_keeps_to_the_users_scope(delivered):
    client = signed_in_page("land_all")
    page = client.get("/parcels", params={"q": "b", "status": "delivered"}).text
    assert re.findall(r">([ABC])</a>", page) == ["B"] and "共 1 个地块" in page
    assert "共 0 个地块" in client.get("/parcels", params={"status": "verified"}).text
    desc = client.get("/parcels", params={"sort": "code", "desc": "true"}).text
    assert re.findall(r">([ABC])</a>", desc) == ["C", "B", "A"]
    # the officer of 新店镇 sees them; nobody's list reaches outside their townships
    assert "共 3 个地块" in signed_in_page("officer_xd").get("/parcels").text
    assert "共 3 个地块" in signed_in_page("leader_jinan").get("/parcels").text


def test_moving_several_parcels_is_all_or_nothing(db, tmp_path):
    planned = _upload(tmp_path, "planned")
    client = signed_in_page("land_all")
    start = {"action": "status", "to": "in_progress"}
    assert client.post(f"/parcels/{planned['A']}/act", data=start, headers=ORIGIN).is_success
    # A may go on to delivered, B (still planned) may not: neither moves, B is named
    both = {"ids": [planned["A"], planned["B"]], "to": "delivered"}
    refused = client.post("/parcels", data=both, headers=ORIGIN)
    assert refused.status_code == 400
    error = re.search(r'class="error"[^>]*>([^<]*)', refused.text).group(1)
    assert error.startswith("地块 B") and "全部未更改" in error
    assert "共 0 个地块" in client.get("/parcels", params={"status": "delivered"}).text
    assert "共 1 个地块" in client.get("/parcels", params={"status": "in_progress"}).text
    others = {"ids": [planned["B"], planned["C"]], "to": "in_progress"}
    moved = client.post("/parcels", data=others, headers=ORIGIN)
    assert moved.status_code == 200 and "2 个地块已改为 实施中" in moved.text
    assert "共 3 个地块" in client.get("/parcels", params={"status": "in_progress"}).text
    # a leader's list has no selection and no move
    assert 'name="ids"' not in signed_in_page("leader_jinan").get("/parcels").text


def _bulk_moves(page: str) -> list[str]:
    select = re.search(r'<select name="to"[^>]*>(.*?)</select>', page, re.S)
    return re.findall(r'<option value="(\w+)"', select.group(1)) if select else []


@pytest.mark.parametrize(
    "username, moves",
    [
        ("land_all", ["in_progress", "delivered"]),  # never 已拆除: land is not demolished
        ("demolition_all", ["in_progress", "demolished"]),
        ("officer_all", ["in_progress", "delivered", "demolished"]),
        ("relocation_all", []),  # no parcel is theirs to move: no selection at all
    ],
)
def test_bulk_moves_offer_only_the_moves_the_workflow_allows_the_user(db, username, moves):
    client = signed_in_page(username)
    page = client.get("/parcels").text
    assert _bulk_moves(page) == moves
    assert ("<fieldset>" in page) == bool(moves)
    if moves:  # asked once more in a dialog before anything moves (static/pages.js)
        assert 'data-confirm="确认把选中的 {count} 块地块改为' in page
        assert '<dialog id="confirm-dialog"' in page
    land_only = client.get("/parcels", params={"kind": "land"}).text
    assert "demolished" not in _bulk_moves(land_only)
