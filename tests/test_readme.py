"""The documentation's examples run as written, in order, on a freshly loaded demo: the
command blocks of the README's tour and of the guides in docs/ are read from the files and
each command run as a user would. The README stays short, and every link in it and in
docs/ leads somewhere."""

import os
import re
import shlex
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from conftest import _reset_caches
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from geo_service import database
from geo_service.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
COMMAND = Path(sys.executable).parent / "geo-service"
README_MAX_LINES = 300

# The examples are one sequence on one database: a guide's block relies on what the blocks
# before it did (the verification teams' parcels exist before the leaders tally them, the
# township outlines are replaced only after the uploads they would refuse).
EXAMPLES = [
    ("README.md", "A ten-line tour"),
    ("docs/guide-administrators.md", "Before the season: projects, targets, users"),
    ("docs/guide-verification-teams.md", "From survey file to sign-off"),
    ("docs/guide-leaders.md", "Reading the campaign"),
    ("docs/guide-planners.md", "Taking figures away"),
    ("docs/guide-township-officers.md", "Relocation (回迁): from roster to title"),
    ("docs/guide-administrators.md", "During the season"),
]

FENCED = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)


def section_block(path: str, heading: str) -> str:
    """The first ```sh block between the heading and the next heading of its level."""
    text = (ROOT / path).read_text(encoding="utf-8")
    found = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.M)
    assert found, f"{path}: no section {heading!r}"
    level = found.group(1)
    section = re.split(rf"^{level} ", text[found.end() :], maxsplit=1, flags=re.M)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"{path}, {heading!r}: no ```sh block"
    return block.group(1)


def example_commands() -> list[list[str]]:
    """The commands of every example block in EXAMPLES' order, continuation lines joined and
    comments dropped."""
    commands = []
    for path, heading in EXAMPLES:
        block = section_block(path, heading).replace("\\\n", " ")
        commands += [shlex.split(line, comments=True) for line in block.splitlines()]
    return [command for command in commands if command]


def documents() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def links(path: Path) -> list[str]:
    """Link and image targets outside code, where brackets are not links."""
    prose = INLINE_CODE.sub("", FENCED.sub("", path.read_text(encoding="utf-8")))
    return LINK.findall(prose)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCED.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def local_target(source: Path, target: str) -> tuple[Path, str] | None:
    """The file and anchor a relative link names; None for a link to another site."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
        return None
    path, _, anchor = target.partition("#")
    return (source.parent / path).resolve() if path else source, anchor


@pytest.fixture
def readme_database(db_url, monkeypatch):
    """An empty database of its own, which the service in this process points at: the
    examples replace a township outline, which the other tests' reference units must not
    see. The test database again afterwards."""
    url = make_url(db_url)
    name = f"{url.database}_readme"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    drop()
    target = url.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", target)
    _reset_caches()
    try:
        yield target
    finally:
        database.get_engine().dispose()
        monkeypatch.setenv("DATABASE_URL", db_url)
        _reset_caches()
        drop()
        admin.dispose()


def _script(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "160"}
    return subprocess.run(
        [str(COMMAND), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def _in_process(args: list[str]) -> tuple[int, str]:
    """The command run as the console script runs it, without starting a Python (and its
    GDAL, pandas, SQLAlchemy) for each of the examples."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"}, prog_name="geo-service")
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += "".join(traceback.format_exception(result.exception))
    return result.exit_code, output


def test_the_example_blocks_are_found_and_use_the_command():
    commands = example_commands()
    assert len(commands) > 10
    assert all(c[0] == "geo-service" for c in commands), [c for c in commands if c]
    assert not [c for c in commands if c[1] == "serve"], "serve never returns: keep it out"
    # The examples are written for the demo data on its published (2017) dates: the tour
    # loads it so before using it (`geo-service demo` alone loads it under way today).
    assert commands[:2] == [
        ["geo-service", "db", "upgrade"],
        ["geo-service", "demo", "--published-dates"],
    ]


def test_every_documented_example_runs_as_written_on_a_fresh_demo(
    readme_database, tmp_path, monkeypatch
):
    # The examples name files relative to the repository's folder; what they write
    # (reports, tallies, maps) lands in a scratch folder.
    (tmp_path / "geo_service").mkdir()
    (tmp_path / "geo_service" / "data").symlink_to(ROOT / "geo_service" / "data")
    monkeypatch.chdir(tmp_path)
    first, *rest = example_commands()
    # The tour upgrades the empty database first: that one as the installed command, the
    # rest in this process (tests/test_cli.py runs the installed command further).
    done = _script(first[1:], readme_database, tmp_path)
    assert done.returncode == 0, f"`{shlex.join(first)}`\n{done.stdout}\n{done.stderr}"
    for command in rest:
        code, output = _in_process(command[1:])
        assert code == 0, f"`{shlex.join(command)}` exited {code}\n{output}"
    written_files = ("problems.csv", "problems.gpkg", "tally.csv", "maps/progress.html")
    for written in (*written_files, "maps/relocation.html"):
        assert (tmp_path / written).stat().st_size > 0, written


def test_the_readme_ends_within_its_line_budget():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md: {lines} lines, at most {README_MAX_LINES}"


def test_every_relative_link_leads_to_a_file_and_heading():
    broken = []
    for source in documents():
        for target in links(source):
            local = local_target(source, target)
            if local is None:
                continue
            path, anchor = local
            if not path.exists():
                broken.append(f"{source.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{source.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_doc_is_reachable_from_the_readme():
    reached, waiting = {README.resolve()}, [README]
    while waiting:
        source = waiting.pop()
        for target in links(source):
            local = local_target(source, target)
            if local and local[0].suffix == ".md" and local[0].exists() and local[0] not in reached:
                reached.add(local[0])
                waiting.append(local[0])
    unreached = [p.name for p in DOCS.glob("*.md") if p.resolve() not in reached]
    assert not unreached, f"docs not linked from README.md or a doc it links: {unreached}"
