"""The verification teams' workbench in headless Chromium, with the outside network cut: a
verifier uploads (a file with problems, then a good one), finds, verifies and disputes at an
office PC, and the same work done on a phone with real taps; a leader reads without a single
action. The README's screenshots come from here.

One test walks both screens over the same data: the PC's dry run is read again on the
phone, the good file the phone stores is the one the PC then finds and signs off."""

import re

from browser import sign_in, to_docs
from conftest import TEST_PASSWORD
from parcelfiles import XINDIAN, frame, rectangle, write
from test_browser_phones import PHONE, _phone, fits
from test_web_uploads import problem_file

pytest_plugins = ["browser"]

# Each element of `selector` that lies wholly inside the window: its text or None.
_INSIDE = """selector => Array.from(document.querySelectorAll(selector)).map(el => {
  const r = el.getBoundingClientRect(), width = document.documentElement.clientWidth;
  const seen = r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  return seen && r.left >= 0 && r.right <= width + 0.5 ? el.textContent.trim() : null;
})"""


def _choose_and_check(page, path, status=None):
    page.set_input_files("#upload-file", str(path))
    page.select_option("select[name=township]", "新店镇")
    if status:
        page.select_option("select[name=status]", status)
    page.focus("#check-button")
    with page.expect_navigation(url=re.compile(r"/uploads/pending/")):
        page.keyboard.press("Enter")  # the form works from the keyboard
    page.wait_for_selector("#report-map[data-ready]")


def test_verifier_uploads_finds_verifies_and_disputes_on_a_pc_and_a_phone_a_leader_only_reads(
    live_server, browser_page, chromium, tmp_path
):
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server, "land_all", TEST_PASSWORD)
    page.get_by_role("link", name="上传", exact=True).click()
    report = _problem_report_on_a_pc(page, tmp_path)
    context, phone = _phone(chromium, live_server, "land_all", TEST_PASSWORD)
    try:
        _problem_report_on_a_phone(phone, live_server, report)
        _good_file_stored_on_a_phone(phone, tmp_path)
        _found_verified_and_disputed_on_a_pc(page, live_server)
        _signed_off_on_a_phone(phone, live_server)
    finally:
        context.close()
    _a_leader_only_reads(page, live_server)


def _problem_report_on_a_pc(page, tmp_path) -> str:
    """A file with problems: each one listed, in Chinese, and drawn on the map; the
    report's address."""
    _choose_and_check(page, problem_file(tmp_path))
    rows = page.locator("#problems tbody tr")
    listed = {rows.nth(i).get_attribute("data-feature") for i in range(rows.count())}
    assert {"3", "4", "5"} <= listed
    table = page.locator("#problems").inner_text()
    assert "不在福州市范围内" in table and "不是面" in table and "地块编号重复" in table
    located = page.locator("#problems button.show").count()
    assert located == rows.count()
    drawn = int(page.locator("#report-map").get_attribute("data-problems-drawn"))
    assert drawn == located  # a marker for each problem
    assert page.locator("#report-map path.leaflet-interactive").count() >= located
    zoom = page.eval_on_selector_all(".leaflet-control-zoom a", "a => a.map(b => b.title)")
    assert zoom == ["放大", "缩小"]  # not Leaflet's own English titles
    assert page.locator("#store-valid-button").inner_text().startswith("只存合格的 2 个")
    shot = page.save_screenshot("workbench-upload-report")
    to_docs(shot, "workbench-upload-report.png")
    page.locator("#problems tr[data-feature='3'] button.show").first.click()
    assert "selected" in page.locator("#problems tr[data-feature='3']").first.get_attribute("class")
    page.get_by_role("button", name="规则").click()  # sortable by the rule's words
    rules = page.locator("#problems tbody td.rule").all_inner_texts()
    page.get_by_role("button", name="规则").click()
    assert page.locator("#problems tbody td.rule").all_inner_texts() == rules[::-1]
    assert page.problems() == []
    return page.url


def _problem_report_on_a_phone(page, live_server, report: str) -> None:
    """The upload form and the same dry run's report read on the phone: every summary value
    and every problem column inside the screen."""
    page.goto(f"{live_server}/uploads")
    assert fits(page, "/uploads", phone=True) == []
    page.goto(report)
    page.wait_for_selector("#report-map[data-ready]")
    assert fits(page, "the dry-run report", phone=True) == []
    values = page.evaluate(_INSIDE, "#report-summary dd")
    assert len(values) >= 8 and all(values), values
    cells = page.evaluate(_INSIDE, "#problems tbody td")
    assert len(cells) == 6 * page.locator("#problems tbody tr").count() and all(cells), cells
    labels = page.eval_on_selector_all(
        "#problems tbody tr:first-child td", "tds => tds.map(td => td.dataset.label)"
    )
    assert labels == ["序号", "要素", "编号", "级别", "规则", "说明"], labels
    to_docs(
        page.save_screenshot("workbench-upload-report-390"), "workbench-upload-report-phone.png"
    )


def _good_file_stored_on_a_phone(page, tmp_path) -> None:
    """A good file, under touch emulation with real taps (which fail when anything lies
    over the button): 试检查, then 入库."""
    page.tap("text=重新选择文件")
    shapes = [rectangle(XINDIAN, 150 * i, 2000, 100, 80) for i in range(3)]
    good = write(frame(shapes, code=["A", "B", "C"]), tmp_path / "新店.geojson", 4326, "GeoJSON")
    page.set_input_files("#upload-file", str(good))
    page.select_option("select[name=township]", "新店镇")
    page.select_option("select[name=status]", "delivered")
    with page.expect_navigation(url=re.compile(r"/uploads/pending/")):
        page.tap("#check-button")
    assert page.locator(".count-problems").inner_text().startswith("0 个错误")
    assert "入库 3" in page.locator("#store-button").inner_text()
    with page.expect_navigation(url=re.compile(r"/uploads/\d+\?stored=1")):
        page.tap("#store-button")
    assert "新增 3" in page.locator("#stored").inner_text()


def _found_verified_and_disputed_on_a_pc(page, live_server) -> None:
    """The stored file among past uploads; a parcel found through the filters and
    verified; another verified, then disputed with a reason: both steps in its history."""
    page.goto(f"{live_server}/uploads")
    assert "新店.geojson" in page.locator("#past-uploads").inner_text()
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="地块", exact=True).click()
    page.select_option("select[name=status]", "delivered")
    page.fill("input[name=q]", "A")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("table.list tbody tr").count() == 1
    page.get_by_role("link", name="A", exact=True).click()
    page.wait_for_selector("#parcel-map[data-ready] path")
    page.fill("form:has(input[value=verify]) input[name=note]", "现场核验")
    page.get_by_role("button", name="核验", exact=True).click()
    dialog = page.get_by_role("dialog", name="请确认")  # sign-off is asked once more
    assert "确认地块 A 核验通过" in dialog.inner_text()
    page.get_by_role("button", name="取消").click()  # and nothing happens
    assert page.locator("dd.status").inner_text() == "已交地"
    page.get_by_role("button", name="核验", exact=True).click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="核验通过").click()
    assert page.locator("dd.status").inner_text() == "已核验"
    assert "现场核验" in page.locator("table.history").inner_text()

    page.goto(f"{live_server}/parcels?q=B")
    page.get_by_role("link", name="B", exact=True).click()
    page.get_by_role("button", name="核验", exact=True).click()
    with page.expect_navigation():
        page.get_by_role("dialog").get_by_role("button", name="核验通过").click()
    page.fill("form:has(input[value=dispute]) input[name=note]", "界址与现场不符")
    page.get_by_role("button", name="提出争议").click()
    with page.expect_navigation():
        page.get_by_role("dialog").get_by_role("button", name="提出争议").click()
    page.wait_for_selector("#parcel-map[data-ready] path")
    history = page.locator("table.history").inner_text()
    assert "已交地 → 已核验" in history and "已核验 → 有争议" in history
    assert "界址与现场不符" in history
    assert page.locator("#parcel-map path").count() >= 2  # the parcel and its neighbours
    assert page.problems() == []
    shot = page.save_screenshot("workbench-parcel")
    to_docs(shot, "workbench-parcel.png")


def _signed_off_on_a_phone(page, live_server) -> None:
    """A sign-off tapped on the phone is asked once more in a dialog that fits the screen;
    so is a bulk move, where 取消 sends nothing."""
    page.goto(f"{live_server}/parcels/C")
    page.tap("button[name=verify]")
    dialog = page.get_by_role("dialog", name="请确认")
    assert "确认地块 C 核验通过" in dialog.inner_text()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["viewport"]["width"]
    assert fits(page, "the sign-off dialog", phone=True) == []
    with page.expect_navigation():
        dialog.get_by_role("button", name="核验通过").tap()
    assert page.locator("dd.status").inner_text() == "已核验"

    page.goto(f"{live_server}/parcels")
    page.tap("input[name=ids] >> nth=1")
    page.tap("input[name=ids] >> nth=2")
    page.select_option("select[name=to]", "delivered")
    page.tap("text=一起更改")
    assert "确认把选中的 2 块地块改为“已交地”" in dialog.inner_text()
    dialog.get_by_role("button", name="取消").tap()
    assert dialog.is_hidden() and page.locator(".ok, .error").count() == 0
    assert page.problems() == []


def _a_leader_only_reads(page, live_server) -> None:
    """A leader reads the same pages without a single action."""
    page.context.clear_cookies()
    sign_in(page, live_server, "leader_jinan", TEST_PASSWORD)
    page.goto(f"{live_server}/parcels/A")
    page.wait_for_selector("#parcel-map[data-ready] path")
    assert page.locator("main button, main form").count() == 0
    assert page.locator("dd.status").inner_text() == "已核验"
    page.goto(f"{live_server}/uploads")
    assert page.locator("#upload-form").count() == 0
    assert page.problems() == []
