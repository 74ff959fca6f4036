"""The command line's help in the command's language (cli/language.say_help): Chinese
unless asked, English with --lang en; every command's own help and its options'."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_service.cli import app

runner = CliRunner()
HAN = re.compile(r"[\u4e00-\u9fff]")


def _commands(typer_app, prefix=()) -> list[list[str]]:
    found = [[*prefix, c.name or c.callback.__name__] for c in typer_app.registered_commands]
    for group in typer_app.registered_groups:
        found += _commands(group.typer_instance, (*prefix, group.name))
    return found


def _help(*args, env=None) -> str:
    result = runner.invoke(app, [*args, "--help"], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_command_list_speaks_chinese_unless_asked():
    chinese = _help("--lang", "zh_CN")
    assert "PostGIS 上经核验的交地和拆迁面积" in chinese
    assert "显示版本并退出" in chinese  # an option's help
    assert "备份 DATABASE_URL 所指的整个数据库" in chinese  # a command's summary
    english = _help("--lang", "en")
    assert "verified land-delivery and demolition areas" in english
    assert "print the version and exit" in english and not HAN.search(english.split("[")[0])
    # GEO_SERVICE_LANG (read before Click parses the command line) and --lang=X alike.
    assert "显示版本并退出" in _help(env={"GEO_SERVICE_LANG": "zh_CN"})
    assert "print the version and exit" in _help("--lang=en", env={"GEO_SERVICE_LANG": "zh_CN"})


@pytest.mark.parametrize("command", _commands(app), ids=lambda c: " ".join(c))
def test_every_commands_help_is_chinese_with_its_examples(command):
    chinese = _help("--lang", "zh_CN", *command)
    described = chinese.split("Options:")[0].split("\n", 2)[-1]
    assert HAN.search(described) and "示例" in described, chinese
    english = _help("--lang", "en", *command)
    assert "Example" in english and "示例" not in english


def test_an_options_help_follows_the_language():
    chinese = _help("--lang", "zh_CN", "users", "add")
    assert "登录名，例如 林志伟 或 linzw" in chinese and "初始密码" in chinese
    english = _help("--lang", "en", "users", "add")
    assert "the sign-in name, e.g. 林志伟 or linzw" in english


def test_a_tallys_and_a_ranks_table_speak_the_commands_language(db):
    target = ["targets", "set", "--district", "晋安区", "--township", "寿山乡", "--kind", "land",
              "--year", "2017", "--mu", "10"]  # fmt: skip
    assert runner.invoke(app, target).exit_code == 0
    command = ["tally", "--by", "township", "--kind", "land", "--year", "2017"]
    chinese = runner.invoke(app, ["--lang", "zh_CN", *command])
    assert chinese.exit_code == 0, chinese.output
    assert "按乡镇(街道)统计的已核验面积" in chinese.stdout and "计入：受援乡镇" in chinese.stdout
    assert "已核验（亩）" in chinese.stdout and "交地" in chinese.stdout
    english = runner.invoke(app, ["--lang", "en", *command])
    assert "verified mu" in english.stdout and "credit: host township" in english.stdout
    rank = ["rank", "--level", "township", "--district", "晋安区", "--period", "2017Q2"]
    ranked = runner.invoke(app, ["--lang", "zh_CN", *rank])
    assert ranked.exit_code == 0 and "名次" in ranked.stdout, ranked.output
    assert "rank" in runner.invoke(app, ["--lang", "en", *rank]).stdout


def test_the_project_registers_tables_speak_the_commands_language(db):
    demo = Path(__file__).resolve().parent.parent / "geo_service/data/parcels/demo_projects.csv"
    listed = runner.invoke(app, ["projects", "import", str(demo)])
    assert listed.exit_code == 0, listed.output
    command = ["projects", "list", "--as-of", "2017-06-30"]
    chinese = runner.invoke(app, ["--lang", "zh_CN", *command])
    assert chinese.exit_code == 0, chinese.output
    assert "截至 2017-06-30 的项目" in chinese.stdout and "按类别和区县统计的" in chinese.stdout
    assert "已完成" in chinese.stdout and "逾期" in chinese.stdout
    english = runner.invoke(app, ["--lang", "en", *command])
    assert "projects as of 2017-06-30" in english.stdout and " done, " in english.stdout


def test_the_relocation_tally_speaks_the_commands_language(db):
    command = ["tally", "--kind", "relocation", "--by", "township"]
    chinese = runner.invoke(app, ["--lang", "zh_CN", *command])
    assert chinese.exit_code == 0, chinese.output
    assert "按乡镇(街道)统计的回迁" in chinese.stdout and "户数·已交房" in chinese.stdout
    english = runner.invoke(app, ["--lang", "en", *command])
    assert "Relocation (回迁) by township" in english.stdout
    # A narrow column wraps its heading over lines.
    assert "households" in english.stdout and "handed" in english.stdout
