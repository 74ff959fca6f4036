"""The quantified assessment of responsible persons, overdue projects, and the leaders'
pages' refusals, on a small register (the demo's pages: test_browser_leaders.py)."""

import csv
from datetime import date, datetime, time
from html import unescape

import pytest
from conftest import signed_in_page

from geo_service.campaign import assessment, campaigns, register
from geo_service.campaign.projects import import_projects
from geo_service.campaign.tallies import CAMPAIGN_TZ

HEADER = ["项目编号", "项目名称", "类别", "所属区县", "所属乡镇", "业主单位", "时间节点",
          "责任单位", "第一责任人", "直接责任人"]  # fmt: skip
MILESTONES = "2017-03-31 完成调查; 2017-06-30 签约过半; 2017-09-30 交地"
# code, district, township, first responsible, direct responsible, milestones
ROWS = [
    ("P-01", "晋安区", "新店镇", "张三", "李四", MILESTONES),
    ("P-02", "晋安区", "鼓山镇", "张三", "王五", MILESTONES),
    ("P-03", "晋安区", "象园街道", "孙八", "王五", "2017-12-31 交地"),
    ("P-04", "仓山区", "城门镇", "赵六", "李四", MILESTONES),
]
DAY = date(2017, 7, 10)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=CAMPAIGN_TZ)


@pytest.fixture
def projects(session, tmp_path):
    path = tmp_path / "list.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for code, district, township, first, direct, milestones in ROWS:
            out.writerow([code, f"项目{code}", "征迁交地", district, township, "某集团",
                          milestones, "某局", first, direct])  # fmt: skip
    import_projects(session, path)
    # P-01's first milestone on time, P-02's late; the second ones never done.
    register.record_milestone(session, "P-01", date(2017, 3, 31), date(2017, 3, 30), "x",
                              now=_at(date(2017, 3, 30)))  # fmt: skip
    register.record_milestone(session, "P-02", date(2017, 3, 31), date(2017, 4, 5), "x",
                              now=_at(date(2017, 4, 5)))  # fmt: skip
    late = register.add_problem(session, "P-02", "未签约", "x", deadline=date(2017, 5, 31),
                                now=_at(date(2017, 3, 1)))  # fmt: skip
    solved = register.add_problem(session, "P-01", "补偿款", "x", deadline=date(2017, 5, 31),
                                  now=_at(date(2017, 3, 1)))  # fmt: skip
    register.set_problem_status(session, solved.id, "solved", "x", solved_on=date(2017, 5, 20),
                                now=_at(date(2017, 5, 20)))  # fmt: skip
    session.commit()
    return late.id


def test_each_responsible_persons_scorecard_counts_their_projects(projects, session):
    cards = {c["person"]: c for c in assessment.scorecards(session, DAY)}
    assert set(cards) == {"张三", "李四", "王五", "赵六", "孙八"}
    zhang = cards["张三"]
    assert [(p["code"], p["role"]) for p in zhang["projects"]] == [("P-01", "first"),
                                                                   ("P-02", "first")]  # fmt: skip
    assert (zhang["projects_overdue"], zhang["milestones_on_time"], zhang["milestones_late"],
            zhang["milestones_overdue"]) == (2, 1, 1, 2)  # fmt: skip
    assert (zhang["problems_open"], zhang["problems_overdue"], zhang["problems_solved_on_time"],
            zhang["problems_solved_late"]) == (1, 1, 1, 0)  # fmt: skip
    # 10 July: P-02's 30 June milestone is 10 days overdue.
    assert zhang["most_overdue_days"] == 10
    li = cards["李四"]
    assert [(p["code"], p["role"]) for p in li["projects"]] == [("P-01", "direct"),
                                                                ("P-04", "direct")]  # fmt: skip
    assert (li["milestones_on_time"], li["milestones_overdue"]) == (1, 3)
    # 孙八's one milestone is not due yet: nothing overdue; no land parcels, no share.
    sun = cards["孙八"]
    assert (sun["projects_overdue"], sun["milestones_overdue"], sun["land_share"]) == (0, 0, None)
    # Most overdue projects first, then by name.
    assert [c["person"] for c in assessment.scorecards(session, DAY)][-1] == "孙八"
    # One district's: only its projects count.
    only = {c["person"]: c for c in assessment.scorecards(session, DAY, {"仓山区"})}
    assert set(only) == {"赵六", "李四"}
    assert [p["code"] for p in only["李四"]["projects"]] == ["P-04"]


def test_overdue_projects_are_the_late_ones_most_overdue_first(projects, session):
    found = register.register(session, DAY)["projects"]
    late = register.overdue_projects(found)
    assert [(p["code"], p["most_overdue_days"]) for p in late] == [
        ("P-04", 101), ("P-01", 10), ("P-02", 10),
    ]  # fmt: skip
    assert "P-03" not in {p["code"] for p in late}


def test_the_pages_show_the_register_and_refuse_as_chinese_pages(projects):
    page = signed_in_page("leader_jinan")
    html = {"Accept": "text/html"}
    overdue = page.get("/projects?overdue=true", headers=html)
    assert overdue.status_code == 200
    assert "P-04" not in overdue.text  # another district's
    assert "P-01" in overdue.text and "P-02" in overdue.text
    assert overdue.text.index("P-01") < overdue.text.index("P-02")
    scorecards = page.get("/assessment?sort=person", headers=html)
    assert scorecards.status_code == 200 and "赵六" not in scorecards.text
    assert scorecards.text.index("孙八") < scorecards.text.index("张三")  # by name
    for path in ("/projects?district=仓山区", "/board?level=district", "/rankings?level=district",
                 "/projects/P-04"):  # fmt: skip
        refused = page.get(path, headers=html)
        assert refused.status_code == 403, path
        assert "text/html" in refused.headers["content-type"]
        assert "您可以查看：晋安区" in refused.text and 'href="/' in refused.text
    missing = page.get("/projects/P-99", headers=html)
    assert missing.status_code == 404 and "未找到 P-99" in missing.text
    unknown = page.get("/no-such-page", headers=html)
    assert unknown.status_code == 404 and "/no-such-page" in unknown.text
    assert "text/html" in unknown.headers["content-type"]
    assert page.get("/api/no-such-thing", headers=html).json()["detail"] == "Not Found"
    # A map or the public page asked for something that is not there, in a browser: a page.
    for path in ("/maps/progress?district=无此区", "/public?campaign=无此攻坚"):
        missing = page.get(path, headers=html)
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        assert "找不到" in missing.text and "无此" in missing.text, path
    # A period or quarter miswritten in the address, said in Chinese (the API's stays English).
    for path, said in (("/rankings?period=2017Q5", "月份请写作 2017-05，季度请写作 2017Q2"),
                       ("/board?period=Q2", "不能是 'Q2'"),
                       ("/maps/progress?quarter=last", "季度请写作 2 或 2017Q2")):  # fmt: skip
        refused = page.get(path, headers=html)
        assert refused.status_code in (400, 422) and said in unescape(refused.text), path
    assert "write a month" in page.get("/board/data.json?period=Q2").json()["detail"]
    english = page.get("/projects/P-99?lang=en", headers=html)
    assert "P-99 was not found." in english.text
    # The API keeps its JSON refusal.
    assert page.get("/board/data.json?level=district").json()["detail"]


def test_each_role_home_links_the_pages_it_needs(db):
    leader = signed_in_page("leader_jinan").get("/").text
    for href in ("/projects", "/projects?overdue=true", "/rankings", "/problems",
                 "/relocation/overdue", "/assessment"):  # fmt: skip
        assert f'href="{href}"' in leader, href
    assert 'href="/api/projects"' not in leader  # no JSON for people
    officer = signed_in_page("officer_xd").get("/").text
    assert 'href="/relocation/overdue"' in officer and 'href="/problems"' in officer
    assert 'href="/rankings"' not in officer and 'href="/assessment"' not in officer


def test_a_period_in_no_campaign_is_refused_naming_the_campaigns_years(session):
    """/rankings?period=1999Q1 showed a ranking of a campaign named "1999" nobody ran: a
    period or year outside every campaign is refused, on the pages and the maps alike."""
    held = sorted({y for c in campaigns.all_campaigns(session)
                   for y in range(c.first_day.year, c.last_day.year + 1)})  # fmt: skip
    assert held and 1999 not in held
    years = "、".join(str(y) for y in held)
    page, html = signed_in_page("planner"), {"Accept": "text/html"}
    for path in ("/rankings?period=1999Q1", "/rankings?period=1999", "/board?period=1999Q1",
                 "/maps/progress?quarter=1999Q1", "/maps/progress?year=1999",
                 "/maps/support?year=1999", "/maps/relocation?year=1999",
                 "/public?year=1999"):  # fmt: skip
        refused = page.get(path, headers=html)
        assert refused.status_code == 400 and "text/html" in refused.headers["content-type"]
        said = unescape(refused.text)
        assert "不在任何攻坚期内" in said and years in said and "1999" in said, path
    english = unescape(page.get("/rankings?period=1999Q1&lang=en", headers=html).text)
    assert f"1999Q1 is in no campaign: the campaigns' years are {years}" in english
    api = page.get("/api/rankings?period=1999Q1")
    assert api.status_code == 400 and "in no campaign" in api.json()["detail"]
    public = page.get("/public/data.json?year=1999")
    assert public.status_code == 400 and "in no campaign" in public.json()["detail"]
    assert page.get(f"/public?year={held[-1]}", headers=html).status_code == 200
    shown = page.get(f"/rankings?period={held[-1]}Q1", headers=html)
    assert shown.status_code == 200
