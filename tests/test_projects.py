"""Responsibility lists (责任清单) from CSV and XLSX, with English or Chinese headers."""

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from conftest import count_rows
from openpyxl import Workbook
from sqlalchemy import select
from typer.testing import CliRunner

from geo_service.campaign.projects import import_projects
from geo_service.cli import app
from geo_service.errors import InvalidInput
from geo_service.models import Project

DEMO = (
    Path(__file__).resolve().parent.parent
    / "geo_service"
    / "data"
    / "parcels"
    / "demo_projects.csv"
)
HEADERS = ["序号", "项目编号", "项目名称", "类别", "所属区县", "存在问题", "目标", "完成时限",
           "时间节点", "责任单位", "第一责任人", "直接责任人"]  # fmt: skip
ROWS = [
    [1, "JA2017-101", "象园片区旧屋区改造", "征迁交地攻坚", "晋安区", "征迁户未签约 36 户",
     "完成征迁并交地 120 亩", datetime(2017, 6, 30), "2017-03-31 完成征迁; 2017-06-30 交地",
     "区征迁办", "陈建国", "林志伟"],
    [2, 102, "鼓山片区棚户区改造", "征迁交地攻坚", "晋安区", None, "拆除 50000 平方米",
     "2017年9月底 拆除完毕；2017年12月31日 交地", None, "鼓山镇", "刘德福", "王海峰"],
]  # fmt: skip


def _xlsx(path: Path, rows, headers=HEADERS, title=True) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "晋安区"
    if title:
        sheet.append(["晋安区2017年攻坚项目责任清单"])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _csv(path: Path, header, rows) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _project(session, code) -> Project:
    return session.scalar(select(Project).where(Project.code == code))


def test_xlsx_with_chinese_headers_and_a_title_row(session, tmp_path):
    counts = import_projects(session, _xlsx(tmp_path / "责任清单.xlsx", ROWS))
    assert counts == {"created": 2, "updated": 0, "unchanged": 0}
    first = _project(session, "JA2017-101")
    assert (first.name, first.category, first.district.name) == (
        "象园片区旧屋区改造", "征迁交地", "晋安区",
    )  # fmt: skip
    assert (first.problem, first.target) == ("征迁户未签约 36 户", "完成征迁并交地 120 亩")
    assert first.deadline == date(2017, 6, 30)
    assert first.milestones == [
        {"date": "2017-03-31", "text": "完成征迁"},
        {"date": "2017-06-30", "text": "交地"},
    ]
    assert (first.department, first.first_responsible, first.direct_responsible) == (
        "区征迁办", "陈建国", "林志伟",
    )  # fmt: skip
    # A code typed as a number, and milestones given in the deadline column.
    second = _project(session, "102")
    assert second.deadline == date(2017, 12, 31)
    assert second.milestones == [
        {"date": "2017-09-30", "text": "拆除完毕"},
        {"date": "2017-12-31", "text": "交地"},
    ]
    assert second.problem is None


def test_csv_with_other_chinese_headers(session, tmp_path):
    path = _csv(
        tmp_path / "list.csv",
        ["项目编号", "项目名称", "区", "需解决问题", "时间节点", "责任部门"],
        [
            [
                "JA-9",
                "福马路征迁",
                "晋安区",
                "杆线迁改",
                "2017年3月底 完成征迁；2017/6/30 交地",
                "区住建局",
            ]
        ],
    )
    assert import_projects(session, path) == {"created": 1, "updated": 0, "unchanged": 0}
    project = _project(session, "JA-9")
    assert (project.problem, project.department) == ("杆线迁改", "区住建局")
    assert project.milestones == [
        {"date": "2017-03-31", "text": "完成征迁"},
        {"date": "2017-06-30", "text": "交地"},
    ]
    assert project.deadline == date(2017, 6, 30)  # the last milestone


def test_the_english_demo_list_still_imports_and_updates(session):
    with DEMO.open(encoding="utf-8-sig") as handle:
        expected = list(csv.DictReader(handle))
    assert import_projects(session, DEMO) == {
        "created": len(expected),
        "updated": 0,
        "unchanged": 0,
    }
    # The same list again changes nothing, and says so.
    assert import_projects(session, DEMO) == {
        "created": 0,
        "updated": 0,
        "unchanged": len(expected),
    }
    first = _project(session, expected[0]["code"])
    assert (first.name, first.first_responsible) == (
        expected[0]["name"],
        expected[0]["first_responsible"],
    )


def test_a_later_list_updates_by_code_and_keeps_what_it_leaves_empty(session, tmp_path):
    import_projects(session, _xlsx(tmp_path / "a.xlsx", ROWS))
    changed = [[1, "JA2017-101", "象园片区旧屋区改造(二期)", None, None, None, None, None,
                None, None, "黄晓东", None]]  # fmt: skip
    assert import_projects(session, _xlsx(tmp_path / "b.xlsx", changed)) == {
        "created": 0,
        "updated": 1,
        "unchanged": 0,
    }
    project = _project(session, "JA2017-101")
    assert (project.name, project.first_responsible) == ("象园片区旧屋区改造(二期)", "黄晓东")
    assert (project.direct_responsible, project.deadline) == ("林志伟", date(2017, 6, 30))


def test_errors_name_file_row_and_column_and_nothing_is_imported(session, tmp_path):
    bad = [
        ROWS[0],
        [2, "JA2017-102", None, None, "晋安", None, None, "2017-13-01", None, None, None, None],
        [3, "JA2017-103", "名称", None, None, None, None, None, "六月底交地", None, None, None],
        [4, "JA2017-101", "重复", None, None, None, None, None, None, None, None, None],
    ]
    with pytest.raises(InvalidInput) as caught:
        import_projects(session, _xlsx(tmp_path / "bad.xlsx", bad))
    message = str(caught.value)
    assert message.startswith("bad.xlsx: 5 problem(s), nothing imported")
    # The title is row 1 and the headers row 2: the second project is on row 4.
    assert "bad.xlsx row 4, column 所属区县 (E): no district named '晋安'" in message
    assert "bad.xlsx row 4, column 完成时限 (H): '2017-13-01' is not a date" in message
    assert "bad.xlsx row 4, column 项目名称 (C): name is required" in message
    assert "bad.xlsx row 5, column 时间节点 (I): no date in milestone '六月底交地'" in message
    again = "project JA2017-101 is listed again (first at row 3)"
    assert f"bad.xlsx row 6, column 项目编号 (B): {again}" in message
    assert count_rows("projects") == 0


def test_csv_errors_name_the_line(session, tmp_path):
    path = _csv(tmp_path / "bad.csv", ["code", "name", "deadline"],
                [["A", "甲", "2017-06-30"], ["", "乙", ""]])  # fmt: skip
    with pytest.raises(InvalidInput, match=r"bad\.csv row 3, column code: code is required"):
        import_projects(session, path)
    assert count_rows("projects") == 0


def test_a_list_without_code_or_name_columns_is_refused(session, tmp_path):
    path = _xlsx(tmp_path / "x.xlsx", [["a", "b"]], headers=["项目编号", "备注"], title=False)
    with pytest.raises(InvalidInput, match="x.xlsx row 1: no column 项目名称"):
        import_projects(session, path)
    with pytest.raises(InvalidInput, match=r"\.csv or \.xlsx"):
        import_projects(session, tmp_path / "list.ods")


def test_cli_imports_xlsx_and_reports_problems(db, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["projects", "import", str(_xlsx(tmp_path / "l.xlsx", ROWS))])
    assert result.exit_code == 0, result.output
    assert "projects: 2 created, 0 updated, 0 unchanged" in result.stdout
    bad = _xlsx(tmp_path / "bad.xlsx", [[1, "X", None] + [None] * 9])
    result = runner.invoke(app, ["projects", "import", str(bad)])
    assert result.exit_code == 2
    assert "bad.xlsx row 3, column 项目名称 (C): name is required" in result.stderr
    assert count_rows("projects") == 2
    help_text = runner.invoke(app, ["projects", "import", "--help"]).stdout
    assert "Example" in help_text and "xlsx" in help_text
