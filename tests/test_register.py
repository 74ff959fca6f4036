"""The project register: counts, milestone status and problem files, seen from a day."""

import csv
from datetime import date, datetime, time
from pathlib import Path

import pytest
from conftest import auth, shared_app
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.accounts import audit
from geo_service.campaign import register
from geo_service.campaign.projects import import_projects
from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.cli import app
from geo_service.errors import InvalidInput, NotFound

HEADER = ["项目编号", "项目名称", "类别", "所属区县", "所属乡镇", "业主单位", "时间节点",
          "责任单位", "第一责任人", "直接责任人"]  # fmt: skip
# code, category as written, district, townships
LIST = [
    ("P-01", "征迁交地攻坚", "晋安区", "新店镇"),
    ("P-02", "征迁交地", "晋安区", "新店镇、鼓山镇"),
    ("P-03", "“两逾”问题", "晋安区", "象园街道"),
    ("P-04", "重点项目攻坚", "仓山区", "城门镇"),
    ("P-05", "项目前期推进", "仓山区", "盖山镇"),
    ("P-06", "重大项目建设", "福清市", "龙田镇"),
    ("P-07", "两逾", "福清市", "宏路街道"),
]
MILESTONES = "2017-03-31 完成调查; 2017-06-30 签约过半; 2017-09-30 交地"


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=CAMPAIGN_TZ)


def _write(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for code, category, district, townships in rows:
            out.writerow([code, f"项目{code}", category, district, townships, "某集团",
                          MILESTONES, "某局", "张三", "李四"])  # fmt: skip
    return path


@pytest.fixture
def listed(session, tmp_path):
    import_projects(session, _write(tmp_path / "list.csv", LIST))
    session.flush()
    return session


def test_counts_by_category_and_district(listed):
    found = register.register(listed, as_of=date(2017, 6, 30))
    counts = found["counts"]
    assert counts["total"] == 7
    assert counts["by_category"] == {"项目前期推进": 1, "重大项目建设": 2, "征迁交地": 2, "两逾": 2}
    assert counts["by_district"]["晋安区"] == {
        "total": 3, "项目前期推进": 0, "重大项目建设": 0, "征迁交地": 2, "两逾": 1,
    }  # fmt: skip
    assert counts["by_district"]["仓山区"]["total"] == 2
    assert counts["by_district"]["福清市"]["两逾"] == 1
    only = register.register(listed, district="仓山区", category="项目前期推进")
    assert [p["code"] for p in only["projects"]] == ["P-05"]
    detail = register.project_detail(listed, "P-02")
    assert detail["townships"] == ["新店镇", "鼓山镇"]
    assert (detail["owner_unit"], detail["responsible_unit"]) == ("某集团", "某局")


def test_an_unknown_category_or_township_is_refused_with_its_row(session, tmp_path):
    bad = [("P-01", "征迁交地", "晋安区", "新店镇"), ("P-02", "民生", "晋安区", "新店镇"),
           ("P-03", "征迁交地", "晋安区", "城门镇")]  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        import_projects(session, _write(tmp_path / "bad.csv", bad))
    message = str(caught.value)
    assert "row 3, column 类别: category '民生' is not one of" in message
    assert "row 4, column 所属乡镇: no township named '城门镇'" in message
    assert register.register(session)["counts"]["total"] == 0


def test_milestone_status_relative_to_the_day_and_what_was_recorded_by_then(listed):
    # Done on 5 April (late), recorded only on 20 April; the second milestone never done.
    register.record_milestone(listed, "P-01", date(2017, 3, 31), date(2017, 4, 5), "王五",
                              now=_at(date(2017, 4, 20)))  # fmt: skip

    def states(day):
        return {m["date"]: m for m in register.project_detail(listed, "P-01", day)["milestones"]}

    on_1_april = states(date(2017, 4, 1))
    assert (on_1_april["2017-03-31"]["status"], on_1_april["2017-03-31"]["overdue_days"]) == (
        "overdue", 1,
    )  # fmt: skip
    assert on_1_april["2017-06-30"]["status"] == "due"
    # On 10 April the completion was not on record yet: still overdue, by 10 days.
    assert states(date(2017, 4, 10))["2017-03-31"]["overdue_days"] == 10
    on_10_july = states(date(2017, 7, 10))
    first = on_10_july["2017-03-31"]
    assert (first["status"], first["done_on"], first["overdue_days"], first["on_time"]) == (
        "done", "2017-04-05", 5, False,
    )  # fmt: skip
    assert (on_10_july["2017-06-30"]["status"], on_10_july["2017-06-30"]["overdue_days"]) == (
        "overdue", 10,
    )  # fmt: skip
    assert on_10_july["2017-09-30"]["status"] == "due"
    summary = next(
        p for p in register.register(listed, date(2017, 7, 10))["projects"] if p["code"] == "P-01"
    )
    assert (summary["milestones_done"], summary["milestones_due"],
            summary["milestones_overdue"]) == (1, 1, 1)  # fmt: skip
    # A withdrawal is a record too: from then on the milestone is open again.
    register.record_milestone(listed, "P-01", date(2017, 3, 31), None, "王五",
                              now=_at(date(2017, 7, 1)))  # fmt: skip
    assert states(date(2017, 7, 10))["2017-03-31"]["overdue_days"] == 101
    assert states(date(2017, 6, 1))["2017-03-31"]["status"] == "done"
    history = register.milestone_history(listed, "P-01")
    assert [(h["done_on"], h["recorded_by"]) for h in history] == [("2017-04-05", "王五"),
                                                                   (None, "王五")]  # fmt: skip


def test_a_milestone_is_named_by_its_date(listed):
    with pytest.raises(NotFound, match="no milestone on 2017-04-01"):
        register.record_milestone(listed, "P-01", date(2017, 4, 1), date(2017, 4, 1), "x")
    with pytest.raises(InvalidInput, match="future day"):
        register.record_milestone(listed, "P-01", date(2017, 3, 31), date(2017, 4, 5), "x",
                                  now=_at(date(2017, 4, 1)))  # fmt: skip


def test_problem_files_overdue_first_with_history(listed):
    def add(text, deadline, filed):
        return register.add_problem(listed, "P-03", text, "王五", "区住建局", "赵六",
                                    deadline, now=_at(filed, 9)).id  # fmt: skip

    late = add("开发商未完成验收", date(2017, 5, 31), date(2017, 3, 1))
    later = add("办证资料不全", date(2017, 6, 15), date(2017, 3, 2))
    solved = add("税费未缴", date(2017, 4, 30), date(2017, 3, 3))
    open_ = add("维修基金未交", None, date(2017, 3, 4))
    register.set_problem_status(listed, solved, "solved", "钱七", solved_on=date(2017, 5, 2),
                                note="已缴", now=_at(date(2017, 5, 2), 17))  # fmt: skip

    on_30_june = register.problems(listed, ["P-03"], date(2017, 6, 30))
    assert [(p.id, p.overdue, p.overdue_days) for p in on_30_june] == [
        (late, True, 30), (later, True, 15), (open_, False, 0), (solved, False, 2),
    ]  # fmt: skip
    # On 1 May the solved one was still open and the only overdue one.
    on_1_may = register.problems(listed, ["P-03"], date(2017, 5, 1))
    assert [(p.id, p.status, p.overdue_days) for p in on_1_may] == [
        (solved, "open", 1), (late, "open", 0), (later, "open", 0), (open_, "open", 0),
    ]  # fmt: skip
    assert register.problems(listed, ["P-03"], date(2017, 2, 28)) == []
    assert [p.id for p in register.problems(listed, ["P-03"], date(2017, 3, 1))] == [late]
    history = register.problem_history(listed, solved)
    assert [(h["version"], h["status"], h["changed_by"], h["solved_on"]) for h in history] == [
        (1, "open", "王五", None), (2, "solved", "钱七", "2017-05-02"),
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match="already solved"):
        register.set_problem_status(listed, solved, "solved", "钱七")
    detail = register.project_detail(listed, "P-03", date(2017, 6, 30))
    assert [p["id"] for p in detail["problems"]] == [late, later, open_, solved]
    assert (detail["open_problems"], detail["overdue_problems"]) == (3, 2)


def test_cli_register_and_problem_commands(db, tmp_path):
    runner = CliRunner()
    path = _write(tmp_path / "list.csv", LIST)
    assert runner.invoke(app, ["projects", "import", str(path)]).exit_code == 0
    added = runner.invoke(app, ["projects", "problem-add", "P-07", "--problem", "逾期未办证",
                                "--person", "赵六", "--deadline", "2017-05-31"])  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "problem #1 filed for P-07" in added.output
    listed = runner.invoke(app, ["projects", "list", "--as-of", "2017-06-30"])
    assert listed.exit_code == 0, listed.output
    assert "7 project(s) by category and district" in listed.output
    shown = runner.invoke(app, ["projects", "show", "P-07", "--as-of", "2017-06-30"])
    assert "overdue by 91 day(s)" in shown.output  # 2017-03-31 → 2017-06-30
    done = runner.invoke(app, ["projects", "milestone", "P-07", "--date", "2017-03-31",
                               "--done", "2017-03-30"])  # fmt: skip
    assert done.exit_code == 0 and "done 2017-03-30, on time" in done.output
    solved = runner.invoke(app, ["projects", "problem-solve", "1", "--on", "2017-06-01"])
    assert solved.exit_code == 0 and "solved 2017-06-01" in solved.output
    missing = runner.invoke(app, ["projects", "show", "NOPE"])
    assert missing.exit_code == 2 and "no project with code 'NOPE'" in missing.output


def test_api_register_reads_need_a_sign_in_and_writes_are_the_admins(listed):
    listed.commit()
    client = TestClient(shared_app())
    assert client.get("/api/projects").status_code == 401
    mine = client.get("/api/projects", headers=auth("leader_jinan")).json()
    assert {p["district"] for p in mine["projects"]} == {"晋安区"}
    assert mine["counts"]["total"] == 3 and list(mine["counts"]["by_district"]) == ["晋安区"]
    assert client.get("/api/projects/P-04", headers=auth("leader_jinan")).status_code == 403
    city = client.get("/api/projects", headers=auth("leader_city")).json()
    assert city["counts"]["total"] == 7
    body = {"problem": "补偿款未到位", "person": "赵六", "deadline": "2017-05-31"}
    refused = client.post("/api/projects/P-01/problems", json=body, headers=auth("leader_city"))
    assert refused.status_code == 403
    filed = client.post("/api/projects/P-01/problems", json=body, headers=auth("admin_t"))
    assert filed.status_code == 201, filed.text
    problem = filed.json()
    assert (problem["changed_by"], problem["status"]) == ("admin_t", "open")
    solved = client.post(f"/api/problems/{problem['id']}/status",
                         json={"status": "solved", "solved_on": "2017-06-02"},
                         headers=auth("admin_t"))  # fmt: skip
    assert solved.status_code == 200 and solved.json()["solved_on"] == "2017-06-02"
    history = client.get(f"/api/problems/{problem['id']}/history", headers=auth("planner"))
    assert [h["status"] for h in history.json()] == ["open", "solved"]
    done = client.post("/api/projects/P-01/milestones",
                       json={"date": "2017-03-31", "done_on": "2017-03-29"},
                       headers=auth("admin_t"))  # fmt: skip
    assert done.status_code == 200 and done.json()["on_time"] is True
    actions = [e["action"] for e in audit.entries(listed, username="admin_t")]
    assert {"problem.add", "problem.status", "milestone.record"} <= set(actions)
    refusals = audit.entries(listed, username="leader_city", outcome="refused")
    assert refusals and refusals[0]["action"] == "problem.add"
