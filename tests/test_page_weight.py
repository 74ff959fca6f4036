"""What a phone on a weak signal downloads (issue 26): text goes compressed, versioned
static files are kept for a year, and pages that draw no map load no map library.
The load times themselves are measured by scripts/bench_web.py, never here."""

import html
import json
import re

import pytest
from conftest import auth, shared_app
from fastapi.testclient import TestClient

from geo_service.maps import assets

GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def client(db):
    with TestClient(shared_app(), headers=auth("land_xd")) as c:
        yield c


def _linked(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/(?:static|maps/static)/[^"]+)"', html)


def test_pages_and_their_scripts_and_styles_go_compressed_and_versioned(client):
    login = client.get("/login", headers=GZIP)
    assert login.headers["content-encoding"] == "gzip"
    vendor = dict(assets.default_js())["leaflet"]
    own = _linked(login.text)
    assert own, "the sign-in page links the service's own CSS/JS"
    for url in [vendor, *own]:
        response = client.get(url, headers=GZIP)
        assert response.status_code == 200, url
        if len(response.content) >= 1000:  # GZipMiddleware's threshold
            assert response.headers["content-encoding"] == "gzip", url
            assert "accept-encoding" in response.headers["vary"].lower(), url
        assert "immutable" in response.headers["cache-control"], url


def test_pages_that_draw_no_map_load_no_map_library(client):
    for path in ("/", "/uploads", "/queue"):
        page = client.get(path)
        assert page.status_code == 200, path
        linked = _linked(page.text)
        assert not [u for u in linked if "/static/vendor/" in u], (path, linked)


def test_a_parcels_page_draws_an_outline_and_fetches_its_map_library_after_loading(
    client, session, tmp_path
):
    from parcelfiles import CM120E, XINDIAN, frame, rectangle, write

    from geo_service.parcels.uploads import ImportOptions, import_file

    path = write(frame([rectangle(XINDIAN, 0, 0, 80, 60)], code=["PW-1"]), tmp_path / "p.gpkg",
                 CM120E, "GPKG")  # fmt: skip
    import_file(session, path, ImportOptions(kind="land", township="新店镇"))
    session.commit()
    page = client.get("/parcels/PW-1")
    assert page.status_code == 200, page.text
    assert not [u for u in _linked(page.text) if "/static/vendor/leaflet" in u]
    # parcel.js draws the outline at once and adds Leaflet from here once the page has loaded.
    library = re.search(r'data-leaflet-js="([^"]+)"', page.text).group(1)
    style = re.search(r'data-leaflet-css="([^"]+)"', page.text).group(1)
    for url in (library, style):
        assert url.startswith("/static/vendor/leaflet/"), url
        assert "immutable" in client.get(url).headers["cache-control"], url


def test_the_field_app_links_leaflet_only_and_fetches_drawing_and_photos_when_needed(client):
    """/field/ is usable once Leaflet and its own script have come: leaflet-geoman and
    exifr with the photos module are named in its configuration, fetched when the user
    first draws or takes a photo, and kept by the service worker for use offline."""
    page = client.get("/field/")
    assert page.status_code == 200, page.text
    linked = _linked(page.text)
    assert any("/static/vendor/leaflet/dist/leaflet.js" in u for u in linked), linked
    assert not [u for u in linked if "geoman" in u or "exifr" in u or "field_photos" in u]
    cfg = json.loads(html.unescape(re.search(r"data-cfg='([^']+)'", page.text).group(1)))
    wanted = [*cfg["on_demand"]["drawing"]["js"], *cfg["on_demand"]["drawing"]["css"],
              *cfg["on_demand"]["photos"]["js"]]  # fmt: skip
    assert any("leaflet-geoman" in u for u in wanted) and any("exifr" in u for u in wanted)
    assert any("field_photos" in u for u in wanted)
    assert cfg["bundle_url"].endswith("?parcels=compact")
    worker = client.get("/field/sw.js").text
    kept = json.loads(worker.split("const SHELL = ", 1)[1].split(";\n", 1)[0])
    for url in wanted:
        assert url in kept, url
        assert "immutable" in client.get(url).headers["cache-control"], url
