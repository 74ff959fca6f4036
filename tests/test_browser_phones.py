"""Every page fits a phone and an office PC (issue 22 item 2): `fits` (no sideways scroll;
on a phone every control a 44 px tap target) and `language_problems` (in zh-CN no English
sentence, in en no Chinese text from the catalogs), which the crawl of every page of every
role in test_browser_a11y makes on each page it opens; and a leader's maps on a phone, with
real taps (a verifier's work on a phone is walked with the PC's in test_browser_workbench)."""

import re
from functools import cache

import sqlalchemy as sa
from babel.messages.pofile import read_po
from browser import ROOT, record, sign_in, tab_to, to_docs
from test_translations import _english_sentences

from geo_service import database, demo

pytest_plugins = ["browser"]

PHONE = dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
# The demo's people, one per role (docs/guide-*.md).
ROLES = {
    "verifier": "林志伟",  # 土地核验组
    "officer": "张伟",  # 新店镇
    "district leader": "周建明",  # 晋安区
    "city leader": "吴国华",
    "planner": "许晓燕",
}
# A finger's target, px either way (WCAG 2.5.5).
MIN_TAP = 44

# The page's width against the window's (a phone's layout width: a mobile browser zooms
# out to show a wider page whole, so window.innerWidth grows with the page there), and the
# outermost elements that stick out.
_WIDER = """() => {
  const width = document.documentElement.clientWidth, wide = [];
  const scroll = document.documentElement.scrollWidth;
  if (scroll <= width && scroll <= window.innerWidth) return {scroll, inner: width, wide};
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && r.width > 0 && !out.some(o => o.contains(el))) {
      out.push(el);
      wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                + (typeof el.className === "string" ? "." + el.className : "")
                + " " + Math.round(r.right));
    }
  }
  return {scroll, inner: width, wide: wide.slice(0, 5)};
}"""
# Controls a finger must hit, smaller than `min` px either way. Links inside a sentence are
# exempt (WCAG 2.5.5's inline exception); so are the places drawn on a map, whose size is
# the ground's: each is also a row of the figures beside the map, a full-size button.
_SMALL_TARGETS = """min => {
  const small = [];
  const controls = document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]");
  for (const el of controls) {
    if (!el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden") continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;  // visually hidden
    if (el.closest(".leaflet-control-attribution, .leaflet-marker-icon, .leaflet-interactive"))
      continue;
    const box = el.closest("label") || el;
    const b = box.getBoundingClientRect();
    if (Math.max(r.height, b.height) + 0.5 >= min && Math.max(r.width, b.width) + 0.5 >= min)
      continue;
    if (el.tagName === "A") {
      const block = el.parentElement;
      const own = (el.textContent || "").trim().length;
      if ((block.textContent || "").trim().length > own + 2) continue;  // in a sentence
    }
    const name = el.textContent || el.getAttribute("aria-label") || el.name || "";
    small.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " "
               + Math.round(r.width) + "×" + Math.round(r.height) + " " + name.trim().slice(0, 20));
  }
  return small;
}"""


def fits(page, where: str, phone: bool) -> list[str]:
    """What is wrong with the page as laid out now: sideways scroll, small tap targets."""
    found = []
    measured = page.evaluate(_WIDER)
    if measured["scroll"] > measured["inner"]:
        found.append(
            f"{where}: {measured['scroll']} px wide in a {measured['inner']} px window: "
            f"{measured['wide']}"
        )
    if phone:
        small = page.evaluate(_SMALL_TARGETS, MIN_TAP)
        if small:
            found.append(f"{where}: {len(small)} tap targets under {MIN_TAP} px: {small[:6]}")
    return found


@cache
def _names() -> str:
    """Every name people gave (projects, parcels, places, resettlement sites, people and
    their groups): their words, which a catalog's word (安置房, 号地块) may be part of, and
    which a catalog's example (the CLI's `users add 林志伟`) may hold."""
    with database.get_engine().connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT name FROM projects UNION SELECT name FROM parcels "
                "UNION SELECT name FROM admin_units UNION SELECT name FROM resettlement_projects "
                "UNION SELECT username FROM users UNION SELECT display_name FROM users "
                "UNION SELECT group_name FROM users"
            )
        )
        return "\n".join(r[0] for r in rows if r[0])


def _in_names(word: str) -> bool:
    return word in _names()


@cache
def _chinese_msgstrs() -> list[str]:
    """The catalogs' Chinese texts of three characters or more (shorter ones also occur in
    names: 新店镇's 镇, 交地 in a project's name), but for the commands of the CLI's examples."""
    with open(ROOT / "geo_service/locale/zh_CN/LC_MESSAGES/messages.po", "rb") as po:
        catalog = read_po(po)
    texts = set()
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            # A command line in a help text's example is data, not the catalog's words.
            lines = (text or "").splitlines()
            kept = [line for line in lines if "geo-service" not in line and "--" not in line]
            text = "\n".join(kept)
            text = re.sub(r"%\(\w+\)[sd]|%[sd]", "\n", text)
            texts |= {t for t in re.findall(r"[\u4e00-\u9fff，、；：（）]{3,}", text)}
    return sorted(texts, key=len, reverse=True)


def language_problems(page, locale: str, where: str) -> list[str]:
    html = page.content()
    if locale == "zh-CN":
        english = _english_sentences(html)
        return [f"{where}: English in Chinese: {english[:3]}"] if english else []
    # What people typed (a history note such as 核验通过) is theirs, in their language.
    text = page.evaluate(
        "() => { const notes = document.querySelectorAll('.note');"
        " notes.forEach(n => n.hidden = true); const text = document.body.innerText;"
        " notes.forEach(n => n.hidden = false); return text; }"
    )
    chinese = [t for t in _chinese_msgstrs() if t in text and not _in_names(t)]
    return [f"{where}: Chinese in English: {chinese[:3]}"] if chinese else []


def _phone(chromium, base: str, username: str, password: str):
    context = chromium.new_context(locale="zh-CN", **PHONE)
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    sign_in(page.page, base, username, password)
    return context, page


# Rectangles of `selector` that overlap the rectangle of `over`.
_COVERED = """([over, selector]) => {
  const o = document.querySelector(over).getBoundingClientRect();
  return Array.from(document.querySelectorAll(selector)).filter(el => {
    const r = el.getBoundingClientRect();
    return r.width && r.left < o.right && r.right > o.left && r.top < o.bottom && r.bottom > o.top;
  }).map(el => el.textContent.trim());
}"""

# The share of the map's area under its controls (buttons and panels), on a 20×20 grid.
_UNDER_CONTROLS = """() => {
  const map = document.querySelector(".leaflet-container").getBoundingClientRect();
  const boxes = Array.from(document.querySelectorAll(".leaflet-control"))
    .map(el => el.getBoundingClientRect()).filter(r => r.width && r.height);
  let under = 0;
  for (let i = 0; i < 20; i++) for (let j = 0; j < 20; j++) {
    const x = map.left + (i + 0.5) * map.width / 20, y = map.top + (j + 0.5) * map.height / 20;
    if (boxes.some(r => x >= r.left && x <= r.right && y >= r.top && y <= r.bottom)) under++;
  }
  return under / 400;
}"""


def test_on_a_phone_map_legends_fold_and_cover_no_township_or_quarter_button(demo_server, chromium):
    context, page = _phone(chromium, demo_server, ROLES["city leader"], demo.DEMO_PASSWORD)
    try:
        page.goto(f"{demo_server}/maps/progress?district=晋安区&kind=land")
        page.wait_for_selector(".gs-unit")
        toggle = page.locator(".gs-legend-toggle")
        assert toggle.get_attribute("aria-expanded") == "false"
        assert page.locator(".gs-legend").is_hidden()
        # The figures and the layer list fold too: the map is for looking at, on a phone.
        figures = page.locator(".gs-summary-toggle")
        assert figures.get_attribute("aria-expanded") == "false"
        assert page.locator(".gs-summary").is_hidden()
        assert page.locator(".leaflet-control-layers-expanded").count() == 0
        under = page.evaluate(_UNDER_CONTROLS)
        assert under < 0.2, f"{under:.0%} of the map under its controls"
        figures.tap()
        assert "9,000.0 亩" in page.locator(".gs-summary").inner_text()
        figures.tap()
        assert page.locator(".gs-summary").is_hidden()
        assert page.locator(".gs-timeline button").count() >= 5
        for covered in (".gs-label span", ".gs-timeline button"):
            assert page.evaluate(_COVERED, [".gs-legend-box", covered]) == [], covered
        assert fits(page, "the progress map", phone=True) == []
        to_docs(page.save_screenshot("progress-map-390"), "progress-map-phone.png")
        tab_to(page, ".gs-legend-toggle")  # reached from the keyboard
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true"
        assert "乡镇进度" in page.locator(".gs-legend").inner_text()
        page.keyboard.press("Enter")
        assert page.locator(".gs-legend").is_hidden()
        for path in ("/maps/support?district=晋安区", "/maps/relocation?district=晋安区"):
            page.goto(f"{demo_server}{path}")
            page.wait_for_selector(".gs-legend-toggle")
            assert toggle.get_attribute("aria-expanded") == "false", path
            toggle.tap()
            assert page.locator(".gs-legend").is_visible(), path
        assert page.problems() == []
    finally:
        context.close()
