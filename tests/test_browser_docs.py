"""The API docs in headless Chromium with the outside network cut: Swagger UI and ReDoc
come from the service's own assets, so both list every operation on an intranet."""

import json
from urllib.request import urlopen

from browser import sign_in
from conftest import TEST_PASSWORD

pytest_plugins = ["browser"]


def _operations(base: str) -> list[tuple[str, str]]:
    with urlopen(f"{base}/openapi.json") as response:
        spec = json.loads(response.read())
    return [(method, path) for path, item in spec["paths"].items() for method in item]


def test_swagger_ui_lists_every_operation_offline(live_server, browser_page):
    page = browser_page
    sign_in(page, live_server, "planner", TEST_PASSWORD)
    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".opblock")
    operations = _operations(live_server)
    assert page.locator(".opblock").count() == len(operations)
    shown = page.locator(".opblock-summary-path").all_inner_texts()
    for path in ("/api/exports/tallies.xlsx", "/ogc/collections/{collectionId}/items"):
        assert any(path in text.replace("\u200b", "") for text in shown), path
    page.save_screenshot("api-docs-swagger")
    assert page.problems() == []
    assert all(url.startswith(live_server) for url in page.requests)


def test_redoc_lists_every_operation_offline(live_server, browser_page):
    page = browser_page
    sign_in(page, live_server, "planner", TEST_PASSWORD)
    page.goto(f"{live_server}/redoc")
    page.wait_for_selector("[data-section-id^='operation/'], [id^='operation/']")
    sections = page.locator("[id^='operation/']")
    assert sections.count() == len(_operations(live_server))
    # ReDoc's one outside request is its own footer logo, which it removes when it fails.
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [p for p in page.problems() if logo not in p] == []
    outside = {u for u in page.requests if not u.startswith((live_server, "blob:", "data:"))}
    assert outside <= {logo}
    assert page.locator("img[alt='redocly logo']").count() == 0
