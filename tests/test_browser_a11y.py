"""Accessibility (GB/T 37668-2019, WCAG 2.1 AA; docs/accessibility.md): axe-core on every
page each role reaches, on a phone (390×844) and a laptop (1366×768), in headless Chromium
with the outside network cut; the maps used with the keyboard alone; a way home and a
favicon on every page; static files cached for a year under names that change with them."""

import hashlib
from urllib.parse import parse_qs, urljoin, urlsplit
from urllib.request import urlopen

import pytest
from browser import ROOT, pages_of, record, settle, sign_in
from conftest import api_get

from geo_service import demo

pytest_plugins = ["browser"]

AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS = {"phone": (390, 844), "laptop": (1366, 768)}
# Who signs in for each role (the demo's people); None: nobody signed in.
ROLES = {
    "public": None,
    "verifier": "林志伟",  # 土地核验组, three townships of 晋安区
    "leader": "吴国华",  # the city's leader: city map, city board
    "planner": "许晓燕",  # reads one district
}
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


def _context(chromium, base: str, username: str | None, locale: str = "zh-CN"):
    # The pages' CSP rightly refuses inline scripts it did not write: axe is one. The
    # browser's locale is its Accept-Language, which picks the pages' language.
    context = chromium.new_context(locale=locale, bypass_csp=True)
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    if username:
        sign_in(page.page, base, username, demo.DEMO_PASSWORD)
        page.wait_for_url(f"{base}/")
    return context, page


def _pages_of(page, base: str, username: str | None) -> list[str]:
    """Every page the role's start page leads to, and the error page; nobody signed in:
    the public pages and a page that sends to sign in."""
    if username is None:
        return ["/public", "/login", "/parcels"]  # /parcels: sent to sign in
    return [*pages_of(page, base), "/parcels/%23999999"]


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


def _check(page, where: str) -> list[str]:
    found = [f"{where}: no {m}" for m in page.evaluate(_STRUCTURE)]
    for violation in page.evaluate(_RUN_AXE, WCAG_AA):
        if violation["impact"] in ("serious", "critical"):
            found.append(
                f"{where}: {violation['id']} ({violation['impact']}) {violation['help']}: "
                f"{violation['nodes']}"
            )
    return found


# (locale, screen, path) already checked under an earlier role: a page two roles reach
# (the register, rankings, board for a leader and a planner) is the same template, checked
# once per language and screen, which keeps the run short.
_CHECKED: set[tuple[str, str, str]] = set()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe_wcag21_aa_on_a_phone_and_a_laptop(
    demo_server, chromium, role, locale
):
    _axe_available()
    context, page = _context(chromium, demo_server, ROLES[role], locale)
    try:
        problems = []
        paths = _pages_of(page, demo_server, ROLES[role])
        assert len(paths) >= (3 if ROLES[role] is None else 8), paths
        for path in paths:
            for name, (width, height) in VIEWPORTS.items():
                if (locale, name, path) in _CHECKED:
                    continue
                _CHECKED.add((locale, name, path))
                page.set_viewport_size({"width": width, "height": height})
                page.goto(urljoin(demo_server, path), wait_until="load")
                try:
                    settle(page)
                except TimeoutError as exc:
                    problems.append(f"{role} {path} {name}: not drawn: {exc} {page.page_errors}")
                page.add_script_tag(path=str(AXE))
                where = f"{role} {locale} {path} {name}"
                problems += _check(page, where)
                if name == "phone":
                    small = page.evaluate(_SMALL_TEXT, MIN_PHONE_PX)
                    if small:
                        problems.append(f"{where}: {len(small)} texts under 12 px: {small[:3]}")
        assert not problems, "\n".join(problems)
        assert page.page_errors == []
    finally:
        context.close()


def _focused(page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def _tab_to(page, selector: str, limit: int = 80) -> list[str]:
    """Presses Tab until the focus is on `selector`; returns what it passed on the way."""
    passed = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return passed
        passed.append(page.evaluate("document.activeElement.outerHTML.slice(0, 60)"))
    raise AssertionError(f"{selector} not reached in {limit} tabs: {passed}")


def test_the_maps_work_with_the_keyboard_alone(demo_server, browser_page):
    """Tab from the top of the page: home first, then the map's controls, then the
    townships; arrows move between townships, Enter opens one on the map with its figures;
    on the city map a district opens its own map."""
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, demo_server, "吴国华", demo.DEMO_PASSWORD)
    page.goto(f"{demo_server}/maps/progress?district=晋安区&kind=land")
    page.wait_for_selector(".gs-unit")
    passed = _tab_to(page, "a.gs-home")
    assert passed == []  # the way home comes first
    passed = _tab_to(page, ".gs-unit")
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
    _tab_to(page, ".gs-unit")
    while _focused(page) != "晋安区":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    _tab_to(page, "#gs-unit-detail a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector(".gs-unit")
    assert "district=" in page.url and page.locator("h1").inner_text().startswith("晋安区")

    # Relocation: the sites, one opened with its households.
    page.goto(f"{demo_server}/maps/relocation?district=晋安区")
    page.wait_for_selector(".gs-unit")
    _tab_to(page, ".gs-unit")
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
