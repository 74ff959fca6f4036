"""The leaders' map pages speak the reader's language, the words geo_service_maps.js
draws included (issue 22 item 1): one visit per map page, on the shared demo load."""

import re

import pytest
import sqlalchemy as sa
from browser import sign_in
from conftest import load_demo
from test_translations import _english_sentences

from geo_service import database, demo
from geo_service.maps.words import SCRIPT_WORDS
from geo_service.web import i18n

pytest_plugins = ["browser"]
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _untranslated(text: str) -> list[str]:
    """The Chinese of the script's words found in an English page's text (place and
    campaign names are Chinese in either language; the words are not)."""
    with database.get_engine().connect() as conn:
        for (name,) in conn.execute(sa.text("SELECT name FROM campaigns")):
            text = text.replace(name, "")
    zh = i18n.translations("zh_CN").gettext
    return [zh(w) for w in SCRIPT_WORDS if _CHINESE.search(zh(w)) and zh(w) in text]


@pytest.fixture
def leader_page(live_server, browser_page):
    load_demo()
    browser_page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(browser_page, live_server, "周建明", demo.DEMO_PASSWORD)
    return browser_page, live_server


def _visible(page) -> str:
    return page.locator("body").inner_text()


def test_the_map_pages_in_english_and_in_chinese(leader_page):
    page, base = leader_page
    # the progress map in English (the choice is kept in the lang cookie)
    page.goto(f"{base}/maps/progress?district=晋安区&kind=land&lang=en")
    page.wait_for_selector("path.gs-parcel")
    page.wait_for_selector(".gs-summary h3")
    assert page.locator("html").get_attribute("lang") == "en"
    legend = page.locator(".gs-legend").inner_text()
    assert "Progress by township (verified ÷ target)" in legend and "Parcel status" in legend
    assert "verified" in legend and "No target" in legend
    summary = page.locator(".gs-summary").inner_text()
    assert "晋安区 land delivery progress" in summary and "9,000.0 mu" in summary
    assert page.locator(".gs-timeline button[data-q='']").inner_text() == "now"
    assert _untranslated(_visible(page)) == []
    # the support map, still in English
    page.goto(f"{base}/maps/support?district=晋安区&kind=land")
    page.wait_for_selector(".gs-legend")
    assert "Cross-township support" in page.locator(".gs-legend").inner_text()
    credit = page.locator("#gs-credit").inner_text()
    assert "Helper → host" in credit and "Township scores (verified, mu)" in credit
    assert _untranslated(_visible(page)) == []
    # the relocation map in Chinese: no English sentence, the words drawn in Chinese
    page.goto(f"{base}/maps/relocation?district=晋安区&lang=zh_CN")
    page.wait_for_selector(".gs-summary h3")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    summary = page.locator(".gs-summary").inner_text()
    assert "晋安区 回迁进度" in summary and "应回迁户数" in summary and " 户" in summary
    assert "安置项目交房进度" in page.locator(".gs-legend").inner_text()
    zoom = page.eval_on_selector_all(".leaflet-control-zoom a", "a => a.map(x => x.title)")
    assert zoom == ["放大", "缩小"]  # folium draws them with Leaflet's English titles
    text = _visible(page)
    assert _english_sentences(f"<p>{text}</p>") == [], _english_sentences(f"<p>{text}</p>")
    assert page.problems() == []
