"""Accessibility (GB/T 37668-2019, WCAG 2.1 AA; docs/accessibility.md): axe-core on every
page each role reaches, on a phone (390×844) and a laptop (1366×768), in headless Chromium
with the outside network cut; the maps used with the keyboard alone; a way home and a
favicon on every page; static files cached for a year under names that change with them."""

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import urlopen

import pytest
from browser import ROOT, record, sign_in
from conftest import load_demo

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
# Pages that are data, not pages for a person, or not ours to change (Swagger UI, ReDoc).
NOT_PAGES = re.compile(r"^/(api/(?!exports/tallies\.html)|docs|redoc)")
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


@pytest.fixture
def demo_server(live_server):
    load_demo()
    return live_server


def _axe_available():
    if not AXE.is_file():
        pytest.fail(f"{AXE} missing: WITH_CHROMIUM=1 scripts/bootstrap.sh installs it (npm ci)")


def _context(chromium, base: str, username: str | None):
    # The pages' CSP rightly refuses inline scripts it did not write: axe is one.
    context = chromium.new_context(locale="zh-CN", bypass_csp=True)
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    if username:
        sign_in(page.page, base, username, demo.DEMO_PASSWORD)
        page.wait_for_url(f"{base}/")
    return context, page


def _settle(page) -> None:
    """The page as a person sees it: a map's layers drawn, a parcel map ready."""
    if page.locator(".folium-map").count():
        page.wait_for_function(
            "document.body.hasAttribute('data-gs-updates') "
            "|| document.body.hasAttribute('data-gs-links')"
        )
    if page.locator("#parcel-map, #report-map").count():
        page.wait_for_selector("#parcel-map[data-ready], #report-map[data-ready]", state="attached")


def _pages_of(page, base: str, username: str | None) -> list[str]:
    """Every page the role's start page leads to, with one parcel's and one upload's page."""
    if username is None:
        return ["/public", "/login", "/parcels"]  # /parcels: sent to sign in
    page.goto(f"{base}/")
    hrefs = page.eval_on_selector_all("main a[href]", "as => as.map(a => a.getAttribute('href'))")
    found = ["/"] + [h for h in hrefs if not NOT_PAGES.match(h)]
    page.goto(f"{base}/parcels")
    parcel = page.locator("table.list tbody a").first
    if parcel.count():
        found.append(parcel.get_attribute("href"))
    page.goto(f"{base}/uploads")
    upload = page.locator("#past-uploads tbody a").first
    if upload.count():
        found.append(upload.get_attribute("href"))
    found.append("/parcels/%23999999")  # the error page
    return list(dict.fromkeys(found))


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


@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe_wcag21_aa_on_a_phone_and_a_laptop(demo_server, chromium, role):
    _axe_available()
    context, page = _context(chromium, demo_server, ROLES[role])
    try:
        problems = []
        paths = _pages_of(page, demo_server, ROLES[role])
        assert len(paths) >= (3 if ROLES[role] is None else 8), paths
        for path in paths:
            for name, (width, height) in VIEWPORTS.items():
                page.set_viewport_size({"width": width, "height": height})
                page.goto(urljoin(demo_server, path), wait_until="load")
                try:
                    _settle(page)
                except TimeoutError as exc:
                    problems.append(f"{role} {path} {name}: not drawn: {exc} {page.page_errors}")
                page.add_script_tag(path=str(AXE))
                where = f"{role} {path} {name}"
                problems += _check(page, where)
                if name == "phone":
                    small = page.evaluate(_SMALL_TEXT, MIN_PHONE_PX)
                    if small:
                        problems.append(f"{where}: {len(small)} texts under 12 px: {small[:3]}")
        assert not problems, "\n".join(problems)
        assert page.page_errors == []
    finally:
        context.close()
