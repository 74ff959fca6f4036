"""The command line's help in the command's language (cli/language.say_help): Chinese
unless asked, English with --lang en; every command's own help and its options'."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from test_relocation import _loaded, base, secret  # noqa: F401  (the fixtures, shared)
from typer.testing import CliRunner

from geo_service.cli import app, projects

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
    described = chinese.split("选项：")[0].split("\n", 2)[-1]
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


# An English word: letters alone, not part of a code (JA2017-001, XD-002), a login (admin_t)
# or a unit's symbol (m²).
ENGLISH_WORD = re.compile(r"(?<![\w-])[A-Za-z]{2,}(?![\w-])")


def _both(*command) -> tuple[str, str]:
    """The command's output in Chinese, then in English (each must succeed)."""
    said = []
    for lang in ("zh_CN", "en"):
        result = runner.invoke(app, ["--lang", lang, *command], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        said.append(result.stdout)
    return said[0], said[1]


def test_the_project_commands_lines_and_tables_speak_the_commands_language(db):
    demo = Path(__file__).resolve().parent.parent / "geo_service/data/parcels/demo_projects.csv"
    chinese = runner.invoke(app, ["--lang", "zh_CN", "projects", "import", str(demo)])
    assert chinese.exit_code == 0 and "项目：新建 25，更新 0，未变 0" in chinese.stdout
    english = runner.invoke(app, ["--lang", "en", "projects", "import", str(demo)])
    assert "projects: 0 created, 0 updated, 25 unchanged" in english.stdout
    act = ("--as", "admin_t")
    zh, en = _both("projects", "problem-add", "JA2017-001", "--problem", "拆迁户未签约",
                   "--person", "赵六", "--deadline", "2017-05-31", *act)  # fmt: skip
    assert "已为 JA2017-001 登记问题 #1" in zh and "problem #2 filed for JA2017-001" in en
    zh, en = _both("projects", "milestone", "JA2017-001", "--date", "2017-03-31", "--done",
                   "2017-04-05", *act)  # fmt: skip
    assert "2017-04-05 完成，逾期 5 天" in zh and "done 2017-04-05, 5 day(s) late" in en
    zh, en = _both("projects", "show", "JA2017-001", "--as-of", "2017-06-30")
    assert "业主单位 晋安区城建集团；责任单位 区征迁办" in zh and "时间节点：" in zh
    assert "签约过半：未到期" in zh and "问题档案（逾期的在前）：" in zh
    assert "owner unit 晋安区城建集团; responsible unit" in en and "签约过半: due" in en
    outputs = [(zh, en), _both("projects", "list", "--as-of", "2017-06-30")]
    solved = runner.invoke(app, ["--lang", "zh_CN", "projects", "problem-solve", "1",
                                 "--on", "2017-06-01", *act])  # fmt: skip
    assert solved.exit_code == 0 and "问题 #1：2017-06-01 已解决" in solved.stdout
    zh, en = _both("projects", "problems", "--history", "1")
    assert "问题历史" in zh and "修改人" in zh and "已解决" in zh and "未解决" in zh
    assert "Problem history" in en and "changed_by" in en and "solved" in en
    outputs += [(zh, en), _both("projects", "problems")]
    for zh, en in outputs:
        assert not ENGLISH_WORD.findall(zh), zh
        assert ENGLISH_WORD.findall(en), en


def test_the_relocation_lists_speak_the_commands_language(session, base):  # noqa: F811
    _loaded(session, base)
    zh, en = _both("relocation", "overdue", "--as-of", "2017-12-31")
    assert "两逾（2 宗）" in zh and "逾期天数" in zh and "days_overdue" in en
    outputs = [(zh, en), _both("relocation", "clearance", "--year", "2017", "--as-of",
                               "2017-12-31")]  # fmt: skip
    assert "清零：未结的两逾个案" in outputs[1][0] and "open_now" in outputs[1][1]
    for zh, _en in outputs:
        assert not ENGLISH_WORD.findall(zh), zh


def test_a_land_targets_history_speaks_the_commands_language(db):
    target = ["targets", "set", "--district", "晋安区", "--kind", "land", "--year", "2017"]
    zh, en = _both(*target, "--mu", "9100", "--as", "admin_t")
    assert "已设置目标：晋安区 交地 2017：9100.0 亩" in zh
    assert "target unchanged: 晋安区 land 2017: 9100.0 mu" in en
    zh, en = _both("targets", "history", "--district", "晋安区", "--kind", "land", "--year", "2017")
    assert "亩  设置人 参考数据" in zh and "亩  设置人 admin_t" in zh, zh
    assert not ENGLISH_WORD.findall(zh.replace("admin_t", "")), zh
    assert "mu  by reference data" in en and "9,100.0000 mu  by admin_t" in en, en


@pytest.mark.parametrize("stop", [typer.Abort, EOFError])
def test_an_abort_is_said_in_the_commands_language(monkeypatch, stop):
    def stopped(*args):
        raise stop()

    monkeypatch.setattr(projects, "_day", stopped)
    chinese = runner.invoke(app, ["--lang", "zh_CN", "projects", "list"])
    assert chinese.exit_code == 1 and "已中止！" in chinese.stderr, chinese.output
    assert "Aborted" not in chinese.output
    english = runner.invoke(app, ["--lang", "en", "projects", "list"])
    assert english.exit_code == 1 and "Aborted!" in english.stderr, english.output


# --- Click's own words, the command list and the wrapping (cli/clickwords.py) -----------------

# What Click and Typer write themselves into a help page, in English.
CLICK_WORDS = re.compile(
    r"Usage|Options|Commands|Arguments|Show this message|completion for|\[OPTIONS\]|COMMAND|"
    r"ARGS|required|default:|env var|<str>|<int>|<float>|<path>|list\["
)


def _groups(typer_app, prefix=()) -> list[list[str]]:
    found = [list(prefix)]
    for group in typer_app.registered_groups:
        found += _groups(group.typer_instance, (*prefix, group.name))
    return found


@pytest.mark.parametrize("command", _groups(app) + _commands(app), ids=lambda c: " ".join(c))
def test_no_word_of_clicks_is_left_in_a_chinese_help(command):
    chinese = _help("--lang", "zh_CN", *command)
    assert not CLICK_WORDS.search(chinese), CLICK_WORDS.search(chinese)
    assert chinese.startswith("用法：") and "选项：" in chinese
    assert "--help" in chinese and "显示本帮助并退出" in chinese
    english = _help("--lang", "en", *command)
    assert english.startswith("Usage: ") and "Options:" in english
    assert "Show this message and exit." in english and "显示本帮助" not in english


def _listed(help_text: str, heading: str) -> dict[str, str]:
    """A help's command list: each command's name and its summary (wrapped lines joined)."""
    listed: dict[str, str] = {}
    name = None
    for line in help_text.split(heading, 1)[1].splitlines()[1:]:
        entry = re.match(r"^  (\S+)\s+(.*)$", line)
        if entry:
            name, listed[entry[1]] = entry[1], entry[2]
        elif line.startswith("    ") and name:
            listed[name] += line.strip()
    return listed


@pytest.mark.parametrize("group", _groups(app), ids=lambda c: " ".join(c) or "geo-service")
def test_every_commands_and_groups_summary_is_chinese(group):
    listed = _listed(_help("--lang", "zh_CN", *group), "命令：")
    assert listed
    for name, summary in listed.items():
        assert HAN.search(summary), (name, summary)
        # Cut at a sentence's end or a clause's, never inside a bracket.
        assert summary.count("（") == summary.count("）"), (name, summary)
    for name, summary in _listed(_help("--lang", "en", *group), "Commands:").items():
        assert re.search("[a-z]{3,}", summary) and summary != listed[name], (name, summary)


@pytest.mark.parametrize(
    ("args", "chinese", "english"),
    [
        (["users", "add", "--x"], "错误：没有这个选项：--x", "Error: No such option: --x"),
        (["users", "add"], "错误：缺少参数 'username'。", "Error: Missing argument 'username'."),
        (["tally", "--by", "foo"], "错误：'--by' 的值无效：'foo' 不在可选值 'city', 'district'",
         "Error: Invalid value for '--by': "),
        (["targets", "set", "--year", "abc"], "错误：'--year' 的值无效：'abc' 不是整数",
         "Error: Invalid value for '--year': "),
        (["userz"], "错误：没有命令 'userz'。是不是要用 'users'",
         "Error: No such command 'userz'."),
        (["users", "list", "extra"], "错误：多余的参数（extra）", "Got unexpected extra argument"),
    ],
)  # fmt: skip
def test_a_usage_error_is_said_in_the_commands_language(args, chinese, english):
    said = runner.invoke(app, ["--lang", "zh_CN", *args])
    assert said.exit_code == 2, said.output
    assert chinese in said.output, said.output
    assert "用法：" in said.output and "查看帮助。" in said.output
    assert not re.search(r"Error|Usage|Try ", said.output), said.output
    plain = runner.invoke(app, ["--lang", "en", *args])
    assert plain.exit_code == 2 and english in plain.output, plain.output
    assert "Usage: " in plain.output and not HAN.search(plain.output.split("\n")[-2])


def _display_width(line: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


@pytest.mark.parametrize("command", [[], ["tally"], ["users", "add"], ["export", "tallies"]])
def test_a_chinese_help_is_wrapped_to_the_terminals_width(command):
    # A real process: Click reads the width from COLUMNS (the test runner forces 80).
    env = {**os.environ, "COLUMNS": "60", "GEO_SERVICE_LANG": "zh_CN"}
    done = subprocess.run([sys.executable, "-m", "geo_service.cli", *command, "--help"],
                          capture_output=True, text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(_display_width(line) for line in lines) <= 58, done.stdout
    # Wrapped, not cut: every Chinese character of the help is still there, in order.
    long = "按对照本期目标的进度" if not command else ""
    assert long in "".join(line.strip() for line in lines)
    # No line starts with a closing mark (Chinese typesetting).
    assert not [line for line in lines if line.strip() and line.strip()[0] in "，。、；：）"]


def test_english_help_is_wrapped_as_click_wraps_it():
    from typer._click.formatting import wrap_text

    from geo_service.cli.clickwords import wrap

    text = "the user you act as (see `geo-service users list`); recorded on every change. " * 3
    for width in (30, 50, 78):
        assert wrap(text, width, "  ", "    ", True) == wrap_text(text, width, "  ", "    ", True)
    chinese = "你以哪个用户的身份操作（见 `geo-service users list`）；每次变更都会记录。" * 3
    lines = wrap(chinese, 30, "  ", "  ").splitlines()
    assert max(_display_width(line) for line in lines) <= 30 and len(lines) > 3
    assert "".join(line.strip() for line in lines).replace(" ", "") == chinese.replace(" ", "")


def test_the_import_help_names_every_status_it_takes():
    # The option's help is a msgid (a literal), so it names the statuses itself.
    from geo_service.cli.common import ImportStatus

    for lang in ("zh_CN", "en"):
        said = _help("--lang", lang, "import")
        assert all(status in said for status in ImportStatus), said
