"""The README's examples run as written, in order, on a freshly loaded demo: the command
block under "Using it" is read from README.md and each command run as a user would."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COMMAND = Path(sys.executable).parent / "geo-service"


def readme_commands() -> list[list[str]]:
    """The commands of the first ```sh block of the "Using it" section, continuation lines
    joined and comments dropped."""
    section = README.read_text(encoding="utf-8").split("## Using it", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()]


@pytest.fixture
def readme_database(db_url):
    """An empty database of its own: the examples replace a township outline, which the
    other tests' reference units must not see."""
    url = make_url(db_url)
    name = f"{url.database}_readme"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    drop()
    target = url.set(database=name).render_as_string(hide_password=False)
    try:
        yield target
    finally:
        drop()
        admin.dispose()


def _run(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "160"}
    return subprocess.run(
        [str(COMMAND), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def test_the_readme_block_is_found_and_uses_the_command():
    commands = readme_commands()
    assert len(commands) > 10
    assert all(c[0] == "geo-service" for c in commands), [c for c in commands if c]
    assert not [c for c in commands if c[1] == "serve"], "serve never returns: keep it out"
    # The examples are written for the demo data: the block loads it before using it.
    assert commands[:2] == [["geo-service", "db", "upgrade"], ["geo-service", "demo"]]


def test_every_readme_example_runs_as_written_on_a_fresh_demo(readme_database, tmp_path):
    # The examples name files relative to the repository's folder; what they write
    # (reports, tallies, maps) lands in a scratch folder.
    (tmp_path / "geo_service").mkdir()
    (tmp_path / "geo_service" / "data").symlink_to(ROOT / "geo_service" / "data")
    # The block itself upgrades the empty database and loads the demo first.
    for command in readme_commands():
        done = _run(command[1:], readme_database, tmp_path)
        assert done.returncode == 0, (
            f"`{shlex.join(command)}` exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    for written in ("problems.csv", "problems.gpkg", "tally.csv", "maps/progress.html"):
        assert (tmp_path / written).stat().st_size > 0, written
