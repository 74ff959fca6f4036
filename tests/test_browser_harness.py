"""The browser harness and the map assets: folium maps drawn by headless Chromium with the
outside network cut, from the service's own /static/vendor route or from one saved file."""

from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import urlopen

import folium
import pytest
from branca.element import Element

from geo_service.maps import assets

pytest_plugins = ["browser"]  # fixtures: live_server, browser_page (see tests/browser.py)

SQUARES = [  # (name, lon, lat): small squares in Jin'an
    ("新店-1", 119.30, 26.12),
    ("新店-2", 119.32, 26.12),
    ("鼓山-1", 119.34, 26.08),
    ("鼓山-2", 119.36, 26.08),
    ("岳峰-1", 119.31, 26.09),
]


def _collection(squares) -> dict:
    d = 0.008
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": name, "area_mu": 100 + i},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]],
                    ],
                },
            }
            for i, (name, x, y) in enumerate(squares)
        ],
    }


def _map() -> folium.Map:
    """What the pages use: GeoJson layers, tooltips, popups, layer control, scale, a marker."""
    fmap = folium.Map(location=[26.1, 119.33], zoom_start=12, tiles=None, control_scale=True)
    land = folium.FeatureGroup(name="交地").add_to(fmap)
    folium.GeoJson(
        _collection(SQUARES[:3]),
        style_function=lambda f: {"color": "#2a6", "fillOpacity": 0.4},
        tooltip=folium.GeoJsonTooltip(["code"], aliases=["编号"]),
        popup=folium.GeoJsonPopup(["code", "area_mu"]),
    ).add_to(land)
    folium.GeoJson(
        _collection(SQUARES[3:]),
        name="拆迁",
        style_function=lambda f: {"color": "#c33"},
        tooltip=folium.Tooltip("拆迁地块"),
    ).add_to(fmap)
    folium.Marker([26.1, 119.33], tooltip="晋安区政府").add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap


def _assert_drawn(page) -> None:
    page.wait_for_selector("path.leaflet-interactive")
    assert page.locator("path.leaflet-interactive").count() == len(SQUARES)
    assert page.locator(".leaflet-marker-icon").count() == 1
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-layers").count() == 1
    assert page.evaluate("typeof window.jQuery") == "undefined"
    # Tooltips and popups are plain Leaflet: no jQuery, Bootstrap or Font Awesome.
    first = page.locator("path.leaflet-interactive").first
    first.hover()
    assert "新店-1" in page.locator(".leaflet-tooltip").first.inner_text()
    first.click()
    assert "新店-1" in page.locator(".leaflet-popup-content").inner_text()
    page.wait_for_timeout(300)  # the popup's fade-in, for the screenshot


def test_folium_map_with_local_assets_draws_from_the_live_server(live_server, browser_page):
    page = browser_page
    fmap = assets.use_local_assets(_map())
    assets.check_map(fmap)
    html = fmap.get_root().render()
    assert "cdn" not in html and "jquery" not in html.lower()

    # The page itself comes from the test; everything it loads comes from the real service.
    page_url = f"{live_server}/__harness/map.html"
    page.route(page_url, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(page_url)
    page.wait_for_load_state("networkidle")
    _assert_drawn(page)
    page.wait_for_load_state("networkidle")
    page.save_screenshot("harness-folium-map")

    assert page.problems() == []
    hosts = {urlsplit(u).netloc for u in page.requests if not u.startswith("data:")}
    assert hosts == {urlsplit(live_server).netloc}
    paths = {urlsplit(u).path for u in page.requests}
    assert {
        "/static/vendor/leaflet/dist/leaflet.js",
        "/static/vendor/leaflet/dist/leaflet.css",
        "/static/vendor/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
        "/static/vendor/leaflet/dist/images/layers.png",  # from leaflet.css
        "/static/vendor/leaflet/dist/images/marker-icon.png",  # Icon.Default, found via the CSS
        "/static/vendor/leaflet/dist/images/marker-shadow.png",
    } <= paths
    assert page.evaluate("typeof L.vectorGrid.protobuf") == "function"


def test_harness_records_failures(live_server, browser_page):
    page = browser_page
    html = (
        f'<script src="{live_server}/static/vendor/nope.js"></script>'
        '<script src="https://unpkg.com/leaflet/dist/leaflet.js"></script>'
        "<script>console.error('boom'); undefinedCall();</script>"
    )
    page_url = f"{live_server}/__harness/broken.html"
    page.route(page_url, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(page_url)
    assert any("boom" in m for m in page.console_errors)
    assert any("undefinedCall" in m for m in page.page_errors)
    assert any("unpkg.com" in m for m in page.failed_requests)  # the outside is cut off
    assert any(m.startswith("404 ") and "nope.js" in m for m in page.bad_responses)


def test_inline_export_renders_with_all_network_blocked(browser_page, tmp_path):
    page = browser_page
    fmap = _map()
    fmap.default_js, fmap.default_css = [], []
    fmap.get_root().header.add_child(Element(assets.inline_html()))
    assets.check_map(fmap)
    path = tmp_path / "地图.html"
    fmap.save(str(path))
    html = path.read_text(encoding="utf-8")
    assert "/static/vendor" not in html and "sourceMappingURL" not in html

    asked = []

    def only_the_file(route):  # the saved file itself opens; anything else is refused
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            asked.append(route.request.url)
            route.abort()

    page.context.set_offline(True)
    page.route("**/*", only_the_file)
    page.goto(path.as_uri())
    _assert_drawn(page)
    assert page.locator(".leaflet-marker-icon").get_attribute("src").startswith("data:image/png")
    page.save_screenshot("harness-inline-export")

    assert asked == []
    assert page.requests == [path.as_uri()]
    assert page.problems() == []


def test_vendor_route_serves_listed_files_with_cache_headers(live_server):
    js_url = dict(assets.default_js())["leaflet"]
    assert js_url.startswith("/static/vendor/leaflet/dist/leaflet.js?v=1.9.")
    with urlopen(live_server + js_url) as response:
        assert response.status == 200
        assert "javascript" in response.headers["Content-Type"]
        assert "immutable" in response.headers["Cache-Control"]
        assert b"Leaflet" in response.read(2000)
    with urlopen(f"{live_server}/static/vendor/leaflet/dist/images/layers.png") as response:
        assert response.headers["Cache-Control"] == "public, max-age=86400"
    for unlisted in ("leaflet/package.json", "../package.json", "pbf/index.js"):
        with pytest.raises(HTTPError) as caught:
            urlopen(f"{live_server}/static/vendor/{unlisted}")
        assert caught.value.code == 404


def test_check_map_refuses_cdn_links_and_jquery_features():
    fmap = assets.use_local_assets(_map())
    assets.check_map(fmap)

    plain = folium.Map(tiles=None)
    with pytest.raises(assets.RemoteAsset, match="jquery"):
        assets.check_map(plain)

    with_popup = assets.use_local_assets(_map())
    folium.Marker([26.1, 119.3], popup="<b>弹窗</b>").add_to(with_popup)
    with pytest.raises(assets.RemoteAsset, match="folium.Popup"):
        assets.check_map(with_popup)


def test_missing_assets_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "NODE_MODULES", tmp_path)
    with pytest.raises(assets.AssetsMissing, match="geo-service assets install"):
        assets.default_js()
