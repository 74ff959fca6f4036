"""Map data and pages: numbers against independent computations, offline pages, tiles."""

import json
import re
from datetime import date
from urllib.parse import quote, urlencode

import pytest
import shapely
from conftest import IN_2017, auth, redate, rewriting_history, shared_app
from fastapi.testclient import TestClient
from parcelfiles import CM120E, GUSHAN, XINDIAN, frame, independent_area_m2, rectangle, write
from shapely.geometry import shape
from sqlalchemy import text

from geo_service import database
from geo_service.campaign import tallies
from geo_service.campaign.targets import set_target
from geo_service.maps import data as maps_data
from geo_service.maps import tiles as maps_tiles
from geo_service.maps.data import View
from geo_service.maps.pages import progress_page, support_page
from geo_service.parcels.uploads import ImportOptions, import_file

MU = 10000 / 15


@pytest.fixture
def parcels(session, tmp_path):
    """Two verified parcels in 新店镇 (one helped by 鼓山镇), a planned one in 鼓山镇."""
    verified = [rectangle(XINDIAN, 0, 0, 400, 300), rectangle(XINDIAN, 800, 0, 200, 200)]
    path = write(
        frame(verified, code=["XD-1", "XD-2"], support=["鼓山镇", None]),
        tmp_path / "x.gpkg",
        CM120E,
        "GPKG",
    )
    import_file(session, path, ImportOptions(kind="land", township="新店镇", status="verified"))
    planned = write(
        frame([rectangle(GUSHAN, 0, 0, 100, 100)], code=["GS-1"]),
        tmp_path / "g.gpkg",
        CM120E,
        "GPKG",
    )
    import_file(session, planned, ImportOptions(kind="land", township="鼓山镇"))
    set_target(
        session,
        district="晋安区",
        township="新店镇",
        kind="land",
        year=2017,
        amount=500,
        unit="mu",
        actor="test",
    )
    redate(IN_2017, session)  # verified during the 2017 campaign
    session.commit()
    return sum(independent_area_m2(p) for p in verified)


def test_township_progress_and_district_summary(session, parcels):
    view = View(district="晋安区", kind="land")
    townships = {
        f["properties"]["name"]: f["properties"]
        for f in maps_data.township_features(session, view)["features"]
    }
    assert len(townships) == 9
    xindian = townships["新店镇"]
    assert xindian["verified_m2"] == pytest.approx(parcels, rel=1e-3)
    assert xindian["progress"] == pytest.approx(parcels / (500 * MU), rel=1e-3)
    assert townships["鼓山镇"]["target_m2"] is None and townships["鼓山镇"]["verified_m2"] == 0
    summary = maps_data.district_summary(session, view)
    assert summary["target_mu"] == pytest.approx(9000)
    assert summary["progress"] == pytest.approx(parcels / 6_000_000, rel=1e-3)
    assert summary["remaining_m2"] == pytest.approx(6_000_000 - parcels, rel=1e-6)


def test_required_pace_per_remaining_month():
    # At the end of Q2 2017, 184 days remain: 184 / 30.44 months.
    view = View(district="晋安区", kind="land", quarter=2)
    assert view.as_of == date(2017, 6, 30)
    assert tallies.months_left(view.reference_day, 2017) == pytest.approx(184 / 30.44)
    assert tallies.months_left(date(2017, 12, 31), 2017) == 0


def test_quarter_view_uses_quarterly_targets_cumulatively(session, parcels):
    for quarter, amount in ((1, 100), (2, 200), (3, 300), (4, 400)):
        set_target(
            session,
            district="晋安区",
            township="鼓山镇",
            kind="land",
            year=2017,
            quarter=quarter,
            amount=amount,
            unit="mu",
            actor="test",
        )
    session.commit()

    def gushan(quarter):
        view = View(district="晋安区", kind="land", quarter=quarter)
        features = maps_data.township_features(session, view)["features"]
        return next(f["properties"] for f in features if f["properties"]["name"] == "鼓山镇")

    assert gushan(2)["target_mu"] == pytest.approx(300)
    assert gushan(None)["target_mu"] == pytest.approx(1000)

    # The parcels were verified on 2 May 2017: after Q1, by the end of Q2.
    def verified(quarter):
        return maps_data.district_summary(session, View("晋安区", "land", quarter=quarter))

    assert verified(1)["verified_m2"] == 0
    assert verified(2)["verified_m2"] == pytest.approx(parcels, rel=1e-3)


def test_saved_map_is_self_contained(session, parcels):
    html = progress_page(session, View(district="晋安区", kind="land"), static=True)
    assert not re.search(r'<(script|link)[^>]+(src|href)="?(https?:)?//', html)
    assert not re.search(r"url\(['\"]?(https?:)?//", html), "CSS must not load remote files"
    assert re.findall(r"<script[^>]+src=|<link[^>]+href=", html) == [], "everything inlined"
    config = json.loads(re.search(r"geoServiceMaps\.start\([^,]+, (\{.*\})\);", html).group(1))
    assert set(config["snapshots"]) == {"now", "2017Q1", "2017Q2", "2017Q3", "2017Q4"}
    codes = {f["properties"]["code"] for f in config["data"]["parcels"]["features"]}
    assert codes == {"XD-1", "XD-2", "GS-1"}
    assert config["live"] is False


def test_a_campaign_over_two_years_offers_every_quarter(session, parcels):
    """攻坚2017-2018 (1 January 2017 – 30 June 2018): the timeline and a saved map offer its
    six quarters, 2018's by their year; today's quarter is marked; a page opened on 2018Q2
    names it as the timeline does."""
    from geo_service.campaign import campaigns
    from geo_service.periods import Period, one_day

    longer = campaigns.create_campaign(
        session, name="攻坚2017-2018", first_day=date(2017, 1, 1), last_day=date(2018, 6, 30),
        actor="tests",
    )  # fmt: skip
    view = View(district="晋安区", kind="land", campaign=longer)
    with one_day(date(2018, 5, 2)):
        days = maps_data.timeline_days(view)
    assert [(d["period"], d["quarter"], d["year"]) for d in days] == [
        ("2017Q1", 1, 2017), ("2017Q2", 2, 2017), ("2017Q3", 3, 2017), ("2017Q4", 4, 2017),
        ("2018Q1", 1, 2018), ("2018Q2", 2, 2018),
    ]  # fmt: skip
    assert days[-1]["as_of"] == "2018-06-30"
    assert [d["period"] for d in days if d["current"]] == ["2018Q2"]
    html = progress_page(session, view, static=True)
    config = json.loads(re.search(r"geoServiceMaps\.start\([^,]+, (\{.*\})\);", html).group(1))
    assert set(config["snapshots"]) == {"now"} | {d["period"] for d in days}
    later = config["snapshots"]["2018Q2"]["summary"]
    assert (later["quarter"], later["quarter_year"], later["as_of"]) == (2, 2018, "2018-06-30")
    assert config["snapshots"]["2017Q2"]["summary"]["as_of"] == "2017-06-30"
    chosen, quarter, as_of = maps_data.campaign_and_quarter(
        session, "攻坚2017-2018", None, Period(2018, quarter=2)
    )
    opened = View(district="晋安区", kind="land", campaign=chosen, quarter=quarter, as_of=as_of)
    config = json.loads(
        re.search(
            r"geoServiceMaps\.start\([^,]+, (\{.*\})\);", progress_page(session, opened)
        ).group(1)
    )
    assert config["view"]["period"] == "2018Q2"


def test_support_page_lists_the_helpers(session, parcels):
    html = support_page(session, View(district="晋安区", kind="land"), static=True)
    assert "鼓山镇 → 新店镇" in html
    config = json.loads(re.search(r"geoServiceMaps\.start\([^,]+, (\{.*\})\);", html).group(1))
    (link,) = config["data"]["links"]
    first = rectangle(XINDIAN, 0, 0, 400, 300)
    assert (link["helper"], link["host"], link["parcels"]) == ("鼓山镇", "新店镇", 1)
    assert link["verified_m2"] == pytest.approx(independent_area_m2(first), rel=1e-3)
    assert [f["properties"]["code"] for f in config["data"]["parcels"]["features"]] == ["XD-1"]


def test_live_pages_use_only_the_services_own_assets(db, parcels):
    client = TestClient(shared_app(), headers=auth("leader_city"))
    page = client.get("/maps/progress", params={"district": "晋安区", "kind": "land"})
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert client.get("/maps/support").status_code == 200
    data = client.get("/maps/progress/data.json", params={"quarter": 2}).json()
    assert data["summary"]["as_of"] == "2017-06-30"
    assert client.get("/maps/progress", params={"kind": "x"}).status_code == 422


def test_a_maps_quarter_is_its_number_or_a_calendar_quarter_as_periods_are_written(db, parcels):
    client = TestClient(shared_app(), headers=auth("leader_city"))

    def data(quarter, **more):
        return client.get("/maps/progress/data.json", params={"quarter": quarter, **more})

    by_number = data(2).json()
    assert by_number["summary"]["as_of"] == "2017-06-30"
    for written in ("2017Q2", "2017-Q2", " 2017q2 "):
        assert data(written).json() == by_number, written
    assert data("2017Q1").json()["summary"]["as_of"] == "2017-03-31"
    for bad in ("2017-05", "5", "0", "Q2", "2017Q5", "二季度", "1899Q1"):
        refused = data(bad)
        assert refused.status_code == 422, bad
        assert refused.json()["detail"].startswith("query parameter quarter: "), bad
    # A calendar quarter the campaign's days do not reach is refused, in the page's words.
    beyond = data("2018Q1", campaign="攻坚2017", **{"district": "晋安区"})
    assert beyond.status_code == 400 and "has no 2018Q1" in beyond.json()["detail"]
    page = client.get("/maps/progress", params={"quarter": "2017Q3"})
    assert page.status_code == 200 and '"quarter": 3' in page.text
    worded = client.get("/maps/progress", params={"quarter": "2018Q1", "campaign": "攻坚2017"},
                        headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert worded.status_code == 400 and "没有 2018Q1 季度" in worded.text


def test_the_city_level_colours_its_districts_and_links_down_to_each(db, parcels, session):
    city = TestClient(shared_app(), headers=auth("leader_city"))
    data = city.get("/maps/progress/data.json", params={"district": "福州市"}).json()
    districts = {f["properties"]["name"]: f["properties"] for f in data["townships"]["features"]}
    rows = {r.district: r for r in tallies.tally(session, by="district", kind="land", year=2017)}
    assert set(rows) <= set(districts) and "晋安区" in rows  # every district of the city
    jinan = districts["晋安区"]
    assert jinan["verified_m2"] == pytest.approx(parcels, rel=1e-3)
    assert jinan["progress"] == pytest.approx(parcels / 6_000_000, rel=1e-3)
    assert jinan["link"] == "/maps/progress?" + urlencode(
        {"district": "晋安区", "kind": "land", "campaign": "攻坚2017"}
    )
    assert data["parcels"]["features"] == []
    (whole,) = tallies.tally(session, by="city", kind="land", year=2017)
    summary = data["summary"]
    assert (summary["district"], summary["level"]) == ("福州市", "city")
    assert summary["verified_m2"] == pytest.approx(whole.verified_m2, abs=0.01)
    page = city.get("/maps/progress", params={"district": "福州市"})
    assert page.status_code == 200 and '"city": true' in page.text
    # The city's leader opens on the city; a district's page offers the way up ...
    assert '"city": true' in city.get("/maps/progress").text
    jinan_page = city.get("/maps/progress", params={"district": "晋安区"}).text
    assert '"up_url": "/maps/progress?district=' in jinan_page
    # ... and a district's leader neither sees the city level nor is offered it.
    own = TestClient(shared_app(), headers=auth("leader_jinan"))
    assert own.get("/maps/progress/data.json", params={"district": "福州市"}).status_code == 403
    assert '"up_url": null' in own.get("/maps/progress").text
    assert city.get("/maps/support", params={"district": "福州市"}).status_code == 400


def test_change_token_moves_when_a_parcel_changes(db, parcels, session):
    client = TestClient(shared_app(), headers=auth("leader_city"))
    before = client.get("/api/changes").json()["token"]
    parcel_id = client.get("/api/parcels", params={"code": "GS-1"}).json()["features"][0]["id"]
    response = client.post(
        f"/api/parcels/{parcel_id}/status",
        json={"status": "in_progress"},
        headers=auth("officer_all"),
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/changes").json()["token"] != before


def test_a_database_made_anew_has_change_tokens_of_its_own(db_url):
    """A backup restored with --replace is a new database whose version ids start again
    from the backup's: the same history must not give the token an older database had
    (tiles kept in files under it outlive the service)."""
    from conftest import scratch_database
    from sqlalchemy.orm import Session

    tokens = []
    for _ in range(2):
        with scratch_database(db_url, "token_anew") as url:
            database.ensure_database(url)
            database.migrate(url)
            engine = database.get_engine(url)
            with Session(engine) as session:
                tokens.append(maps_data.change_token(session))
            engine.dispose()
    first, second = (token.rsplit("-", 1) for token in tokens)
    assert first[0] == second[0], tokens  # the same history: no version, no target
    assert first[1] != second[1], tokens


def test_vector_tiles_hold_the_parcels_of_their_area(db, parcels):
    client = TestClient(shared_app(), headers=auth("leader_city"))
    lon, lat = XINDIAN
    z = 14
    x, y = _tile(lon, lat, z)
    tile = client.get(f"/tiles/{z}/{x}/{y}.pbf", params={"district": "晋安区", "kind": "land"})
    assert tile.status_code == 200
    assert tile.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert b"parcels" in tile.content and b"XD-1" in tile.content
    empty = client.get(f"/tiles/{z}/{x + 50}/{y}.pbf")
    assert empty.status_code == 200 and empty.content == b""
    assert client.get("/tiles/3/9/1.pbf").status_code == 400


def test_tiles_are_gzipped_and_revalidated_against_the_change_token(db, parcels):
    client = TestClient(shared_app(), headers=auth("leader_city"))
    x, y = _tile(*XINDIAN, 14)
    url = f"/tiles/14/{x}/{y}.pbf"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    # GZipMiddleware compresses from 1 KB on.
    expected = "gzip" if len(plain.content) >= 1000 else None
    assert packed.headers.get("content-encoding") == expected
    assert packed.content == plain.content  # httpx decodes the gzip body
    etag = plain.headers["etag"]
    # The change token, and the district drawn (the user's own when the URL names none).
    token = client.get("/api/changes").json()["token"]
    assert etag == f'W/"{token}-{quote("晋安区")}"'
    assert plain.headers["cache-control"] == "private, no-cache"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # Today's tile (from the parcels table) is the history's tile for any later moment.
    later = client.get(url, params={"as_of": "2099-01-01"}, headers={"Accept-Encoding": "identity"})
    assert later.content == plain.content
    parcel_id = client.get("/api/parcels", params={"code": "XD-1"}).json()["features"][0]["id"]
    moved = client.post(
        f"/api/parcels/{parcel_id}/dispute", json={"reason": "界址"}, headers=auth("land_all")
    )
    assert moved.status_code == 200, moved.text
    fresh = client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert b"disputed" in fresh.content


def test_below_zoom_12_tiles_carry_id_and_status_and_a_tap_asks_for_the_rest(db, parcels):
    client = TestClient(shared_app(), headers=auth("leader_city"))
    query = {"district": "晋安区", "kind": "land"}
    x, y = _tile(*XINDIAN, 14)
    detailed = client.get(f"/tiles/14/{x}/{y}.pbf", params=query).content
    x, y = _tile(*XINDIAN, 10)
    overview = client.get(f"/tiles/10/{x}/{y}.pbf", params=query).content
    # MVT keeps each field's name and each string value once per layer, as plain text.
    assert b"parcels_overview" in overview and b"verified" in overview
    for detail in (b"code", b"XD-1", b"area_m2", b"township", b"verified_by"):
        assert detail in detailed and detail not in overview, detail
    layers = client.get("/tiles/tilejson.json", params=query).json()["vector_layers"]
    assert [(v["id"], v["minzoom"], v["maxzoom"], set(v["fields"])) for v in layers] == [
        ("parcels", 12, 22, set(maps_tiles.FIELDS)),
        ("parcels_overview", 0, 11, {"id", "status"}),
    ]
    found = client.get("/api/parcels", params={"code": "XD-1"}).json()["features"][0]
    inside = shapely.point_on_surface(shape(found["geometry"]))
    tap = {**query, "lon": inside.x, "lat": inside.y, "zoom": 10}
    facts = client.get("/tiles/parcels/at.json", params=tap)
    assert facts.status_code == 200, facts.text
    assert facts.json() == {
        "id": found["id"], "code": "XD-1", "status": "verified",
        "area_m2": pytest.approx(found["properties"]["area_m2"]),
        "area_mu": round(found["properties"]["area_m2"] / (10000 / 15), 2),
        "township": "新店镇", "project": None, "project_name": None,
        "verified_by": found["properties"]["verified_by"],
        "verified_group": found["properties"]["verified_group"],
        "verified_at": found["properties"]["verified_at"][:10],
    }  # fmt: skip
    # 400 m west of it: within a fingertip at zoom 10 (six pixels, 800 m), not at zoom 16.
    west_edge = shape(found["geometry"]).bounds[0]
    beside = {**tap, "lon": west_edge - 0.004}
    assert client.get("/tiles/parcels/at.json", params=beside).json()["code"] == "XD-1"
    assert client.get("/tiles/parcels/at.json", params={**beside, "zoom": 16}).status_code == 404
    # Another district's map does not draw it; nor does a day before it was imported.
    elsewhere = {**tap, "district": "仓山区"}
    assert client.get("/tiles/parcels/at.json", params=elsewhere).status_code == 404
    before = {**tap, "as_of": "2000-01-01"}
    assert client.get("/tiles/parcels/at.json", params=before).status_code == 404


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_a_configured_basemap_is_used_live_and_a_shifted_one_is_refused(session, parcels):
    from pydantic import ValidationError

    from geo_service.settings import Settings, get_settings

    settings = get_settings()
    settings.basemap_url = "http://tiles.intranet.local/{z}/{x}/{y}.png"
    try:
        live = progress_page(session, View(district="晋安区", kind="land"))
        saved = progress_page(session, View(district="晋安区", kind="land"), static=True)
    finally:
        settings.basemap_url = None
    assert "tiles.intranet.local" in live
    assert "tiles.intranet.local" not in saved, "a saved file must draw with no network"
    with pytest.raises(ValidationError, match="GCJ-02"):
        Settings(basemap_url="https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}")
    assert Settings(basemap_url="http://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY").basemap_url


def test_one_target_rule_never_mixes_annual_and_quarterly():
    from geo_service.campaign.targets import target_for

    annual, some = 9000.0, {2: 2250.0}
    assert [target_for(annual, some, q) for q in (None, 1, 2, 3, 4)] == [annual] * 5
    full = {1: 1000.0, 2: 2000.0, 3: 3000.0, 4: 3000.0}
    assert [target_for(annual, full, q) for q in (1, 2, 4)] == [1000.0, 3000.0, 9000.0]
    assert target_for(None, full) == 9000.0 and target_for(None, {}) is None
    assert target_for(None, some, 1) is None


def test_pace_uses_the_days_left_in_the_views_own_year():
    from datetime import datetime

    from geo_service.campaign.tallies import CAMPAIGN_TZ

    today = datetime.now(CAMPAIGN_TZ).date()
    future = View(district="晋安区", year=today.year + 3)
    assert future.reference_day == date(today.year + 3, 1, 1)
    assert tallies.months_left(future.reference_day, future.year) == pytest.approx(364 / 30.44)
    past = View(district="晋安区", year=2017)
    assert past.reference_day == date(2017, 12, 31)


def test_a_verification_after_midnight_in_fuzhou_shows_that_days_date(session, parcels):
    from sqlalchemy import text

    # 2017-07-01 01:30 in Fuzhou is 2017-06-30 17:30 UTC.
    with rewriting_history(session):
        session.execute(
            text(
                "UPDATE parcel_versions SET verified_at = '2017-06-30 17:30+00' "
                "WHERE status = 'verified'"
            )
        )
    session.commit()
    features = maps_data.parcel_features(session, View(district="晋安区", kind="land"))
    dates = {
        f["properties"]["verified_at"]
        for f in features["features"]
        if f["properties"]["status"] == "verified"
    }
    assert dates == {"2017-07-01"}


def test_a_quarter_view_labels_each_target_by_what_it_is(session, parcels):
    for quarter, amount in ((1, 450_000), (2, 750_000)):
        set_target(session, district="晋安区", kind="demolition", year=2017, quarter=quarter,
                   amount=amount, unit="m2", township=None, actor="test")  # fmt: skip
    set_target(session, district="晋安区", township="鼓山镇", kind="demolition", year=2017,
               amount=300_000, unit="m2", actor="test")  # fmt: skip
    session.commit()
    view = View(district="晋安区", kind="demolition", quarter=2)
    summary = maps_data.district_summary(session, view)
    assert summary["target_m2"] == pytest.approx(1_200_000)  # Q1 + Q2, cumulated
    assert summary["target_label"] == "截至二季度计划"
    gushan = next(
        f["properties"]
        for f in maps_data.township_features(session, view)["features"]
        if f["properties"]["name"] == "鼓山镇"
    )
    assert (gushan["target_m2"], gushan["target_label"]) == (pytest.approx(300_000), "年度目标")
    # Q3 has no plan: the district falls back to its annual target, labelled so.
    q3 = maps_data.district_summary(session, View("晋安区", "demolition", quarter=3))
    assert (q3["target_m2"], q3["target_label"]) == (pytest.approx(3_000_000), "年度目标")
    page = progress_page(session, view)
    assert '"quarter": 2' in page


def test_an_overview_tile_is_drawn_once_per_change_token(db, parcels, session):
    """Below zoom 12 a tile is kept once drawn under the change token it was drawn at (its
    ETag): asked again it is not drawn again, even for another browser; a change of the
    token draws it afresh."""
    client = TestClient(shared_app(), headers=auth("leader_city"))
    query = {"district": "晋安区", "kind": "land"}
    x, y = _tile(*XINDIAN, 10)
    url = f"/tiles/10/{x}/{y}.pbf"
    first = client.get(url, params=query).content
    assert b"verified" in first and b"disputed" not in first
    # Behind the history's back (no new version, so no new token): a kept tile shows
    # what it was drawn from; a detailed tile is drawn afresh.
    session.execute(text("UPDATE parcels SET status = 'disputed' WHERE code = 'XD-1'"))
    session.commit()
    try:
        assert client.get(url, params=query).content == first
        dx, dy = _tile(*XINDIAN, 14)
        assert b"disputed" in client.get(f"/tiles/14/{dx}/{dy}.pbf", params=query).content
    finally:
        session.execute(text("UPDATE parcels SET status = 'verified' WHERE code = 'XD-1'"))
        session.commit()
    parcel_id = client.get("/api/parcels", params={"code": "XD-1"}).json()["features"][0]["id"]
    moved = client.post(
        f"/api/parcels/{parcel_id}/dispute", json={"reason": "界址"}, headers=auth("land_all")
    )
    assert moved.status_code == 200, moved.text
    assert b"disputed" in client.get(url, params=query).content


@pytest.fixture
def tile_cache(tmp_path, monkeypatch):
    """A folder of the test's own for the kept tiles (CACHE_DIR)."""
    from geo_service.settings import get_settings

    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    yield tmp_path / "cache"
    get_settings.cache_clear()


def _drawing(counted: list):
    """parcel_tile, counting the tiles it draws."""
    draw = maps_tiles.parcel_tile

    def counting(*args):
        counted.append(args)
        return draw(*args)

    return counting


def test_a_tile_drawn_by_one_worker_is_served_by_another(db, parcels, session, tile_cache):
    """Another process (a second worker of the host) serves the tile this one drew without
    drawing it: its parcel_tile fails if called."""
    import subprocess
    import sys

    district = session.execute(text("SELECT id FROM admin_units WHERE name = '晋安区'")).scalar()
    x, y = _tile(*XINDIAN, 10)
    first = maps_tiles.kept_tile("t-1", 10, x, y, district, "land", None)
    assert b"verified" in first
    other = (
        "import sys\n"
        "from geo_service.maps import tiles\n"
        "def refused(*args):\n"
        "    raise SystemExit('drawn again')\n"
        "tiles.parcel_tile = refused\n"
        f"sys.stdout.buffer.write(tiles.kept_tile('t-1', 10, {x}, {y}, {district}, 'land', None))\n"
    )
    done = subprocess.run([sys.executable, "-c", other], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == first


def test_a_new_change_token_never_serves_an_older_tile(db, parcels, tile_cache, monkeypatch):
    counted = []
    monkeypatch.setattr(maps_tiles, "parcel_tile", _drawing(counted))
    x, y = _tile(*XINDIAN, 9)
    maps_tiles.kept_tile("t-1", 9, x, y, 1, "land", None)
    maps_tiles.kept_tile("t-1", 9, x, y, 1, "land", None)
    assert len(counted) == 1
    maps_tiles.kept_tile("t-2", 9, x, y, 1, "land", None)
    assert len(counted) == 2
    # The same key under another token, written by hand, is not read either.
    from geo_service.maps import tile_store

    tile_store.write("t-3", ("tile", 9, x, y, 1, "land", None), b"stale")
    assert tile_store.read("t-4", ("tile", 9, x, y, 1, "land", None)) is None


def test_kept_tiles_stay_within_their_bound(db, tile_cache, monkeypatch):
    """At most KEPT_TILES files per token, and the KEPT_TOKENS newest tokens' folders."""
    import os
    import time

    from geo_service.maps import tile_store

    monkeypatch.setattr(tile_store, "KEPT_TILES", 3)
    for n in range(5):
        tile_store.write("t-1", ("tile", n), b"x" * n)
    folder = next((tile_cache / "tiles").iterdir())
    (tokens,) = list(folder.iterdir())
    assert len(list(tokens.iterdir())) == 3
    # The newest written are the ones kept.
    assert [tile_store.read("t-1", ("tile", n)) for n in range(5)] == [None, None, b"xx",
                                                                       b"xxx", b"xxxx"]  # fmt: skip
    os.utime(tokens, (time.time() - 200, time.time() - 200))
    for n, token in enumerate(["t-2", "t-3", "t-4"]):
        tile_store.write(token, ("tile", 0), token.encode())
        stamp = time.time() - 100 + n  # in the order written, whatever the clock's grain is
        os.utime(folder / tile_store._name(token, 24), (stamp, stamp))
    assert len(list(folder.iterdir())) == tile_store.KEPT_TOKENS == 2
    assert tile_store.read("t-4", ("tile", 0)) == b"t-4"
    assert (
        tile_store.read("t-2", ("tile", 0)) is None and tile_store.read("t-1", ("tile", 4)) is None
    )


def test_a_partial_or_damaged_kept_tile_is_drawn_again(db, parcels, tile_cache, monkeypatch):
    counted = []
    monkeypatch.setattr(maps_tiles, "parcel_tile", _drawing(counted))
    x, y = _tile(*XINDIAN, 10)
    drawn = maps_tiles.kept_tile("t-1", 10, x, y, 1, "land", None)
    (path,) = [p for p in (tile_cache / "tiles").rglob("*") if p.is_file()]
    whole = path.read_bytes()
    for broken in (whole[: len(whole) // 2], whole[:5], whole[:-1] + bytes([whole[-1] ^ 1]), b""):
        path.write_bytes(broken)
        assert maps_tiles.kept_tile("t-1", 10, x, y, 1, "land", None) == drawn
    assert len(counted) == 5
    assert path.read_bytes() == whole  # drawn again and kept whole


def test_a_cache_folder_others_may_write_to_is_not_used(db, parcels, tile_cache, monkeypatch):
    """Tiles someone else could have put there are not served: each is drawn instead."""
    counted = []
    monkeypatch.setattr(maps_tiles, "parcel_tile", _drawing(counted))
    tile_cache.mkdir()
    tile_cache.chmod(0o777)
    x, y = _tile(*XINDIAN, 10)
    first = maps_tiles.kept_tile("t-1", 10, x, y, 1, "land", None)
    assert maps_tiles.kept_tile("t-1", 10, x, y, 1, "land", None) == first
    assert len(counted) == 2 and list(tile_cache.iterdir()) == []


def test_every_overview_tile_with_parcels_is_listed_as_filled(db, parcels, session):
    """The progress page names the z11 tiles holding parcels (cfg.filled) and asks for no
    other: every tile of the district's extent that draws anything is among them."""
    client = TestClient(shared_app(), headers=auth("leader_city"))
    query = {"district": "晋安区", "kind": "land"}
    district = session.execute(text("SELECT id FROM admin_units WHERE name = '晋安区'")).scalar()
    filled = maps_tiles.filled_tiles("a token", district, "land")
    assert list(_tile(*XINDIAN, maps_tiles.FILLED_ZOOM)) in filled
    west, south, east, north = client.get("/tiles/tilejson.json", params=query).json()["bounds"]
    z = maps_tiles.FILLED_ZOOM
    (x0, y0), (x1, y1) = _tile(west, north, z), _tile(east, south, z)
    drawn = {
        (x, y)
        for x in range(x0, x1 + 1)
        for y in range(y0, y1 + 1)
        if client.get(f"/tiles/{z}/{x}/{y}.pbf", params=query).content
    }
    assert drawn and drawn <= {tuple(t) for t in filled}, (drawn, filled)


def test_a_live_page_asks_for_its_first_tiles_before_its_stylesheets_and_scripts(session, parcels):
    """Above the tile threshold the head starts with the viewport and the script asking for
    the first view's tiles; the stylesheets and the deferred scripts come after it, and the
    page keeps one viewport, zoomable (WCAG 1.4.4)."""
    from geo_service.settings import get_settings

    settings = get_settings()
    threshold = settings.map_tile_threshold
    settings.map_tile_threshold = 1
    try:
        live = progress_page(session, View(district="晋安区", kind="land"))
        saved = progress_page(session, View(district="晋安区", kind="land"), static=True)
    finally:
        settings.map_tile_threshold = threshold
    early = live.index("window.gsEarlyTiles")
    assert early < live.index('<link rel="stylesheet"') and early < live.index("<script defer src=")
    assert "<script src=" not in live
    for page in (live, saved):
        assert re.findall(r'<meta name="viewport"[^>]*>', page) == [
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
        ]
    assert "window.gsEarlyTiles = {}" not in saved and "<script defer" not in saved
