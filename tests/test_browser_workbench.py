"""The verification teams' pages in headless Chromium, with the outside network cut."""

import shutil

from browser import ROOT, sign_in
from conftest import TEST_PASSWORD
from test_web_workbench import _upload

pytest_plugins = ["browser"]


def test_verifier_finds_verifies_and_disputes_a_leader_only_reads(
    live_server, browser_page, tmp_path
):
    _upload(tmp_path, "delivered")
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server, "land_all", TEST_PASSWORD)
    page.get_by_role("link", name="地块 Parcels").click()
    page.fill("input[name=q]", "B")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # the filter form works from the keyboard
    assert page.locator("table.list tbody tr").count() == 1
    page.get_by_role("link", name="B", exact=True).click()
    page.wait_for_selector("#parcel-map[data-ready] path")
    page.fill("form:has(input[value=verify]) input[name=note]", "现场核验")
    with page.expect_navigation():
        page.get_by_role("button", name="核验 Verify").click()
    assert page.locator("dd.status").inner_text() == "已核验"
    page.fill("form:has(input[value=dispute]) input[name=note]", "界址与现场不符")
    with page.expect_navigation():
        page.get_by_role("button", name="提出争议 Dispute").click()
    page.wait_for_selector("#parcel-map[data-ready] path")
    history = page.locator("table.history").inner_text()
    assert "已交地 → 已核验" in history and "已核验 → 有争议" in history
    assert "界址与现场不符" in history and "现场核验" in history
    assert page.locator("#parcel-map path").count() >= 2  # the parcel and its neighbours
    assert page.problems() == []
    shot = page.save_screenshot("workbench-parcel")
    shutil.copy(shot, ROOT / "docs" / "workbench-parcel.png")

    page.context.clear_cookies()
    sign_in(page, live_server, "leader_jinan", TEST_PASSWORD)
    page.goto(f"{live_server}/parcels/A")
    page.wait_for_selector("#parcel-map[data-ready] path")
    assert page.locator("main button, main form").count() == 0
    assert page.locator("dd.status").inner_text() == "已交地"
