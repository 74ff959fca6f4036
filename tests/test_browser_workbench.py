"""The verification teams' workbench in headless Chromium, with the outside network cut: a
verifier uploads (a file with problems, then a good one), finds, verifies and disputes; a
leader reads without a single action. The README's screenshots come from here."""

import os
import re
import shutil

from browser import ROOT, sign_in
from conftest import TEST_PASSWORD
from parcelfiles import XINDIAN, frame, rectangle, write
from test_web_uploads import problem_file

pytest_plugins = ["browser"]


def _choose_and_check(page, path, status=None):
    page.set_input_files("#upload-file", str(path))
    page.select_option("select[name=township]", "新店镇")
    if status:
        page.select_option("select[name=status]", status)
    page.focus("#check-button")
    with page.expect_navigation(url=re.compile(r"/uploads/pending/")):
        page.keyboard.press("Enter")  # the form works from the keyboard
    page.wait_for_selector("#report-map[data-ready]")


def _to_docs(shot, name: str) -> None:
    """The README's screenshots are refreshed on request only, so a test run leaves the
    checkout as it was (each run's screenshots stay in test-artifacts/)."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / name)


def test_verifier_uploads_finds_verifies_and_disputes_a_leader_only_reads(
    live_server, browser_page, tmp_path
):
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server, "land_all", TEST_PASSWORD)
    page.get_by_role("link", name="上传", exact=True).click()

    # A file with problems: each one listed, in Chinese, and drawn on the map.
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
    assert page.locator("#store-valid-button").inner_text().startswith("只存合格的 2 个")
    shot = page.save_screenshot("workbench-upload-report")
    _to_docs(shot, "workbench-upload-report.png")
    page.locator("#problems tr[data-feature='3'] button.show").first.click()
    assert "selected" in page.locator("#problems tr[data-feature='3']").first.get_attribute("class")
    page.get_by_role("button", name="规则").click()  # sortable by the rule's words
    rules = page.locator("#problems tbody td.rule").all_inner_texts()
    page.get_by_role("button", name="规则").click()
    assert page.locator("#problems tbody td.rule").all_inner_texts() == rules[::-1]
    assert page.problems() == []

    # A good file: checked, stored, listed among past uploads.
    page.get_by_role("link", name="重新选择文件").click()
    shapes = [rectangle(XINDIAN, 150 * i, 2000, 100, 80) for i in range(3)]
    good = write(frame(shapes, code=["A", "B", "C"]), tmp_path / "新店.geojson", 4326, "GeoJSON")
    _choose_and_check(page, good, status="delivered")
    assert page.locator(".count-problems").inner_text().startswith("0 个错误")
    with page.expect_navigation(url=re.compile(r"/uploads/\d+\?stored=1")):
        page.get_by_role("button", name=re.compile("入库 3")).click()
    assert "新增 3" in page.locator("#stored").inner_text()
    page.goto(f"{live_server}/uploads")
    assert "新店.geojson" in page.locator("#past-uploads").inner_text()

    # Find a parcel through the filters; verify it.
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

    # Another parcel: verified, then disputed with a reason; both steps in its history.
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
    _to_docs(shot, "workbench-parcel.png")

    # A leader reads the same pages without a single action.
    page.context.clear_cookies()
    sign_in(page, live_server, "leader_jinan", TEST_PASSWORD)
    page.goto(f"{live_server}/parcels/A")
    page.wait_for_selector("#parcel-map[data-ready] path")
    assert page.locator("main button, main form").count() == 0
    assert page.locator("dd.status").inner_text() == "已核验"
    page.goto(f"{live_server}/uploads")
    assert page.locator("#upload-form").count() == 0
    assert page.problems() == []
