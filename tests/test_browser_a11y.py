"""Accessibility (GB/T 37668-2019, WCAG 2.1 AA; docs/accessibility.md) and fit: one crawl
of every page each role reaches, on a phone (390×844, touch) and a laptop (1366×768), in
both languages, in headless Chromium with the outside network cut, each page opened once
per screen and language for axe-core and the phone checks (test_browser_phones) together;
the maps used with the keyboard alone; a way home and a favicon on every page; static
files cached for a year under names that change with them."""

import hashlib
from datetime import date
from urllib.parse import parse_qs, urljoin, urlsplit
from urllib.request import urlopen

import pytest
import test_browser_phones as phones
from browser import ROOT, pages_of, record, settle, sign_in, tab_to
from conftest import api_get
from test_browser_phones import PHONE, fits, language_problems

from geo_service import database, demo
from geo_service.campaign import campaigns

pytest_plugins = ["browser"]

AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LAPTOP = dict(viewport={"width": 1366, "height": 768})
# Who signs in for each role (the demo's people, test_browser_phones); None: nobody.
ROLES = {"public": None, **phones.ROLES}
# Text smaller than this on a phone is hard to read (the pages' own rule; not axe's).
MIN_PHONE_PX = 12

_RUN_AXE = """tags => axe.run(document, {runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))})))"""
# Visible text in a smaller font than `min` px: the element, its size and its text.
_SMALL_TEXT = """min => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") continue;
    const rect = el.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1) continue;  // visually hidden, read aloud only
    const size = parseFloat(style.fontSize);
    if (size < min) small.push(el.tagName.toLowerCase() + "." + el.className + " "
                               + size + "px: " + node.textContent.trim().slice(0, 30));
  }
  return small;
}"""


def _axe_available():
    if not AXE.is_file():
        pytest.fail(f"{AXE} missing: WITH_CHROMIUM=1 scripts/bootstrap.sh installs it (npm ci)")


def _context(chromium, base: str, username: str | None, locale: str, device: dict, signed=None):
    """A browser for one role, language and screen, axe in every page it opens; signed in
    through the sign-in page, or carrying the cookies of an earlier context (`signed`:
    argon2 is slow on purpose). The browser's locale is its Accept-Language, which picks
    the pages' language."""
    context = chromium.new_context(locale=locale, storage_state=signed, **device)
    # An init script comes through the DevTools protocol, which the pages' CSP does not
    # govern: axe runs on the pages exactly as they are served (CSP included).
    context.add_init_script(path=str(AXE))
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    if username and signed is None:
        sign_in(page.page, base, username, demo.DEMO_PASSWORD)
        page.wait_for_url(f"{base}/")
    return context, page


def _pages_of(page, base: str, username: str | None) -> list[str]:
    """Every page the role's start page leads to, the error page and the sign-in page
    (opened last, signed out); nobody signed in: the public pages and a page that sends to
    sign in."""
    if username is None:
        return ["/public", "/login", "/parcels"]  # /parcels: sent to sign in
    paths = [*pages_of(page, base), "/parcels/%23999999"]
    assert len(paths) >= 9, paths
    return [*paths, "/login"]


# What every page has: a way home, a favicon, one h1 and one main landmark.
_STRUCTURE = """() => {
  const missing = [];
  if (!document.querySelector("header a[href='/']")) missing.push("a header link home");
  if (!document.querySelector("link[rel~=icon]")) missing.push("a favicon link");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) missing.push(h1 + " h1 (one wanted)");
  if (document.querySelectorAll("main, [role=main]").length !== 1) missing.push("one <main>");
  return missing;
}"""


def _accessible(page, where: str, phone: bool) -> list[str]:
    found = [f"{where}: no {m}" for m in page.evaluate(_STRUCTURE)]
    for violation in page.evaluate(_RUN_AXE, WCAG_AA):
        if violation["impact"] in ("serious", "critical"):
            found.append(
                f"{where}: {violation['id']} ({violation['impact']}) {violation['help']}: "
                f"{violation['nodes']}"
            )
    if phone:
        small = page.evaluate(_SMALL_TEXT, MIN_PHONE_PX)
        if small:
            found.append(f"{where}: {len(small)} texts under 12 px: {small[:3]}")
    return found


# (screen, language, path) already checked: a page two roles reach (the register, rankings,
# the board) is the same template, checked once per language and screen, except on the
# phone in Chinese, where each role's own forms and buttons must fit (what it may do
# differs), which keeps the run short.
_CHECKED: set[tuple[str, str, str]] = set()
PASSES = (
    ("phone", "zh-CN", PHONE), ("laptop", "zh-CN", LAPTOP),
    ("phone", "en", PHONE), ("laptop", "en", LAPTOP),
)  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe_and_fits_a_phone_and_an_office_pc_in_both_languages(
    demo_server, chromium, role
):
    """One crawl of every page a role reaches, each page opened once per screen and
    language: axe-core (WCAG 2.1 AA) and the page's structure, no text under 12 px on a
    phone, no sideways scroll, 44 px tap targets on a phone, and only the page's language
    (test_browser_phones.fits and language_problems), all on the same load."""
    _axe_available()
    problems, paths, signed = [], None, None
    for screen, locale, device in PASSES:
        context, page = _context(chromium, demo_server, ROLES[role], locale, device, signed)
        try:
            if paths is None:
                signed = context.storage_state()
                paths = _pages_of(page, demo_server, ROLES[role])
            every = (screen, locale) == PASSES[0][:2]
            for path in paths:
                key = (screen, locale, path)
                if key in _CHECKED and not every:
                    continue
                if path == "/login":
                    context.clear_cookies()
                page.goto(urljoin(demo_server, path), wait_until="load")
                where = f"{role} {locale} {screen} {path}"
                try:
                    settle(page)
                except TimeoutError as exc:
                    problems.append(f"{where}: not drawn: {exc} {page.page_errors}")
                if key not in _CHECKED:
                    problems += _accessible(page, where, screen == "phone")
                    _CHECKED.add(key)
                problems += fits(page, where, screen == "phone")
                problems += language_problems(page, locale, where)
            assert page.page_errors == [], page.page_errors
        finally:
            context.close()
    assert not problems, "\n".join(problems)


def _focused(page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def test_the_maps_work_with_the_keyboard_alone(demo_server, browser_page):
    """Tab from the top of the page: home first, then the map's controls, then the
    townships; arrows move between townships, Enter opens one on the map with its figures;
    on the city map a district opens its own map."""
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, demo_server, "吴国华", demo.DEMO_PASSWORD)
    page.goto(f"{demo_server}/maps/progress?district=晋安区&kind=land")
    page.wait_for_selector(".gs-unit")
    passed = tab_to(page, "a.gs-home")
    assert passed == []  # the way home comes first
    passed = tab_to(page, ".gs-unit")
    assert any("leaflet-control-zoom-in" in p for p in passed), passed  # zoom reachable
    assert any('type="search"' in p for p in passed), passed
    visible = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert visible != "none"  # the focus is seen
    first = _focused(page)
    page.keyboard.press("ArrowDown")
    second = _focused(page)
    assert second != first
    page.keyboard.press("ArrowUp")
    assert _focused(page) == first
    page.keyboard.press("ArrowDown")
    zoom = page.evaluate("geoServiceMaps.page.map.getZoom()")
    page.keyboard.press("Enter")
    detail = page.locator("#gs-unit-detail")
    tally = next(
        t
        for t in api_get(f"{demo_server}/api/tallies?by=township&kind=land&district=晋安区")
        if t["township"] == second
    )
    text = detail.inner_text()
    assert second in text and f"{tally['verified_mu']:,.1f} 亩" in text, text
    assert f"{tally['progress'] * 100:.1f}%" in text, text
    assert page.evaluate("geoServiceMaps.page.map.getZoom()") > zoom  # shown on the map
    assert page.locator(".gs-unit[aria-current=true]").inner_text() == second
    assert page.locator("#gs-unit-detail[role=status]").count() == 1  # read out when opened
    page.save_screenshot("keyboard-progress-map-1366")

    # The city: a district's row opens it, its figures lead to its townships.
    page.goto(f"{demo_server}/maps/progress")
    page.wait_for_selector(".gs-unit")
    tab_to(page, ".gs-unit")
    while _focused(page) != "晋安区":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    tab_to(page, "#gs-unit-detail a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector(".gs-unit")
    assert "district=" in page.url and page.locator("h1").inner_text().startswith("晋安区")

    # Relocation: the sites, one opened with its households.
    page.goto(f"{demo_server}/maps/relocation?district=晋安区")
    page.wait_for_selector(".gs-unit")
    tab_to(page, ".gs-unit")
    site = _focused(page)
    page.keyboard.press("Enter")
    assert site in page.locator("#gs-unit-detail").inner_text()
    assert "户已交房" in page.locator("#gs-unit-detail").inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    page.save_screenshot("keyboard-relocation-map-390")
    assert page.problems() == []


def _linked(page, base: str) -> set[str]:
    urls = page.eval_on_selector_all(
        "link[href], script[src]", "es => es.map(e => e.href || e.src)"
    )
    return {u for u in urls if u.startswith(base) and "/static/" in u}


def test_static_files_are_named_by_their_content_and_kept_a_year(demo_server, browser_page):
    """Every CSS/JS/icon URL of the pages changes with the file (?v=<sha256[:12]> of it, or
    the npm package's version) and is cached for a year; /favicon.ico is served."""
    page = browser_page
    sign_in(page, demo_server, "吴国华", demo.DEMO_PASSWORD)
    urls = set()
    for path in ("/", "/board", "/public", "/maps/progress?district=晋安区", "/parcels"):
        page.goto(f"{demo_server}{path}")
        urls |= _linked(page, demo_server)
    own = {u for u in urls if "/static/vendor/" not in u}
    assert any("/maps/static/" in u for u in own) and any("/static/web/" in u for u in own)
    for url in urls:
        with urlopen(url) as response:
            body = response.read()
            assert "max-age=31536000" in response.headers["Cache-Control"], url
            assert "immutable" in response.headers["Cache-Control"], url
        if url in own:
            version = parse_qs(urlsplit(url).query)["v"][0]
            assert version == hashlib.sha256(body).hexdigest()[:12], url
    with urlopen(f"{demo_server}/favicon.ico") as response:
        assert response.headers["Content-Type"] == "image/x-icon"
        assert response.read()[:4] == b"\x00\x00\x01\x00"  # an icon file


def test_a_campaign_over_two_years_has_every_quarter_on_a_phone(demo_server, chromium):
    """攻坚2017-2018: the timeline has a button for each of its eight quarters, named with
    its year, in one row no wider than the phone that scrolls sideways; the Tab key reaches
    2018年第2季度, Enter shows it (asked for as 2018Q2) and it alone is pressed."""
    with database.session_scope() as session:
        campaigns.create_campaign(
            session, name="攻坚2017-2018", first_day=date(2017, 1, 1),
            last_day=date(2018, 12, 31), actor="tests",
        )  # fmt: skip
    _axe_available()
    context = chromium.new_context(locale="zh-CN", **PHONE)
    context.add_init_script(path=str(AXE))
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    try:
        sign_in(page.page, demo_server, phones.ROLES["district leader"], demo.DEMO_PASSWORD)
        page.goto(f"{demo_server}/maps/progress?district=晋安区&kind=land&campaign=攻坚2017-2018")
        page.wait_for_selector(".gs-timeline button[data-period='2018Q4']")
        buttons = page.locator(".gs-timeline button")
        periods = [buttons.nth(n).get_attribute("data-period") for n in range(buttons.count())]
        assert periods == [""] + [f"{y}Q{q}" for y in (2017, 2018) for q in (1, 2, 3, 4)]
        later = page.locator(".gs-timeline button[data-period='2018Q2']")
        assert later.inner_text() == "2018年第2季度"
        assert later.get_attribute("title") == "2018年第2季度末"
        assert page.locator(".gs-timeline-title").inner_text() == "2017—2018年"
        row = page.evaluate(
            "(() => { const t = document.querySelector('.gs-timeline');"
            " const r = t.getBoundingClientRect();"
            " return [r.left, r.right, t.scrollWidth > t.clientWidth]; })()"
        )
        assert row[0] >= 0 and row[1] <= 390 and row[2], row
        # The row stops short of the legend's button (its buttons scroll inside it).
        assert page.evaluate(phones._COVERED, [".gs-legend-box", ".gs-timeline"]) == []
        tab_to(page, ".gs-timeline button[data-period='2018Q2']")
        # The focused button is scrolled into the row's view.
        shown = page.evaluate(
            "(() => { const t = document.querySelector('.gs-timeline').getBoundingClientRect();"
            " const b = document.activeElement.getBoundingClientRect();"
            " return [b.left >= t.left - 1 && b.right <= t.right + 1, b.left, b.right, t.left,"
            " t.right]; })()"
        )
        assert shown[0], shown
        page.keyboard.press("Enter")
        page.wait_for_function(
            "document.querySelector('.gs-summary').textContent.includes('2018年第2季度末')"
        )
        assert any("quarter=2018Q2" in url for url in page.requests)
        pressed = page.locator(".gs-timeline button[aria-pressed='true']")
        assert pressed.count() == 1 and pressed.get_attribute("data-period") == "2018Q2"
        assert "gs-active" in pressed.get_attribute("class")
        assert fits(page, "the progress map of a two-year campaign", phone=True) == []
        page.save_screenshot("progress-map-two-years-390")
        assert _accessible(page, "a two-year campaign's map", phone=True) == []
        assert page.problems() == []
    finally:
        context.close()
