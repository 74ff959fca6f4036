"""The `geo-service` command on a real PostGIS: in-process with CliRunner, and as the
installed console script with a plain libpq DATABASE_URL."""

import csv
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from conftest import IN_2017, count_rows, redate, with_user
from parcelfiles import GUSHAN, XINDIAN, ZONE40, frame, independent_area_m2, rectangle, write
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.settings import DATA_DIR

M2_PER_MU = 10000 / 15
REFERENCE = DATA_DIR / "reference"
SCRIPT = Path(sys.executable).parent / "geo-service"

XINDIAN_PARCELS = [
    rectangle(XINDIAN, 0, 0, 180, 95, angle_deg=17),
    rectangle(XINDIAN, 400, 0, 60, 420, angle_deg=-8),
    rectangle(XINDIAN, -900, 600, 300, 200, angle_deg=33),
]
XINDIAN_M2 = sum(independent_area_m2(p) for p in XINDIAN_PARCELS)

runner = CliRunner()


def run(*args: str, as_user: str | None = "auto"):
    return runner.invoke(app, with_user(list(args), as_user))


def flat(output: str) -> str:
    """Rich wraps long messages at the console width: compare with whitespace collapsed."""
    return " ".join(output.split())


def _counts() -> tuple[int, int, int]:
    return count_rows("parcels"), count_rows("uploads"), count_rows("parcel_versions")


def _xindian_file(tmp_path, name="xindian.gpkg"):
    return write(frame(XINDIAN_PARCELS, code=["A", "B", "C"]), tmp_path / name, ZONE40, "GPKG")


def _import_verified(path, township="新店镇", *extra):
    result = run("import", path, "--kind", "land", "--township", township, "--status", "verified",
                 *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    redate(IN_2017)  # tallied for the 2017 campaign
    return result


def _tally(*args) -> list[dict]:
    result = run("tally", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _row(rows, **match):
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


def _plain_libpq_url(sqlalchemy_url: str, database: str | None = None) -> str:
    url = make_url(sqlalchemy_url)
    return f"postgresql://{url.username}@{url.host}:{url.port}/{database or url.database}"


def _script(*args, url: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [str(SCRIPT), *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- help ---------------------------------------------------------------------------------


def _all_commands(typer_app, prefix=()) -> list[list[str]]:
    """Every command of the CLI, read from the Typer app, so a new one cannot skip help."""
    found = [[*prefix, c.name or c.callback.__name__] for c in typer_app.registered_commands]
    for group in typer_app.registered_groups:
        found += _all_commands(group.typer_instance, (*prefix, group.name))
    return found


COMMANDS = _all_commands(app)


def test_the_command_list_is_complete():
    names = {" ".join(c) for c in COMMANDS}
    assert {
        "db upgrade",
        "import",
        "tally",
        "targets set",
        "serve",
        "verify",
        "history",
        "map",
        "boundaries import",
    } <= names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help_with_an_example(command):
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "Example" in result.output


@pytest.mark.parametrize("group", ["db", "targets", "projects"])
def test_command_groups_list_their_subcommands(group):
    result = run(group, "--help")
    assert result.exit_code == 0
    assert {"db": "upgrade", "targets": "set", "projects": "import"}[group] in result.output


# --- import -------------------------------------------------------------------------------


def test_import_accepted_reports_parcels_square_metres_and_mu(db, tmp_path):
    path = _xindian_file(tmp_path)
    result = _import_verified(path)
    out = result.stdout
    assert "xindian.gpkg: accepted: 3 parcel(s)" in out
    m2, mu = re.search(r"([\d,.]+) m², ([\d,.]+) mu", out).groups()
    assert float(m2.replace(",", "")) == pytest.approx(XINDIAN_M2, rel=1e-3)
    assert float(mu.replace(",", "")) == pytest.approx(XINDIAN_M2 / M2_PER_MU, rel=1e-3)
    assert "EPSG:4528" in out
    assert "new 3, changed 0, unchanged 0" in out
    assert _counts() == (3, 1, 3)


def test_import_again_unchanged_then_changed(db, tmp_path):
    path = _xindian_file(tmp_path)
    _import_verified(path)
    again = _import_verified(path)
    assert "new 0, changed 0, unchanged 3" in again.stdout
    moved = [*XINDIAN_PARCELS[:2], rectangle(XINDIAN, -900, 600, 310, 200, angle_deg=33)]
    path = write(frame(moved, code=["A", "B", "C"]), tmp_path / "v2.gpkg", ZONE40, "GPKG")
    result = _import_verified(path)
    assert "new 0, changed 1, unchanged 2" in result.stdout
    assert _counts() == (3, 3, 4)


def _with_a_linestring(tmp_path):
    line = shapely.LineString(list(XINDIAN_PARCELS[1].exterior.coords)[:3])
    geoms = [XINDIAN_PARCELS[0], line, XINDIAN_PARCELS[2]]
    return write(frame(geoms, code=["A", "L", "C"]), tmp_path / "roads.geojson", 4326, "GeoJSON")


def test_import_refused_names_the_feature_and_the_file_and_writes_nothing(db, tmp_path):
    _import_verified(_xindian_file(tmp_path))
    before = _counts()
    path = _with_a_linestring(tmp_path)
    result = run("import", path, "--kind", "land", "--township", "新店镇", "--status", "verified")
    assert result.exit_code != 0
    message = flat(result.stderr)
    assert "refused" in message
    assert "roads.geojson" in message
    assert "feature 2 (L)" in message
    assert "linestring" in message.lower()
    assert "not_polygon" in message
    assert _counts() == before


def test_import_into_an_unknown_township_is_refused(db, tmp_path):
    result = run("import", _xindian_file(tmp_path), "--kind", "land", "--township", "新店")
    assert result.exit_code != 0
    message = flat(result.stderr)
    assert "xindian.gpkg" in message
    assert "新店镇" in message  # the suggestion for the name without its suffix
    assert _counts() == (0, 0, 0)


def test_import_dry_run_writes_nothing(db, tmp_path):
    path = _xindian_file(tmp_path)
    result = run("import", path, "--kind", "land", "--township", "新店镇", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing stored" in result.stdout
    m2 = re.search(r"([\d,.]+) m²", result.stdout).group(1)
    assert float(m2.replace(",", "")) == pytest.approx(XINDIAN_M2, rel=1e-3)
    assert _counts() == (0, 0, 0)


def test_import_json_prints_the_report(db, tmp_path):
    path = _xindian_file(tmp_path)
    result = run("import", path, "--kind", "land", "--township", "新店镇", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accepted"] is True
    assert report["dry_run"] is False
    assert report["filename"] == "xindian.gpkg"
    assert report["township"] == "新店镇"
    assert report["parcels"] == report["created"] == 3
    assert report["area_m2"] == pytest.approx(XINDIAN_M2, rel=1e-3)
    assert report["area_mu"] == pytest.approx(report["area_m2"] / M2_PER_MU, abs=1e-4)
    assert report["problems"] == []
    assert _counts() == (3, 1, 3)


def test_import_json_on_a_refused_file_prints_the_problems(db, tmp_path):
    path = _with_a_linestring(tmp_path)
    result = run("import", path, "--kind", "land", "--township", "新店镇", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["accepted"] is False
    assert [(p["feature"], p["code"], p["rule"]) for p in report["problems"]] == [
        (2, "L", "not_polygon")
    ]
    assert _counts() == (0, 0, 0)


# --- targets and tallies --------------------------------------------------------------------


def test_township_target_then_tally_shows_it_and_progress_once_verified(db, tmp_path):
    result = run("targets", "set", "--district", "晋安区", "--township", "新店镇",
                 "--kind", "land", "--year", "2017", "--mu", "500")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "target set: 晋安区/新店镇 land 2017: 500.0 mu" in result.stdout
    row = _row(_tally("--by", "township", "--kind", "land"), township="新店镇")
    assert row["target_mu"] == pytest.approx(500)
    assert row["target_m2"] == pytest.approx(500 * 10000 / 15)
    assert row["verified_parcels"] == 0
    assert row["verified_m2"] == 0
    assert row["progress"] == 0  # a target and nothing verified yet: 0, not unknown

    _import_verified(_xindian_file(tmp_path))
    row = _row(_tally("--by", "township", "--kind", "land"), township="新店镇")
    assert row["target_mu"] == pytest.approx(500)
    assert row["verified_parcels"] == 3
    assert row["verified_m2"] == pytest.approx(XINDIAN_M2, rel=1e-3)
    assert row["progress"] == pytest.approx(XINDIAN_M2 / (500 * 10000 / 15), rel=1e-3)


def test_targets_set_in_square_metres_replaces_the_mu_target(db):
    for amount in (["--mu", "500"], ["--m2", "400000"]):
        result = run("targets", "set", "--district", "晋安区", "--township", "新店镇",
                     "--kind", "land", "--year", "2017", *amount)  # fmt: skip
        assert result.exit_code == 0, result.output
    row = _row(_tally("--by", "township", "--kind", "land"), township="新店镇")
    assert row["target_m2"] == pytest.approx(400000)
    assert row["target_mu"] == pytest.approx(400000 * 15 / 10000)


@pytest.mark.parametrize(
    "amounts", [["--mu", "500", "--m2", "400000"], []], ids=["both", "neither"]
)
def test_targets_set_needs_exactly_one_of_mu_and_m2(db, amounts):
    before = count_rows("targets")
    result = run("targets", "set", "--district", "晋安区", "--township", "新店镇",
                 "--kind", "land", "--year", "2017", *amounts)  # fmt: skip
    assert result.exit_code != 0
    assert "exactly one of --mu and --m2" in flat(result.stderr)
    assert count_rows("targets") == before


def test_targets_import_sets_targets_from_csv(db, tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text(
        "district,township,kind,year,quarter,amount,unit\n"
        "晋安区,鼓山镇,land,2017,,300,mu\n"
        "晋安区,鼓山镇,demolition,2017,1,10000,m2\n"
        "晋安区,鼓山镇,demolition,2017,2,20000,m2\n",
        encoding="utf-8",
    )
    result = run("targets", "import", path)
    assert result.exit_code == 0, result.output
    assert "3 target(s) set" in result.stdout
    rows = _tally("--by", "township")
    assert _row(rows, township="鼓山镇", kind="land")["target_mu"] == pytest.approx(300)
    # A year without an annual target is the sum of its quarters.
    assert _row(rows, township="鼓山镇", kind="demolition")["target_m2"] == pytest.approx(30000)


def test_district_tally_json_against_the_9000_mu_target(db, tmp_path):
    _import_verified(_xindian_file(tmp_path))
    gushan = [rectangle(GUSHAN, 0, 0, 250, 140, angle_deg=5)]
    _import_verified(write(frame(gushan, code=["G"]), tmp_path / "g.geojson", 4326, "GeoJSON"),
                     "鼓山镇")  # fmt: skip
    rows = _tally("--by", "district", "--kind", "land")
    assert isinstance(rows, list)
    row = _row(rows, district="晋安区", kind="land")
    expected = XINDIAN_M2 + independent_area_m2(gushan[0])
    assert "township" not in row
    assert row["verified_parcels"] == 4
    assert row["target_mu"] == pytest.approx(9000)
    assert row["verified_m2"] == pytest.approx(expected, rel=1e-3)
    assert row["progress"] == pytest.approx(expected / 6_000_000, rel=1e-3)


def test_tally_csv_written_to_a_file(db, tmp_path):
    _import_verified(_xindian_file(tmp_path))
    out = tmp_path / "tally.csv"
    result = run("tally", "--by", "township", "--kind", "land", "--format", "csv",
                 "--output", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert str(out) in flat(result.stdout)
    with out.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames
        rows = list(reader)
    assert {"district", "township", "kind", "verified_m2", "verified_mu"} <= set(header)
    row = _row(rows, township="新店镇")
    assert float(row["verified_m2"]) == pytest.approx(XINDIAN_M2, rel=1e-3)
    assert float(row["verified_mu"]) == pytest.approx(XINDIAN_M2 / M2_PER_MU, rel=1e-3)


def test_tally_table_is_the_default_format(db, tmp_path):
    _import_verified(_xindian_file(tmp_path))
    result = run("tally", "--by", "township", "--kind", "land")
    assert result.exit_code == 0, result.output
    assert "Verified area by township" in result.stdout
    assert "新店镇" in result.stdout
    assert f"{XINDIAN_M2:,.0f}"[:-1] in result.stdout  # all but the last (rounded) digit


def test_tally_with_a_bad_as_of_date_is_an_error(db):
    result = run("tally", "--as-of", "yesterday")
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in flat(result.stderr)


def test_tally_by_project(db, tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text(
        "code,name,category,district,department,first_responsible,direct_responsible\n"
        "P-XD,新店片区,征迁交地攻坚,晋安区,区征迁办,张三,李四\n"
        "P-GS,鼓山片区,征迁交地攻坚,晋安区,区征迁办,张三,王五\n",
        encoding="utf-8",
    )
    result = run("projects", "import", projects)
    assert result.exit_code == 0, result.output
    assert "projects: 2 created, 0 updated, 0 unchanged" in result.stdout
    _import_verified(_xindian_file(tmp_path), "新店镇", "--project", "P-XD")
    gushan = [rectangle(GUSHAN, 0, 0, 250, 140), rectangle(GUSHAN, 400, 0, 90, 90)]
    path = write(frame(gushan, code=["G1", "G2"]), tmp_path / "g.gpkg", ZONE40, "GPKG")
    _import_verified(path, "鼓山镇", "--project", "P-GS")

    rows = _tally("--by", "project", "--kind", "land")
    assert {r["project"] for r in rows} == {"P-XD", "P-GS"}
    xd, gs = _row(rows, project="P-XD"), _row(rows, project="P-GS")
    assert (xd["project_name"], xd["township"], xd["verified_parcels"]) == ("新店片区", "新店镇", 3)
    assert (gs["project_name"], gs["township"], gs["verified_parcels"]) == ("鼓山片区", "鼓山镇", 2)
    assert xd["verified_m2"] == pytest.approx(XINDIAN_M2, rel=1e-3)
    gushan_m2 = sum(independent_area_m2(p) for p in gushan)
    assert gs["verified_m2"] == pytest.approx(gushan_m2, rel=1e-3)

    again = run("projects", "import", projects)
    assert "projects: 0 created, 0 updated, 2 unchanged" in again.stdout


def test_import_with_an_unknown_project_is_refused(db, tmp_path):
    path = _xindian_file(tmp_path)
    result = run("import", path, "--kind", "land", "--township", "新店镇", "--project", "NOPE")
    assert result.exit_code != 0
    assert "NOPE" in flat(result.stderr)
    assert _counts() == (0, 0, 0)


def test_overlapping_verified_files_are_counted_once(db, tmp_path):
    first = [rectangle(XINDIAN, 0, 0, 200, 100), rectangle(XINDIAN, 600, 0, 80, 80)]
    # Shares a 50 m x 40 m rectangle with the first parcel of the first file.
    second = [rectangle(XINDIAN, 150, 60, 120, 90)]
    overlap = first[0].intersection(second[0])
    assert independent_area_m2(overlap) == pytest.approx(50 * 40, rel=1e-3)
    _import_verified(write(frame(first, code=["S1", "S2"]), tmp_path / "a.gpkg", ZONE40, "GPKG"))
    second_file = write(frame(second, code=["R1"]), tmp_path / "b.geojson", 4326, "GeoJSON")
    refused = run("import", second_file, "--kind", "land", "--township", "新店镇",
                  "--status", "verified")  # fmt: skip
    assert refused.exit_code == 1
    message = flat(refused.stderr)
    assert "overlaps stored parcel S1" in message
    reported = float(re.search(r"by ([\d,.]+) m²", message).group(1).replace(",", ""))
    assert reported == pytest.approx(independent_area_m2(overlap), rel=1e-3)
    _import_verified(
        second_file, "新店镇", "--accept-overlaps", "--store-reason", "共用道路，现场核实"
    )

    union = shapely.union_all([*first, *second])
    expected = independent_area_m2(union)
    total = sum(independent_area_m2(p) for p in [*first, *second])
    assert total - expected == pytest.approx(2000, rel=1e-3)

    row = _row(_tally("--by", "township", "--kind", "land"), township="新店镇")
    assert row["verified_parcels"] == 3
    assert row["verified_m2"] == pytest.approx(expected, rel=1e-4)
    assert row["verified_m2"] < total - 1000
    district = _row(_tally("--by", "district", "--kind", "land"), district="晋安区")
    assert district["verified_m2"] == pytest.approx(expected, rel=1e-4)


# --- the installed console script, with a plain libpq URL ----------------------------------


def test_console_script_reads_the_test_database_through_a_plain_libpq_url(db, tmp_path):
    _import_verified(_xindian_file(tmp_path))
    url = _plain_libpq_url(db)
    assert url.startswith("postgresql://") and "+" not in url.split("://")[0]
    done = _script("tally", "--by", "township", "--kind", "land", "--format", "json",
                   url=url, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = _row(json.loads(done.stdout), township="新店镇")
    assert row["verified_m2"] == pytest.approx(XINDIAN_M2, rel=1e-3)


def test_console_script_imports_through_a_plain_libpq_url(db, tmp_path):
    url = _plain_libpq_url(db)
    path = _xindian_file(tmp_path)
    done = _script("import", path, "--kind", "land", "--township", "新店镇", "--status",
                   "verified", "--as", "land_all", url=url, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 parcel(s)" in done.stdout
    assert _counts() == (3, 1, 3)


@pytest.fixture
def fresh_database(db_url):
    """The name of a database that does not exist yet; dropped afterwards."""
    name = f"{make_url(db_url).database}_fresh_{uuid.uuid4().hex[:8]}"
    yield name
    admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reference_unit_count() -> int:
    districts = gpd.read_file(REFERENCE / "districts.geojson")
    townships = gpd.read_file(REFERENCE / "townships.geojson")
    return len(districts) + len(townships)


def _reference_target_count() -> int:
    with (REFERENCE / "targets_2017.csv").open(encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def test_db_upgrade_creates_everything_then_is_idempotent(db_url, fresh_database, tmp_path):
    url = _plain_libpq_url(db_url, fresh_database)
    first = _script("db", "upgrade", url=url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    units, targets = _reference_unit_count(), _reference_target_count()
    assert f"{units} unit(s), {targets} target(s) added" in first.stdout
    second = _script("db", "upgrade", url=url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 unit(s), 0 target(s) added" in second.stdout

    engine = create_engine(make_url(db_url).set(database=fresh_database))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM admin_units")).scalar() == units
        assert conn.execute(text("SELECT count(*) FROM targets")).scalar() == targets
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_db_upgrade_in_process_keeps_user_targets(db):
    result = run("targets", "set", "--district", "晋安区", "--kind", "land", "--year", "2017",
                 "--mu", "8000")  # fmt: skip
    assert result.exit_code == 0, result.output
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "0 unit(s), 0 target(s) added" in upgraded.stdout
    row = _row(_tally("--by", "district", "--kind", "land"), district="晋安区")
    assert row["target_mu"] == pytest.approx(8000)


def test_db_upgrade_reports_an_unreachable_server_without_a_traceback(tmp_path):
    url = "postgresql://postgres@127.0.0.1:1/nowhere"
    done = _script("db", "upgrade", url=url, cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot reach PostgreSQL" in flat(done.stderr)
    assert "Traceback" not in done.stderr


def test_map_command_writes_a_self_contained_file(db, tmp_path):
    out = tmp_path / "maps" / "progress.html"
    result = run("map", "progress", "--district", "晋安区", "--kind", "land", "--output", out)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "geoServiceMaps.start" in html and "L.map" in html
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html)
    support = tmp_path / "support.html"
    assert run("map", "support", "--output", support).exit_code == 0
    assert "跨界支援" in support.read_text(encoding="utf-8")
    assert run("map", "progress", "--district", "不存在区", "--output", out).exit_code != 0


def test_tally_output_format_follows_the_extension_and_a_mismatch_is_refused(db, tmp_path):
    _import_verified(_xindian_file(tmp_path))
    redate(datetime(2017, 5, 2, 10, tzinfo=UTC))
    as_json = tmp_path / "t.json"
    result = run("tally", "--by", "township", "--kind", "land", "--output", as_json)
    assert result.exit_code == 0, result.output
    rows = json.loads(as_json.read_text(encoding="utf-8"))
    assert _row(rows, township="新店镇")["verified_m2"] == pytest.approx(XINDIAN_M2, rel=1e-3)
    as_csv = tmp_path / "t.csv"
    assert run("tally", "--output", as_csv).exit_code == 0
    assert as_csv.read_text(encoding="utf-8").startswith("district,kind,")
    for name, args, words in (
        ("t.xlsx", [], "geo-service export tallies"),
        ("u.csv", ["--format", "json"], "is a .csv file but --format is json"),
        ("t.pdf", [], "unknown extension .pdf"),
    ):
        result = run("tally", "--output", tmp_path / name, *args)
        assert result.exit_code == 2
        assert words in flat(result.stderr)
        assert not (tmp_path / name).exists()


def test_tally_rows_in_code_order_rounded_with_verified_parcels(db, tmp_path):
    targets = REFERENCE.parent / "parcels" / "demo_targets.csv"
    assert run("targets", "import", targets).exit_code == 0
    _import_verified(_xindian_file(tmp_path))
    redate(datetime(2017, 5, 2, 10, tzinfo=UTC))
    result = run("tally", "--by", "township", "--kind", "land", "--format", "json")
    rows = json.loads(result.stdout)
    codes = {name: code for code, name in _township_codes("350111")}
    names = [r["township"] for r in rows]
    assert names == sorted(names, key=codes.get)  # by administrative code
    assert names[0] == "茶园街道" and names != sorted(names)  # not by code point
    xindian = _row(rows, township="新店镇")
    assert "parcels" not in xindian and xindian["verified_parcels"] == 3
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and key.endswith("_m2"):
                assert value == round(value, 2), (key, value)
            if isinstance(value, float) and key.endswith("_mu"):
                assert value == round(value, 4), (key, value)
    assert xindian["verified_m2"] == pytest.approx(XINDIAN_M2, rel=1e-3)
    assert xindian["verified_mu"] == pytest.approx(xindian["verified_m2"] / M2_PER_MU, abs=1e-4)
    table = run("tally", "--by", "township", "--kind", "land").stdout
    assert "verified parcels" in table and table.index("茶园街道") < table.index("宦溪镇")


def _township_codes(district_code: str) -> list[tuple[str, str]]:
    features = json.loads((REFERENCE / "townships.geojson").read_text(encoding="utf-8"))
    return [
        (f["properties"]["code"], f["properties"]["name"])
        for f in features["features"]
        if f["properties"]["district_code"] == district_code
    ]


def test_an_empty_tally_says_nothing_was_recorded_by_that_day(db):
    result = run("tally", "--by", "township", "--as-of", "2016-12-31")
    assert result.exit_code == 0
    assert "nothing recorded by the end of 2016-12-31" in flat(result.stderr)
    assert result.stdout == ""


def test_helper_credit_says_which_rule_and_shows_no_progress(db, tmp_path):
    path = write(
        frame(XINDIAN_PARCELS[:1], code=["S1"], support=["寿山乡"]), tmp_path / "s.gpkg",
        ZONE40, "GPKG",
    )  # fmt: skip
    _import_verified(path)
    redate(datetime(2017, 5, 2, 10, tzinfo=UTC))
    assert run("targets", "set", "--district", "晋安区", "--township", "寿山乡", "--kind",
               "land", "--year", "2017", "--mu", "0.1").exit_code == 0  # fmt: skip
    helpers = run("tally", "--by", "township", "--kind", "land", "--credit", "helpers")
    host = run("tally", "--by", "township", "--kind", "land")
    assert "credit: helpers" in flat(helpers.stdout) and "credit: host" in flat(host.stdout)
    line = next(x for x in helpers.stdout.splitlines() if "寿山乡" in x)
    assert "%" not in line  # a helper's credit is no progress toward its own target
    row = _row(_tally("--by", "township", "--kind", "land", "--credit", "helpers"),
               township="寿山乡")  # fmt: skip
    assert row["verified_m2"] == pytest.approx(independent_area_m2(XINDIAN_PARCELS[0]), 1e-3)
    assert (row["progress"], row["target_mu"]) == (None, pytest.approx(0.1))


def test_import_help_lists_every_format(db):
    text = flat(run("import", "--help").stdout)
    for word in ("GeoPackage", "GeoJSON", "Shapefile", "KML/KMZ", "界址点坐标文件"):
        assert word in text
