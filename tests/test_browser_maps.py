"""The leaders' maps in headless Chromium, with the outside network cut."""

import time

import pytest
from browser import sign_in
from conftest import api_get, api_post

from geo_service import demo

pytest_plugins = ["browser"]
LIVE_WITHIN_S = 30


def _jinan(rows: list[dict]) -> dict:
    """The 晋安区 row of a district tally (the demo has other districts too)."""
    return next(r for r in rows if r["district"] == "晋安区")


def _as_leader(page, base: str):
    """Signed in as the demo's leader of 晋安区."""
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, base, "周建明", demo.DEMO_PASSWORD)


def _open_progress(page, base: str):
    _as_leader(page, base)
    page.goto(f"{base}/maps/progress?district=晋安区&kind=land")
    page.wait_for_selector("path.gs-parcel")
    page.wait_for_selector(".gs-summary h3")


def test_progress_map_draws_townships_parcels_legend_and_summary(demo_server, browser_page):
    page = browser_page
    _open_progress(page, demo_server)
    district = _jinan(api_get(f"{demo_server}/api/tallies?by=district&kind=land"))
    assert page.locator("path.gs-township").count() == 9
    assert page.locator("path.gs-parcel").count() == district["planned_parcels"]
    assert page.locator("path.gs-parcel.gs-status-verified").count() == district["verified_parcels"]
    legend = page.locator(".gs-legend").inner_text()
    assert "乡镇进度" in legend and "未设目标" in legend and "已核验" in legend
    summary = page.locator(".gs-summary").inner_text()
    assert "9,000.0 亩" in summary
    assert f"{district['verified_mu']:,.1f} 亩" in summary
    assert f"{district['progress'] * 100:.1f}%" in summary
    assert page.locator(".gs-label").count() == 9
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-layers").count() == 1
    page.save_screenshot("progress-map-1920x1080")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.save_screenshot("progress-map-laptop")
    assert page.problems() == []
    assert all(url.startswith(demo_server) for url in page.requests)


def test_search_and_quarter_timeline(demo_server, browser_page):
    page = browser_page
    _open_progress(page, demo_server)
    first = api_get(f"{demo_server}/api/parcels?kind=land&township=新店镇&limit=1")["features"][0]
    code = first["properties"]["code"]
    page.fill(".gs-search input", code)
    page.press(".gs-search input", "Enter")
    page.wait_for_selector(".leaflet-popup-content")
    assert code in page.locator(".leaflet-popup-content").inner_text()
    page.click(".gs-timeline button[data-q='2']")
    page.wait_for_function("document.querySelector('.gs-summary').innerText.includes('第2季度末')")
    # Asked for as a calendar quarter, so that a campaign longer than a year reaches its later
    # quarters of the same number.
    assert any("quarter=2017Q2" in url for url in page.requests)
    # The demo replays 2017: at the end of Q2 every parcel was surveyed, some verified.
    mid_year = _jinan(api_get(f"{demo_server}/api/tallies?by=district&kind=land&as_of=2017-06-30"))
    now = _jinan(api_get(f"{demo_server}/api/tallies?by=district&kind=land"))
    assert 0 < mid_year["verified_parcels"] < now["verified_parcels"]
    verified_then = mid_year["verified_parcels"]
    page.wait_for_function(
        f"document.querySelectorAll('path.gs-status-verified').length === {verified_then}"
    )
    assert page.locator("path.gs-parcel").count() == mid_year["planned_parcels"]
    assert f"{mid_year['verified_mu']:,.1f} 亩" in page.locator(".gs-summary").inner_text()
    page.save_screenshot("progress-map-end-of-q2")
    page.click(".gs-timeline button[data-q='']")
    page.wait_for_function(
        f"document.querySelectorAll('path.gs-status-verified').length === {now['verified_parcels']}"
    )
    assert page.problems() == []


def test_a_verification_through_the_api_appears_on_the_open_page(demo_server, browser_page):
    page = browser_page
    _open_progress(page, demo_server)
    delivered = api_get(
        f"{demo_server}/api/parcels?kind=land&status=delivered&township=新店镇&limit=1"
    )
    parcel = delivered["features"][0]
    verified_before = page.locator("path.gs-status-verified").count()
    # As a leader would: zoom in on 新店镇 (without animation, so the test need not wait).
    page.evaluate(
        "() => { window.geoServiceMaps.page.map.setView([26.15, 119.30], 14, {animate: false}); }"
    )
    view_before = page.evaluate(
        "() => { const m = window.geoServiceMaps.page.map; return [m.getCenter(), m.getZoom()]; }"
    )
    started = time.monotonic()
    api_post(
        f"{demo_server}/api/parcels/{parcel['id']}/verify",
        {"note": "浏览器测试"},
        "land_all",
    )
    page.wait_for_function(
        f"document.querySelectorAll('path.gs-status-verified').length > {verified_before}",
        timeout=LIVE_WITHIN_S * 1000,
    )
    assert time.monotonic() - started < LIVE_WITHIN_S
    assert page.evaluate("() => document.body.dataset.gsUpdates") == "2", "no full reload"
    view_after = page.evaluate(
        "() => { const m = window.geoServiceMaps.page.map; return [m.getCenter(), m.getZoom()]; }"
    )
    assert view_after == view_before
    assert view_after[1] == 14, view_after
    page.save_screenshot("progress-map-after-live-verification")
    assert page.problems() == []


def test_support_map_draws_links_and_the_credit_table(demo_server, browser_page):
    page = browser_page
    _as_leader(page, demo_server)
    page.goto(f"{demo_server}/maps/support?district=晋安区&kind=land")
    page.wait_for_selector("path.gs-link")
    links = api_get(f"{demo_server}/api/support-links?kind=land")
    jinan = [link for link in links if link["district"] == "晋安区"]
    assert page.locator("path.gs-link").count() == len(jinan) > 0
    assert page.locator("path.gs-township").count() == 9
    assert page.locator("path.gs-parcel").count() > 0
    table = page.locator("#gs-credit").inner_text()
    first = jinan[0]
    assert f"{first['helper']} → {first['host']}" in table
    assert "跨界支援" in page.locator(".gs-legend").inner_text()
    page.save_screenshot("support-map-1920x1080")
    assert page.problems() == []


def test_above_the_threshold_parcels_come_as_vector_tiles(demo_server, browser_page):
    from geo_service.settings import get_settings

    settings = get_settings()
    threshold = settings.map_tile_threshold
    settings.map_tile_threshold = 10  # the demo's 199 land parcels become "many"
    try:
        page = browser_page
        _as_leader(page, demo_server)
        page.goto(f"{demo_server}/maps/progress?district=晋安区&kind=land")
        page.wait_for_function("document.body.dataset.gsRenderedMs !== undefined")
        tiles = [url for url in page.requests if "/tiles/" in url]
        assert tiles, "parcels should arrive as vector tiles"
        assert page.locator("path.gs-parcel").count() == 0, "no parcels embedded in the page"
        assert page.locator("canvas.leaflet-tile").count() > 0
        assert page.locator("path.gs-township").count() == 9
        page.save_screenshot("progress-map-vector-tiles")
        _tap_a_parcel_below_zoom_12(page, demo_server)
        # A verification reaches the open page: the tiles are asked for again, newer.
        delivered = api_get(
            f"{demo_server}/api/parcels?kind=land&status=delivered&township=新店镇&limit=1"
        )
        asked = len(page.requests)
        api_post(
            f"{demo_server}/api/parcels/{delivered['features'][0]['id']}/verify",
            {},
            "land_all",
        )
        page.wait_for_function(
            "document.body.dataset.gsUpdates === '2'", timeout=LIVE_WITHIN_S * 1000
        )
        page.wait_for_timeout(500)
        assert [url for url in page.requests[asked:] if "/tiles/" in url]
        assert page.problems() == []
    finally:
        settings.map_tile_threshold = threshold


def test_a_phone_asks_for_the_first_tiles_before_the_scripts_and_uses_those(
    demo_server, browser_page
):
    """The page's body asks for the first view's tiles (the zoom fitBounds will give, the
    tiles cfg.filled names); the tile layer takes those answers instead of asking again, and
    the labels, legend and figures follow the parcels."""
    from geo_service.settings import get_settings

    settings = get_settings()
    threshold = settings.map_tile_threshold
    settings.map_tile_threshold = 10
    try:
        page = browser_page
        sign_in(page, demo_server, "周建明", demo.DEMO_PASSWORD)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{demo_server}/maps/progress?district=晋安区&kind=land")
        page.wait_for_function("document.body.dataset.gsRenderedMs !== undefined")
        # Every early answer was taken by the layer, and no tile was asked for twice.
        assert page.evaluate("Object.keys(window.gsEarlyTiles).length") == 0
        tiles = [url for url in page.requests if "/tiles/" in url and ".pbf" in url]
        assert tiles and len(tiles) == len(set(tiles))
        page.wait_for_selector(".gs-summary h3", state="attached")
        assert page.locator(".gs-label").count() == 9
        assert page.locator(".gs-legend").count() == 1
        assert page.locator("#gs-units table").count() == 1
        assert page.problems() == []
    finally:
        settings.map_tile_threshold = threshold


# Zoom the map onto a place and resolve once the parcels' tiles there are drawn.
_ZOOM_TO = """([lat, lon, z]) => new Promise(done => {
  const view = window.geoServiceMaps.page;
  view.parcels.once("load", () => requestAnimationFrame(() => done()));
  view.map.setView([lat, lon], z, {animate: false});
})"""
_ON_SCREEN = """([lat, lon]) => {
  const map = window.geoServiceMaps.page.map, box = map.getContainer().getBoundingClientRect();
  const at = map.latLngToContainerPoint([lat, lon]);
  return [box.left + at.x, box.top + at.y];
}"""


def _tap_a_parcel_below_zoom_12(page, base: str):
    """At zoom 10 a tile holds each parcel's id and status only, under the townships: a
    tap on one still opens its facts, in the page's language, asked for where it fell."""
    import shapely
    from shapely.geometry import shape

    query = "kind=land&status=verified&township=新店镇&limit=1"
    parcel = api_get(f"{base}/api/parcels?{query}")["features"][0]
    where = shapely.point_on_surface(shape(parcel["geometry"]))
    asked = len(page.requests)
    page.evaluate(_ZOOM_TO, [where.y, where.x, 10])
    assert [url for url in page.requests[asked:] if "/tiles/10/" in url]
    x, y = page.evaluate(_ON_SCREEN, [where.y, where.x])
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup-content .gs-popup")
    popup.wait_for()
    said = popup.inner_text()
    facts = parcel["properties"]
    assert facts["code"] in said and "已核验" in said and facts["verified_by"] in said
    assert facts["verified_at"][:10] in said and "新店镇" in said
    assert [url for url in page.requests[asked:] if "/tiles/parcels/at.json" in url]


def test_a_quarter_opened_by_address_is_labelled_and_highlighted(demo_server, browser_page):
    page = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    _as_leader(page, demo_server)
    page.goto(f"{demo_server}/maps/progress?district=晋安区&kind=demolition&quarter=2")
    page.wait_for_selector(".gs-summary h3")
    summary = page.locator(".gs-summary").inner_text()
    # The demo plans 450,000 + 750,000 m² of demolition for Q1 and Q2.
    assert "截至二季度计划" in summary and "1,200,000" in summary
    assert "年度目标" not in summary
    active = page.locator(".gs-timeline button.gs-active")
    assert active.count() == 1 and active.get_attribute("data-q") == "2"
    assert page.locator("path.gs-township").count() == 9


_RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""


@pytest.mark.parametrize("path", ["/maps/progress?kind=land", "/maps/support?kind=land"])
def test_the_pages_satisfy_their_content_security_policy(demo_server, browser_page, path):
    page = browser_page
    page.add_init_script(_RECORD_CSP)
    csp_messages = []
    page.on(
        "console",
        lambda m: csp_messages.append(m.text) if "Content Security Policy" in m.text else None,
    )
    _as_leader(page, demo_server)
    response = page.goto(f"{demo_server}{path}")
    policy = response.headers["content-security-policy"]
    assert (
        "script-src 'self' 'sha256-" in policy
        and "'unsafe-inline'" not in policy.split("style-src")[0]
    )
    page.wait_for_selector("path.gs-township")
    # The page's own scripts ran: the map is drawn, and a poll of the live data went through.
    page.wait_for_function("window.geoServiceMaps !== undefined")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__cspViolations") == []
    assert csp_messages == []
    assert page.problems() == []


def test_the_city_map_colours_districts_and_a_click_opens_a_districts_townships(
    demo_server, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, demo_server, "吴国华", demo.DEMO_PASSWORD)  # the city's leader
    page.goto(f"{demo_server}/maps/progress?district=福州市&kind=land")
    page.wait_for_selector(".gs-summary h3")
    data = api_get(f"{demo_server}/maps/progress/data.json?district=福州市&kind=land")
    districts = {f["properties"]["name"]: f["properties"] for f in data["townships"]["features"]}
    assert page.locator("path.gs-township").count() == len(districts) > 3
    assert page.locator("path.gs-parcel").count() == 0
    assert "区县进度" in page.locator(".gs-legend").inner_text()
    (city,) = api_get(f"{demo_server}/api/tallies?by=city&kind=land")
    summary = page.locator(".gs-summary").inner_text()
    assert "福州市" in summary and f"{city['verified_mu']:,.1f} 亩" in summary
    page.save_screenshot("progress-map-city")
    jinan = districts["晋安区"]
    page.locator(f"path.gs-unit-{jinan['code']}").dispatch_event("click")
    page.wait_for_url("**/maps/progress?district=*")
    page.wait_for_selector("path.gs-parcel")
    assert page.locator("path.gs-township").count() == 9
    assert "晋安区" in page.locator(".gs-summary h3").inner_text()
    page.locator(".gs-summary a.gs-up").click()  # and back up
    page.wait_for_selector(f"path.gs-unit-{jinan['code']}")
    assert page.problems() == []


def test_a_saved_map_shows_each_quarter_of_a_two_year_campaign(demo_server, browser_page, tmp_path):
    """A saved map (no service to ask) of 攻坚2017-2018 holds every quarter under its name:
    2018年第2季度 and 2017年第2季度 each show their own day's figures."""
    from datetime import date

    from geo_service.campaign import campaigns
    from geo_service.database import session_scope
    from geo_service.maps.data import View
    from geo_service.maps.pages import progress_page

    with session_scope() as session:
        longer = campaigns.create_campaign(
            session, name="攻坚2017-2018", first_day=date(2017, 1, 1),
            last_day=date(2018, 12, 31), actor="tests",
        )  # fmt: skip
        view = View(district="晋安区", kind="land", campaign=longer)
        path = tmp_path / "地图.html"
        path.write_text(progress_page(session, view, static=True), encoding="utf-8")
    page = browser_page
    page.goto(path.as_uri())
    page.wait_for_selector(".gs-summary h3")
    for period, said in (("2018Q2", "2018年第2季度末"), ("2017Q2", "2017年第2季度末")):
        page.click(f".gs-timeline button[data-period='{period}']")
        page.wait_for_function(
            f"document.querySelector('.gs-summary').textContent.includes('{said}')"
        )
        pressed = page.locator(".gs-timeline button[aria-pressed='true']")
        assert pressed.get_attribute("data-period") == period
    assert page.problems() == []
