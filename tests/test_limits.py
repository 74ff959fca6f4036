"""Issue 20 items 4, 6 and 7: one parser for every period, year and day; limits on the
text a person writes; the small leaks (backup mode, stray upload folders, /docs CSP,
anonymous /healthz)."""

import subprocess
import sys

import pytest
from conftest import auth, shared_app
from fastapi.testclient import TestClient

from geo_service.api.app import create_app


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


# --- 4. one parser for every period, year and day ----------------------------------------

# As found: year 0 was a 500 (ValueError: year 0 is out of range) on these.
YEAR_ZERO = [
    "/api/rankings?period=0000Q1",
    "/api/rankings?period=0000-01",
    "/board/data.json?period=0000Q1",
    "/board/data.json?period=0000-01",
    "/board?period=0000Q1",
    "/board?period=0000-01",
]


@pytest.mark.parametrize("url", YEAR_ZERO)
def test_a_period_in_year_zero_is_a_4xx_naming_the_parameter(client, url):
    response = client.get(url, headers=auth("planner"))
    assert response.status_code == 422, response.text
    assert "period" in response.text
    assert "1990 to 2100" in response.text


@pytest.mark.parametrize("period", ["0001Q1", "9999-12", "1989Q4", "2101-01", "2017Q9", "2017-13"])
def test_every_period_outside_the_window_or_malformed_is_refused_alike(client, period):
    for url in ("/api/rankings", "/board/data.json"):
        response = client.get(url, params={"period": period}, headers=auth("planner"))
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"].startswith("query parameter period: ")


def test_a_period_inside_the_window_is_read(client):
    response = client.get("/api/rankings?period=2017Q2", headers=auth("planner"))
    assert response.status_code == 200, response.text
    assert response.json()["period"] == "2017Q2"


@pytest.mark.parametrize(
    "args",
    [
        ["rank", "--period", "0000Q1"],
        ["rank", "--period", "0000-01"],
        ["tally", "--year", "0"],
        ["relocation", "clearance", "--year", "0"],
        ["projects", "problems", "--as-of", "0000-01-01"],
    ],
)
def test_the_cli_refuses_a_period_year_or_day_out_of_range_in_one_line(db, args):
    done = subprocess.run(
        [sys.executable, "-m", "geo_service.cli", *args], capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "1990 to 2100" in lines[0]


def test_one_parser_reads_every_period_year_and_day():
    from datetime import date

    from geo_service import periods
    from geo_service.errors import InvalidInput

    assert str(periods.parse_period("2017q2", "period")) == "2017Q2"
    assert str(periods.parse_period("2017-5", "period")) == "2017-05"
    assert periods.parse_year("2017", "year") == 2017
    assert periods.parse_day("2017-06-30", "as_of") == date(2017, 6, 30)
    for parse, text in [
        (periods.parse_period, "0000Q1"),
        (periods.parse_year, "0"),
        (periods.parse_day, "0000-01-01"),
        (periods.parse_day, "9999-12-31"),
        (periods.parse_day, "0"),
    ]:
        with pytest.raises(InvalidInput, match="^--when: "):
            parse(text, "--when")


# --- 7. small leaks closed ---------------------------------------------------------------


def test_a_backup_is_readable_by_its_owner_only(db, db_url, tmp_path):
    from geo_service import backup

    info = backup.backup(db_url, tmp_path / "geo.dump")
    assert info.path.stat().st_mode & 0o777 == 0o600


def test_anonymous_healthz_says_only_whether_the_service_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_signed_in_healthz_still_tells_the_version_and_worker(client):
    import os

    from geo_service import __version__

    body = client.get("/healthz", headers=auth("admin_t")).json()
    assert body["status"] == "ok" and body["version"] == __version__
    assert body["pid"] == os.getpid() and body["postgis"]


def test_a_wrong_token_on_healthz_reads_as_anonymous(client):
    response = client.get("/healthz", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_docs_csp_names_no_outside_host(client):
    for path in ("/docs", "/redoc"):
        response = client.get(path, headers=auth("planner"))
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "http" not in csp, csp


def test_upload_folders_left_by_a_killed_server_are_swept_at_start_up(db, tmp_path, monkeypatch):
    import os
    import time

    from geo_service import scratch

    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    left = tmp_path / f"geo-upload-{dead}-abc"  # a worker killed mid-upload
    old = tmp_path / "geo-upload-xyz"  # from before folders carried the pid, a day old
    live = tmp_path / f"geo-upload-{os.getpid()}-def"  # a running upload of this worker
    other = tmp_path / "someone-elses"
    for folder in (left, old, live, other):
        folder.mkdir()
        (folder / "parcels.geojson").write_text("{}")
    os.utime(old, (time.time() - 86400, time.time() - 86400))
    with TestClient(create_app()):
        pass
    assert not left.exists() and not old.exists()
    assert live.exists() and other.exists()


def test_an_upload_folder_is_named_after_its_worker_and_removed_after_use(tmp_path, monkeypatch):
    import os

    from geo_service import scratch

    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    with scratch.folder("upload") as path:
        assert path.name.startswith(f"geo-upload-{os.getpid()}-")
        assert path.parent == tmp_path
    assert not path.exists()


# --- 6. limits on the text a person writes ----------------------------------------------

RLO, ZWSP = "\u202e", "\u200b"


def _delivered(client, tmp_path, code="N-1", dx=0) -> int:
    """A delivered land parcel in 新店镇 (uploaded by its township's officer); its id."""
    from parcelfiles import XINDIAN, frame, rectangle, write
    from sqlalchemy import select

    from geo_service import database
    from geo_service.models import Parcel

    path = write(frame([rectangle(XINDIAN, dx, 0, 80, 60)], code=[code]),
                 tmp_path / f"{code}.geojson", 4326, "GeoJSON")  # fmt: skip
    response = client.post(
        "/api/uploads", files={"file": (path.name, path.read_bytes())},
        data={"kind": "land", "township": "新店镇", "status": "delivered"},
        headers=auth("officer_xd"),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    with database.session_scope() as session:
        return session.scalar(select(Parcel.id).where(Parcel.code == code))


def _verified(client, tmp_path, code="N-1", dx=0) -> int:
    parcel = _delivered(client, tmp_path, code, dx)
    response = client.post(f"/api/parcels/{parcel}/verify", json={}, headers=auth("land_xd"))
    assert response.status_code == 200, response.text
    return parcel


def _parcel(parcel_id):
    from geo_service import database
    from geo_service.models import Parcel

    with database.session_scope() as session:
        p = session.get(Parcel, parcel_id)
        return p.status, p.verification_note, p.dispute_reason, p.version


def test_a_ten_megabyte_verify_note_is_refused_and_nothing_stored(client, tmp_path):
    parcel = _delivered(client, tmp_path)
    before = _parcel(parcel)
    response = client.post(f"/api/parcels/{parcel}/verify", json={"note": "核" * 10_000_000},
                           headers=auth("land_xd"))  # fmt: skip
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"].startswith("field note: ")
    assert "2000" in response.json()["detail"]
    assert len(response.text) < 1000  # the note is not sent back
    assert _parcel(parcel) == before


def test_a_note_of_2000_characters_is_kept_whole(client, tmp_path):
    parcel = _delivered(client, tmp_path)
    response = client.post(f"/api/parcels/{parcel}/verify", json={"note": "核" * 2000},
                           headers=auth("land_xd"))  # fmt: skip
    assert response.status_code == 200, response.text[:300]
    assert _parcel(parcel)[1] == "核" * 2000


@pytest.mark.parametrize("reason", [f"界址{RLO}不清", "a\x00b", "x" * 2001, "a\x1bb"])
def test_a_dispute_reason_with_a_hidden_character_or_too_long_is_refused(client, tmp_path, reason):
    parcel = _verified(client, tmp_path)
    before = _parcel(parcel)
    response = client.post(f"/api/parcels/{parcel}/dispute", json={"reason": reason},
                           headers=auth("land_xd"))  # fmt: skip
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"].startswith("field reason: ")
    assert _parcel(parcel) == before


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("zh-CN", "填写有误：note：最多 2000 个字符，这里有 2001 个"),
        ("en", "Something in the form is wrong: note: at most 2000 characters, this one has 2001"),
    ],
)
def test_the_text_rules_422_is_said_in_the_callers_language(client, tmp_path, language, said):
    parcel = _delivered(client, tmp_path)
    headers = {**auth("land_xd"), "Accept-Language": language}
    response = client.post(f"/api/parcels/{parcel}/verify", json={"note": "x" * 2001},
                           headers=headers)  # fmt: skip
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    # The detail stays the checker's English, for programs and logs; `said` is for a person.
    assert body["detail"] == "field note: at most 2000 characters, this one has 2001"
    assert body["said"] == said
    response = client.post(f"/api/parcels/{parcel}/verify", json={"note": f"a{RLO}b"},
                           headers=headers)  # fmt: skip
    assert response.status_code == 422 and "U+202E" in response.json()["said"]
    assert ("不可见" in response.json()["said"]) is (language == "zh-CN"), response.text
    # A page is shown the same words.
    page = client.post(f"/parcels/{parcel}/act", data={"action": "verify", "note": "x" * 2001},
                       headers={**headers, "Accept": "text/html"})  # fmt: skip
    assert page.status_code == 422 and said.split("：", 1)[-1].split(": ", 1)[-1] in page.text
    # Without a language named, the body is as it was: the detail alone.
    response = client.post(f"/api/parcels/{parcel}/verify", json={"note": "x" * 2001},
                           headers=auth("land_xd"))  # fmt: skip
    assert response.json() == {"detail": "field note: at most 2000 characters, this one has 2001"}


def test_the_parcel_page_refuses_a_note_over_the_limit_naming_it(client, tmp_path):
    parcel = _verified(client, tmp_path)
    before = _parcel(parcel)
    response = client.post(f"/parcels/{parcel}/act", data={"action": "dispute", "note": "x" * 2001},
                           headers=auth("land_xd"))  # fmt: skip
    assert response.status_code == 422
    assert "note" in response.text and "2000" in response.text
    response = client.post(f"/parcels/{parcel}/act", data={"action": "dispute", "note": f"a{RLO}b"},
                           headers=auth("land_xd"))  # fmt: skip
    assert response.status_code == 422
    assert _parcel(parcel) == before


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "geo_service.cli", *args],
                          capture_output=True, text=True)  # fmt: skip


def test_the_cli_refuses_a_note_over_the_limit_or_a_reason_with_an_override(client, tmp_path):
    parcel = _delivered(client, tmp_path)
    before = _parcel(parcel)
    done = _cli("verify", f"#{parcel}", "--note", "x" * 2001, "--as", "land_xd")
    assert done.returncode == 2 and done.stderr.startswith("error: --note: "), done.stderr
    assert _parcel(parcel) == before
    parcel = _verified(client, tmp_path, code="N-2", dx=300)
    before = _parcel(parcel)
    done = _cli("dispute", f"#{parcel}", "--reason", f"a{RLO}b", "--as", "land_xd")
    assert done.returncode == 2 and done.stderr.startswith("error: --reason: "), done.stderr
    assert _parcel(parcel) == before


def test_the_cli_refuses_a_user_name_with_a_zero_width_character(db):
    from geo_service import database
    from geo_service.accounts import users

    done = _cli("users", "add", f"林{ZWSP}志伟", "--role", "planner", "--password", "x" * 12,
                "--as", "admin_t")  # fmt: skip
    assert done.returncode == 2 and "username: " in done.stderr, done.stderr
    done = _cli("users", "add", "linzw2", "--role", "planner", "--name", "林" * 201,
                "--password", "x" * 12, "--as", "admin_t")  # fmt: skip
    assert done.returncode == 2 and "--name" in done.stderr and "200" in done.stderr, done.stderr
    with database.session_scope() as session:
        assert {u["username"] for u in users.list_users(session)} & {
            "linzw2",
            f"林{ZWSP}志伟",
        } == set()


def _upload_raw(client, text: str, name="odd.geojson"):
    return client.post(
        "/api/uploads", files={"file": (name, text.encode())},
        data={"kind": "land", "township": "新店镇", "status": "planned"},
        headers=auth("officer_xd"),
    )  # fmt: skip


def _feature(code, name=None, dx=0.0):
    import json

    ring = [[119.300 + dx, 26.150], [119.3008 + dx, 26.150], [119.3008 + dx, 26.1506],
            [119.300 + dx, 26.1506], [119.300 + dx, 26.150]]  # fmt: skip
    props = {"code": code} if name is None else {"code": code, "name": name}
    return json.dumps(
        {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
        ensure_ascii=True,
    )


def _collection(*features):
    return '{"type": "FeatureCollection", "features": [' + ", ".join(features) + "]}"


def _stored_codes():
    from geo_service import database
    from geo_service.models import Parcel

    with database.session_scope() as session:
        return {p.code: p.name for p in session.query(Parcel)}


def test_an_uploaded_name_with_a_nul_is_refused_not_cut(client):
    response = _upload_raw(client, _collection(_feature("N-1", "张\u0000三")))
    assert response.status_code == 422, response.text[:500]
    problems = response.json()["report"]["problems"]
    assert any(p["feature"] == 1 and "name" in p["message"] for p in problems), problems
    assert _stored_codes() == {}


def test_two_codes_that_look_the_same_are_refused(client):
    response = _upload_raw(client, _collection(_feature("A-1"), _feature(f"A-1{ZWSP}", dx=0.002),
                                               _feature(f"{RLO}1-A", dx=0.004)))  # fmt: skip
    assert response.status_code == 422, response.text[:500]
    problems = response.json()["report"]["problems"]
    refused = {p["feature"] for p in problems if p["rule"] == "code_not_printable"}
    assert refused == {2, 3}, problems
    assert "U+200B" in next(p["message"] for p in problems if p["feature"] == 2)
    assert _stored_codes() == {}


def test_an_uploaded_name_over_200_characters_is_refused(client, tmp_path):
    from parcelfiles import XINDIAN, frame, rectangle, write

    path = write(frame([rectangle(XINDIAN, 0, 0, 80, 60)], code=["L-1"], name=["地" * 201]),
                 tmp_path / "long.gpkg", 4326, "GPKG")  # fmt: skip
    response = client.post(
        "/api/uploads", files={"file": (path.name, path.read_bytes())},
        data={"kind": "land", "township": "新店镇"}, headers=auth("officer_xd"),
    )  # fmt: skip
    assert response.status_code == 422, response.text[:500]
    problems = response.json()["report"]["problems"]
    assert any(p["feature"] == 1 and p["rule"] == "name_too_long" for p in problems), problems
    assert _stored_codes() == {}


def test_one_module_defines_the_text_rules():
    from geo_service import texts

    assert texts.problem("张三", texts.NAME) is None
    assert texts.problem("第一行\n第二行\t完", texts.NOTE) is None
    assert "U+0000" in texts.problem("a\x00b", texts.NOTE)
    assert "U+202E" in texts.problem(f"a{RLO}b", texts.NOTE)
    assert "U+200B" in texts.problem(f"a{ZWSP}b", texts.CODE)
    assert "U+000A" in texts.problem("a\nb", texts.NAME)
    assert "200" in texts.problem("x" * 201, texts.NAME)


def test_a_project_list_with_a_look_alike_code_or_a_long_name_is_refused(session, tmp_path):
    from openpyxl import Workbook

    from geo_service.campaign.projects import import_projects
    from geo_service.errors import InvalidInput

    book = Workbook()
    sheet = book.active
    sheet.append(["项目编号", "项目名称", "所属区县"])
    sheet.append([f"JA2017-1{ZWSP}01", "象园片区旧屋区改造", "晋安区"])
    sheet.append(["JA2017-102", "鼓" * 201, "晋安区"])
    book.save(tmp_path / "list.xlsx")
    with pytest.raises(InvalidInput) as refused:
        import_projects(session, tmp_path / "list.xlsx")
    message = str(refused.value)
    assert "row 2" in message and "U+200B" in message, message
    assert "row 3" in message and "at most 200 characters" in message, message


@pytest.mark.parametrize("on", [5, 2017.5, True, ["2017-05-01"], "0000-01-01", "2017-02-30"])
def test_a_body_day_that_is_no_day_is_a_422(client, on):
    response = client.post("/api/relocation/projects/AZ-1/flats/1/101/handover", json={"on": on},
                           headers=auth("relocation_all"))  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("field on: ")


@pytest.mark.parametrize("when", ["9999-12-31", "0001-01-01", "9999-12-31T23:59:59-14:00"])
def test_an_ogc_datetime_outside_the_window_is_a_4xx(client, when):
    response = client.get("/ogc/collections/parcels/items", params={"datetime": when},
                          headers=auth("planner"))  # fmt: skip
    assert 400 <= response.status_code < 500, response.text
    assert "datetime" in response.json()["detail"]
