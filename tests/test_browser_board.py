"""The wall board and the public page in headless Chromium, with the outside network cut."""

import csv
import re
from pathlib import Path

import pytest
from browser import sign_in
from conftest import api_get

from geo_service import demo

pytest_plugins = ["browser"]
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "geo_service" / "data"


def _names_and_codes() -> tuple[set[str], set[str]]:
    """Every person's name and parcel code in the demo data, read from its files."""
    names: set[str] = set()
    for folder in ("parcels", "campaign"):
        with (DATA / folder / "demo_users.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                names |= {row["username"], row["display_name"]}
    for path in (DATA / "parcels/demo_projects.csv", DATA / "campaign/projects.csv"):
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                names |= {row["first_responsible"], row["direct_responsible"]}
    with (DATA / "campaign/problems.csv").open(encoding="utf-8") as handle:
        names |= {row["person"] for row in csv.DictReader(handle)}
    import geopandas as gpd

    codes: set[str] = set()
    for folder in ("parcels", "campaign"):
        with (DATA / folder / "manifest.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                codes |= set(gpd.read_file(DATA / folder / row["file"])["code"])
    return names - {""}, codes


def test_board_cards_match_the_api_on_a_wall_screen_and_print_on_one_a3_page(
    demo_server, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{demo_server}/board")
    assert "/login" in page.url  # the board is for signed-in users
    sign_in(page, demo_server, "吴国华", demo.DEMO_PASSWORD)  # the city's leader
    page.goto(f"{demo_server}/board?district=晋安区&period=2017Q2")
    page.wait_for_selector(".gs-card")
    ranking = api_get(f"{demo_server}/api/rankings?level=township&district=晋安区&period=2017Q2")
    tallies = api_get(f"{demo_server}/api/tallies?by=township&kind=land&as_of=2017-06-30")
    assert page.locator(".gs-card").count() == 9 == len(ranking["rows"])
    for row in ranking["rows"]:
        card = page.locator(f".gs-card[data-unit='{row['unit']}']")
        assert card.locator(".gs-rank-value").inner_text() == str(row["rank"])
        land = next(t for t in tallies if t["township"] == row["unit"])
        done = card.locator(".gs-kind-land .gs-done").inner_text()
        assert done == f"{land['verified_mu']:,.1f}"
        assert card.locator(".gs-kind-land .gs-target").inner_text() == f"{land['target_mu']:,.1f}"
        assert card.locator(".gs-kind-land .gs-pct").inner_text() == f"{land['progress']:.1%}"
        behind = any(
            row[k] is not None and row[k]["value"] is not None and row[k]["value"] < 1
            for k in ("land", "demolition")
        )
        assert (card.locator(".gs-flag").count() == 1) is behind
        assert card.locator(".gs-recent div").count() >= 1
    # Sorted by rank: the first card is ranked 1; the whole board fits the screen.
    assert page.locator(".gs-card").first.locator(".gs-rank-value").inner_text() == "1"
    size = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size[0] <= 1920 and size[1] <= 1080, size
    page.save_screenshot("board-1920x1080")
    # The board is for the office: it names the responsible persons (the public page must
    # not, and is checked against the same list).
    names, _ = _names_and_codes()
    assert any(name in page.content() for name in names)
    # Sorting by land progress reorders the cards in place.
    page.click(".gs-sort button[data-sort='progress']")
    shown = [float(x) for x in page.locator(".gs-card").evaluate_all(
        "cards => cards.map(c => c.dataset.progress)")]  # fmt: skip
    assert shown == sorted(shown, reverse=True)
    assert page.evaluate("location.hash") == "#sort=progress"
    # Print: one A3 page.
    pdf = page.pdf(format="A3", landscape=True, print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    # City level: one card per district with parcels or targets, ranks from the API.
    page.goto(f"{demo_server}/board?level=district&period=2017Q2")
    districts = api_get(f"{demo_server}/api/rankings?level=district&period=2017Q2")
    assert page.locator(".gs-card").count() == len(districts["rows"])
    for row in districts["rows"]:
        card = page.locator(f".gs-card[data-unit='{row['unit']}']")
        expected = "未排名" if row["rank"] is None else str(row["rank"])
        assert card.locator(".gs-rank-value").inner_text() == expected
    page.save_screenshot("board-city-1920x1080")
    assert page.problems() == []
    assert all(url.startswith(demo_server) for url in page.requests)


def test_public_page_has_the_figures_and_no_name_or_parcel_code(demo_server, browser_page):
    page = browser_page  # never signed in: the public page is anonymous
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{demo_server}/public")
    assert page.url.endswith("/public")
    page.wait_for_selector("#gs-city")
    city = {r["kind"]: r for r in api_get(f"{demo_server}/api/tallies?by=city")}
    row = page.locator("#gs-city tr[data-kind='land']").inner_text()
    assert f"{city['land']['verified_mu']:,.1f}" in row
    assert f"{city['land']['progress']:.1%}" in row
    townships = api_get(f"{demo_server}/api/tallies?by=township&kind=demolition")
    for t in townships:
        cells = page.locator(
            f".gs-district[data-district='{t['district']}'] "
            f"tr[data-township='{t['township']}'][data-kind='demolition']"
        ).inner_text()
        # The page rounds the exact area to 0.1 m²; the API gives it to 0.01 m².
        shown = float(cells.split("\t")[2].replace(",", ""))
        assert shown == pytest.approx(t["verified_m2"], abs=0.051)
    projects = api_get(f"{demo_server}/api/projects")["counts"]
    total = page.locator("#gs-projects .gs-total").inner_text().split()
    assert total == ["全市", *(str(n) for n in projects["by_category"].values()),
                     str(projects["total"])]  # fmt: skip
    html = page.content()
    names, codes = _names_and_codes()
    assert len(names) > 40 and len(codes) > 500  # the reading found them
    assert [n for n in names if n in html] == []
    assert [c for c in codes if c in html] == []
    page.save_screenshot("public-1920x1080")
    assert page.problems() == []
    assert all(url.startswith(demo_server) for url in page.requests)


def test_on_a_phone_the_boards_top_links_cover_no_heading(demo_server, chromium):
    """The way home and the language switch sit above the heading, 44 px targets on a
    phone: they overlapped its first line (the header's room was 36 px)."""
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        sign_in(page, demo_server, "周建明", demo.DEMO_PASSWORD)
        page.goto(f"{demo_server}/board?district=晋安区")
        boxes = {
            name: page.locator(selector).bounding_box()
            for name, selector in (("home", ".gs-home"), ("language", ".gs-board-head .lang"),
                                   ("heading", ".gs-board-head h1"))
        }  # fmt: skip
        top = boxes["heading"]["y"]
        assert all(boxes[k]["y"] + boxes[k]["height"] <= top for k in ("home", "language")), boxes
    finally:
        context.close()
