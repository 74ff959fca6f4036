"""A leader's questions answered from pages alone (issue 22): in headless Chromium, from
the leader's home, following links and pickers only, each figure read off a page and
compared with what the API says; the pages fit a phone; refusals are pages in Chinese."""

from browser import sign_in
from conftest import api_get

from geo_service import demo
from geo_service.periods import parse_period

pytest_plugins = ["browser"]
LEADER = "周建明"  # the demo's leader of 晋安区
LEADER_SCOPE = "leader_jinan"  # the test user who sees what he sees, for the API
PHONE = {"width": 390, "height": 844}


def _home(page) -> None:
    page.locator("header a[href='/']").first.click()
    page.wait_for_load_state()


def _cells(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.innerText.trim()))",
    )


def _fits_a_phone(page) -> int:
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1366, "height": 768})
    return width


def test_a_leaders_four_questions_are_answered_from_pages_alone(demo_server, browser_page):
    page = browser_page
    base = demo_server
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, base, LEADER, demo.DEMO_PASSWORD)
    page.goto(f"{base}/")  # the one address typed: the start page
    wide = {}

    # 1. How far is 晋安区 from its 9,000 mu? The board's district total.
    page.get_by_role("link", name="看板", exact=True).click()
    page.wait_for_selector(".gs-total")
    end = parse_period(page.locator("body").get_attribute("data-period")).end
    land = api_get(
        f"{base}/api/tallies?by=district&kind=land&district=晋安区&as_of={end}", LEADER_SCOPE
    )[0]
    total = page.locator(".gs-total-land")
    assert total.locator(".gs-sum-target").inner_text() == f"{land['target_mu']:,.1f}" == "9,000.0"
    assert total.locator(".gs-sum-done").inner_text() == f"{land['verified_mu']:,.1f}"
    assert total.locator(".gs-remaining").inner_text() == f"{land['remaining_mu']:,.1f}"
    # The board's picker: another period without typing it.
    page.select_option(".gs-period select[name=period]", "2017Q2")
    page.locator(".gs-period button[type=submit]").click()
    page.wait_for_selector("body[data-period='2017Q2']")
    q2 = api_get(
        f"{base}/api/tallies?by=district&kind=land&district=晋安区&as_of=2017-06-30", LEADER_SCOPE
    )[0]
    assert page.locator(".gs-total-land .gs-sum-done").inner_text() == f"{q2['verified_mu']:,.1f}"
    ranking = api_get(
        f"{base}/api/rankings?level=township&district=晋安区&period=2017Q2", LEADER_SCOPE
    )
    first = next(r for r in ranking["rows"] if r["rank"] == 1)
    card = page.locator(f".gs-card[data-unit='{first['unit']}']")
    assert card.locator(".gs-score").inner_text() == f"综合得分 {first['score']:.1%}"

    # 2. Which township is last this quarter? The rankings page, its quarter picked.
    page.locator(".gs-home").click()
    page.get_by_role("link", name="排名", exact=True).click()
    picker = page.locator("select[name=period]")
    quarter = picker.input_value()  # the page opens on this quarter
    assert "Q" in quarter
    picker.select_option(quarter)
    page.get_by_role("button", name="显示").click()
    page.wait_for_load_state()
    wide["rankings"] = _fits_a_phone(page)
    ranking = api_get(
        f"{base}/api/rankings?level=township&district=晋安区&period={quarter}", LEADER_SCOPE
    )
    ranked = [r for r in ranking["rows"] if r["rank"] is not None]
    last = max(r["rank"] for r in ranked)
    rows = _cells(page, "#ranking")
    shown_last = [r for r in rows if r[0].split()[0] == str(last)]
    assert {r[2] for r in shown_last} == {r["unit"] for r in ranked if r["rank"] == last}
    assert len(rows) == len(ranking["rows"])

    # 3. Which projects are overdue, and who is responsible? 逾期项目, most overdue first.
    _home(page)
    page.get_by_role("link", name="逾期项目", exact=True).click()
    page.wait_for_selector("#projects")
    wide["overdue projects"] = _fits_a_phone(page)
    register = api_get(f"{base}/api/projects", LEADER_SCOPE)["projects"]
    late = sorted(
        (p for p in register if p["most_overdue_days"] > 0),
        key=lambda p: (-p["most_overdue_days"], p["code"]),
    )
    assert late, "the demo has overdue projects"
    expected = [
        [p["code"], str(p["most_overdue_days"]), p["first_responsible"], p["direct_responsible"]]
        for p in late
    ]
    shown = [[r[0].split()[0], r[4], r[5], r[6]] for r in _cells(page, "#projects")]
    assert shown == expected
    # One of them, opened from the list: its milestones and problem file.
    page.locator("#projects tbody a").first.click()
    page.wait_for_selector("#milestones")
    wide["project"] = _fits_a_phone(page)
    detail = api_get(f"{base}/api/projects/{late[0]['code']}", LEADER_SCOPE)
    assert page.locator("#milestones tbody tr").count() == len(detail["milestones"])

    # 4. How many relocation households are not yet resettled? The 两逾 page.
    _home(page)
    page.get_by_role("link", name="回迁两逾清单", exact=True).click()
    page.wait_for_selector("#relocation-progress")
    wide["relocation"] = _fits_a_phone(page)
    households = api_get(f"{base}/api/relocation/tallies?by=district", LEADER_SCOPE)
    jinan = next(r for r in households if r["district"] == "晋安区")
    cell = page.locator("#relocation-progress tr[data-district='晋安区'] .not-resettled")
    assert cell.inner_text() == str(jinan["households_planned"] - jinan["households_handed_over"])
    overdue = api_get(f"{base}/api/relocation/overdue", LEADER_SCOPE)
    assert page.locator("#cases tbody tr").count() == len(overdue)

    # The problem files and the assessment, reached the same way, fit a phone too.
    for name, table in (("问题清单", "#problems"), ("干部量化考核", "#assessment")):
        _home(page)
        page.get_by_role("link", name=name, exact=True).click()
        page.wait_for_selector(table)
        wide[name] = _fits_a_phone(page)
    assert page.locator("#assessment tbody tr").count() == len(
        {p[k] for p in register for k in ("first_responsible", "direct_responsible") if p[k]}
    )
    assert all(width <= PHONE["width"] for width in wide.values()), wide
    assert page.page_errors == []


def test_a_district_leader_is_refused_the_city_board_by_a_chinese_page(demo_server, browser_page):
    page = browser_page
    sign_in(page, demo_server, LEADER, demo.DEMO_PASSWORD)
    response = page.goto(f"{demo_server}/board?level=district")
    assert response.status == 403
    assert "您可以查看：晋安区" in page.locator("main").inner_text()
    page.get_by_role("link", name="晋安区", exact=True).click()
    page.wait_for_selector(".gs-card")
    assert "district=%E6%99%8B%E5%AE%89%E5%8C%BA" in page.url or "晋安区" in page.url
    response = page.goto(f"{demo_server}/projects/NO-SUCH-1")
    assert response.status == 404
    assert "未找到 NO-SUCH-1" in page.locator("main").inner_text()
